"""Files copied into ``edgecnn bundle`` folders (package data)."""

from __future__ import annotations

import string
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent


def pi_classify_path() -> Path:
    """The standalone Raspberry Pi ``classify.py`` (numpy, Pillow, ai-edge-litert/tflite-runtime)."""
    return TEMPLATES / "pi" / "classify.py"


def pi_requirements_path() -> Path:
    """The ``requirements.txt`` that goes next to ``classify.py``."""
    return TEMPLATES / "pi" / "requirements.txt"


def render(template: str, /, **values: object) -> str:
    """The ``template`` (under bundle_templates/) with its ``${field}`` placeholders filled in.

    Args:
        template: a path relative to this folder, e.g. ``"mcu/README.md.in"``.
        values: one value per field of the template; a field without a value raises ``KeyError``.

    Returns:
        The filled-in text.
    """
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    return string.Template(text).substitute({key: str(value) for key, value in values.items()})
