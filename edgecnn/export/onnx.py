"""ONNX exporters: float32 via tf2onnx.from_function, int8 via ONNX Runtime static QDQ.

int8 quantizes the matrix products (Gemm/MatMul) and leaves convolutions, tanh, pooling and
softmax in float32 (``INT8_OP_TYPES``): on ONNX Runtime's CPU kernels that is the variant
measured fastest (benchmarks/speed.py, "int8 ONNX variants"), faster than float32 at batch 1
and 256, where quantizing every op was 1.7x slower at batch 1 and 2x slower at batch 256
(QLinearConv on a 1-channel input alone took 80 % of the time).

tf2onnx keeps the input NHWC and converts the convolutions to NCHW, so Keras' Flatten
(which flattens NHWC order) arrives as Transpose(NCHW->NHWC) + Reshape before the first
Dense. ``clean_graph`` folds that Transpose into the Dense weights (permuting their rows
once at export instead of the activations at every call), turns MatMul + Add into Gemm,
pools before the (monotonic) tanh and drops what is left unused, so the graph is the
network and nothing else.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.export.common import (
    calibration_images, calibration_record, description, embedded_metadata, forward_function,
    metadata_json, write_artifact,
)
from edgecnn.runtime.base import METADATA_KEY

log = logging.getLogger(__name__)

NCHW_TO_NHWC = [0, 2, 3, 1]


def to_onnx(model, opset: int, spec=None):
    """tf2onnx's conversion of ``forward_function`` (constant Flatten, MaxPool before tanh)."""
    import tf2onnx

    # tf2onnx.convert.from_keras fails on Keras 3 models; a tf.function with an explicit
    # signature converts cleanly and names the tensors.
    forward = forward_function(model, spec)
    # tf2onnx logs each op it cannot convert as ERROR; edgecnn says so in its own one line.
    quiet = logging.getLogger("tf2onnx")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=forward.input_signature, opset=opset)
    except Exception as exc:
        from edgecnn.export.unsupported import onnx_refusal

        refusal = onnx_refusal(model, exc, opset)
        if refusal is None:
            raise
        raise refusal from exc
    finally:
        quiet.setLevel(level)
    _inline_captured_constants(proto, forward)
    from edgecnn.export.unsupported import check_onnx_ops

    check_onnx_ops(model, proto, opset)
    return proto


def _inline_captured_constants(proto, forward) -> int:
    """Put constants the traced function captured from eager tensors back into the graph.

    tf2onnx freezes variables, but a tensor captured by value (a Normalization layer's mean and
    variance, for one) stays a placeholder and becomes an extra graph input: the file would then
    ask the app for three inputs. Each such input becomes an initializer holding the captured value.
    """
    from onnx import numpy_helper

    concrete = forward.get_concrete_function()
    values = {internal.name: external for external, internal
              in zip(concrete.captured_inputs, concrete.graph.internal_captures)
              if external.dtype.name != "resource"}
    kept, inlined = [], 0
    for graph_input in proto.graph.input:
        if graph_input.name in values:
            proto.graph.initializer.append(numpy_helper.from_array(values[graph_input.name].numpy(), graph_input.name))
            inlined += 1
        else:
            kept.append(graph_input)
    if inlined:
        del proto.graph.input[:]
        proto.graph.input.extend(kept)
    return inlined


def _initializers(graph) -> dict:
    return {init.name: init for init in graph.initializer}


def _consumers(graph, name: str) -> list:
    return [node for node in graph.node if name in node.input]


def _fold_flatten_transpose(model) -> int:
    """Transpose(0,2,3,1) -> Reshape([-1, K]) -> MatMul(W): flatten NCHW directly, permute W."""
    from onnx import numpy_helper, shape_inference

    graph = model.graph
    shapes = {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in shape_inference.infer_shapes(model).graph.value_info
    }
    inits = _initializers(graph)
    folded = 0
    for transpose in [n for n in graph.node if n.op_type == "Transpose"]:
        perm = next((list(a.ints) for a in transpose.attribute if a.name == "perm"), None)
        nchw = shapes.get(transpose.input[0])
        users = _consumers(graph, transpose.output[0])
        if perm != NCHW_TO_NHWC or not nchw or len(nchw) != 4 or len(users) != 1 or users[0].op_type != "Reshape":
            continue
        reshape = users[0]
        target = inits.get(reshape.input[1]) if len(reshape.input) > 1 else None
        if target is None or len(numpy_helper.to_array(target).reshape(-1)) != 2:
            continue  # only a flatten to [N, K] (a Flatten layer) may read NCHW order instead
        matmuls = _consumers(graph, reshape.output[0])
        if len(matmuls) != 1 or matmuls[0].op_type != "MatMul" or matmuls[0].input[1] not in inits:
            continue
        _, c, h, w = nchw
        weight = numpy_helper.to_array(inits[matmuls[0].input[1]])
        if weight.shape[0] != c * h * w:
            continue
        # Row index of W is NHWC order (h, w, c); the NCHW flatten feeds rows in (c, h, w) order.
        permuted = weight.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
        name = matmuls[0].input[1]
        inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(permuted), name))
        reshape.input[0] = transpose.input[0]
        graph.node.remove(transpose)
        folded += 1
    return folded


