"""The MCU bundle: C array, README (resolver, arena, measured figures, estimates), buildable example.

``write_mcu_sources(tflite, dest)`` writes everything a firmware build takes from the bundle;
``edgecnn verify --platform cortex-m4`` builds exactly these files. The README's measured
section is filled from ``verify.json`` (``platforms`` sections of the ``cortex-m`` and ``tflm``
checks for the same .tflite, matched by sha256); the bundle itself never builds firmware.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecnn.names import VERIFY_JSON

if TYPE_CHECKING:
    from edgecnn.mcu.sources import ModelSetup

log = logging.getLogger(__name__)

# Estimated cycles per instruction for the latency estimate (an assumption, stated in the README):
# a single-issue M4 running from flash with wait states, a dual-issue M7 with caches.
CLOCKS = (("Cortex-M4F", "cortex-m4", 80, 1.25), ("Cortex-M4F", "cortex-m4", 120, 1.25),
          ("Cortex-M4F", "cortex-m4", 168, 1.25),
          ("Cortex-M7", "cortex-m7", 480, 1.0))
EXAMPLE_INPUTS = 1  # the example firmware's test_inputs.cc: one blank (all-zero pixels) image


def _fmt(n: int | float) -> str:
    return f"{int(n):,}"


def _ceil_kib(n: int) -> int:
    return int(math.ceil(n / 1024) * 1024)


def host_arena(path: Path) -> int | None:
    """Smallest arena the host TFLM interpreter accepts (bisection), or None without tflite-micro."""
    try:
        import numpy as np

        from edgecnn.mcu.host import MicroInterpreter, smallest_arena

        shape = MicroInterpreter(path).input.shape
        return smallest_arena(path, np.zeros((1, *shape[1:]), np.int8))[0]
    except Exception as exc:  # noqa: BLE001
        log.info("host TFLM arena not measured (%s)", exc)
        return None


def measured_from_verify(out_dir: Path | None, sha: str) -> dict[str, Any]:
    """{platform name: artifact entry} of cortex-m sections in out_dir/verify.json for this .tflite."""
    from edgecnn.fileio import read_json_or_none

    record = read_json_or_none(Path(out_dir) / VERIFY_JSON, VERIFY_JSON) if out_dir is not None else None
    platforms = (record.get("platforms") or {}) if isinstance(record, dict) else {}
    found = {}
    for name, section in platforms.items():
        if not isinstance(section, dict) or section.get("kind") != "cortex-m":
            continue
        for entry in (section.get("artifacts") or {}).values():
            if entry.get("tflite_sha256") == sha:
                found[name] = {**entry, "qemu_machine": section.get("qemu_machine"), "samples": section.get("samples")}
    return found


def measured_table(measured: dict[str, Any]) -> str:
    rows = ["| target (QEMU) | kernels | flash total | model | code + constants | test inputs | RAM data + bss "
            "(incl. arena) | arena_used_bytes() | stack peak | heap | instructions / inference (median) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in measured.items():
        for kernels, k in entry["kernels"].items():
            m, i = k["memory"], k["instructions_per_inference"]
            rows.append(
                f"| {name} ({entry['qemu_machine']}) | {kernels} | {_fmt(m['flash_bytes'])} | "
                f"{_fmt(m['flash_model_bytes'])} | {_fmt(m['flash_code_bytes'])} | "
                f"{_fmt(m['flash_test_inputs_bytes'])} | {_fmt(m['ram_static_bytes'])} | "
                f"{_fmt(m['arena_used_bytes'])} | {_fmt(m['stack_high_water_bytes'])} | "
                f"{_fmt(m['heap_used_bytes'])} | {_fmt(i['median'])} |")
    return "\n".join(rows)


def estimate_table(measured: dict[str, Any]) -> str:
    rows = ["| core | clock | kernels | instructions | assumed cycles / instruction | **estimated** ms / inference |",
            "|---|---:|---|---:|---:|---:|"]
    for core, name, mhz, cpi in CLOCKS:
        entry = measured.get(name)
        if entry is None:
            continue
        for kernels, k in entry["kernels"].items():
            instr = k["instructions_per_inference"]["median"]
            ms = instr * cpi / (mhz * 1e6) * 1e3
            rows.append(f"| {core} | {mhz} MHz | {kernels} | {_fmt(instr)} | {cpi} | ~{ms:.1f} (estimate) |")
    return "\n".join(rows)


def _example_files(dest: Path, stem: str, symbol: str, ops: list[str], setup: ModelSetup,
                   inputs: list[bytes]) -> list[Path]:
    from edgecnn import fileio
    from edgecnn.mcu.sources import example_makefile, model_data_header, test_inputs_sources
    from edgecnn.mcu.toolchain import FIRMWARE_DIR

    files = []
    for name in ("main.cc", "startup.c", "mps2.ld"):
        files.append(fileio.write_bytes(dest / name, (FIRMWARE_DIR / name).read_bytes()))
    files.append(fileio.write_text(dest / "model_setup.h", setup.header()))
    files.append(fileio.write_text(dest / "model_data.h", model_data_header(f"{stem}.h", symbol)))
    header, source = test_inputs_sources(inputs)
    files.append(fileio.write_text(dest / "test_inputs.h", header))
    files.append(fileio.write_text(dest / "test_inputs.cc", source))
    files.append(fileio.write_text(dest / "Makefile", example_makefile(f"{stem}.cc", ops)))
    return files


def write_mcu_sources(path: Path, dest: Path, out_dir: Path | None = None) -> str:
    """Write the MCU bundle of the int8 .tflite ``path`` into ``dest``; returns the C array's symbol."""
    write_mcu_bundle(path, dest, out_dir)
    from edgecnn.export.c_array import symbol_name

    return symbol_name(Path(path).stem)


