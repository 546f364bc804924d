"""The parity rules: what an exported file must meet to PASS, and the pure comparison.

numpy only, at the bottom of the house: ``verify`` and every platform checker (the emulated Pi,
the browser, TFLite Micro, Cortex-M firmware) judge with these, so one file's verdict means the
same thing wherever it ran. Nothing here loads a model or writes a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from edgecnn.errors import InputError


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
# App variants (export/app.py) wrap the same core: held to its tolerance.
DEFAULT_TOLERANCES.update(float32_app=DEFAULT_TOLERANCES["float32"], int8_app=DEFAULT_TOLERANCES["int8"])


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
    # Rounded to 1e-9 points (far below one image's 100 / N): 100 * (0.967 - 0.97) is
    # 0.30000000000000027 in floating point, and a drop of exactly the tolerance passes.
    if tolerance.max_accuracy_drop is not None and delta is not None and round(-delta, 9) > tolerance.max_accuracy_drop:
        reasons.append(f"accuracy drop {-delta:.2f} points > {tolerance.max_accuracy_drop:g}")
    return ParityResult(
        precision=precision, samples=n, accuracy=accuracy, accuracy_delta=delta, agreement=agreement,
        disagreements=int((predicted != expected).sum()), max_abs_diff=max_abs, mean_abs_diff=mean_abs,
        passed=not reasons, reasons=tuple(reasons), tolerance=tolerance,
    )


# -- parity of a run elsewhere, as one verify.json platform entry -----------------------------

def compare_with_keras(
    probs: np.ndarray, keras_probs: np.ndarray, labels: np.ndarray | None, precision: str,
    tolerances: Mapping[str, Tolerance] | None = None,
) -> dict[str, Any]:
    """Parity of ``probs`` with the Keras model's, judged with ``edgecnn verify``'s tolerances."""
    probs, keras_probs = np.asarray(probs), np.asarray(keras_probs)
    labels = None if labels is None else np.asarray(labels)  # None: unlabelled data, accuracy unknown
    if probs.shape != keras_probs.shape or (labels is not None and len(labels) != len(probs)):
        raise InputError(f"probabilities {probs.shape} vs Keras {keras_probs.shape} and "
                         f"{'no' if labels is None else len(labels)} labels")
    table = tolerances or DEFAULT_TOLERANCES
    if precision not in table:
        raise InputError(f"no tolerance for precision {precision!r} (have: {', '.join(table)})")
    keras_accuracy = None if labels is None else float(np.mean(keras_probs.argmax(1) == labels))
    parity = compare(probs, keras_probs, labels, precision, table[precision], keras_accuracy)
    return {
        **parity.to_json(),
        "keras_accuracy": keras_accuracy,
        "status": "PASS" if parity.passed else "FAIL",
    }
