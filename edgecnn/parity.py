"""The parity rules: what an exported file must meet to PASS, and the pure comparison.

numpy only, at the bottom of the house: ``verify`` and every platform checker (the emulated Pi,
the browser, TFLite Micro, Cortex-M firmware) judge with these, so one file's verdict means the
same thing wherever it ran. Nothing here loads a model or writes a file.

Two kinds of judgement (#20 point 4). A float file must reproduce Keras' numbers on every image
(max |Δp|): that is not a sampled rate, so its point rules decide. A lossy file (int8, dynamic:
tolerances without ``max_abs_diff``) is held to a rate, agreement and accuracy drop, that a finite
test set only estimates: with ``Tolerance.by_interval`` (the defaults) it PASSes when the 95 %
interval shows the tolerance holds, FAILs when
the interval shows it does not, and is INCONCLUSIVE in between, with one line saying so. A
platform check of a lossy file instead asks whether the device reproduces the same file's host
output (:func:`reproduces`), which a handful of images settles deterministically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from edgecnn.errors import InputError
from edgecnn.verdicts import (  # noqa: F401  (re-exported: callers keep importing the rules from parity)
    _bounds, _more, agreement_statement, drop_statement, EXIT_CODES, FAIL, INCONCLUSIVE, interval_text,
    judge_rates, overall, paired_difference_interval, PASS, percent, wilson_interval, Z95,
)


# -- tolerances -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """What an artifact must meet to PASS; ``None`` means the quantity is not checked."""

    max_abs_diff: float | None = None  # largest |p_artifact - p_keras| over all images and classes
    min_agreement: float | None = None  # fraction of images whose top-1 class equals Keras' (0.9999 = 99.99 %)
    max_accuracy_drop: float | None = None  # Keras accuracy minus artifact accuracy, in percentage points
    # Judge the rates by their 95 % intervals (PASS / FAIL / INCONCLUSIVE), not the point values: what
    # verify's lossy defaults do. Off for a tolerance built by hand (e.g. a stop rule on a few hundred
    # held-out images, which could never establish 99.5 %: Wilson's lower bound at 500/500 is 99.24 %).
    by_interval: bool = False

    def to_json(self) -> dict[str, float | None]:
        out = asdict(self)
        out.pop("by_interval")  # each verify.json entry says how it was judged (``judged_by``)
        return out

    @property
    def lossy(self) -> bool:
        """A tolerance on rates only (int8, dynamic): judged by 95 % intervals, not point values."""
        return self.max_abs_diff is None


# Float exports must reproduce Keras' numbers; quantized ones only its decisions.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "float32": Tolerance(max_abs_diff=1e-4, min_agreement=0.9999),
    "float16": Tolerance(max_abs_diff=1e-2, min_agreement=0.9999),
    "int8": Tolerance(min_agreement=0.995, max_accuracy_drop=0.3, by_interval=True),
    "dynamic": Tolerance(min_agreement=0.995, max_accuracy_drop=0.3, by_interval=True),
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
        changes: dict[str, Any] = {k: v for k, v in wanted.items() if v is not None and getattr(tol, k) is not None}
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
    reasons: tuple[str, ...]  # why it failed or is inconclusive; empty when it passed
    tolerance: Tolerance
    verdict: str = PASS  # PASS / FAIL / INCONCLUSIVE (lossy files only: the test set cannot tell)
    agreement_interval: tuple[float, float] = (0.0, 1.0)  # Wilson 95 %, fractions
    accuracy_drop_interval: tuple[float, float] | None = None  # Newcombe paired 95 %, points (Keras - file)
    judged_by: str = "point values on every image"  # or "95 % intervals" (lossy files)

    @property
    def accuracy_drop(self) -> float | None:
        """Keras accuracy minus the file's, in points."""
        return None if self.accuracy_delta is None else -self.accuracy_delta

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        out["tolerance"] = self.tolerance.to_json()
        out["agreement_interval"] = list(self.agreement_interval)
        out["accuracy_drop_interval"] = (None if self.accuracy_drop_interval is None
                                         else list(self.accuracy_drop_interval))
        out["status"] = self.verdict
        return out


def _drop_counts(predicted: np.ndarray, expected: np.ndarray, labels: np.ndarray) -> tuple[int, int, int, int]:
    """(both right, Keras only, file only, neither) over the images: the paired table of the drop."""
    keras_ok, file_ok = expected == labels, predicted == labels
    return (int((keras_ok & file_ok).sum()), int((keras_ok & ~file_ok).sum()),
            int((~keras_ok & file_ok).sum()), int((~keras_ok & ~file_ok).sum()))


