"""int8 against float32 TFLite at batch 1, measured in one run by edgecnn's harness.

    python benchmarks/int8_vs_float.py [--dir exports] [--seconds 3]

Prints both p50s and int8 / float32 (goal ≤ 0.55, issue #17) for the runtime call (inputs already in
each model's dtype), and the same ratio end to end (int8 quantization of the float input
and dequantization of the output inside the timed call) for information.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import need

from edgecnn.bench import BenchConfig, run_bench
from edgecnn.data import load_mnist

GOAL = 0.55


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("exports"), help="folder with manifest.json")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per model")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    paths = need(args.dir, "tflite/float32", "tflite/int8")
    config = BenchConfig(batch_sizes=(1,), threads=(args.threads,), seconds=args.seconds, keras=False,
                         cold_start=False, rounds=20)
    result = run_bench(list(paths.values()), config, load_mnist().x_test)
    f32, i8 = (next(r for r in result.rows if r["precision"] == p) for p in ("float32", "int8"))
    ratio, e2e = i8["p50_us"] / f32["p50_us"], i8["e2e_p50_us"] / f32["e2e_p50_us"]
    print(f"TFLite batch 1, {args.threads} thread(s), XNNPACK on, {config.rounds} interleaved rounds")
    print(f"  float32 p50 {f32['p50_us']:.2f} µs, int8 p50 {i8['p50_us']:.2f} µs (runtime call)")
    print(f"  int8 / float32 = {ratio:.3f}: {'meets' if ratio <= GOAL else 'MISSES'} the goal ≤ {GOAL}")
    print(f"  end to end from uint8 pixels (prepare + run + finish): int8 p50 {i8['e2e_p50_us']:.2f} µs, "
          f"int8 / float32 = {e2e:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
