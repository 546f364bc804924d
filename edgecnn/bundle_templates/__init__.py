"""Files copied into ``edgecnn bundle`` folders (package data)."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent


def pi_classify_path() -> Path:
    """The standalone Raspberry Pi ``classify.py`` (numpy, Pillow, ai-edge-litert/tflite-runtime)."""
    return TEMPLATES / "pi" / "classify.py"


def pi_requirements_path() -> Path:
    """The ``requirements.txt`` that goes next to ``classify.py``."""
    return TEMPLATES / "pi" / "requirements.txt"
