"""An ``.npz`` of pixels: ``x`` (+ ``y``, ``labels``), or Keras' ``mnist.npz`` layout.

Held in memory: numpy decompresses an npz member whole (a data set larger than memory belongs
in a folder of image files, which streams).
"""

from __future__ import annotations

import zlib  # a C builtin: free to import, needed for zlib.error
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.data.dataset import Dataset, checked
from edgecnn.data.mnist import SPLITS
from edgecnn.data.split import split
from edgecnn.errors import DataError


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
                missing = [key for key in SPLITS if key not in files]
                if missing:
                    raise DataError(f"{path}: missing array {', '.join(missing)} "
                                    "(expected x_train, y_train, x_test, y_test) or x and y")
                arrays = {key: np.asarray(npz[key]) for key in SPLITS}
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
            return checked(Dataset(**arrays, source=str(path), checksums=sums))
        arrays = {k: _as_pixels(v, path, k) if k.startswith("x") else v for k, v in arrays.items()}
        ds = Dataset(**arrays, source=str(path), checksums=sums, labels=names, kind="npz",
                     split="the file's own x_train/x_test")
        return checked(ds, shape, names)
    x = _as_pixels(arrays["x"], path, "x")
    y = arrays.get("y")
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{path}: y is {y.dtype}{y.shape}, expected integer labels ({len(x)},)")
        if len(y) and int(y.min()) < 0:
            raise DataError(f"{path}: y holds label {int(y.min())}, expected labels 0..K-1")
    ds = split(x, y, str(path), sums, names, "npz", seed)
    return checked(ds, shape, names)


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
