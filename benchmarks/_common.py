"""What the benchmark scripts share: the repo on sys.path and the artifacts they need."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgecnn.bench import manifest_paths  # noqa: E402
from edgecnn.errors import EdgeCnnError  # noqa: E402


def need(out_dir: Path, *keys: str) -> dict[str, Path]:
    """The files for ``keys`` ("tflite/float32", …) in ``out_dir``, or exit saying how to make them."""
    try:
        found = manifest_paths(out_dir)
    except EdgeCnnError as exc:
        sys.exit(f"Error: {exc}")
    missing = [k for k in keys if k not in found]
    if missing:
        sys.exit(f"Error: {out_dir} lacks {', '.join(missing)}: run `edgecnn export --output-dir {out_dir}`")
    return {k: found[k] for k in keys}
