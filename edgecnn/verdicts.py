"""The statistics of a verdict, numpy-free: 95 % intervals (Wilson for agreement, Newcombe's
paired method for the accuracy drop), PASS / FAIL / INCONCLUSIVE and their exit codes, and the one
line that says what a test set cannot show. ``parity`` judges with these and re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # an annotation only: parity imports this module, never the other way round
    from edgecnn.parity import Tolerance


PASS, FAIL, INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"
# The exit status of verify and run for each verdict (--warn-only: 0). A test set too small to
# show the tolerance is not a pass: it gets its own code, so a CI job can tell it from a FAIL.
EXIT_CODES = {PASS: 0, FAIL: 1, INCONCLUSIVE: 3}


def overall(verdicts: Iterable[str]) -> str:
    """FAIL if any is FAIL, else INCONCLUSIVE if any is, else PASS (also for none)."""
    found = set(verdicts)
    return FAIL if FAIL in found else INCONCLUSIVE if INCONCLUSIVE in found else PASS
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 %


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (``successes`` of ``n``); (0, 1) for n = 0.

    Wilson, not the normal approximation: at 42/42 or 0 disagreements the latter collapses to a
    zero-width interval, Wilson's stays honest (42/42: 91.6-100 %).
    """
    if n <= 0:
        return 0.0, 1.0
    if successes in (0, n):  # the closed form in exact terms: one bound at 0 or 1, the other z² / (n + z²) away
        edge = z * z / (n + z * z)
        return (0.0, edge) if successes == 0 else (1.0 - edge, 1.0)
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference_interval(both: int, first_only: int, second_only: int, neither: int,
                               z: float = Z95) -> tuple[float, float]:
    """95 % interval of p1 - p2 for two proportions measured on the same items: Newcombe's
    method 10 for paired data (Stat. Med. 1998;17:2635-2650; his example 36/12/2/0 of 50 gives
    0.0569-0.3404), Wilson intervals for each, combined with the correlation of the paired
    outcomes (no continuity correction).

    ``first_only``: items the first got right and the second wrong (Keras right, file wrong),
    ``second_only`` the reverse. p1 - p2 = (first_only - second_only) / n.
    """
    n = both + first_only + second_only + neither
    if n <= 0:
        return -1.0, 1.0
    p1, p2 = (both + first_only) / n, (both + second_only) / n
    l1, u1 = wilson_interval(both + first_only, n, z)
    l2, u2 = wilson_interval(both + second_only, n, z)
    margins = ((both + first_only) * (second_only + neither) * (both + second_only) * (first_only + neither))
    phi = (both * neither - first_only * second_only) / math.sqrt(margins) if margins else 0.0
    d = p1 - p2
    lower = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, d - lower), min(1.0, d + upper)


def _bounds(lo: float, hi: float, limit: float, scale: float = 100.0) -> str:
    """"87.7–99.6": one decimal, more where one decimal would make a bound read as the limit."""
    digits = 1
    while digits < 4 and any(round(scale * b, digits) == round(scale * limit, digits) and b != limit
                             for b in (lo, hi)):
        digits += 1
    return "–".join(f"{scale * b:.{digits}f}".replace("-", "−") for b in (lo, hi))  # a minus sign, not a dash


def interval_text(lo: float, hi: float, limit: float = 2.0) -> str:
    """"87.7–99.6": a 95 % interval of fractions, in percent with one decimal (more where one decimal
    would make a bound read as ``limit``, a tolerance it is judged against)."""
    return _bounds(lo, hi, limit)


def percent(fraction: float) -> str:
    """99.5 %, 99.99 %: a tolerance in the words of the statements (no float noise)."""
    return f"{100 * fraction:.6g} %"


def agreement_statement(n: int, disagreements: int, minimum: float, available: int | None = None,
                        more_option: str = "--samples") -> str:
    """The INCONCLUSIVE line of an agreement the interval cannot settle either way, e.g.
    "not enough test images to establish 99.5 % agreement (n = 42; 1 disagreement; 95 % interval
    87.7–99.6 %)"; with ``available`` > n, how many more images there are and the option to use."""
    lo, hi = wilson_interval(n - disagreements, n)
    text = (f"not enough test images to establish {percent(minimum)} agreement (n = {n:,}; {disagreements:,} "
            f"disagreement{'' if disagreements == 1 else 's'}; 95 % interval {_bounds(lo, hi, minimum)} %)")
    return text + _more(n, available, more_option)


def drop_statement(n: int, drop: float, interval: tuple[float, float], maximum: float,
                   available: int | None = None, more_option: str = "--samples") -> str:
    """The INCONCLUSIVE line of an accuracy drop (points) above the tolerance but not established."""
    lo, hi = interval
    text = (f"not enough test images to establish an accuracy drop of at most {maximum:g} points (n = {n:,}; "
            f"drop {drop:.2f} points; 95 % interval {_bounds(lo / 100, hi / 100, maximum / 100)} points)")
    return text + _more(n, available, more_option)


def _more(n: int, available: int | None, option: str) -> str:
    if available is None or available <= n:
        return ""
    return f"; {available - n:,} more test images available: {option} {available}"


def judge_rates(n: int, disagreements: int, drop: float | None, drop_interval: tuple[float, float] | None,
                tolerance: Tolerance, available: int | None = None,
                more_option: str = "--samples") -> tuple[str, tuple[str, ...]]:
    """(verdict, reasons) of a lossy file's rates: PASS when agreement's Wilson lower bound meets
    ``min_agreement`` and the point drop meets ``max_accuracy_drop``; FAIL when the upper bound
    is below it or the whole drop interval is above the tolerance; else INCONCLUSIVE with the
    statement(s) of what the test set cannot show. ``drop`` and its interval in points."""
    failed, unsure = [], []
    if tolerance.min_agreement is not None:
        lo, hi = wilson_interval(n - disagreements, n)
        if hi < tolerance.min_agreement:
            failed.append(f"agreement {1 - disagreements / n:.2%} < {tolerance.min_agreement:.2%} "
                          f"(95 % interval {_bounds(lo, hi, tolerance.min_agreement)} %)")
        elif lo < tolerance.min_agreement:
            unsure.append(agreement_statement(n, disagreements, tolerance.min_agreement, available, more_option))
    if tolerance.max_accuracy_drop is not None and drop is not None and drop_interval is not None:
        # Rounded to 1e-9 points (far below one image's 100 / N): 100 * (0.967 - 0.97) is
        # 0.30000000000000027 in floating point, and a drop of exactly the tolerance passes.
        lo, hi = drop_interval
        if round(lo, 9) > tolerance.max_accuracy_drop:
            failed.append(f"accuracy drop {drop:.2f} points > {tolerance.max_accuracy_drop:g} (95 % interval "
                          f"{_bounds(lo / 100, hi / 100, tolerance.max_accuracy_drop / 100)} points)")
        elif round(drop, 9) > tolerance.max_accuracy_drop:
            unsure.append(drop_statement(n, drop, drop_interval, tolerance.max_accuracy_drop, available, more_option))
    if failed:
        return FAIL, tuple(failed)
    return (INCONCLUSIVE, tuple(unsure)) if unsure else (PASS, ())
