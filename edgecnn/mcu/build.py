"""Link the Cortex-M firmware of an MCU bundle folder against the vendored TFLM.

The bundle's own files (C array, ``model_setup.h``, the example's ``main.cc``, startup code and
linker script) are staged in a work folder with this run's ``model_data.h`` and test inputs;
TFLM, the kernels the model's ops need (:mod:`edgecnn.mcu.kernels`) and those files are
compiled through the object cache (:mod:`edgecnn.mcu.cache`) and linked into ``firmware.elf``,
which :mod:`edgecnn.mcu.qemu` boots.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgecnn.errors import PlatformError
from edgecnn.mcu import cache
from edgecnn.mcu.cache import BuildStats, Job
from edgecnn.mcu.kernels import all_kernels, cmsis_nn_sources, framework_sources, plan_kernels
from edgecnn.mcu.sources import model_data_header, test_inputs_sources
from edgecnn.mcu.toolchain import FIRMWARE_DIR, Target, require_tools, third_party_dir

log = logging.getLogger(__name__)

# Written into the work folder by this run, never taken from the bundle's header list.
GENERATED = frozenset({"model_setup.h", "model_data.h", "test_inputs.h", "test_inputs.cc", "main.cc"})


@dataclass
class Firmware:
    """A linked firmware: its ELF, the board and kernel set it was built for, and the build's figures."""

    elf: Path
    target: Target
    kernels: str
    stats: BuildStats


@dataclass(frozen=True)
class _Staged:
    model_cc: Path  # the C array's .cc, in the work folder
    symbol: str  # its `const unsigned char NAME[]`
    model_hash: str  # content hash of the array and the bundle's headers: the model object's cache key


def _stage(bundle: Path, inputs: Sequence[bytes], work: Path) -> _Staged:
    """Copy the bundle's files into ``work`` and write this run's model_data.h and test inputs."""
    work.mkdir(parents=True, exist_ok=True)
    headers = sorted(p for p in bundle.glob("*.h") if p.name not in GENERATED)
    found = [p for p in bundle.glob("*.cc") if p.name not in GENERATED]
    if len(found) != 1:
        raise PlatformError(f"{bundle}: expected one model .cc besides the example's, found {[p.name for p in found]}")
    model_cc = found[0]
    symbol = re.search(r"const unsigned char (\w+)\[\]", model_cc.read_text(errors="replace"))
    if not symbol:
        raise PlatformError(f"{model_cc.name}: no `const unsigned char NAME[]` array")
    if not (bundle / "model_setup.h").is_file():
        raise PlatformError(f"{bundle}: no model_setup.h (the op resolver and tensor arena)")
    for path in [*headers, model_cc, bundle / "model_setup.h"]:
        shutil.copyfile(path, work / path.name)
    for name in ("main.cc", "startup.c", "mps2.ld"):
        src = bundle / name if (bundle / name).is_file() else FIRMWARE_DIR / name
        shutil.copyfile(src, work / name)
    (work / "model_data.h").write_text(model_data_header(f"{model_cc.stem}.h", symbol.group(1)))
    h, c = test_inputs_sources(inputs)
    (work / "test_inputs.h").write_text(h)
    (work / "test_inputs.cc").write_text(c)
    # The model array is cached by its own content (it is the largest file to compile).
    model_hash = hashlib.sha256(model_cc.read_bytes() + b"".join(p.read_bytes() for p in headers)).hexdigest()[:16]
    return _Staged(work / model_cc.name, symbol.group(1), model_hash)


def _firmware_jobs(staged: _Staged, target: Target, kernels: str, root: Path, objects: Path,
                   work: Path) -> list[Job]:
    """The model array (cached by content) and the example's own files (rebuilt every time)."""
    jobs: list[Job] = [(staged.model_cc, objects / "model" / f"{staged.model_hash}.o",
                        cache.flags(target, kernels, root, "c++"))]
    for name in ("main.cc", "startup.c", "test_inputs.cc"):
        local = [*cache.flags(target, kernels, root, cache.lang(name)), f"-I{work}", f'-DEDGECNN_KERNELS="{kernels}"']
        (work / (name + ".o")).unlink(missing_ok=True)
        jobs.append((work / name, work / (name + ".o"), local))
    return jobs


def build_firmware(bundle: Path, ops: Sequence[str], target: Target, kernels: str, inputs: Sequence[bytes],
                   work: Path, *, tools: dict[str, str] | None = None, root: Path | None = None) -> Firmware:
    """Link the firmware of an MCU bundle folder (its .cc/.h, model_setup.h, main.cc, startup, linker script).

    Args:
        bundle: a folder written by ``edgecnn.mcu.bundle.write_mcu_bundle``.
        ops: the model's builtin ops (they choose the kernels compiled).
        target: the board (CPU flags; QEMU machine for the run).
        kernels: ``"reference"`` or ``"cmsis-nn"``.
        inputs: int8 model inputs, one ``bytes`` per image, embedded as test_inputs.cc.
        work: the folder the firmware is staged and linked in.

    Returns:
        The linked firmware and its build figures.
    """
    tools = tools or require_tools()
    root = root or third_party_dir()
    started = time.perf_counter()
    kernel_files = plan_kernels(ops, kernels, root)
    objects = cache.cache_root() / cache.config_hash(target, root, tools)
    stats = BuildStats(cache_dir=str(objects), kernel_sources=kernel_files)
    staged = _stage(Path(bundle), inputs, work)
    lib_sources = framework_sources(root) + kernel_files + (cmsis_nn_sources(root) if kernels == "cmsis-nn" else [])
    lib_objs = cache.compile_all(tools, cache.library_jobs(lib_sources, target, kernels, root, objects), stats)
    fw_objs = cache.compile_all(tools, _firmware_jobs(staged, target, kernels, root, objects, work), stats)
    elf = work / "firmware.elf"
    link = [tools["arm-none-eabi-g++"], *target.cpu_flags, "-mthumb", "-nostartfiles", "--specs=rdimon.specs",
            "-Wl,--gc-sections", f"-Wl,-T,{work / 'mps2.ld'}", f"-Wl,-Map,{work / 'firmware.map'}",
            "-o", str(elf), *map(str, fw_objs), *map(str, lib_objs), "-lm"]
    proc = subprocess.run(link, capture_output=True, text=True)
    if proc.returncode != 0 and "undefined reference" in proc.stderr:
        # A kernel used a function of another kernel's file: build the whole kernel set once (cached).
        log.info("link needs more kernels; building the whole %s kernel set", kernels)
        stats.fallback_all_kernels = True
        extra = [s for s in all_kernels(kernels, root) if s not in lib_sources]
        lib_objs += cache.compile_all(tools, cache.library_jobs(extra, target, kernels, root, objects), stats)
        link = link[: link.index("-lm")] + [str(o) for o in lib_objs[-len(extra):]] + ["-lm"] if extra else link
        proc = subprocess.run(link, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PlatformError(f"linking the {target.name} firmware failed:\n{proc.stderr.strip()[-2000:]}")
    stats.seconds = time.perf_counter() - started
    return Firmware(elf, target, kernels, stats)
