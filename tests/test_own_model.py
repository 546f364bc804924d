"""Your own model (issue #12), end to end, on two architectures that are not the reference CNN.

(a) ``depthwise_rgb``: Sequential, 24x24 RGB, a Rescaling layer inside (``--preprocess none``),
    DepthwiseConv2D + BatchNormalization + ReLU6 + GlobalAveragePooling + Dense **logits**,
    4 classes, data = a class-folder tree with train/ and test/ (PNGs twice the model's size).
(b) ``residual_grey``: functional, 20x20 grey, SeparableConv2D + residual Add + swish +
    Concatenate + Reshape + Dense softmax, 3 classes, ``--preprocess symmetric``, data = an .npz
    with x, y and labels (seeded 80/20 split).

Both are built and trained here (seeded, ~10 s each) on coloured shapes the tests draw; every
format and precision of the registry is exported once per session. Plus the refusals.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn import runtime
from edgecnn.cli import cli

sys.path.insert(0, str(Path(__file__).parent))
import own_models  # noqa: E402

pytestmark = pytest.mark.slow  # trains two small models and exports 14 files

KINDS = ("a", "b")


@pytest.fixture(scope="session")
def own(tmp_path_factory):
    """Both models trained and exported to every registry target: {kind: info}."""
    import keras

    from edgecnn.data import load_data, preprocess
    from edgecnn.export import REGISTRY, ExportOptions, export_models
    from edgecnn.spec import Preprocessing

    root = tmp_path_factory.mktemp("own")
    out = {}

    # (a) class folders with train/ and test/, PNGs at 48x48 (the loader fits them to 24x24)
    names_a = tuple(sorted(own_models.SHAPES[:4]))  # class names: the sorted folder names
    # 700 to train, 2,000 to test: the int8 tolerance (0.3 points) is a real bound, and 99.5 % agreement
    # can be shown with up to 3 disagreements (Wilson lower bound 99.56 %). On 1,000 it took none: the
    # int8 files' 1 disagreement in 1,000 (99.44 %) made verify INCONCLUSIVE whenever the seeded fit
    # came out slightly otherwise (it depends on the TensorFlow ops the process ran before).
    x, y = own_models.make_shapes(2700, 24, 4, seed=0)
    folder = root / "shapes_rgb"
    own_models.write_class_folders(folder / "train", x[:700], y[:700], own_models.SHAPES[:4], scale=2)
    own_models.write_class_folders(folder / "test", x[700:], y[700:], own_models.SHAPES[:4], scale=2)
    ds = load_data(folder, (24, 24, 3))
    model = own_models.build_depthwise_rgb(24, 4, seed=0)
    own_models.fit(model, np.asarray(ds.x_train), ds.y_train, lambda v: v.astype(np.float32), epochs=15, logits=True)
    path_a = root / "depthwise_rgb.keras"
    model.save(path_a)
    out["a"] = dict(model=path_a, data=folder, dataset=ds, names=names_a, shape=(24, 24, 3), head="logits",
                    preset="none", preprocessing=Preprocessing.parse("none", color="rgb"),
                    photos=(x[700:], [own_models.SHAPES[k] for k in y[700:]], 2))

    # (b) an .npz with x, y and labels
    names_b = own_models.SHAPES[:3]
    # The seeded split: 1,600 to test, so that 99.5 % agreement can be shown with a disagreement or two
    # (#20 point 4: on 1,000 images one disagreement leaves the Wilson lower bound at 99.44 %).
    x, y = own_models.make_shapes(8000, 20, 3, seed=1, channels=1)
    npz = root / "shapes_grey.npz"
    np.savez(npz, x=x, y=y, labels=np.array(names_b))
    ds = load_data(npz, (20, 20, 1))
    symmetric = Preprocessing.parse("symmetric")
    model = own_models.build_residual_grey(20, 3, seed=0)
    own_models.fit(model, ds.x_train[:800], ds.y_train[:800], lambda v: preprocess(v, symmetric), epochs=10)
    path_b = root / "residual_grey.keras"
    model.save(path_b)
    out["b"] = dict(model=path_b, data=npz, dataset=ds, names=names_b, shape=(20, 20, 1), head="softmax",
                    preset="symmetric", preprocessing=symmetric,
                    photos=(ds.x_test, [names_b[k] for k in ds.y_test], 3))

    keras.backend.clear_session()
    for kind, info in out.items():
        info["out"] = root / f"exports_{kind}"
        options = ExportOptions(data_path=info["data"], preprocessing=Preprocessing.parse(info["preset"]))
        info["artifacts"] = export_models(info["model"], info["out"], list(REGISTRY), options)
        info["name"] = info["model"].stem
    return out


def _files(info) -> dict[tuple[str, str], Path]:
    from edgecnn.export import REGISTRY

    return {key: info["out"] / target.filename_for(info["name"]) for key, target in REGISTRY.items()}


def _keras_labels(info, pixels: np.ndarray) -> list[str]:
    from edgecnn.model import keras_predict, load_model

    model = load_model(info["model"])  # the saved file, as verify and export read it
    probs = keras_predict(model, pixels, preprocessing=info["preprocessing"], head=info["head"])
    return [info["names"][k] for k in probs.argmax(axis=1)]


# -- export ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_format_and_precision_exports_with_the_model_record(own, kind):
    from edgecnn.manifest import read_manifest

    info = own[kind]
    files = _files(info)
    assert all(path.is_file() for path in files.values()), sorted(p.name for p in info["out"].iterdir())
    manifest = read_manifest(info["out"])
    model = manifest["model"]
    assert model["name"] == info["name"] and model["input_shape"] == list(info["shape"])
    assert model["labels"] == list(info["names"]) == manifest["labels"]
    assert model["head"] == info["head"] and model["preprocessing"]["preset"] == info["preset"]
    assert model["preprocessing"]["prepare"] == "resize"
    assert len(manifest["artifacts"]) == len(files)
    for (fmt, precision), path in files.items():
        if fmt == "c":
            continue
        predictor = runtime.load(path)
        spec = predictor.spec
        assert (spec.name, spec.input_shape, spec.labels, spec.head) == (
            info["name"], info["shape"], tuple(info["names"]), info["head"])
        assert spec.preprocessing.preset == info["preset"] and predictor.precision == precision
        assert predictor.metadata["input_shape"] == list(info["shape"])
        # every file outputs probabilities, also for the logits head
        probs = predictor.predict(info["dataset"].x_test[:16])
        assert probs.shape == (16, len(info["names"]))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02)


# -- verify, bench ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_every_file_passes_verify_at_the_standard_tolerances(own, kind):
    info = own[kind]
    result = CliRunner().invoke(cli, ["verify", "--output-dir", str(info["out"]), "--data", str(info["data"]),
                                      "--model", str(info["model"])])
    assert result.exit_code == 0, result.output
    report = json.loads((info["out"] / "verify.json").read_text())
    # tflite x6 (4 + the 2 app variants) + onnx x2 (the C array is the int8 tflite)
    assert report["passed"] and len(report["artifacts"]) == 8
    assert report["data"]["samples"] == len(info["dataset"].x_test)
    assert report["keras_accuracy"] >= 0.9, report["keras_accuracy"]  # learnable: accuracy means something
    for row in report["artifacts"]:
        assert row["passed"] and row["agreement"] >= 0.995, row


@pytest.mark.parametrize("kind", KINDS)
def test_bench_runs(own, kind):
    info = own[kind]
    result = CliRunner().invoke(cli, [
        "bench", "--output-dir", str(info["out"]), "--data", str(info["data"]), "--batch-sizes", "1,8",
        "--seconds", "0.05", "--warmup", "0.01", "--no-cold-start",
    ])
    assert result.exit_code == 0, result.output
    table = result.output
    for fmt, precision in (("tflite", "int8"), ("onnx", "float32")):
        assert f"{info['name']}_{precision}.{fmt}" in table
    assert (info["out"] / "bench.json").is_file()


# -- the app frameworks (issue #22) ----------------------------------------------------------
@pytest.mark.mediapipe
@pytest.mark.parametrize("kind", KINDS)
def test_mediapipe_runs_the_app_files_from_their_metadata_alone(own, kind):
    """(a) RGB, pixels as they are ('none'): the float32 file itself and both app files run; the int8_app takes
    uint8 pixels. (b) grey, symmetric: only the app files run (RGB converted inside); its int8_app takes float32
    (the zero point 127.5 is no integer) with NormalizationOptions 127.5 / 127.5."""
    pytest.importorskip("mediapipe")
    from edgecnn.model import keras_predict, load_model
    from edgecnn.platforms.mediapipe import check_file, rgb_pictures
    from edgecnn.runtime.model_metadata import read_model_metadata

    info = own[kind]
    images, labels = info["dataset"].x_test[:300], info["dataset"].y_test[:300]
    keras = keras_predict(load_model(info["model"]), images, preprocessing=info["preprocessing"], head=info["head"])
    # As `verify --platform mediapipe` judges them: a lossy file must reproduce the same file here (#20 point 4).
    rows = {}
    for precision in ("float32", "int8", "float32_app", "int8_app"):
        path = info["out"] / f"{info['name']}_{precision}.tflite"
        host = runtime.load(path).predict(images) if precision.startswith("int8") else None
        rows[precision] = check_file(path, rgb_pictures(images), keras, labels, precision, None, host_probs=host)
    assert rows["int8"]["status"] == "REFUSED" and "got INT8" in rows["int8"]["refused"]
    assert rows["float32"]["status"] == ("PASS" if kind == "a" else "REFUSED")
    for precision in ("float32_app", "int8_app"):
        row = rows[precision]
        assert row["status"] == "PASS" and row["category_names"]["names"] == list(info["names"]), row
        if precision == "float32_app":
            assert row["agreement"] >= 0.9999
        else:  # 300 images can never establish 99.5 % against Keras: INCONCLUSIVE there, for information
            assert row["vs_host"]["passed"] and row["keras_status"] == "INCONCLUSIVE", row
    assert rows["float32_app"]["max_abs_diff"] < 1e-4
    app = runtime.load(info["out"] / f"{info['name']}_int8_app.tflite")
    standard = read_model_metadata(app.path.read_bytes()).input
    if kind == "a":
        assert app.input_spec.dtype == "uint8" and (standard.mean, standard.std) == ((0.0,), (1.0,))
    else:
        assert app.input_spec.dtype == "float32" and (standard.mean, standard.std) == ((127.5,), (127.5,))
        assert standard.color_space == "RGB" and app.input_shape == (20, 20, 3) and app.spec.input_shape == (20, 20, 1)


# -- predict, the Pi's classify.py, bundles ---------------------------------------------------
def _photos(info, tmp_path: Path, n: int = 6) -> tuple[list[Path], list[str]]:
    """Test images saved as PNGs two or three times the model's size, one with a border (another
    aspect ratio), and their true labels."""
    from PIL import Image

    images, truth, scale = info["photos"]
    x, truth = images[::7][:n], truth[::7][:n]  # several classes
    paths = []
    for i, image in enumerate(x):
        im = Image.fromarray(image)
        im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
        if i == 0:  # a wider picture: fitted keeping the aspect ratio, padded
            wide = Image.new(im.mode, (im.width + 30, im.height))
            wide.paste(im, (15, 0))
            im = wide
        paths.append(tmp_path / f"p{i}.png")
        im.save(paths[-1])
    return paths, truth


@pytest.mark.parametrize("kind", KINDS)
def test_predict_on_png_files_gives_the_keras_labels(own, kind, tmp_path):
    from edgecnn.images import prepare_for

    info = own[kind]
    paths, truth = _photos(info, tmp_path)
    pixels = np.stack([prepare_for(p, info["shape"], "resize") for p in paths])
    expected = _keras_labels(info, pixels)
    assert sum(a == b for a, b in zip(expected, truth)) >= 5, (expected, truth)  # the photos are recognisable
    for (fmt, precision), path in _files(info).items():
        if fmt == "c":
            continue
        result = CliRunner().invoke(cli, ["predict", "--model", str(path), "--json", *map(str, paths)])
        assert result.exit_code == 0, result.output
        got = [r["label"] for r in json.loads(result.output)["results"]]
        assert got == expected, (path.name, got, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_pi_classify_py_and_android_readme(own, kind, tmp_path):
    from edgecnn.bundle import build_bundles

    info = own[kind]
    built = build_bundles(info["out"], ["pi", "android"])
    pi = built["pi"][0].parent
    int8 = pi / f"{info['name']}_int8.tflite"
    assert int8.is_file() and (pi / f"{info['name']}_float32.tflite").is_file()
    paths, _ = _photos(info, tmp_path)
    ours = CliRunner().invoke(cli, ["predict", "--model", str(int8), "--json", *map(str, paths)])
    theirs = subprocess.run([sys.executable, str(pi / "classify.py"), "--json", *map(str, paths)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr[-2000:]
    got = [json.loads(line)["label"] for line in theirs.stdout.splitlines() if line.startswith("{")]
    assert got == [r["label"] for r in json.loads(ours.output)["results"]]
    # machine mode: the declared preprocessing, the same numbers as edgecnn's runtime
    images = info["dataset"].x_test[:50]
    np.save(tmp_path / "x.npy", images)
    for model in (int8, pi / f"{info['name']}_float32.tflite"):
        done = subprocess.run([sys.executable, str(pi / "classify.py"), "--model", str(model), "--npy",
                               str(tmp_path / "x.npy"), "--save-probs", str(tmp_path / "p.npy")],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        np.testing.assert_allclose(np.load(tmp_path / "p.npy"), runtime.load(model).predict(images), atol=1e-6)
    android = built["android"][0].parent
    assert (android / "labels.txt").read_text().split() == list(info["names"])
    readme = (android / "README.md").read_text()
    h, w, c = info["shape"]
    app = runtime.load(android / f"{info['name']}_int8_app.tflite")
    size = h * w * 3 * (1 if app.input_spec.dtype == "uint8" else 4)  # (a) uint8 pixels, (b) float32 (zero point 127.5)
    assert f"{app.input_spec.dtype} `[1, {h}, {w}, 3]`" in readme and f"FloatArray({len(info['names'])})" in readme
    assert f"allocateDirect({size})" in readme and info["preprocessing"].formula in readme
    assert ("white on black" in readme) is False and "Nothing: MediaPipe and ML Kit" in readme  # photo models


# -- the C array ----------------------------------------------------------------------------
EXPECTED_OPS = {
    "a": {"CONV_2D", "DEPTHWISE_CONV_2D", "MAX_POOL_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"},
    "b": {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "CONCATENATION",
          "FULLY_CONNECTED", "SOFTMAX", "LOGISTIC"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_c_array_op_resolver_lists_exactly_the_models_ops(own, kind):
    import re

    from edgecnn.export.c_array import TFLM_OPS
    from edgecnn.tflm import builtin_ops

    info = own[kind]
    ops = builtin_ops((info["out"] / f"{info['name']}_int8.tflite").read_bytes())
    header = (info["out"] / f"{info['name']}_int8.h").read_text()
    registered = re.findall(r"resolver\.(Add\w+)\(\)", header)
    assert registered == [TFLM_OPS[op] for op in ops]  # each once, in first-use order
    assert len(set(registered)) == len(registered)
    assert EXPECTED_OPS[kind] <= set(ops), ops
    assert f"MicroMutableOpResolver<{len(ops)}>" in header
    entry = next(a for a in info["artifacts"] if a.format == "c")
    assert entry.extra["ops"] == ops


# -- refusals --------------------------------------------------------------------------------
def _export(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


def _one_error_line(result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def test_not_an_image_classifier_is_refused(tmp_path):
    import keras
    from keras import layers

    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    two = keras.Model([a, b], layers.Dense(2, activation="softmax")(layers.Flatten()(layers.Add()([a, b]))))
    flat = keras.Sequential([keras.Input((16,)), layers.Dense(3, activation="softmax")])
    for model, expected in ((two, "has 2 inputs and 1 outputs"), (flat, "input is [N, 16], not an image")):
        path = tmp_path / "m.keras"
        model.save(path)
        line = _one_error_line(_export("--model", path, "--format", "tflite", "--output-dir", tmp_path / "out"))
        assert expected in line and "edgecnn takes Keras image classifiers: one image input [N, H, W, C]" in line
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def _custom_model(tmp_path, which: str, own_data) -> Path:
    import keras
    import tensorflow as tf
    from keras import layers

    ops = {
        "det": lambda x: x * tf.reshape(tf.linalg.det(tf.reshape(x[:, :4, :4, 0], (-1, 4, 4))), (-1, 1, 1, 1)),
        "gelu": lambda x: keras.activations.gelu(x),
    }

    @keras.saving.register_keras_serializable("edgecnn_tests")
    class Weird(layers.Layer):
        def __init__(self, op="det", **kwargs):
            super().__init__(**kwargs)
            self.op = op

        def call(self, x):
            return ops[self.op](x)

        def get_config(self):
            return {**super().get_config(), "op": self.op}

    keras.utils.set_random_seed(0)
    inp = keras.Input((20, 20, 1))
    x = layers.Conv2D(2, 3, name="conv")(inp)
    x = Weird(which, name="weird")(x)
    out = layers.Dense(3, activation="softmax", name="probs")(layers.Flatten()(x))
    path = tmp_path / f"{which}.keras"
    keras.Model(inp, out).save(path)
    return path


def test_an_op_tflite_lacks_names_the_layer_and_the_other_formats_are_written(own, tmp_path):
    path = _custom_model(tmp_path, "det", own)
    out = tmp_path / "out"
    line = _one_error_line(_export("--model", path, "--data", own["b"]["data"], "--output-dir", out))
    assert "det_float32.tflite, det_int8.tflite, det_int8.cc not written: layer 'weird' (op MatrixDeterminant) " \
           "is not a TFLite builtin op" in line
    assert line.endswith("(written: det_float32.onnx, det_int8.onnx)")
    assert sorted(p.name for p in out.iterdir()) == ["det_float32.onnx", "det_int8.onnx", "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(e["path"] for e in manifest["artifacts"]) == ["det_float32.onnx", "det_int8.onnx"]


def test_an_op_tflite_micro_lacks_refuses_only_the_c_array(own, tmp_path):
    path = _custom_model(tmp_path, "gelu", own)
    out = tmp_path / "out"
    line = _one_error_line(_export("--model", path, "--data", own["b"]["data"], "--output-dir", out))
    assert "gelu_int8.cc not written: layer 'weird' (op GELU) has no TensorFlow Lite Micro kernel" in line
    assert (out / "gelu_int8.tflite").is_file() and (out / "gelu_float32.tflite").is_file()
    assert not (out / "gelu_int8.cc").exists()


def test_data_that_does_not_fit_the_model_is_refused_with_both_numbers(own, tmp_path):
    info = own["b"]
    wrong_size = tmp_path / "big.npz"
    np.savez(wrong_size, x=np.zeros((8, 24, 24), np.uint8), y=np.arange(8) % 3)
    wrong_classes = tmp_path / "four.npz"
    np.savez(wrong_classes, x=np.zeros((8, 20, 20), np.uint8), y=np.arange(8) % 4)
    for data, expected in ((wrong_size, "images are 24x24x1, the model takes 20x20x1"),
                           (wrong_classes, "data has 4 classes, the model outputs 3")):
        out = tmp_path / f"out_{data.stem}"
        line = _one_error_line(_export("--model", info["model"], "--quantize", "--format", "tflite",
                                       "--data", data, "--output-dir", out))
        assert line == f"Error: {data}: {expected}"
        assert not out.exists() or not list(out.iterdir())


def test_labels_file_and_unlabelled_verify(own, tmp_path):
    """--labels FILE names the classes in the files; data without labels still verifies (accuracy unknown)."""
    from PIL import Image

    info = own["b"]
    labels = tmp_path / "labels.txt"
    labels.write_text("box\nround\ncross\n")
    out = tmp_path / "out"
    result = _export("--model", info["model"], "--format", "onnx", "--preprocess", "symmetric",
                     "--labels", labels, "--output-dir", out)
    assert result.exit_code == 0, result.output
    assert runtime.load(out / "residual_grey_float32.onnx").labels == ("box", "round", "cross")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, image in enumerate(info["dataset"].x_test[:30]):
        Image.fromarray(image).save(photos / f"{i}.png")
    result = CliRunner().invoke(cli, ["verify", "--output-dir", str(out), "--data", str(photos),
                                      "--model", str(info["model"])])
    assert result.exit_code == 0, result.output
    assert "accuracy unknown (the data has no labels" in result.output
    report = json.loads((out / "verify.json").read_text())
    assert report["keras_accuracy"] is None and report["data"]["labelled"] is False
    assert report["artifacts"][0]["accuracy"] is None and report["artifacts"][0]["agreement"] == 1.0


def test_train_on_a_folder_then_run_with_your_own_model(own, tmp_path):
    """`edgecnn train --data DIR` trains the reference architecture on the folder; `edgecnn run
    --model my.keras --data DIR` skips training and goes export -> verify -> bench -> report."""
    info = own["a"]
    out = tmp_path / "trained"
    result = CliRunner().invoke(cli, ["train", "--data", str(info["data"]), "--epochs", "1", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert "(48x48x3, 4 classes)" in result.output  # the input shape: the first image's size
    record = json.loads((out / "train.json").read_text())
    assert record["model"] == "shapes_rgb_cnn.keras" and record["labels"] == list(info["names"])
    assert (out / "shapes_rgb_cnn.keras").is_file()

    run_out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", "--model", str(info["model"]), "--data", str(info["data"]),
                                      "--preprocess", "none", "--quick", "--output-dir", str(run_out)])
    assert result.exit_code == 0, result.output
    assert "skipped: your own model" in result.output
    report = json.loads((run_out / "verify.json").read_text())
    assert report["passed"] and {Path(a["path"]).name for a in report["artifacts"]} == {
        "depthwise_rgb_float32.tflite", "depthwise_rgb_int8.tflite", "depthwise_rgb_float32.onnx",
        "depthwise_rgb_int8.onnx"}
    assert (run_out / "report.md").is_file() and (run_out / "bench.json").is_file()


def test_normalization_transposed_conv_and_global_max_pooling(tmp_path):
    """A functional model with a Normalization layer (its mean and variance are captured by value
    when traced: they must stay inside the ONNX graph, not become two extra inputs), a transposed
    convolution and global max pooling: every file is written with one input; the float files pass verify,
    the int8 ones sit at the tolerance (INCONCLUSIVE, exit 3: #20 point 4)."""
    import keras

    x, y = own_models.make_shapes(1200, 20, 4, seed=3)  # learnable: the int8 files are judged at 99.5 % agreement
    # ... on 1,600 test images of their own (#20 point 4; a seeded 20 % of the 1,200 would be 240, on which
    # 99.5 % cannot be shown at all). This model's int8 files sit at the tolerance: on 12,000 such images
    # 99.48 % (TFLite) and 99.59 % (ONNX) agreement, both INCONCLUSIVE; on these 1,600 the TFLite file is
    # 99.62 % (6 disagreements, 95 % interval 99.2-99.8 %): INCONCLUSIVE is the truth, and verify exits 3.
    x_test, y_test = own_models.make_shapes(1600, 20, 4, seed=4)
    np.savez(tmp_path / "data.npz", x_train=x, y_train=y, x_test=x_test, y_test=y_test)
    keras.utils.set_random_seed(0)
    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(x[:200].astype("float32"))
    inputs = keras.Input((20, 20, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu")(norm(inputs))
    h = keras.layers.Conv2DTranspose(8, 3, activation="relu")(h)
    outputs = keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalMaxPooling2D()(h))
    model = keras.Model(inputs, outputs, name="normnet")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x.astype("float32"), y, epochs=10, batch_size=64, verbose=0)
    model.save(tmp_path / "normnet.keras")
    out = tmp_path / "out"
    common = ["--data", str(tmp_path / "data.npz"), "--output-dir", str(out)]
    result = CliRunner().invoke(cli, ["export", "--model", str(tmp_path / "normnet.keras"), "--preprocess", "none",
                                      "--format", "onnx", *common])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["export", "--model", str(tmp_path / "normnet.keras"), "--preprocess", "none",
                                      *common])
    assert result.exit_code == 0, result.output
    import onnx

    for name in ("normnet_float32.onnx", "normnet_int8.onnx"):
        assert [i.name for i in onnx.load(str(out / name)).graph.input] == ["image"]
    result = CliRunner().invoke(cli, ["verify", *common])
    assert result.exit_code == 3, result.output
    rows = {Path(row["path"]).name: row for row in json.loads((out / "verify.json").read_text())["artifacts"]}
    assert len(rows) == 4 and not any(row["status"] == "FAIL" for row in rows.values())
    assert rows["normnet_float32.tflite"]["passed"] and rows["normnet_float32.onnx"]["passed"]
    tflite = rows["normnet_int8.tflite"]
    assert tflite["status"] == "INCONCLUSIVE" and tflite["reason"].startswith(
        "not enough test images to establish 99.5 % agreement (n = 1,600;"), tflite
