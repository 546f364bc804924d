"""The model record (edgecnn.spec) and the data loaders for your own data: fast, no TensorFlow."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecnn import data
from edgecnn.errors import DataError
from edgecnn.spec import REFERENCE, ModelSpec, Preprocessing


# -- Preprocessing ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, scale, offset, formula", [
    ("unit", 1 / 255, 0.0, "x / 255.0"),
    ("symmetric", 1 / 127.5, -1.0, "x / 127.5 - 1.0"),
    ("none", 1.0, 0.0, "x"),
    ("0.5,-3", 0.5, -3.0, "x * 0.5 - 3.0"),
])
def test_preprocess_presets_and_scale_offset(text, scale, offset, formula):
    pre = Preprocessing.parse(text)
    assert (pre.scale, pre.offset, pre.formula) == (scale, offset, formula)
    assert pre.preset == (text if "," not in text else "custom")
    pixels = np.array([0, 128, 255], np.uint8)
    np.testing.assert_allclose(data.preprocess(pixels[None, None], pre).ravel(), pixels * scale + offset, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("text", ["unitt", "1,2,3", "0,1", "a,b", ""])
def test_preprocess_refuses_what_it_cannot_read(text):
    with pytest.raises(ValueError, match="expected unit, symmetric, none or SCALE,OFFSET|finite non-zero"):
        Preprocessing.parse(text)


def test_spec_json_round_trip_and_metadata_keys():
    spec = ModelSpec("shapes", (32, 24, 3), ("a", "b", "c"), Preprocessing.parse("symmetric", color="rgb"),
                     head="logits")
    assert ModelSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
    meta = spec.metadata()
    assert meta["input_shape"] == [32, 24, 3] and meta["head"] == "logits" and meta["labels"] == ["a", "b", "c"]
    assert meta["preprocessing"]["input"] == "uint8 rgb 32x24x3 (RGB)"
    assert ModelSpec.from_metadata(meta) == spec
    assert spec.num_classes == 3


def test_old_files_without_the_new_keys_are_the_reference_model():
    old = {"name": "mnist_cnn", "labels": [str(d) for d in range(10)],
           "preprocessing": {"scale": 1 / 255, "offset": 0.0, "formula": "x / 255.0"}}
    assert ModelSpec.from_metadata(old) == REFERENCE
    assert ModelSpec.from_metadata({}) == REFERENCE
    assert REFERENCE.preprocessing.prepare == "mnist" and data.PREPROCESSING["prepare"] == "mnist"
    # the tensors win: a 3-class RGB file without metadata gets 0..2 and resize
    other = ModelSpec.from_metadata({}, input_shape=(16, 16, 3), num_classes=3)
    assert other.labels == ("0", "1", "2") and other.preprocessing.prepare == "resize"
    assert other.preprocessing.color == "rgb"


# -- data loaders ----------------------------------------------------------------------------
def _png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _class_tree(root, counts, size=(12, 16), rgb=True):
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        for i in range(n):
            shape = (*size, 3) if rgb else size
            _png(root / name / f"{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))


def test_class_folders_seeded_split_per_class(tmp_path):
    _class_tree(tmp_path / "d", {"cat": 10, "dog": 2, "emu": 1})
    ds = data.load_data(tmp_path / "d", (8, 8, 3), seed=0)
    assert ds.labels == ("cat", "dog", "emu") and ds.kind == "folder" and ds.prepare == "resize"
    assert ds.x_train.shape[1:] == (8, 8, 3) and ds.x_train.dtype == np.uint8
    # 20 % of each class for testing, at least one of a class of two or more, none of a single image
    assert np.bincount(ds.y_test, minlength=3).tolist() == [2, 1, 0]
    assert np.bincount(ds.y_train, minlength=3).tolist() == [8, 1, 1]
    again = data.load_data(tmp_path / "d", (8, 8, 3), seed=0)
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    other = data.load_data(tmp_path / "d", (8, 8, 3), seed=1)
    assert not np.array_equal(other.x_test, ds.x_test)


def test_class_folders_with_train_and_test_subfolders(tmp_path):
    _class_tree(tmp_path / "d" / "train", {"a": 3, "b": 4}, rgb=False)
    _class_tree(tmp_path / "d" / "test", {"a": 2, "b": 1}, rgb=False)
    ds = data.load_data(tmp_path / "d")  # shape from the data: the first image, grey
    assert ds.image_shape == (12, 16, 1) and ds.x_train.shape == (7, 12, 16)
    assert ds.y_test.tolist() == [0, 0, 1] and "train/ and test/" in ds.split
    _class_tree(tmp_path / "d" / "test", {"zebra": 1}, rgb=False)
    with pytest.raises(DataError, match="class folder\\(s\\) zebra not in"):
        data.load_data(tmp_path / "d")


def test_folder_of_images_without_classes_is_unlabelled(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        _png(tmp_path / f"{i}.png", rng.integers(0, 256, (5, 5), dtype=np.uint8))
    ds = data.load_data(tmp_path, (5, 5, 1))
    assert ds.y_test is None and not ds.labelled and len(ds.x_test) == 3 and ds.labels is None


def test_npz_x_y_float_and_labels(tmp_path):
    x = np.random.default_rng(0).random((20, 6, 6, 3)).astype(np.float32)  # floats in [0, 1]
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=np.arange(20) % 4, labels=np.array(["w", "x", "y", "z"]))
    ds = data.load_data(path, (6, 6, 3))
    assert ds.labels == ("w", "x", "y", "z") and len(ds.x_test) == 4 and ds.x_test.dtype == np.uint8
    everything = np.concatenate([ds.x_train, ds.x_test])
    assert sorted(everything.reshape(20, -1)[:, 0].tolist()) == sorted(np.round(x[:, 0, 0, 0] * 255).tolist())
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=x, y=np.arange(19))
    with pytest.raises(DataError, match=r"bad.npz: y is int64\(19,\), expected integer labels \(20,\)"):
        data.load_data(bad)


def test_data_that_does_not_fit_the_model_names_both_numbers(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((10, 28, 28), np.uint8), y=np.arange(10) % 5)
    ds = data.load_data(path)
    with pytest.raises(DataError, match="images are 28x28x1, the model takes 32x32x3"):
        data.check_matches(ds, (32, 32, 3), 5)
    with pytest.raises(DataError, match="data has 5 classes, the model outputs 3"):
        data.check_matches(ds, (28, 28, 1), 3)
    data.check_matches(ds, (28, 28, 1), 5)


def test_labels_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("cat\n\ndog\nemu\n")
    assert data.read_labels_file(path) == ("cat", "dog", "emu")
    path.write_text("cat\ncat\n")
    with pytest.raises(DataError, match="duplicate class names"):
        data.read_labels_file(path)


# -- preparing photos ------------------------------------------------------------------------
def test_fit_keeps_the_aspect_ratio_and_pads_with_black():
    from edgecnn.images import fit_pixels

    wide = np.full((10, 40, 3), 200, np.uint8)  # 4:1 -> 16x4 band in the middle of 16x16
    out = fit_pixels(wide, (16, 16, 3))
    assert out.shape == (16, 16, 3)
    rows = np.flatnonzero(out[:, :, 0].max(axis=1))
    assert rows.tolist() == [6, 7, 8, 9] and out[0].max() == 0
    grey = fit_pixels(wide, (16, 16, 1))
    assert grey.shape == (16, 16) and grey.max() == 200  # colour -> one channel


def test_runtime_input_checks_follow_the_model_shape():
    from edgecnn.errors import InputError
    from edgecnn.runtime import to_model_input

    x = to_model_input(np.zeros((2, 5, 7, 3), np.uint8), (5, 7, 3))
    assert x.shape == (2, 5, 7, 3) and x.dtype == np.float32
    assert to_model_input(np.zeros((5, 7, 3), np.uint8), (5, 7, 3)).shape == (1, 5, 7, 3)
    with pytest.raises(InputError, match=r"input shape \(2, 5, 7\) not supported; expected \(5, 7, 3\) or \(N, 5, 7, 3\)"):
        to_model_input(np.zeros((2, 5, 7), np.uint8), (5, 7, 3))


def test_the_default_mnist_that_does_not_fit_says_to_pass_data(mnist):
    """Without --data the bundled MNIST is used; a model of another size is told how to give its own."""
    with pytest.raises(DataError, match=r"the model takes 32x32x3 \(pass your own images with --data\)$"):
        data.check_matches(mnist, (32, 32, 3), 10)
    with pytest.raises(DataError, match=r"data has 10 classes, the model outputs 3 \(pass your own images with --data\)$"):
        data.check_matches(mnist, (28, 28, 1), 3)
