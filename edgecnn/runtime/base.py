"""The Predictor interface shared by the TFLite and ONNX runtimes, and input checking."""

from __future__ import annotations

import functools
import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import TensorSpec, manifest_precision
from edgecnn.errors import InputError, ModelError
from edgecnn.spec import REFERENCE, ModelSpec

log = logging.getLogger(__name__)

METADATA_KEY = "edgecnn"  # key of the JSON metadata embedded in exported files


@dataclass(frozen=True)
class RuntimeOptions:
    """Runtime settings that change speed, never results."""

    num_threads: int = 1  # one thread: the honest per-core figure for small edge devices
    xnnpack: bool = True  # TFLite: XNNPACK delegate (LiteRT's default CPU path)
    # ONNX Runtime graph level (ORT's own default). On edgecnn's graph (pool before tanh) "all"
    # (NCHWc convs + pooling) measured fastest: vs "extended" float32 ~7 % faster at batch 256
    # and at batch 1, int8 QDQ ~1.9x faster at batch 256. benchmarks/onnx_choice.py re-measures.
    ort_optimization: str = "all"
    # ONNX Runtime's intra-op spin-waiting. None: on with two or more threads (ORT's own default: the
    # pool's workers stay awake between the parts of one call; measured here at batch 256, 2 threads:
    # 1.55x one thread without it, 1.97x with it), off with one thread, where there is no pool to keep awake.
    ort_spinning: bool | None = None

    @property
    def spinning(self) -> bool:
        """Whether ONNX Runtime spin-waits with these settings."""
        return self.num_threads > 1 if self.ort_spinning is None else self.ort_spinning


def to_model_input(images: Any, shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Check images and scale them to [0, 1]: -> float32 (N, H, W, C) = pixels / 255.

    ``shape`` is the model's (H, W, C) (default: the reference CNN's). Accepts uint8 pixels
    (0-255) or floats already in [0, 1], shaped (H, W[, C]) or (N, H, W[, C]) (the C axis may
    be left out when C == 1). Anything else raises a ValueError (InputError) that says what was
    expected. The model's own affine map (``Preprocessing``) is applied by the Predictor.
    """
    h, w, c = shape or REFERENCE.input_shape
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype in (np.float16, np.float32, np.float64):
        if arr.size and not np.isfinite(arr).all():
            raise InputError("input holds NaN or inf; expected finite values in [0, 1]")
        if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
            raise InputError(
                f"float input spans [{arr.min():.3g}, {arr.max():.3g}]; expected [0, 1] "
                "(pass uint8 for raw 0-255 pixels)"
            )
    else:
        raise InputError(f"input dtype {arr.dtype} not supported; expected uint8 pixels or float in [0, 1]")
    if c == 1:
        if arr.shape == (h, w):
            arr = arr[np.newaxis]
        if arr.ndim == 4 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        ok = arr.ndim == 3 and arr.shape[1:] == (h, w)
        if ok:
            arr = arr[..., np.newaxis]
        expected = f"({h}, {w}), (N, {h}, {w}) or (N, {h}, {w}, 1)"
    else:
        if arr.shape == (h, w, c):
            arr = arr[np.newaxis]
        ok = arr.ndim == 4 and arr.shape[1:] == (h, w, c)
        expected = f"({h}, {w}, {c}) or (N, {h}, {w}, {c})"
    if not ok:
        raise InputError(f"input shape {np.asarray(images).shape} not supported; expected {expected}")
    if arr.dtype == np.uint8:
        return REFERENCE.preprocessing.apply(arr)  # the reference CNN's x / 255
    return arr.astype(np.float32, copy=False)


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """float -> int8/uint8 with the tensor's own scale and zero point."""
    info = np.iinfo(spec.dtype)
    q = np.round(x / np.float32(spec.scale)) + spec.zero_point
    out: np.ndarray = np.clip(q, info.min, info.max).astype(spec.dtype)
    return out


