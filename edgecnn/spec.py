"""What a model is, to everything downstream of training: its input, classes and preprocessing.

``ModelSpec`` is the one record the exporters embed in every file (metadata JSON), the
manifest carries (``"model"``) and ``edgecnn.runtime.load(path).spec`` gives back. It is
TF-free and numpy-free on purpose: ``edgecnn predict``, the Pi's ``classify.py`` logic and
the bundles read it without TensorFlow.

Preprocessing is declared, never guessed: ``model_input = pixels_uint8 * scale + offset``
(float32, NHWC, channels in RGB order for C == 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Named presets of the affine map pixels -> model input.
PRESETS: dict[str, tuple[float, float]] = {
    "unit": (1.0 / 255.0, 0.0),  # x / 255 -> [0, 1]: the default and the reference CNN's
    "symmetric": (1.0 / 127.5, -1.0),  # x / 127.5 - 1 -> [-1, 1]
    "none": (1.0, 0.0),  # raw 0-255: the model rescales itself (e.g. a Rescaling layer)
}
_FORMULAS = {"unit": "x / 255.0", "symmetric": "x / 127.5 - 1.0", "none": "x"}
COLORS = ("grey", "rgb")
PREPARES = ("mnist", "resize")
HEADS = ("softmax", "logits")


@dataclass(frozen=True)
class Preprocessing:
    """model_input = pixels_uint8 * scale + offset (float32, NHWC, RGB order)."""

    scale: float = 1 / 255
    offset: float = 0.0
    preset: str = "unit"  # "unit" | "symmetric" | "none" | "custom"
    color: str = "grey"  # "grey" (C == 1) | "rgb" (C == 3)
    prepare: str = "resize"  # "mnist" (invert/crop/fit 20x20/centre of mass) | "resize" (aspect kept, padded)

    @classmethod
    def parse(cls, text: str, color: str = "grey", prepare: str = "resize") -> Preprocessing:
        """``unit`` | ``symmetric`` | ``none`` | ``SCALE,OFFSET`` (e.g. ``0.00784,-1``); ValueError otherwise."""
        text = str(text).strip().lower()
        if text in PRESETS:
            scale, offset = PRESETS[text]
            return cls(scale, offset, text, color, prepare)
        parts = [p.strip() for p in text.split(",")]
        try:
            if len(parts) != 2:
                raise ValueError
            scale, offset = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError(
                f"{text!r}: expected unit, symmetric, none or SCALE,OFFSET (e.g. 0.0078431,-1)"
            ) from None
        if not (scale == scale and offset == offset) or scale == 0 or abs(scale) == float("inf"):
            raise ValueError(f"{text!r}: scale must be a finite non-zero number")
        return cls(scale, offset, _preset_of(scale, offset), color, prepare)

    def apply(self, images: np.typing.ArrayLike) -> np.ndarray:
        """uint8 images (N, H, W) or (N, H, W, C) -> float32 NHWC: ``pixels * scale + offset``.

        The single definition of what a model sees: training, calibration, verification,
        benchmarking and the TF-free runtime all call it. ``unit`` divides by 255 (not a
        multiplication by 1/255, which differs in the last bit), as the reference CNN was trained.
        Imports numpy when called: the rest of this module stays numpy-free.
        """
        import numpy as np

        images = np.asarray(images)
        if images.ndim == 3:
            images = images[..., np.newaxis]
        x: np.ndarray
        if self.preset == "unit":
            x = images.astype(np.float32) / np.float32(255.0)
        else:
            x = images.astype(np.float32) * np.float32(self.scale) + np.float32(self.offset)
        return x

    @property
    def formula(self) -> str:
        if self.preset in _FORMULAS:
            return _FORMULAS[self.preset]
        sign = "-" if self.offset < 0 else "+"
        return f"x * {self.scale!r} {sign} {abs(self.offset)!r}"

    def to_json(self, input_shape: tuple[int, int, int] | None = None) -> dict[str, Any]:
        """The ``preprocessing`` object of the metadata and the manifest."""
        if input_shape is not None:
            h, w, c = input_shape
            what = f"uint8 {self.color} {h}x{w}" + ("" if c == 1 else f"x{c} (RGB)")
        else:
            what = f"uint8 {self.color}"
        if self.prepare == "mnist":
            what += ", white digit on black (MNIST)"
        return {
            "input": what,
            "scale": self.scale,
            "offset": self.offset,
            "dtype": "float32",
            "layout": "NHWC",
            "formula": self.formula,
            "preset": self.preset,
            "color": self.color,
            "prepare": self.prepare,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any] | None, channels: int | None = None) -> Preprocessing:
        """From a metadata/manifest object; missing keys take the defaults (colour from ``channels``)."""
        obj = obj if isinstance(obj, dict) else {}
        try:
            scale = float(obj.get("scale", 1 / 255))
            offset = float(obj.get("offset", 0.0))
        except (TypeError, ValueError):
            scale, offset = 1 / 255, 0.0
        color = str(obj["color"]) if obj.get("color") in COLORS else ("rgb" if channels == 3 else "grey")
        prepare = str(obj["prepare"]) if obj.get("prepare") in PREPARES else "resize"
        preset = str(obj["preset"]) if obj.get("preset") in (*PRESETS, "custom") else _preset_of(scale, offset)
        return cls(scale, offset, preset, color, prepare)


def _preset_of(scale: float, offset: float) -> str:
    for name, (s, o) in PRESETS.items():
        if abs(scale - s) <= 1e-9 * max(1.0, abs(s)) and abs(offset - o) <= 1e-9:
            return name
    return "custom"


@dataclass(frozen=True)
class ModelSpec:
    """Everything a runtime, a bundle or a device app needs to feed the model and read its answer."""

    name: str  # base of file names: f"{name}_{precision}.tflite"
    input_shape: tuple[int, int, int]  # (H, W, C)
    labels: tuple[str, ...]  # K class names, in output order
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    head: str = "softmax"  # the Keras model's output; every exported file outputs probabilities
    input_name: str = "image"
    output_name: str = "probabilities"

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def height(self) -> int:
        return self.input_shape[0]

    @property
    def width(self) -> int:
        return self.input_shape[1]

    @property
    def channels(self) -> int:
        return self.input_shape[2]

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``"model"`` object."""
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "labels": list(self.labels),
            "num_classes": self.num_classes,
            "preprocessing": self.preprocessing.to_json(self.input_shape),
            "head": self.head,
            "input": self.input_name,
            "output": self.output_name,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_json` (also reads embedded metadata, whose keys are the same)."""
        shape = tuple(int(d) for d in obj["input_shape"])
        if len(shape) != 3:
            raise ValueError(f"input_shape {list(shape)}: expected [H, W, C]")
        head = str(obj["head"]) if obj.get("head") in HEADS else "softmax"
        return cls(
            name=str(obj.get("name") or "model"),
            input_shape=shape,
            labels=tuple(str(x) for x in obj["labels"]),
            preprocessing=Preprocessing.from_json(obj.get("preprocessing"), shape[2]),
            head=head,
            input_name=str(obj.get("input") or "image"),
            output_name=str(obj.get("output") or "probabilities"),
        )

    @classmethod
    def from_metadata(
        cls, meta: dict[str, Any] | None, input_shape: tuple[int, ...] | None = None,
        num_classes: int | None = None,
    ) -> ModelSpec:
        """The spec of an exported file from its embedded metadata.

        Files written before the spec existed (no ``input_shape`` key) are the reference CNN's:
        they get :data:`REFERENCE`, with the labels/preprocessing they do carry. ``input_shape``
        (H, W, C) and ``num_classes``, read from the file's tensors, win over the metadata.
        """
        meta = meta if isinstance(meta, dict) else {}
        base = REFERENCE
        shape: tuple[int, ...]
        if "input_shape" not in meta and input_shape is None and num_classes is None:
            shape = base.input_shape
        else:
            shape = tuple(int(d) for d in (input_shape or meta.get("input_shape") or base.input_shape))
        labels = meta.get("labels")
        k = num_classes if num_classes is not None else (len(labels) if isinstance(labels, list) else base.num_classes)
        if not (isinstance(labels, list) and len(labels) == k):
            labels = base.labels if k == base.num_classes else [str(i) for i in range(k)]
        pre = meta.get("preprocessing")
        if isinstance(pre, dict) and "input_shape" not in meta and "prepare" not in pre \
                and tuple(shape) == base.input_shape:
            pre = {**pre, "prepare": base.preprocessing.prepare}  # an old reference file: MNIST digits
        head = str(meta["head"]) if meta.get("head") in HEADS else "softmax"
        return cls(
            name=str(meta.get("name") or base.name),
            input_shape=tuple(shape),  # type: ignore[arg-type]
            labels=tuple(str(x) for x in labels),
            preprocessing=Preprocessing.from_json(pre if isinstance(pre, dict) else None, shape[2])
            if isinstance(pre, dict) else (base.preprocessing if tuple(shape) == base.input_shape
                                           else Preprocessing(color="rgb" if shape[2] == 3 else "grey")),
            head=head,
            input_name=str(meta.get("input") or "image"),
            output_name=str(meta.get("output") or "probabilities"),
        )

    def metadata(self) -> dict[str, Any]:
        """The spec's keys of the embedded metadata JSON."""
        return {
            "name": self.name,
            "labels": list(self.labels),
            "preprocessing": self.preprocessing.to_json(self.input_shape),
            "input": self.input_name,
            "output": self.output_name,
            "input_shape": list(self.input_shape),
            "head": self.head,
        }


def default_labels(k: int) -> tuple[str, ...]:
    """``0 .. K-1`` as strings: the class names when neither the data nor --labels give any."""
    return tuple(str(i) for i in range(k))


def safe_name(text: str) -> str:
    """A file-name-safe model name: letters, digits, ``_`` and ``-``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_")
    return name or "model"


# The default: the reference CNN (edgecnn.model.build_reference_model) on MNIST.
REFERENCE = ModelSpec(
    name="mnist_cnn",
    input_shape=(28, 28, 1),
    labels=default_labels(10),
    preprocessing=Preprocessing(1 / 255, 0.0, "unit", "grey", "mnist"),
    head="softmax",
)
