"""The reference CNN, its training configuration, reproducible training, and reading any
Keras image classifier's record (``model_spec``: input shape, classes, head)."""

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
from edgecnn.data import NUM_CLASSES, Dataset, preprocess
from edgecnn.env import library_versions
from edgecnn.errors import DataError, ModelError, first_line
from edgecnn.names import REFERENCE_MODEL, TRAIN_JSON  # TRAIN_JSON re-exported (pipeline imports it from here)
from edgecnn.spec import REFERENCE, ModelSpec, Preprocessing, default_labels, safe_name

log = logging.getLogger(__name__)

MODEL_FILENAME = REFERENCE_MODEL
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


def build_reference_model(input_shape: tuple[int, int, int] = REFERENCE.input_shape,
                          num_classes: int = NUM_CLASSES, name: str = REFERENCE.name):
    """The classic Keras MNIST CNN, layer for layer (the README lists the shapes).

    ``edgecnn train --data`` builds the same architecture for another input shape / class count.
    """
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape), name=INPUT_NAME),
            layers.Conv2D(6, (3, 3), activation="tanh", name="conv1"),
            layers.MaxPooling2D((2, 2), name="pool1"),
            layers.Conv2D(16, (2, 2), activation="tanh", name="conv2"),
            layers.MaxPooling2D((2, 2), name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(256, activation="tanh", name="dense"),
            layers.Dense(num_classes, activation="softmax", name=OUTPUT_NAME),
        ],
        name=name,
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


def data_model_name(data: Dataset) -> str:
    """The model's name (and file stem) for training on ``data``: the reference name on MNIST,
    else ``<data name>_cnn``."""
    if data.kind == "mnist":
        return REFERENCE.name
    return safe_name(Path(data.source).stem) + "_cnn"


def _train_record(config: TrainConfig, data: Dataset, model_path: Path, history: dict[str, list[float]],
                  test_accuracy: float, test_loss: float, wall: float, num_classes: int) -> dict[str, Any]:
    """train.json: the model file and its hash, the config, per-epoch history, test figures, data, versions."""
    return {
        "model": model_path.name,
        "model_sha256": fileio.sha256_file(model_path),
        "config": asdict(config),
        "config_key": config.key(data.checksums),
        "seed": config.seed,
        "epochs": config.epochs,
        "history": [
            {k: float(v[i]) for k, v in history.items()} for i in range(config.epochs)
        ],
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "wall_seconds": round(wall, 3),
        "data_source": data.source,
        "data_checksums": data.checksums,
        "labels": list(data.labels or default_labels(num_classes)),
        "input_shape": list(data.image_shape),
        "prepare": data.prepare,
        "versions": library_versions(),
    }


def train(config: TrainConfig, data: Dataset, out_dir: Path, h5: bool = False, name: str | None = None) -> TrainResult:
    """Train the reference architecture on ``data`` and write ``<name>.keras`` and ``train.json`` atomically.

    On MNIST that is the reference model ``mnist_cnn.keras``; on other data the input shape and
    class count come from the data.

    Args:
        config: epochs, batch size, seed (and optionally fewer training images).
        data: labelled train and test images.
        out_dir: where the model and train.json go.
        h5: also write the legacy ``.h5`` file.
        name: the model's name (default: ``mnist_cnn`` on MNIST, else from the data).

    Returns:
        The model and record paths, the test accuracy, the wall time and the record.
    """
    import keras

    if not data.labelled or data.y_train is None:
        raise DataError(f"{data.source}: no labels to train on (expected class sub-folders or an .npz with y)")
    out_dir = fileio.ensure_dir(Path(out_dir))
    num_classes = data.num_classes or NUM_CLASSES
    name = name or data_model_name(data)
    model_filename = MODEL_FILENAME if name == REFERENCE.name else f"{name}.keras"
    seed_everything(config.seed)
    x_train, y_train = data.x_train, data.y_train
    if config.train_samples is not None:
        x_train, y_train = x_train[: config.train_samples], y_train[: config.train_samples]
    y_train_1h = keras.utils.to_categorical(y_train, num_classes)
    y_test_1h = keras.utils.to_categorical(data.y_test, num_classes)

    model = build_reference_model(data.image_shape, num_classes, name)
    compile_reference_model(model, config)
    history, wall, test_loss, test_accuracy = _fit(model, config, data, x_train, y_train_1h, y_test_1h)

    model_path = out_dir / model_filename
    with fileio.atomic_path(model_path) as tmp:
        model.save(tmp)
    if h5:
        with fileio.atomic_path(model_path.with_suffix(".h5")) as tmp:
            model.save(tmp)
    record = _train_record(config, data, model_path, history.history, test_accuracy, test_loss, wall, num_classes)
    record_path = fileio.write_json(out_dir / TRAIN_JSON, record)
    log.info("trained %d epochs in %.1f s: test accuracy %.4f", config.epochs, wall, test_accuracy)
    return TrainResult(model_path, record_path, float(test_accuracy), wall, record)


