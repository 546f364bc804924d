"""Exporters: one module per format, one registry mapping (format, precision) to a function.

Every exporter has the signature ``export(model, out_dir, *, filename, options) -> Artifact``;
the registry drives the CLI's choices and the validation of flag combinations. An exporter
writes its file atomically, and only after the file has loaded and predicted a batch in its
runtime (``common.write_artifact``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgecnn.artifact import Artifact
from edgecnn.errors import ExportError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """Settings shared by the exporters."""

    calibration_samples: int = 500  # training images for int8 calibration: 500 is past the accuracy plateau
    seed: int = 0  # picks the calibration images
    opset: int = 17  # ONNX opset: supported by onnxruntime >= 1.14 and by mobile runtimes
    source_sha256: str = ""  # sha256 of the .keras file, embedded in every artifact
    data_path: Path | None = None  # where calibration images come from (None: the default MNIST)
    onnx_per_channel: bool = False  # int8 ONNX: per-tensor weight scales (benchmarks/onnx_choice.py)


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
        # TensorFlow Lite Micro: the int8 TFLite model as mnist_cnn_int8.cc + .h
        ExportTarget("c", "int8", "mnist_cnn_int8.cc", "c_array:export_int8"),
        ExportTarget("tflite", "dynamic", "mnist_cnn_dynamic.tflite", "tflite:export_dynamic"),
        ExportTarget("tflite", "float16", "mnist_cnn_float16.tflite", "tflite:export_float16"),
    )
}
# What `edgecnn run` exports and what `--format all` means without --quantize.
STANDARD = [("tflite", "float32"), ("tflite", "int8"), ("onnx", "float32"), ("onnx", "int8")]


def formats() -> list[str]:
    """Every format some exporter writes, in registry order (the CLI's --format choices)."""
    return list(dict.fromkeys(fmt for fmt, _ in REGISTRY))


def precisions(fmt: str) -> list[str]:
    """The precisions ``fmt`` can be exported at."""
    return [precision for f, precision in REGISTRY if f == fmt]


def export_models(
    model_path: Path, out_dir: Path, targets: list[tuple[str, str]], options: ExportOptions | None = None,
    unsafe: bool = False,
) -> list[Artifact]:
    """Export ``targets`` from the ``.keras`` file at ``model_path`` and update the manifest.

    The manifest is rewritten (atomically) after each artifact, so that at every moment it
    describes exactly the files on disk: if a later target fails, the artifacts already
    written are listed and the failed one keeps its previous file and entry.
    """
    from dataclasses import replace

    from edgecnn import fileio
    from edgecnn.manifest import update_manifest
    from edgecnn.model import load_model

    unknown = [key for key in targets if key not in REGISTRY]
    if unknown:
        raise ExportError(f"no exporter for {', '.join('/'.join(k) for k in unknown)} (have: {', '.join(map('/'.join, REGISTRY))})")
    options = options or ExportOptions()
    model = load_model(model_path, unsafe=unsafe)  # unsafe: the user trusts the file's Python code
    if not options.source_sha256:
        options = replace(options, source_sha256=fileio.sha256_file(model_path))
    fileio.ensure_dir(Path(out_dir))
    # Relative to the manifest's folder when the model lies inside it, else absolute.
    source = {"path": fileio.relative_posix(model_path, out_dir) or str(Path(model_path).resolve()),
              "sha256": options.source_sha256}
    artifacts = []
    for key in targets:
        target = REGISTRY[key]
        log.info("exporting %s/%s -> %s", *key, target.filename)
        artifact = _export_staged(target, model, Path(out_dir), options)
        artifact = replace(artifact, extra={**artifact.extra, "source_sha256": options.source_sha256})
        artifacts.append(artifact)
        update_manifest(out_dir, [artifact], source)
    return artifacts


def _export_staged(target: ExportTarget, model, out_dir: Path, options: ExportOptions) -> Artifact:
    """Run one exporter in a hidden staging folder, then move its files into ``out_dir``.

    A failing exporter leaves ``out_dir`` and the manifest untouched. Just before the
    files move in, the target's manifest entry is dropped (``update_manifest`` adds it back),
    so a kill between the move and the manifest update leaves a file unlisted, never
    listed with a stale sha256.
    """
    import os
    import tempfile
    from dataclasses import replace

    from edgecnn import fileio
    from edgecnn.manifest import remove_from_manifest

    with tempfile.TemporaryDirectory(prefix=f"{fileio.TMP_PREFIX}stage-", dir=out_dir) as stage:
        artifact = target.load()(model, Path(stage), filename=target.filename, options=options)
        remove_from_manifest(out_dir, [f"{target.format}/{target.precision}"])
        for staged in sorted(Path(stage).iterdir()):
            if staged.is_file():
                os.replace(staged, out_dir / staged.name)
    return replace(artifact, path=out_dir / Path(artifact.path).name)
