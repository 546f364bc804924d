"""Latency, throughput, cold start and memory of exported models on the CPU runtimes.

Method (DESIGN.md, "Benchmark method"): every runtime is loaded once in this process and
warmed up; each call is timed alone with ``time.perf_counter_ns``; the runtimes take turns
in rounds so that drift of a shared machine hits them all alike; ratios are against a
baseline (the Keras model) measured in the same run. Cold start and peak memory come from
a fresh subprocess per model.

What one timed call is:

* TFLite / ONNX (``p50_us`` …): ``Predictor.run(x)`` on real test images already in the
  runtime's input dtype (int8 models get pre-quantized images): ``set_tensor``/``invoke``/
  ``get_tensor`` for LiteRT, one ``session.run`` with an input dict for ONNX Runtime.
* TFLite / ONNX end to end (``e2e_p50_us`` …): from uint8 pixels, as a camera or an image
  file gives them, to float32 probabilities, i.e. ``finish(run(prepare(pixels)))``: input
  checks, the preprocessing, int8 input quantization and output dequantization are all
  inside the timed call, for every model alike.
* Keras: ``model(x, training=False)`` inside a ``tf.function`` traced once per batch size,
  on a float32 tensor already in memory, plus ``.numpy()`` of the result.

This module imports no heavy library at import time: the cold-start child imports it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import ModelError
from edgecnn.runtime.base import RuntimeOptions

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".tflite", ".onnx", ".keras")
KERAS_RUNTIME = "keras"
BENCH_JSON, BENCH_CSV, BENCH_MD, BENCH_PNG = "bench.json", "bench.csv", "bench.md", "bench.png"

TIMING_METHOD = {
    "clock": "time.perf_counter_ns around each single call",
    "tflite": "Predictor.run(x): set_tensor / invoke / get_tensor, x already in the input dtype",
    "onnx": "Predictor.run(x): session.run([output], {input: x}), x already in the input dtype",
    "e2e": "finish(run(prepare(pixels))): uint8 pixels in, float32 probabilities out; input checks, "
    "preprocessing, int8 input quantization and output dequantization inside the timed call",
    "keras": "tf.function(lambda x: model(x, training=False)) traced once per batch, "
    "on a float32 tf.constant, then .numpy()",
    "throughput": "images/s = batch / p50",
    "order": "runtimes interleaved in rounds, all loaded once in one process",
}


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and for how long; the CLI options map onto these one to one."""

    batch_sizes: tuple[int, ...] = (1, 32, 256)  # one image (latency) and two bulk sizes (throughput)
    threads: tuple[int, ...] = (1,)  # one thread: the honest per-core figure; a list sweeps
    seconds: float = 1.0  # seconds of timed calls per runtime and configuration (unless runs is set)
    runs: int | None = None  # a fixed number of timed calls per runtime and configuration instead
    min_runs: int = 10  # --seconds never times fewer calls than this (percentiles need samples)
    warmup_seconds: float = 0.5  # warm-up per runtime and configuration: caches, allocators, traces …
    warmup_calls: int = 5  # … and at least this many calls
    rounds: int = 10  # the timed calls are split into this many interleaved rounds
    xnnpack: tuple[bool, ...] = (True,)  # TFLite with XNNPACK (LiteRT's default); (True, False) sweeps
    keras: bool = True  # time .keras files (the baseline); False drops them from the run
    cold_start: bool = True  # cold start + peak RSS, one fresh subprocess per model
    # ONNX Runtime settings: the runtime's own defaults, chosen by benchmarks/onnx_choice.py.
    ort_optimization: str = RuntimeOptions.ort_optimization
    ort_spinning: bool = RuntimeOptions.ort_spinning
    unsafe: bool = False  # load .keras baselines that hold Python code (only for trusted files)


@dataclass
class Subject:
    """One model in one runtime configuration (xnnpack on/off), loaded once."""

    path: Path
    format: str  # tflite | onnx | keras
    precision: str
    runtime: str  # e.g. "litert+xnnpack", "onnxruntime", "keras"
    xnnpack: bool | None
    bytes: int
    accuracy: float | None = None
    graph: dict[str, Any] = field(default_factory=dict)
    cold: dict[str, Any] = field(default_factory=dict)
    handle: Any = None  # the Predictor, or the Keras model

    @property
    def name(self) -> str:
        return f"{self.path.name} [{self.runtime}]"

    @property
    def is_baseline(self) -> bool:
        return self.format == "keras"


