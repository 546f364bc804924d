"""Compiling TFLM, its kernels and the firmware with ``arm-none-eabi-g++``, each object cached once.

Every library object lives under ``~/.cache/edgecnn/mcu/<hash>/`` where the hash covers the
vendored tree, the compiler version and the flags, so only the first build of a configuration
is cold; an object is written atomically (temporary file, then rename), so a killed build
leaves no half-written object behind.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn.errors import PlatformError
from edgecnn.mcu.kernels import KERNEL_SETS
from edgecnn.mcu.toolchain import Target

log = logging.getLogger(__name__)

COMMON_FLAGS = ("-mthumb", "-O2", "-ffunction-sections", "-fdata-sections", "-DTF_LITE_STATIC_MEMORY",
                "-DNDEBUG", "-Wno-psabi")
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-fno-unwind-tables",
             "-fno-asynchronous-unwind-tables")
C_FLAGS = ("-std=c11",)
INCLUDES = ("tflite-micro", "flatbuffers/include", "gemmlowp", "ruy")
CMSIS_INCLUDES = ("cmsis_nn", "cmsis_nn/Include")

Job = tuple[Path, Path, list[str]]  # (source, object, flags)


def cache_root() -> Path:
    """``~/.cache/edgecnn/mcu`` (or under ``$EDGECNN_CACHE_DIR``)."""
    from edgecnn.env import cache_dir

    return cache_dir("mcu")


_TREE_HASHES: dict[Path, str] = {}


def tree_hash(root: Path) -> str:
    """sha256 over the sorted (path, content) list of a folder."""
    root = Path(root).resolve()
    if root not in _TREE_HASHES:
        h = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
        _TREE_HASHES[root] = h.hexdigest()
    return _TREE_HASHES[root]


@dataclass
class BuildStats:
    """What one firmware build compiled, took from the cache, and how long it took."""

    compiled: int = 0
    cached: int = 0
    seconds: float = 0.0
    cache_dir: str = ""
    fallback_all_kernels: bool = False
    kernel_sources: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"objects_compiled": self.compiled, "objects_cached": self.cached,
                "build_seconds": round(self.seconds, 2), "cache_dir": self.cache_dir,
                "fallback_all_kernels": self.fallback_all_kernels, "kernel_sources": self.kernel_sources}


def lang(path: str | Path) -> str:
    """``"c"`` for a .c file, else ``"c++"``."""
    return "c" if str(path).endswith(".c") else "c++"


def flags(target: Target, kernels: str, root: Path, language: str) -> list[str]:
    """Compiler flags for one CPU, kernel set and language, with the vendored include folders."""
    out = [*target.cpu_flags, *COMMON_FLAGS, *(CXX_FLAGS if language == "c++" else C_FLAGS)]
    incs = list(INCLUDES) + list(CMSIS_INCLUDES)
    if kernels == "cmsis-nn":
        out.append("-DCMSIS_NN")
    out += [f"-I{root / i}" for i in incs]
    return out


def _compiler_id(tools: dict[str, str]) -> str:
    out = subprocess.run([tools["arm-none-eabi-g++"], "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def config_hash(target: Target, root: Path, tools: dict[str, str]) -> str:
    """The cache key of a CPU's library objects: vendored tree, compiler, flags of both kernel sets."""
    h = hashlib.sha256()
    h.update(tree_hash(root).encode())
    h.update(_compiler_id(tools).encode())
    for kernels in KERNEL_SETS:
        for language in ("c", "c++"):
            h.update(" ".join(flags(target, kernels, Path("/"), language)).encode())
    return h.hexdigest()[:16]


def _compile(tools: dict[str, str], src: Path, obj: Path, flag_list: Sequence[str]) -> None:
    cc = tools["arm-none-eabi-gcc"] if src.suffix == ".c" else tools["arm-none-eabi-g++"]
    obj.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=obj.parent, prefix=".tmp-", suffix=".o")
    os.close(fd)
    try:
        proc = subprocess.run([cc, *flag_list, "-c", str(src), "-o", tmp], capture_output=True, text=True)
        if proc.returncode != 0:
            raise PlatformError(f"compiling {src.name} failed:\n{proc.stderr.strip()[-2000:]}")
        os.replace(tmp, obj)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def compile_all(tools: dict[str, str], jobs: list[Job], stats: BuildStats, workers: int = 2) -> list[Path]:
    """Compile (source, object, flags) jobs whose object is not cached yet; returns the objects."""
    todo = [j for j in jobs if not j[1].is_file()]
    stats.cached += len(jobs) - len(todo)
    stats.compiled += len(todo)
    if todo:
        log.info("compiling %d sources (%d cached)", len(todo), len(jobs) - len(todo))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            for fut in [pool.submit(_compile, tools, *j) for j in todo]:
                fut.result()
    return [j[1] for j in jobs]


def library_jobs(sources: Sequence[str], target: Target, kernels: str, root: Path, cache: Path) -> list[Job]:
    """Framework objects are shared by both kernel sets (no framework file sees CMSIS_NN)."""
    jobs = []
    for s in sources:
        shared = "/micro/kernels/" not in s and not s.startswith("cmsis_nn/")
        kset = "reference" if shared else kernels
        sub = "framework" if shared else kernels
        jobs.append((root / s, cache / sub / (s + ".o"), flags(target, kset, root, lang(s))))
    return jobs
