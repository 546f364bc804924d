"""MACs counted from the graph, the machine's ceiling and its cache, shares, threads in `run`.

Speed goals live in benchmarks/speed.py, never here: these tests check counts, arithmetic and
the cache, not how fast anything is.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.bench import ceiling, folder, load, macs
from edgecnn.bench.run import _add_ceiling_shares
from edgecnn.cli import cli

# The reference CNN by hand (28x28x1 input, valid padding, pool 2x2):
# conv1 3x3x1 -> 26x26x6, pool -> 13x13x6; conv2 2x2x6 -> 12x12x16, pool -> 6x6x16 = 576;
# dense 576 -> 256; dense 256 -> 10.
REFERENCE = [26 * 26 * 6 * (3 * 3 * 1), 12 * 12 * 16 * (2 * 2 * 6), 576 * 256, 256 * 10]


def test_hand_count_of_the_reference_model():
    assert REFERENCE == [36_504, 55_296, 147_456, 2_560] and sum(REFERENCE) == 241_816


# The TFLite files compute conv1 on column pairs (export.column_pairs): 26 rows x 13 column pairs x
# 12 channels (6 per column of the pair) x a 3x2x2 kernel, zero taps included: 12,168 MACs more.
PAIRED_CONV1 = 26 * 13 * 12 * (3 * 2 * 2)


def test_reference_macs_from_exported_graphs(exported_dir):
    assert PAIRED_CONV1 == 48_672
    for name in ("mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite"):
        counted = macs.count_tflite(exported_dir / name)
        assert [layer["macs"] for layer in counted["layers"]] == [PAIRED_CONV1, *REFERENCE[1:]], name
        assert [layer["op"] for layer in counted["layers"]] == ["CONV_2D", "CONV_2D", "FULLY_CONNECTED", "FULLY_CONNECTED"]
        assert counted["macs_per_image"] == 253_984
    for name in ("mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx"):
        counted = macs.count_onnx(exported_dir / name)
        assert [layer["macs"] for layer in counted["layers"]] == REFERENCE, name
        assert counted["macs_per_image"] == 241_816


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_tflite_fully_connected_counts_per_image(precision):
    # 8 rows of 16 inputs -> 4 outputs: per image (one row) 16 x 4 MACs, whatever the batch in the file.
    counted = macs.count_tflite(ceiling.fc_model(8, 16, 4, precision))
    assert counted["macs_per_image"] == 64 and counted["layers"][0]["op"] == "FULLY_CONNECTED"


def _onnx_model():
    """x[N,3,10,10] -> Conv 4@3x3 pad 1 -> Conv 8@3x3 groups 2 stride 2 -> Reshape -> Gemm(transB) 5 -> MatMul 7."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.random((4, 3, 3, 3), dtype=np.float32), "w1"),
        numpy_helper.from_array(rng.random((8, 2, 3, 3), dtype=np.float32), "w2"),
        numpy_helper.from_array(np.array([-1, 8 * 4 * 4], np.int64), "shape"),
        numpy_helper.from_array(rng.random((5, 128), dtype=np.float32), "w3"),
        numpy_helper.from_array(rng.random((5, 7), dtype=np.float32), "w4"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Conv", ["a", "w2"], ["b"], group=2, strides=[2, 2], kernel_shape=[3, 3]),
        helper.make_node("Reshape", ["b", "shape"], ["c"]),
        helper.make_node("Gemm", ["c", "w3"], ["d"], transB=1),
        helper.make_node("MatMul", ["d", "w4"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 7])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_count_by_hand():
    counted = macs.count_onnx(_onnx_model())
    # conv 10x10x4 outputs x 3x3x3; grouped conv 4x4x8 outputs x (4/2)x3x3; Gemm 5 x 128; MatMul 7 x 5.
    assert [layer["macs"] for layer in counted["layers"]] == [400 * 27, 128 * 18, 5 * 128, 7 * 5]
    assert counted["macs_per_image"] == 10_800 + 2_304 + 640 + 35


@pytest.mark.slow
def test_macs_of_another_architecture(tmp_path):
    """A different small CNN (RGB 16x16, same padding, stride 2, depthwise, two dense) through
    TensorFlow's TFLite converter and tf2onnx: both counts equal the hand count and Keras' own."""
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),  # 16x16x8 x 3x3x3
        keras.layers.DepthwiseConv2D(3, strides=2, padding="same"),  # 8x8x8 x 3x3
        keras.layers.Conv2D(12, 1),  # 8x8x12 x 1x1x8
        keras.layers.Flatten(),
        keras.layers.Dense(20, activation="relu"),  # 768 x 20
        keras.layers.Dense(4, activation="softmax"),  # 20 x 4
    ])
    hand = [16 * 16 * 8 * 27, 8 * 8 * 8 * 9, 8 * 8 * 12 * 8, 768 * 20, 20 * 4]
    assert macs.count_keras(model)["macs_per_image"] == sum(hand) == 81_488
    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    counted = macs.count_tflite(tflite)
    assert sorted(layer["macs"] for layer in counted["layers"]) == sorted(hand)
    spec = (tf.TensorSpec((None, 16, 16, 3), tf.float32, name="x"),)
    forward = tf.function(lambda x: model(x, training=False), input_signature=spec)
    proto, _ = tf2onnx.convert.from_function(forward, input_signature=spec, opset=17)
    assert macs.count_onnx(proto)["macs_per_image"] == sum(hand)


