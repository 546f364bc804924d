"""`edgecnn run --quick` end to end: every artifact, the JSON files, the report and its pictures."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from edgecnn.cli import cli
from edgecnn.model import TrainConfig


@pytest.mark.slow
def test_run_quick_end_to_end_then_reuses_the_model(tmp_path):
    out = tmp_path / "exports"
    first = CliRunner().invoke(cli, ["run", "--quick", "--output-dir", str(out)])
    assert first.exit_code == 0, first.output
    for name in ("mnist_cnn.keras", "train.json", "manifest.json", "mnist_cnn_float32.tflite",
                 "mnist_cnn_int8.tflite", "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx",
                 "verify.json", "bench.json", "report.md", "report.html"):
        assert (out / name).is_file(), name
    record = json.loads((out / "train.json").read_text())
    assert record["epochs"] == 2 and record["test_accuracy"] >= 0.97

    verify = json.loads((out / "verify.json").read_text())
    assert verify["passed"] and len(verify["artifacts"]) == 4
    assert all(row["agreement"] >= 0.995 for row in verify["artifacts"])

    bench = json.loads((out / "bench.json").read_text())
    runtimes = {row["runtime"] for row in bench["results"]}
    assert "keras" in runtimes and "onnxruntime" in runtimes
    assert all(row["p50_us"] > 0 for row in bench["results"])

    md = (out / "report.md").read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert {"training.png", "bench.png", "disagreements.png", "confusion.png"} <= set(pictures)
    for picture in pictures:
        assert (out / picture).stat().st_size > 5_000, picture
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pictures) and "<table>" in html
    # The summary table: Keras baseline + four artifacts, each verified and timed.
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 5 and sum("PASS" in line for line in table) == 4
    assert "Results" in first.output and "PASS" in first.output

    model_sha = record["model_sha256"]
    second = CliRunner().invoke(cli, ["run", "--quick", "--output-dir", str(out)])
    assert second.exit_code == 0, second.output
    assert "reusing" in second.output
    assert json.loads((out / "train.json").read_text())["model_sha256"] == model_sha


@pytest.fixture
def trained_copy(trained_dir, tmp_path):
    """A copy of the session's model folder: `run --quick` (2 epochs, seed 0) finds it reusable."""
    out = tmp_path / "exports"
    shutil.copytree(trained_dir, out)
    return out


@pytest.mark.slow
def test_run_exits_1_when_a_file_fails_verification(trained_copy, monkeypatch):
    from edgecnn import parity

    # An int8 tolerance no int8 model meets (its probabilities are never Keras' floats exactly).
    monkeypatch.setitem(parity.DEFAULT_TOLERANCES, "int8", parity.Tolerance(max_abs_diff=0.0))
    result = CliRunner().invoke(cli, ["run", "--quick", "--output-dir", str(trained_copy)])
    assert result.exit_code == 1, result.output
    assert "reusing" in result.output
    assert result.stderr.strip().splitlines()[-1] == "Error: verification FAILED for at least one artifact (see verify.json)"
    report = json.loads((trained_copy / "verify.json").read_text())
    passed = {row["path"]: row["passed"] for row in report["artifacts"]}
    assert passed == {"mnist_cnn_float32.tflite": True, "mnist_cnn_int8.tflite": False,
                      "mnist_cnn_float32.onnx": True, "mnist_cnn_int8.onnx": False}
    assert report["passed"] is False
    # The run still finished: benchmark and report written, the failures shown in the table.
    assert (trained_copy / "bench.json").is_file() and (trained_copy / "report.md").is_file()
    table = [line for line in (trained_copy / "report.md").read_text().splitlines() if line.startswith("| ")]
    assert sum("FAIL" in line for line in table) == 2 and sum("PASS" in line for line in table) == 2


@pytest.mark.slow
def test_retrain_trains_although_a_matching_model_exists(trained_copy, mnist):
    from edgecnn.pipeline import reusable_model

    before = json.loads((trained_copy / "train.json").read_text())
    record_stat = (trained_copy / "train.json").stat()
    model_stat = (trained_copy / "mnist_cnn.keras").stat()
    result = CliRunner().invoke(cli, ["run", "--quick", "--retrain", "--output-dir", str(trained_copy)])
    assert result.exit_code == 0, result.output
    assert "reusing" not in result.output and "train: 2 epochs, seed 0" in result.output
    after = json.loads((trained_copy / "train.json").read_text())
    # Written again (atomically: new files), by a training of its own that took its own time.
    assert (trained_copy / "train.json").stat().st_ino != record_stat.st_ino
    assert (trained_copy / "mnist_cnn.keras").stat().st_ino != model_stat.st_ino
    assert after["wall_seconds"] != before["wall_seconds"]
    assert after["config_key"] == before["config_key"] and after["epochs"] == 2
    # Same seed, same data: the retrained model is the same model, and it is reusable again.
    assert after["test_accuracy"] == before["test_accuracy"]
    assert reusable_model(trained_copy, TrainConfig(epochs=2, seed=0), mnist.checksums) is not None
