"""Helpers shared by the exporters: the clean forward function, calibration images,
embedded metadata, and writing + sanity-checking an artifact atomically."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn import __version__, fileio
from edgecnn.artifact import Artifact, TensorSpec
from edgecnn.errors import ExportError

log = logging.getLogger(__name__)

SANITY_BATCH = 8  # images predicted by every freshly written artifact before it replaces the old one


def forward_function(model, spec=None):
    """A ``tf.function`` computing ``model`` with the contract's names, ending in probabilities.

    For a Sequential chain: Keras' Flatten computes its target shape at run time (Shape ->
    StridedSlice -> Pack -> Reshape in TFLite, Shape -> Gather -> Cast -> Slice -> Concat in
    ONNX); with the batch the only dynamic dimension, ``reshape(x, [-1, H*W*C])`` is the same
    computation with a constant shape, so both converters emit a single Reshape; and a
    Conv2D with a monotonic activation followed by max pooling pools first. Any other model
    (functional graphs: residual Add, Concatenate, …) is called as it is. A ``logits`` head
    (``spec.head``) gets a softmax: every exported file outputs probabilities.
    """
    import keras
    import tensorflow as tf

    spec = spec or _spec_of(model)
    # The model's own input shape; the batch stays dynamic.
    signature = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=spec.input_name)
    layers = list(model.layers) if isinstance(model, keras.Sequential) else None
    logits = spec.head == "logits"

    @tf.function(input_signature=[signature], autograph=False)
    def forward(image):
        if layers is None:
            x = model(image, training=False)
        else:
            x, i = image, 0
            while i < len(layers):
                layer = layers[i]
                following = layers[i + 1] if i + 1 < len(layers) else None
                if isinstance(layer, keras.layers.Flatten):
                    x = tf.reshape(x, (-1, int(np.prod(x.shape[1:]))))
                elif _pool_first(layer, following):
                    # max(tanh(a), tanh(b)) == tanh(max(a, b)): pooling first applies tanh to a
                    # quarter of the values; the same numbers, 4x fewer TANH evaluations.
                    with tf.name_scope(layer.name):  # tensor names keep the layer (for --debug-quant)
                        x = _linear_conv(layer, x)
                    x = following(x, training=False)
                    with tf.name_scope(layer.name):
                        x = layer.activation(x)
                    i += 1
                else:
                    x = layer(x, training=False)
                i += 1
        if logits:
            x = tf.nn.softmax(x, name="softmax")
        return {spec.output_name: x}

    return forward


def _spec_of(model):
    """The model's spec; for a model that is not an image classifier, the contract's names only
    (the runtime refuses such files with its own message)."""
    from edgecnn.errors import ModelError
    from edgecnn.model import model_spec
    from edgecnn.spec import REFERENCE

    try:
        return model_spec(model)
    except ModelError:
        return REFERENCE


def _pool_first(layer, following) -> bool:
    """A Conv2D with a monotonic activation followed by a MaxPooling2D: they commute."""
    import keras

    monotonic = {keras.activations.tanh, keras.activations.relu, keras.activations.sigmoid}
    # Exactly Conv2D (not its subclasses, e.g. DepthwiseConv2D/SeparableConv2D, whose weights differ).
    return (type(layer) is keras.layers.Conv2D and type(following) is keras.layers.MaxPooling2D
            and getattr(layer, "activation", None) in monotonic and layer.groups == 1)


def _linear_conv(layer, x):
    """A Conv2D layer's output before its activation."""
    import keras

    y = keras.ops.conv(x, layer.kernel, strides=layer.strides, padding=layer.padding,
                       data_format=layer.data_format, dilation_rate=layer.dilation_rate)
    return y + layer.bias if layer.use_bias else y


def calibration_images(options) -> np.ndarray:
    """A seeded sample of *training* images, preprocessed as the model declares (float32 NHWC)."""
    from edgecnn.data import preprocess

    data = calibration_data(options)
    rng = np.random.default_rng(options.seed)
    n = min(options.calibration_samples, len(data.x_train))
    if n == 0:
        raise ExportError(f"{data.source}: no training images to calibrate int8 with")
    idx = rng.choice(len(data.x_train), size=n, replace=False)
    spec = options.spec
    return preprocess(data.x_train[np.sort(idx)], spec.preprocessing if spec is not None else None)


def calibration_data(options):
    """The data set the options name (already loaded by ``export_models``, else loaded and checked here)."""
    from edgecnn.data import check_matches, load_data

    if options.dataset is not None:
        return options.dataset
    spec = options.spec
    data = load_data(options.data_path, spec.input_shape if spec is not None else None, options.seed)
    if spec is not None:
        check_matches(data, spec.input_shape, spec.num_classes)
    return data


def calibration_record(options) -> dict[str, int]:
    """What the manifest and the embedded metadata say about calibration."""
    return {"samples": options.calibration_samples, "seed": options.seed}


