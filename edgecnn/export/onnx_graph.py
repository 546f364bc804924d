"""The ONNX graph edgecnn ships: tf2onnx's output rewritten into the network and nothing else.

tf2onnx keeps the input NHWC and converts the convolutions to NCHW, so Keras' Flatten
(which flattens NHWC order) arrives as Transpose(NCHW->NHWC) + Reshape before the first
Dense. ``clean_graph`` folds that Transpose into the Dense weights (permuting their rows
once at export instead of the activations at every call), turns MatMul + Add into Gemm,
folds the BatchNormalization tf2onnx leaves after depthwise convolutions (Mul + Add) and
Keras' ZeroPadding2D into the convolutions, pools before the (monotonic) tanh and drops
what is left unused. Every rewrite gives the same numbers (to float32 rounding).
"""

from __future__ import annotations

import logging
import re

import numpy as np

log = logging.getLogger(__name__)

NCHW_TO_NHWC = [0, 2, 3, 1]


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


def _fold_scale_shift(model) -> int:
    """Conv(W, B) -> Mul(s) -> Add(b) with per-channel constants -> Conv(W*s, B*s + b).

    tf2onnx folds BatchNormalization into a regular convolution but leaves it after a depthwise
    one as Mul + Add (17 pairs in MobileNetV2): two extra passes over each depthwise output in
    float32, and in int8 two ops ONNX Runtime would run between quantize/dequantize steps.
    """
    from onnx import numpy_helper

    graph = model.graph
    inits = _initializers(graph)
    folded = 0
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        mul = _only_user(graph, conv.output[0], "Mul")
        add = _only_user(graph, mul.output[0], "Add") if mul is not None else None
        if conv.input[1] not in inits or mul is None or add is None or (len(conv.input) > 2 and conv.input[2]
                                                                         and conv.input[2] not in inits):
            continue
        weight = numpy_helper.to_array(inits[conv.input[1]])
        scale = _channel_constant(inits, mul, conv.output[0], weight.shape[0])
        shift = _channel_constant(inits, add, mul.output[0], weight.shape[0])
        if scale is None or shift is None:
            continue
        has_bias = len(conv.input) > 2 and conv.input[2] in inits
        bias = numpy_helper.to_array(inits[conv.input[2]]) if has_bias else np.zeros(weight.shape[0], weight.dtype)
        # New initializers (the old ones are dropped when unused): a weight may be shared.
        w_name, b_name = conv.name + "_folded_weight", conv.name + "_folded_bias"
        per_channel = scale.reshape(-1, *[1] * (weight.ndim - 1))
        graph.initializer.extend([
            numpy_helper.from_array((weight * per_channel).astype(weight.dtype), w_name),
            numpy_helper.from_array((bias * scale + shift).astype(weight.dtype), b_name),
        ])
        conv.input[1] = w_name
        del conv.input[2:]
        conv.input.append(b_name)
        conv.output[0] = add.output[0]
        graph.node.remove(mul)
        graph.node.remove(add)
        folded += 1
    return folded


def _only_user(graph, name: str, op_type: str):
    users = _consumers(graph, name)
    return users[0] if len(users) == 1 and users[0].op_type == op_type and name not in _graph_outputs(graph) else None


def _graph_outputs(graph) -> set[str]:
    return {o.name for o in graph.output}


def _channel_constant(inits, node, data: str, channels: int):
    """The constant operand of an elementwise ``node`` as a per-channel vector of NCHW, else None."""
    from onnx import numpy_helper

    if len(node.input) != 2 or data not in node.input:
        return None
    other = node.input[1] if node.input[0] == data else node.input[0]
    if other not in inits:
        return None
    value = numpy_helper.to_array(inits[other])
    if value.size == 1:
        return np.full(channels, value.reshape(()), value.dtype)
    if value.ndim in (3, 4) and value.shape[-3:] == (channels, 1, 1) and value.size == channels:
        return value.reshape(channels)
    return None


def _fold_pad_into_conv(model) -> int:
    """Pad(zeros, spatial only) -> Conv becomes the Conv's own ``pads`` (Keras' ZeroPadding2D before
    a stride-2 depthwise convolution in MobileNetV2): one copy of the activations less per block."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = _initializers(graph)
    folded = 0
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        conv = _only_user(graph, pad.output[0], "Conv")
        mode = next((a.s.decode() for a in pad.attribute if a.name == "mode"), "constant")
        if conv is None or mode != "constant" or len(pad.input) < 2 or pad.input[1] not in inits:
            continue
        if len(pad.input) > 2 and pad.input[2] and (pad.input[2] not in inits
                                                    or numpy_helper.to_array(inits[pad.input[2]]).any()):
            continue  # padding with a value other than zero
        if any(a.name == "auto_pad" and a.s not in (b"", b"NOTSET") for a in conv.attribute):
            continue
        pads = numpy_helper.to_array(inits[pad.input[1]]).reshape(-1).tolist()
        if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5] or min(pads) < 0:
            continue  # batch or channel padding, or cropping
        old = next((list(a.ints) for a in conv.attribute if a.name == "pads"), [0, 0, 0, 0])
        new = [old[0] + pads[2], old[1] + pads[3], old[2] + pads[6], old[3] + pads[7]]
        for attr in [a for a in conv.attribute if a.name == "pads"]:
            conv.attribute.remove(attr)
        conv.attribute.append(helper.make_attribute("pads", new))
        conv.input[0] = pad.input[0]
        graph.node.remove(pad)
        folded += 1
    return folded


# Elementwise, non-decreasing: max(f(a), f(b)) == f(max(a, b)). Not Relu: it costs next to nothing,
# ORT fuses Conv -> Relu (float32 and int8) only when the Relu follows the convolution, and ORT's
# int8 quantizer drops a Relu that follows a MaxPool without clipping the pool's range (see
# onnx_int8.unfused_activations): a Conv(relu) -> MaxPool Keras model agreed with Keras on 94 %.
MONOTONIC = ("Tanh", "Sigmoid")


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
    scaled = _fold_scale_shift(model)
    padded = _fold_pad_into_conv(model)
    swapped = _pool_before_activation(model) if pool_first else 0
    _drop_unused(model)
    _renumber_names(model)
    onnx.checker.check_model(model)
    log.info("ONNX graph: folded %d transpose(s), fused %d Gemm(s), %d scale/shift(s) and %d pad(s) into "
             "convolutions, pooled before %d activation(s)", folded, fused, scaled, padded, swapped)
    return model
