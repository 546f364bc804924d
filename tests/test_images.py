"""MNIST-style preparation of image files (edgecnn.images), and the Pi bundle's own copy of it."""

from __future__ import annotations

import importlib.util
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from edgecnn.bundle_templates import pi_classify_path
from edgecnn.errors import InputError
from edgecnn.images import load_input, prepare_image, to_mnist


def _centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(img.shape)
    w = img.astype(np.float64)
    return (ys * w).sum() / w.sum(), (xs * w).sum() / w.sum()


def test_white_background_dark_digit_becomes_mnist_like(tmp_path):
    # A dark bar on white, off-centre in a big landscape image.
    img = np.full((300, 500), 255, np.uint8)
    img[40:160, 60:90] = 0
    path = tmp_path / "bar.png"
    Image.fromarray(img).save(path)
    out = prepare_image(path)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    assert out[0].max() == 0 and out[:, 0].max() == 0  # background black, as MNIST
    rows, cols = np.nonzero(out > 40)
    assert rows.max() - rows.min() + 1 == 20  # the long side fits the 20x20 box
    assert 4 <= cols.max() - cols.min() + 1 <= 6  # aspect ratio kept: 120x30 -> 20x5
    cy, cx = _centre_of_mass(out)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # centred by centre of mass
    assert out.max() == 255


def test_polarity_colour_and_size_do_not_matter(mnist):
    digit = mnist.x_test[0]
    big = np.asarray(Image.fromarray(digit).resize((112, 112), Image.Resampling.BICUBIC), np.float32)
    light_on_dark = to_mnist(big)
    dark_on_light = to_mnist(255.0 - big)
    np.testing.assert_array_equal(light_on_dark, dark_on_light)
    # A re-prepared MNIST digit stays close to the original (same box and centring rules).
    assert np.abs(light_on_dark.astype(int) - digit).mean() < 12


def test_alpha_png_is_drawn_on_white(tmp_path):
    rgba = np.zeros((60, 60, 4), np.uint8)
    rgba[10:50, 28:34] = (0, 0, 0, 255)  # opaque black stroke, transparent elsewhere
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    out = prepare_image(path)
    assert out[14, 14] > 200 and out[0, 0] == 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` but holds no pixels: must be refused before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"") + _chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is not an image", "not an image Pillow can read"),
        (b"", "not an image Pillow can read"),
        (_png_header_only(8000, 8000), "8000x8000, larger than 50,000,000 pixels"),
        (_png_header_only(0, 10), "image is empty|not an image"),
    ],
)
def test_bad_files_raise_input_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        load_input(path)
    assert str(path) in str(info.value)


def test_blank_image_is_an_input_error(tmp_path):
    path = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(path)
    with pytest.raises(InputError, match="blank image"):
        prepare_image(path)


def test_npy_is_taken_as_is(tmp_path, mnist):
    path = tmp_path / "x.npy"
    np.save(path, mnist.x_test[:3])
    np.testing.assert_array_equal(load_input(path), mnist.x_test[:3])
    with pytest.raises(InputError, match="not a readable .npy"):
        (tmp_path / "pickled.npy").write_bytes(b"\x93NUMPY garbage")
        load_input(tmp_path / "pickled.npy")


def test_pi_classify_copy_prepares_like_edgecnn(mnist):
    """classify.py carries its own copy of the preparation: it must give the same arrays."""
    spec = importlib.util.spec_from_file_location("pi_classify", pi_classify_path())
    classify = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(classify)
    for i in range(20):
        img = np.asarray(Image.fromarray(mnist.x_test[i]).resize((90, 120)), np.float32)
        np.testing.assert_array_equal(classify.to_mnist(255.0 - img), to_mnist(255.0 - img))
