"""The reference CNN, its training configuration, and reproducible training."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn import fileio
from edgecnn.data import NUM_CLASSES, Mnist, preprocess
from edgecnn.env import library_versions
from edgecnn.errors import ModelError, first_line

log = logging.getLogger(__name__)

MODEL_FILENAME = "mnist_cnn.keras"
TRAIN_JSON = "train.json"
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


@dataclass(frozen=True)
class TrainConfig:
    """How the reference model is trained; the defaults are the published recipe."""

    epochs: int = 12  # as published
    batch_size: int = 128  # as published
    seed: int = 0  # seeds weights, shuffling and dropout-free ops alike
    learning_rate: float = 1.0  # classic Keras Adadelta default; Keras 3's 0.001 stalls at ~84 %
    rho: float = 0.95  # classic Keras Adadelta default
    train_samples: int | None = None  # None = all 60,000; a subset is for quick tests only
    verbose: int = 2  # Keras' fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch

    def key(self, data_checksums: dict[str, str]) -> str:
        """A hash of everything that decides the trained weights: config (not verbosity) and data."""
        fields = {k: v for k, v in asdict(self).items() if k != "verbose"}
        blob = json.dumps({"config": fields, "data": data_checksums}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class TrainResult:
    """What ``train`` wrote and measured."""

    model_path: Path
    record_path: Path
    test_accuracy: float
    wall_seconds: float
    record: dict[str, Any]


def build_reference_model():
    """The classic Keras MNIST CNN, layer for layer (the README lists the shapes)."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name=INPUT_NAME),
            layers.Conv2D(6, (3, 3), activation="tanh", name="conv1"),
            layers.MaxPooling2D((2, 2), name="pool1"),
            layers.Conv2D(16, (2, 2), activation="tanh", name="conv2"),
            layers.MaxPooling2D((2, 2), name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(256, activation="tanh", name="dense"),
            layers.Dense(NUM_CLASSES, activation="softmax", name=OUTPUT_NAME),
        ],
        name="mnist_cnn",
    )


def compile_reference_model(model, config: TrainConfig) -> None:
    """Adadelta + categorical cross-entropy, as published."""
    import keras

    model.compile(
        optimizer=keras.optimizers.Adadelta(learning_rate=config.learning_rate, rho=config.rho),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train(config: TrainConfig, data: Mnist, out_dir: Path, h5: bool = False) -> TrainResult:
    """Train the reference model and write ``mnist_cnn.keras`` and ``train.json`` atomically."""
    import keras

    out_dir = fileio.ensure_dir(Path(out_dir))
    seed_everything(config.seed)
    x_train, y_train = data.x_train, data.y_train
    if config.train_samples is not None:
        x_train, y_train = x_train[: config.train_samples], y_train[: config.train_samples]
    x_train, x_test = preprocess(x_train), preprocess(data.x_test)
    y_train_1h = keras.utils.to_categorical(y_train, NUM_CLASSES)
    y_test_1h = keras.utils.to_categorical(data.y_test, NUM_CLASSES)

    model = build_reference_model()
    compile_reference_model(model, config)
    start = time.perf_counter()
    history = model.fit(
        x_train, y_train_1h,
        batch_size=config.batch_size,
        epochs=config.epochs,
        verbose=config.verbose,
        validation_data=(x_test, y_test_1h),
        # Evaluating the test set in large batches changes no weight, only saves steps.
        validation_batch_size=1000,
    )
    wall = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test_1h, batch_size=1024, verbose=0)

    model_path = out_dir / MODEL_FILENAME
    with fileio.atomic_path(model_path) as tmp:
        model.save(tmp)
    if h5:
        with fileio.atomic_path(out_dir / "mnist_cnn.h5") as tmp:
            model.save(tmp)
    record = {
        "model": MODEL_FILENAME,
        "model_sha256": fileio.sha256_file(model_path),
        "config": asdict(config),
        "config_key": config.key(data.checksums),
        "seed": config.seed,
        "epochs": config.epochs,
        "history": [
            {k: float(v[i]) for k, v in history.history.items()} for i in range(config.epochs)
        ],
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "wall_seconds": round(wall, 3),
        "data_source": data.source,
        "data_checksums": data.checksums,
        "versions": library_versions(),
    }
    record_path = fileio.write_json(out_dir / TRAIN_JSON, record)
    log.info("trained %d epochs in %.1f s: test accuracy %.4f", config.epochs, wall, test_accuracy)
    return TrainResult(model_path, record_path, float(test_accuracy), wall, record)


def load_model(path: Path, unsafe: bool = False):
    """Load a ``.keras`` (or legacy ``.h5``) model in Keras' safe mode.

    Safe mode refuses Lambda layers and other serialized Python code; ``unsafe=True``
    lifts that for files the user trusts.
    """
    import keras

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model not found (run `edgecnn train` first)")
    try:
        return keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ModelError(
                f"{path}: refuses to load: the file holds Python code (e.g. a Lambda layer); "
                "pass --unsafe only if you trust it"
            ) from exc
        raise ModelError(f"{path}: not a loadable Keras model ({first_line(exc)})") from exc
    except Exception as exc:  # Keras raises many types for corrupt zips / h5 files
        raise ModelError(f"{path}: not a loadable Keras model ({first_line(exc)})") from exc


def keras_predict(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Probabilities for uint8 images via ``model(x, training=False)`` in batches."""
    out = [
        np.asarray(model(preprocess(images[i: i + batch_size]), training=False))
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(out) if out else np.zeros((0, NUM_CLASSES), np.float32)
