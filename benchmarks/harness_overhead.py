"""How much edgecnn's bench harness adds to a minimal hand-written loop over the same file, and
whether ``edgecnn bench``'s own figure is what an app would see.

    python benchmarks/harness_overhead.py [--dir exports] [--batch 1] [--seconds 3] [--bench]

For each exported model: the harness's timed call (``edgecnn.bench.timed_calls`` timed by
``edgecnn.bench.time_rounds``, as ``edgecnn bench --seconds`` runs it: ``Predictor.run`` on inputs
in the model's dtype) against a bare loop written out here (``set_tensor``/``invoke``/
``get_tensor`` on a LiteRT interpreter; ``session.run`` with a pre-built feed on ONNX Runtime):
same file, same settings, same input array, same process, interleaved in blocks.
Prints both p50s and their ratio; goal: harness / bare ≤ 1.10.

``--bench`` (#23 point 4) compares ``edgecnn bench``'s figure itself (``run_bench``: every file
and the folder's Keras baseline, interleaved rounds, as the command runs) with the bare loop run
right after it in the same process, file by file; goal bench / bare ≤ 1.10 for every runtime. Each
arrangement runs in a fresh process (TensorFlow cannot leave a process it entered), so the causes
are measured one at a time: ``bench`` (the Keras baseline in its own process, a settle pause
between turns), ``keras-inside`` (the Keras model loaded and interleaved in the timing process,
as bench did before), ``no-settle`` (no pause between runtimes' turns). The load average is
printed with every figure.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from _common import need

from edgecnn.bench import BenchConfig, load_subject, make_subjects, time_rounds, timed_calls, warm_up
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


ARRANGEMENTS = ("bench", "keras-inside", "no-settle")


def bare_p50(path: Path, x: np.ndarray, threads: int, seconds: float) -> float:
    """The bare loop's p50 in µs over about ``seconds`` of calls (after 1,000 warm-up calls)."""
    bare = (BareTFLite if path.suffix == ".tflite" else BareOnnx)(path, x, threads)
    warm = bare.time(1000)
    n = max(100, int(seconds / (np.median(warm) / 1e9)))
    return float(np.median(bare.time(n))) / 1e3


def one_arrangement(arrangement: str, folder: Path, batch: int, threads: int, seconds: float,
                    data: Path | None = None) -> dict:
    """In this (fresh) process: bench's batch-``batch`` p50 per file under ``arrangement``, then the
    bare loop on each file; {file: (bench µs, bare µs, runtime)} and the load around them."""
    import os
    from dataclasses import replace

    from edgecnn.bench import run_bench
    from edgecnn.bench.subjects import default_paths
    from edgecnn.data import load_data
    from edgecnn.runtime import load

    paths = default_paths(folder, keras=True)
    files = [p for p in paths if p.suffix != ".keras"]
    spec = load(files[0]).spec
    images = load_data(data, spec.input_shape).x_test[:batch]
    config = BenchConfig(batch_sizes=(batch,), threads=(threads,), seconds=seconds, cold_start=False, ceiling="off")
    if arrangement == "no-settle":
        config = replace(config, settle_seconds=0.0)
    load_before = os.getloadavg()[0]
    if arrangement == "keras-inside":  # the old arrangement: Keras loaded and interleaved in this process
        subjects = make_subjects(paths, config, {})
        for subject in subjects:
            load_subject(subject, config, threads)
        calls = [timed_calls(s, images)[0] for s in subjects]
        for call in calls:
            warm_up(call, config.warmup_seconds, config.warmup_calls)
        timed = time_rounds(calls, config.rounds, seconds=config.seconds, min_runs=config.min_runs)
        figures = {s.path.name: (float(np.median(t)) / 1e3, s.runtime) for s, t in zip(subjects, timed)
                   if not s.is_baseline}
    else:
        result = run_bench(paths, config, images)
        figures = {r["file"]: (r["p50_us"], r["runtime"]) for r in result.rows if r["format"] != "keras"}
    out = {}
    for path in files:
        x = load(path).prepare(images)
        out[path.name] = (figures[path.name][0], bare_p50(path, x, threads, seconds), figures[path.name][1])
    return {"figures": out, "load": [load_before, os.getloadavg()[0]]}


