"""Target platforms: this machine natively, and Raspberry Pi CPUs emulated with qemu-user.

A registry maps a name (``pi4``, ``pi5``; the group ``pi`` = both) to a :class:`Platform`
whose qemu CPU model matches the board. ``run_on_platform`` runs the Pi bundle's own
``classify.py`` there and returns probabilities; ``verify_platforms`` compares them with
the Keras model. Emulated runs prove correctness only: their timings mean nothing.
"""

from __future__ import annotations

from edgecnn.platforms.check import compare_with_keras, run_on_platform, verify_platforms
from edgecnn.platforms.registry import CHOICES, GROUPS, NATIVE, PLATFORMS, Platform, resolve
from edgecnn.platforms.root import RootConfig, ensure_root, host_problem

__all__ = [
    "Platform", "NATIVE", "PLATFORMS", "GROUPS", "CHOICES", "resolve", "compare_with_keras",
    "run_on_platform", "verify_platforms", "RootConfig", "ensure_root", "host_problem",
]