def embedded_metadata(fmt: str, precision: str, options, **extra: Any) -> dict[str, Any]:
    """The JSON stored inside every artifact (ONNX metadata_props / TFLite metadata "edgecnn").

    The model's record (``ModelSpec.metadata``: name, labels, preprocessing, input/output names,
    input_shape, head) plus format, precision and provenance. No timestamps: two exports of
    the same model with the same options must be byte-identical.
    """
    from edgecnn.spec import REFERENCE

    spec = options.spec or REFERENCE
    meta: dict[str, Any] = {
        **spec.metadata(),
        "format": fmt,
        "precision": precision,
        "source_sha256": options.source_sha256,
        "edgecnn_version": __version__,
    }
    if getattr(options, "author", None):  # only when given: "edgecnn" otherwise (export.model_metadata)
        meta["author"] = options.author
    meta.update(extra)
    return meta


def metadata_json(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def description(meta: dict[str, Any]) -> str:
    """A one-line human description for the model file's description/doc string."""
    from edgecnn.spec import ModelSpec

    spec = ModelSpec.from_metadata(meta)
    int8_io = meta["precision"] == "int8" and meta["format"] == "tflite"
    io = "int8 (quantize with the tensor's scale/zero point)" if int8_io else "float32"
    h, w, c = spec.input_shape
    labels = ", ".join(spec.labels) if len(spec.labels) <= 12 else f"{', '.join(spec.labels[:10])}, …"
    source = f"from x = {spec.preprocessing.formula} of uint8 {spec.preprocessing.color} pixels (NHWC)"
    io_in, io_out = io, io
    app = meta.get("app")
    if isinstance(app, dict):  # an app variant (export/app.py): RGB in, float32 probabilities out
        c, io_out = 3, "float32"
        io_in = "uint8 RGB pixels as they are" if app.get("pixels_as_is") else "float32"
        source = ("(NHWC)" if app.get("pixels_as_is")
                  else f"from x = {spec.preprocessing.formula} of uint8 RGB pixels (NHWC)")
        source += ", converted to grey inside" if app.get("rgb_to_grey") else ""
    return (
        f"edgecnn {meta['edgecnn_version']}: {spec.name} image classifier ({meta['format']} {meta['precision']}); "
        f"input '{meta['input']}' {io_in} [N,{h},{w},{c}] {source}; "
        f"output '{meta['output']}' {io_out} [N,{spec.num_classes}] probabilities of {labels}"
    )


def sanity_check(path: Path) -> Any:
    """Load ``path`` in its runtime and predict a batch; anything wrong is an ExportError."""
    from edgecnn.runtime import load

    predictor = load(path)
    shape = predictor.input_shape
    k = predictor.num_classes
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(SANITY_BATCH, *shape), dtype=np.uint8)
    probs = predictor.predict(batch)
    if probs.shape != (SANITY_BATCH, k) or not np.isfinite(probs).all():
        raise ExportError(f"{path.name}: exported model gives {probs.shape} outputs, "
                          f"expected finite ({SANITY_BATCH}, {k})")
    # int8 outputs are quantized in steps of 1/256; a wrong graph is far outside this band.
    if np.abs(probs.sum(axis=1) - 1.0).max() > 0.05:
        raise ExportError(f"{path.name}: exported model's probabilities do not sum to 1")
    return predictor


def write_artifact(data: bytes, target: Path, fmt: str, precision: str, started: float, spec=None,
                   **extra: Any) -> Artifact:
    """Write ``data`` to ``target`` atomically after it loads and predicts in its runtime.

    The check runs on the temporary file, so a broken export never replaces a good file.
    """
    target = Path(target)
    with fileio.atomic_path(target) as tmp:
        tmp.write_bytes(data)
        predictor = sanity_check(tmp)
        got = (predictor.spec.input_shape, predictor.num_classes)  # the model's shape (an app variant takes RGB)
        if spec is not None and got != (spec.input_shape, spec.num_classes):
            raise ExportError(f"{target.name}: exported model takes {predictor.spec.input_shape} and gives "
                              f"{predictor.num_classes} classes, expected {spec.input_shape} and {spec.num_classes}")
    return _record(predictor, target, fmt, precision, len(data), fileio.sha256_bytes(data), started, extra)


def _record(predictor, path: Path, fmt: str, precision: str, size: int, sha256: str, started: float, extra) -> Artifact:
    return Artifact(
        path=Path(path), format=fmt, precision=precision, bytes=size, sha256=sha256,
        inputs=(predictor.input_spec,), outputs=(predictor.output_spec,),
        export_seconds=time.perf_counter() - started, extra=extra,
    )


__all__ = [
    "calibration_images", "calibration_record", "description", "embedded_metadata", "forward_function",
    "metadata_json", "sanity_check", "write_artifact", "TensorSpec",
]
