"""Load an exported model and predict with nothing but numpy and a runtime.

``load(path)`` returns a :class:`Predictor` for ``.tflite`` (ai-edge-litert) or ``.onnx``
(onnxruntime) files. Nothing in this package imports TensorFlow, Keras or tf2onnx:
a Raspberry Pi app needs only numpy and one runtime.
"""

from __future__ import annotations

from pathlib import Path

from edgecnn.errors import ModelError
from edgecnn.runtime.base import Predictor, RuntimeOptions, to_model_input

__all__ = ["Predictor", "RuntimeOptions", "load", "to_model_input", "SUFFIXES"]

SUFFIXES = (".tflite", ".onnx")


def load(path: str | Path, options: RuntimeOptions | None = None) -> Predictor:
    """Load ``path`` in its runtime; a missing, corrupt or foreign file raises ModelError."""
    path = Path(path)
    options = options or RuntimeOptions()
    if path.suffix not in SUFFIXES:
        raise ModelError(f"{path}: not a model file edgecnn can run (expected .tflite or .onnx)")
    if not path.is_file():
        raise ModelError(f"{path}: file not found")
    if path.suffix == ".tflite":
        from edgecnn.runtime.tflite import TFLitePredictor

        return TFLitePredictor(path, options)
    from edgecnn.runtime.onnx import OnnxPredictor

    return OnnxPredictor(path, options)
