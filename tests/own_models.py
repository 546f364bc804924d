"""Two small image classifiers that are not the reference CNN, and data they can learn (issue #12).

Used by tests/test_own_model.py. Everything is seeded and made here: coloured geometric shapes
(square, circle, plus, triangle) on dark backgrounds, at random positions, sizes and colours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SHAPES = ("square", "circle", "plus", "triangle")


def make_shapes(n: int, size: int, classes: int, seed: int, channels: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (n, size, size, channels) (grey: (n, size, size)) and labels 0..classes-1 (balanced)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % classes)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    x = np.empty((n, size, size, 3), np.uint8)
    for i, k in enumerate(y):
        r = rng.uniform(0.28, 0.4) * size
        cy, cx = rng.uniform(r, size - r, 2)
        dy, dx = yy - cy, xx - cx
        if k == 0:
            mask = np.maximum(np.abs(dy), np.abs(dx)) <= r * 0.85
        elif k == 1:
            mask = dy ** 2 + dx ** 2 <= r ** 2
        elif k == 2:
            mask = ((np.abs(dx) <= r / 3) & (np.abs(dy) <= r)) | ((np.abs(dy) <= r / 3) & (np.abs(dx) <= r))
        else:
            mask = (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)
        background = rng.integers(0, 70, 3)
        colour = rng.integers(150, 256, 3)
        image = np.broadcast_to(background, (size, size, 3)).copy()
        image[mask] = colour
        noise = rng.integers(-8, 9, (size, size, 3))
        x[i] = np.clip(image + noise, 0, 255)
    if channels == 1:
        return np.round(x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8), y
    return x, y


def write_class_folders(root: Path, x: np.ndarray, y: np.ndarray, names: tuple[str, ...], scale: int = 1) -> Path:
    """``root/<class>/<i>.png`` (images enlarged ``scale`` times: the loader resizes them back)."""
    from PIL import Image

    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, (image, k) in enumerate(zip(x, y)):
        im = Image.fromarray(image)
        if scale != 1:
            im = im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST)
        im.save(root / names[k] / f"{i:04d}.png")
    return root


def build_depthwise_rgb(size: int, classes: int, seed: int = 0):
    """(a) Sequential, RGB: Rescaling inside (preprocess 'none'), DepthwiseConv2D + BatchNormalization +
    ReLU6 + GlobalAveragePooling + Dropout + Dense logits."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)  # the initial weights
    return keras.Sequential([
        keras.Input((size, size, 3), name="pixels"),
        layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale"),
        layers.Conv2D(12, 3, strides=2, padding="same", use_bias=False, name="stem"),
        layers.BatchNormalization(momentum=0.9, name="stem_bn"),
        layers.ReLU(6.0, name="stem_relu6"),
        layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw"),
        layers.BatchNormalization(momentum=0.9, name="dw_bn"),
        layers.ReLU(6.0, name="dw_relu6"),
        layers.Conv2D(24, 1, name="pw"),
        layers.ReLU(6.0, name="pw_relu6"),
        layers.MaxPooling2D(2, name="pool"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dropout(0.1, name="dropout"),
        layers.Dense(classes, name="logits"),
    ], name="depthwise_rgb")


def build_residual_grey(size: int, classes: int, seed: int = 0):
    """(b) Functional, grey: Conv2D, SeparableConv2D, residual Add, swish/sigmoid/tanh,
    average pooling, Concatenate, Reshape, Dense softmax."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)  # the initial weights
    inp = keras.Input((size, size, 1), name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inp)
    y = layers.SeparableConv2D(8, 3, padding="same", name="sep")(x)
    y = layers.BatchNormalization(momentum=0.9, name="sep_bn")(y)
    y = layers.Activation("swish", name="sep_swish")(y)
    x = layers.Add(name="residual")([x, y])
    x = layers.MaxPooling2D(2, name="pool")(x)
    a = layers.AveragePooling2D(2, name="avg")(x)
    b = layers.Conv2D(4, 2, strides=2, activation="sigmoid", name="gate")(x)
    x = layers.Concatenate(name="concat")([a, b])
    x = layers.Conv2D(16, 3, padding="same", activation="tanh", name="mix")(x)
    x = layers.MaxPooling2D(size // 4, name="global_max")(x)
    x = layers.Reshape((-1,), name="reshape")(x)
    out = layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="residual_grey")


def fit(model, x: np.ndarray, y: np.ndarray, preprocess, epochs: int, seed: int = 0, logits: bool = False,
        lr: float = 0.003) -> None:
    """A short seeded Adam fit."""
    import keras

    keras.utils.set_random_seed(seed)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=logits)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])
    model.fit(preprocess(x), y, epochs=epochs, batch_size=32, verbose=0, shuffle=True)
