"""App variants: the TFLite files MediaPipe Tasks and ML Kit accept as they are.

Both frameworks feed an image classifier a uint8 or float32 RGB tensor ``1 x H x W x 3`` only
(measured with MediaPipe 1.2.3: an int8 input is "Type mismatch ... got INT8", a grey model
"depth = 3 or 4. Got 1 x 28 x 28 x 1"). The app variant is the same converted graph with a few
operators around it, never a second calibration or a retrained model:

- int8 files: a uint8 input holding the pixel codes as they are (its quantization *is* the
  model's preprocessing, ``x = pixel * scale + offset`` with an integer zero point) and a
  QUANTIZE to the int8 core; where the zero point ``-offset/scale`` is not an integer (the
  ``symmetric`` preset: 127.5) a float32 input with NormalizationOptions instead. The output
  is DEQUANTIZE'd to float32 probabilities: both frameworks accept it, an app reading the raw
  Interpreter gets probabilities without a scale/zero point, and 10-1000 values cost nothing.
- grey models (C == 1): an RGB input and a 1x1 convolution with ITU-R 601 luma weights
  (0.299, 0.587, 0.114: Pillow's ``convert("L")``, what edgecnn's image loader does) in float,
  ahead of the core. The weights sum to 1, so it commutes with the affine preprocessing and
  a grey picture given as R = G = B reaches the core unchanged.
- float32 RGB files are already framework-ready: their app variant is the same graph.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgecnn.artifact import Artifact

LUMA = (0.299, 0.587, 0.114)  # ITU-R 601-2, as PIL's convert("L")
_FLOAT32, _UINT8, _INT8 = 0, 3, 9  # schema TensorType
_CONV_2D, _DEQUANTIZE, _QUANTIZE = 3, 6, 114  # BuiltinOperator


def pixel_quantization(preprocessing) -> tuple[float, int] | None:
    """(scale, zero point) of a uint8 tensor whose codes are the pixels: real = scale * (p - zp).

    ``x = p * scale + offset`` is that with ``zp = -offset / scale``; None when ``zp`` is not an
    integer in 0..255 (then the app variant takes float32 with NormalizationOptions).
    """
    scale, offset = float(preprocessing.scale), float(preprocessing.offset)
    zero_point = -offset / scale if scale > 0 else -1.0
    if abs(zero_point - round(zero_point)) > 1e-6 or not 0 <= round(zero_point) <= 255:
        return None
    return scale, round(zero_point)


def app_graph(model_bytes: bytes, preprocessing) -> tuple[bytes, dict]:
    """The converter's flatbuffer with the app input/output around it, and what was added.

    Args:
        model_bytes: the converter's flatbuffer (float32 or full-integer int8 I/O).
        preprocessing: the model's ``spec.Preprocessing`` (the uint8 input's quantization).
    Returns:
        (flatbuffer, record) where record says the input dtype, whether RGB -> grey runs in the
        graph and the operators added (the ``app`` key of the embedded metadata).
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    g = _Graph(model, schema)
    sg = model.subgraphs[0]
    core_in, core_out = sg.inputs[0], sg.outputs[0]
    tin = sg.tensors[core_in]
    quantized, grey = tin.type == _INT8, int(tin.shape[-1]) == 1
    pixels = pixel_quantization(preprocessing) if quantized else None
    front: list = []
    if not (quantized or grey):  # float32 RGB: already what the frameworks take
        x = new_in = core_in
    else:
        x = new_in = g.tensor("image", _UINT8 if pixels else _FLOAT32, tin, channels=3, quant=pixels)
    if grey:
        if pixels:
            front.append(g.op(_DEQUANTIZE, [x], [y := g.tensor("image_rgb", _FLOAT32, tin, channels=3)]))
            x = y
        target = g.tensor("image_grey", _FLOAT32, tin, channels=1) if quantized else core_in
        weights = g.constant("luma", np.array(LUMA, np.float32).reshape(1, 1, 1, 3))
        bias = g.constant("luma_bias", np.zeros(1, np.float32))
        options = schema.Conv2DOptionsT()
        options.padding, options.strideW, options.strideH = schema.Padding.VALID, 1, 1
        options.dilationWFactor = options.dilationHFactor = 1
        front.append(g.op(_CONV_2D, [x, weights, bias], [target], schema.BuiltinOptions.Conv2DOptions, options))
        x = target
    if quantized:
        front.append(g.op(_QUANTIZE, [x], [core_in], version=2))
    back = []
    new_out = core_out
    if quantized:
        tout = sg.tensors[core_out]
        new_out = g.tensor("probabilities", _FLOAT32, tout)
        back.append(g.op(_DEQUANTIZE, [core_out], [new_out], version=2))
    if new_in != core_in:
        tin.name = b"image_core"
    if new_out != core_out:
        sg.tensors[core_out].name = b"probabilities_core"
    sg.operators = front + list(sg.operators) + back
    sg.inputs, sg.outputs = [new_in], [new_out]
    for signature in model.signatureDefs or []:
        for tensor_map in signature.inputs or []:
            tensor_map.tensorIndex = new_in
        for tensor_map in signature.outputs or []:
            tensor_map.tensorIndex = new_out
    record = {"input": "uint8" if pixels else "float32", "rgb_to_grey": grey, "pixels_as_is": bool(pixels),
              "core": "int8" if quantized else "float32",
              "added_ops": [g.names[op.opcodeIndex] for op in front + back]}
    return g.pack(), record