def _checked(probs: Any, keras_probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The three as arrays, or InputError when their shapes do not line up."""
    probs, keras_probs = np.asarray(probs), np.asarray(keras_probs)
    if probs.ndim != 2 or probs.shape != keras_probs.shape:
        k = keras_probs.shape[-1] if keras_probs.ndim == 2 else "K"
        raise InputError(f"probabilities {probs.shape} and Keras' {keras_probs.shape} must both be (N, {k})")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (len(probs),):
            raise InputError(f"labels {labels.shape} do not match {len(probs)} probability rows")
    return probs, keras_probs, labels


def _point_reasons(tolerance: Tolerance, max_abs: float | None, agreement: float,
                   delta: float | None) -> list[str]:
    """Why point values miss ``tolerance`` (float files, and lossy ones without ``by_interval``)."""
    reasons = []
    if tolerance.max_abs_diff is not None and max_abs is not None and max_abs > tolerance.max_abs_diff:
        reasons.append(f"max |Δ| {max_abs:.2e} > {tolerance.max_abs_diff:.0e}")
    if tolerance.min_agreement is not None and agreement < tolerance.min_agreement:
        reasons.append(f"agreement {agreement:.2%} < {tolerance.min_agreement:.2%}")
    # Rounded to 1e-9 points (far below one image's 100 / N), as judge_rates does.
    drop_limit = tolerance.max_accuracy_drop
    if drop_limit is not None and delta is not None and round(-delta, 9) > drop_limit:
        reasons.append(f"accuracy drop {-delta:.2f} points > {drop_limit:g}")
    return reasons


def compare(
    probs: np.ndarray,
    keras_probs: np.ndarray,
    labels: np.ndarray | None,
    precision: str,
    tolerance: Tolerance,
    keras_accuracy: float | None,
    available: int | None = None,
) -> ParityResult:
    """Compare an artifact's probabilities (N x K) with Keras' on the same images.

    ``labels`` are the true classes (N,), or None for unlabelled data: then accuracy is
    unknown (None) and only agreement and |Δ| are judged. ``keras_accuracy`` is Keras'
    accuracy as a fraction (passed in so that a subset or another machine can reuse one
    reference). Mismatched shapes raise InputError; non-finite probabilities FAIL.

    A float tolerance (with ``max_abs_diff``) is judged on the point values; a lossy one with
    ``by_interval`` (verify's defaults) by the 95 % intervals (:func:`judge_rates`): PASS, FAIL or
    INCONCLUSIVE. ``available``: test images
    there are beyond these N (an INCONCLUSIVE line then says how many more ``--samples`` gives).
    """
    probs, keras_probs, labels = _checked(probs, keras_probs, labels)
    n = len(probs)
    predicted, expected = probs.argmax(axis=1), keras_probs.argmax(axis=1)
    accuracy = None if labels is None else (float((predicted == labels).mean()) if n else 0.0)
    agreement = float((predicted == expected).mean()) if n else 0.0
    disagreements = int((predicted != expected).sum())
    diff = np.abs(probs.astype(np.float64) - keras_probs.astype(np.float64))
    finite = bool(np.isfinite(probs).all())
    max_abs = float(diff.max()) if n and finite else float("nan") if n else 0.0
    mean_abs = float(diff.mean()) if n and finite else float("nan") if n else 0.0
    delta = None if accuracy is None or keras_accuracy is None else 100.0 * (accuracy - keras_accuracy)
    drop_interval = None
    if labels is not None and n:
        lo, hi = paired_difference_interval(*_drop_counts(predicted, expected, labels))
        drop_interval = (100.0 * lo, 100.0 * hi)

    reasons: list[str] = []
    if not finite:
        reasons.append("probabilities hold NaN or inf")
    if n == 0:
        reasons.append("no test images")
    verdict = FAIL if reasons else PASS
    interval = tolerance.lossy and tolerance.by_interval
    if interval:
        if not reasons:
            verdict, judged = judge_rates(n, disagreements, None if delta is None else -delta, drop_interval,
                                          tolerance, available)
            reasons.extend(judged)
    else:
        reasons.extend(_point_reasons(tolerance, max_abs if finite else None, agreement, delta))
        verdict = FAIL if reasons else PASS
    return ParityResult(
        precision=precision, samples=n, accuracy=accuracy, accuracy_delta=delta, agreement=agreement,
        disagreements=disagreements, max_abs_diff=max_abs, mean_abs_diff=mean_abs,
        passed=verdict == PASS, reasons=tuple(reasons), tolerance=tolerance, verdict=verdict,
        agreement_interval=wilson_interval(n - disagreements, n), accuracy_drop_interval=drop_interval,
        judged_by=("95 % intervals" if interval else "point values" if tolerance.lossy
                   else "point values on every image"),
    )


# -- parity of a run elsewhere, as one verify.json platform entry -----------------------------

# A device reproduces a lossy file's host output when no probability moves more than this, and the
# top-1 class changes only on near-ties of the host output (its top two within 2x this: a tie
# such a difference can flip). Measured: TFLite Micro's reference kernels against LiteRT's XNNPACK
# on the reference CNN's int8 file, at most 6 LSB of the 1/256 output scale (0.023) on 1,000
# MNIST images; ONNX Runtime on an emulated Cortex-A72 against this machine's, int8 ONNX: max
# |Δp| 0.032 and one near-tie of 1,000 resolved the other way. 0.05 leaves room above both and
# stays far below what int8 moves against Keras (0.1-0.9).
REPRODUCTION_MAX_ABS_DIFF = 0.05


def reproduces(probs: np.ndarray, host_probs: np.ndarray, host: str = "the host runtime",
               max_abs_diff: float = REPRODUCTION_MAX_ABS_DIFF) -> dict[str, Any]:
    """Whether a device's probabilities reproduce the same file's on ``host`` (deterministic: no
    sampling involved): max |Δp| within ``max_abs_diff``, and the same top-1 on every image but
    near-ties of the host output (top two within 2 x ``max_abs_diff``), which are counted."""
    probs, host_probs = np.asarray(probs, np.float64), np.asarray(host_probs, np.float64)
    if probs.shape != host_probs.shape:
        raise InputError(f"probabilities {probs.shape} and {host}'s {host_probs.shape} differ in shape")
    n = len(probs)
    top, host_top = (probs.argmax(1), host_probs.argmax(1)) if n else (np.zeros(0, int), np.zeros(0, int))
    changed = top != host_top
    rows = np.arange(n)
    margin = host_probs[rows, host_top] - host_probs[rows, top]  # how far the host put the device's choice below
    ties = int((changed & (margin <= 2 * max_abs_diff)).sum())
    differ = int(changed.sum())
    finite = bool(np.isfinite(probs).all())
    worst = float(np.abs(probs - host_probs).max()) if n and finite else float("nan") if n else 0.0
    reasons = []
    if not finite:
        reasons.append("probabilities hold NaN or inf")
    if differ > ties:
        reasons.append(f"top-1 differs from {host} on {differ - ties} of {n:,} images that were no near-tie")
    if finite and worst > max_abs_diff:
        reasons.append(f"max |Δ| against {host} {worst:.2e} > {max_abs_diff:g}")
    if not n:
        reasons.append("no test images")
    return {"against": host, "agreement": 1.0 - differ / n if n else 0.0, "differing_images": differ,
            "near_ties": ties, "max_abs_diff": worst if finite else None, "max_abs_diff_limit": max_abs_diff,
            "rule": f"max |Δp| <= {max_abs_diff:g}; the same top-1 but on near-ties (top two within "
                    f"{2 * max_abs_diff:g})",
            "passed": not reasons, "reasons": reasons}


def compare_with_keras(
    probs: np.ndarray, keras_probs: np.ndarray, labels: np.ndarray | None, precision: str,
    tolerances: Mapping[str, Tolerance] | None = None, *, host_probs: np.ndarray | None = None,
    host: str = "the host runtime", available: int | None = None,
) -> dict[str, Any]:
    """One platform entry: parity of ``probs`` with the Keras model's, with verify's tolerances.

    A float file is judged against Keras on every image (its point rules). A lossy file with
    ``host_probs`` (the same file's output on ``host``) is judged by :func:`reproduces` against
    them, deterministically; its agreement with Keras and the 95 % interval stay beside it as
    information (``keras_status``: what the few images can say of the rate). Without
    ``host_probs`` a lossy file is judged by the intervals, as verify judges it.
    ``available``: test images there are beyond these (INCONCLUSIVE lines name ``--samples``).
    """
    probs, keras_probs = np.asarray(probs), np.asarray(keras_probs)
    labels = None if labels is None else np.asarray(labels)  # None: unlabelled data, accuracy unknown
    if probs.shape != keras_probs.shape or (labels is not None and len(labels) != len(probs)):
        raise InputError(f"probabilities {probs.shape} vs Keras {keras_probs.shape} and "
                         f"{'no' if labels is None else len(labels)} labels")
    table = tolerances or DEFAULT_TOLERANCES
    if precision not in table:
        raise InputError(f"no tolerance for precision {precision!r} (have: {', '.join(table)})")
    keras_accuracy = None if labels is None else float(np.mean(keras_probs.argmax(1) == labels))
    parity = compare(probs, keras_probs, labels, precision, table[precision], keras_accuracy, available)
    entry = {**parity.to_json(), "keras_accuracy": keras_accuracy, "judged_against": "Keras"}
    if host_probs is None:
        return entry
    vs_host = reproduces(probs, host_probs, host)
    entry["vs_host"] = vs_host
    if table[precision].lossy:
        entry.update(judged_against=f"{host} (the same file)", keras_status=parity.verdict,
                     keras_reasons=list(parity.reasons), passed=vs_host["passed"],
                     status=PASS if vs_host["passed"] else FAIL, reasons=list(vs_host["reasons"]))
    return entry
