"""Parity of every exported file against the Keras model: numbers and decisions.

Each artifact runs the full test set (MNIST's, or the ``--data`` one) in its own runtime (LiteRT for ``.tflite``,
ONNX Runtime for ``.onnx``, through :mod:`edgecnn.runtime`); its probabilities are
compared with Keras' by :func:`compare`, a pure function on arrays that another
process (e.g. the same runtime under an emulated Raspberry Pi) can reuse as is.

Importing this module is TF-free: TensorFlow/Keras are imported only by
:func:`keras_reference` and the int8 layer diagnosis (:mod:`edgecnn.quantdebug`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn import __version__, fileio
from edgecnn.artifact import Artifact
from edgecnn.data import Dataset
from edgecnn.errors import EdgeCnnError, ModelError
from edgecnn.platforms.check import check_verified, format_platforms
from edgecnn.workspace import Workspace
from edgecnn.verify_results import format_quant_debug, format_table, merge_results, write_report  # noqa: F401
from edgecnn.parity import DEFAULT_TOLERANCES, ParityResult, Tolerance, compare, override_tolerances  # noqa: F401

log = logging.getLogger(__name__)


# -- running the models -----------------------------------------------------------------


@dataclass(frozen=True)
class VerifyOptions:
    """How verification runs; none of these change a verdict."""

    batch_size: int = 1000  # images per runtime call: 10 calls cover the test set
    num_threads: int = 1  # runtime threads, as on a small device; parity does not depend on it
    debug_quant: bool = False  # add a per-layer error table for TFLite int8 artifacts
    debug_samples: int = 1000  # test images the per-layer diagnosis runs
    max_images: int = 12  # disagreeing images drawn per artifact in disagreements.png
    unsafe: bool = False  # load a .keras model that holds Python code (only for trusted files)


def keras_reference(model_path: Path, images: np.ndarray, batch_size: int = 1000, unsafe: bool = False,
                    spec=None) -> np.ndarray:
    """Keras' probabilities (N x K) for uint8 ``images``, in batches (imports TensorFlow).

    ``spec`` (the artifacts' ModelSpec) gives the declared preprocessing and head; a logits
    head gets the softmax the exported files have.
    """
    from edgecnn.model import image_classifier_shapes, keras_predict, load_model

    model = load_model(model_path, unsafe=unsafe)
    if spec is not None:
        shape, k = image_classifier_shapes(model, str(model_path))
        if (shape, k) != (tuple(spec.input_shape), spec.num_classes):
            raise ModelError(f"{model_path}: takes {shape} and gives {k} classes, but the artifacts take "
                             f"{tuple(spec.input_shape)} and give {spec.num_classes}: not the model they came from")
    return keras_predict(model, images, batch_size=batch_size,
                         preprocessing=spec.preprocessing if spec is not None else None,
                         head=spec.head if spec is not None else None)


def artifact_spec(artifacts: Sequence[Path | Artifact]):
    """The ModelSpec of the first artifact that loads (TF-free), None if none does."""
    from edgecnn.runtime import load

    for item in artifacts:
        path = item.path if isinstance(item, Artifact) else Path(item)
        try:
            return load(path).spec
        except (EdgeCnnError, RuntimeError, ValueError):
            continue
    return None


def evaluate(predictor, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """A runtime Predictor's probabilities (N x K) for uint8 ``images``, ``batch_size`` per call."""
    out = [predictor.predict(images[i: i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, predictor.num_classes), np.float32)


def file_probabilities(path: Path, images: np.ndarray, num_threads: int = 1,
                       batch_size: int = 1000) -> tuple[dict[str, str | None], np.ndarray]:
    """({"precision": the file's declared precision, "runtime": the runtime's}, probabilities N x K)
    of one exported file on uint8 ``images`` (TF-free; what :func:`check_artifact` runs in a child)."""
    from edgecnn.runtime import RuntimeOptions, load

    predictor = load(path, RuntimeOptions(num_threads=num_threads))
    declared = {"precision": predictor.metadata.get("precision"), "runtime": predictor.precision}
    return declared, evaluate(predictor, images, batch_size)


@dataclass(frozen=True)
class ArtifactCheck:
    """One row of the verification: an artifact and its parity, or why it could not be checked."""

    path: Path
    format: str
    precision: str | None
    parity: ParityResult | None = None
    error: str | None = None  # the file could not be loaded or run
    sha256: str | None = None
    seconds: float = 0.0  # load + inference over the test set
    predictions: np.ndarray | None = field(default=None, repr=False, compare=False)  # top-1 digits
    disagreement_indices: np.ndarray | None = field(default=None, repr=False, compare=False)  # vs Keras
    quant_debug: dict[str, Any] | None = None  # per-layer table (--debug-quant)

    @property
    def passed(self) -> bool:
        return self.error is None and self.parity is not None and self.parity.passed

    @property
    def reason(self) -> str:
        """Why the row failed, in one line ('' when it passed)."""
        if self.error:
            return self.error
        return "; ".join(self.parity.reasons) if self.parity else "not checked"

    def to_json(self, root: Path | None = None, max_indices: int = 100, labels: np.ndarray | None = None,
                keras_predictions: np.ndarray | None = None, model_sha256: str | None = None) -> dict[str, Any]:
        """verify.json's entry for this artifact; with ``labels``/``keras_predictions`` the first
        ``max_indices`` disagreements carry the true, Keras' and the artifact's class (for the picture)."""
        keys = ("accuracy", "accuracy_delta", "agreement", "disagreements", "max_abs_diff", "mean_abs_diff")
        metrics = self.parity.to_json() if self.parity else {}
        out: dict[str, Any] = {
            "path": _display_path(self.path, root),
            "format": self.format,
            "precision": self.precision,
            "sha256": self.sha256,
            **{k: _json_number(metrics.get(k)) for k in keys},
            "samples": metrics.get("samples"),
            "passed": self.passed,
            "reason": self.reason,
            "reasons": metrics.get("reasons", [self.error] if self.error else []),
            "tolerance": metrics.get("tolerance"),
            "seconds": round(self.seconds, 3),
        }
        out["model_sha256"] = model_sha256
        out["verified"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.disagreement_indices is not None:
            shown = self.disagreement_indices[:max_indices]
            out["disagreement_indices"] = shown.tolist()
            if self.predictions is not None and labels is not None and keras_predictions is not None:
                out["disagreement_labels"] = np.asarray(labels)[shown].tolist()
                out["disagreement_keras"] = np.asarray(keras_predictions)[shown].tolist()
                out["disagreement_predictions"] = self.predictions[shown].tolist()
        if self.quant_debug is not None:
            out["quant_debug"] = self.quant_debug
        return out


@dataclass(frozen=True)
class VerifyReport:
    """The whole verification: the Keras reference and one ArtifactCheck per artifact."""

    rows: tuple[ArtifactCheck, ...]
    keras_accuracy: float | None  # None: Keras was not run (every named file was missing) or the data has no labels
    model_path: Path
    model_sha256: str
    samples: int
    data_source: str
    tolerances: dict[str, Tolerance]
    seconds: float
    keras_probabilities: np.ndarray = field(repr=False, compare=False)  # N x K
    labels: np.ndarray | None = field(repr=False, compare=False)  # None: unlabelled data
    class_names: tuple[str, ...] | None = None

    @property
    def keras_predictions(self) -> np.ndarray:
        """Keras' top-1 digit per test image."""
        return self.keras_probabilities.argmax(axis=1)

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    @property
    def ran_keras(self) -> bool:
        """False for a report of files that could not even be found (Keras was not run)."""
        return self.samples > 0

    def entries(self, root: Path | None = None) -> list[dict[str, Any]]:
        """verify.json's ``artifacts`` entries of this run."""
        keras = self.keras_predictions if self.ran_keras else None
        sha = self.model_sha256 if self.ran_keras else None
        return [row.to_json(root, labels=self.labels, keras_predictions=keras, model_sha256=sha) for row in self.rows]

    def to_json(self, root: Path | None = None, platforms: dict[str, Any] | None = None) -> dict[str, Any]:
        """This run alone as a verify.json document (:func:`merge_results` folds it into an existing one)."""
        return {
            "edgecnn_version": __version__,
            "model": {"path": _display_path(self.model_path, root), "sha256": self.model_sha256},
            "data": {"source": self.data_source, "samples": self.samples, "labelled": self.labels is not None},
            "keras_accuracy": self.keras_accuracy,
            "tolerances": {p: t.to_json() for p, t in self.tolerances.items()},
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "artifacts": self.entries(root),
            # Checks on other platforms (e.g. an emulated Raspberry Pi: `verify --platform pi`).
            "platforms": platforms or {},
        }


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
            declared, probs = child.call("edgecnn.verify:file_probabilities", path, images, options.num_threads,
                                         options.batch_size, file=path.name, step=f"{fmt} inference")
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
        disagreement_indices=np.flatnonzero(predicted != keras_probs.argmax(axis=1)),
    )
    log.info("%s: %s in %.2f s", path.name, "PASS" if parity.passed else "FAIL", seconds)
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
        return VerifyReport(
            rows=tuple(_missing_row(item) for item in missing), keras_accuracy=None, model_path=Path(model_path),
            model_sha256="", samples=0,
            data_source=data.source, tolerances=tolerances, seconds=time.perf_counter() - started,
            keras_probabilities=np.zeros((0, 0), np.float32), labels=np.zeros(0, np.int64),
        )
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
    rows: list[ArtifactCheck] = []
    from edgecnn.isolation import Child

    with Child() as child:  # one child for all files; a crash costs a fresh one
        for item in artifacts:
            fmt, precision = (item.format, item.precision) if isinstance(item, Artifact) else (None, None)
            path = item.path if isinstance(item, Artifact) else Path(item)
            row = check_artifact(path, images, labels, keras_probs, keras_accuracy, tolerances,
                                 fmt=fmt, precision=precision, options=options, child=child)
            if options.debug_quant and row.error is None and row.format == "tflite" and row.precision == "int8":
                row = _with_quant_debug(row, model_path, images[: options.debug_samples], options)
            rows.append(row)
    return VerifyReport(
        rows=tuple(rows), keras_accuracy=keras_accuracy, model_path=Path(model_path),
        model_sha256=model_sha256, samples=len(images), data_source=data.source,
        tolerances=tolerances, seconds=time.perf_counter() - started,
        keras_probabilities=keras_probs, labels=labels,
        class_names=spec.labels if spec is not None else None,
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


# -- outputs ----------------------------------------------------------------------------


def _display_path(path: Path, root: Path | None) -> str:
    return fileio.relative_posix(path, root) or str(path)


def _json_number(value: Any) -> Any:
    # JSON has no NaN: a non-finite metric is written as null.
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


# -- the `edgecnn verify` command as a library call ----------------------------------------------


@dataclass
class VerifyRun:
    """What :func:`verify_folder` did: the report, platform sections, files written and the verdict."""

    report: VerifyReport
    platforms: dict[str, Any] | None
    written: tuple[Path, Path]
    warnings: list[str]

    @property
    def failure(self) -> str | None:
        """One line saying what failed, or None when every artifact (and platform) passed."""
        failed_platforms = [key for key, section in (self.platforms or {}).items() if not section["passed"]]
        if self.report.passed and not failed_platforms:
            return None
        failed = sum(not row.passed for row in self.report.rows)
        message = f"{failed} of {len(self.report.rows)} artifact(s) FAILED parity with Keras"
        if failed_platforms:
            message += f"; FAILED on {', '.join(failed_platforms)}"
        from edgecnn.platforms.check import platform_errors

        message += "".join(f"; {error}" for error in platform_errors(self.platforms)[:1])
        return message


@dataclass(frozen=True)
class VerifyRequest:
    """What ``edgecnn verify`` checks, against what, on which images."""

    workspace: Workspace
    artifacts: tuple[Path, ...] = ()  # none: the runnable files the manifest lists
    model: Path | None = None  # the Keras reference (None: the folder's model)
    data: Path | None = None  # test images (None: $EDGECNN_DATA, then the bundled MNIST)
    tolerances: Mapping[str, Tolerance] | None = None  # None: DEFAULT_TOLERANCES
    options: VerifyOptions = VerifyOptions()
    platforms: tuple[str, ...] = ()  # also check on these targets (edgecnn.platforms registry names)
    samples: int = 1000  # test images for the platform checks
    dataset: Dataset | None = field(default=None, compare=False, repr=False)  # already loaded (run)


def verify_folder(request: VerifyRequest, echo: Callable[[str], None] = print) -> VerifyRun:
    """``edgecnn verify``: check the files against Keras (and on platforms), merge into verify.json.

    Args:
        request: the files (default: the manifest's), the reference model, data and tolerances.
        echo: receives the progress and the tables.

    Returns:
        The report, the platform sections, the files written and warnings; the caller decides
        the exit status from :attr:`VerifyRun.failure`.

    Raises:
        ModelError: nothing to verify (the message says whether the manifest is missing or empty).
    """
    from edgecnn.data import load_data
    from edgecnn.datasource import changed_since_export, choose_data

    workspace = request.workspace
    model = Path(request.model) if request.model else workspace.default_model()
    targets: list[Path | Artifact] = list(request.artifacts) or list(workspace.artifacts(runnable_only=True))
    if not targets:
        raise ModelError(f"no artifacts to verify: {workspace.describe_missing_manifest()} "
                         "(run `edgecnn export`, or name .tflite/.onnx files)")
    spec = artifact_spec(targets)  # the files say what data fits them (shape, classes)
    if request.dataset is not None:  # run: already loaded (and chosen) by the caller
        data, warnings = request.dataset, []
    else:
        choice = choose_data(workspace.root, request.data, spec)  # --data, else the one recorded at export
        echo(choice.note)
        data = load_data(choice.path, spec.input_shape if spec is not None else None)
        warnings = [w for w in [changed_since_export(data, choice)] if w]
    echo(f"Verifying {len(targets)} artifact(s) against {model} on {len(data.x_test):,} test images")
    report = verify(model, targets, data, request.tolerances, request.options, spec=spec)
    source = workspace.manifest().get("source_model", {}).get("sha256") if not request.artifacts else None
    if source and report.ran_keras and source != report.model_sha256:
        warnings.append(f"the manifest's artifacts were exported from another model (sha256 {source[:12]}…)")
    echo(format_table(report, root=workspace.root))
    for row in report.rows:
        if row.quant_debug is not None:
            echo(f"\nint8 layer diagnosis of {row.path.name}:")
            echo(format_quant_debug(row.quant_debug))
    if request.options.debug_quant and not any(row.quant_debug is not None for row in report.rows):
        echo("\n--debug-quant: no loadable TFLite int8 artifact among those verified")
    platforms = None
    if request.platforms and report.ran_keras:
        platforms = check_verified(request.platforms, report, data, request.samples, request.tolerances, echo=echo)
        echo(format_platforms(platforms))
    written = write_report(report, workspace.root, data.x_test, request.options.max_images, platforms)
    return VerifyRun(report, platforms, written, warnings)
