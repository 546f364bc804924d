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
from edgecnn.model import INPUT_NAME, OUTPUT_NAME

log = logging.getLogger(__name__)

SANITY_BATCH = 8  # images predicted by every freshly written artifact before it replaces the old one


def forward_function(model):
    """A ``tf.function`` computing ``model`` with the contract's names and a constant Flatten.

    Keras' Flatten computes its target shape at run time (Shape -> StridedSlice -> Pack ->
    Reshape in TFLite, Shape -> Gather -> Cast -> Slice -> Concat in ONNX). With the batch
    the only dynamic dimension, ``reshape(x, [-1, H*W*C])`` is the same computation with a
    constant shape, so both converters emit a single Reshape.
    """
    import keras
    import tensorflow as tf

    # The model's own input shape (the reference CNN's is 28x28x1); the batch stays dynamic.
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME)

    layers = list(model.layers)

    @tf.function(input_signature=[spec], autograph=False)
    def forward(image):
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
        return {OUTPUT_NAME: x}

    return forward


def _pool_first(layer, following) -> bool:
    """A Conv2D with a monotonic activation followed by a MaxPooling2D: they commute."""
    import keras

    monotonic = {keras.activations.tanh, keras.activations.relu, keras.activations.sigmoid}
    return (isinstance(layer, keras.layers.Conv2D) and isinstance(following, keras.layers.MaxPooling2D)
            and getattr(layer, "activation", None) in monotonic)


def _linear_conv(layer, x):
    """A Conv2D layer's output before its activation."""
    import keras

    y = keras.ops.conv(x, layer.kernel, strides=layer.strides, padding=layer.padding,
                       data_format=layer.data_format, dilation_rate=layer.dilation_rate)
    return y + layer.bias if layer.use_bias else y


def calibration_images(options) -> np.ndarray:
    """A seeded sample of *training* images, preprocessed (float32 N x 28 x 28 x 1)."""
    from edgecnn.data import load_mnist, preprocess

    mnist = load_mnist(options.data_path)
    rng = np.random.default_rng(options.seed)
    n = min(options.calibration_samples, len(mnist.x_train))
    idx = rng.choice(len(mnist.x_train), size=n, replace=False)
    return preprocess(mnist.x_train[np.sort(idx)])


def calibration_record(options) -> dict[str, int]:
    """What the manifest and the embedded metadata say about calibration."""
    return {"samples": options.calibration_samples, "seed": options.seed}


def embedded_metadata(fmt: str, precision: str, options, **extra: Any) -> dict[str, Any]:
    """The JSON stored inside every artifact (ONNX metadata_props / TFLite metadata "edgecnn").

    No timestamps: two exports of the same model with the same options must be byte-identical.
    """
    from edgecnn.data import LABELS, PREPROCESSING

    meta: dict[str, Any] = {
        "name": "mnist_cnn",
        "format": fmt,
        "precision": precision,
        "labels": list(LABELS),
        "preprocessing": PREPROCESSING,
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "source_sha256": options.source_sha256,
        "edgecnn_version": __version__,
    }
    meta.update(extra)
    return meta


def metadata_json(meta: dict[str, Any]) -> str:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"))


def description(meta: dict[str, Any]) -> str:
    """A one-line human description for the model file's description/doc string."""
    io = "int8 (quantize with the tensor's scale/zero point)" if meta["precision"] == "int8" and meta["format"] == "tflite" else "float32"
    return (
        f"edgecnn {meta['edgecnn_version']}: MNIST digit classifier ({meta['format']} {meta['precision']}); "
        f"input '{meta['input']}' {io} [N,28,28,1] from x = uint8 pixels / 255 (NHWC); "
        f"output '{meta['output']}' {io} [N,10] probabilities of digits 0-9"
    )


def sanity_check(path: Path) -> Any:
    """Load ``path`` in its runtime and predict a batch; anything wrong is an ExportError."""
    from edgecnn.runtime import load

    predictor = load(path)
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, size=(SANITY_BATCH, 28, 28), dtype=np.uint8)
    probs = predictor.predict(batch)
    if probs.shape != (SANITY_BATCH, 10) or not np.isfinite(probs).all():
        raise ExportError(f"{path.name}: exported model gives {probs.shape} outputs, expected finite ({SANITY_BATCH}, 10)")
    # int8 outputs are quantized in steps of 1/256; a wrong graph is far outside this band.
    if np.abs(probs.sum(axis=1) - 1.0).max() > 0.05:
        raise ExportError(f"{path.name}: exported model's probabilities do not sum to 1")
    return predictor


def write_artifact(data: bytes, target: Path, fmt: str, precision: str, started: float, **extra: Any) -> Artifact:
    """Write ``data`` to ``target`` atomically after it loads and predicts in its runtime.

    The check runs on the temporary file, so a broken export never replaces a good file.
    """
    target = Path(target)
    with fileio.atomic_path(target) as tmp:
        tmp.write_bytes(data)
        predictor = sanity_check(tmp)
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
