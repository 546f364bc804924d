"""Exporters: one module per format, one registry mapping (format, precision) to a function.

Every exporter has the signature ``export(model, out_dir, *, filename, options) -> Artifact``;
the registry drives the CLI's choices and the validation of flag combinations. An exporter
writes its file atomically, and only after the file has loaded and predicted a batch in its
runtime (``common.write_artifact``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecnn.artifact import Artifact
from edgecnn.errors import ExportError

if TYPE_CHECKING:  # data pulls in numpy and the loaders; the CLI imports this module for its choices
    from edgecnn.data import Dataset
    from edgecnn.spec import ModelSpec, Preprocessing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportOptions:
    """Settings shared by the exporters."""

    calibration_samples: int = 500  # training images for int8 calibration: 500 is past the accuracy plateau
    seed: int = 0  # picks the calibration images
    opset: int = 17  # ONNX opset: supported by onnxruntime >= 1.14 and by mobile runtimes
    source_sha256: str = ""  # sha256 of the .keras file, embedded in every artifact
    data_path: Path | None = None  # where calibration images come from (None: the default MNIST)
    onnx_per_channel: bool = True  # int8 ONNX: a weight scale per output channel (export/onnx_int8.py)
    onnx_calibrate_method: str = "MinMax"  # int8 ONNX: MinMax | Percentile | Entropy (ONNX Runtime's)
    onnx_nodes_to_exclude: tuple[str, ...] = ()  # int8 ONNX: nodes kept float32 besides the rule's
    # Accuracy-controlled int8 (export.accuracy): None exports as asked; a number of points runs the loop
    # until agreement >= the int8 verify tolerance and the accuracy drop <= max_drop.
    max_drop: float | None = None
    max_float_layers: int = 16  # the loop's budget (export.accuracy.DEFAULT_MAX_FLOAT_LAYERS)
    full_integer: bool = False  # the loop keeps every layer int8 (a microcontroller target: --platform mcu)
    # The model's record. export_models fills ``spec`` from the model and these declarations:
    labels: tuple[str, ...] | None = None  # --labels FILE (else the data's class names, else 0..K-1)
    preprocessing: Preprocessing | None = None  # --preprocess (None: unit)
    prepare: str | None = None  # how photos become inputs (None: the data's: mnist for MNIST, else resize)
    author: str | None = None  # --author: the TFLite Model Metadata's author (None: "edgecnn")
    # What export_models resolved once for every exporter (resolve_spec): the model's record and the
    # loaded data. Set on the copy the exporters receive, never by a caller (run passes ``dataset``
    # to save loading the same images twice).
    spec: ModelSpec | None = None
    dataset: Dataset | None = field(default=None, compare=False, repr=False)


Exporter = Callable[..., Artifact]


@dataclass(frozen=True)
class ExportTarget:
    """One registry row: a (format, precision) pair, its file name and its exporter."""

    format: str
    precision: str
    filename: str
    exporter: str  # "module:function", imported lazily so the CLI stays light

    def filename_for(self, name: str) -> str:
        """This target's file name for a model called ``name``: ``{name}_{precision}{suffix}``."""
        suffix = self.filename.rsplit(f"_{self.precision}", 1)[-1]
        return f"{name}_{self.precision}{suffix}"

    def load(self) -> Exporter:
        import importlib

        module, func = self.exporter.split(":")
        return getattr(importlib.import_module(f"edgecnn.export.{module}"), func)


