"""Speed against the machine's own limit (issue #17): every figure as ratios measured side by side in one run.

    python benchmarks/speed.py [--dir exports] [--seconds 2] [--rounds 20]

Needs an output folder with the four standard exports (``edgecnn run`` or ``train`` + ``export``).
Sections, each timed in interleaved rounds in this one process (``edgecnn.bench.timing``):

1. the ceiling: fp32 and int8 GEMM in LiteRT/XNNPACK (1 and 2 threads), against numpy's SGEMM;
   memory bandwidth;
2. MACs per image counted from each exported graph, against the hand count;
3. each file's GMAC/s at batch 1 and 256 (1 thread) and its share of the matching ceiling;
4. int8 TFLite: the exported files (first convolution on column pairs; int8 SOFTMAX outside
   XNNPACK) against the converter's graph (unpaired) and two fully delegated alternatives (a float
   softmax tail: DEQUANTIZE -> SOFTMAX -> QUANTIZE; the model ending in logits), each against
   float32: p50 at batch 1 (goal <= 0.55), throughput at 256 (goal >= 1.5); 4b: op by op;
5. int8 ONNX variants (QDQ / QOperator, per-tensor / per-channel, quantized op types, int8 / uint8
   activations, ORT optimization level) against float32 ONNX, with verify's int8 tolerances
   (goal: throughput at 256 >= float32, p50 at batch 1 <= float32);
6. threads: 2 threads / 1 thread at batch 256 per runtime (goal >= 1.8).

On a machine shared with other work, absolute figures drift; read the ratios.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's SGEMM on one core, like the other figures (before numpy loads)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _common import need  # noqa: E402

from edgecnn.bench import ceiling as ceiling_mod  # noqa: E402
from edgecnn.bench import macs as macs_mod  # noqa: E402
from edgecnn.bench.timing import time_rounds, warm_up  # noqa: E402

HAND_COUNT = {"conv1": 26 * 26 * 6 * 9, "conv2": 12 * 12 * 16 * 24, "dense": 576 * 256, "dense_1": 256 * 10}
# The .tflite files compute conv1 on column pairs (edgecnn.export.column_pairs), zero taps included.
PAIRED_CONV1 = 26 * 13 * 12 * (3 * 2 * 2)
GOALS = {"tflite_p50": 0.55, "tflite_bulk": 1.5, "onnx_bulk": 1.0, "onnx_p50": 1.0, "threads": 1.8}


FAST_TAIL: dict = {}  # (section's call name) -> 10th-percentile µs of the last measure() call


def measure(calls: dict, seconds: float, rounds: int) -> dict[str, float]:
    """Median µs per call of each named call, interleaved in ``rounds`` rounds (warm-up first).

    Also keeps each call's 10th percentile in FAST_TAIL: on a machine shared with other work, the
    fast tail shows what a call costs when it has the core to itself."""
    for call in calls.values():
        warm_up(call, 0.3, 5)
    timed = time_rounds(list(calls.values()), rounds, seconds=seconds, min_runs=20)
    FAST_TAIL.clear()
    FAST_TAIL.update({name: float(np.percentile(ns, 10)) / 1e3 for name, ns in zip(calls, timed)})
    return {name: float(np.median(ns)) / 1e3 for name, ns in zip(calls, timed)}


def header(title: str) -> None:
    print(f"\n== {title}")


# -- 1. ceiling ------------------------------------------------------------------------------------
def ceiling_section(threads: tuple[int, ...]) -> dict:
    header("1. this machine's limits (GEMM 256x1024x1024 in LiteRT/XNNPACK; fast tail = 10th percentile)")
    found = {}
    for t in threads:
        for precision in ("float32", "int8"):
            got = ceiling_mod.gemm_gmacs(precision, threads=t, seconds=1.5)
            found[(precision, t)] = got["gmacs"]
            print(f"  {precision:8s} {t} thread(s): {got['gmacs']:7.1f} GMAC/s (median {got['gmacs_p50']:.1f}), "
                  f"XNNPACK {got['xnnpack']}")
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t0)
    numpy_gmacs = 1024**3 / np.percentile(times, 10) / 1e9
    print(f"  numpy SGEMM 1024^3, one thread: {numpy_gmacs:.1f} GMAC/s; "
          f"LiteRT fp32 / numpy = {found[('float32', 1)] / numpy_gmacs:.2f}")
    print(f"  int8 / fp32 ceiling, 1 thread: {found[('int8', 1)] / found[('float32', 1)]:.2f}")
    if 2 in threads:
        for precision in ("float32", "int8"):
            print(f"  {precision} ceiling 2 threads / 1 thread: {found[(precision, 2)] / found[(precision, 1)]:.2f}")
    bw = ceiling_mod.memory_gbps()
    print(f"  memory bandwidth (64 MiB copy, one thread): {bw:.1f} GB/s")
    return found


# -- 2 + 3. MACs and shares -------------------------------------------------------------------------
def macs_section(paths: dict[str, Path]) -> dict[str, int]:
    header("2. MACs per image counted from the exported graphs (hand count: "
           + " + ".join(f"{k} {v:,}" for k, v in HAND_COUNT.items()) + f" = {sum(HAND_COUNT.values()):,})")
    counts = {}
    for key, path in paths.items():
        counted = macs_mod.count_tflite(path) if path.suffix == ".tflite" else macs_mod.count_onnx(path)
        counts[key] = counted["macs_per_image"]
        hand = list(HAND_COUNT.values())
        if path.suffix == ".tflite":
            hand[0] = PAIRED_CONV1
        same = [layer["macs"] for layer in counted["layers"]] == hand
        note = f" (conv1 on column pairs: {PAIRED_CONV1:,} with the zero taps)" if path.suffix == ".tflite" else ""
        print(f"  {path.name:28s} {counted['macs_per_image']:,} ({'= hand count per layer' if same else 'DIFFERS'}{note})")
    return counts


def run_calls(predictors: dict, images) -> dict:
    """name -> a warmed-up call of that predictor's runtime on ``images`` (already in its input dtype)."""
    calls = {}
    for name, p in predictors.items():
        x = p.prepare(images)
        p.run(x)
        calls[name] = (lambda p=p, x=x: p.run(x))
    return calls


