"""Datasets: MNIST (IDX or Keras' npz, the default), a folder of class sub-folders, an ``.npz``.

Every loader returns a :class:`Dataset` of uint8 pixels (N, H, W) for grey MNIST-style data or
(N, H, W, C) otherwise, with integer labels (or ``None`` when the data has none) and the class
names. What a model sees is ``edgecnn.spec.Preprocessing.apply`` (uint8 pixels -> float32
NHWC; ``preprocess`` here is that with the reference CNN's x / 255 as the default). This
package imports TensorFlow only for the last-resort MNIST download.

Rooms: ``dataset`` (the Dataset record, shape checks), ``mnist`` (IDX files), ``npz``,
``folder`` (image folders, streamed: :class:`~edgecnn.data.folder.ImageFiles`), ``split``
(the seeded per-class split), ``labels`` (``--labels FILE``), ``stream`` (batches); this
module decides which loader a path needs.

Which images verify a model (decided here, documented in the README):

* MNIST (IDX folder or Keras' ``mnist.npz``): its own train / test split.
* a folder of class sub-folders: ``DIR/train/<class>/`` and ``DIR/test/<class>/`` when both
  exist; otherwise ``DIR/<class>/`` split per class with a seeded shuffle, 20 % (at least one
  image of a class with two or more) for testing. A folder of images without sub-folders is
  unlabelled: every image serves calibration and verification, accuracy is unknown.
* an ``.npz`` with ``x`` (and optionally ``y``, ``labels``): the same seeded 80/20 split per
  class; an ``.npz`` with ``x_train/y_train/x_test/y_test`` keeps its split.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from edgecnn.data.dataset import IMAGE_SHAPE, LABELS, NUM_CLASSES, Dataset, Mnist, check_matches, checked
from edgecnn.data.folder import IMAGE_SUFFIXES, ImageFiles, folder_shape, load_folder
from edgecnn.data.labels import read_labels_file
from edgecnn.data.mnist import CHECKSUMS, load_idx_dir, read_idx
from edgecnn.data.npz import load_npz
from edgecnn.data.split import TEST_FRACTION
from edgecnn.errors import DataError
from edgecnn.spec import REFERENCE, Preprocessing

__all__ = [
    "IMAGE_SHAPE", "LABELS", "NUM_CLASSES", "PREPROCESSING", "TEST_FRACTION", "IMAGE_SUFFIXES", "CHECKSUMS",
    "Dataset", "Mnist", "ImageFiles", "check_matches", "checked", "folder_shape", "load_folder", "load_idx_dir",
    "load_npz", "read_idx", "read_labels_file", "load_data", "load_path", "load_mnist", "preprocess",
]

log = logging.getLogger(__name__)

# Written into every manifest and model file so a device app can check it matches.
PREPROCESSING = REFERENCE.preprocessing.to_json(REFERENCE.input_shape)


def _bundled_dir() -> Path:
    """The bundled MNIST: ``data/mnist`` of a source tree (also ``pip install -e``), else where a
    wheel puts it (pyproject's data-files: ``<prefix>/share/edgecnn/mnist``)."""
    import sys

    source_tree = Path(__file__).resolve().parent.parent.parent / "data" / "mnist"
    installed = Path(sys.prefix) / "share" / "edgecnn" / "mnist"
    return installed if not source_tree.is_dir() and installed.is_dir() else source_tree


BUNDLED_DIR = _bundled_dir()
KERAS_CACHE = Path.home() / ".keras" / "datasets" / "mnist.npz"
ENV_VAR = "EDGECNN_DATA"


def preprocess(images: np.ndarray, preprocessing: Preprocessing | None = None) -> np.ndarray:
    """``preprocessing.apply(images)``; without ``preprocessing`` the reference CNN's x / 255."""
    return (preprocessing or REFERENCE.preprocessing).apply(images)


def load_data(path: Path | None = None, shape: tuple[int, int, int] | None = None, seed: int = 0) -> Dataset:
    """Any data edgecnn reads: MNIST (default; IDX folder, Keras' mnist.npz), a class-folder tree, an .npz.

    ``shape`` (H, W, C) is the model's input: folder images are fitted to it; other data must match it.
    """
    explicit = path or os.environ.get(ENV_VAR)
    if not explicit:
        return load_mnist(None)
    path = Path(explicit)
    if path.is_dir():
        if any(path.glob("*-ubyte*")):
            return load_idx_dir(path)
        return load_folder(path, shape, seed)
    if path.suffix == ".npz":
        return load_npz(path, shape, seed)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: expected a folder (class sub-folders or MNIST IDX files) or an .npz file")


def load_path(path: Path) -> Dataset:
    """Load MNIST from a folder of IDX files or an ``.npz`` file (other data: ``load_data``)."""
    path = Path(path)
    if path.is_dir():
        if any(path.glob("*-ubyte*")) or not any(path.iterdir()):
            return load_idx_dir(path)
        return load_folder(path)
    if path.suffix == ".npz":
        return load_npz(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    raise DataError(f"{path}: expected a folder of MNIST IDX files or an .npz file")


def load_mnist(path: Path | None = None) -> Dataset:
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
    return checked(Dataset(x_train, y_train, x_test, y_test, source="keras.datasets.mnist"))
