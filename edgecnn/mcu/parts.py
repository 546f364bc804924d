"""Common microcontroller parts, their memory, and whether a model's firmware fits them.

Figures from the vendors' datasheets: on-chip SRAM, and flash (on-chip, or the usual external
QSPI flash of the board for parts without any). A model fits a part when the firmware's flash
(code + constants + model) fits its flash and its RAM (data + bss, the tensor arena included)
fits its SRAM; the margin, or the shortfall, is said in KiB.

Also MLPerf Tiny's published reference for image classification, the row edgecnn's ResNet-8
figures stand beside.
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True)
class Part:
    """A microcontroller: name, core and clock, SRAM and flash in bytes."""

    name: str
    core: str
    mhz: int
    sram: int
    flash: int
    flash_note: str = "on-chip"


PARTS: tuple[Part, ...] = (
    Part("STM32L4R5ZI", "Cortex-M4F", 120, 640 * KIB, 2048 * KIB),
    Part("STM32H743ZI", "Cortex-M7", 480, 1024 * KIB, 2048 * KIB),
    Part("nRF52840", "Cortex-M4F", 64, 256 * KIB, 1024 * KIB),
    Part("RP2040", "Cortex-M0+", 133, 264 * KIB, 2048 * KIB, "external QSPI (Raspberry Pi Pico: 2 MiB)"),
    Part("ESP32-S3", "Xtensa LX7", 240, 512 * KIB, 8192 * KIB, "external (typical module: 8 MiB)"),
)


@dataclass(frozen=True)
class Reference:
    """A published MLPerf Tiny result for one task."""

    task: str
    model: str
    system: str
    mhz: int
    ms: float

    @property
    def inferences_per_second(self) -> float:
        return 1000.0 / self.ms

    @property
    def cycles(self) -> float:
        """Cycles per inference at the board's clock (ms x MHz x 1000)."""
        return self.ms * self.mhz * 1e3


# MLPerf Tiny v0.5 (inference, closed division), image classification: ResNet-8 on CIFAR-10,
# TFLite Micro + CMSIS-NN on an ST NUCLEO-L4R5ZI (Cortex-M4F at 120 MHz): 704 ms, 1.42 inferences/s.
MLPERF_TINY_IC = Reference("image classification (CIFAR-10)", "ResNet-8 (resnet_v1_eembc, 16/32/64 filters)",
                           "TFLM + CMSIS-NN on NUCLEO-L4R5ZI (Cortex-M4F)", 120, 704.0)


def fit(flash: int, ram: int, part: Part) -> tuple[bool, str]:
    """(fits, one phrase): the margin left, or by how much flash and/or SRAM fall short, in KiB."""
    short = []
    if flash > part.flash:
        short.append(f"flash short by {(flash - part.flash) / KIB:,.0f} KiB")
    if ram > part.sram:
        short.append(f"SRAM short by {(ram - part.sram) / KIB:,.0f} KiB")
    if short:
        return False, ", ".join(short)
    spare_flash, spare_ram = (part.flash - flash) / KIB, (part.sram - ram) / KIB
    return True, f"fits: {spare_flash:,.0f} KiB flash and {spare_ram:,.0f} KiB SRAM to spare"


def fit_table(flash: int, ram: int, what: str) -> str:
    """A Markdown table: every part, its memory, and whether ``flash``/``ram`` bytes fit it."""
    rows = [f"Firmware of {what}: {flash / KIB:,.0f} KiB flash, {ram / KIB:,.0f} KiB RAM (tensor arena included).", "",
            "| part | core | clock | SRAM | flash | fits? |", "|---|---|---:|---:|---:|---|"]
    for part in PARTS:
        ok, text = fit(flash, ram, part)
        rows.append(f"| {part.name} | {part.core} | {part.mhz} MHz | {part.sram // KIB:,} KiB | "
                    f"{part.flash // KIB:,} KiB ({part.flash_note}) | {'yes' if ok else '**no**'}: {text} |")
    return "\n".join(rows)


def misfits(flash: int, ram: int) -> list[str]:
    """One phrase per part the firmware does not fit ("nRF52840: SRAM short by 12 KiB")."""
    return [f"{part.name}: {text}" for part in PARTS for ok, text in [fit(flash, ram, part)] if not ok]


# Cycles per instruction of the estimates, and where the figure comes from.
CPI = {"cortex-m4": 1.25, "cortex-m7": 1.0}
CPI_SOURCE = (
    "Arm Cortex-M4 Technical Reference Manual (DDI 0439), 'Instruction set summary': 1 cycle for data "
    "processing and the DSP multiply-accumulates CMSIS-NN uses (SMLAD), 2 for a load, 2-4 for a taken "
    "branch; the 0.25 above 1 stands for loads, taken branches and flash wait states behind the "
    "prefetcher (STM32L4R5: 5 wait states at 120 MHz, hidden by its ART accelerator). Cortex-M7 "
    "(DDI 0489): dual issue, so 1.0 with caches on. An assumption from the manuals, not a measurement")


def reference_rows(measured: dict) -> list[str]:
    """Markdown: the Cortex-M4 instruction counts at MLPerf Tiny's reference clock beside its result.

    ``measured``: {platform: verify.json artifact entry} of the cortex-m sections.
    """
    ref = MLPERF_TINY_IC
    entry = measured.get("cortex-m4")
    if not entry or "kernels" not in entry:
        return []
    rows = [f"MLPerf Tiny v0.5's published reference for {ref.task}: {ref.model}, {ref.system} at "
            f"{ref.mhz} MHz: **{ref.ms:.0f} ms per inference ({ref.inferences_per_second:.2f} inferences/s)**, "
            f"i.e. {ref.cycles / 1e6:.1f} M cycles. This file on the emulated Cortex-M4, at the same clock:", "",
            "| kernels | instructions / inference | x MLPerf's cycles | assumed CPI | **estimated** ms at "
            f"{ref.mhz} MHz | inferences/s | MLPerf Tiny v0.5 reference |", "|---|---:|---:|---:|---:|---:|---|"]
    for kernels, k in entry["kernels"].items():
        instr = k["instructions_per_inference"]["median"]
        ms = instr * CPI["cortex-m4"] / (ref.mhz * 1e3)
        rows.append(f"| {kernels} | {instr:,} | {instr / ref.cycles:.2f} | {CPI['cortex-m4']} | ~{ms:.0f} (estimate) | "
                    f"{1000 / ms:.1f} | {ref.ms:.0f} ms, {ref.inferences_per_second:.2f}/s (TFLM + CMSIS-NN) |")
    rows += ["", f"Cycles per instruction: {CPI_SOURCE}. The comparison holds for the same network only "
             "(ResNet-8, 32x32x3); for another model it gives the scale."]
    return rows


def firmware_size(measured: dict) -> tuple[int, int] | None:
    """(flash, RAM) bytes of the largest measured firmware (any target, any kernel set), None if none."""
    mems = [k["memory"] for e in measured.values() for k in (e.get("kernels") or {}).values() if "memory" in k]
    if not mems:
        return None
    return max(m["flash_bytes"] for m in mems), max(m["ram_static_bytes"] for m in mems)