def shares_section(predictors: dict, counts: dict[str, int], ceilings: dict, images, seconds, rounds) -> dict:
    header("3. GMAC/s and share of the matching ceiling, 1 thread")
    out = {}
    for batch in (1, 256):
        med = measure(run_calls(predictors, images[:batch]), seconds, rounds)
        for key, us in med.items():
            gmacs = counts[key] * batch / us / 1e3
            limit = ceilings[(ceiling_mod.CEILING_OF[key.split("/")[1]], 1)]
            out[(key, batch)] = us
            print(f"  batch {batch:3d} {key:15s} p50 {us:9.1f} µs  {batch * 1e6 / us:9,.0f} images/s  "
                  f"{gmacs:6.1f} GMAC/s = {gmacs / limit:6.1%} of the {key.split('/')[1]} ceiling")
    return out


# -- 4. int8 TFLite tails ----------------------------------------------------------------------------
def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def _load_model(path: Path):
    return _schema().ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)


def _save(model, path: Path) -> Path:
    import flatbuffers

    builder = flatbuffers.Builder(1 << 20)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(bytes(builder.Output()))
    return path


def _opcode(model, code: int) -> int:
    from edgecnn.export.column_pairs import _opcode_index

    return _opcode_index(model, code, _schema())


def _softmax(model):
    schema = _schema()
    for i, op in enumerate(model.subgraphs[0].operators):
        c = model.operatorCodes[op.opcodeIndex]
        if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.SOFTMAX:
            return i, op
    raise ValueError("no SOFTMAX")


def float_softmax_tail(src: Path, dst: Path) -> Path:
    """int8 logits -> DEQUANTIZE -> float SOFTMAX -> QUANTIZE -> int8 probabilities (same output tensor)."""
    schema = _schema()
    model = _load_model(src)
    sub = model.subgraphs[0]
    i, softmax = _softmax(model)
    q_in, q_out = softmax.inputs[0], softmax.outputs[0]

    def float_tensor(name: str, like: int) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.shapeSignature = name.encode(), list(sub.tensors[like].shape), sub.tensors[like].shapeSignature
        t.type = schema.TensorType.FLOAT32
        model.buffers.append(schema.BufferT())
        t.buffer = len(model.buffers) - 1
        sub.tensors.append(t)
        return len(sub.tensors) - 1

    logits, probs = float_tensor("logits_float", q_in), float_tensor("probabilities_float", q_out)
    deq = schema.OperatorT()
    deq.opcodeIndex, deq.inputs, deq.outputs = _opcode(model, schema.BuiltinOperator.DEQUANTIZE), [q_in], [logits]
    softmax.inputs, softmax.outputs = [logits], [probs]
    quant = schema.OperatorT()
    quant.opcodeIndex, quant.inputs, quant.outputs = _opcode(model, schema.BuiltinOperator.QUANTIZE), [probs], [q_out]
    sub.operators[i: i + 1] = [deq, softmax, quant]
    return _save(model, dst)