class _Graph:
    """Adds tensors, constants, operators and operator codes to a ``ModelT``."""

    def __init__(self, model, schema) -> None:
        self.model, self.schema = model, schema
        self.sg = model.subgraphs[0]
        self.names: dict[int, str] = {}

    def tensor(self, name: str, dtype: int, like, channels: int | None = None, quant=None) -> int:
        t = self.schema.TensorT()
        shape = [int(d) for d in like.shape]
        signature = [int(d) for d in like.shapeSignature] if like.shapeSignature is not None else None
        if channels is not None:
            shape[-1] = channels
            if signature is not None:
                signature[-1] = channels
        t.shape = np.array(shape, np.int32)
        t.shapeSignature = np.array(signature, np.int32) if signature is not None else None
        t.type, t.name, t.buffer = dtype, name.encode(), self._buffer(None)
        if quant is not None:
            q = self.schema.QuantizationParametersT()
            q.scale, q.zeroPoint = [float(quant[0])], [int(quant[1])]
            t.quantization = q
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def constant(self, name: str, value: np.ndarray) -> int:
        t = self.schema.TensorT()
        t.shape, t.type, t.name = np.array(value.shape, np.int32), _FLOAT32, name.encode()
        t.buffer = self._buffer(np.frombuffer(value.astype("<f4").tobytes(), np.uint8))
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], options_type: int = 0, options=None,
           version: int = 1):
        op = self.schema.OperatorT()
        op.opcodeIndex = self._opcode(code, version)
        op.inputs, op.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        if options is not None:
            op.builtinOptionsType, op.builtinOptions = options_type, options
        return op

    def _buffer(self, data) -> int:
        if data is None:
            return 0  # the schema's empty sentinel buffer: a tensor computed at run time
        buffer = self.schema.BufferT()
        buffer.data = data
        self.model.buffers.append(buffer)
        return len(self.model.buffers) - 1

    def _opcode(self, code: int, version: int) -> int:
        names = {_CONV_2D: "CONV_2D", _DEQUANTIZE: "DEQUANTIZE", _QUANTIZE: "QUANTIZE"}
        for i, opcode in enumerate(self.model.operatorCodes):
            if max(opcode.builtinCode, opcode.deprecatedBuiltinCode) == code:
                opcode.version = max(opcode.version, version)
                self.names[i] = names[code]
                return i
        opcode = self.schema.OperatorCodeT()
        opcode.builtinCode, opcode.deprecatedBuiltinCode, opcode.version = code, code, version
        self.model.operatorCodes.append(opcode)
        self.names[len(self.model.operatorCodes) - 1] = names[code]
        return len(self.model.operatorCodes) - 1

    def pack(self) -> bytes:
        import flatbuffers

        builder = flatbuffers.Builder(1 << 16)
        builder.Finish(self.model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def app_variant(plain: bytes) -> tuple[bytes, dict]:
    """The app variant of a plain edgecnn ``.tflite`` (float32 or int8), TF-free.

    Args:
        plain: the bytes of a file ``export`` wrote (its edgecnn metadata says the preprocessing).
    Returns:
        (the app file's bytes, its edgecnn metadata). ``export`` writes exactly these bytes for the
        ``*_app`` targets, and ``bundle`` derives them from the exported files when they are missing.
    """
    import json

    from edgecnn.errors import ModelError
    from edgecnn.export.tflite import finalize_flatbuffer
    from edgecnn.runtime.model_metadata import flatbuffer_part
    from edgecnn.runtime.tflite import read_tflite_metadata
    from edgecnn.spec import ModelSpec

    text = read_tflite_metadata(plain)
    meta = json.loads(text) if text else None
    if not isinstance(meta, dict) or meta.get("precision") not in ("float32", "int8"):
        raise ModelError("not a float32 or int8 edgecnn TFLite file: no app variant of it")
    graph, record = app_graph(flatbuffer_part(plain), ModelSpec.from_metadata(meta).preprocessing)
    meta = {**meta, "precision": f"{meta['precision']}_app", "app": record}
    return finalize_flatbuffer(graph, meta, input_pixels=record["pixels_as_is"]), meta


def _export_app(model, out_dir: Path, filename: str, core: str, options) -> Artifact:
    from edgecnn.export.common import (
        calibration_record,
        embedded_metadata,
        write_artifact,
    )
    from edgecnn.export.tflite import convert_checked, finalize_flatbuffer

    started = time.perf_counter()
    if core == "int8" and options.max_drop is not None:
        # --max-drop: the file the accuracy loop keeps (float32 layers and all), then its app variant.
        import tempfile

        from edgecnn.export.tflite_accuracy import export_controlled

        with tempfile.TemporaryDirectory(prefix="edgecnn-app-") as tmp:
            kept = export_controlled(model, Path(tmp), filename, options)
            plain = kept.path.read_bytes()
        extra = {key: kept.extra[key] for key in ("calibration", "quantization") if key in kept.extra}
    else:
        extra = {"calibration": calibration_record(options)} if core == "int8" else {}
        # The plain file's bytes first (what export writes for `core`), then its app variant.
        meta = embedded_metadata("tflite", core, options, **extra)
        plain = finalize_flatbuffer(convert_checked(model, core, options), meta)
    data, meta = app_variant(plain)
    return write_artifact(data, Path(out_dir) / filename, "tflite", meta["precision"], started, spec=options.spec,
                          app=meta["app"], **extra)
def export_float32_app(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """The float32 file for the app frameworks: RGB float32 input (grey models convert inside)."""
    return _export_app(model, out_dir, filename, "float32", options)


def export_int8_app(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """The int8 file for the app frameworks: uint8 RGB pixels in (float32 where the zero point is not an
    integer), float32 probabilities out, the int8 core of the int8 file."""
    return _export_app(model, out_dir, filename, "int8", options)
