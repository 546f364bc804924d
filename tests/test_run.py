"""`edgecnn run --quick` end to end: every artifact, the JSON files, the report and its pictures."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from edgecnn.cli import cli


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
