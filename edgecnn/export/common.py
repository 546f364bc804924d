"""Helpers shared by the exporters: calibration images, artifact records."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgecnn import fileio
from edgecnn.artifact import Artifact, TensorSpec


def calibration_images(options) -> np.ndarray:
    """A seeded sample of *training* images, preprocessed (float32 N x 28 x 28 x 1)."""
    from edgecnn.data import load_mnist, preprocess

    mnist = load_mnist(options.data_path)
    rng = np.random.default_rng(options.seed)
    n = min(options.calibration_samples, len(mnist.x_train))
    idx = rng.choice(len(mnist.x_train), size=n, replace=False)
    return preprocess(mnist.x_train[np.sort(idx)])


def make_artifact(path: Path, fmt: str, precision: str, started: float, **extra) -> Artifact:
    """Describe a file just written, reading its tensors back through edgecnn's runtime."""
    from edgecnn.runtime import load

    predictor = load(path)
    return Artifact(
        path=Path(path), format=fmt, precision=precision,
        bytes=Path(path).stat().st_size, sha256=fileio.sha256_file(path),
        inputs=(predictor.input_spec,), outputs=(predictor.output_spec,),
        export_seconds=time.perf_counter() - started, extra=extra,
    )


__all__ = ["calibration_images", "make_artifact", "TensorSpec"]
