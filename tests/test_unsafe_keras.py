"""Untrusted .keras files: Keras safe mode by default, code-carrying files only with --unsafe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn import runtime
from edgecnn.cli import cli
from edgecnn.errors import ModelError
from edgecnn.manifest import read_manifest
from edgecnn.model import load_model


@pytest.fixture(scope="module", params=[".keras", ".h5"])
def lambda_model_path(tmp_path_factory, request) -> Path:
    """A .keras (or legacy .h5) file whose Lambda layer carries Python code (here a harmless x * 2)."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Lambda(lambda x: x * 2.0), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    path = tmp_path_factory.mktemp("unsafe") / f"lambda{request.param}"
    model.save(path)
    return path


def test_lambda_layer_is_refused_in_safe_mode(lambda_model_path):
    with pytest.raises(ModelError) as info:
        load_model(lambda_model_path)
    assert str(info.value) == (
        f"{lambda_model_path}: refuses to load: the file holds Python code (e.g. a Lambda layer); "
        "pass --unsafe only if you trust it"
    )


def test_unsafe_loads_and_runs_the_lambda(lambda_model_path):
    model = load_model(lambda_model_path, unsafe=True)
    x = np.ones((1, 28, 28, 1), np.float32)
    assert [type(layer).__name__ for layer in model.layers] == ["Lambda", "Flatten", "Dense"]
    np.testing.assert_allclose(np.asarray(model.layers[0](x)), 2.0 * x)


REFUSED = "refuses to load: the file holds Python code (e.g. a Lambda layer); pass --unsafe only if you trust it"


def _invoke(*args):
    return CliRunner().invoke(cli, [*map(str, args)])


@pytest.fixture(scope="module")
def lambda_export(lambda_model_path, tmp_path_factory) -> Path:
    """The Lambda model exported (by the library, with unsafe=True) to a float32 .tflite file."""
    from edgecnn.export import export_models

    (artifact,) = export_models(lambda_model_path, tmp_path_factory.mktemp("lambda_export"), [("tflite", "float32")],
                                unsafe=True)
    return artifact.path


def test_export_refuses_the_lambda_file_then_exports_it_with_unsafe(lambda_model_path, tmp_path):
    args = ["export", "--model", lambda_model_path, "--format", "tflite", "--output-dir", tmp_path]
    refused = _invoke(*args)
    assert refused.exit_code == 1
    assert refused.output == f"Error: {lambda_model_path}: {REFUSED}\n"  # one line, no traceback
    assert list(tmp_path.iterdir()) == []  # nothing written
    allowed = _invoke(*args, "--unsafe")
    assert allowed.exit_code == 0, allowed.output
    (entry,) = read_manifest(tmp_path)["artifacts"]
    assert (entry["format"], entry["precision"]) == ("tflite", "float32")
    # The exported file computes the Lambda (x * 2): it predicts what the Keras model predicts.
    x = (np.arange(2 * 28 * 28) % 256).astype(np.uint8).reshape(2, 28, 28)
    keras_model = load_model(lambda_model_path, unsafe=True)
    expected = np.asarray(keras_model(x[..., None].astype(np.float32) / 255))
    np.testing.assert_allclose(runtime.load(tmp_path / entry["path"]).predict(x), expected, atol=1e-5)


def test_verify_refuses_the_lambda_reference_then_verifies_with_unsafe(lambda_model_path, lambda_export, tmp_path):
    args = ["verify", lambda_export, "--model", lambda_model_path, "--output-dir", tmp_path]
    refused = _invoke(*args)
    assert refused.exit_code == 1
    assert refused.output.splitlines()[-1] == f"Error: {lambda_model_path}: {REFUSED}"
    assert "Traceback" not in refused.output
    allowed = _invoke(*args, "--unsafe")
    assert allowed.exit_code == 0, allowed.output
    assert "1 of 1 artifacts pass" in allowed.output
    report = json.loads((tmp_path / "verify.json").read_text())
    (row,) = report["artifacts"]
    assert row["passed"] is True and row["agreement"] == 1.0 and row["max_abs_diff"] < 1e-5


def test_bench_refuses_the_lambda_baseline_then_times_it_with_unsafe(lambda_model_path, tmp_path):
    if lambda_model_path.suffix != ".keras":
        pytest.skip("bench times .tflite, .onnx and .keras files only; the legacy .h5 is no bench subject")
    args = ["bench", lambda_model_path, "--output-dir", tmp_path, "--batch-sizes", "1", "--runs", "3",
            "--warmup", "0", "--no-cold-start"]
    refused = _invoke(*args)
    assert refused.exit_code == 1
    assert refused.output.splitlines()[-1] == f"Error: {lambda_model_path}: {REFUSED}"
    assert not (tmp_path / "bench.json").exists()
    allowed = _invoke(*args, "--unsafe")
    assert allowed.exit_code == 0, allowed.output
    (row,) = json.loads((tmp_path / "bench.json").read_text())["results"]
    assert row["file"] == lambda_model_path.name and row["runtime"] == "keras" and row["runs"] == 3


@pytest.mark.parametrize("command", ["export", "verify", "bench"])
def test_every_command_that_loads_keras_offers_unsafe(command):
    result = _invoke(command, "--help")
    assert result.exit_code == 0 and "--unsafe" in result.output and "trust" in result.output
