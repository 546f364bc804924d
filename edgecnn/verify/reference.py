"""The two sides of a parity check: Keras' probabilities, and an exported file's in its runtime.

Importing this module is TF-free: TensorFlow/Keras are imported only by :func:`keras_reference`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.errors import EdgeCnnError, ModelError


def keras_reference(model_path: Path, images: np.ndarray, batch_size: int = 1000, unsafe: bool = False,
                    spec=None) -> np.ndarray:
    """Keras' probabilities (N x K) for uint8 ``images``, in batches (imports TensorFlow).

    ``spec`` (the artifacts' ModelSpec) gives the declared preprocessing and head; a logits
    head gets the softmax the exported files have.
    """
    from edgecnn.model import image_classifier_shapes, keras_predict, load_model

    model = load_model(model_path, unsafe=unsafe)
    if spec is not None:
        shape, k = image_classifier_shapes(model, str(model_path))
        if (shape, k) != (tuple(spec.input_shape), spec.num_classes):
            raise ModelError(f"{model_path}: takes {shape} and gives {k} classes, but the artifacts take "
                             f"{tuple(spec.input_shape)} and give {spec.num_classes}: not the model they came from")
    return keras_predict(model, images, batch_size=batch_size,
                         preprocessing=spec.preprocessing if spec is not None else None,
                         head=spec.head if spec is not None else None)


def artifact_spec(artifacts: Sequence[Path | Artifact]):
    """The ModelSpec of the first artifact that loads (TF-free), None if none does."""
    from edgecnn.runtime import load

    for item in artifacts:
        path = item.path if isinstance(item, Artifact) else Path(item)
        try:
            return load(path).spec
        except (EdgeCnnError, RuntimeError, ValueError):
            continue
    return None


def evaluate(predictor, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """A runtime Predictor's probabilities (N x K) for uint8 ``images``, ``batch_size`` per call."""
    out = [predictor.predict(images[i: i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, predictor.num_classes), np.float32)


def file_probabilities(path: Path, images: np.ndarray, num_threads: int = 1,
                       batch_size: int = 1000) -> tuple[dict[str, str | None], np.ndarray]:
    """({"precision": the file's declared precision, "runtime": the runtime's}, probabilities N x K)
    of one exported file on uint8 ``images`` (TF-free; what :func:`check_artifact` runs in a child)."""
    from edgecnn.runtime import RuntimeOptions, load

    predictor = load(path, RuntimeOptions(num_threads=num_threads))
    from edgecnn.artifact import mixed_label

    declared = {"precision": predictor.metadata.get("precision"), "runtime": predictor.precision,
                "label": mixed_label(predictor.metadata)}  # a mixed int8 file says so in every table
    return declared, evaluate(predictor, images, batch_size)

