"""Machine and library facts recorded next to every figure (no heavy imports)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# The distributions whose versions change the figures edgecnn publishes.
_PACKAGES = (
    "edgecnn", "tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "onnx",
    "onnxruntime", "ai-edge-litert", "numpy",
)


def cache_dir(*parts: str) -> Path:
    """Where edgecnn caches what it builds or measures once per machine (the arm64 root, MCU
    objects, npm tarballs, the GEMM ceiling): ``$EDGECNN_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/edgecnn``, else ``~/.cache/edgecnn``; ``parts`` name a sub-folder or file."""
    base = os.environ.get("EDGECNN_CACHE_DIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgecnn"
    return Path(base).joinpath(*parts)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that matter, read without importing them."""
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, object]:
    """CPU model, core count, OS and architecture."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
    }