def _arena(path: Path, plan: Any, measured: dict[str, Any]) -> tuple[int, str]:
    """(``kTensorArenaSize``, the README's paragraph saying where it comes from)."""
    host = host_arena(path)
    used = [k["memory"]["arena_used_bytes"] for e in measured.values() for k in e["kernels"].values()]
    if host is not None:
        arena = _ceil_kib(host)
        why = (
            f"`kTensorArenaSize` is the smallest arena the TensorFlow Lite Micro interpreter itself accepts for "
            f"this model on a 64-bit host, **{_fmt(host)} bytes** (found by bisection on `arena_size` with the "
            f"PyPI `tflite-micro` interpreter: it must allocate and invoke), rounded up to a whole KiB. TFLM's "
            f"bookkeeping structs hold pointers, so a 32-bit Cortex-M needs less")
    else:
        arena = plan.recommended
        why = ("`kTensorArenaSize` is edgecnn's own estimate (the `tflite-micro` package was not available to "
               "measure it): the greedy plan of the activations plus an estimate of TFLM's persistent "
               "allocations, plus 25 %, rounded up to a KiB")
    if used:
        why += (f"; on the emulated Cortex-M `arena_used_bytes()` measured **{_fmt(max(used))} bytes** at most "
                f"(both kernel sets, table below), so the margin is {_fmt(arena - max(used))} bytes "
                f"({(arena - max(used)) / max(used):.0%}). The margin covers kernel sets whose scratch "
                "buffers differ (CMSIS-NN asks for its own) and TFLM versions whose bookkeeping differs; "
                "shrink it to `arena_used_bytes()` plus a few hundred bytes once your build is fixed.")
    else:
        why += (". Measure your own build: after `AllocateTensors()`, `interpreter.arena_used_bytes()` "
                "gives the exact figure (`edgecnn verify --platform cortex-m4` records it).")
    return arena, why


def _networks_text(measured: dict[str, Any], model_bytes: int, arena: int) -> list[str]:
    """The README blocks after the measurements: MLPerf Tiny's reference beside them, and which common
    parts the firmware fits (measured, else the model and its arena only)."""
    from edgecnn.mcu.parts import firmware_size, fit_table, reference_rows

    blocks = []
    rows = reference_rows(measured)
    if rows:
        blocks.append("### Against MLPerf Tiny\n\n" + "\n".join(rows))
    size = firmware_size(measured)
    flash, ram, what = (*size, "the largest build measured above") if size else (
        model_bytes, arena, "the model and its arena only (code not counted: measure with --platform cortex-m4)")
    blocks.append("### Does it fit?\n\n" + fit_table(flash, ram, what))
    return blocks


def _measured_text(measured: dict[str, Any], model_bytes: int, arena: int) -> str:
    """The README's "Measured on an emulated Cortex-M" section: tables (or how to fill them), MLPerf
    Tiny's reference and the fit against common parts."""
    return _measurements(measured) + "".join(f"\n\n{block}" for block in _networks_text(measured, model_bytes, arena))


def _measurements(measured: dict[str, Any]) -> str:
    from edgecnn.bundle_templates import render

    if not measured:
        return ("Not measured for this file yet: run `edgecnn verify --platform cortex-m4` (and "
                "`--platform cortex-m7`) on the export folder, then `edgecnn bundle --target mcu`; this "
                "section then gives flash, RAM, `arena_used_bytes()`, instructions per inference and "
                "an estimate of milliseconds at stated clocks.")
    samples = {e.get("samples") for e in measured.values()}
    # The template file ends in a newline; the section is followed by the README's own blank line.
    return render("mcu/measured.md.in", platforms=" --platform ".join(measured),
                  samples=", ".join(str(s) for s in samples), measured_table=measured_table(measured),
                  estimate_table=estimate_table(measured)).removesuffix("\n")


def _dims(spec: Any) -> str:
    """A tensor's shape as TFLM runs it, ``1x28x28x1`` (batch 1)."""
    return "x".join("1" if int(d) < 1 else str(int(d)) for d in spec.shape)


