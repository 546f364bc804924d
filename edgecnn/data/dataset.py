"""The :class:`Dataset` every loader returns, and the checks of its shapes against a model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgecnn.errors import DataError
from edgecnn.spec import REFERENCE


# MNIST, the default data set: what data without a declared shape must look like.
IMAGE_SHAPE = REFERENCE.input_shape[:2]
NUM_CLASSES = REFERENCE.num_classes
LABELS = REFERENCE.labels


@dataclass(frozen=True)
class Dataset:
    """Train and test images (uint8, N x H x W or N x H x W x C), integer labels, class names, origin.

    ``x_train``/``x_test`` are numpy arrays, or :class:`edgecnn.data.folder.ImageFiles` for a folder
    of images (decoded per slice, so a data set larger than memory streams). ``y_train``/``y_test``
    are None for unlabelled data; ``labels`` are the class names in label order (None: unknown,
    the model's own or ``0..K-1`` apply).
    """

    # An ImageFiles stands in for an array (len, shape, dtype, slicing decode): typed as one.
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


def checked(data: Dataset, shape: tuple[int, int, int] | None = None,
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
