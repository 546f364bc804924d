"""Datasets: MNIST (IDX or Keras' npz, the default), a folder of class sub-folders, an ``.npz``.

Every loader returns a :class:`Dataset` of uint8 pixels (N, H, W) for grey MNIST-style data or
(N, H, W, C) otherwise, with integer labels (or ``None`` when the data has none) and the class
names. ``preprocess`` is the single definition of what a model sees: uint8 pixels ->
float32 NHWC with the model's declared affine map (``edgecnn.spec.Preprocessing``; the
reference CNN's is x / 255). Training, calibration, verification, benchmarking and the
TF-free runtime all call it. This module imports TensorFlow only for the last-resort
MNIST download.

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
import zlib  # a C builtin: free to import, needed for zlib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from edgecnn.errors import DataError
from edgecnn.spec import REFERENCE, Preprocessing

log = logging.getLogger(__name__)

# MNIST, the default data set (the data loader is where its constants live).
IMAGE_SHAPE = REFERENCE.input_shape[:2]
NUM_CLASSES = REFERENCE.num_classes
LABELS = REFERENCE.labels
# Written into every manifest and model file so a device app can check it matches.
PREPROCESSING = REFERENCE.preprocessing.to_json(REFERENCE.input_shape)
TEST_FRACTION = 0.2  # of each class, when the data has no train/test split of its own
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

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
class Dataset:
    """Train and test images (uint8, N x H x W or N x H x W x C), integer labels, class names, origin.

    ``y_train``/``y_test`` are None for unlabelled data; ``labels`` are the class names in
    label order (None: unknown, the model's own or ``0..K-1`` apply).
    """

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray | None
    source: str
    checksums: dict[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] | None = LABELS
    kind: str = "mnist"  # "mnist" | "folder" | "npz"
    split: str = "MNIST's own train/test split"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the images."""
        shape = self.x_test.shape if len(self.x_test) else self.x_train.shape
        return (int(shape[1]), int(shape[2]), int(shape[3]) if len(shape) == 4 else 1)

    @property
    def labelled(self) -> bool:
        return self.y_test is not None

    @property
    def num_classes(self) -> int | None:
        """How many classes the data declares (its class names, else its largest label + 1)."""
        if self.labels is not None:
            return len(self.labels)
        ys = [y for y in (self.y_train, self.y_test) if y is not None and len(y)]
        return int(max(int(y.max()) for y in ys)) + 1 if ys else None

    @property
    def prepare(self) -> str:
        """How photos become inputs for a model trained on this data (``Preprocessing.prepare``)."""
        return "mnist" if self.kind == "mnist" else "resize"


Mnist = Dataset  # the name before other data sets existed


def preprocess(images: np.ndarray, preprocessing: Preprocessing | None = None) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) -> float32 NHWC: ``pixels * scale + offset``.

    Without ``preprocessing``: the reference CNN's x / 255 in [0, 1].
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if preprocessing is None or preprocessing.preset == "unit":
        return images.astype(np.float32) / np.float32(255.0)
    return images.astype(np.float32) * np.float32(preprocessing.scale) + np.float32(preprocessing.offset)


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


def load_idx_dir(folder: Path, verify_checksums: bool = True) -> Dataset:
    """Load the four IDX files from ``folder``; by default their checksums must be MNIST's."""
    import hashlib

    arrays: dict[str, Any] = {}
    sums: dict[str, str] = {}
    for key, stem in _SPLITS.items():
        expected = CHECKSUMS[stem] if verify_checksums else None
        path = _find_idx(folder, stem)
        arrays[key] = read_idx(path, expected)
        sums[stem] = expected or hashlib.sha256(arrays[key].tobytes()).hexdigest()
    return _checked(Mnist(**arrays, source=str(folder), checksums=sums))


