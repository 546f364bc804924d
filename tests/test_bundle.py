"""`edgecnn bundle`: the pi/android/mcu folders, and the Pi's classify.py in a bare virtualenv."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from edgecnn import runtime
from edgecnn.cli import cli
from edgecnn.fileio import sha256_file


@pytest.fixture(scope="module")
def bundle_dir(exported_dir) -> Path:
    result = CliRunner().invoke(cli, ["bundle", "--output-dir", str(exported_dir)])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.strip().splitlines()] == ["pi", "android", "mcu"]
    return exported_dir / "bundle"


def test_pi_folder(bundle_dir, exported_dir):
    pi = bundle_dir / "pi"
    assert sorted(p.name for p in pi.iterdir()) == [
        "README.md", "classify.py", "manifest.json", "mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite",
        "requirements.txt",
    ]
    readme = (pi / "README.md").read_text()
    assert "# mnist_cnn on a Raspberry Pi" in readme and "| `mnist_cnn_int8.tflite` |" in readme
    assert "pip install -r requirements.txt" in readme and "$" not in readme.replace("```sh", "")
    manifest = json.loads((pi / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        assert entry["sha256"] == sha256_file(pi / entry["path"]) == sha256_file(exported_dir / entry["path"])
    assert sorted(e["precision"] for e in manifest["artifacts"]) == ["float32", "int8"]
    reqs = [line.split(">=")[0] for line in (pi / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    assert reqs == ["numpy", "pillow", "ai-edge-litert"]
    source = (pi / "classify.py").read_text()
    assert "import edgecnn" not in source and "from edgecnn" not in source and "tensorflow" not in source


def test_android_folder_states_the_model_io(bundle_dir, exported_dir):
    """The app variants, derived TF-free from the exported files (none were exported here), and the README."""
    android = bundle_dir / "android"
    assert sorted(p.name for p in android.iterdir()) == [
        "README.md", "labels.txt", "manifest.json", "mnist_cnn_float32_app.tflite", "mnist_cnn_int8_app.tflite"]
    assert (android / "labels.txt").read_text().split() == [str(d) for d in range(10)]
    readme = (android / "README.md").read_text()
    app = runtime.load(android / "mnist_cnn_int8_app.tflite")
    assert app.input_spec.dtype == "uint8" and app.output_spec.dtype == "float32" and app.precision == "int8_app"
    assert "uint8 `[1, 28, 28, 3]`" in readme and "float32 `[1, 10]`" in readme and "white on black" in readme
    assert "x / 255.0" in readme and "```kotlin" in readme and "interpreter.run(input, output)" in readme
    assert sha256_file(android / "mnist_cnn_int8_app.tflite") in readme
    manifest = json.loads((android / "manifest.json").read_text())
    assert [(e["path"], e["precision"]) for e in manifest["artifacts"]] == [
        ("mnist_cnn_int8_app.tflite", "int8_app"), ("mnist_cnn_float32_app.tflite", "float32_app")]
    x = runtime.load(exported_dir / "mnist_cnn_int8.tflite")
    digits = np.random.default_rng(0).integers(0, 256, (32, 28, 28), dtype=np.uint8)
    assert np.array_equal(app.predict(digits), x.predict(digits))  # the int8 file's numbers, bit for bit


# What the reference CNN's int8 model needs in TFLM, written out rather than recomputed with the
# helpers the bundle itself uses: its six builtin ops in graph order, and the arena plan
# (conv1's 26x26x6 int8 output, 4056 bytes -> 4064 aligned, beside pool1's 13x13x6 -> 1024: 5088
# bytes of activations; + 7712 estimated persistent, + 25 %, rounded up to a KiB: 16384).
MCU_RESOLVER = """\
static tflite::MicroMutableOpResolver<6> resolver;

