"""Build a Cortex-M firmware from an MCU bundle's own files and the vendored TFLM, run it in QEMU.

* :func:`plan_kernels` reads which TFLM kernel sources the model's ops need, from the vendored
  ``micro_mutable_op_resolver.h`` (op -> ``AddX`` -> ``Register_X``) and the kernel files that
  define each ``Register_X``; an op the vendored TFLM lacks raises before anything is compiled.
* :func:`build_firmware` compiles the TFLM framework, those kernels (reference or CMSIS-NN)
  and the firmware files with ``arm-none-eabi-g++``. Every object is cached under
  ``~/.cache/edgecnn/mcu/<hash>/`` where the hash covers the vendored tree, the compiler
  version and the flags, so only the first build of a configuration is cold.
* :func:`run_firmware` boots the ELF in ``qemu-system-arm`` with semihosting and
  ``-icount shift=0`` (one instruction per virtual nanosecond: deterministic counts);
  :func:`parse_run` and :func:`parse_size` read what it printed and what ``size -A`` says.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn.errors import PlatformError

log = logging.getLogger(__name__)

FIRMWARE_DIR = Path(__file__).with_name("firmware")
FIRMWARE_FILES = ("main.cc", "startup.c", "mps2.ld", "Makefile")
TFLM = "tflite-micro"
MICRO = f"{TFLM}/tensorflow/lite/micro"
KERNEL_SETS = ("reference", "cmsis-nn")
RUN_TIMEOUT = 600.0


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
COMMON_FLAGS = ("-mthumb", "-O2", "-ffunction-sections", "-fdata-sections", "-DTF_LITE_STATIC_MEMORY",
                "-DNDEBUG", "-Wno-psabi")
CXX_FLAGS = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics", "-fno-unwind-tables",
             "-fno-asynchronous-unwind-tables")
C_FLAGS = ("-std=c11",)
INCLUDES = ("tflite-micro", "flatbuffers/include", "gemmlowp", "ruy")
CMSIS_INCLUDES = ("cmsis_nn", "cmsis_nn/Include")


# -- locating things -------------------------------------------------------------------------------
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


def cache_root() -> Path:
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


# -- which sources the model needs -----------------------------------------------------------------
@dataclass(frozen=True)
class ResolverInfo:
    """From micro_mutable_op_resolver.h: builtin op -> AddX method -> Register_ functions it uses."""

    methods: dict[str, str]  # "CONV_2D" -> "AddConv2D"
    registers: dict[str, tuple[str, ...]]  # "AddConv2D" -> ("CONV_2D",)


def resolver_info(root: Path | None = None) -> ResolverInfo:
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


# -- compiling ------------------------------------------------------------------------------------
@dataclass
class BuildStats:
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


def _flags(target: Target, kernels: str, root: Path, lang: str) -> list[str]:
    flags = [*target.cpu_flags, *COMMON_FLAGS, *(CXX_FLAGS if lang == "c++" else C_FLAGS)]
    incs = list(INCLUDES) + list(CMSIS_INCLUDES)
    if kernels == "cmsis-nn":
        flags.append("-DCMSIS_NN")
    flags += [f"-I{root / i}" for i in incs]
    return flags


def _compiler_id(tools: dict[str, str]) -> str:
    out = subprocess.run([tools["arm-none-eabi-g++"], "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0] if out else "unknown"


def config_hash(target: Target, root: Path, tools: dict[str, str]) -> str:
    """The cache key of a CPU's library objects: vendored tree, compiler, flags of both kernel sets."""
    h = hashlib.sha256()
    h.update(tree_hash(root).encode())
    h.update(_compiler_id(tools).encode())
    for kernels in KERNEL_SETS:
        for lang in ("c", "c++"):
            h.update(" ".join(_flags(target, kernels, Path("/"), lang)).encode())
    return h.hexdigest()[:16]


def _compile(tools: dict[str, str], src: Path, obj: Path, flags: Sequence[str]) -> None:
    cc = tools["arm-none-eabi-gcc"] if src.suffix == ".c" else tools["arm-none-eabi-g++"]
    obj.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=obj.parent, prefix=".tmp-", suffix=".o")
    os.close(fd)
    try:
        proc = subprocess.run([cc, *flags, "-c", str(src), "-o", tmp], capture_output=True, text=True)
        if proc.returncode != 0:
            raise PlatformError(f"compiling {src.name} failed:\n{proc.stderr.strip()[-2000:]}")
        os.replace(tmp, obj)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def compile_all(tools: dict[str, str], jobs: list[tuple[Path, Path, list[str]]], stats: BuildStats,
                workers: int = 2) -> list[Path]:
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


