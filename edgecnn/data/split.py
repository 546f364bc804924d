"""Which images test a model when the data has no train/test split of its own."""

from __future__ import annotations

import numpy as np

from edgecnn.data.dataset import Dataset

TEST_FRACTION = 0.2  # of each class, when the data has no train/test split of its own


def take(x, mask: np.ndarray):
    """The images of ``x`` where ``mask`` holds: an array's rows, or the files of an ImageFiles (not decoded)."""
    return x.subset(np.flatnonzero(mask)) if hasattr(x, "subset") else x[mask]


def split(x, y, source: str, sums, names, kind: str, seed: int, fraction: float = TEST_FRACTION) -> Dataset:
    """A seeded per-class split: ``fraction`` of each class (at least one of a class of 2+) for testing."""
    if y is None:
        return Dataset(x, None, x, None, source, sums, names, kind,
                       "unlabelled: every image calibrates and verifies")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        n = int(round(len(idx) * fraction))
        n = max(n, 1) if len(idx) >= 2 else 0
        test[idx[:n]] = True
    text = f"seeded split (seed {seed}): {fraction:.0%} of each class for testing"
    return Dataset(take(x, ~test), y[~test], take(x, test), y[test], source, sums, names, kind, text)
