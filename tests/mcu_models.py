"""Two networks people put on microcontrollers, written here from their published architectures.

* ``resnet8``: MLPerf Tiny's image-classification model (``resnet_v1_eembc`` in mlcommons/tiny's
  training code, v0.5: 16/32/64 filters), 32x32x3 -> 10 classes: a 3x3 stem, three residual
  stacks of two 3x3 convolutions (the second and third stride 2, with a 1x1 stride-2 shortcut),
  average pooling over the 8x8 map, a softmax Dense. 78k parameters.
* ``mobilenet_v1_025``: MobileNetV1 at width 0.25 (MLPerf Tiny's visual-wake-words architecture,
  depthwise separable convolutions), here at 48x48x3 -> 2 classes so that an emulated Cortex-M
  runs it in seconds.

Trained briefly (seeded) on synthetic images: the point is the path, not the accuracy; every
trained model is cached by the hash of this file and its arguments.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def resnet8(num_classes: int = 10, filters: int = 16):
    import keras
    from keras import layers, regularizers

    def conv(x, n, k=3, s=1):
        return layers.Conv2D(n, k, strides=s, padding="same", kernel_initializer="he_normal",
                             kernel_regularizer=regularizers.l2(1e-4))(x)

    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Activation("relu")(layers.BatchNormalization()(conv(inputs, filters)))
    for stack, n in enumerate((filters, filters * 2, filters * 4)):
        stride = 1 if stack == 0 else 2
        y = layers.Activation("relu")(layers.BatchNormalization()(conv(x, n, s=stride)))
        y = layers.BatchNormalization()(conv(y, n))
        shortcut = x if stack == 0 else conv(x, n, k=1, s=2)
        x = layers.Activation("relu")(layers.Add()([shortcut, y]))
    x = layers.Flatten()(layers.AveragePooling2D(pool_size=8)(x))
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, outputs, name="resnet8")


def mobilenet_v1_025(size: int = 48, num_classes: int = 2):
    import keras

    return keras.applications.MobileNet(input_shape=(size, size, 3), alpha=0.25, weights=None,
                                        classes=num_classes, name="mobilenet_v1_025")


def synthetic(n: int, size: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB images whose class is a colour and a stripe frequency, with noise."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % classes)
    xx = np.arange(size, dtype=np.float32)[None, :]
    colours = rng.integers(40, 216, (classes, 3))
    x = np.empty((n, size, size, 3), np.uint8)
    for i, k in enumerate(y):
        stripes = (np.sin(xx * (0.3 + 0.25 * k) + rng.uniform(0, 6)) > 0).astype(np.float32)
        image = colours[k] * (0.6 + 0.4 * stripes[..., None]) + rng.normal(0, 12, (size, size, 3))
        x[i] = np.clip(image, 0, 255)
    return x, y


def trained(name: str, cache: Path, epochs: int = 4) -> tuple[Path, Path]:
    """(model.keras, data.npz) for ``name`` in ``cache``, trained once per content hash."""
    import keras

    build = {"resnet8": (resnet8, 32, 10), "mobilenet_v1_025": (mobilenet_v1_025, 48, 2)}[name]
    key = hashlib.sha256(Path(__file__).read_bytes() + f"{name}{epochs}".encode()).hexdigest()[:16]
    folder = Path(cache) / f"{name}-{key}"
    model_path, npz = folder / f"{name}.keras", folder / f"{name}.npz"
    if model_path.is_file() and npz.is_file():
        return model_path, npz
    folder.mkdir(parents=True, exist_ok=True)
    builder, size, classes = build
    x, y = synthetic(600, size, classes, seed=0)
    np.savez(npz, x=x, y=y)
    keras.utils.set_random_seed(0)
    model = builder()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x.astype(np.float32) / 255, y, batch_size=32, epochs=epochs, verbose=0)
    tmp = folder / f".{name}.tmp.keras"
    model.save(tmp)
    tmp.rename(model_path)
    return model_path, npz
