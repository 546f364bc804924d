"""The Keras baseline, timed in its own process so that TensorFlow never runs beside the files.

An app on the device has no Keras beside its model. Loaded into the timing process, TensorFlow
keeps its runtime and thread pools there for good (they cannot be stopped or shrunk once
started), so every file timed after it shares the process with them; the files' figures are
then no longer what the app will see (#23: float32 TFLite read 18.5 µs at batch 1 inside
`bench` where a bare loop over the same file read 13.2 µs). The baseline is measured first, in
a spawned child (a fresh interpreter: no TensorFlow inherited), with the same timing code and
settings; the timing process itself never imports TensorFlow. Its ratios are across processes,
which costs nothing measurable next to a baseline some 30x slower than the files.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgecnn.bench.config import BenchConfig
from edgecnn.bench.subjects import Subject


def measure_apart(subject: Subject, config: BenchConfig, images: np.ndarray, threads: int,
                  samples: dict[tuple[str, int, int], np.ndarray]) -> list[dict[str, Any]]:
    """Time the baseline ``subject`` at every batch size in a spawned child process.

    Args:
        subject: the Keras baseline (not loaded: the child loads it).
        config: the run's settings (batch sizes, seconds or runs, warm-up).
        images: the test images (uint8); batch N times the first N.
        threads: the thread count TensorFlow is given in the child.
        samples: receives the per-call µs of each (name, batch, threads), as for the other files.

    Returns:
        The baseline's rows, one per batch size; ``subject`` gains its graph and MAC count.

    Raises:
        EdgeCnnError: the child's own error (e.g. a .keras file that cannot be loaded), same type
        and message; a crash of the child becomes one EdgeCnnError naming it.
    """
    from edgecnn.errors import EdgeCnnError
    from edgecnn.isolation import ChildDied, run_spawned

    try:
        rows, got, macs = run_spawned(_child, subject, config, images, threads, name="edgecnn-keras-baseline")
    except ChildDied as died:
        raise EdgeCnnError(f"{subject.path}: the Keras baseline's process ended without a result "
                           f"({died.how})") from None
    samples.update(got)
    subject.macs = macs
    return rows


def _child(subject: Subject, config: BenchConfig, images: np.ndarray, threads: int):
    """In the child: load the Keras model, then time it batch by batch like any other subject."""
    from edgecnn.bench.measure import measure
    from edgecnn.bench.subjects import load_subject

    load_subject(subject, config, threads)
    samples: dict[tuple[str, int, int], np.ndarray] = {}
    rows = []
    for batch in config.batch_sizes:
        rows += measure([subject], config, images[:batch], threads, samples)
    return rows, samples, subject.macs