def logits_output(src: Path, dst: Path) -> Path:
    """The model without its SOFTMAX: int8 logits out (the app would apply the softmax)."""
    model = _load_model(src)
    sub = model.subgraphs[0]
    i, softmax = _softmax(model)
    sub.outputs = [softmax.inputs[0]]
    del sub.operators[i]
    for signature in model.signatureDefs or []:
        for tensor_map in signature.outputs:
            tensor_map.tensorIndex = softmax.inputs[0]
    return _save(model, dst)


def tflite_tail_section(paths, work: Path, images, x_test, y_test, seconds, rounds) -> dict:
    from edgecnn.bench.graph import tflite_delegation
    from edgecnn.runtime import load

    from edgecnn.export.column_pairs import unpair_columns

    header("4. int8 TFLite: int8 SOFTMAX (exported) vs fully delegated alternatives, and the column-paired first "
           "convolution vs the converter's graph, against float32 TFLite (exported)")
    files = {
        "float32": paths["tflite/float32"],
        "float32 converter's conv1 (unpaired)": work / "f32_unpaired.tflite",
        "int8 (exported, int8 SOFTMAX)": paths["tflite/int8"],
        "int8 converter's conv1 (unpaired)": work / "i8_unpaired.tflite",
        "int8 float softmax tail": float_softmax_tail(paths["tflite/int8"], work / "tail.tflite"),
        "int8 logits out (no softmax)": logits_output(paths["tflite/int8"], work / "logits.tflite"),
    }
    files["float32 converter's conv1 (unpaired)"].write_bytes(unpair_columns(paths["tflite/float32"].read_bytes()))
    files["int8 converter's conv1 (unpaired)"].write_bytes(unpair_columns(paths["tflite/int8"].read_bytes()))
    preds = {name: load(path) for name, path in files.items()}
    reference = None
    for name, p in preds.items():
        g = tflite_delegation(p.interpreter)
        raw = np.concatenate([p.run(p.prepare(x_test[i: i + 1000])) for i in range(0, len(x_test), 1000)])
        extra = ""
        if name.startswith("int8 (exported"):
            reference = raw
        elif reference is not None and name.startswith(("int8 float", "int8 converter")):
            extra = f", output codes equal to the exported file's on {np.mean(np.all(raw == reference, axis=1)):.2%} of images"
        print(f"  {name:32s} XNNPACK {g['delegated_nodes']}/{g['nodes']} nodes, accuracy {np.mean(raw.argmax(1) == y_test):.2%}{extra}")
    out = {}
    for batch in (1, 256):
        med = measure(run_calls(preds, images[:batch]), seconds, rounds)
        base = med["float32"]
        for name, us in med.items():
            out[(name, batch)] = us
            figure = (f"p50 {us:7.2f} µs, / float32 = {us / base:.3f}" if batch == 1
                      else f"{batch * 1e6 / us:9,.0f} images/s, × float32 = {base / us:.3f}")
            print(f"  batch {batch:3d} {name:32s} {figure}")
    b1 = out[("int8 (exported, int8 SOFTMAX)", 1)] / out[("float32", 1)]
    bulk = out[("float32", 256)] / out[("int8 (exported, int8 SOFTMAX)", 256)]
    before = out[("int8 converter's conv1 (unpaired)", 1)] / out[("float32 converter's conv1 (unpaired)", 1)]
    print(f"  before the column pairs (both files unpaired): int8/float32 p50 batch 1 = {before:.3f}; "
          f"int8 paired/unpaired = {out[('int8 (exported, int8 SOFTMAX)', 1)] / out[('int8 converter' + chr(39) + 's conv1 (unpaired)', 1)]:.3f}")
    print(f"  goal int8/float32 p50 batch 1 <= {GOALS['tflite_p50']}: {b1:.3f} "
          f"({'met' if b1 <= GOALS['tflite_p50'] else 'NOT met'}); goal batch-256 throughput >= "
          f"{GOALS['tflite_bulk']}x: {bulk:.2f}x ({'met' if bulk >= GOALS['tflite_bulk'] else 'NOT met'})")
    return out


