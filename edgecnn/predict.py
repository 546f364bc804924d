"""``edgecnn predict`` as a library: classify image files or .npy batches with an exported model.

TensorFlow-free (numpy, Pillow and one runtime): this is what the base install is for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Predictions:
    """One result per image (``file`` or ``file[i]`` for an .npy batch) and one message per bad input."""

    model: Path
    precision: str | None
    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"model": str(self.model), "precision": self.precision, "results": self.results,
                "errors": len(self.errors)}

    def lines(self) -> list[str]:
        """``file label confidence`` per image, then the next most likely labels with --top."""
        out = []
        for r in self.results:
            extra = "".join(f" {t['digit']} {t['probability']:.4f}" for t in r["top"][1:])
            out.append(f"{r['input']} {r['digit']} {r['confidence']:.4f}{extra}")
        return out


def classify(model_path: Path, inputs: Iterable[Path], top: int = 1, on_error=None,
             prepare: str | None = None) -> Predictions:
    """Run every input through the model; a bad input becomes an error message, the others go on.

    Photos are prepared as the model's metadata says (``spec.preprocessing.prepare``: fitted to its
    input, or MNIST-like digit preparation); ``prepare`` ("mnist" or "resize") overrides.
    ``on_error(message)`` is called as each bad input is met (the CLI prints it at once).

    Args:
        model_path: an exported .tflite or .onnx file.
        inputs: image files (PNG, JPEG, ...) or .npy arrays (one image or a batch).
        top: how many classes to give per image.
        on_error: called with each bad input's one-line message.
        prepare: ``"mnist"`` or ``"resize"``, overriding the file's own preparation.

    Returns:
        One result per image and one message per bad input.

    Raises:
        ModelError: the model is missing or cannot be loaded.
    """
    import numpy as np

    from edgecnn import runtime
    from edgecnn.images import load_input

    predictor = runtime.load(model_path)
    labels = predictor.labels
    spec = predictor.spec
    how = prepare or spec.preprocessing.prepare
    top = min(top, spec.num_classes)
    out = Predictions(Path(model_path), predictor.precision)
    for path in inputs:
        try:
            arr = load_input(path, spec.input_shape, how)
            probs = predictor.predict(arr)
        except ValueError as exc:  # InputError: a bad file; report it and go on with the others
            message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
            out.errors.append(message)
            if on_error is not None:
                on_error(message)
            continue
        # one image (H, W) or (H, W, C); the rows of a batch are named file[i]
        single = arr.ndim == 2 or (spec.channels > 1 and arr.shape == tuple(spec.input_shape))
        for i, p in enumerate(probs):
            order = np.argsort(-p, kind="stable")[:top]
            out.results.append({
                "input": str(path) if single else f"{path}[{i}]",
                "digit": labels[order[0]],  # the class label ("digit": the name from the MNIST days)
                "label": labels[order[0]],
                "confidence": round(float(p[order[0]]), 6),
                "top": [{"digit": labels[k], "label": labels[k], "probability": round(float(p[k]), 6)}
                        for k in order],
            })
    return out
