"""Which TFLM sources a model needs: its ops' kernels (reference or CMSIS-NN) and the framework.

:func:`plan_kernels` reads, from the vendored ``micro_mutable_op_resolver.h``, which ``AddX``
method registers each builtin op and which ``Register_X`` functions it calls, then finds the
kernel files that define them; an op the vendored TFLM lacks raises before anything is compiled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgecnn.errors import PlatformError
from edgecnn.mcu.toolchain import MICRO, TFLM, third_party_dir

KERNEL_SETS = ("reference", "cmsis-nn")


@dataclass(frozen=True)
class ResolverInfo:
    """From micro_mutable_op_resolver.h: builtin op -> AddX method -> Register_ functions it uses."""

    methods: dict[str, str]  # "CONV_2D" -> "AddConv2D"
    registers: dict[str, tuple[str, ...]]  # "AddConv2D" -> ("CONV_2D",)


def resolver_info(root: Path | None = None) -> ResolverInfo:
    """The vendored op resolver's methods and the ``Register_`` functions each one calls."""
    root = root or third_party_dir()
    text = (root / MICRO / "micro_mutable_op_resolver.h").read_text()
    methods: dict[str, str] = {}
    registers: dict[str, tuple[str, ...]] = {}
    chunks = re.split(r"TfLiteStatus\s+(Add\w+)\s*\(", text)
    for name, body in zip(chunks[1::2], chunks[2::2]):
        body = body.split("TfLiteStatus ", 1)[0]
        regs = tuple(dict.fromkeys(re.findall(r"Register_(\w+)\s*\(", body)))
        if not regs:
            continue
        registers[name] = regs
        for op in re.findall(r"BuiltinOperator_(\w+)", body):
            methods.setdefault(op, name)
    return ResolverInfo(methods, registers)


def _definitions(files: Iterable[Path]) -> dict[str, Path]:
    defs: dict[str, Path] = {}
    pattern = re.compile(r"^TFLMRegistration\*?\s+Register_(\w+)\s*\(\s*\)\s*\{", re.M)
    for path in files:
        for name in pattern.findall(path.read_text(errors="replace")):
            defs.setdefault(name, path)
    return defs


def unsupported_ops(ops: Sequence[str], root: Path | None = None) -> list[str]:
    """The model's builtin ops that the vendored TFLM's op resolver cannot register."""
    info = resolver_info(root)
    return [op for op in ops if op not in info.methods]


def plan_kernels(ops: Sequence[str], kernels: str = "reference", root: Path | None = None) -> list[str]:
    """Kernel sources (relative to third_party/) the ops need with the given kernel set.

    Raises :class:`PlatformError` naming every op the vendored TFLM lacks, before any build.
    """
    if kernels not in KERNEL_SETS:
        raise PlatformError(f"unknown kernel set {kernels!r}; choose from {', '.join(KERNEL_SETS)}")
    root = root or third_party_dir()
    missing = unsupported_ops(ops, root)
    if missing:
        raise PlatformError(f"the vendored TensorFlow Lite Micro has no kernel for: {', '.join(missing)}")
    info = resolver_info(root)
    kdir = root / MICRO / "kernels"
    reference = _definitions(sorted(kdir.glob("*.cc")))
    optimized = _definitions(sorted((kdir / "cmsis_nn").glob("*.cc"))) if kernels == "cmsis-nn" else {}
    chosen: list[Path] = []
    for op in ops:
        for reg in info.registers[info.methods[op]]:
            path = optimized.get(reg) or reference.get(reg)
            if path is None:
                raise PlatformError(f"{op}: no source in the vendored TFLM defines Register_{reg}()")
            if path not in chosen:
                chosen.append(path)
    for path in list(chosen):
        common = kdir / f"{path.stem}_common.cc"
        if common.is_file() and common not in chosen:
            chosen.append(common)
    for name in ("kernel_util.cc", "micro_tensor_utils.cc"):
        if kdir / name not in chosen:
            chosen.append(kdir / name)
    return [str(p.relative_to(root)) for p in chosen]


def all_kernels(kernels: str, root: Path | None = None) -> list[str]:
    """Every kernel source of the set (the fallback when a kernel needs another kernel's file)."""
    root = root or third_party_dir()
    kdir = root / MICRO / "kernels"
    cmsis = {p.name for p in (kdir / "cmsis_nn").glob("*.cc")} if kernels == "cmsis-nn" else set()
    files = [p for p in sorted(kdir.glob("*.cc")) if p.name not in cmsis]
    files += [kdir / "cmsis_nn" / n for n in sorted(cmsis)]
    return [str(p.relative_to(root)) for p in files]


def framework_sources(root: Path | None = None) -> list[str]:
    """TFLM outside micro/kernels (interpreter, allocator, planner, flatbuffer parsing, lite/kernels)."""
    root = root or third_party_dir()
    out = []
    for path in sorted((root / TFLM).rglob("*.cc")):
        rel = str(path.relative_to(root))
        if "/micro/kernels/" in rel or "/cortex_m_generic/" in rel:
            continue
        out.append(rel)
    return out


def cmsis_nn_sources(root: Path | None = None) -> list[str]:
    """CMSIS-NN's integer C sources (the _f16/_f32 ones are left out, as TFLM's cmsis_nn.inc does)."""
    root = root or third_party_dir()
    return [str(p.relative_to(root)) for p in sorted((root / "cmsis_nn" / "Source").rglob("*.c"))
            if not re.search(r"_f(16|32)\.c$|_flt\.c$", p.name)]
