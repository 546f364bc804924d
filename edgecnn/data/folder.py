"""Folders of images (``image_dataset_from_directory``'s layout), read as files, decoded per batch.

A folder data set holds :class:`ImageFiles`: the file list and the model's input shape. Slicing
decodes just those images (``fit_image``: aspect kept, padded, colour to C), so training,
calibration, verify and bench hold one batch of pixels at a time, never the whole set: a
MobileNetV2 at 224x224x3 holds 147 KiB of uint8 per image, 1.4 GiB for 10,000 photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np

from edgecnn.data.dataset import Dataset
from edgecnn.data.split import split
from edgecnn.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def as_images(files: Sequence[Path], shape: tuple[int, int, int]) -> np.ndarray:
    """:class:`ImageFiles` typed as the array it stands in for (what ``Dataset`` holds)."""
    return cast("np.ndarray", ImageFiles(files, shape))


class ImageFiles:
    """uint8 images of ``files`` fitted to ``shape`` (H, W, C), decoded when indexed: an array stand-in.

    ``x[i]`` is one image, ``x[a:b]`` / ``x[indices]`` a decoded uint8 batch (N, H, W) for C == 1
    or (N, H, W, C); ``subset`` selects files without decoding; ``np.asarray(x)`` decodes all.
    Pickles as its file list (a child process decodes for itself).
    """

    dtype = np.dtype(np.uint8)

    def __init__(self, files: Sequence[Path], shape: tuple[int, int, int]):
        self.files = tuple(Path(f) for f in files)
        self.image_shape: tuple[int, int, int] = (int(shape[0]), int(shape[1]), int(shape[2]))

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, ...]:
        h, w, c = self.image_shape
        return (len(self.files), h, w) if c == 1 else (len(self.files), h, w, c)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape))

    def subset(self, indices) -> ImageFiles:
        """The files at ``indices`` (ints), not decoded."""
        return ImageFiles([self.files[int(i)] for i in np.asarray(indices, np.int64)], self.image_shape)

    def __getitem__(self, key) -> np.ndarray:
        from edgecnn.images import fit_image

        if isinstance(key, (int, np.integer)):
            return fit_image(self.files[int(key)], self.image_shape)
        picked = (self.files[key] if isinstance(key, slice)
                  else [self.files[int(i)] for i in np.asarray(key).reshape(-1)])
        # Filled in place, not stacked from a list: a list of 1,000 decoded 224x224x3 photos and
        # their stack would hold the batch twice (the int8 loop decodes up to 1,000 judge images).
        out = np.empty((len(picked), *self.shape[1:]), np.uint8)
        for i, f in enumerate(picked):
            out[i] = fit_image(f, self.image_shape)
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        x = self[:]
        return x.astype(dtype) if dtype is not None else x


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def class_dirs(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _walk_dirs(folder: Path) -> list[Path]:
    out = []
    for d in class_dirs(folder):
        out.append(d)
        out.extend(_walk_dirs(d))
    return out


def folder_shape(folder: Path) -> tuple[int, int, int]:
    """(H, W, C) for a model trained on ``folder``: the first image's size; C = 1 if every image is grey."""
    from edgecnn.images import is_grey_mode, open_image

    files = [f for d in ([folder] + _walk_dirs(folder)) for f in image_files(d)]
    if not files:
        raise DataError(f"{folder}: no PNG/JPEG images found")
    grey = True
    size = None
    for f in files:
        with open_image(f) as im:  # the header only: Pillow decodes pixels on demand
            size = size or im.size
            grey = grey and is_grey_mode(im)
    assert size is not None  # files is not empty
    return (size[1], size[0], 1 if grey else 3)


def _class_files(dirs: list[Path], class_names: list[str]) -> tuple[list[Path], np.ndarray]:
    files, ys = [], []
    for d in dirs:
        label = class_names.index(d.name)
        for f in image_files(d):
            files.append(f)
            ys.append(label)
    return files, np.asarray(ys, np.int64)


def _digest(h, files: list[Path], folder: Path) -> None:
    """Fold each image's path below ``folder`` and its bytes into ``h`` (the data's checksum)."""
    for f in files:
        h.update(str(f.relative_to(folder)).encode() + f.read_bytes())


def load_folder(folder: Path, shape: tuple[int, int, int] | None = None, seed: int = 0) -> Dataset:
    """A folder of class sub-folders (``image_dataset_from_directory``'s layout): class names are the
    sorted sub-folder names; each image is fitted to ``shape`` (aspect kept, padded; colour to C)
    when a batch of it is read."""
    import hashlib

    folder = Path(folder)
    shape = cast("tuple[int, int, int]", tuple(shape)) if shape is not None else folder_shape(folder)
    h = hashlib.sha256(repr(shape).encode())
    train_dir, test_dir = folder / "train", folder / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        names = [d.name for d in class_dirs(train_dir)]
        extra = [d.name for d in class_dirs(test_dir) if d.name not in names]
        if extra:
            raise DataError(f"{test_dir}: class folder(s) {', '.join(extra)} not in {train_dir}")
        if not names:
            raise DataError(f"{train_dir}: no class sub-folders")
        f_tr, y_tr = _class_files(class_dirs(train_dir), names)
        f_te, y_te = _class_files(class_dirs(test_dir), names)
        _digest(h, f_tr + f_te, folder)
        if not f_te:
            raise DataError(f"{test_dir}: no images")
        return Dataset(as_images(f_tr, shape), y_tr, as_images(f_te, shape), y_te, str(folder),
                       {"folder": h.hexdigest()}, tuple(names), "folder", "the folder's train/ and test/ sub-folders")
    dirs = class_dirs(folder)
    if not dirs:
        files = image_files(folder) if folder.is_dir() else []
        if not files:
            raise DataError(f"{folder}: no class sub-folders and no images "
                            "(expected DIR/<class>/*.png, DIR/train/<class>/ + DIR/test/<class>/, or images)")
        _digest(h, files, folder)
        return split(as_images(files, shape), None, str(folder), {"folder": h.hexdigest()}, None, "folder", seed)
    names = [d.name for d in dirs]
    files, y = _class_files(dirs, names)
    if not files:
        raise DataError(f"{folder}: the class sub-folders hold no PNG/JPEG images")
    _digest(h, files, folder)
    return split(as_images(files, shape), y, str(folder), {"folder": h.hexdigest()}, tuple(names), "folder", seed)