def _lang(path: str | Path) -> str:
    return "c" if str(path).endswith(".c") else "c++"


def _library_jobs(sources: Sequence[str], target: Target, kernels: str, root: Path,
                  cache: Path) -> list[tuple[Path, Path, list[str]]]:
    """Framework objects are shared by both kernel sets (no framework file sees CMSIS_NN)."""
    jobs = []
    for s in sources:
        shared = "/micro/kernels/" not in s and not s.startswith("cmsis_nn/")
        kset = "reference" if shared else kernels
        sub = "framework" if shared else kernels
        jobs.append((root / s, cache / sub / (s + ".o"), _flags(target, kset, root, _lang(s))))
    return jobs


# -- the firmware ---------------------------------------------------------------------------------
@dataclass
class Firmware:
    elf: Path
    target: Target
    kernels: str
    stats: BuildStats


def readme_code(readme: str) -> str:
    """The C++ blocks of the MCU README's "Op resolver" and "Tensor arena" sections, verbatim."""
    blocks = []
    for heading in ("## Op resolver", "## Tensor arena"):
        section = readme.split(heading, 1)
        if len(section) < 2:
            raise PlatformError(f"bundle README.md has no {heading!r} section")
        match = re.search(r"```cpp\n(.*?)```", section[1], re.S)
        if not match:
            raise PlatformError(f"bundle README.md: no ```cpp block under {heading!r}")
        blocks.append(match.group(1))
    return blocks[0] + "\n" + blocks[1]


def model_setup_header(readme: str) -> str:
    return ("// The op resolver and tensor arena of README.md, copied verbatim (generated by edgecnn).\n"
            "#ifndef EDGECNN_MODEL_SETUP_H_\n#define EDGECNN_MODEL_SETUP_H_\n#include <cstdint>\n\n"
            + readme_code(readme) + "\n#endif  // EDGECNN_MODEL_SETUP_H_\n")


def model_data_header(model_header: str, symbol: str) -> str:
    return (f"// Which C array main.cc runs (generated by edgecnn).\n#include \"{model_header}\"\n"
            f"#define MODEL_DATA {symbol}\n")


def test_inputs_sources(inputs: Sequence[bytes]) -> tuple[str, str]:
    """test_inputs.h / test_inputs.cc holding already-quantized int8 model inputs."""
    if not inputs:
        raise PlatformError("no test inputs to embed")
    size = len(inputs[0])
    header = ("// Test inputs: int8 model inputs quantized on the host (generated by edgecnn).\n"
              "#ifndef EDGECNN_TEST_INPUTS_H_\n#define EDGECNN_TEST_INPUTS_H_\n#include <cstdint>\n"
              f"constexpr int kNumTestInputs = {len(inputs)};\nconstexpr unsigned long kTestInputBytes = {size};\n"
              "extern const int8_t kTestInputs[kNumTestInputs][kTestInputBytes];\n#endif\n")
    rows = []
    for data in inputs:
        vals = [str(b - 256 if b > 127 else b) for b in data]
        rows.append("  {" + ",".join(vals) + "},")
    source = ('#include "test_inputs.h"\n'
              "const int8_t kTestInputs[kNumTestInputs][kTestInputBytes] = {\n" + "\n".join(rows) + "\n};\n")
    return header, source


