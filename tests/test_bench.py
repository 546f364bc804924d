"""The bench harness on the session's small model: consistent figures, outputs, errors, bounds.

Short runs only (CI has 2 cores): these check the figures' consistency, never their speed.
"""

from __future__ import annotations

import csv
import json
import shutil
import time

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn import bench
from edgecnn.bench import summarize
from edgecnn.cli import cli
from edgecnn.manifest import load_artifacts

FAST = dict(warmup_seconds=0.05, warmup_calls=3, cold_start=False, keras=False)
KEYS = {"path", "runtime", "precision", "batch", "threads", "p50_us", "p90_us", "p99_us", "min_us", "mean_us",
        "std_us", "throughput", "cold_start_ms", "peak_rss_mb", "ratio", "e2e_p50_us"}


@pytest.fixture(scope="module")
def paths(exported_dir):
    return {a.key: a.path for a in load_artifacts(exported_dir)}


@pytest.fixture(scope="module")
def bench_copy(exported_dir, tmp_path_factory):
    """A private copy of the exported folder, so bench outputs never touch the shared fixture."""
    out = tmp_path_factory.mktemp("bench") / "exports"
    shutil.copytree(exported_dir, out)
    return out


def _check_row(row):
    assert KEYS <= row.keys()
    assert 0 < row["min_us"] <= row["p50_us"] <= row["p90_us"] <= row["p99_us"]
    assert row["min_us"] <= row["mean_us"] and row["std_us"] >= 0
    assert row["throughput"] == pytest.approx(row["batch"] * 1e6 / row["p50_us"])
    assert row["runs"] >= 1


def test_harness_figures_are_consistent(paths, mnist):
    config = bench.BenchConfig(batch_sizes=(1, 4), runs=40, rounds=4, **FAST)
    chosen = [paths["tflite/float32"], paths["tflite/int8"], paths["onnx/float32"]]
    result = bench.run_bench(chosen, config, mnist.x_test)
    assert len(result.rows) == 3 * 2
    for row in result.rows:
        _check_row(row)
        assert row["runs"] == 40  # --runs is exact
        assert row["ratio"] == pytest.approx(row["p50_us"] / result.rows[0 if row["batch"] == 1 else 3]["p50_us"])
    by = {(r["precision"], r["runtime"], r["batch"]): r for r in result.rows}
    # int8 TFLite takes int8 input: quantization is timed only in the end-to-end figure.
    assert by["int8", "litert+xnnpack", 1]["quantize_in_timed_call"] is True
    assert by["float32", "onnxruntime", 1]["quantize_in_timed_call"] is False
    # Every runtime model also has the end-to-end figure, from uint8 pixels.
    assert all(r["e2e_measured"] and r["e2e_p50_us"] > 0 for r in result.rows)
    assert {k[1:] for k in result.samples} == {(1, 1), (4, 1)}
    assert result.machine["cores"] >= 1 and "numpy" in result.versions
    json.dumps(result.to_json())  # everything recorded is JSON


def test_what_actually_runs(paths):
    config = bench.BenchConfig(**FAST)
    subjects = bench.make_subjects([paths["tflite/float32"], paths["tflite/int8"], paths["onnx/int8"]],
                                   config, {})
    for subject in subjects:
        bench.load_subject(subject, config, threads=1)
    tfl_f32, tfl_i8, onnx_i8 = (s.graph for s in subjects)
    for g in (tfl_f32, tfl_i8):
        assert g["nodes"] >= 8 and 0 < g["delegated_nodes"] <= g["nodes"]  # the CNN has ≥ 8 layers' ops
        assert g["partial"] == (g["delegated_nodes"] < g["nodes"])
        assert g["delegated_nodes"] + sum(g["not_delegated"].values()) == g["nodes"]
    assert sum(onnx_i8["ops"].values()) == onnx_i8["nodes"]
    # ORT's fusions only remove nodes; what it adds is its NCHWc layout reorders around the float32
    # convolutions the int8 graph rule keeps (measured: 16 nodes in the file, 18 with 2 ReorderOutput).
    reorders = onnx_i8["ops"].get("ReorderInput", 0) + onnx_i8["ops"].get("ReorderOutput", 0)
    assert onnx_i8["nodes"] - reorders <= onnx_i8["nodes_in_file"]
    assert any(op.startswith(("QLinear", "QGemm")) for op in onnx_i8["ops"])  # ORT fused QDQ into integer kernels
    off = bench.make_subjects([paths["tflite/float32"]], bench.BenchConfig(xnnpack=(False,)), {})[0]
    bench.load_subject(off, config, threads=1)
    assert off.runtime == "litert" and off.graph == {}