def dequantize(q: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """int8/uint8 -> float32 with the tensor's own scale and zero point."""
    out: np.ndarray = (np.float32(spec.scale) * (q.astype(np.float32) - np.float32(spec.zero_point))).astype(np.float32)
    return out


class Predictor(ABC):
    """A loaded model: ``predict`` gives probabilities, ``classify`` digits and confidences."""

    format: str = ""

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        self.path = Path(path)
        self.options = options
        self.input_spec: TensorSpec
        self.output_spec: TensorSpec
        self.metadata = {}

    @property
    def metadata(self) -> dict[str, Any]:
        """The file's embedded edgecnn metadata (labels, preprocessing, precision …); {} if none."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._metadata = value
        self.__dict__.pop("_pixel_table", None)  # the preprocessing may have changed
        self.__dict__.pop("spec", None)

    @functools.cached_property
    def spec(self) -> ModelSpec:
        """The model record (name, input shape, labels, preprocessing, head) from the embedded
        metadata; the tensors' shapes win; files without it are the reference CNN's."""
        h, w, c = self.input_shape
        shape = (h, w, 1) if self.grey_in_graph else (h, w, c)
        return ModelSpec.from_metadata(self.metadata, input_shape=shape, num_classes=self.num_classes)

    @property
    def grey_in_graph(self) -> bool:
        """The file takes RGB and converts it to grey inside (an app variant of a grey model, export/app.py):
        the model's own input is grey, and grey pictures are accepted (given as R = G = B)."""
        app = self.metadata.get("app")
        return isinstance(app, dict) and app.get("rgb_to_grey") is True and self.input_shape[2] == 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the model's input."""
        return tuple(int(d) for d in self.input_spec.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return int(self.output_spec.shape[-1])

    # -- what subclasses provide -------------------------------------------------------
    @abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """One raw call: ``x`` already in the input tensor's dtype; returns the raw output."""

    # -- derived ----------------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        return self.spec.labels

    @property
    def precision(self) -> str:
        # The file's own metadata, then the manifest beside it (by sha256), then its input type: never its name.
        return str(self.metadata.get("precision") or manifest_precision(self.path)
                   or ("int8" if self.input_spec.quantized else "float32"))

    @property
    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing the file says it expects (embedded metadata), else edgecnn's own."""
        pre = self.metadata.get("preprocessing")
        return pre if isinstance(pre, dict) else self.spec.preprocessing.to_json(self.spec.input_shape)

    def prepare(self, images: Any) -> np.ndarray:
        """Validate, preprocess and (for int8 inputs) quantize: the array ``run`` takes."""
        arr = np.asarray(images)
        h, w, c = self.input_shape
        if self.grey_in_graph and (arr.shape[-2:] == (h, w) and arr.ndim in (2, 3)
                                   or arr.ndim == 4 and arr.shape[1:] == (h, w, 1)):
            arr = np.repeat(arr.reshape(-1, h, w, 1), 3, axis=-1)  # what the graph's luma of R = G = B gives back
        if arr.dtype == np.uint8 and (
            c == 1 and (arr.shape[-2:] == (h, w) and arr.ndim in (2, 3) or arr.ndim == 4 and arr.shape[1:] == (h, w, 1))
            or c > 1 and arr.shape[-3:] == (h, w, c) and arr.ndim in (3, 4)
        ):
            # Pixels: preprocessing and quantization are per-pixel maps of 256 values, so one
            # table lookup gives exactly what the arithmetic below gives, in a fraction of the time.
            table: np.ndarray = self._pixel_table[arr.reshape(-1, h, w, c)]
            return table
        return self._from_unit(to_model_input(arr, self.input_shape))

    def _from_unit(self, x: np.ndarray) -> np.ndarray:
        """float32 pixels / 255 -> the model's input: the file's own affine map, then int8 quantization."""
        scale, offset = self._scale_offset()
        if not (np.isclose(scale, 1.0 / 255.0, rtol=1e-6, atol=0) and abs(offset) < 1e-9):
            # to_model_input gives pixels / 255; a file that asks for another affine map gets it.
            x = (x * np.float32(255.0 * scale) + np.float32(offset)).astype(np.float32)
        return quantize(x, self.input_spec) if self.input_spec.quantized else x

    @functools.cached_property
    def _output_table(self) -> np.ndarray:
        """Dequantized value of each 8-bit output code, indexed by the code's raw byte."""
        codes = np.arange(256, dtype=np.uint8).view(self.output_spec.dtype)
        return dequantize(codes, self.output_spec)

    @functools.cached_property
    def _pixel_table(self) -> np.ndarray:
        """The model input for each pixel value 0-255 (float32, or int8 for quantized inputs).

        Built once; assigning ``metadata`` drops it, so it follows the file's preprocessing.
        """
        x = self.spec.preprocessing.apply(np.arange(256, dtype=np.uint8))  # exactly what Keras is fed
        return quantize(x, self.input_spec) if self.input_spec.quantized else x

    def finish(self, raw: np.ndarray) -> np.ndarray:
        """Raw output -> float32 probabilities (dequantized for int8 outputs); NaN/inf is a ModelError."""
        if self.output_spec.quantized:
            # 8-bit codes dequantize through a 256-entry table (the same arithmetic, done once),
            # and are always finite.
            return self._output_table[raw.view(np.uint8)]
        probs = raw.astype(np.float32, copy=False)
        if not np.isfinite(probs).all():
            # Finite input gave NaN/inf: weights hold NaN/inf, i.e. the file is damaged.
            raise ModelError(f"{self.path}: the model computed NaN or inf (damaged weights?)")
        return probs

    def _scale_offset(self) -> tuple[float, float]:
        pre = self.spec.preprocessing
        return pre.scale, pre.offset

    def predict(self, images: Any) -> np.ndarray:
        """Probabilities (N x K) for images (see ``to_model_input`` for what is accepted)."""
        x = self.prepare(images)
        if len(x) == 0:  # an empty batch: nothing to run (LiteRT cannot resize to 0)
            return np.zeros((0, self.num_classes), np.float32)
        return self.finish(self.run(x))

    def classify(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        """(class indices, confidences): the top class of each image and its probability."""
        probs = self.predict(images)
        return probs.argmax(axis=1), probs.max(axis=1)

    def _check_io(self) -> None:
        """Refuse models that are not image classifiers: one NHWC image in, K scores out."""
        ishape, oshape = tuple(self.input_spec.shape), tuple(self.output_spec.shape)
        if len(ishape) != 4 or min(ishape[1:]) < 1 or ishape[3] not in (1, 3):
            raise ModelError(f"{self.path}: input is {list(ishape)}, expected an image [N, H, W, C] with C 1 or 3")
        if len(oshape) != 2 or oshape[1] < 1:
            raise ModelError(f"{self.path}: output is {list(oshape)}, expected class scores [N, K]")

    @staticmethod
    def _parse_metadata(text: str | bytes | None) -> dict[str, Any]:
        if not text:
            return {}
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            log.warning("ignoring unreadable embedded metadata")
            return {}
        return obj if isinstance(obj, dict) else {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, precision={self.precision!r})"
