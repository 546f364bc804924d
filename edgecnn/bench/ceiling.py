"""This machine's limits: GEMM throughput per precision and thread count, and memory bandwidth.

Why this ceiling: the exported models' MACs are convolutions and fully-connected layers that
LiteRT hands to XNNPACK, whose GEMM micro-kernels (AVX2/AVX-512/VNNI on x86, NEON/dot-product
on Arm) are the fastest matrix kernels either runtime here has. One large fully-connected layer
(batch 256 x 1024 inputs x 1024 outputs, 268 M MACs a call, weights and activations in cache)
run by the *same* runtime is compute-bound: its MAC rate is what these kernels can reach on
this core, with the same instruction set, clock and thread pool the models get. A CNN can
come close to it only where its layers are GEMM-shaped and large; the share of it a model
reaches says how much speed is left on the table. int8 has its own ceiling (int8 x int8 ->
int32 dot products are 2-4x the fp32 rate on CPUs with VNNI or dot-product instructions).
ONNX Runtime rows are held to the same ceiling: it is the machine's, not the runtime's.

Memory bandwidth is a single-thread copy of a 64 MiB array (bytes read + bytes written per
second): the bound for work whose data does not stay in cache.

A ceiling measured while other processes compete for the CPU is too low, and every share
measured against it too high (a cached 53.5 GMAC/s from a busy moment made a quiet run read
"91.8 % of the fp32 ceiling" where a quiet measurement gives 123). So each figure is the best of
``REPEATS`` runs, bracketed by load readings (``edgecnn.bench.load``) and stored with the load it
was measured at; a figure measured on a busy machine is used for that run only and never cached;
a cached figure is only ever replaced by a higher quiet one, and measured again when a run finds
it implausible (``implausible``: a file within ~10 % of it or above, a 2-thread figure above the
cores times the 1-thread one).

The figures are cached per machine (CPU model, core count, LiteRT version) with the date they
were measured, in ``ceiling.json`` of edgecnn's cache folder (``edgecnn.env.cache_dir``:
``$EDGECNN_CACHE_DIR``, default ``~/.cache/edgecnn``);
``edgecnn bench --remeasure-ceiling`` measures again.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

CACHE_NAME = "ceiling.json"
GEMM_SHAPE = (256, 1024, 1024)  # M (batch) x K (inputs) x N (outputs) of the synthetic layer
COPY_BYTES = 64 * 2**20
GEMM_SECONDS = 0.3  # timed seconds per run, precision and thread count
REPEATS = 3  # runs per figure; the ceiling is the best (a shared machine only ever slows a run down)
NEAR_CEILING = 0.9  # a file measured at 90 % of its ceiling or more makes the ceiling suspect
PRECISIONS = ("float32", "int8")
# Which ceiling a model's precision is held to: float16 files compute in float32 after load;
# dynamic-range files run their matrix products as int8.
CEILING_OF = {"float32": "float32", "float16": "float32", "int8": "int8", "dynamic": "int8",
              "float32_app": "float32", "int8_app": "int8"}


def cache_path() -> Path:
    from edgecnn.env import cache_dir

    return cache_dir(CACHE_NAME)


def machine_key() -> str:
    """What the ceiling depends on: the CPU, how many cores, and the kernels' version."""
    from edgecnn.env import cpu_model, library_versions

    litert = library_versions().get("ai-edge-litert", "?")
    return f"{cpu_model()} | {os.cpu_count()} cores | ai-edge-litert {litert}"


