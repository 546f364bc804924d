"""Checkers of the microcontroller platforms (``verify --platform mcu / cortex-m4 / cortex-m7``).

* kind ``tflm`` (``mcu``): each int8 TFLite artifact in the real TensorFlow Lite Micro interpreter
  (PyPI ``tflite-micro``, reference kernels) on this machine: int8 outputs against LiteRT's on the
  same int8 inputs (top-1 agreement, equal outputs, max difference in LSB), judged as a reproduction
  of LiteRT's output (parity.reproduces); agreement with Keras and its 95 % interval beside it as
  information; and the smallest arena the interpreter itself accepts.
* kind ``cortex-m`` (``cortex-m4``, ``cortex-m7``): the MCU bundle of each int8 artifact (its C
  array, its README's resolver and arena code, its example main.cc/startup/linker script) is built
  with ``arm-none-eabi-gcc`` against the vendored TFLM, once with reference kernels and once with
  CMSIS-NN kernels, and booted in ``qemu-system-arm``. Reference-kernel outputs must be bit-identical
  to the host TFLM interpreter's; CMSIS-NN outputs within :data:`CMSIS_LSB_BOUND` and the same top-1;
  both reproduce the host interpreter's probabilities (parity.reproduces), Keras' beside them.
  Flash, RAM, ``arena_used_bytes()`` and instructions per inference are recorded.

Inputs are the int8 tensors LiteRT gets from the artifact's own preprocessing
(``Predictor.prepare``), so every engine sees the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import PlatformError
from edgecnn.platforms.registry import Platform
from edgecnn.parity import Tolerance

log = logging.getLogger(__name__)

CORTEX_M_SAMPLES = 100  # test images run on an emulated Cortex-M unless --samples asks for fewer
CMSIS_LSB_BOUND = 2  # CMSIS-NN int8 outputs may differ from the reference kernels by at most this
LITERT = "LiteRT on this machine (the same file, the same int8 inputs)"  # what TFLM must reproduce
HOST_TFLM = "the host TFLM interpreter (the same file, the same int8 inputs)"  # what the firmware must reproduce
COUNTING = ("QEMU -icount shift=0 (one guest instruction per virtual ns); SysTick on the processor clock "
            "counts ticks around Invoke(); instructions per tick calibrated in the firmware on a loop of "
            "known length (subs+bne), so each figure is exact to about one tick")


def _int8_artifacts(report) -> list[tuple[Path, Any]]:
    """(path, LiteRT predictor) of every int8 .tflite row that loaded; precision from the file's metadata."""
    from edgecnn.runtime import load

    out = []
    for row in report.rows:
        path = Path(row.path)
        if row.error is not None or path.suffix != ".tflite":
            continue
        predictor = load(path)
        if predictor.precision == "int8":
            out.append((path, predictor))
    return out