def write_mcu_bundle(path: Path, dest: Path, out_dir: Path | None = None) -> list[Path]:
    """Write the MCU bundle of the int8 .tflite ``path`` into ``dest``.

    Args:
        path: an int8 .tflite file.
        dest: the bundle folder (created).
        out_dir: the export folder whose verify.json holds Cortex-M measurements of ``path``, if any.

    Returns:
        The files written: C array, README.md and the buildable example.
    """
    from edgecnn import fileio
    from edgecnn.bundle_templates import render
    from edgecnn.export.c_array import symbol_name, write_c_array
    from edgecnn.mcu.host import tflm_bytes
    from edgecnn.mcu.sources import model_setup
    from edgecnn.tflm import builtin_ops, plan_arena

    path, dest = Path(path), Path(dest)
    data = tflm_bytes(path)  # the converter's graph, as TFLM runs it
    stem, sym = path.stem, symbol_name(path.stem)
    fileio.ensure_dir(dest)
    files = list(write_c_array(data, dest, stem))
    ops, plan = builtin_ops(data), plan_arena(data)
    io = model_io(path)
    inp, out, pre = io["input"], io["output"], io["preprocessing"]
    measured = measured_from_verify(out_dir, fileio.sha256_file(path))  # verify.json keys the .tflite file
    arena, arena_why = _arena(path, plan, measured)
    setup = model_setup(ops, arena)
    missing_text = (f"\n\n**Not supported by the vendored TensorFlow Lite Micro: {', '.join(setup.missing)}.** "
                    "The firmware cannot be built until these ops are replaced or TFLM gains them.\n"
                    if setup.missing else "")
    pre_formula = (f"`x = pixel * {pre.get('scale')!r} + {pre.get('offset', 0.0)!r}`\n  (float32), "
                   if pre.get("scale") is not None else "the model's float input `x`, ")
    readme = render(
        "mcu/README.md.in", title=io["metadata"].get("name", stem), file_name=path.name, file_bytes=_fmt(len(data)),
        sha256=fileio.sha256_bytes(data), stem=stem, symbol=sym,
        input_name=inp.name, input_shape=_dims(inp), input_scale=repr(inp.scale), input_zero_point=inp.zero_point,
        output_name=out.name, output_shape=_dims(out), output_scale=repr(out.scale),
        output_zero_point=out.zero_point,
        labels=", ".join(io["labels"]) if io["labels"] else "labels not in the file's metadata",
        pre_source=io["pre_source"], pre_formula=pre_formula, missing_text=missing_text,
        resolver=setup.resolver, arena=setup.arena, arena_why=arena_why,
        plan_activations=_fmt(plan.activations), plan_largest=_fmt(plan.largest_tensor), plan_tensors=plan.tensors,
        plan_operators=plan.operators, measured_text=_measured_text(measured, len(data), arena),
        example_inputs=EXAMPLE_INPUTS)
    files.append(fileio.write_text(dest / "README.md", readme))
    files += _example_files(dest, stem, sym, ops, setup, [io["blank"]])
    return files


def model_io(path: Path) -> dict[str, Any]:
    """Input/output specs, metadata, preprocessing, labels and a blank-image input of an int8 .tflite.

    From edgecnn's LiteRT predictor when it loads the file (the file's own metadata); otherwise
    (a model edgecnn's runtime does not take yet) from the TFLM interpreter's tensors alone.
    """
    import numpy as np

    from edgecnn.artifact import TensorSpec
    from edgecnn.runtime import load

    try:
        p = load(path)
        shape = tuple(int(d) for d in p.input_spec.shape[1:])
        pixels = np.zeros((1, *(shape[:2] if len(shape) == 3 and shape[2] == 1 else shape)), np.uint8)
        return {"input": p.input_spec, "output": p.output_spec, "metadata": p.metadata,
                "preprocessing": p.preprocessing, "labels": tuple(p.labels),
                "pre_source": ("from the file's metadata" if p.metadata.get("preprocessing") else
                               "not in the file's metadata: edgecnn's default, check it against your training"),
                "blank": np.asarray(p.prepare(pixels), np.int8).tobytes()}
    except Exception as exc:  # noqa: BLE001
        log.info("%s: edgecnn's runtime does not load it (%s); reading its tensors with TFLM", path.name, exc)
    from edgecnn.mcu.host import MicroInterpreter

    it = MicroInterpreter(path)
    spec = lambda name, t: TensorSpec(name, t.shape, "int8", t.scale, t.zero_point)  # noqa: E731
    blank = np.full(int(np.prod(it.input.shape)), it.input.zero_point, np.int8)  # real value 0.0
    return {"input": spec("input", it.input), "output": spec("output", it.output), "metadata": {},
            "preprocessing": {"scale": None, "offset": None}, "labels": (), "blank": blank.tobytes(),
            "pre_source": "not in the file's metadata: use what the model was trained with"}
