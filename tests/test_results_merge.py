"""Nothing lost to a mistyped command (#16 point 1) and precision from the file, never its name (point 2)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgecnn.results import merge_entries
from edgecnn.verify import merge_results

from test_terminal import NOISE_RE, edgecnn

RESULT_FILES = ("verify.json", "disagreements.png", "bench.json", "bench.csv", "bench.md", "bench.png",
                "manifest.json", "train.json", "report.md", "report.html", "training.png", "confusion.png")


def _doc(entries, samples=10_000, **top):
    return {"edgecnn_version": "x", "model": {"sha256": "m"}, "data": {"samples": samples},
            "keras_accuracy": 0.99, "passed": all(e["passed"] for e in entries), "artifacts": entries,
            "platforms": {}, **top}


def test_verifying_one_file_updates_its_entry_and_keeps_the_others():
    old = _doc([{"path": "a.tflite", "passed": True, "sha256": "1", "disagreements": 3},
                {"path": "b.onnx", "passed": True, "sha256": "2", "disagreements": 0}],
               platforms={"pi": {"passed": True, "artifacts": {"b.onnx": {}}}})
    new = _doc([{"path": "a.tflite", "passed": False, "sha256": "9", "disagreements": 40}])
    merged = merge_results(old, new)
    assert [(e["path"], e["passed"], e["disagreements"]) for e in merged["artifacts"]] == [
        ("a.tflite", False, 40), ("b.onnx", True, 0)]
    assert merged["passed"] is False
    assert merged["platforms"] == old["platforms"]  # b.onnx unchanged: its platform section stands
    # A changed file drops the platform section that checked it (it no longer describes it).
    old["platforms"] = {"pi": {"passed": True, "artifacts": {"a.tflite": {}}}}
    assert merge_results(old, new)["platforms"] == {}


def test_a_run_that_found_nothing_adds_its_failed_entry_and_keeps_the_reference():
    old = _doc([{"path": "a.tflite", "passed": True, "sha256": "1"}])
    missing = _doc([{"path": "nope.onnx", "passed": False, "sha256": None}], samples=0,
                   keras_accuracy=None, model={"sha256": ""})
    merged = merge_results(old, missing)
    assert merged["keras_accuracy"] == 0.99 and merged["model"] == {"sha256": "m"}
    assert [e["path"] for e in merged["artifacts"]] == ["a.tflite", "nope.onnx"]


def test_bench_rows_of_other_files_are_kept_in_place():
    old = [{"path": "x/a.tflite", "batch": 1}, {"path": "x/b.onnx", "batch": 1}, {"path": "x/a.tflite", "batch": 256}]
    new = [{"path": "x/a.tflite", "batch": 1, "new": True}, {"path": "x/c.onnx", "batch": 1}]
    merged = merge_entries(old, new, lambda e: Path(e["path"]).name)
    assert merged == [{"path": "x/a.tflite", "batch": 1, "new": True}, {"path": "x/b.onnx", "batch": 1},
                      {"path": "x/c.onnx", "batch": 1}]


@pytest.mark.slow
def test_mistyped_verify_and_bench_after_a_full_run_lose_nothing(tmp_path):
    """`run --quick` (real process: also checked for native noise and a 100-column table), then a
    mistyped `verify` and a mistyped `bench`: every result file is byte-identical except verify.json's
    added failed entry, and the report still shows the real disagreements."""
    out = tmp_path / "exports"
    run = edgecnn("run", "--quick", "--output-dir", str(out), timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not NOISE_RE.search(run.stdout + run.stderr), NOISE_RE.search(run.stdout + run.stderr)
    table = run.stdout.split("\nResults (")[1].split("\n", 1)[1]  # after the line naming the report paths
    assert max(len(line) for line in table.splitlines()) <= 100
    assert "Which file to ship" in table and "smallest:" in table
    before = {name: (out / name).read_bytes() for name in RESULT_FILES}
    verify_before = json.loads(before["verify.json"])
    assert sum(e["disagreements"] for e in verify_before["artifacts"]) > 0  # int8 files disagree somewhere

    typo = edgecnn("verify", "--output-dir", str(out), str(out / "nope.onnx"))
    assert typo.returncode == 1 and "nope.onnx: file not found" in typo.stdout + typo.stderr
    bench_typo = edgecnn("bench", "--output-dir", str(out), str(out / "nope.tflite"))
    assert bench_typo.returncode == 1
    assert bench_typo.stderr.strip().splitlines()[-1] == f"Error: {out / 'nope.tflite'}: file not found"

    for name in RESULT_FILES:
        if name != "verify.json":
            assert (out / name).read_bytes() == before[name], f"{name} changed"
    after = json.loads((out / "verify.json").read_text())
    added = [e for e in after["artifacts"] if e["path"] == "nope.onnx"]
    assert len(added) == 1 and added[0]["passed"] is False and added[0]["reason"].endswith("file not found")
    assert [e for e in after["artifacts"] if e["path"] != "nope.onnx"] == verify_before["artifacts"]
    same = {k: v for k, v in after.items() if k not in ("artifacts", "passed")}
    assert same == {k: v for k, v in verify_before.items() if k not in ("artifacts", "passed")}
    assert after["passed"] is False  # honest: the complete set now holds a failure
    # The report's picture still shows the disagreements (not the "No disagreements" note).
    assert "disagreements.png" in (out / "report.md").read_text()
    with Image.open(out / "disagreements.png") as img:
        assert img.size[1] > 200, img.size

    # Benchmarking one file keeps the other files' rows, and the recommendation covers them all.
    one = edgecnn("bench", "--output-dir", str(out), "--batch-sizes", "1", "--seconds", "0.1", "--warmup", "0.05",
                  "--no-cold-start", str(out / "mnist_cnn_int8.onnx"))
    assert one.returncode == 0, one.stderr
    assert max(len(line) for line in one.stdout.split("\nWrote ")[0].splitlines()) <= 100
    bench = json.loads((out / "bench.json").read_text())
    files = {Path(r["path"]).name for r in bench["results"]}
    assert {"mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite", "mnist_cnn_float32.onnx",
            "mnist_cnn_int8.onnx"} <= files
    assert bench["recommendation"]["fastest_single"]["file"] != "" and len(bench["subjects"]) >= 5


@pytest.mark.slow
def test_a_renamed_int8_file_is_judged_as_int8_on_the_platform_check(exported_dir, mnist, tmp_path):
    """An int8 TFLite file renamed to look like float32: the platform check reads its precision from
    the file (metadata), so it is judged with int8 tolerances and passes."""
    from edgecnn.runtime import file_precision
    from edgecnn.platforms.check import verify_platforms
    from edgecnn.verify import keras_reference

    renamed = tmp_path / "mnist_cnn_float32.tflite"
    shutil.copyfile(exported_dir / "mnist_cnn_int8.tflite", renamed)
    assert file_precision(renamed) == "int8"
    n = 300
    images, labels = mnist.x_test[:n], mnist.y_test[:n].astype(np.int64)
    keras = keras_reference(exported_dir / "mnist_cnn.keras", images)
    section = verify_platforms([], [renamed], images, labels, keras)  # this machine: always checked first
    entry = next(iter(section.values()))["artifacts"][renamed.name]
    assert entry["precision"] == "int8"
    assert entry["tolerance"]["max_abs_diff"] is None and entry["tolerance"]["min_agreement"] == 0.995
    assert entry["passed"] is True, entry["reasons"]
