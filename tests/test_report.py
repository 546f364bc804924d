"""report.md / report.html from what the commands wrote (the fast-run cover of edgecnn.report).

`edgecnn run` (tests/test_run.py, slow) builds the report at the end of a full pipeline; here the
same functions run on the results of one `verify` and one short `bench`, in a few seconds.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from click.testing import CliRunner

from edgecnn import report
from edgecnn.cli import cli


@pytest.fixture(scope="module")
def results_dir(exported_dir, tmp_path_factory):
    """The exported folder after `verify` of the int8 TFLite file and a short `bench` of everything."""
    out = tmp_path_factory.mktemp("report") / "exports"
    shutil.copytree(exported_dir, out)
    verified = CliRunner().invoke(cli, ["verify", str(out / "mnist_cnn_int8.tflite"), "--output-dir", str(out)])
    assert verified.exit_code == 0, verified.output
    benched = CliRunner().invoke(cli, ["bench", "--output-dir", str(out), "--batch-sizes", "1,256", "--runs", "3",
                                       "--warmup", "0", "--no-cold-start"])
    assert benched.exit_code == 0, benched.output
    return out


def test_report_shows_the_results_and_inlines_every_picture(results_dir):
    out = results_dir
    record = json.loads((out / "train.json").read_text())
    report.plot_training(record, out / "training.png")
    inputs = report.ReportInputs(commands=("edgecnn verify", "edgecnn bench"), stage_seconds={"verify": 1.25},
                                 machine={"cores": 2}, versions={"numpy": "9.9"}, notes=("ship the int8 file",))
    md_path, html_path = report.write_report(out, inputs)
    assert (md_path, html_path) == (out / "report.md", out / "report.html")
    md = md_path.read_text()

    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + 5  # header, the Keras baseline and the four artifacts
    cells = {tuple(c.strip() for c in line.strip("|").split("|"))[:2]: line for line in table[1:]}
    # The reference CNN's int8 ONNX keeps its two convolutions (the 1-channel one, the one after tanh) and their
    # pools float32 (export/onnx_int8.py's graph rule): the report says so where the precision is shown.
    onnx_int8 = "int8, 4 of 6 layers float32"
    assert sorted(cells) == [("keras", "float32"), ("onnx", "float32"), ("onnx", onnx_int8), ("tflite", "float32"),
                             ("tflite", "int8")]
    verify = json.loads((out / "verify.json").read_text())
    (row,) = verify["artifacts"]
    accuracy = f"{100 * row['accuracy']:.2f} %"
    assert "PASS" in cells["tflite", "int8"] and accuracy in cells["tflite", "int8"]
    assert f"{100 * verify['keras_accuracy']:.2f} %" in cells["keras", "float32"] and "(baseline)" in cells["keras", "float32"]
    for key in [("tflite", "float32"), ("onnx", "float32"), ("onnx", onnx_int8)]:  # timed but not verified
        assert "PASS" not in cells[key] and "FAIL" not in cells[key], key

    assert "## Which file to ship\n\n- ship the int8 file" in md
    assert "- Stage times: verify 1.2 s" in md and "- Libraries: numpy 9.9" in md
    assert "```sh\nedgecnn verify\nedgecnn bench\n```" in md
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert pictures == ["training.png", "bench.png", "disagreements.png"]  # no confusion.png written here
    html = html_path.read_text()
    assert html.count("data:image/png;base64,") == 3 and html.count("<tr>") == 1 + 5


def test_console_table_lines_up_the_same_rows(results_dir):
    rows = report.summary_rows(results_dir)
    assert len(rows) == 5
    lines = report.console_table(rows).splitlines()
    assert set(lines[1]) <= {"-", " "}  # the rule under the titles
    assert len(lines[0].rstrip()) == len(lines[1].rstrip())  # titles and rule are one width
    for row, line in zip(rows, lines[2:2 + len(rows)]):  # one line per row, in order
        precision = row.get("precision_short", row["precision"])
        assert line.split(None, 1)[1].startswith(f"{precision}  "), line
        assert line.split()[0] == row["format"], line
    # The mixed int8 ONNX file in its short form, explained in the legend.
    assert [line.split()[:3] for line in lines[2:2 + len(rows)] if "f32)" in line] == [["onnx", "int8", "(4/6"]]
    assert "int8 (3/65 f32): an int8 file with 3 of its 65 layers kept float32" in " ".join(lines)
    assert all(len(line) <= 100 for line in lines)  # fits a terminal