def _matmul_add_to_gemm(model) -> int:
    """MatMul(x, W) + Add(b) with 2-D x, constant W and 1-D b -> one Gemm node."""
    from onnx import helper, shape_inference

    graph = model.graph
    inits = _initializers(graph)
    inferred = shape_inference.infer_shapes(model).graph
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in [*inferred.value_info, *inferred.input]}
    fused = 0
    for matmul in [n for n in graph.node if n.op_type == "MatMul"]:
        users = _consumers(graph, matmul.output[0])
        if matmul.input[1] not in inits or len(users) != 1 or users[0].op_type != "Add":
            continue
        if ranks.get(matmul.input[0]) != 2 or len(inits[matmul.input[1]].dims) != 2:
            continue  # Gemm takes matrices only (a Dense on a 4-D tensor stays MatMul + Add)
        add = users[0]
        bias = add.input[1] if add.input[0] == matmul.output[0] else add.input[0]
        if bias not in inits or len(inits[bias].dims) != 1:
            continue
        gemm = helper.make_node("Gemm", [matmul.input[0], matmul.input[1], bias], [add.output[0]], name=matmul.name)
        index = list(graph.node).index(matmul)
        graph.node.remove(matmul)
        graph.node.remove(add)
        graph.node.insert(index, gemm)
        fused += 1
    return fused


MONOTONIC = ("Tanh", "Relu", "Sigmoid")  # elementwise, non-decreasing: max(f(a), f(b)) == f(max(a, b))


def _pool_before_activation(model) -> int:
    """Activation -> MaxPool becomes MaxPool -> activation: same values, a quarter of the tanh work.

    Measured (benchmarks/onnx_choice.py): ~8 % more batch-256 throughput in ONNX Runtime,
    batch-1 unchanged. Only for ONNX: in int8 TFLite it would move the quantization points.
    """
    graph = model.graph
    nodes = list(graph.node)
    outputs = {o.name for o in graph.output}
    swapped = 0
    for act in list(nodes):
        users = _consumers(graph, act.output[0])
        if (act.op_type not in MONOTONIC or len(users) != 1 or users[0].op_type != "MaxPool"
                or len(users[0].output) != 1):
            continue
        if act.output[0] in outputs:
            continue
        pool = users[0]
        pooled = act.output[0] + "_pooled"
        pool.input[0], act.input[0] = act.input[0], pooled
        act.output[0], pool.output[0] = pool.output[0], pooled
        i, j = nodes.index(act), nodes.index(pool)
        nodes[i], nodes[j] = pool, act  # the pool now runs first; the activation takes its place
        swapped += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return swapped


def _drop_unused(model) -> None:
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)
    domains = {node.domain or "" for node in graph.node}
    for opset in [o for o in model.opset_import if (o.domain or "") not in domains and o.domain != ""]:
        model.opset_import.remove(opset)


_COUNTER = re.compile(r"__(\d+)")


def _renumber_names(model) -> None:
    """tf2onnx suffixes the names it invents with a process-wide counter (``Reshape__23``), so the
    bytes depended on what ran before in the process; renumber them 1, 2, … in graph order.
    With this, the same .keras and options give byte-identical ONNX files."""
    graph = model.graph
    numbers: dict[str, str] = {}

    def renamed(name: str) -> str:
        return _COUNTER.sub(lambda m: "__" + numbers.setdefault(m.group(1), str(len(numbers) + 1)), name)

    for node in graph.node:
        node.name = renamed(node.name)
        node.input[:] = [renamed(n) for n in node.input]
        node.output[:] = [renamed(n) for n in node.output]
    for init in graph.initializer:
        init.name = renamed(init.name)
    for info in graph.value_info:
        info.name = renamed(info.name)
    for info in [*graph.input, *graph.output, *graph.value_info]:  # the dynamic batch: "unk__49" -> "batch"
        for dim in info.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                dim.dim_param = "batch"
    # "converted from b'__inference_forward_1658'": TF's function counter, same story
    graph.doc_string = "tf2onnx conversion of the Keras model, cleaned by edgecnn.export.onnx"