REGISTRY: dict[tuple[str, str], ExportTarget] = {
    (t.format, t.precision): t
    for t in (
        ExportTarget("tflite", "float32", "mnist_cnn_float32.tflite", "tflite:export_float32"),
        # tflite_accuracy: the plain exporter, or the accuracy loop with --max-drop (export.accuracy)
        ExportTarget("tflite", "int8", "mnist_cnn_int8.tflite", "tflite_accuracy:export_int8"),
        ExportTarget("onnx", "float32", "mnist_cnn_float32.onnx", "onnx:export_float32"),
        ExportTarget("onnx", "int8", "mnist_cnn_int8.onnx", "onnx_accuracy:export_int8"),
        # TensorFlow Lite Micro: the int8 TFLite model as mnist_cnn_int8.cc + .h
        ExportTarget("c", "int8", "mnist_cnn_int8.cc", "c_array:export_int8"),
        ExportTarget("tflite", "dynamic", "mnist_cnn_dynamic.tflite", "tflite:export_dynamic"),
        ExportTarget("tflite", "float16", "mnist_cnn_float16.tflite", "tflite:export_float16"),
        # For MediaPipe Tasks / ML Kit (export/app.py): RGB uint8 or float32 in, float32 out, same core.
        ExportTarget("tflite", "float32_app", "mnist_cnn_float32_app.tflite", "app:export_float32_app"),
        ExportTarget("tflite", "int8_app", "mnist_cnn_int8_app.tflite", "app:export_int8_app"),
    )
}
# What `edgecnn run` exports and what `--format all` means without --quantize.
STANDARD = [("tflite", "float32"), ("tflite", "int8"), ("onnx", "float32"), ("onnx", "int8")]
# The files an Android/iOS app framework takes as they are; `bundle --target android` ships these.
APP = [("tflite", "float32_app"), ("tflite", "int8_app")]


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

    The model's record (``ModelSpec``: name, input shape, labels, preprocessing, head) is read
    from the model and the options once, and goes into every file and the manifest; file
    names derive from the model's name (``mnist_cnn.keras`` -> ``mnist_cnn_int8.tflite``).

    The manifest is rewritten (atomically) after each artifact, so that at every moment it
    describes exactly the files on disk. A target whose format cannot express the model (an
    op outside TFLite builtins, the ONNX opset or TFLite Micro) does not stop the others: they
    are written, and then one ExportError names the layer, the format and what was written.

    Over 60 lines with this docstring; the body is 43: checks, the one load and ModelSpec, the
    manifest's source and data records, and the loop that writes each file and then the manifest.

    Args:
        model_path: the .keras file.
        out_dir: where the files and manifest.json go.
        targets: (format, precision) pairs of :data:`REGISTRY`.
        options: calibration, opset, labels, preprocessing (default: :class:`ExportOptions`).
        unsafe: load a .keras file that holds Python code (Lambda layers).

    Returns:
        The artifacts written, in ``targets`` order.
    """
    from dataclasses import replace

    from edgecnn import fileio
    from edgecnn.errors import ModelError
    from edgecnn.manifest import update_manifest
    from edgecnn.model import load_model

    unknown = [key for key in targets if key not in REGISTRY]
    if unknown:
        raise ExportError(f"no exporter for {', '.join('/'.join(k) for k in unknown)} "
                          f"(have: {', '.join(map('/'.join, REGISTRY))})")
    options = options or ExportOptions()
    model = load_model(model_path, unsafe=unsafe)  # unsafe: the user trusts the file's Python code
    if not options.source_sha256:
        options = replace(options, source_sha256=fileio.sha256_file(model_path))
    options = resolve_spec(model, Path(model_path), options, needs_data=any(p.startswith("int8") for _, p in targets))
    assert options.spec is not None  # resolve_spec sets it
    fileio.ensure_dir(Path(out_dir))
    # Relative to the manifest's folder when the model lies inside it, else absolute.
    source = {"path": fileio.relative_posix(model_path, out_dir) or str(Path(model_path).resolve()),
              "sha256": options.source_sha256}
    data_record = None
    if options.dataset is not None:  # the data set these files are calibrated on follows them (manifest "data")
        from edgecnn.datasource import record_of

        data_record = record_of(options.dataset, options.data_path).to_json()
    artifacts, failures = [], []
    for key in targets:
        target = REGISTRY[key]
        filename = target.filename_for(options.spec.name)
        log.info("exporting %s/%s -> %s", *key, filename)
        try:
            artifact = _export_staged(target, model, Path(out_dir), options, filename)
        except (UnsupportedOpError, ExportError, ModelError) as exc:  # this format only: go on with the others
            log.info("%s: %s", filename, exc)
            failures.append((filename, str(exc)))
            continue
        artifact = replace(artifact, extra={**artifact.extra, "source_sha256": options.source_sha256})
        artifacts.append(artifact)
        update_manifest(out_dir, [artifact], source, options.spec, data_record)
    if failures:
        raise ExportError(failure_message(failures, [a.path.name for a in artifacts]))
    return artifacts


def failure_message(failures: list[tuple[str, str]], written: list[str]) -> str:
    """One line: the files not written grouped by reason, then what was written."""
    import re

    groups: dict[str, list[str]] = {}
    for filename, reason in failures:
        reason = re.sub(r"(?:\S*/)?\.edgecnn-tmp-\S*/", "", reason)  # staging folders say nothing to a user
        # A reason that already names the file (a failed sanity check) is kept as it is.
        reason = reason[len(filename) + 2:] if reason.startswith(f"{filename}: ") else reason
        groups.setdefault(reason, []).append(filename)
    parts = [f"{', '.join(files)} not written: {reason}" for reason, files in groups.items()]
    if len(failures) == 1 and not written:
        return f"{failures[0][0]}: {groups and next(iter(groups))}"
    return "; ".join(parts) + f" (written: {', '.join(written) if written else 'nothing'})"


class UnsupportedOpError(ExportError):
    """A format cannot express a layer of the model (the other formats are still exported)."""


def resolve_spec(model, model_path: Path, options: ExportOptions, needs_data: bool) -> ExportOptions:
    """Options with ``spec`` (and ``dataset`` when data is needed or given) filled in.

    Labels: ``--labels``, else the data's class names, else the training record's, else 0..K-1.
    ``prepare``: declared, else the data's (``mnist`` for MNIST, else ``resize``); without data,
    ``mnist`` when the model takes MNIST's shape (the default data set), else ``resize``.
    """
    from dataclasses import replace

    from edgecnn import fileio
    from edgecnn.data import check_matches, load_data
    from edgecnn.model import TRAIN_JSON, image_classifier_shapes, model_spec
    from edgecnn.spec import REFERENCE

    shape, k = image_classifier_shapes(model, str(model_path))
    obj = fileio.read_json_or_none(Path(model_path).parent / TRAIN_JSON)  # an unreadable record is no record
    record: dict[str, Any] = obj if isinstance(obj, dict) and obj.get("model") == Path(model_path).name else {}
    data = options.dataset
    if data is None and (needs_data or options.data_path is not None):
        data = load_data(options.data_path, shape, options.seed)
    if data is not None:
        check_matches(data, shape, k)
    labels = options.labels
    if labels is None and data is not None and data.labels is not None and len(data.labels) == k:
        labels = tuple(data.labels)
    if labels is None and isinstance(record.get("labels"), list) and len(record["labels"]) == k:
        labels = tuple(str(x) for x in record["labels"])
    prepare = options.prepare or (data.prepare if data is not None else None) or record.get("prepare") \
        or (REFERENCE.preprocessing.prepare if shape == REFERENCE.input_shape else "resize")
    spec = model_spec(model, model_path, labels=labels, preprocessing=options.preprocessing, prepare=prepare)
    return replace(options, spec=spec, dataset=data)


def _export_staged(target: ExportTarget, model, out_dir: Path, options: ExportOptions, filename: str) -> Artifact:
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
        artifact = target.load()(model, Path(stage), filename=filename, options=options)
        remove_from_manifest(out_dir, [f"{target.format}/{target.precision}"])
        for staged in sorted(Path(stage).iterdir()):
            if staged.is_file():
                os.replace(staged, out_dir / staged.name)
    return replace(artifact, path=out_dir / Path(artifact.path).name)
