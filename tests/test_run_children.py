"""`edgecnn run` keeps TensorFlow out of its own process: train, export and verify run in spawned children.

Why: in one process TensorFlow, the Keras model and the converters' leftovers stayed resident
while bench measured in its own child, so the run's peak memory was the sum of the two
(benchmarks/results/memory_scaling.txt). These tests check that the parent never imports
TensorFlow, that the children's lines reach the user, and that a child's death is one error line
with the report still written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent


def _segfault_after_one_line(*args):
    """A stage body that says one line and dies as a native crash would (module level: spawn pickles it)."""
    say = args[-1]
    say("    converting")
    os.kill(os.getpid(), signal.SIGSEGV)


def _warn_and_answer(value, say):
    import logging

    say("    one line")
    logging.getLogger("edgecnn.test").warning("a library warning in the child")
    return value * 2


def test_in_child_forwards_lines_returns_and_names_a_crash(capfd):
    from edgecnn.stagechild import StageCrashed, in_child

    seen: list[str] = []
    assert in_child("verify", _warn_and_answer, 21, say=seen.append) == 42
    assert seen == ["    one line"]
    assert "a library warning in the child" in capfd.readouterr().err  # the child's logging reaches stderr
    seen.clear()
    with pytest.raises(StageCrashed) as info:
        in_child("export", _segfault_after_one_line, say=seen.append)
    assert seen == ["    converting"]
    assert (info.value.stage, info.value.how) == ("export", "killed by SIGSEGV")
    assert str(info.value).startswith("run's export stage crashed: its child process ended without a result "
                                      "(killed by SIGSEGV)")


@pytest.fixture
def trained_copy(trained_dir, tmp_path):
    """A copy of the session's model folder: `run --quick` (2 epochs, seed 0) reuses it: no training.

    Only what training wrote: the session's ``exported_dir`` exports into the same folder, and its
    manifest and files must not pass for this run's."""
    out = tmp_path / "exports"
    shutil.copytree(trained_dir, out, ignore=shutil.ignore_patterns(
        "manifest.json", "*.tflite", "*.onnx", "*.cc", "*.h", "verify.json", "bench.*", "report.*", "*.npz", "bundle"))
    return out


def test_a_stage_child_that_crashes_is_one_error_and_the_report_is_still_written(trained_copy, monkeypatch):
    from edgecnn import pipeline
    from edgecnn.cli import cli

    monkeypatch.setattr(pipeline, "_export", _segfault_after_one_line)  # the export child dies with SIGSEGV
    result = CliRunner().invoke(cli, ["run", "--quick", "--output-dir", str(trained_copy)])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [result.output.strip().splitlines()[-1]], result.output  # one Error: line, the last
    assert errors[0].startswith("Error: run's export stage crashed: its child process ended without a result "
                                "(killed by SIGSEGV)")
    assert "    converting" in result.output and "reusing" in result.output
    # The stages before it and the report are written; nothing after it ran.
    assert (trained_copy / "report.md").is_file() and (trained_copy / "training.png").is_file()
    assert not (trained_copy / "manifest.json").exists() and not (trained_copy / "bench.json").exists()
    assert "train" in (trained_copy / "report.md").read_text()


_PROBE = """
import sys
from edgecnn.cli.group import main
sys.argv = ["edgecnn", "run", *sys.argv[1:]]
try:
    main()
except SystemExit as exit_:
    code = exit_.code
print("tensorflow in run's process:", "tensorflow" in sys.modules, "keras" in sys.modules)
sys.exit(code)
"""


@pytest.mark.slow
def test_run_never_imports_tensorflow_in_its_own_process(tmp_path):
    """A whole `run --model` (tiny model, 60 test images): TensorFlow loads only in the children."""
    import keras

    sys.path.insert(0, str(ROOT / "tests"))
    import own_models

    x, y = own_models.make_shapes(300, 16, 3, seed=1)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.save(tmp_path / "tiny.keras")
    out = tmp_path / "out"
    args = ["--model", str(tmp_path / "tiny.keras"), "--data", str(tmp_path / "data.npz"), "--preprocess", "unit",
            "--quick", "--output-dir", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env,
                          timeout=900, cwd=tmp_path)
    # 60 test images cannot establish 99.5 % agreement for an int8 file (edgecnn/verdicts.py): the run
    # ends INCONCLUSIVE, exit 3, with every stage done and every file written.
    assert done.returncode == 3, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "tensorflow in run's process: False False", done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith(
        "Error: verification INCONCLUSIVE: 2 of 4 artifact(s) INCONCLUSIVE: not enough test images to establish "
        "99.5 % agreement (n = 60;"), done.stderr
    # The children's lines reached the terminal, in each stage's place, and every file was written.
    export = lines.index("[3] export: TFLite float32 + int8, ONNX float32 + int8")
    # The int8 loop's steps come first, as they are judged (one each: both files meet the tolerance at once).
    assert [line.split(",")[0].strip() for line in lines[export + 1:export + 3]] == [
        "int8 TFLite step 0", "int8 ONNX step 0"], done.stdout
    assert all(line.endswith("(meets the tolerance)") for line in lines[export + 1:export + 3])
    assert [line.split()[0] for line in lines[export + 3:export + 7]] == [
        "tiny_float32.tflite", "tiny_int8.tflite", "tiny_float32.onnx", "tiny_int8.onnx"]
    assert any(line.startswith("    Verifying 4 artifact(s) against") for line in lines)
    seconds = {line.split()[0]: float(line.split()[-2]) for line in lines if " done in " in line}
    assert set(seconds) == {"data", "train", "export", "verify", "bench", "report"}
    assert seconds["export"] > 1.0 and seconds["verify"] > 1.0  # each child's work is inside its stage's time
    report = json.loads((out / "verify.json").read_text())
    assert {Path(a["path"]).name: a["status"] for a in report["artifacts"]} == {
        "tiny_float32.tflite": "PASS", "tiny_int8.tflite": "INCONCLUSIVE",
        "tiny_float32.onnx": "PASS", "tiny_int8.onnx": "INCONCLUSIVE"}
    assert (out / "bench.json").is_file() and (out / "report.md").is_file()