def _op_names(model) -> list[str]:
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    return [names[max(model.operatorCodes[op.opcodeIndex].builtinCode,
                      model.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode)] for op in model.subgraphs[0].operators]


def tflite_per_op_section(paths, work: Path, seconds, rounds) -> dict:
    """Where the batch-1 time goes: the model cut after each op (its output made the graph's), timed side by side."""
    from edgecnn.runtime.tflite import _interpreter_class

    header("4b. batch 1, 1 thread: where the time goes, float32 vs int8 TFLite (model cut after each op; "
           "the first step includes the fixed cost of an invoke)")
    interpreter_cls, _ = _interpreter_class()
    calls, names = {}, {}
    for key in ("tflite/float32", "tflite/int8"):
        names[key] = _op_names(_load_model(paths[key]))
        for n in range(1, len(names[key]) + 1):
            model = _load_model(paths[key])
            sub = model.subgraphs[0]
            sub.operators = sub.operators[:n]
            sub.outputs = [sub.operators[-1].outputs[0]]
            model.signatureDefs = []
            interpreter = interpreter_cls(model_content=_save(model, work / f"cut{n}.tflite").read_bytes(), num_threads=1)
            interpreter.allocate_tensors()
            calls[(key, n)] = interpreter.invoke
    med = measure(calls, seconds, rounds)
    steps = {}
    for key in ("tflite/float32", "tflite/int8"):
        previous = 0.0
        for n, op in enumerate(names[key], 1):
            steps[(key, n)] = med[(key, n)] - previous
            previous = med[(key, n)]
    for n, op in enumerate(names["tflite/float32"], 1):
        f, i = steps[("tflite/float32", n)], steps[("tflite/int8", n)]
        print(f"  {n:2d} {op:18s} float32 {f:6.2f} µs  int8 {i:6.2f} µs" + (f"  int8/float32 {i / f:5.2f}" if f > 0.3 else ""))
    print(f"  whole graph (invoke only): float32 {med[('tflite/float32', len(names['tflite/float32']))]:.2f} µs, "
          f"int8 {med[('tflite/int8', len(names['tflite/int8']))]:.2f} µs")
    return steps


# -- 5. int8 ONNX variants -----------------------------------------------------------------------------
ONNX_VARIANTS = {  # name: (format, per_channel, activations, op types or None = all, ORT level)
    "QOperator edgecnn rule per-channel u8 [exported]": ("QOperator", True, "uint8", "rule", "all"),
    "QDQ Gemm-only per-tensor s8 [exported before #20]": ("QDQ", False, "int8", ("Gemm", "MatMul"), "all"),
    "QDQ all ops per-tensor s8 [previous]": ("QDQ", False, "int8", None, "all"),
    "QDQ all ops per-channel s8": ("QDQ", True, "int8", None, "all"),
    "QDQ all ops per-tensor u8": ("QDQ", False, "uint8", None, "all"),
    "QOperator all ops per-tensor u8": ("QOperator", False, "uint8", None, "all"),
    "QDQ Gemm-only per-channel s8": ("QDQ", True, "int8", ("Gemm", "MatMul"), "all"),
    "QDQ Gemm-only per-tensor u8": ("QDQ", False, "uint8", ("Gemm", "MatMul"), "all"),
    "QOperator Gemm-only per-tensor u8": ("QOperator", False, "uint8", ("Gemm", "MatMul"), "all"),
    "QDQ Gemm-only per-tensor s8, extended": ("QDQ", False, "int8", ("Gemm", "MatMul"), "extended"),
    "QDQ Gemm-only per-tensor s8, basic": ("QDQ", False, "int8", ("Gemm", "MatMul"), "basic"),
}