# -- the ceiling and its cache ------------------------------------------------------------------
class FakeMeasure:
    def __init__(self, values=None):
        self.gemm_calls: list[tuple[str, int]] = []
        self.memory_calls = 0
        self.values = values  # precision -> list of GMAC/s the successive runs give

    def gemm(self, precision, threads):
        self.gemm_calls.append((precision, threads))
        if self.values is not None:
            return {"gmacs": self.values[precision].pop(0), "threads": threads}
        return {"gmacs": {"float32": 100.0, "int8": 400.0}[precision] * threads, "threads": threads}

    def memory(self):
        self.memory_calls += 1
        return 20.0


def quiet_probe(load1=0.3):
    """Load readings of a quiet machine: the 1-minute load ``load1``, nobody else using the CPU."""
    state = {"jiffies": 0}

    def probe():
        state["jiffies"] += 200
        return load.Reading(wall=state["jiffies"] / 100, load1=load1, busy_jiffies=state["jiffies"] // 2,
                            steal_jiffies=0, total_jiffies=state["jiffies"], own_cpu=state["jiffies"] / 200)
    return probe


def busy_probe():
    return quiet_probe(load1=7.0)  # 7 on a (stubbed) 2-core machine


R = ceiling.REPEATS


@pytest.fixture(autouse=True)
def two_cores(monkeypatch):
    monkeypatch.setattr(load, "cores", lambda: 2)


def _ceiling(fake, threads=(1,), remeasure=False, probe=None):
    return ceiling.machine_ceiling(threads, remeasure, measure_gemm=fake.gemm, measure_memory=fake.memory,
                                   probe=probe or quiet_probe())


def test_ceiling_is_measured_once_per_machine_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE_DIR", str(tmp_path))
    fake = FakeMeasure()
    first = _ceiling(fake)
    assert sorted(fake.gemm_calls) == [("float32", 1)] * R + [("int8", 1)] * R and fake.memory_calls == R
    assert first.cached is False and first.gmacs("int8", 1) == 400.0 and first.gmacs("float16", 1) == 100.0
    assert first.measured["gemm/int8/1"] == first.measured["memory"] and len(first.measured["memory"]) == 10  # ISO date
    assert first.busy == [] and first.gemm["float32"]["1"]["load"]["load1_before"] == 0.3
    cache = json.loads((tmp_path / "ceiling.json").read_text())
    assert list(cache) == [ceiling.machine_key()]
    assert cache[ceiling.machine_key()]["gemm"]["int8"]["1"]["load"]["busy"] is False  # stored with its load

    again = _ceiling(fake)  # same machine: nothing measured
    assert len(fake.gemm_calls) == 2 * R and fake.memory_calls == R and again.cached is True
    assert again.gmacs("float32", 1) == 100.0 and again.memory_gbps == 20.0

    more = _ceiling(fake, threads=(1, 2))  # a new thread count: only that is measured
    assert sorted(fake.gemm_calls[2 * R:]) == [("float32", 2)] * R + [("int8", 2)] * R and fake.memory_calls == R
    assert more.gmacs("float32", 2) == 200.0 and more.gmacs("int8", 3) is None

    _ceiling(fake, remeasure=True)  # --remeasure-ceiling
    assert len(fake.gemm_calls) == 6 * R and fake.memory_calls == 2 * R


