"""Images in batches: how many fit a memory budget, and the batches themselves.

Verify once pushed 1,000 images per call through the model: at MobileNetV2 224x224x3 that is
0.6 GB of float32 input and several GB of activations (measured on main: 8 MiB per test image,
3.24 GiB peak for 300 photos). The batch is sized from the image instead, so the peak follows
the batch and not the data set; MNIST keeps its 1,000.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

INPUT_BUDGET_BYTES = 16 * 1024 * 1024  # float32 model input per batch: MNIST 5,350 images, 224x224x3: 27


def batch_size_for(image_shape: tuple[int, ...], requested: int) -> int:
    """``requested``, capped so one batch of float32 inputs of ``image_shape`` (H, W[, C]) stays in the budget."""
    per_image = int(np.prod([int(d) for d in image_shape])) * 4
    return max(1, min(int(requested), INPUT_BUDGET_BYTES // max(1, per_image)))


def batches(images, batch_size: int) -> Iterator[np.ndarray]:
    """uint8 batches of ``images`` (an array or ImageFiles: decoded one batch at a time)."""
    for start in range(0, len(images), batch_size):
        yield np.asarray(images[start: start + batch_size])
