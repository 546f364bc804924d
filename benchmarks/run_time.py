"""Time goal of `edgecnn run`: the whole default job in <= 2 minutes on this machine, and its
training stage no slower than a plain Keras script training the same model on the same arrays.

    .venv/bin/python benchmarks/run_time.py [--out /tmp/edgecnn-run-time]

Runs `edgecnn run --retrain` (12 epochs, four artifacts, full-test-set verification, default
bench) in a fresh process and a fresh folder, then the plain Keras training script of
benchmarks/train_speed.py, and prints the wall times and ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import PLAIN, run  # noqa: E402

GOAL_SECONDS = 120.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgecnn-run-") as tmp:
        out = args.out or Path(tmp) / "exports"
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "edgecnn", "run", "--retrain", "--output-dir", str(out)],
                              capture_output=True, text=True)
        total = time.perf_counter() - started
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
            return 1
        stages = {line.split()[0]: float(line.split()[-2]) for line in proc.stdout.splitlines()
                  if line.strip().endswith(" s") and " done in " in line}
        fit = json.loads((out / "train.json").read_text())["wall_seconds"]
    plain = run(PLAIN, 12)
    print(f"edgecnn run (default, --retrain): {total:6.1f} s wall  (goal <= {GOAL_SECONDS:.0f} s: "
          f"{'met' if total <= GOAL_SECONDS else 'MISSED'})")
    print("  stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    print(f"  training stage {stages.get('train', float('nan')):.1f} s (model.fit {fit:.1f} s)")
    print(f"plain Keras script, same model and arrays: {plain['wall']:.1f} s, accuracy {plain['accuracy']:.4f}")
    ratio = stages.get("train", float("nan")) / plain["wall"]
    print(f"training stage / plain Keras = {ratio:.3f} (goal <= 1.0: {'met' if ratio <= 1.0 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
