"""Target platforms: this machine natively, and Raspberry Pi CPUs emulated with qemu-user.

A registry maps a name (``pi4``, ``pi5``; the group ``pi`` = both) to a :class:`Platform`
whose qemu CPU model matches the board. ``run_on_platform`` runs the Pi bundle's own
``classify.py`` there and returns probabilities; ``verify_platforms`` compares them with
the Keras model. Emulated runs prove correctness only: their timings mean nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

from edgecnn.platforms.registry import CHOICES, GROUPS, NATIVE, PLATFORMS, Platform, resolve

# The checks pull in numpy and edgecnn.verify; they load on first use so that the CLI can
# take CHOICES from the registry without slowing `edgecnn --help`.
_LAZY = {
    "compare_with_keras": "check", "run_on_platform": "check", "verify_platforms": "check",
    "check_verified": "check", "format_platforms": "check",
    "RootConfig": "root", "ensure_root": "root", "host_problem": "root",
}

__all__ = ["Platform", "NATIVE", "PLATFORMS", "GROUPS", "CHOICES", "resolve", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"edgecnn.platforms.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'edgecnn.platforms' has no attribute {name!r}")
