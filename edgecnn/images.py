"""Turn image files into a model's input (Pillow + numpy only).

Two preparations (``Preprocessing.prepare`` in the model's metadata, ``--prepare`` overrides):

* ``resize`` (any model): the picture is scaled to fit H x W keeping its aspect ratio, padded
  with black to exactly H x W (centred), and converted to grey (C == 1) or RGB (C == 3).
* ``mnist`` (models that take MNIST-like digits, e.g. the reference CNN): as MNIST was made.

MNIST's digits were size-normalised to fit a 20x20 box (keeping their aspect ratio, with
anti-aliasing) and then centred by centre of mass in a 28x28 field. ``prepare_image`` does
the same to any PNG/JPEG: grey, inverted when the background is light, cropped to the
digit's bounding box, scaled to fit 20x20, pasted so the centre of mass sits in the middle.
``.npy`` arrays are taken as they are (the runtime checks them).

TF-free on purpose: ``edgecnn predict`` imports this.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecnn.errors import InputError

FIELD = 28  # MNIST's image size (the ``mnist`` preparation only)
BOX = 20  # MNIST's digits were scaled to fit this box inside the field
MAX_PIXELS = 50_000_000  # refuse larger images before decoding: a 50-megapixel photo is already generous
INK_THRESHOLD = 40  # of 255, after normalisation: fainter pixels (JPEG noise, paper grain) are not the digit
NPY_MAX_BYTES = 1 << 30  # refuse .npy files that would need more than 1 GiB


_PNG_MAGIC, _JPEG_MAGIC = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"


def _open(path: Path):
    """Open an image with Pillow; PNG and JPEG go straight to their plugin.

    Why: ``Image.open`` first imports five format plugins (~15 ms, a tenth of predict's
    cold start); the file's magic bytes already say which one is needed. Other formats,
    and anything unrecognised, take ``Image.open``'s usual path and errors.
    """
    from PIL import Image

    with open(path, "rb") as fh:
        head = fh.read(8)
    try:
        if head.startswith(_PNG_MAGIC):
            from PIL import PngImagePlugin

            return PngImagePlugin.PngImageFile(path)
        if head.startswith(_JPEG_MAGIC):
            from PIL import JpegImagePlugin

            return JpegImagePlugin.JpegImageFile(path)
    except (SyntaxError, OSError, ValueError):
        pass  # a damaged file: Image.open below says so exactly as it would have
    return Image.open(path)


def open_image(path: Path):
    """Pillow's image for ``path`` (lazy: only the header is read); unreadable files are InputErrors."""
    from PIL import UnidentifiedImageError

    try:
        return _open(path)
    except UnidentifiedImageError as exc:
        raise InputError(f"{path}: not an image Pillow can read") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: cannot decode image ({exc})") from exc


def is_grey_mode(im) -> bool:
    """True for Pillow modes without colour (1, L, LA, I, F, …); a palette image counts as colour."""
    return im.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")


def load_grey(path: Path) -> np.ndarray:
    """Decode an image file into a float32 grey array (H, W) in 0..255; transparency is drawn on white."""
    return load_pixels(path, "L")


