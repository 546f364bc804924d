"""The README's results table: every exported model and the Keras baseline, one run.

    python benchmarks/results_table.py [--dir exports] [--seconds 3] [--out benchmarks/results]

Runs ``edgecnn bench``'s harness (batch 1, 32, 256; 1 thread; XNNPACK on; cold start and peak
memory in fresh processes) on the artifacts in ``--dir`` and writes, into ``--out``:
``results.json`` (every figure, settings, machine), ``results.md`` (the README table, then the
full report) and ``bench.png``. Also prints the performance goals of issue #5 measured in this
run: int8 / float32 TFLite at batch 1 (≤ 0.65) and ONNX / TFLite float32 at batch 1 (≤ 1.6).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import ROOT, need

from edgecnn import fileio
from edgecnn.bench import BenchConfig, run_bench
from edgecnn.bench.report import format_table, plot, summary_table, to_markdown
from edgecnn.data import load_mnist
from edgecnn.model import MODEL_FILENAME


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("exports"), help="folder with manifest.json")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per model and batch size")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    paths = list(need(args.dir, "tflite/float32", "tflite/int8", "onnx/float32", "onnx/int8").values())
    keras = args.dir / MODEL_FILENAME
    if not keras.is_file():
        raise SystemExit(f"Error: {keras} missing: run `edgecnn train --output-dir {args.dir}`")
    config = BenchConfig(seconds=args.seconds)
    started = time.perf_counter()
    result = run_bench([*paths, keras], config, load_mnist().x_test, out_dir=args.dir,
                       progress=lambda msg: print(f"  {msg}", flush=True))
    rows = {(r["format"], r["precision"], r["batch"]): r for r in result.rows if r["threads"] == 1}
    goals = {
        "int8_over_float32_tflite_b1": rows["tflite", "int8", 1]["p50_us"] / rows["tflite", "float32", 1]["p50_us"],
        "onnx_over_tflite_float32_b1": rows["onnx", "float32", 1]["p50_us"] / rows["tflite", "float32", 1]["p50_us"],
    }
    m = result.machine
    title = (f"Measured {time.strftime('%Y-%m-%d', time.gmtime())} on {m['cpu']} ({m['cores']} cores, "
             f"{m['system']}), 1 thread, {args.seconds} s per model and batch size.")
    fileio.write_json(args.out / "results.json", {**result.to_json(), "goals": goals})
    fileio.write_text(args.out / "results.md", "\n".join([
        "# Results", "", title, "", summary_table(result), "",
        f"int8 / float32 TFLite p50 at batch 1: {goals['int8_over_float32_tflite_b1']:.3f} (goal ≤ 0.65); "
        f"ONNX / TFLite float32: {goals['onnx_over_tflite_float32_b1']:.3f} (goal ≤ 1.6).", "",
        "![latency and throughput](bench.png)", "", to_markdown(result).replace("# edgecnn bench", "## Full report", 1),
    ]))
    plot(result, args.out / "bench.png")
    print(format_table(result))
    print()
    for name, value in goals.items():
        print(f"{name}: {value:.3f}")
    print(f"Wrote {args.out}/results.json, results.md, bench.png in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