def compare_bench(folder: Path, batch: int, threads: int, seconds: float, data: Path | None = None) -> float:
    """Each arrangement in a fresh process; prints bench / bare per file; returns the worst ratio of ``bench``."""
    import json
    import subprocess
    import sys

    print(f"\nedgecnn bench's own figure against a bare loop, {folder}, batch {batch}, {threads} thread(s), "
          f"{seconds} s per file")
    print(f"{'arrangement':<13} {'model':<34} {'runtime':<15} {'bench p50 µs':>12} {'bare p50 µs':>11} "
          f"{'ratio':>6}  load 1-min")
    worst = 0.0
    for arrangement in ARRANGEMENTS:
        child = subprocess.run([sys.executable, __file__, "--dir", str(folder), "--batch", str(batch),
                                "--threads", str(threads), "--seconds", str(seconds), "--arrangement", arrangement,
                                *(["--data", str(data)] if data else [])],
                               capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(f"{arrangement}: failed: {child.stderr.strip().splitlines()[-1:]}")
            continue
        got = json.loads(child.stdout.strip().splitlines()[-1])
        for name, (bench, bare, runtime) in got["figures"].items():
            if arrangement == "bench":
                worst = max(worst, bench / bare)
            print(f"{arrangement:<13} {name:<34} {runtime:<15} {bench:>12.2f} {bare:>11.2f} {bench / bare:>6.3f}  "
                  f"{got['load'][0]:.1f} -> {got['load'][1]:.1f}")
    verdict = "meets" if worst <= GOAL else "MISSES"
    print(f"worst bench/bare ratio (arrangement bench) {worst:.3f}: {verdict} the goal ≤ {GOAL:.2f}")
    return worst


def spin_after_last_call(folder: Path, threads: int, images: np.ndarray, rounds: int = 8) -> None:
    """CPU time each runtime's own threads burn right after its last call (main thread asleep):
    why bench pauses after a spinning runtime's turn. Cores busy per window after the call."""
    import os
    import resource

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    edges = (0, 2, 5, 10, 20, 40, 80)  # ms after the last call
    config = BenchConfig(threads=(threads,), cold_start=False, keras=False)
    print(f"\nCores busy after a runtime's last call (main thread asleep), {threads} thread(s), batch {len(images)}, "
          f"median of {rounds}")
    print(f"{'model':<34} {'runtime':<15} " + " ".join(f"{f'{a}-{b} ms':>9}" for a, b in zip(edges, edges[1:]))
          + "  load 1-min")
    for path in need(folder, "tflite/float32", "onnx/float32", "onnx/int8").values():
        (subject,) = make_subjects([path], config, {})
        load_subject(subject, config, threads)
        call, _ = timed_calls(subject, images)
        busy: dict[int, list[float]] = {b: [] for b in edges[1:]}
        for _ in range(rounds):
            warm_up(call, 0.1, 5)  # a 0.1 s turn, as in a bench round
            start, before, last = time.perf_counter(), cpu(), 0
            for edge in edges[1:]:
                time.sleep(max(0.0, start + edge / 1000 - time.perf_counter()))
                now = cpu()
                busy[edge].append((now - before) / ((edge - last) / 1000))
                before, last = now, edge
        print(f"{path.name:<34} {subject.runtime:<15} " + " ".join(f"{np.median(busy[b]):>9.2f}" for b in edges[1:])
              + f"  {os.getloadavg()[0]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("exports"), help="folder with manifest.json")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per loop and model")
    parser.add_argument("--blocks", type=int, default=30, help="interleaved blocks per loop")
    parser.add_argument("--bench", action="store_true", help="also compare `edgecnn bench`'s figure with the bare loop")
    parser.add_argument("--data", type=Path, help="test images (default: the bundled MNIST)")
    parser.add_argument("--spin", action="store_true",
                        help="also measure the CPU each runtime's threads burn after its last call (2+ threads)")
    parser.add_argument("--arrangement", choices=ARRANGEMENTS, help=argparse.SUPPRESS)  # one child of --bench
    args = parser.parse_args()
    if args.arrangement:
        import json

        got = one_arrangement(args.arrangement, args.dir, args.batch, args.threads, args.seconds, args.data)
        print(json.dumps(got))
        return 0
    paths = need(args.dir, "tflite/float32", "tflite/int8", "onnx/float32", "onnx/int8")
    from edgecnn.data import load_data
    from edgecnn.runtime import load

    images = load_data(args.data, load(paths["tflite/float32"]).spec.input_shape).x_test[: args.batch]
    config = BenchConfig(threads=(args.threads,), cold_start=False, keras=False)
    worst = 0.0
    print(f"batch {args.batch}, {args.threads} thread(s), {args.seconds} s per loop in {args.blocks} interleaved blocks")
    print(f"{'model':<34} {'harness p50 µs':>15} {'bare p50 µs':>12} {'ratio':>7}")
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
        print(f"{path.name:<34} {hp50:>15.2f} {bp50:>12.2f} {ratio:>7.3f}")
    verdict = "meets" if worst <= GOAL else "MISSES"
    print(f"worst harness/bare ratio {worst:.3f}: {verdict} the goal ≤ {GOAL:.2f}")
    if args.bench:
        compare_bench(args.dir, args.batch, args.threads, args.seconds, args.data)
    if args.spin:
        spin_after_last_call(args.dir, max(2, args.threads), images)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
