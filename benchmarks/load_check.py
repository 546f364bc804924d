"""What the pre-runtime model checks cost, against a load without them and a load in a child process.

    python benchmarks/load_check.py [--dir exports] [--rounds 200]

For each artifact of the manifest: median time of ``edgecnn.runtime.load`` + one predict
with the checks (as shipped) and with the TFLite structural check bypassed, interleaved
round by round; the check alone; and, for scale, the same load + predict in a fresh
child process (the alternative way of surviving native crashes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import edgecnn.runtime.tflite as tflite_runtime  # noqa: E402
from edgecnn import runtime  # noqa: E402
from edgecnn.manifest import load_artifacts  # noqa: E402
from edgecnn.runtime.tflite_check import check_tflite  # noqa: E402

IMAGE = np.zeros((1, 28, 28), np.uint8)
CHILD = "import sys, numpy as np; from edgecnn import runtime; runtime.load(sys.argv[1]).predict(np.zeros((1, 28, 28), np.uint8))"


def _ms(fn) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("exports"), help="folder with manifest.json")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--child-runs", type=int, default=5)
    args = parser.parse_args()

    print(f"{'artifact':26} {'checked ms':>10} {'unchecked':>10} {'ratio':>6} {'check ms':>9} {'child ms':>9}")
    for artifact in load_artifacts(args.dir):
        path = artifact.path
        data = path.read_bytes()
        checked, unchecked, alone = [], [], []
        for i in range(args.rounds):
            # Alternate which variant goes first: the first load of a round pays for cold caches.
            for variant in (("checked", "unchecked") if i % 2 else ("unchecked", "checked")):
                tflite_runtime.check_tflite = check_tflite if variant == "checked" else (lambda _data: None)
                try:
                    (checked if variant == "checked" else unchecked).append(_ms(lambda: runtime.load(path).predict(IMAGE)))
                finally:
                    tflite_runtime.check_tflite = check_tflite
            if path.suffix == ".tflite":
                alone.append(_ms(lambda: check_tflite(data)))
        child = [
            _ms(lambda: subprocess.run([sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True))
            for _ in range(args.child_runs)
        ]
        med = statistics.median
        check_ms = f"{med(alone):9.2f}" if alone else f"{'-':>9}"
        print(f"{path.name:26} {med(checked):10.2f} {med(unchecked):10.2f} {med(checked) / med(unchecked):6.2f} "
              f"{check_ms} {med(child):9.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
