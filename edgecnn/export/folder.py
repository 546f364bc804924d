"""``edgecnn export`` as a library call: a request in, the written artifacts out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from edgecnn.artifact import Artifact
from edgecnn.export import ExportOptions
from edgecnn.workspace import Workspace


@dataclass(frozen=True)
class ExportRequest:
    """What to export, from which model, into which folder."""

    workspace: Workspace
    fmt: str = "all"  # a registered format, or "all"
    quantize: str | None = None  # None: float32 (with "all": float32 and int8)
    model: Path | None = None  # None: the folder's model (train.json, then the manifest, then mnist_cnn.keras)
    options: ExportOptions = field(default_factory=ExportOptions)
    unsafe: bool = False  # load a .keras file that holds Python code (trusted files only)


@dataclass(frozen=True)
class ExportRun:
    """What :func:`export_folder` wrote."""

    artifacts: list[Artifact]
    manifest: Path
    seconds: float


def export_folder(request: ExportRequest) -> ExportRun:
    """Check the request, export every target it means and update the manifest.

    Args:
        request: the format/precision choice, the model and the export options.

    Returns:
        The artifacts written (each loaded and predicted a batch in its runtime), the manifest
        path and the wall time.

    Raises:
        ExportOptionError: a format/precision pair the registry lacks (checked before any slow work).
        ModelError: the model file is missing (checked before TensorFlow loads).
        ExportError: a format could not express the model (the other formats are still written).
    """
    from edgecnn.errors import ModelError, require_full
    from edgecnn.export import export_models
    from edgecnn.export.targets import export_targets

    targets = export_targets(request.fmt, request.quantize)
    require_full("`edgecnn export`", ("tensorflow", "keras", "tf2onnx", "onnx"))
    model = request.model or request.workspace.default_model()
    if not Path(model).is_file():
        raise ModelError(f"{model}: model not found (run `edgecnn train` first)")
    started = time.perf_counter()
    artifacts = export_models(model, request.workspace.root, targets, request.options, unsafe=request.unsafe)
    return ExportRun(artifacts, request.workspace.manifest_path, time.perf_counter() - started)
