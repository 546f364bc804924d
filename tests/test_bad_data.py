"""Bad MNIST files and bad arrays: one clear error each, never a traceback."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn import data
from edgecnn.cli import cli
from edgecnn.errors import DataError
from edgecnn.fuzz import mutate


def test_corrupted_gzip_is_a_data_error_or_the_same_data(tmp_path):
    """300 seeded truncations / bit flips / overwrites of a real gzip IDX file."""
    source = data.BUNDLED_DIR / "t10k-labels-idx1-ubyte.gz"
    expected = data.read_idx(source)
    raw = source.read_bytes()
    outcomes = {"same": 0, "error": 0}
    for i in range(300):
        path = tmp_path / f"case{i}.gz"
        path.write_bytes(mutate(raw, 0, i)[1])
        try:
            labels = data.read_idx(path, data.CHECKSUMS["t10k-labels-idx1-ubyte"])
        except DataError as exc:
            assert str(exc).startswith(f"{path}: "), exc
            outcomes["error"] += 1
        else:
            # Only harmless bytes (gzip header fields such as mtime) may change: same labels.
            np.testing.assert_array_equal(labels, expected)
            outcomes["same"] += 1
    assert outcomes["error"] >= 250, outcomes


@pytest.fixture(scope="module")
def mnist_copy(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mnist")
    for path in data.BUNDLED_DIR.glob("*-ubyte.gz"):
        shutil.copy(path, folder / path.name)
    return folder


def _train_with(data_path: Path, tmp_path: Path):
    return CliRunner().invoke(cli, ["train", "--epochs", "1", "--data", str(data_path), "--output-dir", str(tmp_path / "out")])


def _bad_copy(mnist_copy: Path, tmp_path: Path, stem: str, edit) -> tuple[Path, Path]:
    folder = tmp_path / "mnist"
    shutil.copytree(mnist_copy, folder)
    path = folder / f"{stem}.gz"
    path.write_bytes(edit(path.read_bytes()))
    return folder, path


def test_cli_corrupt_gzip_is_one_error_line(mnist_copy, tmp_path):
    folder, path = _bad_copy(mnist_copy, tmp_path, "t10k-labels-idx1-ubyte", lambda b: b[: len(b) // 2])
    result = _train_with(folder, tmp_path)
    assert result.exit_code == 1
    assert result.output == f"Error: {path}: cannot read or decompress (Compressed file ended before the end-of-stream marker was reached)\n"
    assert not (tmp_path / "out" / "mnist_cnn.keras").exists()


def test_cli_checksum_mismatch_is_one_error_line(mnist_copy, tmp_path):
    def relabel(blob: bytes) -> bytes:  # a well-formed IDX file whose first label changed
        raw = bytearray(gzip.decompress(blob))
        raw[8] = (raw[8] + 1) % 10
        return gzip.compress(bytes(raw))

    folder, path = _bad_copy(mnist_copy, tmp_path, "train-labels-idx1-ubyte", relabel)
    result = _train_with(folder, tmp_path)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: checksum mismatch (sha256 "), result.output


def test_cli_missing_file_is_one_error_line(mnist_copy, tmp_path):
    folder = tmp_path / "mnist"
    shutil.copytree(mnist_copy, folder)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    result = _train_with(folder, tmp_path)
    assert result.exit_code == 1
    assert result.output == f"Error: {folder / 't10k-images-idx3-ubyte.gz'}: file not found\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a zip at all", "not a readable npz file"),
        (None, "missing array x_test, y_test (expected x_train, y_train, x_test, y_test)"),
    ],
)
def test_cli_bad_npz_is_one_error_line(tmp_path, content, message):
    path = tmp_path / "mnist.npz"
    if content is None:
        np.savez(path, x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2, np.uint8))
    else:
        path.write_bytes(content)
    result = _train_with(path, tmp_path)
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith(f"Error: {path}: {message}"), result.output


ARTIFACTS = ["mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite", "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx"]


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.full((1, 28, 28), np.inf, np.float32), "NaN or inf"),
        (np.full((2, 28, 28), -np.inf, np.float64), "NaN or inf"),
        (np.full((1, 28, 28), np.nan, np.float16), "NaN or inf"),
        (np.full((1, 28, 28), -0.5, np.float32), r"spans \[-0.5, -0.5\]; expected \[0, 1\]"),
        (np.zeros((1, 28, 28), bool), "dtype bool not supported"),
        (np.zeros((1, 28, 28), np.int8), "dtype int8 not supported"),
        (np.zeros((1, 28, 28), np.uint16), "dtype uint16 not supported"),
        (np.zeros((1, 28, 28), np.complex64), "dtype complex64 not supported"),
        (np.empty((1, 28, 28), object), "dtype object not supported"),
        (None, "dtype object not supported"),
        ("an image", "dtype <U8 not supported"),
        (np.uint8(3), r"input shape \(\) not supported"),
        (np.zeros((1, 1, 28, 28, 1), np.uint8), r"input shape \(1, 1, 28, 28, 1\) not supported"),
        (np.zeros((1, 28, 28, 3), np.uint8), r"input shape \(1, 28, 28, 3\) not supported"),
    ],
)
def test_bad_arrays_are_input_errors_on_every_runtime(exported_dir, bad, message):
    from edgecnn import runtime
    from edgecnn.errors import InputError

    for name in ARTIFACTS:
        with pytest.raises(InputError, match=message):
            runtime.load(exported_dir / name).predict(bad)


def test_empty_batch_and_odd_layouts_give_the_same_answers(exported_dir, mnist):
    """Batch 0 (LiteRT cannot resize to it), non-contiguous and Fortran-ordered arrays."""
    from edgecnn import runtime

    images = mnist.x_test[:3]
    for name in ARTIFACTS:
        predictor = runtime.load(exported_dir / name)
        base = predictor.predict(images)
        empty = predictor.predict(images[:0])
        assert empty.shape == (0, 10) and empty.dtype == np.float32
        np.testing.assert_array_equal(predictor.predict(np.asfortranarray(images)), base)
        wide = np.repeat(images[..., None], 2, axis=-1)[..., :1]  # a strided (N, 28, 28, 1) view
        np.testing.assert_array_equal(predictor.predict(wide), base)
        np.testing.assert_array_equal(predictor.predict(images), base)  # still sound after batch 0