@dataclass
class BenchResult:
    """Everything a run measured: one row per subject x batch x threads, and the context."""

    rows: list[dict[str, Any]]
    subjects: list[dict[str, Any]]
    settings: dict[str, Any]
    machine: dict[str, Any]
    versions: dict[str, str]
    recommendation: dict[str, Any]
    samples: dict[tuple[str, int, int], np.ndarray] = field(default_factory=dict, repr=False)  # µs per call

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings, "machine": self.machine, "versions": self.versions,
            "recommendation": self.recommendation, "subjects": self.subjects, "results": self.rows,
        }


# -- choosing and loading what to measure ---------------------------------------------------
def check_model_path(path: Path) -> Path:
    """A file edgecnn can benchmark, else a one-line ModelError."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: file not found")
    if path.suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{path}: not a model file edgecnn can benchmark (expected .tflite, .onnx or .keras)")
    return path


def default_paths(out_dir: Path, keras: bool = True) -> list[Path]:
    """Every artifact in ``out_dir``'s manifest, then the Keras model as baseline (when present)."""
    from edgecnn.manifest import load_artifacts
    from edgecnn.model import default_model_path

    paths = [a.path for a in load_artifacts(out_dir, runnable_only=True)]
    keras_path = default_model_path(out_dir)
    if keras and keras_path.is_file():
        paths.append(keras_path)
    if not paths:
        raise ModelError(f"{out_dir}: no models to benchmark (run `edgecnn train` and `edgecnn export` first)")
    return paths


def manifest_paths(out_dir: Path) -> dict[str, Path]:
    """``"format/precision"`` -> file for the artifacts in ``out_dir``'s manifest that exist."""
    from edgecnn.manifest import load_artifacts

    found = {a.key: a.path for a in load_artifacts(out_dir) if a.path.is_file()}
    if not found:
        raise ModelError(
            f"{out_dir}: no exported models (make them with `edgecnn train --output-dir {out_dir}` "
            f"then `edgecnn export --output-dir {out_dir}`)"
        )
    return found


