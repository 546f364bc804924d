"""The user's data follows the files (issue #21, point 2): export records the data set it calibrated
on in manifest.json; verify, bench and the report use it without --data and say so; another --data
is named; a recorded one that is gone says what it was; nothing falls back to MNIST for a 40x40 model."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.cli import cli

sys.path.insert(0, str(Path(__file__).parent))
import own_models  # noqa: E402

BENCH = ["--runs", "2", "--warmup", "0", "--batch-sizes", "1", "--threads", "1", "--no-keras", "--no-cold-start",
         "--no-ceiling"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 40x40x1 3-class model (untrained: parity needs no accuracy) exported as TFLite float32 + int8,
    calibrated on test.npz."""
    root = tmp_path_factory.mktemp("follows")
    x, y = own_models.make_shapes(200, 40, 3, seed=2, channels=1)
    npz = root / "test.npz"
    np.savez(npz, x=x, y=y)
    model = own_models.build_residual_grey(40, 3, seed=0)
    model.save(root / "grey40.keras")
    out = root / "out"
    result = CliRunner().invoke(cli, ["export", "--model", str(root / "grey40.keras"), "--data", str(npz),
                                      "--format", "tflite", "--output-dir", str(out), "--calibration-samples", "50"])
    assert result.exit_code == 0, result.output
    return root, out, npz


def test_export_records_the_data_set_in_the_manifest(exported):
    from edgecnn.data import load_data
    from edgecnn.datasource import data_sha256

    _, out, npz = exported
    data = json.loads((out / "manifest.json").read_text())["data"]
    loaded = load_data(npz, (40, 40, 1))
    assert data == {"path": str(npz.resolve()), "layout": "npz", "split": loaded.split,
                    "train_images": len(loaded.x_train), "test_images": len(loaded.x_test), "sha256": data_sha256(loaded)}


def test_bench_without_data_uses_the_recorded_set_not_mnist(exported, tmp_path):
    _, out, _ = exported
    work = tmp_path / "out"
    shutil.copytree(out, work)
    result = CliRunner().invoke(cli, ["bench", "--output-dir", str(work), *BENCH])
    assert result.exit_code == 0, result.stderr
    assert "(recorded in manifest.json at export)" in result.stderr and "test.npz" in result.stderr
    # No MNIST shape before the timing starts (the paths may hold any digits: pytest-28/).
    assert not re.search(r"28 ?[x,] ?28", result.stderr.split("Benchmarking")[0])
    rows = json.loads((work / "bench.json").read_text())
    assert rows  # measured on the 40x40 images


def test_verify_without_data_uses_it_and_the_report_says_so(exported, tmp_path):
    from edgecnn import report

    root, out, npz = exported
    work = tmp_path / "out"
    shutil.copytree(out, work)
    result = CliRunner().invoke(cli, ["verify", "--output-dir", str(work), "--model", str(root / "grey40.keras")])
    assert result.exit_code == 0, result.output
    assert f"data: {npz.resolve()} (recorded in manifest.json at export)" in result.output
    verified = json.loads((work / "verify.json").read_text())
    assert verified["data"]["source"] == str(npz.resolve()) and verified["data"]["samples"] == 39
    md_path, _ = report.write_report(work, report.ReportInputs(commands=(), stage_seconds={}, machine={},
                                                               versions={}))
    md = md_path.read_text()
    assert f"- Calibrated on: {npz.resolve()} (npz;" in md and "161 training and 39 test images" in md
    assert "39 test images, the calibration data set)" in md


def test_another_data_is_named_and_a_gone_one_says_what_it_was(exported, tmp_path):
    root, out, npz = exported
    work = tmp_path / "out"
    shutil.copytree(out, work)
    other = tmp_path / "other.npz"
    shutil.copy(npz, other)
    result = CliRunner().invoke(cli, ["bench", "--output-dir", str(work), "--data", str(other), *BENCH])
    assert result.exit_code == 0, result.stderr
    assert f"data: {other} (--data); the files were exported with {npz.resolve()}" in result.stderr
    moved = tmp_path / "moved.npz"
    npz.rename(moved)
    try:
        result = CliRunner().invoke(cli, ["bench", "--output-dir", str(work), *BENCH])
    finally:
        moved.rename(npz)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {npz.resolve()}: the data set the files were exported with (manifest.json: npz, 200 images) "
        "is gone; pass --data")


def test_no_record_and_a_non_mnist_model_is_an_error_not_mnist(exported, tmp_path):
    _, out, _ = exported
    work = tmp_path / "out"
    shutil.copytree(out, work)
    manifest = json.loads((work / "manifest.json").read_text())
    del manifest["data"]  # an export from before the record existed
    (work / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["bench", "--output-dir", str(work), *BENCH])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "takes 40x40x1 images and 3 classes, not MNIST's" in last
    assert "pass its own images with --data" in last and "28" not in last
