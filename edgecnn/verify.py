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
from edgecnn.errors import EdgeCnnError, InputError, ModelError

log = logging.getLogger(__name__)

VERIFY_JSON = "verify.json"
DISAGREEMENTS_PNG = "disagreements.png"


# -- tolerances -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """What an artifact must meet to PASS; ``None`` means the quantity is not checked."""

    max_abs_diff: float | None = None  # largest |p_artifact - p_keras| over all images and classes
    min_agreement: float | None = None  # fraction of images whose top-1 class equals Keras' (0.9999 = 99.99 %)
    max_accuracy_drop: float | None = None  # Keras accuracy minus artifact accuracy, in percentage points

    def to_json(self) -> dict[str, float | None]:
        return asdict(self)


# Float exports must reproduce Keras' numbers; quantized ones only its decisions.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(max_abs_diff=1e-4, min_agreement=0.9999),
    "float16": Tolerance(max_abs_diff=1e-2, min_agreement=0.9999),
    "int8": Tolerance(min_agreement=0.995, max_accuracy_drop=0.3),
    "dynamic": Tolerance(min_agreement=0.995, max_accuracy_drop=0.3),
}


def override_tolerances(
    table: Mapping[str, Tolerance],
    *,
    max_abs_diff: float | None = None,
    min_agreement: float | None = None,
    max_accuracy_drop: float | None = None,
) -> dict[str, Tolerance]:
    """A copy of ``table`` with user overrides applied.

    Each override replaces that bound in every precision whose default already checks
    it: ``max_abs_diff`` the float precisions, ``max_accuracy_drop`` the quantized
    ones, ``min_agreement`` all of them. ``None`` leaves the default.
    """
    wanted = {"max_abs_diff": max_abs_diff, "min_agreement": min_agreement, "max_accuracy_drop": max_accuracy_drop}
    out = {}
    for precision, tol in table.items():
        changes = {k: v for k, v in wanted.items() if v is not None and getattr(tol, k) is not None}
        out[precision] = replace(tol, **changes)
    return out


# -- the pure comparison ----------------------------------------------------------------


@dataclass(frozen=True)
class ParityResult:
    """How closely one artifact's probabilities follow Keras', and the verdict."""

    precision: str
    samples: int
    accuracy: float | None  # fraction of test images classified correctly (None: the data has no labels)
    accuracy_delta: float | None  # artifact accuracy minus Keras accuracy, in percentage points
    agreement: float  # fraction of images with the same top-1 class as Keras
    disagreements: int  # images whose top-1 class differs from Keras'
    max_abs_diff: float  # largest |Δ| of any probability
    mean_abs_diff: float  # mean |Δ| over all probabilities
    passed: bool
    reasons: tuple[str, ...]  # why it failed; empty when it passed
    tolerance: Tolerance

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        out["tolerance"] = self.tolerance.to_json()
        return out


def compare(
    probs: np.ndarray,
    keras_probs: np.ndarray,
    labels: np.ndarray | None,
    precision: str,
    tolerance: Tolerance,
    keras_accuracy: float | None,
) -> ParityResult:
    """Compare an artifact's probabilities (N x K) with Keras' on the same images.

    ``labels`` are the true classes (N,), or None for unlabelled data: then accuracy is
    unknown (None) and only agreement and |Δ| are judged. ``keras_accuracy`` is Keras'
    accuracy as a fraction (passed in so that a subset or another machine can reuse one
    reference). Mismatched shapes raise InputError; non-finite probabilities FAIL.
    """
    probs, keras_probs = np.asarray(probs), np.asarray(keras_probs)
    if probs.ndim != 2 or probs.shape != keras_probs.shape:
        k = keras_probs.shape[-1] if keras_probs.ndim == 2 else "K"
        raise InputError(f"probabilities {probs.shape} and Keras' {keras_probs.shape} must both be (N, {k})")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(probs),):
            raise InputError(f"labels {labels.shape} do not match {len(probs)} probability rows")
    n = len(probs)
    predicted, expected = probs.argmax(axis=1), keras_probs.argmax(axis=1)
    accuracy = None if labels is None else (float((predicted == labels).mean()) if n else 0.0)
    agreement = float((predicted == expected).mean()) if n else 0.0
    diff = np.abs(probs.astype(np.float64) - keras_probs.astype(np.float64))
    finite = bool(np.isfinite(probs).all())
    max_abs = float(diff.max()) if n and finite else float("nan") if n else 0.0
    mean_abs = float(diff.mean()) if n and finite else float("nan") if n else 0.0
    delta = None if accuracy is None or keras_accuracy is None else 100.0 * (accuracy - keras_accuracy)

    reasons = []
    if not finite:
        reasons.append("probabilities hold NaN or inf")
    if n == 0:
        reasons.append("no test images")
    if tolerance.max_abs_diff is not None and finite and max_abs > tolerance.max_abs_diff:
        reasons.append(f"max |Δ| {max_abs:.2e} > {tolerance.max_abs_diff:.0e}")
    if tolerance.min_agreement is not None and agreement < tolerance.min_agreement:
        reasons.append(f"agreement {agreement:.2%} < {tolerance.min_agreement:.2%}")
    if tolerance.max_accuracy_drop is not None and delta is not None and -delta > tolerance.max_accuracy_drop:
        reasons.append(f"accuracy drop {-delta:.2f} points > {tolerance.max_accuracy_drop:g}")
    return ParityResult(
        precision=precision, samples=n, accuracy=accuracy, accuracy_delta=delta, agreement=agreement,
        disagreements=int((predicted != expected).sum()), max_abs_diff=max_abs, mean_abs_diff=mean_abs,
        passed=not reasons, reasons=tuple(reasons), tolerance=tolerance,
    )


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

    def to_json(self, root: Path | None = None, max_indices: int = 100) -> dict[str, Any]:
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
        if self.disagreement_indices is not None:
            out["disagreement_indices"] = self.disagreement_indices[:max_indices].tolist()
        if self.quant_debug is not None:
            out["quant_debug"] = self.quant_debug
        return out