def read_accuracies(out_dir: Path) -> dict[str, float]:
    """File name -> test accuracy from ``verify.json`` (empty when there is none)."""
    from edgecnn import fileio

    path = Path(out_dir) / "verify.json"
    if not path.is_file():
        return {}
    try:
        obj = fileio.read_json(path)
    except Exception as exc:  # a broken verify.json must not stop a benchmark
        log.warning("ignoring %s: %s", path, exc)
        return {}
    found: dict[str, float] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("path"), str) and isinstance(node.get("accuracy"), (int, float)):
                found[Path(node["path"]).name] = float(node["accuracy"])
            for key in ("keras_accuracy", "reference_accuracy"):
                if isinstance(node.get(key), (int, float)):
                    found.setdefault("mnist_cnn.keras", float(node[key]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(obj)
    return found


def runtime_options(config: BenchConfig, threads: int, xnnpack: bool):
    from edgecnn.runtime import RuntimeOptions

    return RuntimeOptions(
        num_threads=threads, xnnpack=xnnpack,
        ort_optimization=config.ort_optimization, ort_spinning=config.ort_spinning,
    )


def runtime_label(fmt: str, xnnpack: bool | None) -> str:
    if fmt == "tflite":
        return "litert+xnnpack" if xnnpack else "litert"
    return "onnxruntime" if fmt == "onnx" else "keras"


def make_subjects(paths: Sequence[Path], config: BenchConfig, accuracies: dict[str, float]) -> list[Subject]:
    """One Subject per model and XNNPACK mode; the Keras baseline (if any) goes last."""
    from edgecnn.artifact import precision_of

    subjects = []
    for path in paths:
        path = check_model_path(path)
        fmt = {".tflite": "tflite", ".onnx": "onnx", ".keras": "keras"}[path.suffix]
        if fmt == "keras" and not config.keras:
            continue
        for xnn in config.xnnpack if fmt == "tflite" else (None,):
            subjects.append(Subject(
                path=path, format=fmt, precision=precision_of(path), runtime=runtime_label(fmt, xnn),
                xnnpack=xnn, bytes=path.stat().st_size, accuracy=accuracies.get(path.name),
            ))
    subjects.sort(key=lambda s: s.is_baseline)
    return subjects


def load_subject(subject: Subject, config: BenchConfig, threads: int) -> None:
    """Load the runtime (or Keras) once; record what actually runs."""
    if subject.is_baseline:
        subject.handle = _load_keras(subject.path, threads, config.unsafe)
        return
    from edgecnn.runtime import load

    options = runtime_options(config, threads, bool(subject.xnnpack))
    subject.handle = load(subject.path, options)
    subject.precision = subject.handle.precision
    if subject.format == "tflite":
        subject.graph = tflite_delegation(subject.handle.interpreter) if subject.xnnpack else {}
    else:
        subject.graph = onnx_graph_ops(subject.path, options)


def _load_keras(path: Path, threads: int, unsafe: bool = False):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:  # only possible before TensorFlow's runtime starts; afterwards it keeps its pools
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        log.warning("TensorFlow already initialized: Keras keeps its earlier thread settings")
    from edgecnn.model import load_model

    return load_model(path, unsafe=unsafe)


# -- what actually runs -------------------------------------------------------------------------
def tflite_delegation(interpreter) -> dict[str, Any]:
    """How many of the model's nodes the XNNPACK delegate took, in how many partitions.

    LiteRT keeps the original nodes in the node list and appends one DELEGATE node per
    partition; a partition covers the nodes between its input and output tensors.
    """
    ops = interpreter._get_ops_details()  # private but stable since TF 2.5; no public equivalent
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    producer = {int(t): op for op in original for t in op["outputs"]}
    covered: set[int] = set()
    for delegate in delegates:
        boundary = {int(t) for t in delegate["inputs"]}
        stack = [int(t) for t in delegate["outputs"]]
        while stack:
            tensor = stack.pop()
            op = producer.get(tensor)
            if tensor in boundary or op is None or op["index"] in covered:
                continue
            covered.add(op["index"])
            stack.extend(int(t) for t in op["inputs"] if t >= 0)
    left = Counter(op["op_name"] for op in original if op["index"] not in covered)
    return {
        "delegate": "XNNPACK",
        "nodes": len(original),
        "delegated_nodes": len(covered),
        "partitions": len(delegates),
        "not_delegated": dict(left),
        "partial": bool(delegates) and len(covered) < len(original),
    }


def onnx_graph_ops(path: Path, options) -> dict[str, Any]:
    """Node count by op type of the graph ONNX Runtime actually runs (after its optimizations)."""
    import tempfile

    import onnx
    import onnxruntime as ort

    from edgecnn.runtime.onnx import session_options

    before = Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)
    info: dict[str, Any] = {"optimization": options.ort_optimization, "nodes_in_file": sum(before.values())}
    with tempfile.TemporaryDirectory() as tmp:
        so = session_options(options)
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        try:
            ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
            after = Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node)
        except Exception as exc:  # some levels refuse to save; the figures stand without it
            info["error"] = str(exc).splitlines()[0][:200]
            return info
    info.update(nodes=sum(after.values()), ops=dict(sorted(after.items())))
    return info


# -- timing -----------------------------------------------------------------------------------
def timed_calls(subject: Subject, images: np.ndarray) -> tuple[Callable[[], Any], Callable[[], Any] | None]:
    """(runtime call, end-to-end call or None) on ``images`` (uint8, N x 28 x 28), inputs pre-made."""
    from edgecnn.data import preprocess

    if subject.is_baseline:
        import tensorflow as tf

        model = subject.handle
        forward = tf.function(lambda t: model(t, training=False))
        xt = tf.constant(preprocess(images))
        return (lambda: forward(xt).numpy()), None
    predictor = subject.handle
    run, prepare, finish = predictor.run, predictor.prepare, predictor.finish
    x = prepare(images)  # the runtime's dtype, quantized with the model's own scale
    run(x)  # TFLite resizes its input here, outside any timed call
    return (lambda: run(x)), (lambda: finish(run(prepare(images))))


