"""`edgecnn predict` on drawn images and .npy files, bad inputs, the TF-free path, thread safety."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from edgecnn import runtime
from edgecnn.cli import cli
from edgecnn.images import load_input


@pytest.fixture(scope="module")
def int8_model(exported_dir):
    return exported_dir / "mnist_cnn_int8.tflite"


def _predict(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def _typed_digit(path, digit, size, background, ink):
    """A printed digit (Pillow's built-in FreeType font, heavy stroke) centred in a ``size`` image."""
    im = Image.new("RGB", size, background)
    font = ImageFont.load_default(size=160)
    ImageDraw.Draw(im).text(
        (size[0] // 2, size[1] // 2), str(digit), fill=ink, font=font, anchor="mm", stroke_width=6, stroke_fill=ink
    )
    im.save(path)
    return path


# Printed digits a real MNIST model reads: serif "1", flat-topped "6"/"9" and "5" are far from
# handwriting, so the test draws those it classifies with confidence (checked on the 2-epoch model).
TYPED = (0, 2, 3, 4, 7, 8)


@pytest.mark.parametrize(
    "size, background, ink",
    [
        ((200, 240), "white", "black"),  # dark digit on white paper
        ((120, 200), "black", "white"),  # MNIST polarity, other size
        ((300, 200), (250, 240, 200), (20, 40, 160)),  # blue ink on cream, landscape
    ],
)
def test_drawn_digits_are_classified(tmp_path, int8_model, size, background, ink):
    paths = [_typed_digit(tmp_path / f"typed_{d}.png", d, size, background, ink) for d in TYPED]
    # A hand-drawn "1": one thick stroke.
    one = Image.new("L", (64, 96), 255)
    ImageDraw.Draw(one).line([(34, 8), (30, 88)], fill=0, width=9)
    one.save(tmp_path / "stroke_1.jpg")
    paths.append(tmp_path / "stroke_1.jpg")
    result = _predict("--model", int8_model, *paths)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    got = {line.split()[0]: int(line.split()[1]) for line in lines}
    assert got == {str(p): int(p.stem[-1]) for p in paths}
    assert all(0.4 < float(line.split()[2]) <= 1.0 for line in lines)


def test_mnist_digits_as_photos_are_classified(tmp_path, int8_model, mnist):
    """MNIST test digits upscaled, inverted and coloured as PNG: the preparation recovers them."""
    predictor = runtime.load(int8_model)
    x, y = mnist.x_test[:100], mnist.y_test[:100]
    direct = (predictor.classify(x)[0] == y).mean()
    paths = []
    for i, img in enumerate(x):
        a = np.asarray(Image.fromarray(img).resize((112, 112), Image.Resampling.BICUBIC), np.float32) / 255
        if i % 2:  # dark-red digit on a light-grey page
            rgb = (1 - a)[..., None] * np.array([235, 235, 225]) + a[..., None] * np.array([120, 10, 10])
        else:  # black on white
            rgb = np.repeat((255 * (1 - a))[..., None], 3, axis=2)
        paths.append(tmp_path / f"mnist_{i:03d}.png")
        Image.fromarray(rgb.astype(np.uint8)).save(paths[-1])
    result = _predict("--model", int8_model, "--json", *paths)
    assert result.exit_code == 0, result.output
    digits = np.array([int(r["digit"]) for r in json.loads(result.output)["results"]])
    assert (digits == y).mean() >= direct - 0.02  # direct accuracy is ~0.99 on these


def test_npy_json_and_top(tmp_path, int8_model, mnist):
    np.save(tmp_path / "batch.npy", mnist.x_test[:5])
    np.save(tmp_path / "one.npy", mnist.x_test[5].astype(np.float32) / 255)
    result = _predict("--model", int8_model, "--json", "--top", "3", tmp_path / "batch.npy", tmp_path / "one.npy")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert [r["input"] for r in doc["results"]] == [f"{tmp_path / 'batch.npy'}[{i}]" for i in range(5)] + [
        str(tmp_path / "one.npy")
    ]
    probs = runtime.load(int8_model).predict(mnist.x_test[:6])
    for r, p in zip(doc["results"], probs):
        assert int(r["digit"]) == p.argmax() and r["confidence"] == pytest.approx(p.max(), abs=1e-6)
        assert len(r["top"]) == 3 and [t["probability"] for t in r["top"]] == sorted(
            (t["probability"] for t in r["top"]), reverse=True
        )
    plain = _predict("--model", int8_model, "--top", "2", tmp_path / "one.npy")
    fields = plain.output.split()
    assert len(fields) == 5 and fields[1] == str(probs[5].argmax())


def test_bad_inputs_give_error_lines_and_others_still_run(tmp_path, int8_model, mnist):
    good = tmp_path / "good.png"
    Image.fromarray(255 - mnist.x_test[0]).resize((56, 56)).save(good)  # a 7
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    np.save(tmp_path / "nan.npy", np.full((28, 28), np.nan, np.float32))
    np.save(tmp_path / "shape.npy", np.zeros((32, 32), np.uint8))
    bad = ["notes.png", "empty.jpg", "nan.npy", "shape.npy", "missing.png"]
    result = _predict("--model", int8_model, *(tmp_path / b for b in bad), good)
    assert result.exit_code == 1
    # The one good file's line carries the runtime's own answer for it, to the printed 4 decimals.
    probs = runtime.load(int8_model).predict(load_input(good))[0]
    assert probs.argmax() == 7
    assert result.stdout == f"{good} 7 {probs.max():.4f}\n"
    errors = result.stderr.strip().splitlines()
    assert len(errors) == len(bad)
    for name, line in zip(bad, errors):
        assert line.startswith(f"Error: {tmp_path / name}: ")
    assert "NaN" in errors[2] and "(32, 32)" in errors[3] and "not found" in errors[4]


def test_missing_model_is_one_error_line(tmp_path):
    result = _predict("--model", tmp_path / "nope.tflite", tmp_path / "x.png")
    assert result.exit_code == 1 and result.output.strip() == f"Error: {tmp_path / 'nope.tflite'}: file not found"


# Blocks TensorFlow, Keras and tf2onnx for everything imported after it.
BLOCKER = """
import json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "tensorflow_core"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import edgecnn.runtime
from edgecnn.cli import cli
cli.main(sys.argv[1:], prog_name="edgecnn", standalone_mode=False)
print("MODULES " + json.dumps(sorted(m for m in sys.modules if "." not in m)))
"""


def test_predict_runs_with_tensorflow_blocked(tmp_path, int8_model, exported_dir, mnist):
    np.save(tmp_path / "x.npy", mnist.x_test[:3])
    png = tmp_path / "seven.png"
    Image.fromarray(mnist.x_test[0]).save(png)
    for model in (int8_model, exported_dir / "mnist_cnn_float32.onnx"):
        out = subprocess.run(
            [sys.executable, "-c", BLOCKER, "predict", "--model", str(model), str(tmp_path / "x.npy"), str(png)],
            capture_output=True, text=True, timeout=120,
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert [line.split()[1] for line in lines[:4]] == ["7", "2", "1", "7"]
        modules = set(json.loads(lines[-1].removeprefix("MODULES ")))
        assert not modules & {"tensorflow", "keras", "tf2onnx", "matplotlib", "scipy", "pandas"}
        other_runtime = "onnxruntime" if model.suffix == ".tflite" else "ai_edge_litert"
        assert other_runtime not in modules  # only the one runtime the file needs


@pytest.mark.parametrize("name", ["mnist_cnn_int8.tflite", "mnist_cnn_float32.tflite", "mnist_cnn_int8.onnx"])
def test_predictor_is_thread_safe(exported_dir, mnist, name):
    """Several threads sharing one Predictor (different batch sizes) get the single-threaded results."""
    predictor = runtime.load(exported_dir / name)
    batches = [mnist.x_test[i * 40: i * 40 + size] for i, size in enumerate((1, 7, 32, 3, 40, 16, 5, 25))]
    expected = [predictor.predict(b) for b in batches]
    results: dict[tuple[int, int], np.ndarray] = {}
    start = threading.Barrier(len(batches))

    def work(k):
        start.wait()
        for rep in range(15):
            results[k, rep] = predictor.predict(batches[(k + rep) % len(batches)])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(batches))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(batches) * 15
    for (k, rep), probs in results.items():
        np.testing.assert_array_equal(probs, expected[(k + rep) % len(batches)])


def test_empty_batch_gives_empty_probabilities(int8_model):
    probs = runtime.load(int8_model).predict(np.zeros((0, 28, 28), np.uint8))
    assert probs.shape == (0, 10) and probs.dtype == np.float32


def test_metadata_preprocessing_and_labels_are_used(exported_dir, mnist):
    predictor = runtime.load(exported_dir / "mnist_cnn_float32.tflite")
    x = mnist.x_test[:2]
    base = predictor.prepare(x)
    predictor.metadata = {"preprocessing": {"scale": 1 / 255, "offset": 0.0}, "labels": list("abcdefghij")}
    np.testing.assert_array_equal(predictor.prepare(x), base)
    assert predictor.labels == tuple("abcdefghij")
    predictor.metadata = {"preprocessing": {"scale": 2 / 255, "offset": -1.0}}  # a file asking for [-1, 1]
    np.testing.assert_allclose(predictor.prepare(x), base * 2 - 1, atol=1e-6)
