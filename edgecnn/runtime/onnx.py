"""ONNX files through ONNX Runtime's CPU provider."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import TensorSpec
from edgecnn.errors import ModelError, first_line
from edgecnn.runtime.base import METADATA_KEY, Predictor, RuntimeOptions

_ORT_TYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
              "tensor(float16)": "float16"}


def session_options(options: RuntimeOptions) -> Any:
    """ONNX Runtime settings from RuntimeOptions: threads as asked, inter-op 1, spinning as ``options.spinning``."""
    import onnxruntime as ort

    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    so = ort.SessionOptions()
    so.graph_optimization_level = levels[options.ort_optimization]
    so.intra_op_num_threads = options.num_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    spin = "1" if options.spinning else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    so.log_severity_level = 3  # errors only: warnings about unused initializers are noise here
    return so


def _spec(node: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else -1 for d in node.shape)
    return TensorSpec(node.name, shape, _ORT_TYPES.get(node.type, node.type))


class OnnxPredictor(Predictor):
    """A ``.onnx`` model. ``InferenceSession.run`` is thread-safe, so no lock is needed."""

    format = "onnx"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        super().__init__(path, options)
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=session_options(options), providers=["CPUExecutionProvider"]
            )
            inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
            meta = self.session.get_modelmeta().custom_metadata_map
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/… types
            raise ModelError(f"{self.path}: not a loadable ONNX model ({_ort_message(exc)})") from exc
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelError(f"{self.path}: has {len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1")
        self.input_spec, self.output_spec = _spec(inputs[0]), _spec(outputs[0])
        if self.input_spec.dtype != "float32":
            raise ModelError(f"{self.path}: input dtype {self.input_spec.dtype}, expected float32")
        self._check_io()
        self.metadata = self._parse_metadata(meta.get(METADATA_KEY))
        self._names = ([outputs[0].name], inputs[0].name)

    def run(self, x: np.ndarray) -> np.ndarray:
        output_names, input_name = self._names
        try:
            out: np.ndarray = self.session.run(output_names, {input_name: x})[0]
            return out
        except _ort_errors() as exc:  # the input was checked: the model is at fault
            raise ModelError(f"{self.path}: inference failed ({_ort_message(exc)})") from exc


def _ort_message(exc: BaseException) -> str:
    """ORT's first line without its '[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from <path> failed:'."""
    return re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : (Load model from .* failed:)?", "", first_line(exc)).strip()


def _ort_errors() -> tuple[type[BaseException], ...]:
    """ONNX Runtime's own exception types (they do not share a base class below Exception)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(
        c for c in vars(state).values() if isinstance(c, type) and issubclass(c, Exception)
    ) + (RuntimeError,)
