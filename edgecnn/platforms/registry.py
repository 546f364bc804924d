"""The platform registry: names -> :class:`Platform`, and each platform's kind -> its checker.

A *kind* is a way of running a bundle's own code somewhere else: ``pi`` runs the Pi bundle's
``classify.py`` natively or under qemu-user. Each kind has one checker, a function
``check(platforms, report, data, samples, tolerances, echo) -> {key: section}`` named in
:data:`CHECKERS` as ``"module:function"`` and imported only when that kind is asked for.
"""

from __future__ import annotations

import platform as _platform
from collections.abc import Iterable
from dataclasses import dataclass

from edgecnn.errors import PlatformError


@dataclass(frozen=True)
class Platform:
    """Where an artifact runs: a machine, and for emulated ones the qemu CPU model."""

    name: str  # registry name (``pi4``) or ``native``
    description: str
    machine: str  # ``uname -m`` of the platform
    qemu_cpu: str | None = None  # qemu-user CPU model; None = this machine, not emulated
    kind: str = "pi"  # which checker runs it (a key of CHECKERS)

    @property
    def emulated(self) -> bool:
        return self.qemu_cpu is not None

    @property
    def key(self) -> str:
        """The key of the ``platforms`` section in verify.json."""
        return f"{self.machine}-{self.qemu_cpu}-emulated" if self.emulated else f"{self.machine}-native"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "description": self.description, "machine": self.machine,
                "qemu_cpu": self.qemu_cpu, "emulated": self.emulated, "kind": self.kind}


NATIVE = Platform("native", "this machine", _platform.machine())
# The boards' own cores: qemu's default model (``max``) gives wrong int8 results under XNNPACK.
PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        Platform("pi4", "Raspberry Pi 4 (Cortex-A72), emulated", "aarch64", "cortex-a72"),
        Platform("pi5", "Raspberry Pi 5 (Cortex-A76), emulated", "aarch64", "cortex-a76"),
        Platform("browser", "headless Chromium, ONNX Runtime Web (WebAssembly)", "wasm32", kind="browser"),
        Platform("mcu", "TensorFlow Lite Micro interpreter (PyPI tflite-micro) on this machine",
                 _platform.machine(), kind="tflm"),
        Platform("cortex-m4", "Cortex-M4F firmware in QEMU mps2-an386", "armv7e-m", "cortex-m4", kind="cortex-m"),
        Platform("cortex-m7", "Cortex-M7 firmware in QEMU mps2-an500", "armv7e-m", "cortex-m7", kind="cortex-m"),
        Platform("mediapipe", "MediaPipe Tasks ImageClassifier (the Android/iOS/web task) on this machine",
                 _platform.machine(), kind="mediapipe"),
    )
}
GROUPS: dict[str, tuple[str, ...]] = {"pi": ("pi4", "pi5")}
# kind -> "module:function" of its checker (see the module docstring); imported on first use.
CHECKERS: dict[str, str] = {"pi": "edgecnn.platforms.check:check_pi",
                             "browser": "edgecnn.platforms.browser:check_browser",
                             "tflm": "edgecnn.platforms.mcu:check_tflm",
                             "cortex-m": "edgecnn.platforms.mcu:check_cortex_m",
                             "mediapipe": "edgecnn.platforms.mediapipe:check_mediapipe"}
CHOICES: tuple[str, ...] = (*PLATFORMS, *GROUPS)  # for click.Choice


def resolve(names: Iterable[str]) -> list[Platform]:
    """Platforms for registry names and groups, in order, without duplicates."""
    out: list[Platform] = []
    for name in names:
        if name not in PLATFORMS and name not in GROUPS:
            raise PlatformError(f"unknown platform {name!r}; choose from {', '.join(CHOICES)}")
        for member in GROUPS.get(name, (name,)):
            if PLATFORMS[member] not in out:
                out.append(PLATFORMS[member])
    return out



def checker(kind: str):
    """The checker function of a platform kind, imported on demand."""
    import importlib

    if kind not in CHECKERS:
        raise PlatformError(f"no checker for platform kind {kind!r}")
    module, _, name = CHECKERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)
