"""Every file against Keras over the whole test set: one :class:`ArtifactCheck` row each, never an exception."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edgecnn import fileio
from edgecnn.artifact import Artifact
from edgecnn.data import Dataset
from edgecnn.errors import EdgeCnnError, ModelError
from edgecnn.parity import DEFAULT_TOLERANCES, Tolerance, compare
from edgecnn.verify.reference import artifact_spec, file_probabilities, keras_reference
from edgecnn.verify.report import ArtifactCheck, VerifyReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyOptions:
    """How verification runs; none of these change a verdict."""

    batch_size: int = 1000  # images per runtime call: 10 calls cover the test set
    num_threads: int = 1  # runtime threads, as on a small device; parity does not depend on it
    debug_quant: bool = False  # add a per-layer error table for TFLite int8 artifacts
    debug_samples: int = 1000  # test images the per-layer diagnosis runs
    max_images: int = 12  # disagreeing images drawn per artifact in disagreements.png
    unsafe: bool = False  # load a .keras model that holds Python code (only for trusted files)


def check_artifact(
    path: Path,
    images: np.ndarray,
    labels: np.ndarray | None,
    keras_probs: np.ndarray,
    keras_accuracy: float | None,
    tolerances: Mapping[str, Tolerance],
    *,
    fmt: str | None = None,
    precision: str | None = None,
    options: VerifyOptions = VerifyOptions(),
    child=None,
) -> ArtifactCheck:
    """Load ``path`` in its runtime, run ``images`` and compare with Keras; never raises for a bad file.

    ``child`` (an :class:`edgecnn.isolation.Child`) runs the file there, so that a crash is a failed row.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    sha = fileio.sha256_file(path) if path.is_file() else None
    started = time.perf_counter()
    try:
        if child is None:
            declared, probs = file_probabilities(path, images, options.num_threads, options.batch_size)
        else:  # LiteRT / ONNX Runtime on a user's file: a native crash must not end the verify
            declared, probs = child.call("edgecnn.verify.reference:file_probabilities", path, images,
                                         options.num_threads, options.batch_size, file=path.name,
                                         step=f"{fmt} inference")
        # The file's metadata first, then what the manifest said (``precision``), never the name.
        precision = str(declared.get("precision") or precision or declared.get("runtime"))
    except (EdgeCnnError, RuntimeError, ValueError) as exc:  # a corrupt or foreign file: a failed row
        log.info("%s: cannot verify: %s", path, exc)
        return ArtifactCheck(path, fmt, precision, error=str(exc), sha256=sha, seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    tolerance = tolerances.get(precision)
    if tolerance is None:
        return ArtifactCheck(
            path, fmt, precision, error=f"no tolerance for precision {precision!r} (known: {', '.join(tolerances)})",
            sha256=sha, seconds=seconds,
        )
    parity = compare(probs, keras_probs, labels, precision, tolerance, keras_accuracy)
    predicted = probs.argmax(axis=1)
    row = ArtifactCheck(
        path, fmt, precision, parity=parity, sha256=sha, seconds=seconds, predictions=predicted,
        disagreement_indices=np.flatnonzero(predicted != keras_probs.argmax(axis=1)), label=declared.get("label"),
        probabilities=probs,
    )
    log.info("%s: %s in %.2f s", path.name, parity.verdict, seconds)
    return row


def verify(
    model_path: Path,
    artifacts: Sequence[Path | Artifact],
    data: Dataset,
    tolerances: Mapping[str, Tolerance] | None = None,
    options: VerifyOptions = VerifyOptions(),
    spec=None,
) -> VerifyReport:
    """Run Keras and every artifact over ``data``'s full test set and compare them.

    ``spec``: the artifacts' ModelSpec (default: read from the first loadable artifact); its
    preprocessing and head are what Keras is run with. Data whose image size or class count
    does not fit the model is a DataError naming both.

    Args:
        model_path: the Keras reference model.
        artifacts: exported files (paths, or the manifest's Artifacts with their format/precision).
        data: the test set (every image is used).
        tolerances: the parity rules per precision (default: ``parity.DEFAULT_TOLERANCES``).
        options: batch size, --debug-quant, --unsafe.

    Returns:
        One row per artifact (an unloadable file is a row with its error, never an exception).
    """
    from edgecnn.data import check_matches
    from edgecnn.data.stream import batch_size_for

    if not artifacts:
        raise ModelError("no artifacts to verify (run `edgecnn export`, or name .tflite/.onnx files)")
    tolerances = dict(tolerances or DEFAULT_TOLERANCES)
    started = time.perf_counter()
    missing = [item for item in artifacts if not Path(item.path if isinstance(item, Artifact) else item).is_file()]
    if len(missing) == len(artifacts):  # nothing to run: no need to load Keras (a mistyped path is instant)
        return _not_run(missing, model_path, data, tolerances, started)
    spec = spec or artifact_spec(artifacts)
    if spec is not None:
        check_matches(data, spec.input_shape, spec.num_classes)
    images = data.x_test  # an array, or ImageFiles decoded one batch at a time
    labels = data.y_test.astype(np.int64) if data.y_test is not None else None
    # Images per call from the image size: 1,000 MNIST digits, 27 photos at 224x224x3 (edgecnn.data.stream).
    options = replace(options, batch_size=batch_size_for(data.image_shape, options.batch_size))
    # A missing model raises ModelError.
    keras_probs = keras_reference(model_path, images, options.batch_size, options.unsafe, spec)
    model_sha256 = fileio.sha256_file(model_path)
    keras_accuracy = float((keras_probs.argmax(axis=1) == labels).mean()) if labels is not None else None
    log.info("Keras accuracy %s on %d images", keras_accuracy, len(images))
    rows = _check_all(model_path, artifacts, images, labels, keras_probs, keras_accuracy, tolerances, options)
    return VerifyReport(
        rows=rows, keras_accuracy=keras_accuracy, model_path=Path(model_path),
        model_sha256=model_sha256, samples=len(images), data_source=data.source,
        tolerances=tolerances, seconds=time.perf_counter() - started,
        keras_probabilities=keras_probs, labels=labels,
        class_names=spec.labels if spec is not None else None,
    )


def _check_all(model_path: Path, artifacts: Sequence[Path | Artifact], images: np.ndarray,
               labels: np.ndarray | None, keras_probs: np.ndarray, keras_accuracy: float | None,
               tolerances: Mapping[str, Tolerance], options: VerifyOptions) -> tuple[ArtifactCheck, ...]:
    """One row per artifact, each file run in a child process (with --debug-quant's table for TFLite int8)."""
    from edgecnn.isolation import Child

    rows: list[ArtifactCheck] = []
    with Child() as child:  # one child for all files; a crash costs a fresh one
        for item in artifacts:
            fmt, precision = (item.format, item.precision) if isinstance(item, Artifact) else (None, None)
            path = item.path if isinstance(item, Artifact) else Path(item)
            row = check_artifact(path, images, labels, keras_probs, keras_accuracy, tolerances,
                                 fmt=fmt, precision=precision, options=options, child=child)
            if options.debug_quant and row.error is None and row.format == "tflite" and row.precision == "int8":
                row = _with_quant_debug(row, model_path, images[: options.debug_samples], options)
            rows.append(row)
    return tuple(rows)


def _not_run(missing: Sequence[Path | Artifact], model_path: Path, data: Dataset,
             tolerances: dict[str, Tolerance], started: float) -> VerifyReport:
    """The report when no named file exists: a failed row each, Keras never loaded."""
    return VerifyReport(
        rows=tuple(_missing_row(item) for item in missing), keras_accuracy=None, model_path=Path(model_path),
        model_sha256="", samples=0,
        data_source=data.source, tolerances=tolerances, seconds=time.perf_counter() - started,
        keras_probabilities=np.zeros((0, 0), np.float32), labels=np.zeros(0, np.int64),
    )


def _missing_row(item: Path | Artifact) -> ArtifactCheck:
    path = Path(item.path if isinstance(item, Artifact) else item)
    return ArtifactCheck(path, getattr(item, "format", None) or path.suffix.lstrip("."),
                         getattr(item, "precision", None), error=f"{path}: file not found")


def _with_quant_debug(
    row: ArtifactCheck, model_path: Path, images: np.ndarray, options: VerifyOptions
) -> ArtifactCheck:
    from edgecnn.quantdebug import debug_tflite_int8

    try:
        table = debug_tflite_int8(row.path, model_path, images, batch_size=options.batch_size, unsafe=options.unsafe)
    except EdgeCnnError as exc:
        log.warning("%s: --debug-quant failed: %s", row.path, exc)
        table = {"error": str(exc)}
    return replace(row, quant_debug=table)

