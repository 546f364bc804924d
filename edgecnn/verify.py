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
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn import __version__, fileio
from edgecnn.artifact import Artifact
from edgecnn.data import Dataset
from edgecnn.errors import EdgeCnnError, ModelError
from edgecnn.names import DISAGREEMENTS_PNG, VERIFY_JSON
from edgecnn.platforms.check import check_verified, format_platforms
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
    labels: np.ndarray,
    keras_probs: np.ndarray,
    keras_accuracy: float,
    tolerances: Mapping[str, Tolerance],
    *,
    fmt: str | None = None,
    precision: str | None = None,
    options: VerifyOptions = VerifyOptions(),
) -> ArtifactCheck:
    """Load ``path`` in its runtime, run ``images`` and compare with Keras; never raises for a bad file."""
    from edgecnn.runtime import RuntimeOptions, load

    path = Path(path)
    fmt = fmt or path.suffix.lstrip(".")
    sha = fileio.sha256_file(path) if path.is_file() else None
    started = time.perf_counter()
    try:
        predictor = load(path, RuntimeOptions(num_threads=options.num_threads))
        # The file's metadata first, then what the manifest said (``precision``), never the name.
        precision = predictor.metadata.get("precision") or precision or predictor.precision
        probs = evaluate(predictor, images, options.batch_size)
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
    """
    from edgecnn.data import check_matches

    if not artifacts:
        raise ModelError("no artifacts to verify (run `edgecnn export`, or name .tflite/.onnx files)")
    tolerances = dict(tolerances or DEFAULT_TOLERANCES)
    started = time.perf_counter()
    missing = [item for item in artifacts if not Path(getattr(item, "path", item)).is_file()]
    if len(missing) == len(artifacts):  # nothing to run: no need to load Keras (a mistyped path is instant)
        rows = tuple(_missing_row(item) for item in missing)
        return VerifyReport(
            rows=rows, keras_accuracy=None, model_path=Path(model_path), model_sha256="", samples=0,
            data_source=data.source, tolerances=tolerances, seconds=time.perf_counter() - started,
            keras_probabilities=np.zeros((0, 0), np.float32), labels=np.zeros(0, np.int64),
        )
    spec = spec or artifact_spec(artifacts)
    if spec is not None:
        check_matches(data, spec.input_shape, spec.num_classes)
    images = data.x_test
    labels = data.y_test.astype(np.int64) if data.y_test is not None else None
    keras_probs = keras_reference(model_path, images, options.batch_size, options.unsafe, spec)  # a missing model: ModelError
    model_sha256 = fileio.sha256_file(model_path)
    keras_accuracy = float((keras_probs.argmax(axis=1) == labels).mean()) if labels is not None else None
    log.info("Keras accuracy %s on %d images", keras_accuracy, len(images))
    rows = []
    for item in artifacts:
        if isinstance(item, Artifact):
            row = check_artifact(
                item.path, images, labels, keras_probs, keras_accuracy, tolerances,
                fmt=item.format, precision=item.precision, options=options,
            )
        else:
            row = check_artifact(item, images, labels, keras_probs, keras_accuracy, tolerances, options=options)
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
    path = Path(getattr(item, "path", item))
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


def format_table(report: VerifyReport, root: Path | None = None) -> str:
    """The console table: one line per artifact, then the Keras reference and the verdict."""
    header = ("artifact", "precision", "accuracy", "Δ pts", "agreement", "disagree", "max|Δ|", "mean|Δ|", "result")
    lines = [header]
    for row in report.rows:
        name = _display_path(row.path, root)
        p = row.parity
        if p is None:
            lines.append((name, row.precision or "-", "-", "-", "-", "-", "-", "-", f"FAIL: {row.reason}"))
            continue
        result = "PASS" if row.passed else f"FAIL: {row.reason}"
        lines.append((
            name, p.precision, "unknown" if p.accuracy is None else f"{p.accuracy:.2%}",
            "-" if p.accuracy_delta is None else f"{p.accuracy_delta:+.2f}", f"{p.agreement:.2%}",
            str(p.disagreements), f"{p.max_abs_diff:.1e}", f"{p.mean_abs_diff:.1e}", result,
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths)) + "  " + line[-1] for line in lines]
    n_pass = sum(row.passed for row in report.rows)
    text.append("")
    if not report.ran_keras:
        text.append(f"0 of {len(report.rows)} artifacts pass (no file to run; Keras not loaded)")
        return "\n".join(text)
    accuracy = ("accuracy unknown (the data has no labels; agreement and |Δ| are checked)"
                if report.keras_accuracy is None else f"accuracy {report.keras_accuracy:.2%}")
    text.append(
        f"Keras {accuracy} on {report.samples:,} test images "
        f"(model sha256 {report.model_sha256[:12]}…); {n_pass} of {len(report.rows)} artifacts pass "
        f"({report.seconds:.1f} s)"
    )
    return "\n".join(text)


def format_quant_debug(table: dict[str, Any]) -> str:
    """The per-layer table of one int8 diagnosis (see :mod:`edgecnn.quantdebug`)."""
    from edgecnn.quantdebug import format_layers

    return format_layers(table)


def merge_results(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Fold one run's verify.json document into the existing one, keyed by artifact path.

    An entry of ``new`` replaces the entry with the same path and keeps its place; other entries
    stay as they were. A run that could not run Keras (every named file missing) keeps the old
    reference fields. Platform sections of this run replace those of the same key; an older
    section is dropped when a file it checked changed (sha256) since, as it no longer describes it.
    ``passed`` is recomputed over the complete set.
    """
    if not isinstance(old, dict) or not isinstance(old.get("artifacts"), list):
        return {**new, "passed": all(e.get("passed") for e in new["artifacts"])}
    merged = dict(old) if new["data"]["samples"] == 0 else {**old, **{k: v for k, v in new.items()
                                                                        if k not in ("artifacts", "platforms")}}
    from edgecnn.results import merge_entries

    before = {e.get("path"): e for e in old["artifacts"] if isinstance(e, dict)}
    changed = {Path(str(e["path"])).name for e in new["artifacts"]
               if e["path"] in before and before[e["path"]].get("sha256") != e.get("sha256")}
    platforms = {key: section for key, section in (old.get("platforms") or {}).items()
                 if not changed & set((section or {}).get("artifacts", {}))}
    platforms.update(new.get("platforms") or {})
    merged["artifacts"] = merge_entries(before.values(), new["artifacts"], lambda e: e.get("path"))
    merged["platforms"] = platforms
    merged["passed"] = all(e.get("passed") for e in merged["artifacts"])
    return merged


