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
    """image (N, 4, 12, 12) -> Conv 6@3x3 -> [Relu, MaxPool 2x2 | MaxPool, Relu] -> Flatten -> Gemm 3 -> Softmax.

    The convolution's bias pulls most outputs below zero, so a Relu that goes missing changes the
    class of most images. Four input channels: on three or fewer the rule keeps the convolution float32
    (a stem), and these graphs are about an int8 one."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (6, 4, 3, 3)).astype(np.float32)
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
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 4, 12, 12])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _top1(proto, x):
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})[0].argmax(1)


@pytest.mark.parametrize("relu_first", [True, False])
def test_a_relu_next_to_a_max_pool_survives_quantization(relu_first):
    model = _conv_pool_relu(relu_first)
    x = np.random.default_rng(1).uniform(-1, 1, (400, 4, 12, 12)).astype(np.float32)
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


@pytest.mark.parametrize("method, images", [("MinMax", 37), ("Entropy", 12), ("Percentile", 12)])
def test_calibration_gives_onnx_runtimes_own_file(method, images, tmp_path):
    """``calibrate`` (ORT's calibrator without its memory arena, MinMax batches run 8 images at a time)
    and the ranges handed to ``quantize_static`` as its cache give the file ONNX Runtime's own
    calibration gives, byte for byte. MinMax: 37 images make batches of 16, 16 and 5 (parts of 8, 8 |
    8, 8 | 5), so a part's range that were not merged into its batch's would change the moving
    average. The histogram methods on fewer images than one chunk (HISTOGRAM_CHUNK)."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static

    model = onnx_int8.named(_conv_pool_relu(relu_first=True))
    rng = np.random.default_rng(2)
    x = (rng.uniform(-1, 1, (images, 4, 12, 12)) * rng.uniform(0.2, 3.0, (images, 1, 1, 1))).astype(np.float32)
    ops = onnx_int8.calibrated_op_types(model)
    step = onnx_int8.CALIBRATION_BATCH if method == "MinMax" else 1

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(x[i: i + step] for i in range(0, len(x), step))

        def get_next(self):
            batch = next(self._it, None)
            return None if batch is None else {"image": batch}

    src, dst = tmp_path / "fp32.onnx", tmp_path / "int8.onnx"
    onnx.save(model, src)
    extra = {"CalibMovingAverage": True, "CalibMovingAverageConstant": 0.1} if method == "MinMax" else {}
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                    reduce_range=True, op_types_to_quantize=ops, nodes_to_exclude=["softmax"],
                    calibrate_method=getattr(CalibrationMethod, method), extra_options=extra)
    ours, _ = onnx_int8.quantize_int8(model, x, calibrate_method=method)
    assert ours.SerializeToString() == onnx.load(str(dst)).SerializeToString()
    ranges = onnx_int8.calibrate(model, x, ops, method)
    again, _ = onnx_int8.quantize_int8(model, None, calibrate_method=method, ranges=ranges)
    assert again.SerializeToString() == ours.SerializeToString()


def test_histogram_calibration_adds_up_its_chunks():
    """Percentile over 40 images in chunks of 16: the first chunk's images are 10x wider than the rest,
    so ranges that forgot it (a collector started again per chunk) would be ~10x narrower; they are
    within a few percent of ORT's calibration over all 40 at once."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    model = onnx_int8.named(_conv_pool_relu(relu_first=True))
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (40, 4, 12, 12)).astype(np.float32)
    x[:onnx_int8.HISTOGRAM_CHUNK] *= 10
    ops = onnx_int8.calibrated_op_types(model)
    chunked = onnx_int8.calibrate(model, x, ops, "Percentile")
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as work:
        onnx.save(model, Path(work) / "m.onnx")
        calibrator = create_calibrator(Path(work) / "m.onnx", ops, augmented_model_path=str(Path(work) / "a.onnx"),
                                       calibrate_method=CalibrationMethod.Percentile)

        class Reader:
            def __init__(self):
                self._it = iter(x[i: i + 1] for i in range(len(x)))

            def get_next(self):
                batch = next(self._it, None)
                return None if batch is None else {"image": batch}

        calibrator.collect_data(Reader())
        whole = calibrator.compute_data()
    widths = {name: float(np.ptp(np.asarray(whole[name].range_value))) for name in whole.keys()}
    assert widths and min(widths.values()) > 0
    for name, width in widths.items():
        assert np.ptp(np.asarray(chunked[name].range_value)) == pytest.approx(width, rel=0.05), name
