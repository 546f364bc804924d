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


def export_models(
    model_path: Path, out_dir: Path, targets: list[tuple[str, str]], options: ExportOptions | None = None
) -> list[Artifact]:
    """Export ``targets`` from the ``.keras`` file at ``model_path`` and update the manifest."""
    from edgecnn import fileio
    from edgecnn.manifest import remove_from_manifest, update_manifest
    from edgecnn.model import load_model

    options = options or ExportOptions()
    model = load_model(model_path)
    if not options.source_sha256:
        from dataclasses import replace

        options = replace(options, source_sha256=fileio.sha256_file(model_path))
    fileio.ensure_dir(Path(out_dir))
    source = {"path": str(model_path), "sha256": options.source_sha256}
    # Unlist the targets first, list each again once written: whenever the process dies,
    # every file the manifest lists matches its sha256 (exports are not byte-identical).
    remove_from_manifest(out_dir, [f"{fmt}/{precision}" for fmt, precision in targets])
    artifacts = []
    for key in targets:
        target = REGISTRY[key]
        artifacts.append(target.load()(model, out_dir, filename=target.filename, options=options))
        update_manifest(out_dir, artifacts[-1:], source)
    return artifacts