def load_pixels(path: Path, mode: str = "L") -> np.ndarray:
    """Decode an image file into float32 (H, W) for mode "L" or (H, W, 3) for "RGB", in 0..255.

    Transparency is drawn on white.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with _open(path) as im:
            width, height = im.size
            if width == 0 or height == 0:
                raise InputError(f"{path}: image is empty ({width}x{height})")
            if width * height > MAX_PIXELS:
                raise InputError(f"{path}: image is {width}x{height}, larger than {MAX_PIXELS:,} pixels")
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, rgba)
            grey = np.asarray(im.convert(mode), dtype=np.float32)
    except InputError:
        raise
    except UnidentifiedImageError as exc:
        raise InputError(f"{path}: not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise InputError(f"{path}: image too large ({exc})") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data
        raise InputError(f"{path}: cannot decode image ({exc})") from exc
    return grey


def _median(values: np.ndarray) -> float:
    # np.median would import numpy.ma (~15 ms of predict's cold start); the upper median is enough here.
    return float(np.partition(values, len(values) // 2)[len(values) // 2])


def to_mnist(grey: np.ndarray, name: str = "image") -> np.ndarray:
    """A grey image (H, W) of one digit, any polarity -> uint8 (28, 28), white digit on black."""
    grey = np.asarray(grey, dtype=np.float32)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if _median(border) > 127:  # light background: MNIST is a light digit on black
        grey = 255.0 - grey
        border = 255.0 - border
    ink = np.clip(grey - _median(border), 0.0, None)  # a grey or tinted background becomes black
    if ink.max() <= 0:
        raise InputError(f"{name}: blank image, no digit found")
    ink *= 255.0 / ink.max()
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    if rows.size == 0:
        raise InputError(f"{name}: no digit found (only faint pixels)")
    digit = ink[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    return _centre_by_mass(_fit_box(digit))


def _fit_box(digit: np.ndarray) -> np.ndarray:
    """Scale to fit BOX x BOX keeping the aspect ratio, anti-aliased like MNIST."""
    from PIL import Image

    h, w = digit.shape
    factor = BOX / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    im = Image.fromarray(digit.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(im), 0.0, 255.0)


def _centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste into the 28x28 field so that the centre of mass lands in its middle."""
    h, w = digit.shape
    total = digit.sum()
    ys, xs = np.indices(digit.shape)
    cy, cx = (ys * digit).sum() / total, (xs * digit).sum() / total
    # Integer shift, as MNIST did; clamp so that the whole 20x20 box stays inside the field.
    top = int(np.clip(round(FIELD / 2 - cy), 0, FIELD - h))
    left = int(np.clip(round(FIELD / 2 - cx), 0, FIELD - w))
    field = np.zeros((FIELD, FIELD), np.float32)
    field[top: top + h, left: left + w] = digit
    return np.round(field).astype(np.uint8)


def prepare_image(path: Path) -> np.ndarray:
    """An image file -> uint8 (28, 28) MNIST-like input."""
    return to_mnist(load_grey(path), str(path))


def fit_pixels(pixels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """float/uint8 (h, w[, 3]) -> uint8 (H, W) or (H, W, 3): scaled to fit keeping the aspect ratio
    (bilinear), centred, padded with black."""
    from PIL import Image

    height, width, channels = (int(d) for d in shape)
    arr = np.clip(np.round(np.asarray(pixels, dtype=np.float32)), 0, 255).astype(np.uint8)
    if channels == 1 and arr.ndim == 3:
        arr = np.asarray(Image.fromarray(arr, "RGB").convert("L"))
    elif channels == 3 and arr.ndim == 2:
        arr = np.repeat(arr[..., np.newaxis], 3, axis=-1)
    h, w = arr.shape[:2]
    if (h, w) == (height, width):
        return arr
    factor = min(width / w, height / h)
    size = (max(1, min(width, round(w * factor))), max(1, min(height, round(h * factor))))
    im = Image.fromarray(arr, "L" if arr.ndim == 2 else "RGB").resize(size, Image.Resampling.BILINEAR)
    small = np.asarray(im)
    out = np.zeros((height, width) + (() if arr.ndim == 2 else (3,)), np.uint8)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    out[top: top + size[1], left: left + size[0]] = small
    return out


def fit_image(path: Path, shape: tuple[int, int, int]) -> np.ndarray:
    """An image file -> uint8 (H, W) for C == 1 or (H, W, 3) for C == 3 (``fit_pixels``)."""
    return fit_pixels(load_pixels(path, "L" if int(shape[2]) == 1 else "RGB"), shape)


def prepare_for(path: Path, shape: tuple[int, int, int], prepare: str = "resize") -> np.ndarray:
    """An image file -> the uint8 pixels a model of input ``shape`` takes, by ``prepare``.

    ``mnist`` is the MNIST digit preparation (grey, 28x28 field), resized when the model's
    input is another size; ``resize`` fits the whole picture (``fit_image``).
    """
    if prepare == "mnist":
        digit = prepare_image(path)
        if tuple(shape) != (FIELD, FIELD, 1):
            digit = fit_pixels(digit, shape)
        return digit
    return fit_image(path, shape)


def load_npy(path: Path) -> np.ndarray:
    """A ``.npy`` array, unchanged (no pickles; the size is checked before it is read)."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from exc
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{path}: not a single .npy array")
    if arr.nbytes > NPY_MAX_BYTES:
        raise InputError(f"{path}: array of {arr.nbytes:,} bytes is too large")
    return np.array(arr)


def load_input(path: Path, shape: tuple[int, int, int] | None = None, prepare: str = "mnist") -> np.ndarray:
    """What ``edgecnn predict`` feeds the model for one file: ``.npy`` as is, anything else as an image
    prepared for a model of input ``shape`` (None: the MNIST digit preparation)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".npy":
        return load_npy(path)
    if shape is None:
        return prepare_image(path)
    return prepare_for(path, shape, prepare)