def _fit(model, config: TrainConfig, data: Dataset, x_train, y_train_1h: np.ndarray,
         y_test_1h: np.ndarray) -> tuple[Any, float, float, float]:
    """Fit ``model`` and evaluate it on the test set: (Keras history, wall seconds of the fit, test loss, accuracy)."""
    start = time.perf_counter()
    if hasattr(x_train, "subset"):  # image files: decoded and prepared per batch, never all at once
        train_set = streamed_batches(x_train, y_train_1h, config.batch_size, config.seed, shuffle=True)
        test_set = streamed_batches(data.x_test, y_test_1h, 1000, config.seed, shuffle=False)
        history = model.fit(train_set, epochs=config.epochs, verbose=config.verbose, validation_data=test_set)
        wall = time.perf_counter() - start
        test_loss, test_accuracy = model.evaluate(test_set, verbose=0)
    else:  # arrays in memory (MNIST, an npz): Keras' own shuffling, as the published figures were trained
        x_train, x_test = preprocess(np.asarray(x_train)), preprocess(np.asarray(data.x_test))
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
    return history, wall, test_loss, test_accuracy


def streamed_batches(x, y_1h: np.ndarray, batch_size: int, seed: int, shuffle: bool):
    """A ``keras.utils.PyDataset`` of (x / 255 float32, one-hot) batches read from ``x`` (ImageFiles)
    one batch at a time; ``shuffle``: a seeded new order every epoch."""
    import math

    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.rng = np.random.default_rng(seed)
            self.order = self.rng.permutation(len(x)) if shuffle else np.arange(len(x))

        def __len__(self) -> int:
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, i: int):
            idx = np.sort(self.order[i * batch_size: (i + 1) * batch_size])
            return preprocess(x[idx]), y_1h[idx]

        def on_epoch_end(self) -> None:
            if shuffle:
                self.order = self.rng.permutation(len(x))

    return Batches()


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


