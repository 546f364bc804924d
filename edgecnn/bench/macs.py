"""Multiply-accumulates per image, counted from the graph a runtime actually loads.

Only the ops that do a dot product are counted (convolutions, fully-connected layers,
matrix products, in float or in any quantized form); pooling, activations, softmax and
reshapes are not MACs. A convolution costs, per output element, one MAC per weight that
feeds it (kernel height x kernel width x input channels per group); a fully-connected
layer one MAC per weight. Counts are per image: shapes are read at batch 1.

For the reference CNN this gives conv 26x26x6 x 3x3x1 = 36,504, conv 12x12x16 x 2x2x6 =
55,296, dense 576x256 = 147,456 and dense 256x10 = 2,560: 241,816 MACs per image.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# TFLite builtin op -> how its MACs per output element follow from the weight shape.
_TFLITE_WEIGHT_INDEX = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "FULLY_CONNECTED": 1, "BATCH_MATMUL": 1,
                        "CONV_3D": 1, "TRANSPOSE_CONV": 1}


def _result(layers: list[dict[str, Any]], source: str) -> dict[str, Any]:
    return {"macs_per_image": int(sum(layer["macs"] for layer in layers)), "source": source, "layers": layers}


# -- TFLite ------------------------------------------------------------------------------------
def count_tflite(model: bytes | str | Path) -> dict[str, Any]:
    """MACs per image of a ``.tflite`` file (or its bytes), from its ops and tensor shapes at batch 1."""
    from edgecnn.runtime.tflite import _interpreter_class

    data = model if isinstance(model, (bytes, bytearray)) else Path(model).read_bytes()
    interpreter_cls, resolver = _interpreter_class()
    # Reference kernels, no delegate: the node list is the file's own ops, shapes propagated by LiteRT.
    interpreter = interpreter_cls(model_content=bytes(data),
                                  experimental_op_resolver_type=resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    inputs = interpreter.get_input_details()
    for detail in inputs:  # batch 1 (the files are written with a dynamic batch of size 1 already)
        if len(detail["shape"]) and detail["shape"][0] != 1:
            interpreter.resize_tensor_input(detail["index"], [1, *detail["shape"][1:]])
    interpreter.allocate_tensors()
    shapes = {t["index"]: [int(d) for d in t["shape"]] for t in interpreter.get_tensor_details()}
    layers = []
    for op in interpreter._get_ops_details():  # private but stable since TF 2.5 (bench.graph uses it too)
        name = op["op_name"]
        if name not in _TFLITE_WEIGHT_INDEX:
            continue
        weight = shapes.get(int(op["inputs"][_TFLITE_WEIGHT_INDEX[name]]), [])
        if name == "TRANSPOSE_CONV":  # inputs: output_shape, weights [Cout, kh, kw, Cin], input
            weight = shapes.get(int(op["inputs"][1]), [])
            source = shapes.get(int(op["inputs"][2]), [])
            macs = math.prod(source) * math.prod(weight[:-1])
        else:
            out = shapes.get(int(op["outputs"][0]), [])
            if name == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, Cout]: one input channel per output
                per_output = math.prod(weight[1:3])
            elif name == "BATCH_MATMUL":  # the shared dimension: the second operand's second-to-last
                adj = bool((op.get("builtin_options") or {}).get("adj_y", False))
                per_output = weight[-1] if adj else weight[-2]
            else:  # CONV_2D [Cout, kh, kw, Cin], CONV_3D, FULLY_CONNECTED [units, inputs]
                per_output = math.prod(weight[1:]) if name != "CONV_3D" else math.prod(weight[:-1])
            macs = math.prod(out) * per_output
        layers.append({"op": name, "index": int(op["index"]), "macs": int(macs)})
    return _result(layers, "tflite")


# -- ONNX --------------------------------------------------------------------------------------
# op type -> (index of the data input, index of the weight input); quantized forms included.
_ONNX_OPS = {
    "Conv": (0, 1), "ConvInteger": (0, 1), "QLinearConv": (0, 3), "ConvTranspose": (0, 1),
    "Gemm": (0, 1), "MatMul": (0, 1), "MatMulInteger": (0, 1), "QLinearMatMul": (0, 3),
    "FusedConv": (0, 1), "NhwcConv": (0, 1), "FusedMatMul": (0, 1), "QGemm": (0, 3),
}


def count_onnx(model: Any) -> dict[str, Any]:
    """MACs per image of an ONNX model (a path or a ModelProto), from shape inference at batch 1."""
    import onnx
    from onnx import shape_inference

    proto = onnx.load(str(model), load_external_data=False) if isinstance(model, (str, Path)) else model
    proto = _batch_one(proto)
    inferred = shape_inference.infer_shapes(proto)
    graph = inferred.graph
    shapes: dict[str, list[int]] = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    layers = []
    for node in graph.node:
        if node.op_type not in _ONNX_OPS:
            continue
        _, w_index = _ONNX_OPS[node.op_type]
        weight = shapes.get(node.input[w_index]) if len(node.input) > w_index else None
        out = shapes.get(node.output[0])
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if out is None and weight and node.op_type == "QGemm":  # a com.microsoft op: ONNX infers no shape
            out = [1, weight[0] if attrs.get("transB", 0) else weight[1]]
        if not weight or out is None:
            raise ValueError(f"{node.name or node.op_type}: shape unknown after shape inference")
        if node.op_type == "ConvTranspose":  # weight [Cin, Cout/g, kh, kw]: every input element meets every tap
            source = shapes.get(node.input[0]) or []
            macs = math.prod(source) * math.prod(weight[1:])
        elif "Conv" in node.op_type:  # weight [Cout, Cin/g, kh, kw]
            macs = math.prod(out) * math.prod(weight[1:])
        elif node.op_type in ("Gemm", "QGemm"):
            k = weight[1] if attrs.get("transB", 0) else weight[0]
            macs = math.prod(out) * k
        else:  # MatMul family: the shared dimension is the weight's second-to-last
            macs = math.prod(out) * (weight[-2] if len(weight) >= 2 else weight[0])
        layers.append({"op": node.op_type, "name": node.name, "macs": int(macs)})
    return _result(layers, "onnx")


def _batch_one(proto):
    """A copy of ``proto`` whose graph inputs have batch 1 (the first dimension, when symbolic)."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    initializers = {i.name for i in copy.graph.initializer}
    for info in copy.graph.input:
        if info.name in initializers:
            continue
        dims = info.type.tensor_type.shape.dim
        if len(dims) and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    for info in copy.graph.output:  # leave outputs to inference: a stale symbolic dim would clash
        for dim in info.type.tensor_type.shape.dim:
            if not dim.HasField("dim_value"):
                dim.Clear()
    del copy.graph.value_info[:]
    return copy


# -- Keras -------------------------------------------------------------------------------------
def count_keras(model) -> dict[str, Any]:
    """MACs per image of a Keras model, from its layers' output shapes (Conv, DepthwiseConv, Dense)."""
    import keras

    layers = []
    for layer in _flat_layers(model):
        try:
            out = [int(d) for d in layer.output.shape[1:]]
        except (AttributeError, ValueError, TypeError):
            continue
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            macs = math.prod(out) * kh * kw
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)) and not isinstance(
                layer, (keras.layers.Conv2DTranspose,)):
            macs = math.prod(out) * math.prod(layer.kernel.shape[:-1])
        elif isinstance(layer, keras.layers.Dense):
            macs = math.prod(out) * int(layer.kernel.shape[0])
        else:
            continue
        layers.append({"op": type(layer).__name__, "name": layer.name, "macs": int(macs)})
    return _result(layers, "keras")


def _flat_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _flat_layers(layer)
        else:
            yield layer