def clean_graph(model, pool_first: bool = True):
    """Fold the Flatten transpose into the Dense weights, fuse Gemm, pool before tanh, drop leftovers (in place)."""
    import onnx

    folded = _fold_flatten_transpose(model)
    fused = _matmul_add_to_gemm(model)
    swapped = _pool_before_activation(model) if pool_first else 0
    _drop_unused(model)
    _renumber_names(model)
    onnx.checker.check_model(model)
    log.info("ONNX graph: folded %d transpose(s), fused %d Gemm(s), pooled before %d activation(s)",
             folded, fused, swapped)
    return model


def attach_metadata(model, meta: dict) -> bytes:
    """metadata_props: "edgecnn" = the JSON, plus a few plain keys; doc_string = description."""
    from onnx import helper

    plain = {
        METADATA_KEY: metadata_json(meta),
        "labels": ",".join(meta["labels"]),
        "preprocessing": meta["preprocessing"]["formula"] + " (uint8 -> float32, NHWC)",
        "precision": meta["precision"],
        "source_sha256": meta["source_sha256"],
        "edgecnn_version": meta["edgecnn_version"],
    }
    del model.metadata_props[:]
    helper.set_model_props(model, plain)
    model.doc_string = description(meta)
    model.producer_name, model.producer_version = "edgecnn", meta["edgecnn_version"]
    return model.SerializeToString()


def float32_model(model, options):
    """The cleaned float32 ONNX model (a ModelProto)."""
    return clean_graph(to_onnx(model, options.opset, options.spec))


def export_float32(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """float32 ONNX, cleaned graph, NHWC input ``image`` and output ``probabilities``."""
    started = time.perf_counter()
    meta = embedded_metadata("onnx", "float32", options, opset=options.opset)
    data = attach_metadata(float32_model(model, options), meta)
    return write_artifact(data, Path(out_dir) / filename, "onnx", "float32", started, spec=options.spec,
                          opset=options.opset)


# The op types int8 ONNX quantizes; the rest stay float32 (see the module docstring).
INT8_OP_TYPES = ("Gemm", "MatMul")
QUANT_FORMATS = ("QDQ", "QOperator")


def quantized_op_types(proto, op_types: tuple[str, ...] | None = INT8_OP_TYPES) -> list[str] | None:
    """The op types to quantize in ``proto``: ``op_types`` present in the graph; None (= every op
    ONNX Runtime can quantize) when asked for, or when the graph has none of them (an int8 file
    must quantize something)."""
    if op_types is None:
        return None
    present = [t for t in op_types if any(node.op_type == t for node in proto.graph.node)]
    return present or None


def quantize_qdq(fp32_proto, images: np.ndarray, work_dir: Path, per_channel: bool, activations: str = "int8",
                 op_types: tuple[str, ...] | None = INT8_OP_TYPES, quant_format: str = "QDQ",
                 input_name: str | None = None):
    """Static quantization (int8 weights; int8, or for comparison uint8, activations) with ONNX Runtime's
    tools, of the ``op_types`` present (None: every op it can quantize), as QDQ or QOperator."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    name = input_name or fp32_proto.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(images[i: i + 1] for i in range(len(images)))

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {name: x}

    src, dst = Path(work_dir) / "fp32.onnx", Path(work_dir) / "int8.onnx"
    src.write_bytes(fp32_proto.SerializeToString())
    # quantize_static warns on the root logger to run its shape pre-processing; the cleaned
    # graph already has static shapes, so that advice is noise in the CLI's output.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        quantize_static(
            str(src), str(dst), Reader(), quant_format=getattr(QuantFormat, quant_format),
            activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8, per_channel=per_channel,
            op_types_to_quantize=quantized_op_types(fp32_proto, op_types),
        )
    finally:
        root.setLevel(level)
    return onnx.load(str(dst))


def export_int8(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """int8 QDQ ONNX: float32 I/O; the matrix products (``INT8_OP_TYPES``) run on int8 weights and
    activations, calibrated on training images; the other ops stay float32 (the metadata says which)."""
    import tempfile

    started = time.perf_counter()
    fp32 = float32_model(model, options)
    ops = quantized_op_types(fp32)
    extra = {"opset": options.opset, "calibration": calibration_record(options),
             "per_channel": options.onnx_per_channel,
             "quantization": {"format": "QDQ", "activations": "int8", "weights": "int8",
                              "op_types": ops if ops is not None else "all"}}
    meta = embedded_metadata("onnx", "int8", options, **extra)
    # quantize_static works on files; its scratch files live in a private folder, never in out_dir.
    with tempfile.TemporaryDirectory(prefix="edgecnn-onnx-") as work:
        proto = quantize_qdq(fp32, calibration_images(options), Path(work), options.onnx_per_channel)
    data = attach_metadata(proto, meta)
    return write_artifact(data, Path(out_dir) / filename, "onnx", "int8", started, spec=options.spec, **extra)