# -- the synthetic layer -------------------------------------------------------------------------
def _fc_weights(n: int, k: int, precision: str, seed: int, schema: Any) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Seeded weights [n, k] and bias [n], and the (weight, bias, activation) tensor types."""
    rng = np.random.default_rng(seed)
    if precision == "int8":
        weights = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
        bias = rng.integers(-1000, 1000, size=(n,), dtype=np.int32)
        return weights, bias, (schema.TensorType.INT8, schema.TensorType.INT32, schema.TensorType.INT8)
    if precision == "float32":
        weights = rng.standard_normal((n, k)).astype(np.float32) / np.sqrt(k)
        return weights, np.zeros(n, np.float32), (schema.TensorType.FLOAT32,) * 3
    raise ValueError(f"no ceiling for precision {precision!r}")


def fc_model(m: int, k: int, n: int, precision: str, seed: int = 0) -> bytes:
    """A TFLite flatbuffer with one FULLY_CONNECTED op: [m, k] x [n, k]^T + bias -> [m, n].

    int8: int8 input and output (zero point 0), symmetric int8 weights, int32 bias: exactly what
    XNNPACK's QS8 GEMM runs. Built with LiteRT's schema, no TensorFlow.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    int8 = precision == "int8"
    weights, bias, (w_type, b_type, a_type) = _fc_weights(n, k, precision, seed, schema)

    def quant(scale: float):
        if not int8:
            return None
        q = schema.QuantizationParametersT()
        q.scale, q.zeroPoint = [scale], [0]
        return q

    def buffer(data: np.ndarray | None):
        b = schema.BufferT()
        if data is not None:
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), np.uint8)
        return b

    def tensor(name: str, shape, ttype, buf: int, scale: float):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer, t.quantization = name.encode(), list(shape), ttype, buf, quant(scale)
        return t

    in_scale, w_scale, out_scale = 0.02, 0.01, 0.5
    model = schema.ModelT()
    model.version = 3
    model.buffers = [buffer(None), buffer(None), buffer(weights), buffer(bias), buffer(None)]
    sub = schema.SubGraphT()
    sub.tensors = [
        tensor("x", (m, k), a_type, 1, in_scale),
        tensor("w", (n, k), w_type, 2, w_scale),
        tensor("b", (n,), b_type, 3, in_scale * w_scale),
        tensor("y", (m, n), a_type, 4, out_scale),
    ]
    sub.inputs, sub.outputs = [0], [3]
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1, 2], [3]
    op.builtinOptionsType = schema.BuiltinOptions.FullyConnectedOptions
    op.builtinOptions = schema.FullyConnectedOptionsT()
    sub.operators = [op]
    model.subgraphs = [sub]
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.FULLY_CONNECTED
    code.version = 4 if int8 else 1
    model.operatorCodes = [code]
    builder = flatbuffers.Builder(weights.nbytes + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def gemm_gmacs(precision: str, threads: int = 1, seconds: float | None = None,
               shape: tuple[int, int, int] = GEMM_SHAPE, xnnpack: bool = True) -> dict[str, Any]:
    """GMAC/s of the synthetic fully-connected layer in LiteRT (XNNPACK), from timed calls."""
    seconds = GEMM_SECONDS if seconds is None else seconds
    from edgecnn.bench.graph import tflite_delegation
    from edgecnn.runtime.tflite import _interpreter_class

    m, k, n = shape
    interpreter_cls, resolver = _interpreter_class()
    kwargs: dict[str, Any] = {"model_content": fc_model(m, k, n, precision), "num_threads": threads}
    if not xnnpack:
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = interpreter_cls(**kwargs)
    interpreter.allocate_tensors()
    delegated = tflite_delegation(interpreter)["delegated_nodes"] == 1 if xnnpack else False
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(1)
    x = (rng.integers(-128, 128, size=(m, k), dtype=np.int8) if precision == "int8"
         else rng.standard_normal((m, k)).astype(np.float32))
    interpreter.set_tensor(detail["index"], x)
    clock = time.perf_counter_ns
    times: list[int] = []
    deadline = clock() + int(seconds * 1e9)
    for _ in range(3):  # warm-up: pack weights, fault in pages, spin up the pool
        interpreter.invoke()
    while clock() < deadline or len(times) < 5:
        t0 = clock()
        interpreter.invoke()
        times.append(clock() - t0)
    best = float(np.percentile(times, 10)) / 1e9  # the core's limit: the fast tail, not the noise of a shared machine
    p50 = float(np.median(times)) / 1e9
    macs = m * k * n
    return {"gmacs": macs / best / 1e9, "gmacs_p50": macs / p50 / 1e9, "shape": [m, k, n], "threads": threads,
            "calls": len(times), "xnnpack": delegated}


def memory_gbps(size: int | None = None, repeats: int = 7) -> float:
    """Single-thread copy bandwidth in GB/s (bytes read + written), best of ``repeats`` copies."""
    size = COPY_BYTES if size is None else size
    src = np.ones(size // 8, np.float64)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # fault in every page first
    best = min(_timed_copy(dst, src) for _ in range(repeats))
    return 2 * src.nbytes / best / 1e9


def _timed_copy(dst: np.ndarray, src: np.ndarray) -> float:
    t0 = time.perf_counter()
    np.copyto(dst, src)
    return time.perf_counter() - t0


# -- measure when quiet, keep the best, re-measure when a run finds it implausible --------------------
@dataclass
class Ceiling:
    """GEMM GMAC/s per precision and thread count, memory bandwidth, and when they were measured."""

    machine: str
    gemm: dict[str, dict[str, dict[str, Any]]]  # precision -> str(threads) -> gemm_gmacs(...) + "load"
    memory_gbps: float
    measured: dict[str, str]  # "gemm/<precision>/<threads>" and "memory" -> ISO date
    cached: bool = False  # True when every figure came from the cache
    busy: list[str] = field(default_factory=list)  # keys measured on a busy machine now: used, never cached
    remeasured: list[str] = field(default_factory=list)  # keys measured again: a run found them implausible

    def gmacs(self, precision: str, threads: int) -> float | None:
        entry = self.gemm.get(CEILING_OF.get(precision, "float32"), {}).get(str(threads))
        return None if entry is None else float(entry["gmacs"])

    def to_json(self) -> dict[str, Any]:
        return {"machine": self.machine, "gemm": self.gemm, "memory_gbps": self.memory_gbps,
                "measured": self.measured, "cached": self.cached, "busy": self.busy,
                "remeasured": self.remeasured, "method": METHOD}


METHOD = {
    "gemm": f"LiteRT + XNNPACK, one FULLY_CONNECTED layer, M x K x N = {' x '.join(map(str, GEMM_SHAPE))}, "
            "int8 (QS8) and float32; GMAC/s at the 10th percentile of call times (gmacs_p50 at the median), "
            f"best of {REPEATS} runs; cached only when measured on a quiet machine, and only ever raised",
    "memory": f"numpy copy of {COPY_BYTES // 2**20} MiB, one thread, (read + written bytes) / best time",
}


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def _read_cache(path: Path) -> dict[str, Any]:
    from edgecnn.fileio import read_json_or_none

    obj = read_json_or_none(path, "the ceiling cache")
    return obj if isinstance(obj, dict) else {}


def _write_cache(path: Path, obj: dict[str, Any]) -> None:
    from edgecnn import fileio

    try:
        fileio.write_json(fileio.ensure_dir(path.parent) / path.name, obj)
    except OSError as exc:  # a read-only home must not stop a benchmark
        log.warning("could not cache the ceiling in %s: %s", path, exc)


@dataclass
class _Measurer:
    """Measures one ceiling figure between two load readings; the best of ``repeats`` runs."""

    measure_gemm: Callable[..., dict[str, Any]]
    measure_memory: Callable[[], float]
    probe: Callable[[], Any]
    say: Callable[[str], None] | None
    repeats: int = REPEATS

    def gemm(self, precision: str, threads: int) -> dict[str, Any]:
        from edgecnn.bench import load

        if self.say:
            self.say(f"ceiling: {precision} GEMM, {threads} thread(s)")
        before = self.probe()
        runs = [self.measure_gemm(precision, threads) for _ in range(self.repeats)]
        best = dict(max(runs, key=lambda r: r["gmacs"]))
        best["runs_gmacs"] = [round(float(r["gmacs"]), 2) for r in runs]
        best["load"] = load.between(before, self.probe())
        return best

    def memory(self) -> dict[str, Any]:
        from edgecnn.bench import load

        if self.say:
            self.say("ceiling: memory bandwidth")
        before = self.probe()
        gbps = max(self.measure_memory() for _ in range(self.repeats))
        return {"gbps": gbps, "load": load.between(before, self.probe())}


def _keep_best(old: dict[str, Any] | None, new: dict[str, Any], value: str) -> tuple[dict[str, Any], bool]:
    """(the figure to use, whether to cache it): a ceiling is the best quiet figure ever measured here.

    A busy figure is used only when nothing better is known and never cached; an old figure with
    no recorded load (measured before loads were recorded) gives way to a quiet one.
    """
    quiet = not new["load"]["busy"]
    if old is None:
        return new, quiet
    if "load" not in old:
        return (new, True) if quiet else (max(old, new, key=lambda f: f[value]), False)
    if new[value] > old[value]:
        return new, quiet
    return old, False


def machine_ceiling(threads: tuple[int, ...] = (1,), remeasure: bool | set[str] = False, *,
                    say=None, measure_gemm=gemm_gmacs, measure_memory=memory_gbps, probe=None) -> Ceiling:
    """The ceiling for these thread counts: the cached figures, measured where missing, implausible or old.

    Args:
        threads: the thread counts to have a GEMM figure for.
        remeasure: True to measure every figure again (``--remeasure-ceiling``), or the keys
            ("gemm/<precision>/<threads>") a run found implausible; a new figure replaces the
            cached one only when measured quiet and higher.
        say: progress callback; measure_gemm / measure_memory / probe: the measurements and the
            load reading (``edgecnn.bench.load.read``), replaceable for tests.

    Returns:
        The :class:`Ceiling`, with ``busy`` naming the figures measured now on a busy machine.
    """
    from edgecnn.bench import load

    path, key = cache_path(), machine_key()
    cache = _read_cache(path)
    recorded = cache.get(key)
    stored = recorded if isinstance(recorded, dict) else {}
    stored = {"gemm": dict(stored.get("gemm", {})), "memory": stored.get("memory"),
              "memory_gbps": stored.get("memory_gbps"), "measured": dict(stored.get("measured", {}))}
    measurer = _Measurer(measure_gemm, measure_memory, probe or load.read, say)
    again = remeasure if isinstance(remeasure, set) else set()
    gemm: dict[str, dict[str, dict[str, Any]]] = {}
    busy, changed, measured_now = [], False, []
    for precision in PRECISIONS:
        for t in threads:
            name = f"gemm/{precision}/{t}"
            old = stored["gemm"].get(precision, {}).get(str(t))
            if old is not None and "load" in old and remeasure is not True and name not in again:
                gemm.setdefault(precision, {})[str(t)] = old
                continue
            new = measurer.gemm(precision, t)
            measured_now.append(name)
            use, cache_it = _keep_best(old, new, "gmacs")
            gemm.setdefault(precision, {})[str(t)] = use
            busy += [name] if use is new and not cache_it else []
            if cache_it:
                stored["gemm"].setdefault(precision, {})[str(t)] = use
                stored["measured"][name] = _today()
                changed = True
    memory = stored["memory"] or ({"gbps": stored["memory_gbps"]} if stored["memory_gbps"] is not None else None)
    if memory is None or "load" not in memory or remeasure is True:
        new = measurer.memory()
        measured_now.append("memory")
        memory, cache_it = _keep_best(memory, new, "gbps")
        busy += ["memory"] if memory is new and not cache_it else []
        if cache_it:
            stored["memory"], stored["memory_gbps"], stored["measured"]["memory"] = memory, memory["gbps"], _today()
            changed = True
    if changed:
        cache[key] = stored
        _write_cache(path, cache)
    measured = dict(stored["measured"])
    measured.update({k: _today() for k in busy})
    return Ceiling(machine=key, gemm=gemm, memory_gbps=float(memory["gbps"]), measured=measured,
                   cached=not measured_now, busy=busy, remeasured=sorted(again & set(measured_now)))


def implausible(limit: Ceiling, rows: list[dict[str, Any]], n_cores: int) -> set[str]:
    """The ceiling figures a run's rows contradict: a file within ~10 % of its ceiling or above it,
    a thread count whose ceiling exceeds the one-thread figure times the cores, or a file whose
    throughput with more threads is more than ``n_cores`` times its one-thread throughput."""
    keys = set()
    for row in rows:
        ceiling, gmacs = row.get("ceiling_gmacs"), row.get("gmacs")
        if ceiling and gmacs and gmacs >= NEAR_CEILING * ceiling:
            keys.add(f"gemm/{CEILING_OF.get(row['precision'], 'float32')}/{row['threads']}")
    for precision, per in limit.gemm.items():
        one = per.get("1", {}).get("gmacs")
        for t, fig in per.items():
            if one and int(t) > 1 and fig["gmacs"] > n_cores * one:
                keys |= {f"gemm/{precision}/1", f"gemm/{precision}/{t}"}
    one = {(r["file"], r["runtime"], r["batch"]): r["throughput"] for r in rows if r["threads"] == 1}
    for row in rows:
        base = one.get((row["file"], row["runtime"], row["batch"]))
        if row["threads"] > 1 and base and row["throughput"] > n_cores * base:
            keys.add(f"gemm/{CEILING_OF.get(row['precision'], 'float32')}/1")
    return keys