def keras_predict(model, images: np.ndarray, batch_size: int = 1000, preprocessing: Preprocessing | None = None,
                  head: str | None = None) -> np.ndarray:
    """Probabilities for uint8 images via ``model(x, training=False)`` in batches.

    ``preprocessing``: the model's declared input map (default x / 255). A logits head
    (``head``, else detected) gets a softmax, as every exported file has.
    """
    head = head or detect_head(model)
    out = []
    for i in range(0, len(images), batch_size):
        y = np.asarray(model(preprocess(images[i: i + batch_size], preprocessing), training=False))
        out.append(softmax(y) if head == "logits" else y)
    return np.concatenate(out) if out else np.zeros((0, int(model.output_shape[-1])), np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return (z / z.sum(axis=-1, keepdims=True)).astype(np.float32)


# -- any Keras image classifier ----------------------------------------------------------------

ACCEPTS = ("edgecnn takes Keras image classifiers: one image input [N, H, W, C] with fixed H, W "
           "and C 1 or 3, and one output of K class scores [N, K]")


def image_classifier_shapes(model, name: str = "model") -> tuple[tuple[int, int, int], int]:
    """((H, W, C), K) of a Keras model, or a ModelError saying what edgecnn accepts."""
    inputs, outputs = list(getattr(model, "inputs", None) or []), list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{name}: has {len(inputs)} inputs and {len(outputs)} outputs; {ACCEPTS}")
    ishape, oshape = tuple(inputs[0].shape), tuple(outputs[0].shape)
    if len(ishape) != 4 or any(d is None for d in ishape[1:]) or ishape[3] not in (1, 3):
        raise ModelError(f"{name}: input is {_shape_text(ishape)}, not an image; {ACCEPTS}")
    if len(oshape) != 2 or oshape[1] is None or oshape[1] < 2:
        raise ModelError(f"{name}: output is {_shape_text(oshape)}, not class scores; {ACCEPTS}")
    return (int(ishape[1]), int(ishape[2]), int(ishape[3])), int(oshape[1])


def _shape_text(shape) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def detect_head(model) -> str:
    """"softmax" when the model's outputs are probabilities, else "logits".

    Structural first (a final softmax activation / Softmax layer), then numerical: outputs of
    32 seeded random images that are all in [0, 1] and sum to 1 per row are probabilities.
    """
    import keras

    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or activation is keras.activations.softmax:
        return "softmax"
    if activation is not None and activation is not keras.activations.linear and not isinstance(
            last, keras.layers.Activation):
        return "logits"
    (h, w, c), _ = image_classifier_shapes(model)
    x = np.random.default_rng(0).random((32, h, w, c), dtype=np.float32)
    y = np.asarray(model(x, training=False), np.float64)
    if np.all(y >= -1e-6) and np.all(y <= 1 + 1e-6) and np.allclose(y.sum(axis=1), 1.0, atol=1e-3):
        return "softmax"
    return "logits"


def model_spec(model, path: Path | None = None, *, labels: tuple[str, ...] | None = None,
               preprocessing: Preprocessing | None = None, prepare: str | None = None,
               name: str | None = None) -> ModelSpec:
    """The ModelSpec of a Keras model: shapes from the model, the rest as declared.

    Names come from the ``.keras`` file's stem (``mnist_cnn.keras`` -> ``mnist_cnn``); labels
    default to ``0..K-1``; preprocessing to ``unit`` with the colour of C; ``prepare`` to
    ``resize`` (``mnist`` for MNIST-trained models, which the caller says).
    """
    from dataclasses import replace

    label = str(path) if path is not None else getattr(model, "name", "model")
    shape, k = image_classifier_shapes(model, label)
    if labels is not None and len(labels) != k:
        raise DataError(f"{len(labels)} labels given, the model outputs {k} classes")
    color = "rgb" if shape[2] == 3 else "grey"
    pre = preprocessing or Preprocessing()
    pre = replace(pre, color=color, prepare=prepare or pre.prepare)
    return ModelSpec(
        name=safe_name(name or (Path(path).stem if path is not None else model.name)),
        input_shape=shape, labels=tuple(labels) if labels is not None else default_labels(k),
        preprocessing=pre, head=detect_head(model),
    )


def default_model_path(out_dir: Path) -> Path:
    """The .keras model of ``out_dir`` (see :meth:`edgecnn.workspace.Workspace.default_model`)."""
    from edgecnn.workspace import Workspace

    return Workspace(Path(out_dir)).default_model()


def train_folder(config: TrainConfig, output_dir: Path, data: Path | None = None, h5: bool = False,
                 echo=lambda message: None) -> TrainResult:
    """``edgecnn train``: load the data, train, write the model and train.json into ``output_dir``.

    Args:
        config: the recipe (epochs, batch size, seed); its seed also splits data without a split.
        output_dir: where the model and train.json go.
        data: the images (None: $EDGECNN_DATA, then the bundled MNIST).
        h5: also write the legacy ``.h5`` file.
        echo: receives one line saying what is trained on.

    Returns:
        What was written and measured.
    """
    from edgecnn.data import load_data
    from edgecnn.errors import require_full

    require_full("`edgecnn train`", ("tensorflow", "keras"))
    dataset = load_data(data, seed=config.seed)
    h, w, c = dataset.image_shape
    echo(f"Training on {len(dataset.x_train):,} images ({h}x{w}x{c}, {dataset.num_classes} classes) "
         f"from {dataset.source} ({config.epochs} epochs, seed {config.seed})")
    return train(config, dataset, output_dir, h5=h5)