# Peak RSS of a cold-start child, measured here (LiteRT 2.x, ONNX Runtime 1.2x, Python 3.12):
# TFLite ~50 MB, ONNX Runtime ~73 MB, the .keras baseline (TensorFlow + Keras) ~650 MB.
# "Tens of MB" for a TF-free process: 2x headroom over ONNX Runtime, still 4x below TensorFlow.
TF_FREE_RSS_MB = (10, 150)


@pytest.mark.parametrize("key", ["tflite/int8", "onnx/float32"])
def test_cold_start_in_fresh_process(paths, key):
    cold = bench.cold_start(paths[key])
    assert "error" not in cold, cold
    assert 0 < cold["import_ms"] < cold["cold_start_ms"] < cold["process_ms"]
    assert cold["load_ms"] > 0 and cold["first_inference_ms"] > 0
    low, high = TF_FREE_RSS_MB
    assert low < cold["peak_rss_mb"] < high, cold  # a TF-free process: tens of MB, not TensorFlow's hundreds


def test_failing_cold_start_child_is_an_error_entry(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    cold = bench.cold_start(bad)
    assert set(cold) == {"error"}
    assert cold["error"] == f"edgecnn.errors.ModelError: {bad}: not a TFLite model: no TFL3 identifier"


def test_failing_bench_child_in_run_is_one_error(tmp_path):
    """`edgecnn run` times in a fresh spawned child; when it fails, the child's reason is the one error."""
    from edgecnn.bench.folder import BenchRequest, bench_folder
    from edgecnn.errors import EdgeCnnError
    from edgecnn.workspace import Workspace

    seen = []
    with pytest.raises(EdgeCnnError) as info:
        bench_folder(BenchRequest(Workspace(tmp_path), fresh_process=True), progress=seen.append)
    expected = f"{tmp_path}: no models to benchmark (run `edgecnn train` and `edgecnn export` first)"
    assert str(info.value) == f"edgecnn bench failed: {expected}"
    assert seen == []
    assert not (tmp_path / "bench.json").exists()


def _segfault_after_one_line(request, progress):
    """A bench child that says one line and then dies as a native crash would (module level: spawn pickles it)."""
    import os
    import signal

    progress("timing")
    os.kill(os.getpid(), signal.SIGSEGV)


def test_bench_child_that_crashes_is_one_error_naming_the_signal(tmp_path):
    """A native crash in the bench child ends the child, not the run: one error naming the signal."""
    from edgecnn.bench import folder
    from edgecnn.errors import EdgeCnnError
    from edgecnn.workspace import Workspace

    seen = []
    with pytest.raises(EdgeCnnError) as info:
        folder._in_child(folder.BenchRequest(Workspace(tmp_path), fresh_process=True), seen.append,
                         main=_segfault_after_one_line)
    assert seen == ["timing"]
    assert str(info.value) == "edgecnn bench failed: its process ended without a result (killed by SIGSEGV)"


def test_cli_bench_measures_in_a_child_so_a_native_crash_is_one_error_line(tmp_path, monkeypatch):
    """`edgecnn bench` runs LiteRT/ONNX Runtime on the user's files in a spawned child: a crash there is one
    Error: line naming the signal (exit 1), not the end of the CLI (exit 139)."""
    from edgecnn.bench import folder

    monkeypatch.setattr(folder, "_bench", _segfault_after_one_line)  # the child dies as a native crash would
    result = CliRunner().invoke(cli, ["bench", "--output-dir", str(tmp_path), "--no-cold-start"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: edgecnn bench failed: its process ended without a result (killed by SIGSEGV)"]
    assert "  timing" in result.stderr  # its progress line was forwarded before it died
    assert not (tmp_path / "bench.json").exists()


def test_cli_default_run_writes_every_output(bench_copy):
    (bench_copy / "verify.json").write_text(json.dumps({
        "keras_accuracy": 0.97, "artifacts": [{"path": "mnist_cnn_int8.tflite", "accuracy": 0.99}],
    }))
    args = ["bench", "--output-dir", str(bench_copy), "--batch-sizes", "1,8", "--runs", "30",
            "--warmup", "0.05", "--no-cold-start"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads((bench_copy / "bench.json").read_text())
    rows = out["results"]
    assert {r["runtime"] for r in rows} == {"litert+xnnpack", "onnxruntime", "keras"}
    assert len(rows) == 5 * 2  # four artifacts + the Keras baseline, two batch sizes
    for row in rows:
        _check_row(row)
        base = next(r for r in rows if r["format"] == "keras" and r["batch"] == row["batch"])
        assert row["ratio"] == pytest.approx(row["p50_us"] / base["p50_us"])
    assert out["recommendation"]["most_accurate"] == {"file": "mnist_cnn_int8.tflite", "accuracy": 0.99}
    assert out["recommendation"]["smallest"]["bytes"] == min(r["bytes"] for r in rows)
    assert out["settings"]["threads"] == [1] and out["settings"]["ort_spinning"] is None  # on with 2+ threads
    assert out["machine"]["cpu"] and out["versions"]["onnxruntime"]
    with open(bench_copy / "bench.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(rows)
    md = (bench_copy / "bench.md").read_text()
    assert "Which file to ship" in md and "| mnist_cnn_float32.onnx |" in md
    assert (bench_copy / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "p50 µs" in result.output and "Which file to ship" in result.output
    assert "most accurate: mnist_cnn_int8.tflite (99.00 %)" in result.output


@pytest.mark.slow
def test_seconds_bounds_the_run(paths, tmp_path):
    seconds, warmup = 0.3, 0.1
    common = ["bench", str(paths["tflite/float32"]), "--batch-sizes", "1,16", "--no-cold-start", "--no-keras"]

    def timed_run(folder, *budget):
        started = time.perf_counter()
        result = CliRunner().invoke(cli, [*common, "--output-dir", str(folder), *budget])
        assert result.exit_code == 0, result.output
        return time.perf_counter() - started

    # The same command with the smallest budget (one call, no warm-up): what a run costs besides
    # the budget (loading MNIST and the model, writing and drawing the outputs), measured, not guessed.
    # Measured after the timed run, so that both find the imports (matplotlib...) already done.
    timed_run(tmp_path / "warm", "--runs", "1", "--warmup", "0")
    wall = timed_run(tmp_path / "timed", "--seconds", str(seconds), "--warmup", str(warmup))
    fixed = timed_run(tmp_path / "fixed", "--runs", "1", "--warmup", "0")
    rows = json.loads((tmp_path / "timed" / "bench.json").read_text())["results"]
    for row in rows:
        timed = row["runs"] * row["mean_us"] / 1e6
        assert row["runs"] >= 10 and timed < 3 * seconds  # the timed calls stop near the budget
    # The budget is per timed call and configuration: batch 1 and 16, each with two timed calls
    # (the runtime call and the end-to-end call), each warmed up then timed. Jitter: 0.5 s, and
    # half the fixed cost again (on a busy shared machine the fixed cost itself varies that much).
    assert wall - fixed < 2 * 2 * (seconds + warmup) + 0.5 + 0.5 * fixed, (wall, fixed)


@pytest.mark.parametrize("name, content", [("notes.txt", b"hello"), ("broken.tflite", b"\x00" * 64),
                                           ("missing.onnx", None)], ids=["text", "corrupt", "missing"])
def test_non_model_file_is_one_line_error(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(cli, ["bench", str(path), "--output-dir", str(tmp_path), "--no-cold-start"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and name in lines[0]
    assert not (tmp_path / "bench.json").exists()


def test_bad_lists_and_both_budgets_are_usage_errors(tmp_path):
    for args in (["--batch-sizes", "1,x"], ["--threads", "0"], ["--seconds", "1", "--runs", "5"]):
        result = CliRunner().invoke(cli, ["bench", "--output-dir", str(tmp_path), *args])
        assert result.exit_code == 2, (args, result.output)


def test_recommendation_from_figures():
    def row(file, batch, p50, e2e, size, acc):
        return {"file": file, "format": "tflite", "runtime": "litert", "threads": 1, "batch": batch,
                "bytes": size, "accuracy": acc, "p50_us": p50, "e2e_p50_us": e2e,
                "throughput": batch * 1e6 / p50, "e2e_throughput": batch * 1e6 / e2e}

    rows = [row("a", 1, 10.0, 10.0, 600, 0.99), row("b", 1, 6.0, 20.0, 160, 0.98),
            row("a", 256, 1000.0, 1000.0, 600, 0.99), row("b", 256, 1200.0, 1300.0, 160, 0.98)]
    rec = bench.recommend(rows)
    assert rec["smallest"]["file"] == "b" and rec["most_accurate"]["file"] == "a"
    assert rec["fastest_single"]["file"] == "b" and rec["fastest_single_e2e"]["file"] == "a"
    assert rec["fastest_bulk"]["file"] == "a" and rec["fastest_bulk"]["throughput"] == pytest.approx(256_000)


def test_summarize_exact_statistics():
    # 1, 2, 3, 4 and 10 µs: numpy's linear percentiles, population standard deviation.
    stats = summarize(np.array([3_000, 1_000, 10_000, 2_000, 4_000], dtype=np.int64), batch=2)
    assert stats == {
        "p50_us": 3.0, "p90_us": pytest.approx(7.6), "p99_us": pytest.approx(9.76), "min_us": 1.0,
        "mean_us": 4.0, "std_us": pytest.approx(10 ** 0.5), "runs": 5, "throughput": pytest.approx(2e6 / 3),
    }


def test_thread_sweep_and_xnnpack_both_give_every_row(paths, tmp_path):
    args = ["bench", str(paths["tflite/float32"]), str(paths["onnx/int8"]), "--output-dir", str(tmp_path),
            "--batch-sizes", "1", "--runs", "5", "--warmup", "0", "--threads", "1,2", "--xnnpack", "both",
            "--no-cold-start", "--no-keras"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "bench.json").read_text())
    got = sorted((r["file"], r["runtime"], r["threads"]) for r in out["results"])
    assert got == sorted(
        (file, runtime, threads) for threads in (1, 2)
        for file, runtime in [("mnist_cnn_float32.tflite", "litert+xnnpack"), ("mnist_cnn_float32.tflite", "litert"),
                              ("mnist_cnn_int8.onnx", "onnxruntime")]
    )
    assert all(r["runs"] == 5 and r["batch"] == 1 for r in out["results"])
    assert out["settings"]["threads"] == [1, 2] and out["settings"]["xnnpack"] == [True, False]
    assert "threads 1,2" in result.output


def test_percentiles_ordered_on_skewed_samples():
    ns = np.array([1_000] * 97 + [50_000, 90_000, 1_000_000], dtype=np.int64)
    stats = bench.summarize(ns, batch=2)
    assert stats["p50_us"] == 1.0 and stats["p50_us"] <= stats["p90_us"] <= stats["p99_us"] <= 1000.0
    assert stats["throughput"] == pytest.approx(2e6)


def test_corrupt_file_fails_before_cold_starts(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    result = CliRunner().invoke(cli, ["bench", str(bad), "--output-dir", str(tmp_path)])  # cold start on
    assert result.exit_code == 1 and "Error: " in result.output and "bad.onnx" in result.output
    assert "cold start" not in result.output


def test_onnx_runtime_spins_only_with_a_thread_pool():
    """ORT's workers spin between the parts of a call only when there is a pool (2+ threads);
    an explicit setting wins. Measured: 2-thread throughput 1.55x one thread without, 1.97x with."""
    from edgecnn.runtime import RuntimeOptions
    from edgecnn.runtime.onnx import session_options

    assert [RuntimeOptions(num_threads=t).spinning for t in (1, 2, 4)] == [False, True, True]
    assert RuntimeOptions(num_threads=2, ort_spinning=False).spinning is False
    assert RuntimeOptions(num_threads=1, ort_spinning=True).spinning is True
    configs = [session_options(RuntimeOptions(num_threads=t)).get_session_config_entry("session.intra_op.allow_spinning")
               for t in (1, 2)]
    assert configs == ["0", "1"]
