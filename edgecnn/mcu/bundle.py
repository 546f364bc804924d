"""The MCU bundle: C array, README (resolver, arena, measured figures, estimates), buildable example.

``write_mcu_sources(tflite, dest)`` writes everything a firmware build takes from the bundle;
``edgecnn verify --platform cortex-m4`` builds exactly these files. The README's measured
section is filled from ``verify.json`` (``platforms`` sections of the ``cortex-m`` and ``tflm``
checks for the same .tflite, matched by sha256); the bundle itself never builds firmware.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from edgecnn.names import VERIFY_JSON

log = logging.getLogger(__name__)

# Estimated cycles per instruction for the latency estimate (an assumption, stated in the README):
# a single-issue M4 running from flash with wait states, a dual-issue M7 with caches.
CLOCKS = (("Cortex-M4F", "cortex-m4", 80, 1.25), ("Cortex-M4F", "cortex-m4", 168, 1.25),
          ("Cortex-M7", "cortex-m7", 480, 1.0))
EXAMPLE_INPUTS = 1  # the example firmware's test_inputs.cc: one blank (all-zero pixels) image


def _fmt(n: int | float) -> str:
    return f"{int(n):,}"


def _ceil_kib(n: int) -> int:
    return int(math.ceil(n / 1024) * 1024)


def resolver_lines(ops: list[str]) -> tuple[list[str], list[str]]:
    """(``resolver.AddX();  // OP`` lines, ops the vendored TFLM lacks)."""
    from edgecnn.tflm import resolver_method

    try:
        from edgecnn.mcu.build import resolver_info

        methods = resolver_info().methods
    except Exception:  # noqa: BLE001 - the kit is not there (installed wheel): edgecnn's own table
        methods = {}
    lines, missing = [], []
    for op in ops:
        if methods and op not in methods:
            missing.append(op)
            lines.append(f"  // {op}: no kernel in the vendored TensorFlow Lite Micro")
        else:
            lines.append(f"  resolver.{methods.get(op) or resolver_method(op)}();  // {op}")
    return lines, missing


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
    if out_dir is None or not (Path(out_dir) / VERIFY_JSON).is_file():
        return {}
    try:
        platforms = json.loads((Path(out_dir) / VERIFY_JSON).read_text()).get("platforms") or {}
    except (OSError, ValueError):
        return {}
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
                f"{_fmt(m['flash_model_bytes'])} | {_fmt(m['flash_code_bytes'])} | {_fmt(m['flash_test_inputs_bytes'])} | "
                f"{_fmt(m['ram_static_bytes'])} | {_fmt(m['arena_used_bytes'])} | {_fmt(m['stack_high_water_bytes'])} | "
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


def _example_files(dest: Path, stem: str, symbol: str, ops: list[str], readme: str, inputs: list[bytes]) -> list[Path]:
    from edgecnn import fileio
    from edgecnn.mcu import build

    files = []
    for name in ("main.cc", "startup.c", "mps2.ld"):
        files.append(fileio.write_bytes(dest / name, (build.FIRMWARE_DIR / name).read_bytes()))
    files.append(fileio.write_text(dest / "model_setup.h", build.model_setup_header(readme)))
    files.append(fileio.write_text(dest / "model_data.h", build.model_data_header(f"{stem}.h", symbol)))
    header, source = build.test_inputs_sources(inputs)
    files.append(fileio.write_text(dest / "test_inputs.h", header))
    files.append(fileio.write_text(dest / "test_inputs.cc", source))
    makefile = (build.FIRMWARE_DIR / "Makefile").read_text()
    try:
        root = build.third_party_dir()
        framework = build.framework_sources(root)
        ref = build.plan_kernels(ops, "reference", root)
        cmsis = build.plan_kernels(ops, "cmsis-nn", root)
        kit = str(root)
    except Exception:  # noqa: BLE001 - no vendored kit here, or an op it lacks: the Makefile says so
        framework, ref, cmsis, kit = [], [], [], "/path/to/edgecnn/third_party"
    wrap = lambda items: " \\\n  ".join(items) if items else ""  # noqa: E731
    makefile = (makefile.replace("@KIT@", kit).replace("@FRAMEWORK@", wrap(framework))
                .replace("@REFERENCE_KERNELS@", wrap(ref)).replace("@CMSIS_KERNELS@", wrap(cmsis))
                .replace("@MODEL_CC@", f"{stem}.cc"))
    files.append(fileio.write_text(dest / "Makefile", makefile))
    return files


def write_mcu_sources(path: Path, dest: Path, out_dir: Path | None = None) -> str:
    """Write the MCU bundle of the int8 .tflite ``path`` into ``dest``; returns the C array's symbol."""
    write_mcu_bundle(path, dest, out_dir)
    from edgecnn.export.c_array import symbol_name

    return symbol_name(Path(path).stem)


def write_mcu_bundle(path: Path, dest: Path, out_dir: Path | None = None) -> list[Path]:
    from edgecnn import fileio
    from edgecnn.export.c_array import symbol_name, write_c_array
    from edgecnn.tflm import builtin_ops, plan_arena

    from edgecnn.mcu.host import tflm_bytes

    path, dest = Path(path), Path(dest)
    data = tflm_bytes(path)  # the converter's graph, as TFLM runs it
    sha = fileio.sha256_bytes(data)
    stem, sym = path.stem, symbol_name(path.stem)
    fileio.ensure_dir(dest)
    files = list(write_c_array(data, dest, stem))
    ops, plan = builtin_ops(data), plan_arena(data)
    lines, missing = resolver_lines(ops)
    io = model_io(path)
    inp, out, meta, pre, labels = io["input"], io["output"], io["metadata"], io["preprocessing"], io["labels"]
    host = host_arena(path)
    measured = measured_from_verify(out_dir, fileio.sha256_file(path))  # verify.json keys the .tflite file
    used = [k["memory"]["arena_used_bytes"] for e in measured.values() for k in e["kernels"].values()]
    if host is not None:
        arena = _ceil_kib(host)
        arena_why = (
            f"`kTensorArenaSize` is the smallest arena the TensorFlow Lite Micro interpreter itself accepts for "
            f"this model on a 64-bit host, **{_fmt(host)} bytes** (found by bisection on `arena_size` with the "
            f"PyPI `tflite-micro` interpreter: it must allocate and invoke), rounded up to a whole KiB. TFLM's "
            f"bookkeeping structs hold pointers, so a 32-bit Cortex-M needs less")
    else:
        arena = plan.recommended
        arena_why = ("`kTensorArenaSize` is edgecnn's own estimate (the `tflite-micro` package was not available to "
                     "measure it): the greedy plan of the activations plus an estimate of TFLM's persistent "
                     "allocations, plus 25 %, rounded up to a KiB")
    if used:
        arena_why += (f"; on the emulated Cortex-M `arena_used_bytes()` measured **{_fmt(max(used))} bytes** at most "
                      f"(both kernel sets, table below), so the margin is {_fmt(arena - max(used))} bytes "
                      f"({(arena - max(used)) / max(used):.0%}). The margin covers kernel sets whose scratch "
                      "buffers differ (CMSIS-NN asks for its own) and TFLM versions whose bookkeeping differs; "
                      "shrink it to `arena_used_bytes()` plus a few hundred bytes once your build is fixed.")
    else:
        arena_why += (". Measure your own build: after `AllocateTensors()`, `interpreter.arena_used_bytes()` "
                      "gives the exact figure (`edgecnn verify --platform cortex-m4` records it).")
    if measured:
        samples = {e.get("samples") for e in measured.values()}
        measured_text = (
            f"Measured by `edgecnn verify --platform {' --platform '.join(measured)}`: this bundle's firmware "
            f"(the example below, built with `arm-none-eabi-gcc -O2` against the vendored TFLM) booted in "
            f"`qemu-system-arm`, {', '.join(str(s) for s in samples)} test images. Flash = .text + .rodata + "
            "init tables + .data initialisers; \"code + constants\" is flash minus the model and the test "
            "inputs (TFLM, kernels, newlib). RAM data + bss includes the static tensor arena.\n\n"
            + measured_table(measured)
            + "\n\nInstructions are counted by QEMU (`-icount shift=0`: one instruction per virtual "
            "nanosecond; SysTick around `Invoke()`, calibrated on a loop of known length), exact to about one "
            "SysTick tick. They are instructions, not cycles.\n\n"
            "### Estimated latency (an estimate, not a measurement)\n\n"
            "ms = instructions x assumed cycles per instruction / clock. The cycles per instruction are an "
            "assumption (1.25 for a Cortex-M4F running from flash with wait states, 1.0 for a dual-issue "
            "Cortex-M7 with caches); real parts differ with memory wait states, caches and where the arena "
            "lives.\n\n" + estimate_table(measured))
    else:
        measured_text = ("Not measured for this file yet: run `edgecnn verify --platform cortex-m4` (and "
                         "`--platform cortex-m7`) on the export folder, then `edgecnn bundle --target mcu`; this "
                         "section then gives flash, RAM, `arena_used_bytes()`, instructions per inference and "
                         "an estimate of milliseconds at stated clocks.")
    dims = lambda spec: "x".join("1" if int(d) < 1 else str(int(d)) for d in spec.shape)  # noqa: E731 - TFLM: batch 1
    shape = dims(inp)
    labels = ", ".join(labels) if labels else "labels not in the file's metadata"
    missing_text = (f"\n\n**Not supported by the vendored TensorFlow Lite Micro: {', '.join(missing)}.** "
                    "The firmware cannot be built until these ops are replaced or TFLM gains them.\n"
                    if missing else "")
    pre_source = io["pre_source"]
    pre_formula = (f"`x = pixel * {pre.get('scale')!r} + {pre.get('offset', 0.0)!r}`\n  (float32), "
                   if pre.get("scale") is not None else "the model's float input `x`, ")
    readme = f"""# {meta.get('name', stem)} for TensorFlow Lite Micro

Generated by edgecnn from `{path.name}` ({_fmt(len(data))} bytes, sha256 `{sha}`).

- `{stem}.cc` / `{stem}.h`: `alignas(16) const unsigned char {sym}[]` and `const unsigned int {sym}_len`
  (the flatbuffer, kept in flash).
- Input `{inp.name}`: int8 [{shape}], scale {inp.scale!r}, zero point {inp.zero_point}; output `{out.name}`:
  int8 [{dims(out)}], scale {out.scale!r}, zero point {out.zero_point}
  (probabilities of: {labels}).
- Preprocessing ({pre_source}): {pre_formula}then `q = clamp(round(x / {inp.scale!r}) + ({inp.zero_point}), -128, 127)`; output
  `p = {out.scale!r} * (q - ({out.zero_point}))`.

## Op resolver

The model uses these builtin ops (read from the flatbuffer's operator codes; method names from
the vendored `micro_mutable_op_resolver.h`), so register exactly these:{missing_text}

```cpp
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

static tflite::MicroMutableOpResolver<{len(ops)}> resolver;

void RegisterOps() {{  // call once, before building the MicroInterpreter
{chr(10).join(lines)}
}}
```

## Tensor arena

```cpp
constexpr int kTensorArenaSize = {arena};  // bytes
alignas(16) static uint8_t tensor_arena[kTensorArenaSize];
```

{arena_why}

For comparison, edgecnn's own planner (greedy placement of the activations, like TFLM's
`GreedyMemoryPlanner`) computes {_fmt(plan.activations)} bytes of activations (largest tensor
{_fmt(plan.largest_tensor)} bytes; {plan.tensors} tensors, {plan.operators} operators).

## Measured on an emulated Cortex-M

{measured_text}

## Build the example

`main.cc` runs the model on every input of `test_inputs.cc` (here {EXAMPLE_INPUTS} blank image;
`edgecnn verify --platform cortex-m4` rebuilds it with real test images, int8, quantized on the
host) and prints the int8 outputs. `model_setup.h` is the two code blocks above, verbatim;
`model_data.h` names the C array.

```sh
make run                    # Cortex-M4F, reference kernels, in qemu-system-arm -M mps2-an386
make run KERNELS=cmsis-nn   # CMSIS-NN kernels
make run CPU=cortex-m7      # Cortex-M7, qemu-system-arm -M mps2-an500
```

`KIT` in the Makefile points at edgecnn's vendored `third_party/` (TFLM, CMSIS-NN, CMSIS Core,
flatbuffers, gemmlowp, ruy, with their licences and `KIT.md`).

What is board-specific, to adapt for a real part:
- `mps2.ld`: the memory map (QEMU's 4 MiB at 0x0 stands for flash, 4 MiB at 0x20000000 for RAM;
  QEMU does not enforce a real part's limits) and the stack size;
- `startup.c`: the vector table (a real part has more interrupts), the FPU enable, SysTick (used
  only for counting), the stack painting for the high-water mark;
- `CPU_FLAGS` in the Makefile (`-mcpu`, `-mfpu`, `-mfloat-abi`);
- the console: semihosting (`--specs=rdimon.specs`, `initialise_monitor_handles()`) needs a
  debugger on a board; retarget `printf` to a UART or drop it.

Portable as is: the model files, `model_setup.h` (resolver and arena), the TFLM calls in `main.cc`.
"""
    files.append(fileio.write_text(dest / "README.md", readme))
    files += _example_files(dest, stem, sym, ops, readme, [io["blank"]])
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