def test_a_ceiling_measured_on_a_busy_machine_is_used_once_and_never_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE_DIR", str(tmp_path))
    fake = FakeMeasure()
    busy = _ceiling(fake, probe=busy_probe())
    assert busy.gmacs("float32", 1) == 100.0  # this run still has a ceiling to compare with ...
    assert busy.busy == ["gemm/float32/1", "gemm/int8/1", "memory"]  # ... flagged as measured busy
    assert busy.gemm["float32"]["1"]["load"]["busy_reason"] == "load 7.0 > 2 cores"
    assert not (tmp_path / "ceiling.json").exists()  # nothing cached
    quiet = _ceiling(fake)  # the next run measures again, quiet this time: cached
    assert len(fake.gemm_calls) == 4 * R and quiet.busy == []
    assert _ceiling(fake).cached is True and len(fake.gemm_calls) == 4 * R


def test_the_ceiling_is_the_best_of_several_runs_and_only_ever_raised(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE_DIR", str(tmp_path))
    fake = FakeMeasure({"float32": [90.0, 123.0, 95.0, 80.0, 85.0, 70.0, 130.0, 100.0, 90.0],
                        "int8": [300.0] * 9})
    first = _ceiling(fake)
    assert first.gmacs("float32", 1) == 123.0 and first.gemm["float32"]["1"]["runs_gmacs"] == [90.0, 123.0, 95.0]
    lower = _ceiling(fake, remeasure={"gemm/float32/1"})  # quiet but lower (85): the cached 123 stays
    assert lower.gmacs("float32", 1) == 123.0 and lower.remeasured == ["gemm/float32/1"]
    higher = _ceiling(fake, remeasure={"gemm/float32/1"})  # quiet and higher: raised to 130
    assert higher.gmacs("float32", 1) == 130.0
    cached = json.loads((tmp_path / "ceiling.json").read_text())[ceiling.machine_key()]
    assert cached["gemm"]["float32"]["1"]["gmacs"] == 130.0


def test_an_old_cache_entry_without_its_load_gives_way_to_a_quiet_measurement(tmp_path, monkeypatch):
    # The cache of an older edgecnn: 53.5 GMAC/s measured once on a busy moment, no load recorded.
    monkeypatch.setenv("EDGECNN_CACHE_DIR", str(tmp_path))
    (tmp_path / "ceiling.json").write_text(json.dumps({ceiling.machine_key(): {
        "gemm": {"float32": {"1": {"gmacs": 53.5}}, "int8": {"1": {"gmacs": 200.0}}}, "memory_gbps": 20.0,
        "measured": {"gemm/float32/1": "2026-11-01", "gemm/int8/1": "2026-11-01", "memory": "2026-11-01"}}}))
    fake = FakeMeasure({"float32": [123.0, 120.0, 118.0], "int8": [150.0, 140.0, 145.0]})
    now = _ceiling(fake)
    assert now.gmacs("float32", 1) == 123.0  # quiet replaces the load-less figure ...
    assert now.gmacs("int8", 1) == 150.0  # ... even when lower: a figure of unknown load is not a ceiling
    assert "load" in json.loads((tmp_path / "ceiling.json").read_text())[ceiling.machine_key()]["gemm"]["int8"]["1"]


def test_implausible_ceilings_are_named():
    limit = ceiling.Ceiling("m", {"float32": {"1": {"gmacs": 53.5}, "2": {"gmacs": 120.0}},
                                  "int8": {"1": {"gmacs": 400.0}, "2": {"gmacs": 700.0}}}, 20.0, {})
    # 47.9 GMAC/s measured against a 53.5 ceiling is 89.5 % (the 91.8 %): within ~10 %.
    rows = [{"precision": "float32", "threads": 1, "file": "a", "runtime": "r", "batch": 256, "throughput": 1.0,
             "gmacs": 47.9, "ceiling_gmacs": 53.5},
            {"precision": "int8", "threads": 1, "file": "b", "runtime": "r", "batch": 256, "throughput": 100.0,
             "gmacs": 100.0, "ceiling_gmacs": 400.0}]
    # float32: 120 with 2 threads > 2 cores x 53.5 with one; and the 53.5 is near a measured figure.
    assert ceiling.implausible(limit, rows, n_cores=2) == {"gemm/float32/1", "gemm/float32/2"}
    # b on 2 threads at 3.04x its one-thread throughput (the quiet run): the 1-thread ceiling is suspect.
    rows.append({**rows[1], "threads": 2, "throughput": 304.0, "gmacs": 304.0, "ceiling_gmacs": 700.0})
    assert "gemm/int8/1" in ceiling.implausible(limit, rows, n_cores=2)
    plausible = [{**rows[1], "gmacs": 100.0}]
    fine = ceiling.Ceiling("m", {"int8": {"1": {"gmacs": 400.0}, "2": {"gmacs": 700.0}}}, 20.0, {})
    assert ceiling.implausible(fine, plausible, n_cores=2) == set()


def test_ceiling_cache_is_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE_DIR", str(tmp_path))
    fake = FakeMeasure()
    _ceiling(fake)
    monkeypatch.setattr(ceiling, "machine_key", lambda: "another CPU | 64 cores | ai-edge-litert 9")
    _ceiling(fake)
    assert len(fake.gemm_calls) == 4 * R
    assert len(json.loads((tmp_path / "ceiling.json").read_text())) == 2


def test_unreadable_cache_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE_DIR", str(tmp_path))
    (tmp_path / "ceiling.json").write_text("{not json")
    fake = FakeMeasure()
    assert _ceiling(fake).gmacs("float32", 1) == 100.0 and len(fake.gemm_calls) == 2 * R


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_gemm_ceiling_runs_in_xnnpack(precision):
    got = ceiling.gemm_gmacs(precision, threads=1, seconds=0.05, shape=(32, 64, 64))
    assert got["xnnpack"] is True and got["calls"] >= 5 and got["shape"] == [32, 64, 64]
    assert 0 < got["gmacs_p50"] <= got["gmacs"]


def test_shares_use_the_matching_ceiling():
    limit = ceiling.Ceiling("m", {"float32": {"1": {"gmacs": 100.0}}, "int8": {"1": {"gmacs": 400.0}}}, 20.0, {})
    rows = [{"precision": p, "threads": 1, "throughput": 200_000.0, "macs_per_image": 250_000}
            for p in ("float32", "int8", "dynamic")]
    rows.append({"precision": "float32", "threads": 2, "throughput": 1.0, "macs_per_image": 250_000})
    _add_ceiling_shares(rows, limit)
    assert [r["gmacs"] for r in rows[:3]] == [50.0, 50.0, 50.0]
    assert [r["ceiling_share"] for r in rows[:3]] == [0.5, 0.125, 0.125]
    assert [r["ceiling_precision"] for r in rows[:3]] == ["float32", "int8", "int8"]
    assert rows[3]["ceiling_gmacs"] is None and rows[3]["ceiling_share"] is None  # no 2-thread ceiling measured


def test_cli_rows_carry_gmacs_and_share(exported_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(ceiling, "GEMM_SECONDS", 0.05)  # a real but short measurement: this test checks arithmetic
    monkeypatch.setattr(ceiling, "COPY_BYTES", 2**20)
    monkeypatch.setattr(load, "read", quiet_probe())  # this shared machine may be busy: the cache needs quiet
    # These stubs live in this process: the CLI's bench measures here, not in its spawned child.
    monkeypatch.setattr(folder, "_in_child", lambda request, progress, **_: folder._bench(request, progress))
    out = tmp_path / "out"
    args = ["bench", str(exported_dir / "mnist_cnn_int8.tflite"), "--output-dir", str(out), "--batch-sizes", "1,4",
            "--runs", "20", "--warmup", "0.01", "--no-cold-start", "--no-keras", "--remeasure-ceiling"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    bench = json.loads((out / "bench.json").read_text())
    assert bench["ceiling"]["gemm"]["int8"]["1"]["xnnpack"] is True and bench["ceiling"]["cached"] is False
    for row in bench["results"]:
        assert row["macs_per_image"] == 253_984 and row["ceiling_precision"] == "int8"
        assert row["gmacs"] == pytest.approx(253_984 * row["throughput"] / 1e9)
        assert row["ceiling_share"] == pytest.approx(row["gmacs"] / bench["ceiling"]["gemm"]["int8"]["1"]["gmacs"])
    md = (out / "bench.md").read_text()
    assert "## Against this machine's limit" in md and "int8 GEMM ceiling" in md and "of int8 |" in md
    assert "MACs per image, counted from each graph: mnist_cnn_int8.tflite 253,984" in result.output
    cached = CliRunner().invoke(cli, [a for a in args if a != "--remeasure-ceiling"])
    assert cached.exit_code == 0 and json.loads((out / "bench.json").read_text())["ceiling"]["cached"] is True
    off = CliRunner().invoke(cli, [*args[:-1], "--no-ceiling"])
    assert off.exit_code == 0 and json.loads((out / "bench.json").read_text())["ceiling"] == {}


# -- int8 against float32, threads, noise ---------------------------------------------------------
def _row(fmt, precision, batch, p50, threads=1, file=None, bytes_=None, spread=None, busy=False):
    return {"file": file or f"{precision}.{fmt}", "format": fmt, "runtime": fmt, "precision": precision,
            "threads": threads, "batch": batch, "bytes": bytes_ or (25 if precision == "int8" else 100),
            "accuracy": None, "p50_us": p50, "e2e_p50_us": p50, "throughput": batch * 1e6 / p50,
            "e2e_throughput": batch * 1e6 / p50, "round_spread": spread,
            "load": {"cores": 2, "busy": busy, "load1_after": 7.0 if busy else 0.5}}


def test_recommendation_says_when_int8_is_slower():
    from edgecnn.bench import recommend
    from edgecnn.bench.advice import recommendation_text

    rows = [_row("onnx", "float32", 1, 20.0), _row("onnx", "int8", 1, 34.0),
            _row("onnx", "float32", 256, 2000.0), _row("onnx", "int8", 256, 4800.0),
            _row("tflite", "float32", 1, 10.0), _row("tflite", "int8", 1, 6.0),
            _row("tflite", "float32", 256, 1600.0), _row("tflite", "int8", 256, 1000.0),
            _row("tflite", "float32", 256, 1000.0, threads=2, file="float32.tflite")]
    rec = recommend(rows)
    by = {e["format"]: e for e in rec["int8_vs_float32"]}
    assert by["onnx"]["p50_ratio"] == pytest.approx(1.7) and by["onnx"]["throughput_ratio"] == pytest.approx(2000 / 4800)
    assert by["onnx"]["int8_slower"] is True and by["tflite"]["int8_slower"] is False
    assert rec["thread_scaling"] == [{"file": "float32.tflite", "runtime": "tflite", "batch": 256, "threads": 2,
                                      "speedup": pytest.approx(1.6), "noise": None}]
    text = "\n".join(recommendation_text(rec))
    assert ("int8 vs float32 (batch 1 p50, batch 256 throughput): onnx 1.70× the p50, 0.42× the throughput: "
            "SLOWER, 25 % of the size (ship it where size matters more than speed)") in text
    assert "tflite 0.60×, 1.60×: faster, 25 % of the size" in text
    assert "2 threads: 1.60× the one-thread throughput at batch 256 (1 file)" in text


def test_faster_and_slower_only_beyond_the_runs_own_noise():
    """#20 point 5: a 0.3 % throughput difference once read "SLOWER … pick float32 for speed" while
    the same file was 0.81× float32's p50; now: the rounds' spread decides, and a file no smaller
    than float32 is never advised "where size matters"."""
    from edgecnn.bench import recommend
    from edgecnn.bench.advice import recommendation_text

    rows = [_row("onnx", "float32", 1, 100.0, spread=0.02, bytes_=1000), _row("onnx", "int8", 1, 81.0, spread=0.02,
                                                                             bytes_=996),
            _row("onnx", "float32", 256, 10_000.0, spread=0.02, bytes_=1000),
            _row("onnx", "int8", 256, 10_030.0, spread=0.02, bytes_=996)]
    (entry,) = recommend(rows)["int8_vs_float32"]
    assert entry["p50_verdict"] == "faster" and entry["throughput_verdict"] == "same"
    assert entry["int8_slower"] is False and entry["int8_smaller"] is False
    text = "\n".join(recommendation_text(recommend(rows)))
    assert ("onnx 0.81× the p50, 1.00× the throughput: faster at batch 1, as fast (within the noise of ±4 %) "
            "in bulk") in text
    assert "in bulk, 100 % of float32's size" in text and "size matters" not in text
    assert "SLOWER" not in text
    # No faster either way and no smaller: float32 is the file to ship, never int8 "where size matters".
    same = [{**r, "p50_us": 100.5, "throughput": 1e6 / 100.5} if r["precision"] == "int8" and r["batch"] == 1 else r
            for r in rows]
    text = "\n".join(recommendation_text(recommend(same)))
    assert "1.00× the throughput: as fast (within the noise of ±4 %), 100 % of float32's size: ship float32" in text
    # Slower by 5 % with rounds spread 1 % each: beyond the noise. With spreads of 4 %: within it.
    slow = [_row("tflite", "float32", 1, 100.0, spread=0.01), _row("tflite", "int8", 1, 105.0, spread=0.01)]
    assert recommend(slow)["int8_vs_float32"][0]["p50_verdict"] == "slower"
    noisy = [{**r, "round_spread": 0.04} for r in slow]
    assert recommend(noisy)["int8_vs_float32"][0]["p50_verdict"] == "same"
    assert "SLOWER" not in "\n".join(recommendation_text(recommend(noisy)))


def test_thread_ratios_a_file_cannot_have_are_flagged_as_noise():
    from edgecnn.bench import recommend
    from edgecnn.bench.advice import recommendation_text

    # The two runs on one 2-core machine: 3.04x on a quiet run, 0.31x on a busy one.
    quiet = [_row("onnx", "float32", 256, 3040.0), _row("onnx", "float32", 256, 1000.0, threads=2)]
    busy = [_row("onnx", "float32", 256, 1000.0, busy=True), _row("onnx", "float32", 256, 3225.8, threads=2, busy=True)]
    calm_slow = [_row("onnx", "float32", 256, 1000.0), _row("onnx", "float32", 256, 1250.0, threads=2)]
    assert recommend(quiet)["thread_scaling"][0]["noise"] == "above the 2 cores"
    assert recommend(busy)["thread_scaling"][0]["noise"] == "below 1 on a busy machine"
    assert recommend(calm_slow)["thread_scaling"][0]["noise"] is None  # quiet and slower: the file's own
    text = "\n".join(recommendation_text(recommend(quiet)))
    assert "2 threads: 3.04× the one-thread throughput at batch 256 (1 file): noise (above the 2 cores)" in text


def test_run_benches_two_threads_on_two_cores():
    from edgecnn.bench.config import BenchConfig
    from edgecnn.pipeline import run_bench_config

    two = run_bench_config(False, cores=2)
    assert (two.seconds, two.warmup_seconds, two.threads) == (0.5, 0.25, (1, 2))
    assert run_bench_config(False, cores=1) == BenchConfig()  # one thread count: the default budget
    assert run_bench_config(True, cores=8).threads == (1, 2)
    assert run_bench_config(False, cores=1).threads == run_bench_config(True, cores=1).threads == (1,)
    quick = run_bench_config(True, cores=1)
    assert (quick.batch_sizes, quick.seconds, quick.cold_start) == ((1, 256), 0.2, False)
    assert run_bench_config(False, cores=1, test_images=40).batch_sizes == (1, 32, 40)


# -- which int8 ONNX variant is exported ----------------------------------------------------------
def test_int8_onnx_keeps_the_reference_cnns_convolutions_float32(exported_dir):
    """The rule of export/onnx_int8.py on the reference CNN: the 1-channel convolution and the one
    fed by tanh (an int8 island) stay float32, with their pools; the two Gemms run as QGemm."""
    import onnx

    from edgecnn.runtime import load

    model = onnx.load(exported_dir / "mnist_cnn_int8.onnx")
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QGemm") == 2 and ops.count("Conv") == 2 and "QLinearConv" not in ops
    float_weights = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    assert all(node.input[1] in float_weights for node in model.graph.node if node.op_type == "Conv")
    meta = load(exported_dir / "mnist_cnn_int8.onnx").metadata["quantization"]
    assert (meta["format"], meta["activations"], meta["weights"]) == ("QOperator", "uint8", "int8")
    assert meta["op_types"] == {"Gemm": 2} and meta["float_op_types"] == {"Conv": 2, "MaxPool": 2}
    assert meta["label"] == "int8, 4 of 6 layers float32" and len(meta["float_nodes"]) == 4


def test_int8_onnx_rule_and_record_on_a_small_graph():
    """The convolution on the 3-channel input (a stem) stays float32 by the rule, the grouped one is
    quantized; excluding it by name keeps it float32 too, and the record counts both."""
    from edgecnn.export.onnx_int8 import layer_nodes, quantize_int8, rule_excluded

    model = _onnx_model()
    convs = [n for n in layer_nodes(model) if n.startswith("Conv_")]  # unnamed nodes: <OpType>_<index>
    assert rule_excluded(model) == convs[:1] and rule_excluded(model, stem_channels=1) == []
    x = np.random.default_rng(0).random((16, 3, 10, 10), dtype=np.float32)
    total = len(layer_nodes(model))
    _, record = quantize_int8(model, x)
    assert record.float_nodes == tuple(convs[:1]) and record.label == f"int8, 1 of {total} layers float32"
    assert dict(record.int8_op_types)["Conv"] == 1 and len(record.int8_nodes) == total - 1
    _, plain = quantize_int8(model, x, stem_channels=1)
    assert plain.float_nodes == () and plain.label == "int8" and dict(plain.int8_op_types)["Conv"] == 2
    _, mixed = quantize_int8(model, x, nodes_to_exclude=convs[1:2])
    assert mixed.float_nodes == tuple(convs) and mixed.float_op_types == (("Conv", 2),)
    assert mixed.label == f"int8, 2 of {total} layers float32"
    with pytest.raises(ValueError, match="no node named"):
        quantize_int8(model, x, nodes_to_exclude=["nope"])


# -- the column-paired first convolution -------------------------------------------------------------
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_column_pairs_give_identical_outputs_and_undo_exactly(exported_dir, mnist, precision, tmp_path):
    from ai_edge_litert import schema_py_generated as schema

    from edgecnn.export.column_pairs import PAIRS, pair_columns, unpair_columns
    from edgecnn.runtime import load

    path = exported_dir / f"mnist_cnn_{precision}.tflite"
    paired = path.read_bytes()
    plain = unpair_columns(paired)

    def first_conv(data):
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        sub = model.subgraphs[0]
        conv = next(op for op in sub.operators if len(op.inputs) == 3)
        return sub.tensors[conv.inputs[1]], len(sub.operators), len(sub.tensors)

    w_paired, n_ops_paired, _ = first_conv(paired)
    w_plain, n_ops_plain, _ = first_conv(plain)
    assert list(w_paired.shape) == [12, 3, 2, 2] and w_paired.name.endswith(PAIRS + b"weights")
    assert list(w_plain.shape) == [6, 3, 3, 1] and PAIRS not in w_plain.name
    assert n_ops_paired == n_ops_plain + 2  # the two free reshapes
    assert first_conv(pair_columns(plain))[0].shape.tolist() == [12, 3, 2, 2]
    # The same numbers, bit for bit (int8 codes included), whichever form runs.
    (tmp_path / path.name).write_bytes(plain)
    a, b = load(path), load(tmp_path / path.name)
    x = a.prepare(mnist.x_test[:2000])
    assert np.array_equal(a.run(x), b.run(x))
