"""Seeded byte mutations of the four standard artifacts: a correct load or a typed error, nothing else.

Each case (load + one predict) runs in a child process (batches of cases per child), so
a native crash or a hang is counted and reported here instead of killing pytest.
The longer run is ``python benchmarks/fuzz.py`` (thousands of mutations per artifact).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgecnn.fuzz import KINDS, FuzzResult, _collect, fuzz_file, mutate

MUTATIONS = 750  # per artifact: 3,000 cases in all, ~2-4 s per artifact on 2 cores
SEED = 0


# ~1.5-3 CPU seconds each (with the children): the int8 TFLite file in the fast run, all four in CI.
@pytest.mark.parametrize("name", [
    pytest.param("mnist_cnn_float32.tflite", marks=pytest.mark.slow), "mnist_cnn_int8.tflite",
    pytest.param("mnist_cnn_float32.onnx", marks=pytest.mark.slow),
    pytest.param("mnist_cnn_int8.onnx", marks=pytest.mark.slow),
])
def test_mutated_artifacts_load_correctly_or_raise_typed_errors(exported_dir, tmp_path, name):
    result = fuzz_file(exported_dir / name, SEED, MUTATIONS, batch=150, timeout=30.0, workdir=tmp_path)
    assert result.tried == MUTATIONS
    assert result.failures == [], f"{len(result.failures)} bad outcomes, first: {result.failures[:3]}"
    assert result.counts["ok"] + result.counts["typed_error"] == MUTATIONS
    # Both outcomes occur: the mutations are neither all fatal nor all harmless.
    assert result.counts["typed_error"] > MUTATIONS // 3 and result.counts["ok"] > 0, dict(result.counts)
    # Every truncation of a model file is caught (a shorter model is never a valid one here).
    assert result.by_kind["truncate"]["typed_error"] == len(range(0, MUTATIONS, len(KINDS)))


def test_mutations_are_seeded_and_bounded():
    data = bytes(range(256)) * 40
    assert [mutate(data, 7, i) for i in range(30)] == [mutate(data, 7, i) for i in range(30)]
    assert mutate(data, 7, 0) != mutate(data, 8, 0)
    for i in range(60):
        kind, out = mutate(data, 3, i)
        assert kind == KINDS[i % 3]
        if kind == "truncate":
            assert len(out) < len(data) and data.startswith(out)
        else:
            assert len(out) == len(data)


def _fake_child(script: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)


def test_runner_reports_a_native_crash_and_resumes_after_it(tmp_path):
    """A child that reports case 0, then dies by SIGABRT on case 1: case 1 is the crash."""
    case0 = json.dumps({"source": "m", "index": 0, "kind": "truncate", "outcome": "typed_error"})
    proc = _fake_child(f"import os, sys; print({case0!r}, flush=True); os.abort()")
    result = FuzzResult()
    with open(tmp_path / "err", "w+b") as err:
        next_index = _collect(proc, 0, 5, 10.0, result, Path("m"), err)
    assert next_index == 2
    assert result.tried == 2 and result.counts == {"typed_error": 1, "crash": 1}
    assert result.failures[0]["index"] == 1 and result.failures[0]["detail"].startswith("SIGABRT")


def test_runner_reports_a_hang_and_kills_the_child(tmp_path):
    proc = _fake_child("import time; time.sleep(600)")
    result = FuzzResult()
    with open(tmp_path / "err", "w+b") as err:
        next_index = _collect(proc, 4, 9, 1.0, result, Path("m"), err, startup=0.0)
    assert next_index == 5 and result.counts == {"hang": 1}
    assert proc.poll() is not None  # killed, not left behind
