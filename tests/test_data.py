"""The MNIST loader on tiny files the tests write, and on the bundled real data."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from edgecnn import data
from edgecnn.errors import DataError


def _idx(array: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _write_dir(folder, n_train=6, n_test=4, gz=True):
    arrays = {
        "train-images-idx3-ubyte": _idx(_images(n_train), 0x803),
        "train-labels-idx1-ubyte": _idx(np.arange(n_train) % 10, 0x801),
        "t10k-images-idx3-ubyte": _idx(_images(n_test, 1), 0x803),
        "t10k-labels-idx1-ubyte": _idx(np.arange(n_test) % 10, 0x801),
    }
    for name, raw in arrays.items():
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_good_file_gzip_and_raw(tmp_path, gz):
    images = _images(3)
    raw = _idx(images, 0x803)
    path = tmp_path / "imgs"
    path.write_bytes(gzip.compress(raw) if gz else raw)
    out = data.read_idx(path, hashlib.sha256(raw).hexdigest())
    assert out.shape == (3, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


def test_read_idx_truncated(tmp_path):
    path = tmp_path / "imgs"
    path.write_bytes(_idx(_images(3), 0x803)[:-10])
    with pytest.raises(DataError, match=r"imgs: truncated"):
        data.read_idx(path)


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "imgs"
    path.write_bytes(_idx(_images(3), 0x804))
    with pytest.raises(DataError, match="bad magic number 0x00000804"):
        data.read_idx(path)


def test_read_idx_bad_checksum(tmp_path):
    path = tmp_path / "imgs.gz"
    path.write_bytes(gzip.compress(_idx(_images(3), 0x803)))
    with pytest.raises(DataError, match="checksum mismatch"):
        data.read_idx(path, "0" * 64)


def test_read_idx_wrong_shape(tmp_path):
    path = tmp_path / "imgs"
    path.write_bytes(_idx(np.zeros((2, 32, 32), np.uint8), 0x803))
    with pytest.raises(DataError, match=r"images are \(32, 32\), expected \(28, 28\)"):
        data.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "imgs.gz"
    path.write_bytes(gzip.compress(_idx(_images(3), 0x803))[:40])
    with pytest.raises(DataError, match="imgs.gz: cannot read or decompress"):
        data.read_idx(path)


def test_directory_of_tiny_files_is_not_mnist(tmp_path):
    _write_dir(tmp_path)
    # The real checksums are enforced for a folder that claims to be MNIST ...
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load_path(tmp_path)
    # ... and skipping them loads the tiny arrays faithfully.
    mnist = data.load_idx_dir(tmp_path, verify_checksums=False)
    assert mnist.x_train.shape == (6, 28, 28) and mnist.y_test.tolist() == [0, 1, 2, 3]


def test_missing_file_is_named(tmp_path):
    _write_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: file not found"):
        data.load_idx_dir(tmp_path, verify_checksums=False)


def test_labels_length_must_match_images(tmp_path):
    _write_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.arange(3), 0x801)))
    with pytest.raises(DataError, match=r"y_test has shape \(3,\), expected \(4,\)"):
        data.load_idx_dir(tmp_path, verify_checksums=False)


def test_npz_good_and_bad(tmp_path):
    good = tmp_path / "mnist.npz"
    np.savez(good, x_train=_images(4), y_train=np.arange(4, dtype=np.uint8),
             x_test=_images(2), y_test=np.arange(2, dtype=np.uint8))
    mnist = data.load_path(good)
    assert mnist.x_test.shape == (2, 28, 28) and "npz" in mnist.checksums

    missing_key = tmp_path / "partial.npz"
    np.savez(missing_key, x_train=_images(4))
    with pytest.raises(DataError, match="partial.npz: missing array"):
        data.load_path(missing_key)

    wrong_shape = tmp_path / "shape.npz"
    np.savez(wrong_shape, x_train=np.zeros((4, 32, 32), np.uint8), y_train=np.zeros(4, np.uint8),
             x_test=_images(2), y_test=np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=r"x_train is uint8\(4, 32, 32\)"):
        data.load_path(wrong_shape)

    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="corrupt.npz: not a readable npz file"):
        data.load_path(corrupt)


def test_resolution_order_env_var_first(tmp_path, monkeypatch):
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=_images(4), y_train=np.arange(4, dtype=np.uint8),
             x_test=_images(2), y_test=np.arange(2, dtype=np.uint8))
    monkeypatch.setenv(data.ENV_VAR, str(npz))
    assert data.load_mnist().source == str(npz)
    # An explicit path beats the environment.
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nowhere"))
    assert data.load_mnist(npz).source == str(npz)
    with pytest.raises(DataError, match="nowhere: no such file or folder"):
        data.load_mnist()


def test_no_local_data_and_no_network_is_one_error(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "BUNDLED_DIR", tmp_path / "absent")
    monkeypatch.setattr(data, "KERAS_CACHE", tmp_path / "absent.npz")
    import keras

    def offline():
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(DataError, match="MNIST not found, and downloading it failed"):
        data.load_mnist()


def test_bundled_mnist_is_the_real_thing(mnist):
    assert mnist.x_train.shape == (60000, 28, 28) and mnist.x_test.shape == (10000, 28, 28)
    assert mnist.checksums == data.CHECKSUMS
    assert np.bincount(mnist.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_preprocess_is_float_nhwc_unit_range():
    x = data.preprocess(np.array([[[0] * 28] * 27 + [[255] * 28]], np.uint8))
    assert x.shape == (1, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
