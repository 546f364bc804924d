"""Shared fixtures: one small seeded model trained once per session, reused by every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Small but real: 2 epochs on all 60,000 images reach ~97.5 %; enough for int8 parity.
SESSION_EPOCHS = 2


@pytest.fixture(scope="session")
def mnist():
    from edgecnn.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def trained_dir(tmp_path_factory, mnist) -> Path:
    """An output folder holding a seeded 2-epoch mnist_cnn.keras and its train.json."""
    from edgecnn.model import TrainConfig, train

    out = tmp_path_factory.mktemp("trained")
    train(TrainConfig(epochs=SESSION_EPOCHS, seed=0, verbose=0), mnist, out)
    return out


@pytest.fixture(scope="session")
def trained_model_path(trained_dir) -> Path:
    return trained_dir / "mnist_cnn.keras"


@pytest.fixture(scope="session")
def exported_dir(trained_dir) -> Path:
    """``trained_dir`` plus the four standard artifacts and their manifest.json."""
    from edgecnn.export import STANDARD, export_models

    export_models(trained_dir / "mnist_cnn.keras", trained_dir, STANDARD)
    return trained_dir