def write_report(
    report: VerifyReport, out_dir: Path, images: np.ndarray | None = None, max_images: int = 12,
    platforms: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Merge this run into ``verify.json`` and redraw ``disagreements.png`` from the complete set.

    Never loses another artifact's result: see :func:`merge_results`. The picture is rewritten
    only when what it shows changed, so a run that adds a failed entry leaves it byte-identical.
    """
    from edgecnn.plots import plot_disagreements

    out_dir = fileio.ensure_dir(Path(out_dir))
    json_path, png_path = out_dir / VERIFY_JSON, out_dir / DISAGREEMENTS_PNG
    try:
        old = fileio.read_json(json_path) if json_path.is_file() else None
    except Exception as exc:  # an unreadable old file is replaced, and said so
        log.warning("%s unreadable (%s); starting it again", json_path, exc)
        old = None
    merged = merge_results(old, report.to_json(out_dir, platforms))
    picture_key = fileio.sha256_bytes(repr([
        (e.get("path"), e.get("precision"), e.get("disagreements"), e.get("disagreement_indices"),
         e.get("disagreement_predictions")) for e in merged["artifacts"] if e.get("disagreements")
    ]).encode() + repr(max_images).encode())
    merged["disagreements_picture"] = picture_key
    redraw = not png_path.is_file() or (old or {}).get("disagreements_picture") != picture_key
    drawable = all(e.get("disagreement_predictions") or not e.get("disagreements") for e in merged["artifacts"])
    if (images is None or not drawable) and redraw and png_path.is_file():
        # Nothing to draw with, or entries from an older edgecnn without the classes to draw:
        # keep the picture of the last complete set rather than draw an incomplete one.
        redraw = False
    fileio.write_json(json_path, merged)
    if redraw:
        samples = int((merged.get("data") or {}).get("samples") or 0)
        plot_disagreements(merged["artifacts"], images, png_path, samples, max_images=max_images)
    return json_path, png_path


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
        return message


def verify_folder(
    output_dir: Path,
    artifacts: Sequence[Path] = (),
    *,
    model: Path | None = None,
    data: Path | None = None,
    tolerances: Mapping[str, Tolerance] | None = None,
    options: VerifyOptions = VerifyOptions(),
    platform_names: Sequence[str] = (),
    samples: int = 1000,
    echo=print,
) -> VerifyRun:
    """``edgecnn verify``: check ``artifacts`` (default: the manifest's) and merge into verify.json.

    ``echo`` receives the progress and the tables; the caller decides the exit status from
    :attr:`VerifyRun.failure`.
    """
    from edgecnn.data import load_data
    from edgecnn.manifest import load_artifacts, manifest_path, read_manifest
    from edgecnn.model import default_model_path

    output_dir = Path(output_dir)
    model = Path(model) if model else default_model_path(output_dir)
    targets = list(artifacts) or load_artifacts(output_dir, runnable_only=True)
    if not targets:
        raise ModelError(f"no artifacts to verify: {manifest_path(output_dir)} lists none "
                         "(run `edgecnn export`, or name .tflite/.onnx files)")
    spec = artifact_spec(targets)  # the files say what data fits them (shape, classes)
    mnist = load_data(data, spec.input_shape if spec is not None else None)
    echo(f"Verifying {len(targets)} artifact(s) against {model} on {len(mnist.x_test):,} test images")
    report = verify(model, targets, mnist, tolerances, options, spec=spec)
    warnings = []
    source = read_manifest(output_dir).get("source_model", {}).get("sha256") if not artifacts else None
    if source and report.ran_keras and source != report.model_sha256:
        warnings.append(f"the manifest's artifacts were exported from another model (sha256 {source[:12]}…)")
    echo(format_table(report, root=output_dir))
    for row in report.rows:
        if row.quant_debug is not None:
            echo(f"\nint8 layer diagnosis of {row.path.name}:")
            echo(format_quant_debug(row.quant_debug))
    if options.debug_quant and not any(row.quant_debug is not None for row in report.rows):
        echo("\n--debug-quant: no loadable TFLite int8 artifact among those verified")
    platforms = None
    if platform_names and report.ran_keras:
        platforms = check_verified(platform_names, report, mnist, samples, tolerances, echo=echo)
        echo(format_platforms(platforms))
    written = write_report(report, output_dir, mnist.x_test, options.max_images, platforms)
    return VerifyRun(report, platforms, written, warnings)