def warm_up(call: Callable[[], Any], seconds: float, calls: int) -> float:
    """Call until both ``calls`` calls and ``seconds`` have passed; the median late call in s."""
    clock = time.perf_counter_ns
    times: list[int] = []
    deadline = clock() + int(seconds * 1e9)
    while len(times) < calls or clock() < deadline:
        t0 = clock()
        call()
        times.append(clock() - t0)
    return float(np.median(times[len(times) // 2:])) / 1e9


def time_rounds(calls: Sequence[Callable[[], Any]], rounds: int, *, runs: int | None = None,
                seconds: float | None = None, min_runs: int = 1) -> list[np.ndarray]:
    """Time each call ``runs`` times, or for ``seconds`` of timed calls, in interleaved rounds; ns per call.

    Each round gives every call ``runs / rounds`` calls or ``seconds / rounds`` of timed calls
    in turn, so drift of a shared machine hits them all alike. With ``seconds``, the last round
    tops a call up to ``min_runs`` samples.
    """
    if (runs is None) == (seconds is None):
        raise ValueError("give runs or seconds")
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in calls]
    per_round = math.ceil(runs / rounds) if runs else 0
    slice_ns = int(seconds * 1e9 / rounds) if seconds else 0
    for r in range(rounds):
        for call, out in zip(calls, samples):
            append = out.append
            if runs:
                for _ in range(min(per_round, runs - len(out))):
                    t0 = clock()
                    call()
                    append(clock() - t0)
                continue
            spent, floor = 0, min_runs if r == rounds - 1 else 0
            while spent < slice_ns or len(out) < floor:
                t0 = clock()
                call()
                elapsed = clock() - t0
                append(elapsed)
                spent += elapsed
    return [np.asarray(s, dtype=np.int64) for s in samples]


def summarize(ns: np.ndarray, batch: int) -> dict[str, float]:
    """Per-call statistics in µs, and images/s from the median."""
    us = ns.astype(np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {
        "p50_us": float(p50), "p90_us": float(p90), "p99_us": float(p99), "min_us": float(us.min()),
        "mean_us": float(us.mean()), "std_us": float(us.std()), "runs": int(us.size),
        "throughput": float(batch * 1e6 / p50),
    }


# -- cold start -----------------------------------------------------------------------------
_CHILD = (
    "import time; _t0 = time.perf_counter()\n"
    "import sys; from edgecnn.bench import _cold_start_child; _cold_start_child(_t0, sys.argv[1:])\n"
)


def cold_start(path: Path, threads: int = 1, xnnpack: bool = True, timeout: float = 300.0,
               unsafe: bool = False) -> dict[str, Any]:
    """Import the runtime, load ``path`` and predict one image in a fresh Python process.

    ``cold_start_ms`` counts from the child's first line (interpreter start-up excluded, numpy
    and the runtime's import included) to the end of the first prediction; ``peak_rss_mb`` is
    the child's peak resident memory.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [sys.executable, "-c", _CHILD, str(path), str(threads), "1" if xnnpack else "0", "1" if unsafe else "0"]
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall_ms = (time.perf_counter() - started) * 1e3
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail[:200]}
    result = json.loads(lines[-1])
    result["process_ms"] = wall_ms
    return result


def _cold_start_child(t0: float, argv: list[str]) -> None:
    path, threads, xnnpack, unsafe = Path(argv[0]), int(argv[1]), argv[2] == "1", argv[3:4] == ["1"]
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 6:22, 13:15] = 255  # a plain "1": any image will do for timing a first call
    if path.suffix == ".keras":
        import keras  # noqa: F401  (what an app pays: TensorFlow + Keras)

        t1 = time.perf_counter()
        from edgecnn.data import preprocess
        from edgecnn.model import load_model

        model = load_model(path, unsafe=unsafe)
        t2 = time.perf_counter()
        np.asarray(model(preprocess(_sized(image, tuple(model.input_shape[1:]))), training=False))
    else:
        from edgecnn.runtime import RuntimeOptions, load

        if path.suffix == ".tflite":
            from edgecnn.runtime.tflite import _interpreter_class

            _interpreter_class()
        else:
            import onnxruntime  # noqa: F401
        t1 = time.perf_counter()
        predictor = load(path, RuntimeOptions(num_threads=threads, xnnpack=xnnpack))
        t2 = time.perf_counter()
        predictor.predict(_sized(image, predictor.input_shape))
    t3 = time.perf_counter()
    print(json.dumps({
        "cold_start_ms": (t3 - t0) * 1e3, "import_ms": (t1 - t0) * 1e3, "load_ms": (t2 - t1) * 1e3,
        "first_inference_ms": (t3 - t2) * 1e3, "peak_rss_mb": peak_rss_mb(),
    }))


def _sized(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The timing image (1, h, w) cropped/padded to the model's (H, W, C)."""
    h, w, c = (int(d) for d in shape)
    out = np.zeros((1, h, w, c), np.uint8)
    hh, ww = min(h, image.shape[1]), min(w, image.shape[2])
    out[0, :hh, :ww, :] = image[0, :hh, :ww, np.newaxis]
    return out


def peak_rss_mb() -> float:
    """This process's peak resident memory in MiB.

    Linux: VmHWM from /proc/self/status. ``ru_maxrss`` is not used there because Linux carries
    it across fork + exec, so a child would report its (bigger) parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB elsewhere


# -- the run --------------------------------------------------------------------------------
Progress = Callable[[str], None]


def run_bench(
    paths: Sequence[Path], config: BenchConfig, images: np.ndarray, *,
    out_dir: Path | None = None, progress: Progress | None = None,
) -> BenchResult:
    """Measure every model in ``paths`` (a ``.keras`` file is the baseline) on ``images`` (uint8)."""
    from edgecnn.env import library_versions, machine_info

    _check_config(config, images)
    say = progress or (lambda msg: log.info(msg))
    accuracies = read_accuracies(out_dir) if out_dir is not None else {}
    subjects = make_subjects(paths, config, accuracies)
    if not subjects:
        raise ModelError("nothing to benchmark (only .keras files were named, and the Keras baseline is off)")
    for subject in subjects:  # load everything first: a bad file fails in a second, not after the cold starts
        load_subject(subject, config, config.threads[0])
    if config.cold_start:
        for i, subject in enumerate(subjects, 1):
            say(f"cold start {i}/{len(subjects)}: {subject.name}")
            subject.cold = cold_start(subject.path, config.threads[0], subject.xnnpack is not False,
                                      unsafe=config.unsafe)
    rows: list[dict[str, Any]] = []
    samples: dict[tuple[str, int, int], np.ndarray] = {}
    steps = len(config.threads) * len(config.batch_sizes)
    step = 0
    for threads in config.threads:
        # Keras cannot change its thread pools once started: it runs with the first count only.
        active = [s for s in subjects if not (s.is_baseline and threads != config.threads[0])]
        if threads != config.threads[0]:
            for subject in active:
                load_subject(subject, config, threads)
        for batch in config.batch_sizes:
            step += 1
            say(f"[{step}/{steps}] threads {threads}, batch {batch}: {len(active)} runtimes")
            rows += _measure(active, config, images[:batch], threads, samples)
    _add_ratios(rows)
    settings = {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "ort_inter_op_threads": 1,
        "keras_threads": config.threads[0],
        "timing": TIMING_METHOD,
        "images": "the first N MNIST test images, N = batch",
    }
    return BenchResult(
        rows=rows, subjects=[_subject_json(s) for s in subjects], settings=settings,
        machine=machine_info(), versions=library_versions(), recommendation=recommend(rows), samples=samples,
    )


def _check_config(config: BenchConfig, images: np.ndarray) -> None:
    from edgecnn.errors import InputError

    if not config.batch_sizes or min(config.batch_sizes) < 1:
        raise InputError("batch sizes must be positive integers")
    if max(config.batch_sizes) > len(images):
        raise InputError(f"batch size {max(config.batch_sizes)} is larger than the {len(images)} test images")
    if not config.threads or min(config.threads) < 1:
        raise InputError("thread counts must be positive integers")
    if config.runs is None and config.seconds <= 0 or config.runs is not None and config.runs < 1:
        raise InputError("--seconds must be > 0 and --runs >= 1")


def _measure(subjects: list[Subject], config: BenchConfig, images: np.ndarray, threads: int,
             samples: dict[tuple[str, int, int], np.ndarray]) -> list[dict[str, Any]]:
    batch = len(images)
    calls: list[Callable[[], Any]] = []
    owners: list[tuple[Subject, str]] = []
    for subject in subjects:
        run, e2e = timed_calls(subject, images)
        calls.append(run)
        owners.append((subject, "run"))
        if e2e is not None:
            calls.append(e2e)
            owners.append((subject, "e2e"))
    for call in calls:
        warm_up(call, config.warmup_seconds, config.warmup_calls)
    if config.runs:
        timed = time_rounds(calls, min(config.rounds, config.runs), runs=config.runs)
    else:
        timed = time_rounds(calls, config.rounds, seconds=config.seconds, min_runs=config.min_runs)
    by_subject: dict[int, dict[str, np.ndarray]] = {}
    for (subject, kind), ns in zip(owners, timed):
        by_subject.setdefault(id(subject), {})[kind] = ns
    rows = []
    for subject in subjects:
        got = by_subject[id(subject)]
        stats = summarize(got["run"], batch)
        e2e = summarize(got["e2e"], batch) if "e2e" in got else stats
        samples[(subject.name, batch, threads)] = got["run"] / 1e3
        rows.append({
            "path": str(subject.path), "file": subject.path.name, "format": subject.format,
            "precision": subject.precision, "runtime": subject.runtime, "xnnpack": subject.xnnpack,
            "bytes": subject.bytes, "accuracy": subject.accuracy, "batch": batch,
            "threads": config.threads[0] if subject.is_baseline else threads,
            **stats,
            "e2e_p50_us": e2e["p50_us"], "e2e_p99_us": e2e["p99_us"], "e2e_throughput": e2e["throughput"],
            "e2e_measured": "e2e" in got,  # Keras has no separate end-to-end call
            "quantize_in_timed_call": "e2e" in got and subject.handle.input_spec.quantized,
            "cold_start_ms": subject.cold.get("cold_start_ms"), "peak_rss_mb": subject.cold.get("peak_rss_mb"),
            "partial_delegation": bool(subject.graph.get("partial", False)),
        })
    return rows


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """``ratio`` = p50 / the baseline's p50 at the same batch (Keras if measured, else the first model)."""
    for batch in {r["batch"] for r in rows}:
        same = [r for r in rows if r["batch"] == batch]
        base = next((r for r in same if r["format"] == "keras"), same[0])
        for row in same:
            row["baseline"] = f"{base['file']} [{base['runtime']}]"
            row["ratio"] = row["p50_us"] / base["p50_us"]


def _subject_json(subject: Subject) -> dict[str, Any]:
    return {
        "path": str(subject.path), "format": subject.format, "precision": subject.precision,
        "runtime": subject.runtime, "bytes": subject.bytes, "accuracy": subject.accuracy,
        "graph": subject.graph, "cold_start": subject.cold,
    }


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Which artifact to ship for which need, from the figures (the Keras baseline excluded)."""
    rows = [r for r in rows if r["format"] != "keras"]
    if not rows:
        return {}
    single = min(r["threads"] for r in rows)
    rows = [r for r in rows if r["threads"] == single]
    pick: dict[str, Any] = {}
    smallest = min(rows, key=lambda r: r["bytes"])
    pick["smallest"] = {"file": smallest["file"], "bytes": smallest["bytes"]}
    small = [r for r in rows if r["batch"] == min(r["batch"] for r in rows)]
    fast = min(small, key=lambda r: r["p50_us"])
    pick["fastest_single"] = {"file": fast["file"], "runtime": fast["runtime"], "batch": fast["batch"],
                              "p50_us": fast["p50_us"]}
    # From uint8 pixels, every model also pays for preprocessing and int8 models for (de)quantization: it can flip the winner.
    fast = min(small, key=lambda r: r["e2e_p50_us"])
    pick["fastest_single_e2e"] = {"file": fast["file"], "runtime": fast["runtime"], "batch": fast["batch"],
                                  "p50_us": fast["e2e_p50_us"]}
    big = [r for r in rows if r["batch"] == max(r["batch"] for r in rows)]
    for key, field_ in (("fastest_bulk", "throughput"), ("fastest_bulk_e2e", "e2e_throughput")):
        bulk = max(big, key=lambda r: r[field_])
        pick[key] = {"file": bulk["file"], "runtime": bulk["runtime"], "batch": bulk["batch"],
                     "throughput": bulk[field_]}
    scored = [r for r in rows if r["accuracy"] is not None]
    if scored:
        best = max(scored, key=lambda r: r["accuracy"])
        pick["most_accurate"] = {"file": best["file"], "accuracy": best["accuracy"]}
    else:
        pick["most_accurate"] = None  # no verify.json: run `edgecnn verify`
    return pick


def with_options(config: BenchConfig, **changes: Any) -> BenchConfig:
    """``config`` with the non-None ``changes`` applied (for the CLI)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
