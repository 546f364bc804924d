"""Long fuzz run: thousands of seeded corruptions of each exported model through the runtime.

    python benchmarks/fuzz.py [--dir exports] [--count 2000] [--seed 1]

Every mutation (truncation, bit flips, byte-range overwrite) is loaded with
``edgecnn.runtime.load`` and predicted once in a child process (see ``edgecnn.fuzz``).
Prints, per artifact and in total: mutations tried, loads OK, typed errors, and the
failures that must stay at 0: crashes, hangs, untyped errors, non-finite outputs.
Exits 1 if any failure occurred.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgecnn.fuzz import FuzzResult, fuzz_file  # noqa: E402
from edgecnn.manifest import load_artifacts  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("exports"), help="folder with manifest.json")
    parser.add_argument("--count", type=int, default=2000, help="mutations per artifact")
    parser.add_argument("--seed", type=int, default=1, help="fuzz seed (the test suite uses 0)")
    parser.add_argument("--batch", type=int, default=250, help="cases per child process")
    parser.add_argument("--files", nargs="*", type=Path, help="model files (default: the manifest's)")
    args = parser.parse_args()

    files = args.files or [a.path for a in load_artifacts(args.dir)]
    total = FuzzResult()
    header = f"{'artifact':28} {'tried':>6} {'ok':>6} {'typed':>6} {'crash':>6} {'hang':>5} {'untyped':>8} {'badout':>7} {'s':>6}"
    print(header)
    for path in files:
        started = time.perf_counter()
        result = fuzz_file(path, args.seed, args.count, batch=args.batch)
        c = result.counts
        print(f"{path.name:28} {result.tried:6} {c['ok']:6} {c['typed_error']:6} {c['crash']:6} {c['hang']:5} "
              f"{c['untyped_error']:8} {c['bad_output']:7} {time.perf_counter() - started:6.0f}", flush=True)
        total.merge(result)
    c = total.counts
    print(f"{'TOTAL':28} {total.tried:6} {c['ok']:6} {c['typed_error']:6} {c['crash']:6} {c['hang']:5} "
          f"{c['untyped_error']:8} {c['bad_output']:7}")
    print("by kind:", {kind: dict(counter) for kind, counter in sorted(total.by_kind.items())})
    for case in total.failures[:20]:
        print("FAIL", case)
    return 1 if total.failures else 0


if __name__ == "__main__":
    sys.exit(main())
