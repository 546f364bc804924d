"""Untrusted .keras files: Keras safe mode by default, code-carrying files only with --unsafe."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.cli import EdgeCnnGroup, unsafe_option
from edgecnn.errors import ModelError
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


def _group() -> click.Group:
    """A stand-in for the commands that load .keras files (export, verify, bench...)."""

    @click.group(cls=EdgeCnnGroup)
    def group():
        pass

    @group.command()
    @click.argument("model", type=click.Path(path_type=Path))
    @unsafe_option
    def inspect(model: Path, unsafe: bool):
        click.echo(f"{len(load_model(model, unsafe=unsafe).layers)} layers")

    return group


def test_unsafe_option_in_a_command(lambda_model_path):
    refused = CliRunner().invoke(_group(), ["inspect", str(lambda_model_path)])
    assert refused.exit_code == 1
    assert refused.output.startswith(f"Error: {lambda_model_path}: refuses to load") and "--unsafe" in refused.output
    assert refused.output.count("\n") == 1  # one line, no traceback
    allowed = CliRunner().invoke(_group(), ["inspect", str(lambda_model_path), "--unsafe"])
    assert allowed.exit_code == 0 and allowed.output == "3 layers\n"
    assert "--unsafe" in CliRunner().invoke(_group(), ["inspect", "--help"]).output
