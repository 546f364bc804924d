"""int8 on a real network (issue #20, point 6): every ratio of point 1, beside OpenVINO and NNCF.

For the MobileNetV2 of tests/real_models.py (trained once, cached) and the reference CNN (1
epoch: enough weights for timing), in one process:
  * edgecnn's float32/int8 TFLite and ONNX files (exported with the model's data and
    preprocessing), loaded through edgecnn.runtime with one thread;
  * OpenVINO float32 and NNCF int8 (``nncf.quantize`` on the same calibration images) compiled
    from the same float32 .onnx file, one inference thread, one stream, shapes fixed per batch;
  * size, p50 at batch 1, throughput at batch 256 (interleaved rounds, warm-up first), top-1
    agreement with Keras on the test images, and every ratio against float32 ONNX.
A shared machine drifts: read the ratios, measured in one run, and the load average printed.
The files `export --max-drop` repairs (point 2) are measured by benchmarks/int8_recovery.py.

    pip install "edgecnn[bench]"        # openvino, nncf
    python benchmarks/int8_real.py [--rounds 7] [--models mobilenet,reference]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import _common  # the repo on sys.path

BATCHES = {1: 40, 256: 2}  # calls per round


@dataclass
class Subject:
    """One model's files and runners: name -> (bytes, run(input) -> output, prepare(uint8 photos) -> input)."""

    name: str
    photos: np.ndarray  # the test images, uint8
    keras_top: np.ndarray
    runners: dict = field(default_factory=dict)
    sizes: dict = field(default_factory=dict)


def openvino_runners(onnx_path: Path, calibration: np.ndarray, threads: int, prepare) -> dict:
    """OpenVINO float32 and NNCF int8 from the float32 .onnx file: name -> (bytes, run, prepare)."""
    try:
        import nncf
        import openvino as ov
    except ImportError:
        print('OpenVINO/NNCF not installed: pip install "edgecnn[bench]" (openvino, nncf); their rows are skipped')
        return {}
    core = ov.Core()
    # One stream of ``threads`` threads, float32 arithmetic; no pinning: on a shared machine a thread
    # pinned to a busy core waits (OpenVINO pins by default on Linux).
    config = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": "f32", "ENABLE_CPU_PINNING": False}
    fp32 = core.read_model(str(onnx_path))
    int8 = nncf.quantize(fp32.clone(), nncf.Dataset([calibration[i: i + 1] for i in range(len(calibration))]),
                         subset_size=len(calibration))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in (("OpenVINO float32", fp32), ("NNCF int8 (OpenVINO)", int8)):
            ov.save_model(model, f"{tmp}/m.xml", compress_to_fp16=False)
            size = Path(f"{tmp}/m.bin").stat().st_size + Path(f"{tmp}/m.xml").stat().st_size
            compiled = {}
            for b in BATCHES:  # a fixed shape per batch size, as an OpenVINO user would compile
                shaped = model.clone()
                shaped.reshape([b, *calibration.shape[1:]])
                compiled[b] = core.compile_model(shaped, "CPU", config).create_infer_request()

            def run(x, compiled=compiled):
                """A compiled batch size as it is; any other batch image by image (agreement only)."""
                if len(x) in compiled:
                    return next(iter(compiled[len(x)].infer([x]).values()))
                return np.concatenate([next(iter(compiled[1].infer([x[j: j + 1]]).values())) for j in range(len(x))])

            out[name] = (size, run, prepare)
    return out


def edgecnn_subject(name: str, model_path: Path, out: Path, options, threads: int) -> Subject:
    """Export the four standard files of ``model_path`` and load them with ``threads`` threads."""
    from edgecnn.data import preprocess
    from edgecnn.export import STANDARD, export_models, resolve_spec
    from edgecnn.export.common import calibration_images
    from edgecnn.model import load_model
    from edgecnn.runtime import RuntimeOptions, load

    arts = export_models(model_path, out, STANDARD, options)
    model = load_model(model_path)
    opts = resolve_spec(model, model_path, options, needs_data=True)
    photos = opts.dataset.x_test
    keras_top = model.predict(preprocess(photos, opts.spec.preprocessing), verbose=0, batch_size=500).argmax(1)
    subject = Subject(name, photos, keras_top)
    for art in arts:  # timed: Predictor.run on prepared input (as bench times a file)
        predictor = load(art.path, RuntimeOptions(num_threads=threads))
        subject.runners[f"edgecnn {art.format} {art.precision}"] = (art.bytes, predictor.run, predictor.prepare)
    onnx32 = next(a.path for a in arts if a.format == "onnx" and a.precision == "float32")
    subject.runners.update(openvino_runners(onnx32, calibration_images(opts)[:300], threads,
                                            lambda x: preprocess(x, opts.spec.preprocessing)))
    return subject