def load_npz(path: Path, shape: tuple[int, int, int] | None = None, seed: int = 0) -> Dataset:
    """An ``.npz``: ``x`` (N, H, W[, C]) with optional ``y`` (N,) and ``labels`` (K names), split
    80/20 per class (seeded); or Keras' ``mnist.npz`` layout (x_train, y_train, x_test, y_test).
    """
    import hashlib
    import zipfile

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            files = set(npz.files)
            if "x" in files:
                arrays: dict[str, Any] = {key: np.asarray(npz[key]) for key in ("x", "y", "labels") if key in files}
            else:
                missing = [key for key in _SPLITS if key not in files]
                if missing:
                    raise DataError(f"{path}: missing array {', '.join(missing)} "
                                    "(expected x_train, y_train, x_test, y_test) or x and y")
                arrays = {key: np.asarray(npz[key]) for key in _SPLITS}
                if "labels" in files:
                    arrays["labels"] = np.asarray(npz["labels"])
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable npz file ({exc})") from exc
    sums = {"npz": hashlib.sha256(path.read_bytes()).hexdigest()}
    names = None
    if "labels" in arrays:
        names = tuple(str(v) for v in arrays.pop("labels").reshape(-1).tolist())
    if "x" not in arrays:
        if shape is None and names is None:  # Keras' mnist.npz
            return _checked(Dataset(**arrays, source=str(path), checksums=sums))
        arrays = {k: _as_pixels(v, path, k) if k.startswith("x") else v for k, v in arrays.items()}
        ds = Dataset(**arrays, source=str(path), checksums=sums, labels=names, kind="npz",
                     split="the file's own x_train/x_test")
        return _checked(ds, shape, names)
    x = _as_pixels(arrays["x"], path, "x")
    y = arrays.get("y")
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: y is {y.dtype}{y.shape}, expected integer labels ({len(x)},)")
        if len(y) and int(y.min()) < 0:
            raise DataError(f"{path}: y holds label {int(y.min())}, expected labels 0..K-1")
    ds = _split(x, y, str(path), sums, names, "npz", seed)
    return _checked(ds, shape, names)


def _as_pixels(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    """uint8 pixels from an npz array: uint8 as is; floats in [0, 1] are x * 255, in [0, 255] as is."""
    x = np.asarray(x)
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise DataError(f"{path}: {key} has shape {x.shape}, expected (N, H, W) or (N, H, W, C) with C 1 or 3")
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.floating) and not np.issubdtype(x.dtype, np.integer):
        raise DataError(f"{path}: {key} is {x.dtype}, expected uint8 or float pixels")
    x = x.astype(np.float64)
    if x.size and not np.isfinite(x).all():
        raise DataError(f"{path}: {key} holds NaN or inf")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if lo < 0 or hi > 255:
        raise DataError(f"{path}: {key} spans [{lo:g}, {hi:g}]; expected pixels in [0, 1] or [0, 255]")
    if hi <= 1.0 and np.issubdtype(np.asarray(x).dtype, np.floating):
        x = x * 255.0
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _split(x, y, source: str, sums, names, kind: str, seed: int, fraction: float = TEST_FRACTION) -> Dataset:
    """A seeded per-class split: ``fraction`` of each class (at least one of a class of 2+) for testing."""
    if y is None:
        return Dataset(x, None, x, None, source, sums, names, kind,
                       "unlabelled: every image calibrates and verifies")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        n = int(round(len(idx) * fraction))
        n = max(n, 1) if len(idx) >= 2 else 0
        test[idx[:n]] = True
    split = f"seeded split (seed {seed}): {fraction:.0%} of each class for testing"
    return Dataset(x[~test], y[~test], x[test], y[test], source, sums, names, kind, split)


def _checked(data: Dataset, shape: tuple[int, int, int] | None = None,
             names: tuple[str, ...] | None = None) -> Dataset:
    """Shapes, dtypes and label ranges; without ``shape``: MNIST's (N, 28, 28) and labels 0-9."""
    k = len(names) if names is not None else (None if shape is not None else NUM_CLASSES)
    for name in ("train", "test"):
        x, y = getattr(data, f"x_{name}"), getattr(data, f"y_{name}")
        if shape is None:
            if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE or x.dtype != np.uint8:
                raise DataError(f"{data.source}: x_{name} is {x.dtype}{x.shape}, "
                                f"expected uint8 (N, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]})")
        elif x.dtype != np.uint8 or x.ndim not in (3, 4):
            raise DataError(f"{data.source}: x_{name} is {x.dtype}{x.shape}, expected uint8 (N, H, W[, C])")
        if y is None:
            continue
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{data.source}: y_{name} has shape {y.shape}, expected ({len(x)},)")
        if k is not None and len(y) and int(y.max()) >= k:
            raise DataError(f"{data.source}: y_{name} holds label {int(y.max())}, expected 0-{k - 1}")
    return data


# -- folders of images ----------------------------------------------------------------------


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def folder_shape(folder: Path) -> tuple[int, int, int]:
    """(H, W, C) for a model trained on ``folder``: the first image's size; C = 1 if every image is grey."""
    from edgecnn.images import is_grey_mode, open_image

    files = [f for d in ([folder] + _walk_dirs(folder)) for f in _image_files(d)]
    if not files:
        raise DataError(f"{folder}: no PNG/JPEG images found")
    grey = True
    size = None
    for f in files:
        with open_image(f) as im:
            size = size or im.size
            grey = grey and is_grey_mode(im)
    assert size is not None  # files is not empty
    return (size[1], size[0], 1 if grey else 3)


