"""Target platforms: this machine natively, emulated Raspberry Pi CPUs, the browser, TFLite Micro, Cortex-M.

:mod:`~edgecnn.platforms.registry` maps a name (``pi4``, ``pi5``; the group ``pi`` = both) to a
:class:`Platform` and each platform's kind to its checker; :mod:`~edgecnn.platforms.check` runs the
Pi bundle's own ``classify.py`` and groups a verify run's platforms by kind. Every checker judges
with :mod:`edgecnn.parity`, never with ``verify``. Emulated runs prove correctness only: their
timings mean nothing.

Importing this package loads the registry only (no numpy), so the CLI takes its choices from it
without slowing ``edgecnn --help``.
"""

from edgecnn.platforms.registry import CHOICES, GROUPS, NATIVE, PLATFORMS, Platform, resolve

__all__ = ["Platform", "NATIVE", "PLATFORMS", "GROUPS", "CHOICES", "resolve"]
