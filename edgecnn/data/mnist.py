"""MNIST's IDX files (gzip or raw), checked against the published checksums."""

from __future__ import annotations

import zlib  # a C builtin: free to import, needed for zlib.error
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.data.dataset import IMAGE_SHAPE, Dataset, checked
from edgecnn.errors import DataError

_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801

# SHA-256 of the decompressed IDX files (data/mnist/README.md).
CHECKSUMS = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SPLITS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


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
    for key, stem in SPLITS.items():
        expected = CHECKSUMS[stem] if verify_checksums else None
        path = _find_idx(folder, stem)
        arrays[key] = read_idx(path, expected)
        sums[stem] = expected or hashlib.sha256(arrays[key].tobytes()).hexdigest()
    return checked(Dataset(**arrays, source=str(folder), checksums=sums))