def lsb_stats(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """How two int8 output arrays (N x K) differ: top-1 agreement, equal rows, max/histogram of |a-b|."""
    a, b = np.asarray(a, np.int16), np.asarray(b, np.int16)
    diff = np.abs(a - b)
    per_image = diff.max(axis=1) if diff.size else np.zeros(0, np.int16)
    values, counts = np.unique(per_image, return_counts=True)
    return {
        "top1_agreement": float(np.mean(a.argmax(1) == b.argmax(1))) if len(a) else 1.0,
        "identical_images": int(np.sum(per_image == 0)),
        "images": int(len(a)),
        "max_lsb_diff": int(diff.max()) if diff.size else 0,
        "images_by_max_lsb_diff": {str(int(v)): int(c) for v, c in zip(values, counts)},
    }


def error_entry(exc: Exception) -> dict[str, Any]:
    """The entry of an artifact whose check could not finish (a native crash, a build that failed):
    failed, with the one-line reason; the other artifacts' entries are still made and written."""
    return {"format": "tflite", "precision": "int8", "passed": False, "status": "ERROR", "error": str(exc)}


def check_tflm(
    platforms: list[Platform], report, data, samples: int = 1000,
    tolerances: Mapping[str, Tolerance] | None = None, echo: Callable[[str], None] = log.info,
) -> dict[str, dict[str, Any]]:
    """The checker of kind ``tflm``: the int8 artifacts in the host TFLM interpreter (in a child process)."""
    try:
        from importlib.metadata import version

        tflm_version = version("tflite-micro")
    except Exception:  # noqa: BLE001 - only a label
        tflm_version = "unknown"
    n = min(samples, len(data.x_test))
    images, labels, keras = data.x_test[:n], np.asarray(data.y_test[:n]), report.keras_probabilities[:n]
    sections = {}
    for plat in platforms:
        artifacts: dict[str, Any] = {}
        found = _int8_artifacts(report)
        if not found:
            raise PlatformError(f"{plat.name}: no int8 .tflite artifact among the verified files")
        for path, predictor in found:
            echo(f"{plat.name}: {path.name} in the TFLM interpreter (tflite-micro {tflm_version}), {n:,} images")
            try:
                artifacts[path.name] = _tflm_entry(path, predictor, images, labels, keras, tolerances,
                                                   len(data.x_test))
            except PlatformError as exc:  # NativeCrash included: one line, the next file goes on
                echo(f"{plat.name}: {exc}")
                artifacts[path.name] = error_entry(exc)
        sections[plat.name] = {
            **plat.to_json(), "runner": f"TensorFlow Lite Micro interpreter (PyPI tflite-micro {tflm_version}), "
                                        "reference kernels",
            "samples": n, "passed": all(a["passed"] for a in artifacts.values()), "artifacts": artifacts,
        }
    return sections


def _tflm_entry(path: Path, predictor, images, labels, keras, tolerances, available=None) -> dict[str, Any]:
    from edgecnn.mcu.host import isolated_outputs, smallest_arena, tflm_bytes
    from edgecnn.platforms.check import compare_with_keras
    from edgecnn.tflm import plan_arena

    inputs = predictor.prepare(images)
    litert_q = np.asarray(predictor.run(inputs)).reshape(len(images), -1)
    tflm_q = isolated_outputs(path, inputs)
    probs = predictor.finish(tflm_q.reshape(litert_q.shape).astype(litert_q.dtype))
    # Judged against LiteRT's output of the same file on the same int8 inputs (a reproduction,
    # parity.reproduces); agreement with Keras and its interval ride along as information.
    vs_keras = compare_with_keras(probs, keras, labels, "int8", tolerances, host_probs=predictor.finish(litert_q),
                                  host=LITERT, available=available)
    vs_litert = vs_keras["vs_host"]
    planned = plan_arena(tflm_bytes(path))
    arena, tries = smallest_arena(path, inputs[:1], lower=planned.lower_bound)
    entry = {
        "format": "tflite", "precision": "int8", **vs_keras,
        "vs_litert": {**lsb_stats(tflm_q, litert_q), "rule": vs_litert["rule"],
                      "max_abs_diff": vs_litert["max_abs_diff"], "passed": vs_litert["passed"],
                      "status": "PASS" if vs_litert["passed"] else "FAIL"},
        "arena": {
            "smallest_working_bytes": arena,
            "found_by": f"bisection on tflite-micro's arena_size from the flatbuffer's lower bound "
                        f"{planned.lower_bound:,} B ({tries} interpreters built in a child process; each "
                        "must allocate and invoke)",
            "host_pointer_bits": 64,
            "planner_activations_bytes": planned.activations,
            "note": "64-bit host: TFLM's structs hold pointers, so a 32-bit Cortex-M needs less "
                    "(see the cortex-m4 check's arena_used_bytes)",
        },
    }
    entry["passed"] = bool(vs_litert["passed"])
    entry["status"] = "PASS" if entry["passed"] else "FAIL"
    return entry


# -- Cortex-M in QEMU -----------------------------------------------------------------------------
def run_cortex_m(path: Path, inputs: np.ndarray, target_name: str, *,
                 kernel_sets=("reference", "cmsis-nn"), work: Path | None = None) -> dict[str, Any]:
    """Build and boot the bundle firmware of one int8 .tflite on int8 ``inputs``, for each kernel set.

    Works for any int8 model whose ops the vendored TFLM has (an op it lacks is named before any
    build). Returns ``{"host": host TFLM int8 outputs, "ops", kernels: {"run", "memory", "build"}}``.
    """
    from edgecnn.mcu import qemu
    from edgecnn.mcu.build import build_firmware
    from edgecnn.mcu.bundle import write_mcu_sources
    from edgecnn.mcu.host import isolated_outputs, tflm_bytes
    from edgecnn.mcu.kernels import unsupported_ops
    from edgecnn.mcu.toolchain import TARGETS, require_tools
    from edgecnn.tflm import builtin_ops

    target = TARGETS[target_name]
    ops = builtin_ops(tflm_bytes(path))
    missing = unsupported_ops(ops)
    if missing:
        raise PlatformError(f"{path.name}: the vendored TensorFlow Lite Micro has no kernel for: {', '.join(missing)}")
    _check_fits_emulator(path, len(inputs))
    tools = require_tools()
    inputs = np.asarray(inputs, np.int8)
    host_q = isolated_outputs(path, inputs)
    out: dict[str, Any] = {"host": host_q, "ops": ops}
    with tempfile.TemporaryDirectory(prefix="edgecnn-mcu-") as tmp:
        root = Path(work) if work else Path(tmp)
        bundle = root / "bundle"
        symbol = write_mcu_sources(path, bundle)
        for kernels in kernel_sets:
            fw = build_firmware(bundle, ops, target, kernels, [q.tobytes() for q in inputs],
                                root / f"{target.name}-{kernels}", tools=tools)
            run = qemu.parse_run(qemu.run_firmware(fw, tools=tools))
            out[kernels] = {"run": run, "memory": qemu.memory_report(fw, run, symbol, tools=tools),
                            "build": fw.stats.to_json()}
    return out


EMULATED_FLASH = EMULATED_RAM = 4 * 1024 * 1024  # mps2.ld: QEMU's 4 MiB at 0x0 and 4 MiB at 0x20000000


def _check_fits_emulator(path: Path, n_inputs: int) -> None:
    """A model the emulated board cannot hold is one PlatformError saying by how much, not a link error."""
    from edgecnn.mcu.host import tflm_bytes
    from edgecnn.tflm import plan_arena

    data = tflm_bytes(path)
    flash = len(data) + n_inputs * int(np.prod(_input_shape(data)))
    ram = plan_arena(data).recommended
    for what, need, have in (("flash", flash, EMULATED_FLASH), ("RAM", ram, EMULATED_RAM)):
        if need > have:
            raise PlatformError(f"{path.name}: does not fit the emulated board's {have // 1024:,} KiB {what}: the "
                                f"model{' and test inputs' if what == 'flash' else ' arena'} need "
                                f"{need // 1024:,} KiB ({(need - have) // 1024:,} KiB too many)")


def _input_shape(data: bytes) -> tuple[int, ...]:
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(data, 0).Subgraphs(0)
    return tuple(int(d) for d in graph.Tensors(int(graph.InputsAsNumpy()[0])).ShapeAsNumpy())


def _fit_warning(name: str, entry: dict[str, Any]) -> str | None:
    """One line naming the common parts the measured firmware does not fit, and by how much."""
    from edgecnn.mcu.parts import firmware_size, misfits

    size = firmware_size({"x": entry})
    short = misfits(*size) if size else []
    return f"Warning: {name} does not fit {'; '.join(short)}" if short else None


def _kernel_entry(kernels: str, res: dict[str, Any], host_q: np.ndarray, predictor, keras, labels,
                  tolerances, available: int | None = None) -> dict[str, Any]:
    from edgecnn.platforms.check import compare_with_keras

    run = res["run"]
    device_q = np.asarray(run.outputs, np.int8)
    if device_q.shape != host_q.shape:
        raise PlatformError(f"{kernels}: firmware gave outputs {device_q.shape}, host TFLM {host_q.shape}")
    vs_host = lsb_stats(device_q, host_q)
    if kernels == "reference":
        host_ok = vs_host["identical_images"] == vs_host["images"]
        rule = "bit-identical to the host TFLM interpreter on every image"
    else:
        host_ok = vs_host["max_lsb_diff"] <= CMSIS_LSB_BOUND and vs_host["top1_agreement"] == 1.0
        rule = f"within {CMSIS_LSB_BOUND} LSB of the host TFLM interpreter and the same top-1 on every image"
    probs = predictor.finish(device_q)
    # The headline: the same file's output in the host TFLM interpreter, reproduced; Keras beside it.
    vs_keras = compare_with_keras(probs, keras, labels, "int8", tolerances, host_probs=predictor.finish(host_q),
                                  host=HOST_TFLM, available=available)
    instr = run.instructions
    entry = {
        **vs_keras,
        "vs_host_tflm": {**vs_host, "rule": rule, "passed": bool(host_ok)},
        "instructions_per_inference": {
            "median": int(np.median(instr)), "min": int(min(instr)), "max": int(max(instr)),
            "instructions_per_systick_tick": round(run.instructions_per_tick, 3),
            "resolution_instructions": round(run.instructions_per_tick),
        },
        "memory": res["memory"],
        "build": res["build"],
    }
    entry["passed"] = bool(vs_keras["passed"] and host_ok)
    entry["status"] = "PASS" if entry["passed"] else "FAIL"
    return entry


def _cortex_m_entry(path: Path, predictor, images, labels, keras, tolerances, target: str,
                    available: int | None = None) -> dict[str, Any]:
    res = run_cortex_m(path, np.asarray(predictor.prepare(images)), target)
    kernels = {k: _kernel_entry(k, res[k], res["host"], predictor, keras, labels, tolerances, available)
               for k in ("reference", "cmsis-nn")}
    ref = kernels["reference"]
    return {
        "format": "tflite", "precision": "int8", "ops": res["ops"],
        "tflite_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        # the headline parity fields: the reference-kernel firmware against Keras
        **{k: v for k, v in ref.items() if k not in ("memory", "build", "vs_host_tflm",
                                                    "instructions_per_inference", "passed", "status")},
        "kernels": kernels,
        "passed": all(k["passed"] for k in kernels.values()),
        "status": "PASS" if all(k["passed"] for k in kernels.values()) else "FAIL",
    }


def check_cortex_m(
    platforms: list[Platform], report, data, samples: int = 1000,
    tolerances: Mapping[str, Tolerance] | None = None, echo: Callable[[str], None] = log.info,
) -> dict[str, dict[str, Any]]:
    """The checker of kind ``cortex-m``: the bundle firmware in QEMU, reference and CMSIS-NN kernels."""
    from edgecnn.mcu.toolchain import TARGETS

    n = min(samples, CORTEX_M_SAMPLES, len(data.x_test))
    images, labels, keras = data.x_test[:n], np.asarray(data.y_test[:n]), report.keras_probabilities[:n]
    found = _int8_artifacts(report)
    if not found:
        raise PlatformError("cortex-m: no int8 .tflite artifact among the verified files")
    sections = {}
    for plat in platforms:
        target = TARGETS[plat.name]
        artifacts: dict[str, Any] = {}
        for path, predictor in found:
            echo(f"{plat.name}: building {path.name}'s bundle firmware (reference and CMSIS-NN kernels) and "
                 f"running {n} test images in qemu-system-arm -M {target.machine}")
            try:
                artifacts[path.name] = _cortex_m_entry(path, predictor, images, labels, keras, tolerances,
                                                       plat.name, len(data.x_test))
                warning = _fit_warning(path.name, artifacts[path.name])
                if warning:
                    echo(warning)
            except PlatformError as exc:  # a crash, a build or QEMU failure: one line, the next file goes on
                echo(f"{plat.name}: {exc}")
                artifacts[path.name] = error_entry(exc)
        sections[plat.name] = {
            **plat.to_json(), "qemu_machine": target.machine,
            "runner": "bundle firmware (arm-none-eabi-gcc, vendored TFLM) in qemu-system-arm with semihosting",
            "samples": n, "instruction_counting": COUNTING,
            "passed": all(a["passed"] for a in artifacts.values()), "artifacts": artifacts,
            "note": "emulated: instruction counts, not cycles; milliseconds are estimates (see the bundle README)",
        }
    return sections
