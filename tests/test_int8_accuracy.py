"""Accuracy-controlled int8 (issue #20, point 2/3) on the MobileNetV2 test model.

The int8 file that misses: the trained MobileNetV2 with one layer made sensitive on purpose,
without changing what the network computes: channel 0 of ``block_16_project_BN``'s output is
scaled x1000 and ``Conv_1``'s weights reading it by 1/1000 (Keras' outputs move by < 2e-7). The
int8 tensor between them then spends its 256 steps on that channel: the full-integer file agrees
with Keras on ~20 % of the images (x300 left 69 % on the noise-trained test model). The loop must
name those two layers and recover.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgecnn.artifact import layer_label, mixed_label
from edgecnn.export.accuracy import schedule

SCALE = 1000.0


def test_schedule_adds_one_layer_at_a_time_then_half_again():
    assert schedule(16, 65) == [1, 2, 3, 4, 6, 9, 13, 16]
    assert schedule(16, 3) == [1, 2, 3]
    assert schedule(0, 65) == []


def test_a_mixed_file_is_labelled_from_its_record():
    assert layer_label(0, 65) == "int8"
    assert layer_label(3, 65) == "int8, 3 of 65 layers float32"
    mixed = {"quantization": {"label": "int8, 2 of 65 layers float32", "float_layers": ["a", "b"]}}
    assert mixed_label(mixed) == "int8, 2 of 65 layers float32"
    assert mixed_label({"quantization": {"label": "int8", "float_layers": []}}) is None
    assert mixed_label({"precision": "int8"}) is None
    # The terminal's short form, from either format's record (TFLite: layers; ONNX: int8_layers + float_nodes).
    assert layer_label(3, 65, short=True) == "int8 (3/65 f32)"
    assert mixed_label(mixed | {"quantization": {**mixed["quantization"], "layers": 65}}, short=True) == "int8 (2/65 f32)"
    onnx = {"quantization": {"label": "int8, 1 of 3 layers float32", "int8_layers": 2, "float_nodes": ["pool"]}}
    assert mixed_label(onnx, short=True) == "int8 (1/3 f32)"


@pytest.fixture(scope="module")
def sensitive(mobilenet, tmp_path_factory) -> tuple[Path, Path]:
    """(the sensitive copy of the MobileNetV2 model, photos.npz)."""
    import real_models

    model_path, npz = mobilenet
    out = tmp_path_factory.mktemp("sensitive") / "mobilenet_v2_035.keras"
    return real_models.sensitive_copy(model_path, out, SCALE), npz


def _export(args: list[str]):
    from edgecnn.cli import cli

    return CliRunner().invoke(cli, ["export", *args], catch_exceptions=False)


def _repaired(model: Path, npz: Path, fmt: str, out: Path):
    """``export --quantize int8 --max-drop 0.3`` of ``fmt``: (the CLI result, the manifest's int8 entry)."""
    result = _export(["--model", str(model), "--data", str(npz), "--preprocess", "symmetric", "--format", fmt,
                      "--quantize", "int8", "--max-drop", "0.3", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    entry = next(e for e in json.loads((out / "manifest.json").read_text())["artifacts"] if e["precision"] == "int8")
    return result, entry


def _on_the_test_split(model: Path, npz: Path, path: Path) -> tuple[str | None, float]:
    """(the file's own mixed label, its agreement with Keras on the test split verify uses): an
    independent check of what the loop judged on held-out training images."""
    import keras

    from edgecnn.data import load_data
    from edgecnn.runtime import load

    predictor = load(path)
    data = load_data(npz, (96, 96, 3), 0)
    keras_top = keras.models.load_model(model).predict(data.x_test / 127.5 - 1, verbose=0, batch_size=100).argmax(1)
    return mixed_label(predictor.metadata), float((predictor.predict(data.x_test).argmax(1) == keras_top).mean())


@pytest.mark.slow
def test_tflite_loop_recovers_the_sensitive_layer_and_names_it(sensitive, tmp_path):
    model, npz = sensitive
    result, entry = _repaired(model, npz, "tflite", tmp_path)
    q = entry["quantization"]
    steps = q["accuracy_control"]["steps"]
    assert steps[0]["agreement"] < 0.6 and not steps[0]["passed"]  # measured: 20.2 % on 500 judge images
    assert steps[-1]["passed"] and steps[-1]["agreement"] >= 0.995
    # The first repair keeps the sensitive tensor float32: its producer and its consumer, by name.
    assert steps[1]["float_layers"] == ["block_16_project_BN", "out_relu"] and steps[1]["agreement"] > 0.98
    assert q["float_layers"][:2] == ["block_16_project_BN", "out_relu"] and len(q["float_layers"]) <= 16
    assert q["label"] == f"int8, {len(q['float_layers'])} of 65 layers float32" == mixed_label(entry)
    assert "held-out training images" in q["accuracy_control"]["judge"]
    # Each step was printed as it was judged, in order, before the verdict.
    live = [line.strip() for line in result.output.splitlines() if line.strip().startswith("int8 TFLite step ")]
    assert len(live) == len(steps) and live[0].startswith("int8 TFLite step 0, as asked: ")
    assert live[1].startswith("int8 TFLite step 1, + float32: block_16_project_BN, out_relu: agreement "
                              f"{100 * steps[1]['agreement']:.2f} %")
    assert live[-1].endswith("(meets the tolerance)") and "int8 meets" in result.output
    # The file itself says so, and it holds on the test split verify uses (an independent check).
    label, agreement = _on_the_test_split(model, npz, tmp_path / "mobilenet_v2_035_int8.tflite")
    assert label == q["label"] and agreement >= 0.99, agreement


@pytest.mark.slow
def test_a_budget_that_cannot_be_met_says_so_in_one_line_and_keeps_the_best(sensitive):
    """One float32 layer cannot fix a tensor that needs its producer and its consumer in float32."""
    from dataclasses import replace

    import keras

    from edgecnn.export import ExportOptions, resolve_spec
    from edgecnn.export.accuracy import Control, control_loop, judge_set, step_line, watching
    from edgecnn.export.tflite_accuracy import TFLiteBackend
    from edgecnn.spec import Preprocessing

    model_path, npz = sensitive
    model = keras.models.load_model(model_path)
    options = resolve_spec(model, model_path, ExportOptions(data_path=npz, preprocessing=Preprocessing.parse(
        "symmetric", "rgb")), needs_data=True)
    rest, judge = judge_set(model, options.spec, options.dataset, 0)
    backend = TFLiteBackend(model, replace(options, dataset=rest), pool=len(rest.x_train), plain_options=options)
    ranked = backend.rank(backend.initial(), judge)
    assert set(ranked[0][0]) == {n for n in backend.layers(backend.initial())
                                 if backend.display(n) in ("block_16_project_BN", "out_relu")}
    seen: list[str] = []
    with watching(seen.append):
        outcome = control_loop(backend, judge, Control(0.3, 0.995, max_float_layers=1),
                               rank=lambda setting: ranked)
    assert not outcome.met and len(outcome.steps) == 1
    step = outcome.steps[0]
    assert seen == [step_line(0, step, ".tflite")]  # handed to the watcher as it was judged
    assert seen[0].startswith("int8 TFLite step 0, as asked: ") and f"agreement {100 * step.agreement:.2f} %" in seen[0]
    assert outcome.statement.count("\n") == 0
    assert outcome.statement.startswith("int8 cannot meet agreement >= 99.50%, drop <= 0.3 points within 1 float32")
    assert f"agreement {outcome.steps[0].agreement:.2%}" in outcome.statement
    assert outcome.steps[outcome.best].agreement < 0.6


@pytest.mark.slow
def test_the_c_array_and_the_mcu_bundle_refuse_what_needs_float_layers(sensitive, tmp_path):
    from edgecnn.errors import ModelError
    from edgecnn.mcu.bundle import write_mcu_bundle

    model, npz = sensitive
    common = ["--model", str(model), "--data", str(npz), "--preprocess", "symmetric", "--output-dir", str(tmp_path)]
    c = _export([*common, "--format", "c", "--max-drop", "0.3"])
    assert c.exit_code == 1
    error = c.output.strip().splitlines()[-1]
    assert error.startswith("Error: mobilenet_v2_035_int8.cc: int8 cannot meet") and "full integer" in error
    assert not (tmp_path / "mobilenet_v2_035_int8.cc").exists()
    # A mixed .tflite (the loop's) is refused by the MCU bundle in one line.
    mixed = _export([*common, "--format", "tflite", "--quantize", "int8", "--max-drop", "0.3",
                     "--calibration-samples", "100"])
    assert mixed.exit_code == 0, mixed.output
    with pytest.raises(ModelError, match=r"layers float32: a microcontroller needs every layer int8") as caught:
        write_mcu_bundle(tmp_path / "mobilenet_v2_035_int8.tflite", tmp_path / "bundle")
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_onnx_loop_recovers_the_sensitive_layer_and_names_it(sensitive, tmp_path):
    """The same repair in ONNX: levers first, then ranked nodes kept float32 (nodes_to_exclude)."""
    model, npz = sensitive
    result, entry = _repaired(model, npz, "onnx", tmp_path)
    q = entry["quantization"]
    steps = q["accuracy_control"]["steps"]
    assert not steps[0]["passed"] and steps[0]["agreement"] < 0.995
    assert steps[-1]["passed"] and steps[-1]["agreement"] >= 0.995 > steps[0]["agreement"]
    assert q["float_nodes"] and mixed_label(entry) == q["label"] and "float32" in q["label"]
    # A node kept float32 can take the one after it along (ONNX Runtime leaves the global pool float32
    # when the convolution before it is): the step then says what the file is, not only what was asked.
    # What a step asks for is the rule's float32 layers (step 0's file: the 3-channel stem) and its own.
    total = len(q["float_nodes"]) + q["int8_layers"]
    ruled = 1  # the 3-channel stem
    assert steps[0]["label"] == layer_label(ruled, total) and not steps[0]["float_layers"], steps[0]
    for step in steps:
        asked = layer_label(ruled + len(step["float_layers"]), total)
        assert (step["label"] == asked) != step["change"].endswith(f" (the file: {step['label']})"), step
    assert steps[-1]["label"] == q["label"] and any(" (the file: " in step["change"] for step in steps)
    label, agreement = _on_the_test_split(model, npz, tmp_path / "mobilenet_v2_035_int8.onnx")
    assert label == q["label"] and agreement >= 0.99, agreement


@pytest.mark.slow
def test_the_app_file_gets_the_same_repair(sensitive, tmp_path):
    """`--quantize int8_app --max-drop`: the loop's file (its float32 layers and record), as MediaPipe takes it."""
    model, npz = sensitive
    result = _export(["--model", str(model), "--data", str(npz), "--preprocess", "symmetric", "--format", "tflite",
                      "--quantize", "int8_app", "--max-drop", "0.3", "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    entry = next(e for e in json.loads((tmp_path / "manifest.json").read_text())["artifacts"])
    assert entry["precision"] == "int8_app"
    q = entry["quantization"]
    assert q["float_layers"][:2] == ["block_16_project_BN", "out_relu"] and q["accuracy_control"]["steps"][-1]["passed"]
    label, agreement = _on_the_test_split(model, npz, tmp_path / "mobilenet_v2_035_int8_app.tflite")
    assert label == q["label"] and agreement >= 0.99, agreement  # without the repair: ~20 %


def _grid_sensitive(folder: Path) -> tuple[Path, Path, float]:
    """A model whose answer flips when its input moves half an int8 step, its photos, and the judge
    images' share of photos it flips: (model.keras, photos.npz, the expected input floor).

    Class 0 when the mean of ``x / 127.5 - 1`` is above 0.006, else class 1. A photo of grey 128
    has mean 0.0039 for Keras, but the int8 input grid (scale 2/255, zero point -1) carries it as
    0.0078, half a step away (as it does every pixel: x / 127.5 - 1 is an odd multiple of 1/255, the
    grid's steps even ones).
    """
    import keras
    import numpy as np

    from edgecnn.data.npz import load_npz
    from edgecnn.export.accuracy import holdout

    rng = np.random.default_rng(0)

    def photos(n: int) -> tuple[np.ndarray, np.ndarray]:
        kind = rng.permutation(np.arange(n) % 10)  # 1 in 10 a grey-128 photo
        x = np.where((kind % 2 == 1)[:, None, None, None], rng.integers(170, 256, (n, 8, 8, 3)),
                     rng.integers(0, 90, (n, 8, 8, 3))).astype(np.uint8)
        x[kind == 0] = 128
        return x, np.where(kind % 2 == 1, 0, 1).astype(np.int64)

    x_train, y_train = photos(400)
    x_test, y_test = photos(100)
    npz = folder / "grey.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.layers[-1].set_weights([np.array([[1.0, -1.0]] * 3, np.float32) * 1000,
                                  np.array([-18.0, 18.0], np.float32)])  # 3 * 1000 * 0.006 = 18
    path = folder / "grey.keras"
    model.save(path)
    _, judge, _ = holdout(load_npz(npz, (8, 8, 3)), 0)
    return path, npz, 1.0 - float((judge == 128).all(axis=(1, 2, 3)).mean())


@pytest.mark.slow
def test_a_model_the_int8_input_grid_flips_is_named_in_the_statement(tmp_path):
    """No float32 layer fixes what the int8 input does: the loop measures that floor and says so."""
    model, npz, floor = _grid_sensitive(tmp_path)
    assert 0.85 < floor < 0.95  # about one judge photo in ten is grey 128
    result = _export(["--model", str(model), "--data", str(npz), "--preprocess", "symmetric", "--format", "tflite",
                      "--quantize", "int8", "--max-drop", "50", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    entry = next(e for e in json.loads((tmp_path / "out" / "manifest.json").read_text())["artifacts"])
    control = entry["quantization"]["accuracy_control"]
    assert not control["met"] and control["input_floor"] == pytest.approx(floor)
    assert max(s["agreement"] for s in control["steps"]) <= floor  # every step, float layers or not
    statement = control["statement"]
    assert statement.startswith("int8 cannot meet agreement >= 99.50%") and "\n" not in statement
    assert f"Keras itself keeps only {floor:.2%} of its answers on the int8 input grid" in statement
    assert statement in result.output