@dataclass(frozen=True)
class VerifyReport:
    """The whole verification: the Keras reference and one ArtifactCheck per artifact."""

    rows: tuple[ArtifactCheck, ...]
    keras_accuracy: float | None  # None: the data has no labels
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

    def to_json(self, root: Path | None = None, platforms: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "edgecnn_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": {"path": _display_path(self.model_path, root), "sha256": self.model_sha256},
            "data": {"source": self.data_source, "samples": self.samples, "labelled": self.labels is not None},
            "keras_accuracy": self.keras_accuracy,
            "tolerances": {p: t.to_json() for p, t in self.tolerances.items()},
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "artifacts": [row.to_json(root) for row in self.rows],
            # Checks on other platforms (e.g. an emulated Raspberry Pi: `verify --platform pi`);
            # a run without --platform leaves it empty because the artifacts may have changed.
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
        precision = precision or predictor.precision
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


def write_report(
    report: VerifyReport, out_dir: Path, images: np.ndarray | None = None, max_images: int = 12,
    platforms: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``verify.json`` (with the ``platforms`` section, if any) and ``disagreements.png``."""
    out_dir = fileio.ensure_dir(Path(out_dir))
    json_path = fileio.write_json(out_dir / VERIFY_JSON, report.to_json(out_dir, platforms))
    png_path = out_dir / DISAGREEMENTS_PNG
    plot_disagreements(report, images, png_path, root=out_dir, max_images=max_images)
    return json_path, png_path


def plot_disagreements(
    report: VerifyReport, images: np.ndarray | None, target: Path, root: Path | None = None, max_images: int = 12
) -> Path:
    """A PNG of the test images where an artifact and Keras disagree, one block per artifact.

    Each image is titled with the true digit, Keras' and the artifact's prediction;
    with no disagreement at all the PNG is a one-line note saying so.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    groups = [
        row for row in report.rows
        if row.disagreement_indices is not None and len(row.disagreement_indices) and images is not None
    ]
    if not groups:
        fig = plt.figure(figsize=(7, 1.2))
        fig.text(
            0.5, 0.5,
            f"No disagreements: every verified artifact predicts Keras' digit\n"
            f"on all {report.samples:,} test images.",
            ha="center", va="center", fontsize=12,
        )
    else:
        cols = max_images
        fig = plt.figure(figsize=(1.1 * cols, 1.9 * len(groups)), layout="constrained")
        fig.suptitle("Test images where an artifact and Keras disagree (red: the artifact's digit is wrong)",
                     fontsize=11)
        subfigs = np.atleast_1d(fig.subfigures(len(groups), 1))
        for sub, row in zip(subfigs, groups):
            idx = row.disagreement_indices
            shown = idx[:cols]
            sub.suptitle(
                f"{_display_path(row.path, root)} ({row.precision}): {len(idx)} disagreement"
                f"{'s' if len(idx) != 1 else ''} with Keras"
                + (f", first {len(shown)} shown" if len(idx) > len(shown) else ""),
                fontsize=10, x=0.01, ha="left",
            )
            axes = np.atleast_1d(sub.subplots(1, cols))
            for ax in axes:
                ax.axis("off")
            names = report.class_names
            name = (lambda k: names[k] if names is not None and 0 <= k < len(names) else str(k))  # noqa: E731
            for ax, i in zip(axes, shown):
                image = images[i]
                if image.ndim == 3 and image.shape[-1] == 1:
                    image = image[..., 0]
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
                true = "?" if report.labels is None else name(int(report.labels[i]))
                wrong = report.labels is not None and row.predictions[i] != report.labels[i]
                ax.set_title(
                    f"true {true}\nKeras {name(int(report.keras_predictions[i]))}\nmodel {name(int(row.predictions[i]))}",
                    fontsize=8, color="tab:red" if wrong else "black",
                )
    with fileio.atomic_path(Path(target)) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(target)