def _walk_dirs(folder: Path) -> list[Path]:
    out = []
    for d in _class_dirs(folder):
        out.append(d)
        out.extend(_walk_dirs(d))
    return out


def _read_class_dirs(dirs: list[Path], class_names: list[str], shape) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    from edgecnn.images import fit_image

    xs, ys, files = [], [], []
    for d in dirs:
        label = class_names.index(d.name)
        for f in _image_files(d):
            xs.append(fit_image(f, shape))
            ys.append(label)
            files.append(f)
    x = np.stack(xs) if xs else np.zeros((0, *shape), np.uint8)
    return x, np.asarray(ys, np.int64), files


def _digest(h, files: list[Path], folder: Path) -> None:
    """Fold each image's path below ``folder`` and its bytes into ``h`` (the data's checksum)."""
    for f in files:
        h.update(str(f.relative_to(folder)).encode() + f.read_bytes())


def load_folder(folder: Path, shape: tuple[int, int, int] | None = None, seed: int = 0) -> Dataset:
    """A folder of class sub-folders (``image_dataset_from_directory``'s layout): class names are the
    sorted sub-folder names; each image is fitted to ``shape`` (aspect kept, padded; colour to C)."""
    import hashlib

    folder = Path(folder)
    shape = cast("tuple[int, int, int]", tuple(shape)) if shape is not None else folder_shape(folder)
    h = hashlib.sha256(repr(shape).encode())
    train_dir, test_dir = folder / "train", folder / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        names = [d.name for d in _class_dirs(train_dir)]
        extra = [d.name for d in _class_dirs(test_dir) if d.name not in names]
        if extra:
            raise DataError(f"{test_dir}: class folder(s) {', '.join(extra)} not in {train_dir}")
        if not names:
            raise DataError(f"{train_dir}: no class sub-folders")
        x_tr, y_tr, f_tr = _read_class_dirs(_class_dirs(train_dir), names, shape)
        x_te, y_te, f_te = _read_class_dirs(_class_dirs(test_dir), names, shape)
        _digest(h, f_tr + f_te, folder)
        if not len(x_te):
            raise DataError(f"{test_dir}: no images")
        ds = Dataset(x_tr, y_tr, x_te, y_te, str(folder), {"folder": h.hexdigest()}, tuple(names), "folder",
                     "the folder's train/ and test/ sub-folders")
        return ds
    dirs = _class_dirs(folder)
    if not dirs:
        from edgecnn.images import fit_image

        files = _image_files(folder) if folder.is_dir() else []
        if not files:
            raise DataError(f"{folder}: no class sub-folders and no images "
                            "(expected DIR/<class>/*.png, DIR/train/<class>/ + DIR/test/<class>/, or images)")
        x = np.stack([fit_image(f, shape) for f in files])
        _digest(h, files, folder)
        return _split(x, None, str(folder), {"folder": h.hexdigest()}, None, "folder", seed)
    names = [d.name for d in dirs]
    x, y, files = _read_class_dirs(dirs, names, shape)
    if not len(x):
        raise DataError(f"{folder}: the class sub-folders hold no PNG/JPEG images")
    _digest(h, files, folder)
    return _split(x, y, str(folder), {"folder": h.hexdigest()}, tuple(names), "folder", seed)


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


def check_matches(data: Dataset, input_shape: tuple[int, int, int], num_classes: int | None = None) -> None:
    """A DataError naming both numbers when the data's images or classes do not fit the model."""
    h, w, c = (int(d) for d in input_shape)
    dh, dw, dc = data.image_shape
    # Without --data the bundled MNIST is used: say how to give the model its own images.
    hint = " (pass your own images with --data)" if data.kind == "mnist" else ""
    if (dh, dw) != (h, w) or dc != c:
        raise DataError(f"{data.source}: images are {dh}x{dw}x{dc}, the model takes {h}x{w}x{c}{hint}")
    k = data.num_classes
    if num_classes is not None and k is not None and data.labelled and k != num_classes:
        raise DataError(f"{data.source}: data has {k} classes, the model outputs {num_classes}{hint}")


def read_labels_file(path: Path) -> tuple[str, ...]:
    """``--labels FILE``: one class name per line (blank lines ignored), in output order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read labels ({exc})") from exc
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise DataError(f"{path}: no labels (expected one class name per line)")
    if len(set(names)) != len(names):
        raise DataError(f"{path}: duplicate class names")
    return names


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
    return _checked(Dataset(x_train, y_train, x_test, y_test, source="keras.datasets.mnist"))
