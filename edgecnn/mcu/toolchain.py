"""Where the vendored TFLM and the Cortex-M tools are, and the emulated boards they build for."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edgecnn.errors import PlatformError

FIRMWARE_DIR = Path(__file__).with_name("firmware")
FIRMWARE_FILES = ("main.cc", "startup.c", "mps2.ld", "Makefile")
TFLM = "tflite-micro"
MICRO = f"{TFLM}/tensorflow/lite/micro"


@dataclass(frozen=True)
class Target:
    """An emulated Cortex-M board: QEMU machine and the compiler's CPU flags."""

    name: str
    machine: str  # qemu-system-arm -M
    cpu_flags: tuple[str, ...]
    description: str


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("cortex-m4", "mps2-an386", ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
               "Cortex-M4F (QEMU mps2-an386)"),
        Target("cortex-m7", "mps2-an500", ("-mcpu=cortex-m7", "-mfpu=fpv5-d16", "-mfloat-abi=hard"),
               "Cortex-M7 (QEMU mps2-an500)"),
    )
}
TOOLS = ("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size", "arm-none-eabi-nm", "qemu-system-arm")


def third_party_dir() -> Path:
    """The vendored sources: ``$EDGECNN_THIRD_PARTY`` or ``third_party/`` beside the package."""
    env = os.environ.get("EDGECNN_THIRD_PARTY")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "third_party"
    if not (root / MICRO / "micro_interpreter.cc").is_file():
        raise PlatformError(f"vendored TFLM sources not found at {root} (set EDGECNN_THIRD_PARTY to the "
                            "repository's third_party/ folder)")
    return root


def require_tools(names: Iterable[str] = TOOLS) -> dict[str, str]:
    """Absolute paths of the tools; a missing one raises naming it and the package that has it."""
    packages = {"qemu-system-arm": "qemu-system-arm"}
    found: dict[str, str] = {}
    for name in names:
        path = shutil.which(name)
        if path is None:
            raise PlatformError(f"{name} not found: install {packages.get(name, 'gcc-arm-none-eabi')} "
                                "(Debian: `make platform-deps` as root)")
        found[name] = path
    return found
