"""TFLite exporters: float32 and full-integer int8 via TFLiteConverter.from_keras_model."""

from __future__ import annotations

import time
from pathlib import Path

from edgecnn import fileio
from edgecnn.artifact import Artifact
from edgecnn.export.common import calibration_images, make_artifact


def _convert(model, quantize_int8: bool, options) -> bytes:
    import tensorflow as tf

    # from_keras_model freezes the weights: a clean graph with no variable-handle ops.
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize_int8:
        images = calibration_images(options)

        def representative():
            for i in range(len(images)):
                yield [images[i: i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def export_float32(model, out_dir: Path, *, filename: str, options) -> Artifact:
    started = time.perf_counter()
    path = fileio.write_bytes(Path(out_dir) / filename, _convert(model, False, options))
    return make_artifact(path, "tflite", "float32", started)


def export_int8(model, out_dir: Path, *, filename: str, options) -> Artifact:
    started = time.perf_counter()
    path = fileio.write_bytes(Path(out_dir) / filename, _convert(model, True, options))
    return make_artifact(
        path, "tflite", "int8", started,
        calibration={"samples": options.calibration_samples, "seed": options.seed},
    )
