"""The TF-free runtime on the four standard artifacts."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn import runtime
from edgecnn.errors import InputError, ModelError
from edgecnn.manifest import load_artifacts


@pytest.fixture(scope="module")
def keras_probs(trained_model_path, mnist):
    from edgecnn.model import keras_predict, load_model

    return keras_predict(load_model(trained_model_path), mnist.x_test[:2000])


def test_every_artifact_predicts_like_keras(exported_dir, mnist, keras_probs):
    artifacts = load_artifacts(exported_dir)
    assert sorted(a.key for a in artifacts) == ["onnx/float32", "onnx/int8", "tflite/float32", "tflite/int8"]
    for artifact in artifacts:
        predictor = runtime.load(artifact.path)
        probs = predictor.predict(mnist.x_test[:2000])
        assert probs.shape == (2000, 10) and probs.dtype == np.float32
        agreement = (probs.argmax(1) == keras_probs.argmax(1)).mean()
        if artifact.precision == "float32":
            assert np.abs(probs - keras_probs).max() < 1e-5, artifact.key
            assert agreement == 1.0
        else:
            assert agreement >= 0.99, artifact.key


def test_input_forms_agree(exported_dir, mnist):
    predictor = runtime.load(exported_dir / "mnist_cnn_int8.tflite")
    imgs = mnist.x_test[:4]
    base = predictor.predict(imgs)
    np.testing.assert_array_equal(predictor.predict(imgs[..., None]), base)
    np.testing.assert_array_equal(predictor.predict(imgs.astype(np.float32) / 255), base)
    np.testing.assert_array_equal(predictor.predict(imgs[0]), base[:1])
    digits, conf = predictor.classify(imgs)
    assert digits.tolist() == base.argmax(1).tolist() and np.allclose(conf, base.max(1))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 32, 32), np.uint8), r"input shape \(2, 32, 32\) not supported"),
        (np.full((1, 28, 28), np.nan, np.float32), "NaN or inf"),
        (np.full((1, 28, 28), 3.0, np.float32), r"expected \[0, 1\]"),
        (np.zeros((1, 28, 28), np.int64), "dtype int64 not supported"),
    ],
)
def test_bad_input_is_value_error(exported_dir, bad, message):
    predictor = runtime.load(exported_dir / "mnist_cnn_float32.onnx")
    with pytest.raises(ValueError, match=message):
        predictor.predict(bad)
    with pytest.raises(InputError):
        predictor.predict(bad)


def test_unknown_or_missing_file_is_model_error(tmp_path):
    with pytest.raises(ModelError, match="expected .tflite or .onnx"):
        runtime.load(tmp_path / "x.pt")
    with pytest.raises(ModelError, match="file not found"):
        runtime.load(tmp_path / "x.tflite")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="junk.onnx: not a loadable ONNX model"):
        runtime.load(junk)
