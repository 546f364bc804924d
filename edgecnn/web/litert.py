"""TFLite files LiteRT.js accepts: static batch 1, float32 input and output.

LiteRT.js (``@litertjs/core``, pinned in npm.py) refuses edgecnn's standard ``.tflite`` files as they are:
their batch dimension is dynamic (``shape_signature`` -1, and LiteRT.js has no resize call)
and the int8 file's input/output are int8 (not an element type it supports). This converts
the same frozen forward function (``export.common.forward_function``) again with the batch
fixed to 1; the int8 variant is calibrated exactly like the standard int8 export (same
training images, seed and count) but keeps float32 input/output (the converter adds the
QUANTIZE/DEQUANTIZE ops), so inside it is the same int8 network. The files carry edgecnn's
embedded metadata, with ``variant: "litert.js"`` and ``batch: 1``.

These files exist only inside the web bundle; they are not artifacts of the manifest.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VARIANT = "litert.js"
PRECISIONS = ("float32", "int8")


def variant_name(stem: str, precision: str) -> str:
    return f"{stem}_{precision}_b1.tflite"


def _variant_options(keras_path: Path, model: Any, manifest: dict[str, Any], dataset: Any, spec: Any) -> Any:
    """ExportOptions of the variants: the standard int8 file's calibration, its record, the data."""
    from dataclasses import replace

    from edgecnn import fileio
    from edgecnn.export import ExportOptions, resolve_spec

    calibration: dict[str, Any] = next((a.get("calibration") for a in manifest.get("artifacts", [])
                                        if a.get("format") == "tflite" and a.get("precision") == "int8"
                                        and a.get("calibration")), {})
    options = ExportOptions(calibration_samples=int(calibration.get("samples", ExportOptions.calibration_samples)),
                            seed=int(calibration.get("seed", ExportOptions.seed)),
                            source_sha256=fileio.sha256_file(keras_path))
    if spec is None:
        options = resolve_spec(model, keras_path, options, needs_data=False)
    else:
        options = replace(options, spec=spec)
    if dataset is not None and getattr(dataset, "x_train", None) is not None and len(dataset.x_train):
        options = replace(options, dataset=dataset)
    return options


def convert_variants(keras_path: Path, dest: Path, manifest: dict[str, Any] | None = None,
                     dataset: Any = None, spec: Any = None) -> list[Path]:
    """Write the batch-1, float-I/O float32 and int8 variants of ``keras_path`` into ``dest``.

    ``spec`` is the model record of the standard exports (a standard file's embedded metadata or
    the manifest's ``model``), so the variants take exactly the same input; without it the record
    is resolved as ``edgecnn export`` resolves it without options. The int8
    variant calibrates on ``dataset`` (the verified data) or on the default data for the model's
    shape; when no calibration data can be had (a custom data set not given), only the float32
    variant is written, and the log says why.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from edgecnn import fileio
    from edgecnn.errors import EdgeCnnError
    from edgecnn.export.common import calibration_images, calibration_record, embedded_metadata, forward_function
    from edgecnn.export.tflite import finalize_flatbuffer
    from edgecnn.model import load_model

    model = load_model(keras_path)
    options = _variant_options(keras_path, model, manifest or {}, dataset, spec)
    spec = options.spec
    forward = forward_function(model, spec)
    signature = tf.TensorSpec((1, *model.input_shape[1:]), tf.float32, name=spec.input_name)
    batch1 = tf.function(lambda image: forward(image), input_signature=[signature], autograph=False)
    frozen = convert_variables_to_constants_v2(batch1.get_concrete_function())
    out = []
    for precision in PRECISIONS:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)
        extra: dict[str, Any] = {"variant": VARIANT, "batch": 1, "io": "float32"}
        if precision == "int8":
            try:
                images = calibration_images(options)
            except EdgeCnnError as exc:
                log.warning("no int8 LiteRT.js variant: no calibration data (%s)", exc)
                continue

            def representative(images=images):
                for i in range(len(images)):
                    yield [images[i: i + 1]]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            extra["calibration"] = calibration_record(options)
        meta = embedded_metadata("tflite", precision, options, **extra)
        data = finalize_flatbuffer(converter.convert(), meta)
        out.append(fileio.write_bytes(Path(dest) / variant_name(spec.name, precision), data))
        log.info("wrote %s (%d bytes)", out[-1], len(data))
    return out