def onnx_variant_section(paths, work: Path, images, x_test, y_test, seconds, rounds) -> dict:
    import onnx
    import onnxruntime as ort

    from edgecnn.export import ExportOptions
    from edgecnn.export.common import calibration_images
    from edgecnn.export.onnx_int8 import quantize_int8, quantize_op_types
    from edgecnn.runtime import RuntimeOptions
    from edgecnn.runtime.onnx import session_options
    from edgecnn.parity import DEFAULT_TOLERANCES

    header("5. int8 ONNX variants against float32 ONNX (ONNX Runtime, 1 thread)")
    tol = DEFAULT_TOLERANCES["int8"]
    fp32 = onnx.load(str(paths["onnx/float32"]))
    calibration = calibration_images(ExportOptions())
    sessions = {"float32": ort.InferenceSession(str(paths["onnx/float32"]), session_options(RuntimeOptions()),
                                                providers=["CPUExecutionProvider"])}
    for name, (fmt, per_channel, act, ops, level) in ONNX_VARIANTS.items():
        if ops == "rule":  # what export ships
            data = quantize_int8(fp32, calibration)[0].SerializeToString()
        else:
            data = quantize_op_types(fp32, calibration, ops, per_channel=per_channel, activations=act,
                                     quant_format=fmt).SerializeToString()
        sessions[name] = ort.InferenceSession(data, session_options(RuntimeOptions(ort_optimization=level)),
                                              providers=["CPUExecutionProvider"])
    x_all = x_test.astype(np.float32)[..., None] / np.float32(255.0)
    probs = {name: np.concatenate([s.run(None, {"image": x_all[i: i + 1000]})[0] for i in range(0, len(x_all), 1000)])
             for name, s in sessions.items()}
    passes = {}
    for name, p in probs.items():
        acc = np.mean(p.argmax(1) == y_test)
        agree = np.mean(p.argmax(1) == probs["float32"].argmax(1))
        drop = 100 * (np.mean(probs["float32"].argmax(1) == y_test) - acc)
        passes[name] = agree >= tol.min_agreement and drop <= tol.max_accuracy_drop
        print(f"  {name:40s} accuracy {acc:.2%}, agreement with float32 {agree:.2%}, "
              f"{'passes' if passes[name] else 'FAILS'} verify's int8 tolerances" if name != "float32"
              else f"  {name:40s} accuracy {acc:.2%}")
    out = {}
    x = {b: x_all[:b] for b in (1, 256)}
    calls = {(name, b): (lambda s=s, xb=x[b]: s.run(None, {"image": xb})) for name, s in sessions.items() for b in (1, 256)}
    med = measure(calls, seconds, rounds)
    for name in sessions:
        p50, bulk = med[(name, 1)] / med[("float32", 1)], med[("float32", 256)] / med[(name, 256)]
        out[name] = (p50, bulk)
        tail = FAST_TAIL[("float32", 256)] / FAST_TAIL[(name, 256)]
        print(f"  {name:40s} p50 batch 1 {med[(name, 1)]:6.1f} µs = {p50:.2f} × float32; "
              f"batch 256 {256e6 / med[(name, 256)]:9,.0f} images/s = {bulk:.2f} × float32 (fast tail {tail:.2f})")
    _profile_all_ops(fp32, calibration, work, x[256])
    fastest = max((n for n in sessions if n != "float32" and passes[n]), key=lambda n: out[n][1])
    exported = next(n for n in ONNX_VARIANTS if n.endswith("[exported]"))
    p50, bulk = out[exported]
    print(f"  fastest passing variant at batch 256: {fastest}")
    print(f"  exported: p50 {p50:.2f} × float32 (goal <= {GOALS['onnx_p50']}: {'met' if p50 <= GOALS['onnx_p50'] else 'NOT met'}), "
          f"throughput {bulk:.2f} × float32 (goal >= {GOALS['onnx_bulk']}: {'met' if bulk >= GOALS['onnx_bulk'] else 'NOT met'})")
    return out


