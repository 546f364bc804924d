"""Load an exported model and predict with nothing but numpy and a runtime.

``load(path)`` returns a :class:`Predictor` for ``.tflite`` (ai-edge-litert) or ``.onnx``
(onnxruntime) files. Nothing in this package imports TensorFlow, Keras or tf2onnx:
a Raspberry Pi app needs only numpy and one runtime.
"""

from __future__ import annotations

from pathlib import Path

from edgecnn.errors import ModelError
from edgecnn.runtime.base import Predictor, RuntimeOptions, to_model_input

__all__ = ["Predictor", "RuntimeOptions", "file_precision", "load", "to_model_input", "SUFFIXES"]

SUFFIXES = (".tflite", ".onnx")


def load(path: str | Path, options: RuntimeOptions | None = None) -> Predictor:
    """Load ``path`` in its runtime; a missing, corrupt or foreign file raises ModelError.

    Files are untrusted: the first bytes must match the suffix, and a TFLite file passes
    a structural check (``tflite_check``) before LiteRT sees it, because some malformed
    flatbuffers crash LiteRT natively. ONNX files are left to ONNX Runtime's own loader,
    which refused every one of 100,000 fuzzed files cleanly (benchmarks/fuzz.py).

    Args:
        path: a .tflite or .onnx file.
        options: threads, XNNPACK, ONNX Runtime's optimization level, spinning.

    Returns:
        A Predictor: ``predict(images)`` gives probabilities, with the file's own spec and labels.
    """
    path = Path(path)
    options = options or RuntimeOptions()
    if path.suffix not in SUFFIXES:
        raise ModelError(f"{path}: not a model file edgecnn can run (expected .tflite or .onnx)")
    if not path.is_file():
        raise ModelError(f"{path}: file not found")
    _check_kind(path)
    if path.suffix == ".tflite":
        from edgecnn.runtime.tflite import TFLitePredictor

        return TFLitePredictor(path, options)
    from edgecnn.runtime.onnx import OnnxPredictor

    return OnnxPredictor(path, options)


# File signatures of what users most often mistake for a model of the other kind.
_FOREIGN = {b"PK\x03\x04": "a zip archive (a .keras model?)", b"\x89HDF": "an HDF5 file (a .h5 Keras model?)"}


def file_precision(path: str | Path) -> str:
    """A model file's precision: its embedded metadata, then the manifest, never its name.

    A file with neither (not exported by edgecnn) is judged by its input tensor:
    int8 input -> ``int8``, else ``float32``.
    """
    return load(path).precision


def _check_kind(path: Path) -> None:
    """Cheap sniffing of the first bytes, so a mix-up gets a message that says what the file is."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if not head:
        raise ModelError(f"{path}: empty file")
    is_tflite = head[4:8] == b"TFL3"  # the flatbuffer file identifier of every .tflite
    for magic, what in _FOREIGN.items():
        if head.startswith(magic):
            raise ModelError(f"{path}: is {what}, not a {path.suffix} model")
    if path.suffix == ".onnx" and is_tflite:
        raise ModelError(f"{path}: is a TFLite model, not ONNX (rename it to .tflite)")
    if path.suffix == ".tflite" and not is_tflite:
        kind = " (it looks like ONNX: rename it to .onnx)" if head[:1] == b"\x08" else ""
        raise ModelError(f"{path}: not a TFLite model: no TFL3 identifier{kind}")
