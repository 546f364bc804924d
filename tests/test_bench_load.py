"""How busy the machine was (#23 point 3): edgecnn.bench.load on stubbed /proc/stat and load readings,
and what bench.json, bench.md and the advice say with them."""

from __future__ import annotations

import pytest

from edgecnn.bench import load


def _stat(tmp_path, name, user, system, idle, steal=0):
    path = tmp_path / name
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    path.write_text(f"cpu  {user} 0 {system} {idle} 0 0 0 {steal} 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n")
    return path


def test_proc_stat_gives_other_processes_share_and_steal(tmp_path, monkeypatch):
    monkeypatch.setattr(load.os, "getloadavg", lambda: (1.5, 1.0, 0.5))
    monkeypatch.setattr(load, "_own_cpu", lambda: 10.0)
    before = load.read(_stat(tmp_path, "a", user=1000, system=200, idle=5000))
    monkeypatch.setattr(load, "_own_cpu", lambda: 12.0)  # this process: 2 CPU seconds in between
    monkeypatch.setattr(load.os, "getloadavg", lambda: (1.8, 1.1, 0.5))
    # 2 cores x 2 s = 400 jiffies: 300 busy (200 ours, 100 others), 80 idle, 20 stolen.
    after = load.read(_stat(tmp_path, "b", user=1250, system=250, idle=5080, steal=20))
    got = load.between(before, after, n_cores=2, clock_tick=100)
    assert got["load1_before"] == 1.5 and got["load1_after"] == 1.8 and got["cores"] == 2
    assert got["others_share"] == pytest.approx(100 / 400) and got["steal_share"] == pytest.approx(20 / 400)
    assert got["busy"] is False and got["busy_reason"] is None  # 30 % of the machine < one core's 50 %


def test_busy_when_load_exceeds_the_cores_or_others_take_more_than_a_core():
    assert load.busy_reason({"load1_before": 2.5, "load1_after": 1.0, "cores": 2}) == "load 2.5 > 2 cores"
    assert load.busy_reason({"load1_before": 1.0, "load1_after": 1.9, "cores": 2}) is None
    assert load.busy_reason({"load1_before": 1.0, "load1_after": 1.0, "cores": 2, "others_share": 0.6,
                             "steal_share": 0.0}) == "other processes took 60 % of the CPU"
    assert load.busy_reason({"load1_before": 3.0, "load1_after": 3.0, "cores": 4, "others_share": 0.2,
                             "steal_share": 0.1}) == "other processes and steal took 30 % of the CPU"


def test_without_proc_stat_the_load_average_alone_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(load.os, "getloadavg", lambda: (5.0, 1.0, 0.5))
    missing = tmp_path / "nope"
    got = load.between(load.read(missing), load.read(missing), n_cores=2, clock_tick=100)
    assert got["others_share"] is None and got["steal_share"] is None
    assert got["busy"] is True and got["busy_reason"] == "load 5.0 > 2 cores"


def test_merge_keeps_the_worst_and_counts_busy_blocks():
    blocks = [{"load1_before": 0.5, "load1_after": 0.9, "cores": 2, "others_share": 0.1, "busy": False},
              {"load1_before": 0.9, "load1_after": 3.2, "cores": 2, "others_share": 0.55, "busy": True}]
    merged = load.merge(blocks)
    assert merged["load1_before"] == 0.5 and merged["load1_after"] == 3.2 and merged["load1_max"] == 3.2
    assert merged["others_share"] == 0.55 and merged["busy_blocks"] == 1 and merged["blocks"] == 2
    assert merged["busy"] is True
    assert load.merge([]) == {}


def test_the_advice_and_bench_md_say_when_the_machine_was_busy():
    from edgecnn.bench.advice import busy_line
    from edgecnn.bench.report import load_summary

    merged = load.merge([{"load1_before": 3.1, "load1_after": 4.2, "cores": 2, "others_share": 0.6, "busy": True},
                         {"load1_before": 4.2, "load1_after": 1.0, "cores": 2, "others_share": 0.1, "busy": False}])
    line = busy_line(merged)
    assert line.startswith("busy machine (load up to 4.2 on 2 cores, others took up to 60 % of the CPU) "
                           "in 1 of 2 timed blocks: the figures above are in doubt")
    assert "in doubt" in line
    assert busy_line({**merged, "busy": False}) is None
    summary = load_summary(merged)
    assert summary.startswith("Load: 1-minute load average 3.1 before, 1.0 after (up to 4.2) on 2 cores")
    assert summary.endswith("busy during 1 of 2 blocks: those rows' figures are in doubt.")


