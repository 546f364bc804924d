"""Boot a firmware in ``qemu-system-arm`` and read what it printed, and what binutils say of its ELF.

:func:`run_firmware` boots the ELF with semihosting and ``-icount shift=0`` (one instruction per
virtual nanosecond: deterministic counts); :func:`parse_run` reads its output (see ``main.cc``);
:func:`memory_report` reads flash and RAM from ``size -A`` and ``nm -S``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecnn.errors import PlatformError
from edgecnn.isolation import signal_name
from edgecnn.mcu.toolchain import Target, require_tools

if TYPE_CHECKING:
    from edgecnn.mcu.build import Firmware

RUN_TIMEOUT = 600.0
FLASH_SECTIONS = (".text", ".rodata", ".ARM.exidx", ".ARM.extab", ".init_array", ".data")


def qemu_command(elf: Path, target: Target, qemu: str = "qemu-system-arm") -> list[str]:
    """The QEMU command line that boots ``elf`` on ``target``'s board, counting instructions."""
    return [qemu, "-M", target.machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", str(elf)]


def run_firmware(fw: Firmware, *, tools: dict[str, str] | None = None, timeout: float = RUN_TIMEOUT) -> str:
    """Boot ``fw`` in QEMU; returns what it printed (raises unless it exited 0 after ``done``)."""
    tools = tools or require_tools(("qemu-system-arm",))
    cmd = qemu_command(fw.elf, fw.target, tools["qemu-system-arm"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise PlatformError(f"{fw.target.name} ({fw.kernels}): QEMU did not finish in {timeout:.0f} s") from exc
    if proc.returncode != 0 or "\ndone" not in proc.stdout:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise PlatformError(f"{fw.target.name} ({fw.kernels}): firmware exited with "
                            f"{signal_name(proc.returncode)}: {tail}")
    return proc.stdout


@dataclass
class RunOutput:
    """The numbers one firmware run printed."""

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
        kernels=values["kernels"][0], arena_size=int(values["arena_size"][0]),
        arena_used=int(values["arena_used"][0]), stack_used=int(values["stack_used"][0]),
        heap_used=int(values.get("heap_used", ["0"])[0]),
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


def memory_report(fw: Firmware, run: RunOutput, model_symbol: str, *,
                  tools: dict[str, str] | None = None) -> dict[str, Any]:
    """Flash (model / code / test inputs) and RAM (arena, data+bss, stack) of a linked firmware."""
    tools = tools or require_tools(("arm-none-eabi-size", "arm-none-eabi-nm"))
    sizes = parse_size(subprocess.run([tools["arm-none-eabi-size"], "-A", str(fw.elf)],
                                      capture_output=True, text=True, check=True).stdout)
    syms = parse_nm_sizes(subprocess.run([tools["arm-none-eabi-nm"], "-S", str(fw.elf)],
                                         capture_output=True, text=True, check=True).stdout)
    return summarize_memory(sizes, syms, run, model_symbol)


def summarize_memory(sizes: dict[str, int], syms: dict[str, int], run: RunOutput,
                     model_symbol: str) -> dict[str, Any]:
    """The memory figures of :func:`memory_report` from parsed section and symbol sizes."""
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
