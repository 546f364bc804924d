"""How much edgecnn's bench harness adds to a minimal hand-written loop over the same file.

    python benchmarks/harness_overhead.py [--dir exports] [--batch 1] [--seconds 3]

For each exported model: the harness's timed call (``edgecnn.bench.timed_calls`` timed by
``edgecnn.bench.time_rounds``, as ``edgecnn bench --seconds`` runs it: ``Predictor.run`` on inputs
in the model's dtype) against a bare loop written out here (``set_tensor``/``invoke``/
``get_tensor`` on a LiteRT interpreter; ``session.run`` with a pre-built feed on ONNX Runtime):
same file, same settings, same input array, same process, interleaved in blocks.
Prints both p50s and their ratio; goal: harness / bare ≤ 1.10.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import need

from edgecnn.bench import BenchConfig, load_subject, make_subjects, time_rounds, timed_calls, warm_up
from edgecnn.data import load_mnist
from edgecnn.runtime import RuntimeOptions

GOAL = 1.10


class BareTFLite:
    """The minimal LiteRT loop: XNNPACK on (LiteRT's default), input resized once."""

    def __init__(self, path: Path, x: np.ndarray, threads: int) -> None:
        from edgecnn.runtime.tflite import _interpreter_class

        Interpreter, _ = _interpreter_class()
        self.interp = Interpreter(model_path=str(path), num_threads=threads)
        self.i = self.interp.get_input_details()[0]["index"]
        self.o = self.interp.get_output_details()[0]["index"]
        self.interp.resize_tensor_input(self.i, list(x.shape))
        self.interp.allocate_tensors()
        self.x = x

    def time(self, n: int) -> np.ndarray:
        set_tensor, invoke, get_tensor = self.interp.set_tensor, self.interp.invoke, self.interp.get_tensor
        i, o, x, clock, times = self.i, self.o, self.x, time.perf_counter_ns, []
        for _ in range(n):
            t0 = clock()
            set_tensor(i, x)
            invoke()
            get_tensor(o)
            times.append(clock() - t0)
        return np.asarray(times)


class BareOnnx:
    """The minimal ONNX Runtime loop, with the session settings edgecnn uses."""

    def __init__(self, path: Path, x: np.ndarray, threads: int) -> None:
        import onnxruntime as ort

        from edgecnn.runtime.onnx import session_options

        self.session = ort.InferenceSession(
            str(path), sess_options=session_options(RuntimeOptions(num_threads=threads)),
            providers=["CPUExecutionProvider"],
        )
        self.feed = {self.session.get_inputs()[0].name: x}

    def time(self, n: int) -> np.ndarray:
        run, feed, clock, times = self.session.run, self.feed, time.perf_counter_ns, []
        for _ in range(n):
            t0 = clock()
            run(None, feed)
            times.append(clock() - t0)
        return np.asarray(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("exports"), help="folder with manifest.json")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per loop and model")
    parser.add_argument("--blocks", type=int, default=30, help="interleaved blocks per loop")
    args = parser.parse_args()
    paths = need(args.dir, "tflite/float32", "tflite/int8", "onnx/float32", "onnx/int8")
    images = load_mnist().x_test[: args.batch]
    config = BenchConfig(threads=(args.threads,), cold_start=False, keras=False)
    worst = 0.0
    print(f"batch {args.batch}, {args.threads} thread(s), {args.seconds} s per loop in {args.blocks} interleaved blocks")
    print(f"{'model':<26} {'harness p50 µs':>15} {'bare p50 µs':>12} {'ratio':>7}")
    for path in paths.values():
        (subject,) = make_subjects([path], config, {})
        load_subject(subject, config, args.threads)
        harness, _ = timed_calls(subject, images)
        x = subject.handle.prepare(images)  # the same array the harness feeds, in the model's dtype
        bare = (BareTFLite if subject.format == "tflite" else BareOnnx)(path, x, args.threads)
        warm_up(harness, 0.5, 5)
        warm = bare.time(1000)
        block = max(1, int(args.seconds / args.blocks / (np.median(warm) / 1e9)))
        h, b = [], []
        for _ in range(args.blocks):  # alternate blocks so drift hits both loops alike
            h.append(time_rounds([harness], 1, seconds=args.seconds / args.blocks)[0])
            b.append(bare.time(block))
        hp50, bp50 = np.median(np.concatenate(h)) / 1e3, np.median(np.concatenate(b)) / 1e3
        ratio = hp50 / bp50
        worst = max(worst, ratio)
        print(f"{path.name:<26} {hp50:>15.2f} {bp50:>12.2f} {ratio:>7.3f}")
    verdict = "meets" if worst <= GOAL else "MISSES"
    print(f"worst harness/bare ratio {worst:.3f}: {verdict} the goal ≤ {GOAL:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
