"""TFLite files through the LiteRT interpreter (ai-edge-litert), without TensorFlow."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import TensorSpec
from edgecnn.errors import ModelError, first_line
from edgecnn.runtime.base import METADATA_KEY, Predictor, RuntimeOptions
from edgecnn.runtime.tflite_check import TFLiteCheckError, check_tflite


def _interpreter_class() -> tuple[Any, Any]:
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # a device that has only the older tflite-runtime wheel
        try:
            from tflite_runtime.interpreter import Interpreter, OpResolverType
        except ImportError as exc:
            raise ModelError("no TFLite runtime installed: pip install ai-edge-litert") from exc
    return Interpreter, OpResolverType


def read_tflite_metadata(model_bytes: bytes) -> str | None:
    """The JSON text stored under the ``edgecnn`` metadata entry of a TFLite flatbuffer."""
    from edgecnn.runtime.flatbuffer import read_metadata

    data = read_metadata(model_bytes, METADATA_KEY)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # metadata is optional: unreadable text is ignored, the load decides
        return None


def _spec(detail: dict[str, Any]) -> TensorSpec:
    shape = tuple(int(d) for d in detail.get("shape_signature", detail["shape"]))
    scale, zero_point = detail.get("quantization", (0.0, 0))
    dtype = np.dtype(detail["dtype"]).name
    quantized = dtype in ("int8", "uint8") and scale
    return TensorSpec(
        name=detail["name"], shape=shape, dtype=dtype,
        scale=float(scale) if quantized else None, zero_point=int(zero_point) if quantized else None,
    )


class TFLitePredictor(Predictor):
    """A ``.tflite`` model. One lock serializes calls: the interpreter is not thread-safe."""

    format = "tflite"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        super().__init__(path, options)
        Interpreter, OpResolverType = _interpreter_class()
        data = self.path.read_bytes()
        try:
            # Before LiteRT: some malformed files pass its verifier and then crash it natively.
            check_tflite(data)
        except TFLiteCheckError as exc:
            raise ModelError(f"{self.path}: not a valid TFLite model ({exc})") from exc
        self.model_bytes = data
        kwargs: dict[str, Any] = {"model_content": data, "num_threads": options.num_threads}
        if not options.xnnpack:
            # The builtin resolver without default delegates = LiteRT's reference CPU kernels.
            kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            self.interpreter = Interpreter(**kwargs)
            self.interpreter.allocate_tensors()
            inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        except Exception as exc:  # LiteRT raises ValueError/RuntimeError with long texts
            raise ModelError(f"{self.path}: not a loadable TFLite model ({first_line(exc)})") from exc
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: has {len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1")
        self._input_index = inputs[0]["index"]
        self._output_index = outputs[0]["index"]
        self.input_spec, self.output_spec = _spec(inputs[0]), _spec(outputs[0])
        self._check_io()
        self.metadata = self._parse_metadata(read_tflite_metadata(data))
        self._batch = int(inputs[0]["shape"][0])
        self._lock = threading.Lock()

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self._batch = -1  # unknown until allocation succeeds: a failed resize must not leave a stale size
            self.interpreter.resize_tensor_input(self._input_index, [batch, *self.input_shape], strict=True)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def run(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            try:
                self._resize(len(x))
                self.interpreter.set_tensor(self._input_index, x)
                self.interpreter.invoke()
                out: np.ndarray = self.interpreter.get_tensor(self._output_index)
                return out
            except (RuntimeError, ValueError) as exc:  # the input was checked: the model is at fault
                raise ModelError(f"{self.path}: inference failed ({first_line(exc)})") from exc
