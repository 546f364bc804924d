"""ONNX exporters: float32 via tf2onnx.from_function, int8 via ONNX Runtime static QDQ."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from edgecnn import fileio
from edgecnn.artifact import Artifact
from edgecnn.export.common import calibration_images, make_artifact
from edgecnn.model import INPUT_NAME, OUTPUT_NAME


def _to_onnx(model, options):
    import tensorflow as tf
    import tf2onnx

    # tf2onnx.convert.from_keras fails on Keras 3 models; a tf.function with an explicit
    # signature converts cleanly and lets us name the tensors.
    spec = (tf.TensorSpec((None, 28, 28, 1), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec, autograph=False)
    def forward(image):
        return {OUTPUT_NAME: model(image, training=False)}

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=options.opset)
    return proto


def export_float32(model, out_dir: Path, *, filename: str, options) -> Artifact:
    started = time.perf_counter()
    proto = _to_onnx(model, options)
    path = fileio.write_bytes(Path(out_dir) / filename, proto.SerializeToString())
    return make_artifact(path, "onnx", "float32", started, opset=options.opset)


def export_int8(model, out_dir: Path, *, filename: str, options) -> Artifact:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    started = time.perf_counter()
    images = calibration_images(options)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(images[i: i + 1] for i in range(len(images)))

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {INPUT_NAME: x}

    target = Path(out_dir) / filename
    # The float input of the quantizer is scratch: it lives in a temporary folder, never beside the artifacts.
    with tempfile.TemporaryDirectory(prefix="edgecnn-") as scratch, fileio.atomic_path(target) as tmp:
        fp32 = Path(scratch) / "fp32.onnx"
        fp32.write_bytes(_to_onnx(model, options).SerializeToString())
        quantize_static(
            str(fp32), str(tmp), Reader(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=False,
        )
    return make_artifact(
        target, "onnx", "int8", started, opset=options.opset,
        calibration={"samples": options.calibration_samples, "seed": options.seed},
    )