def build_firmware(bundle: Path, ops: Sequence[str], target: Target, kernels: str, inputs: Sequence[bytes],
                   work: Path, *, tools: dict[str, str] | None = None, root: Path | None = None) -> Firmware:
    """Link the firmware of an MCU bundle folder (its .cc/.h, README code, main.cc, startup, linker script)."""
    tools = tools or require_tools()
    root = root or third_party_dir()
    started = time.perf_counter()
    kernel_files = plan_kernels(ops, kernels, root)
    cache = cache_root() / config_hash(target, root, tools)
    stats = BuildStats(cache_dir=str(cache), kernel_sources=kernel_files)
    bundle = Path(bundle)
    readme = (bundle / "README.md").read_text()
    work.mkdir(parents=True, exist_ok=True)
    generated = {"model_setup.h", "model_data.h", "test_inputs.h", "test_inputs.cc", "main.cc"}
    headers = sorted(p for p in bundle.glob("*.h") if p.name not in generated)
    model_cc = [p for p in bundle.glob("*.cc") if p.name not in generated]
    if len(model_cc) != 1:
        raise PlatformError(f"{bundle}: expected one model .cc besides the example's, found {[p.name for p in model_cc]}")
    model_cc = model_cc[0]
    symbol = re.search(r"const unsigned char (\w+)\[\]", model_cc.read_text(errors="replace"))
    if not symbol:
        raise PlatformError(f"{model_cc.name}: no `const unsigned char NAME[]` array")
    for hdr in headers:
        shutil.copyfile(hdr, work / hdr.name)
    shutil.copyfile(model_cc, work / model_cc.name)
    for name in ("main.cc", "startup.c", "mps2.ld"):
        src = bundle / name if (bundle / name).is_file() else FIRMWARE_DIR / name
        shutil.copyfile(src, work / name)
    # Regenerated here, not copied: the README's code (verbatim) and this run's test inputs.
    (work / "model_setup.h").write_text(model_setup_header(readme))
    (work / "model_data.h").write_text(model_data_header(f"{model_cc.stem}.h", symbol.group(1)))
    h, c = test_inputs_sources(inputs)
    (work / "test_inputs.h").write_text(h)
    (work / "test_inputs.cc").write_text(c)

    lib_sources = framework_sources(root) + kernel_files + (cmsis_nn_sources(root) if kernels == "cmsis-nn" else [])
    lib_objs = compile_all(tools, _library_jobs(lib_sources, target, kernels, root, cache), stats)
    # The model array: cached by its own content (it is the largest file to compile).
    model_hash = hashlib.sha256(model_cc.read_bytes() + b"".join(p.read_bytes() for p in headers)).hexdigest()[:16]
    fw_jobs = [(work / model_cc.name, cache / "model" / f"{model_hash}.o", _flags(target, kernels, root, "c++"))]
    local_flags = lambda lang: [*_flags(target, kernels, root, lang), f"-I{work}",  # noqa: E731
                                f'-DEDGECNN_KERNELS="{kernels}"']
    fw_jobs += [(work / n, work / (n + ".o"), local_flags(_lang(n))) for n in ("main.cc", "startup.c", "test_inputs.cc")]
    for _, obj, _ in fw_jobs[1:]:
        obj.unlink(missing_ok=True)
    fw_objs = compile_all(tools, fw_jobs, stats)
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
        lib_objs += compile_all(tools, _library_jobs(extra, target, kernels, root, cache), stats)
        link = link[: link.index("-lm")] + [str(o) for o in lib_objs[-len(extra):]] + ["-lm"] if extra else link
        proc = subprocess.run(link, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PlatformError(f"linking the {target.name} firmware failed:\n{proc.stderr.strip()[-2000:]}")
    stats.seconds = time.perf_counter() - started
    return Firmware(elf, target, kernels, stats)


# -- running and reading --------------------------------------------------------------------------
def qemu_command(elf: Path, target: Target, qemu: str = "qemu-system-arm") -> list[str]:
    return [qemu, "-M", target.machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]


def run_firmware(fw: Firmware, *, tools: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT) -> str:
    tools = tools or require_tools(("qemu-system-arm",))
    cmd = qemu_command(fw.elf, fw.target, tools["qemu-system-arm"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"{fw.target.name} ({fw.kernels}): QEMU did not finish in {timeout:.0f} s") from exc
    if proc.returncode != 0 or "\ndone" not in proc.stdout:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise PlatformError(f"{fw.target.name} ({fw.kernels}): firmware exited {proc.returncode}: {' | '.join(tail)}")
    return proc.stdout


@dataclass
class RunOutput:
    kernels: str
    arena_size: int
    arena_used: int
    stack_used: int
    heap_used: int
    calibration_instructions: int
    calibration_ticks: int
    overhead_ticks: int
    outputs: list[list[int]]  # int8 output per input
    ticks: list[int]  # SysTick ticks per Invoke()

    @property
    def instructions_per_tick(self) -> float:
        return self.calibration_instructions / self.calibration_ticks

    @property
    def instructions(self) -> list[int]:
        return [round(t * self.instructions_per_tick) for t in self.ticks]


def parse_run(text: str) -> RunOutput:
    """Read the firmware's semihosting output (see main.cc) into numbers."""
    values: dict[str, list[str]] = {}
    outputs: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "error":
            raise PlatformError(f"firmware: {line}")
        if parts[0] == "out":
            i = int(parts[1])
            ticks[i] = int(parts[2])
            outputs[i] = [int(v) for v in parts[3:]]
        else:
            values.setdefault(parts[0], parts[1:])
    need = ("kernels", "arena_size", "arena_used", "stack_used", "calibration", "done")
    missing = [k for k in need if k not in values]
    if missing:
        raise PlatformError(f"firmware output lacks {', '.join(missing)}")
    n = len(outputs)
    if sorted(outputs) != list(range(n)):
        raise PlatformError(f"firmware output: inputs {sorted(outputs)} are not 0..{n - 1}")
    calib = values["calibration"]
    return RunOutput(
        kernels=values["kernels"][0], arena_size=int(values["arena_size"][0]), arena_used=int(values["arena_used"][0]),
        stack_used=int(values["stack_used"][0]), heap_used=int(values.get("heap_used", ["0"])[0]),
        calibration_instructions=int(calib[0]), calibration_ticks=int(calib[1]), overhead_ticks=int(calib[2]),
        outputs=[outputs[i] for i in range(n)], ticks=[ticks[i] for i in range(n)],
    )


def parse_size(text: str) -> dict[str, int]:
    """Section sizes from ``arm-none-eabi-size -A`` output."""
    sizes: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    if ".text" not in sizes:
        raise PlatformError("size output has no .text section")
    return sizes


def parse_nm_sizes(text: str) -> dict[str, int]:
    """Symbol sizes from ``arm-none-eabi-nm -S`` output (``addr size type name``)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 4:
            try:
                out[parts[3]] = int(parts[1], 16)
            except ValueError:
                continue
    return out


FLASH_SECTIONS = (".text", ".rodata", ".ARM.exidx", ".ARM.extab", ".init_array", ".data")


def memory_report(fw: Firmware, run: RunOutput, model_symbol: str, *, tools: dict[str, str] | None = None) -> dict[str, Any]:
    """Flash (model / code / test inputs) and RAM (arena, data+bss, stack) of a linked firmware."""
    tools = tools or require_tools(("arm-none-eabi-size", "arm-none-eabi-nm"))
    sizes = parse_size(subprocess.run([tools["arm-none-eabi-size"], "-A", str(fw.elf)],
                                      capture_output=True, text=True, check=True).stdout)
    syms = parse_nm_sizes(subprocess.run([tools["arm-none-eabi-nm"], "-S", str(fw.elf)],
                                         capture_output=True, text=True, check=True).stdout)
    return summarize_memory(sizes, syms, run, model_symbol)


def summarize_memory(sizes: dict[str, int], syms: dict[str, int], run: RunOutput, model_symbol: str) -> dict[str, Any]:
    flash = sum(sizes.get(s, 0) for s in FLASH_SECTIONS)
    model = syms.get(model_symbol, 0)
    inputs = syms.get("kTestInputs", 0)
    if not model:
        raise PlatformError(f"symbol {model_symbol} not in the firmware")
    data, bss = sizes.get(".data", 0), sizes.get(".bss", 0)
    return {
        "flash_bytes": flash,
        "flash_model_bytes": model,
        "flash_test_inputs_bytes": inputs,
        "flash_code_bytes": flash - model - inputs,  # code, constants, tables: everything but the two arrays
        "text_bytes": sizes[".text"], "rodata_bytes": sizes.get(".rodata", 0),
        "ram_data_bytes": data, "ram_bss_bytes": bss,
        "ram_static_bytes": data + bss,  # includes the tensor arena
        "arena_size_bytes": run.arena_size,
        "arena_used_bytes": run.arena_used,
        "stack_high_water_bytes": run.stack_used,
        "heap_used_bytes": run.heap_used,
    }