def measure(runners: dict, photos: np.ndarray, rounds: int) -> dict[tuple[str, int], float]:
    """Median ns per call per (runner, batch), rounds interleaved (alternating order)."""
    inputs = {(n, b): np.ascontiguousarray(prepare(photos[:b])) for n, (_, _, prepare) in runners.items()
              for b in BATCHES}
    for name, (_, run, _) in runners.items():
        for x in (inputs[(name, b)] for b in BATCHES):
            end = time.perf_counter() + 0.3
            while time.perf_counter() < end:
                run(x)
    samples: dict[tuple[str, int], list[int]] = {(n, b): [] for n in runners for b in BATCHES}
    for r in range(rounds):
        for name in (list(runners) if r % 2 == 0 else list(reversed(runners))):
            for b, calls in BATCHES.items():
                for _ in range(calls):
                    t = time.perf_counter_ns()
                    runners[name][1](inputs[(name, b)])
                    samples[(name, b)].append(time.perf_counter_ns() - t)
    return {k: float(np.median(v)) for k, v in samples.items()}


def report(subject: Subject, rounds: int) -> None:
    med = measure(subject.runners, subject.photos, rounds)
    load_after = open("/proc/loadavg").read().split()[:3]
    agree = {}
    for name, (_, run, prepare) in subject.runners.items():  # raw outputs: argmax survives dequantization
        x = subject.photos
        top = np.concatenate([run(prepare(x[i: i + 256])) for i in range(0, len(x), 256)]).argmax(1)
        agree[name] = float(np.mean(top == subject.keras_top))
    base = "edgecnn onnx float32"
    size0, p0, t0 = subject.runners[base][0], med[(base, 1)], 256e9 / med[(base, 256)]
    print(f"\n{subject.name}: {len(subject.photos)} test images, 1 thread, {rounds} rounds, "
          f"load average after timing {' '.join(load_after)}")
    print(f"{'file':<24} {'KiB':>7} {'/f32':>5} {'b1 p50 us':>10} {'/f32':>5} {'b256 img/s':>11} {'/f32':>5} "
          f"{'agree':>7}")
    for name, (size, _, _) in subject.runners.items():
        tp = 256e9 / med[(name, 256)]
        print(f"{name:<24} {size / 1024:>7.0f} {size / size0:>5.2f} {med[(name, 1)] / 1e3:>10.1f} "
              f"{med[(name, 1)] / p0:>5.2f} {tp:>11,.0f} {tp / t0:>5.2f} {agree[name]:>7.2%}")
    ours = [n for n in subject.runners if n.startswith("edgecnn")]
    peers = [n for n in subject.runners if not n.startswith("edgecnn")]
    if peers:
        for b, what in ((1, "p50 at batch 1"), (256, "throughput at batch 256")):
            best_ours, best_peer = (min(names, key=lambda n: med[(n, b)]) for names in (ours, peers))
            ratio = med[(best_peer, b)] / med[(best_ours, b)]
            print(f"best {what}: {best_ours} vs {best_peer}: {ratio:.2f}x OpenVINO's best "
                  f"({'matches' if ratio >= 1 else 'BELOW'})")
    i8 = "edgecnn onnx int8"
    print(f"int8 ONNX vs float32 ONNX: size {subject.runners[i8][0] / size0:.2f}, p50 {med[(i8, 1)] / p0:.2f}x, "
          f"throughput {256e9 / med[(i8, 256)] / t0:.2f}x, agreement {agree[i8]:.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="mobilenet,reference")
    args = parser.parse_args()

    sys.path.insert(0, str(_common.ROOT / "tests"))
    import real_models

    from edgecnn.env import cache_dir
    from edgecnn.export import ExportOptions
    from edgecnn.spec import Preprocessing

    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        for which in args.models.split(","):
            out = Path(tmp) / which
            if which == "mobilenet":
                model_path, npz = real_models.trained(cache_dir() / "test-models")
                options = ExportOptions(data_path=npz, preprocessing=Preprocessing.parse("symmetric", "rgb"))
                name = "MobileNetV2 0.35 (96x96x3, 5 classes)"
            else:
                from edgecnn.data import load_mnist
                from edgecnn.model import TrainConfig, train

                model_path = train(TrainConfig(epochs=1, verbose=0), load_mnist(), out).model_path
                options, name = ExportOptions(), "reference CNN (MNIST, 1 epoch)"
            subject = edgecnn_subject(name, model_path, out, options, args.threads)
            report(subject, args.rounds)


if __name__ == "__main__":
    main()
