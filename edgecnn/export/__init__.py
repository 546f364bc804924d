"""Exporters: one module per format, one registry mapping (format, precision) to a function.

Every exporter has the signature ``export(model, out_dir, *, options) -> Artifact``; the
registry drives the CLI's choices and the validation of flag combinations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgecnn.artifact import Artifact


@dataclass(frozen=True)
class ExportOptions:
    """Settings shared by the exporters."""

    calibration_samples: int = 500  # training images for int8 calibration: 500 is past the accuracy plateau
    seed: int = 0  # picks the calibration images
    opset: int = 17  # ONNX opset: supported by onnxruntime >= 1.14 and by mobile runtimes
    source_sha256: str = ""  # sha256 of the .keras file, embedded in every artifact
    data_path: Path | None = None  # where calibration images come from (None: the default MNIST)


Exporter = Callable[..., Artifact]


@dataclass(frozen=True)
class ExportTarget:
    """One registry row: a (format, precision) pair, its file name and its exporter."""

    format: str
    precision: str
    filename: str
    exporter: str  # "module:function", imported lazily so the CLI stays light

    def load(self) -> Exporter:
        import importlib

        module, func = self.exporter.split(":")
        return getattr(importlib.import_module(f"edgecnn.export.{module}"), func)


REGISTRY: dict[tuple[str, str], ExportTarget] = {
    (t.format, t.precision): t
    for t in (
        ExportTarget("tflite", "float32", "mnist_cnn_float32.tflite", "tflite:export_float32"),
        ExportTarget("tflite", "int8", "mnist_cnn_int8.tflite", "tflite:export_int8"),
        ExportTarget("onnx", "float32", "mnist_cnn_float32.onnx", "onnx:export_float32"),
        ExportTarget("onnx", "int8", "mnist_cnn_int8.onnx", "onnx:export_int8"),
    )
}
# What `--format all` and `edgecnn run` export.
STANDARD = [("tflite", "float32"), ("tflite", "int8"), ("onnx", "float32"), ("onnx", "int8")]