void RegisterOps() {  // call once, before building the MicroInterpreter
  resolver.AddConv2D();  // CONV_2D
  resolver.AddMaxPool2D();  // MAX_POOL_2D
  resolver.AddTanh();  // TANH
  resolver.AddReshape();  // RESHAPE
  resolver.AddFullyConnected();  // FULLY_CONNECTED
  resolver.AddSoftmax();  // SOFTMAX
}
"""


def test_mcu_folder(bundle_dir, exported_dir):
    mcu = bundle_dir / "mcu"
    assert sorted(p.name for p in mcu.iterdir()) == [
        "Makefile", "README.md", "main.cc", "mnist_cnn_int8.cc", "mnist_cnn_int8.h", "model_data.h",
        "model_setup.h", "mps2.ld", "startup.c", "test_inputs.cc", "test_inputs.h"]
    readme = (mcu / "README.md").read_text()
    from edgecnn.mcu.host import tflm_bytes, works
    from edgecnn.mcu.sources import model_setup
    from edgecnn.tflm import builtin_ops

    data = tflm_bytes(exported_dir / "mnist_cnn_int8.tflite")  # TFLM gets the converter's graph
    assert MCU_RESOLVER in readme
    # The arena: the smallest the TFLM interpreter accepts (stated in bytes), rounded up to a KiB.
    smallest = int(re.search(r"on a 64-bit host, \*\*([\d,]+) bytes\*\*", readme).group(1).replace(",", ""))
    probe = np.zeros((1, 28, 28, 1), np.int8)
    path = exported_dir / "mnist_cnn_int8.tflite"
    assert works(path, smallest, probe) and not works(path, smallest - 1, probe)
    # The reference CNN's arena on a 64-bit host, as the TFLM interpreter measured it (5,088 bytes of
    # activations + TFLM's bookkeeping), rounded up to a KiB; edgecnn's own planner: the 5,088.
    assert smallest == 10104
    assert "kTensorArenaSize = 10240;" in readme
    assert "computes 5,088 bytes of activations" in readme
    # The example builds the README's code verbatim (one function writes both), and says what is
    # board-specific.
    setup = model_setup(builtin_ops(data), 10240)
    assert f"```cpp\n{setup.resolver}```" in readme and f"```cpp\n{setup.arena}```" in readme
    assert (mcu / "model_setup.h").read_text() == setup.header()
    assert "#define MODEL_DATA g_mnist_cnn_int8" in (mcu / "model_data.h").read_text()
    assert "Not measured for this file yet" in readme and "board-specific" in readme
    assert f"g_mnist_cnn_int8_len = {len(data)};" in (mcu / "mnist_cnn_int8.cc").read_text()


def test_missing_artifacts_are_exported_from_keras(tmp_path, trained_model_path):
    shutil.copy(trained_model_path, tmp_path / "mnist_cnn.keras")
    result = CliRunner().invoke(cli, ["bundle", "--output-dir", str(tmp_path), "--target", "mcu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mnist_cnn_int8.tflite").is_file() and (tmp_path / "bundle" / "mcu" / "mnist_cnn_int8.cc").is_file()
    assert not (tmp_path / "bundle" / "pi").exists()


def test_nothing_to_bundle_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["bundle", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.count("Error:") == 1 and "edgecnn train" in result.output and "edgecnn export" in result.output
    assert CliRunner().invoke(cli, ["bundle", "--target", "toaster"]).exit_code == 2


# ---- classify.py in a virtualenv that has only its requirements.txt ----------------------
@pytest.fixture(scope="session")
def bare_venv(tmp_path_factory) -> Path:
    """A fresh venv with only the Pi bundle's requirements (pip's configured index; works offline here)."""
    from edgecnn.bundle_templates import pi_requirements_path

    folder = tmp_path_factory.mktemp("pi_venv")
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    python = folder / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-r", pi_requirements_path()],
        check=True, env=_clean_env(), timeout=900,
    )
    return python


def _clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH: the venv must not see this checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


@pytest.mark.slow
def test_classify_py_in_bare_venv_matches_runtime(bundle_dir, bare_venv, mnist, tmp_path):
    pi = bundle_dir / "pi"
    probe = subprocess.run(
        [bare_venv, "-c", "import importlib.util as u; print([m for m in ('edgecnn', 'tensorflow', 'keras') if u.find_spec(m)])"],
        capture_output=True, text=True, check=True, env=_clean_env(), cwd=tmp_path,
    )
    assert probe.stdout.strip() == "[]"
    images = mnist.x_test[:200]
    np.save(tmp_path / "images.npy", images)
    for name in ("mnist_cnn_int8.tflite", "mnist_cnn_float32.tflite"):
        out = subprocess.run(
            [bare_venv, pi / "classify.py", "--model", pi / name, "--npy", tmp_path / "images.npy",
             "--save-probs", tmp_path / "probs.npy", "--batch-size", "64"],
            capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, timeout=300,
        )
        assert out.returncode == 0, out.stderr
        probs = np.load(tmp_path / "probs.npy")
        assert probs.shape == (200, 10) and probs.dtype == np.float32
        expected = runtime.load(pi / name).predict(images)
        np.testing.assert_array_equal(probs.argmax(1), expected.argmax(1))
        np.testing.assert_allclose(probs, expected, atol=1e-6)
    # Human mode on image files: the same digits as `edgecnn predict`, bad files reported.
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"d{i}.png")
        Image.fromarray(255 - mnist.x_test[i]).resize((84, 84)).save(paths[-1])
    (tmp_path / "bad.png").write_text("nope")
    out = subprocess.run(
        [bare_venv, pi / "classify.py", *paths, tmp_path / "bad.png"],
        capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, timeout=300,
    )
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error:")]  # LiteRT logs INFO lines too
    assert out.returncode == 1 and len(errors) == 1 and errors[0].startswith(f"Error: {tmp_path / 'bad.png'}:")
    ours = CliRunner().invoke(cli, ["predict", "--model", str(pi / "mnist_cnn_int8.tflite"), *map(str, paths)])
    assert out.stdout.split() == ours.stdout.split()
