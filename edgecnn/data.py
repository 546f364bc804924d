"""MNIST: loading (IDX or Keras' npz), checksums, and the one preprocessing.

``preprocess`` is the single definition of what the model sees (uint8 28x28 ->
float32 in [0, 1], NHWC); training, calibration, verification, benchmarking and the
TF-free runtime all call it. This module imports TensorFlow only for the last-resort
network download.
"""

from __future__ import annotations

import logging
import os
import zlib  # a C builtin: free to import, needed for zlib.error
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
LABELS = tuple(str(d) for d in range(NUM_CLASSES))
# Written into every manifest and model file so a device app can check it matches.
PREPROCESSING = {
    "input": "uint8 grey 28x28, white digit on black (MNIST)",
    "scale": 1.0 / 255.0,
    "offset": 0.0,
    "dtype": "float32",
    "layout": "NHWC",
    "formula": "x / 255.0",
}

def _bundled_dir() -> Path:
    """The bundled MNIST: ``data/mnist`` of a source tree (also ``pip install -e``), else where a
    wheel puts it (pyproject's data-files: ``<prefix>/share/edgecnn/mnist``)."""
    import sys

    source_tree = Path(__file__).resolve().parent.parent / "data" / "mnist"
    installed = Path(sys.prefix) / "share" / "edgecnn" / "mnist"
    return installed if not source_tree.is_dir() and installed.is_dir() else source_tree


BUNDLED_DIR = _bundled_dir()
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"
ENV_VAR = "EDGECNN_DATA"

_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801

# SHA-256 of the decompressed IDX files (data/mnist/README.md).
CHECKSUMS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_SPLITS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays (uint8 images N x 28 x 28, uint8 labels N), and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    checksums: dict[str, str] = field(default_factory=dict)


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) or (N, 28, 28, 1) -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images.astype(np.float32) / np.float32(255.0)


def read_idx(path: Path, expected_sha256: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip or raw), checking magic, dimensions and optionally its checksum."""
    # gzip/hashlib/zipfile are imported where used: the TF-free runtime imports this module
    # for the preprocessing, and `edgecnn predict`'s cold start should not pay for them.
    import gzip
    import hashlib

    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a corrupt deflate stream
        raise DataError(f"{path}: cannot read or decompress ({exc})") from exc
    if len(raw) < 8:
        raise DataError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (_IMAGES_MAGIC, _LABELS_MAGIC):
        raise DataError(f"{path}: bad magic number 0x{magic:08x} (expected 0x00000803 or 0x00000801)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if magic == _IMAGES_MAGIC and dims[1:] != IMAGE_SHAPE:
        raise DataError(f"{path}: images are {dims[1:]}, expected {IMAGE_SHAPE}")
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DataError(f"{path}: truncated or padded: {len(raw)} bytes, expected {expected} for shape {dims}")
    if expected_sha256 is not None:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != expected_sha256:
            raise DataError(f"{path}: checksum mismatch (sha256 {actual[:12]}…, expected {expected_sha256[:12]}…)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder / (stem + '.gz')}: file not found")


def load_idx_dir(folder: Path, verify_checksums: bool = True) -> Mnist:
    """Load the four IDX files from ``folder``; by default their checksums must be MNIST's."""
    import hashlib

    arrays, sums = {}, {}
    for key, stem in _SPLITS.items():
        expected = CHECKSUMS[stem] if verify_checksums else None
        path = _find_idx(folder, stem)
        arrays[key] = read_idx(path, expected)
        sums[stem] = expected or hashlib.sha256(arrays[key].tobytes()).hexdigest()
    return _checked(Mnist(**arrays, source=str(folder), checksums=sums))


def load_npz(path: Path) -> Mnist:
    """Load Keras' ``mnist.npz`` (x_train, y_train, x_test, y_test)."""
    import hashlib
    import zipfile

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [key for key in _SPLITS if key not in npz.files]
            if missing:
                raise DataError(f"{path}: missing array {', '.join(missing)} (expected x_train, y_train, x_test, y_test)")
            arrays = {key: np.asarray(npz[key]) for key in _SPLITS}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable npz file ({exc})") from exc
    sums = {"npz": hashlib.sha256(path.read_bytes()).hexdigest()}
    return _checked(Mnist(**arrays, source=str(path), checksums=sums))


def _checked(data: Mnist) -> Mnist:
    for name in ("train", "test"):
        x, y = getattr(data, f"x_{name}"), getattr(data, f"y_{name}")
        if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE or x.dtype != np.uint8:
            raise DataError(f"{data.source}: x_{name} is {x.dtype}{x.shape}, expected uint8 (N, 28, 28)")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{data.source}: y_{name} has shape {y.shape}, expected ({len(x)},)")
        if len(y) and int(y.max()) >= NUM_CLASSES:
            raise DataError(f"{data.source}: y_{name} holds label {int(y.max())}, expected 0-9")
    return data


def load_path(path: Path) -> Mnist:
    """Load MNIST from a folder of IDX files or an ``.npz`` file."""
    path = Path(path)
    if path.is_dir():
        return load_idx_dir(path)
    if path.suffix == ".npz":
        return load_npz(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: expected a folder of MNIST IDX files or an .npz file")


def load_mnist(path: Path | None = None) -> Mnist:
    """Resolve and load MNIST.

    Order: ``path`` (``--data``) or ``$EDGECNN_DATA``, the bundled ``data/mnist/``,
    Keras' cache ``~/.keras/datasets/mnist.npz``, and only then Keras' download.
    """
    explicit = path or os.environ.get(ENV_VAR)
    if explicit:
        return load_path(Path(explicit))
    if BUNDLED_DIR.is_dir() and any(BUNDLED_DIR.glob("*-ubyte*")):
        return load_idx_dir(BUNDLED_DIR)
    if KERAS_CACHE.is_file():
        return load_npz(KERAS_CACHE)
    log.info("no local MNIST found; trying keras.datasets.mnist.load_data()")
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:  # any download failure: no network, proxy, HTTP error
        raise DataError(
            f"{BUNDLED_DIR}: MNIST not found, and downloading it failed ({type(exc).__name__}); "
            f"pass --data PATH or set {ENV_VAR}"
        ) from exc
    return _checked(Mnist(x_train, y_train, x_test, y_test, source="keras.datasets.mnist"))
