"""The int8 ONNX graph rules on hand-built graphs (fast, no TensorFlow): the classic Keras block
Conv2D(relu) -> MaxPooling2D must keep its Relu through ONNX Runtime's quantizer, and a MaxPool that
runs on uint8 counts as int8 in the file's record."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgecnn.export import onnx_int8  # noqa: E402
from edgecnn.export.onnx_graph import clean_graph  # noqa: E402


def _conv_pool_relu(relu_first: bool):
    """image (N, 3, 12, 12) -> Conv 6@3x3 -> [Relu, MaxPool 2x2 | MaxPool, Relu] -> Flatten -> Gemm 3 -> Softmax.

    The convolution's bias pulls most outputs below zero, so a Relu that goes missing changes the
    class of most images."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (6, 3, 3, 3)).astype(np.float32)
    b = np.full(6, -0.6, np.float32)
    g = rng.normal(0, 0.3, (3, 6 * 5 * 5)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"), numpy_helper.from_array(g, "g"),
             numpy_helper.from_array(np.zeros(3, np.float32), "gb")]
    conv = helper.make_node("Conv", ["image", "w", "b"], ["c"], name="conv")
    if relu_first:
        act = [helper.make_node("Relu", ["c"], ["r"], name="relu"),
               helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2])]
        pooled = "p"
    else:
        act = [helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
               helper.make_node("Relu", ["p"], ["r"], name="relu")]
        pooled = "r"
    tail = [helper.make_node("Flatten", [pooled], ["f"], name="flatten"),
            helper.make_node("Gemm", ["f", "g", "gb"], ["logits"], name="dense", transB=1),
            helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax")]
    graph = helper.make_graph([conv, *act, *tail], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 12, 12])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _top1(proto, x):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0].argmax(1)


@pytest.mark.parametrize("relu_first", [True, False])
def test_a_relu_next_to_a_max_pool_survives_quantization(relu_first):
    model = _conv_pool_relu(relu_first)
    x = np.random.default_rng(1).uniform(-1, 1, (400, 3, 12, 12)).astype(np.float32)
    int8, record = onnx_int8.quantize_int8(model, x[:200])
    agreement = float((_top1(int8, x[200:]) == _top1(model, x[200:])).mean())
    # ONNX Runtime drops a Relu that follows a MaxPool without clipping the pool's range: without
    # the guard (onnx_int8.unfused_activations) the second graph agrees on 79 % of the images.
    assert agreement >= 0.97, agreement
    assert onnx_int8.unfused_activations(model) == ([] if relu_first else ["relu"])
    # The MaxPool runs on uint8 either way: every layer is int8, and the record says so.
    assert (record.label, dict(record.int8_op_types)) == ("int8", {"Conv": 1, "Gemm": 1, "MaxPool": 1})


def test_the_float_graph_keeps_relu_before_the_pool_and_pools_before_tanh():
    model = clean_graph(_conv_pool_relu(relu_first=True))
    assert [n.op_type for n in model.graph.node][:3] == ["Conv", "Relu", "MaxPool"]  # ORT fuses Conv + Relu
    tanh = _conv_pool_relu(relu_first=True)
    next(n for n in tanh.graph.node if n.op_type == "Relu").op_type = "Tanh"
    assert [n.op_type for n in clean_graph(tanh).graph.node][:3] == ["Conv", "MaxPool", "Tanh"]  # a quarter of the tanh