def test_bench_rows_carry_the_load_of_their_block(exported_dir, tmp_path, monkeypatch):
    """A real bench run with the load readings stubbed: every row records its block's load; a busy
    block shows in bench.json, in the console (!) and in bench.md's load column."""
    import json

    from click.testing import CliRunner

    from edgecnn.cli import cli

    from edgecnn.bench import folder

    # The stubs below live in this process: the CLI's bench measures here, not in its spawned child.
    monkeypatch.setattr(folder, "_in_child", lambda request, progress, **_: folder._bench(request, progress))
    loads = iter([0.4, 0.6, 5.0, 5.5] + [0.5] * 100)  # block 1 quiet, block 2 busy (load > 2 cores)
    monkeypatch.setattr(load, "cores", lambda: 2)
    monkeypatch.setattr(load, "read", lambda path=load.PROC_STAT: load.Reading(
        wall=0.0, load1=next(loads), busy_jiffies=None, steal_jiffies=None, total_jiffies=None, own_cpu=0.0))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["bench", str(exported_dir / "mnist_cnn_int8.tflite"), "--output-dir", str(out),
                                      "--batch-sizes", "1,4", "--runs", "20", "--warmup", "0.01", "--no-cold-start",
                                      "--no-keras", "--no-ceiling"])
    assert result.exit_code == 0, result.output
    bench = json.loads((out / "bench.json").read_text())
    by_batch = {r["batch"]: r["load"] for r in bench["results"]}
    assert (by_batch[1]["load1_before"], by_batch[1]["load1_after"], by_batch[1]["busy"]) == (0.4, 0.6, False)
    assert (by_batch[4]["load1_before"], by_batch[4]["load1_after"], by_batch[4]["busy"]) == (5.0, 5.5, True)
    assert bench["load"]["busy_blocks"] == 1 and bench["load"]["load1_max"] == 5.5
    row4 = next(line for line in result.output.splitlines()
                if line.startswith("mnist_cnn_int8.tflite") and " 4 " in line)
    assert "!" in row4
    assert "busy machine (load up to 5.5 on 2 cores) in 1 of 2 timed blocks" in " ".join(result.output.split())
    md = (out / "bench.md").read_text()
    assert "| 5.5 busy |" in md and "| 0.6 |" in md


def test_round_spread_is_half_the_interquartile_range_of_the_round_medians():
    import numpy as np

    from edgecnn.bench.timing import round_spread, time_rounds

    ns = np.array([100, 100, 100, 110, 110, 110, 90, 90, 90], dtype=np.int64)  # three rounds: medians 100, 110, 90
    assert round_spread(ns, [3, 6, 9]) == pytest.approx((105 - 95) / 2 / 100)
    # One stalled round (a busy machine) barely moves it: the range would say 25 %, the quartiles 1 %.
    stalled = np.array([100, 102, 98, 101, 99, 150, 100, 101, 99], dtype=np.int64)
    assert round_spread(stalled, list(range(1, 10))) == pytest.approx((101 - 99) / 2 / 100)
    assert round_spread(ns, [9]) is None  # one round: no spread to speak of
    ends: list[list[int]] = []
    timed = time_rounds([lambda: None, lambda: None], 4, runs=8, round_ends=ends)
    assert [len(t) for t in timed] == [8, 8] and ends == [[2, 4, 6, 8], [2, 4, 6, 8]]


def test_a_spinning_runtime_gets_an_untimed_pause_before_another_runtimes_turn():
    import time

    from edgecnn.bench.timing import _pauses, time_rounds

    # ONNX Runtime float32 run + e2e (one session: no pause between them), then LiteRT.
    assert _pauses(3, [0.05, 0.05, 0.0], ["ort", "ort", "litert"]) == [0.0, 0.05, 0.0]
    assert _pauses(2, [0.05, 0.0], ["ort", "litert"]) == [0.05, 0.0]
    assert _pauses(1, [0.05], ["ort"]) == [0.0] and _pauses(2, None, None) == [0.0, 0.0]
    started = time.perf_counter()
    timed = time_rounds([lambda: None, lambda: None], 4, runs=8, settle_after=[0.02, 0.0], groups=["a", "b"])
    assert time.perf_counter() - started >= 4 * 0.02  # one pause per round, after a's turn
    assert all(t.max() < 20e6 for t in timed)  # and none of it inside a timed call


def test_only_onnx_runtime_with_spinning_threads_is_settled():
    from pathlib import Path

    from edgecnn.bench import BenchConfig
    from edgecnn.bench.measure import _spins
    from edgecnn.bench.subjects import Subject

    onnx = Subject(Path("m.onnx"), "onnx", "float32", "onnxruntime", None, 1)
    tflite = Subject(Path("m.tflite"), "tflite", "float32", "litert+xnnpack", True, 1)
    assert _spins(onnx, BenchConfig(), 2) is True and _spins(onnx, BenchConfig(), 1) is False
    assert _spins(onnx, BenchConfig(ort_spinning=False), 2) is False and _spins(tflite, BenchConfig(), 2) is False


@pytest.mark.slow
def test_the_keras_baseline_is_timed_in_its_own_process(exported_dir, trained_model_path, tmp_path):
    """TensorFlow never enters the process that times the files; the baseline still gets its rows."""
    import json
    import subprocess
    import sys

    from test_terminal import ROOT

    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from edgecnn.bench import BenchConfig, run_bench\n"
        "from edgecnn.data import load_mnist\n"
        f"paths = [Path({str(exported_dir / 'mnist_cnn_float32.tflite')!r}), Path({str(trained_model_path)!r})]\n"
        "config = BenchConfig(batch_sizes=(1, 4), runs=20, warmup_seconds=0.01, cold_start=False, ceiling='off')\n"
        "result = run_bench(paths, config, load_mnist().x_test[:4])\n"
        "print(json.dumps({'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules,\n"
        "                  'rows': [(r['format'], r['batch'], r['runs']) for r in result.rows]}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["tf"] is False and got["keras"] is False
    assert sorted(map(tuple, got["rows"])) == [("keras", 1, 20), ("keras", 4, 20), ("tflite", 1, 20), ("tflite", 4, 20)]
