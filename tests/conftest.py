"""Shared fixtures: one small seeded model trained once per session, reused by every test."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _test_cache_dir() -> None:
    """Give the suite its own edgecnn cache folder for what it *measures*, sharing what it *builds*.

    Bench tests measure the machine's GEMM ceiling while the suite itself loads the CPU; cached in
    the user's folder, that low figure would become the ceiling of every later `edgecnn bench`.
    The expensive, deterministic builds (the arm64 root, MCU objects, npm tarballs, trained test
    models) are linked in
    from the user's cache so a test session never rebuilds them.
    """
    import tempfile

    from edgecnn.env import cache_dir

    real = cache_dir()
    folder = Path(tempfile.mkdtemp(prefix="edgecnn-test-cache-"))
    for name in ("arm64", "mcu", "npm", "test-models"):
        (real / name).mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(real / name, target_is_directory=True)
    os.environ["EDGECNN_CACHE_DIR"] = str(folder)


_test_cache_dir()

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
    started = time.perf_counter()
    train(TrainConfig(epochs=SESSION_EPOCHS, seed=0, verbose=0), mnist, out)
    _TRAINED_SECONDS.append(time.perf_counter() - started)
    return out


_TRAINED_SECONDS: list[float] = []


@pytest.fixture(scope="session")
def trained_call_seconds(trained_dir) -> float:
    """Wall seconds of the train() call that made ``trained_dir``: a bound for its recorded timings."""
    return _TRAINED_SECONDS[0]


@pytest.fixture(scope="session")
def trained_model_path(trained_dir) -> Path:
    return trained_dir / "mnist_cnn.keras"


@pytest.fixture(scope="session")
def mobilenet() -> tuple[Path, Path]:
    """(mobilenet_v2_035.keras, photos.npz): the real-network model of tests/real_models.py,
    trained once per content hash into the shared test-model cache."""
    import real_models

    from edgecnn.env import cache_dir

    return real_models.trained(cache_dir() / "test-models")


@pytest.fixture(scope="session")
def exported_dir(trained_dir) -> Path:
    """``trained_dir`` plus the four standard artifacts and their manifest.json."""
    from edgecnn.export import STANDARD, export_models

    export_models(trained_dir / "mnist_cnn.keras", trained_dir, STANDARD)
    return trained_dir


# -- timing on a shared machine -----------------------------------------------------------------
# `pytest --durations` measures wall time, which a busy machine inflates. With EDGECNN_TEST_CPU=1,
# each test's CPU seconds (this process and its children, setup + call + teardown) are printed at
# the end, slowest first: the figure behind the `slow` markers (any test over ~5 s is slow).
_CPU_SECONDS: dict[str, float] = {}


def _cpu_now() -> float:
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not os.environ.get("EDGECNN_TEST_CPU"):
        yield
        return
    start = _cpu_now()
    yield
    _CPU_SECONDS[item.nodeid] = _cpu_now() - start


def pytest_terminal_summary(terminalreporter):
    if not _CPU_SECONDS:
        return
    terminalreporter.section("CPU seconds per test (setup + call + teardown, with children)")
    for nodeid, seconds in sorted(_CPU_SECONDS.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.5:
            terminalreporter.write_line(f"{seconds:7.2f}  {nodeid}")
    terminalreporter.write_line(f"{sum(_CPU_SECONDS.values()):7.2f}  total")