def _profile_all_ops(fp32, calibration, work: Path, x) -> None:
    """ONNX Runtime's own profile of int8 with every op quantized at batch 256: where its time goes."""
    import json
    from collections import defaultdict

    import onnxruntime as ort

    from edgecnn.export.onnx_int8 import quantize_op_types
    from edgecnn.runtime import RuntimeOptions
    from edgecnn.runtime.onnx import session_options

    data = quantize_op_types(fp32, calibration, None, per_channel=False).SerializeToString()
    so = session_options(RuntimeOptions())
    so.enable_profiling, so.profile_file_prefix = True, str(work / "ort-profile")
    session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    for _ in range(40):
        session.run(None, {"image": x})
    events = json.loads(Path(session.end_profiling()).read_text())
    per_node: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[(e["args"]["op_name"], e["name"][: -len("_kernel_time")])].append(e["dur"])
    medians = {k: float(np.median(v)) for k, v in per_node.items()}
    total = sum(medians.values())
    top = sorted(medians.items(), key=lambda kv: -kv[1])[:3]
    print("  int8 with every op quantized, batch 256, ONNX Runtime's profile: "
          + "; ".join(f"{op} {name[:24]} {us / total:.0%}" for (op, name), us in top) + f" of {total:,.0f} µs")


# -- 6. threads -----------------------------------------------------------------------------------------
def threads_section(paths, images, seconds, rounds) -> dict:
    from edgecnn.runtime import RuntimeOptions, load

    header(f"6. threads: batch 256, 2 threads / 1 thread (this machine: {os.cpu_count()} cores; "
           f"load average {os.getloadavg()[0]:.1f} when this section started)")
    calls, x = {}, images[:256]
    for key in ("tflite/float32", "tflite/int8", "onnx/float32", "onnx/int8"):
        for t, spin in ((1, False), (2, False), (2, True)):
            if key.startswith("tflite") and spin:
                continue  # LiteRT has no spinning switch
            p = load(paths[key], RuntimeOptions(num_threads=t, ort_spinning=spin))
            xi = p.prepare(x)
            p.run(xi)
            calls[(key, t, spin)] = (lambda p=p, xi=xi: p.run(xi))
    med = measure(calls, seconds, rounds)
    out = {}
    tails = dict(FAST_TAIL)
    for key in ("tflite/float32", "tflite/int8", "onnx/float32", "onnx/int8"):
        one = med[(key, 1, False)]
        for (k, t, spin), us in med.items():
            if k == key and t == 2:
                out[(key, spin)] = one / us
                tail = tails[(key, 1, False)] / tails[(k, t, spin)]
                print(f"  {key:15s} 2 threads{' (ORT spinning on: the runtime default with 2+ threads)' if spin else ' (ORT spinning off)' if key.startswith('onnx') else ''}: {256e6 / us:9,.0f} images/s = "
                      f"{one / us:.2f} × 1 thread ({256e6 / one:,.0f}); fast tail {tail:.2f} × (goal >= {GOALS['threads']})")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("exports"), help="folder with manifest.json")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per call and section")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--skip", default="", help="comma-separated section numbers to skip")
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    from edgecnn.data import load_mnist
    from edgecnn.env import library_versions, machine_info
    from edgecnn.runtime import load

    paths = need(args.dir, "tflite/float32", "tflite/int8", "onnx/float32", "onnx/int8")
    mnist = load_mnist()
    images = mnist.x_test
    print(f"{machine_info()}; " + ", ".join(f"{k} {v}" for k, v in library_versions().items()))
    print(f"models from {args.dir}; {args.seconds} s of timed calls per call and section in {args.rounds} interleaved rounds; "
          f"load average {os.getloadavg()[0]:.1f} at the start (other work on the machine)")
    threads = (1, 2) if (os.cpu_count() or 1) >= 2 else (1,)
    ceilings = ceiling_section(threads) if "1" not in skip else {}
    counts = macs_section(paths)
    if "3" not in skip and ceilings:
        shares_section({k: load(p) for k, p in paths.items()}, counts, ceilings, images, args.seconds, args.rounds)
    with tempfile.TemporaryDirectory(prefix="edgecnn-speed-") as tmp:
        if "4" not in skip:
            tflite_tail_section(paths, Path(tmp), images, mnist.x_test, mnist.y_test, args.seconds, args.rounds)
            tflite_per_op_section(paths, Path(tmp), args.seconds, args.rounds)
        if "5" not in skip:
            onnx_variant_section(paths, Path(tmp), images, mnist.x_test, mnist.y_test, args.seconds, args.rounds)
    if "6" not in skip and len(threads) > 1:
        threads_section(paths, images, args.seconds, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
