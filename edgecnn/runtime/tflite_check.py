"""A structural check of a TFLite flatbuffer, run before LiteRT sees the bytes.

LiteRT runs the flatbuffers verifier, which proves that every offset stays inside the
buffer, but not that the model makes sense: a file with no subgraph, an operator whose
tensor index points past the tensor list or a weight buffer shorter than its tensor
passes the verifier and then crashes the interpreter natively (SIGSEGV), taking the
whole process down. benchmarks/fuzz.py found such files among a few thousand byte
mutations. This check closes those holes in pure Python, in about a millisecond for the
reference model.

It reads the flatbuffer with the ``struct`` readers of ``edgecnn/runtime/flatbuffer.py``,
not through ``ai_edge_litert.schema_py_generated``: importing that generated module costs
~16 ms, a large share of ``edgecnn predict``'s cold start. Those readers make the same
reads, in the same order, as the generated accessors, so a damaged file fails the same
check with the same message.
Field numbers follow tensorflow/compiler/mlir/lite/schema/schema.fbs (the vtable slot of
field ``n`` is ``4 + 2 * n``; the generated ``Model.Buffers`` reads slot 12: field 4).
"""

from __future__ import annotations

import logging
import math
import struct

import numpy as np

from edgecnn.runtime import flatbuffer as fb

log = logging.getLogger(__name__)

IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
# Bytes per element for the tensor types whose weight buffers can be size-checked.
_ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2, 18: 2}
_MAX_ELEMENTS = 1 << 31  # tensors beyond 2**31 elements are not something this toolkit ever writes
CUSTOM = 32  # BuiltinOperator.CUSTOM
_FLOAT_TYPES = {0: np.float32, 1: np.float16}  # TensorType FLOAT32, FLOAT16: weights must be finite
# Enum maxima of the schema that ai-edge-litert 2.3.0 ships (schema_py_generated):
_MAX_BUILTIN = 209  # max(BuiltinOperator): STABLEHLO_SHIFT_LEFT
_MAX_TENSOR_TYPE = 22  # max(TensorType): INT2

# Field numbers (schema.fbs).
_MODEL_VERSION, _MODEL_OPERATOR_CODES, _MODEL_SUBGRAPHS = 0, 1, 2  # Model.version, .operator_codes, .subgraphs
_MODEL_BUFFERS, _MODEL_METADATA, _MODEL_SIGNATURE_DEFS = 4, 6, 7  # Model.buffers, .metadata, .signature_defs
_OPCODE_DEPRECATED_BUILTIN, _OPCODE_CUSTOM, _OPCODE_BUILTIN = 0, 1, 3  # OperatorCode.deprecated_builtin_code (byte),
#                                                      .custom_code (string), .builtin_code (BuiltinOperator: int)
_BUF_DATA, _BUF_OFFSET, _BUF_SIZE = 0, 1, 2  # Buffer.data ([ubyte]), .offset (ulong), .size (ulong)
_SG_TENSORS, _SG_INPUTS, _SG_OUTPUTS, _SG_OPERATORS = 0, 1, 2, 3  # SubGraph.tensors, .inputs, .outputs, .operators
_TENSOR_SHAPE, _TENSOR_TYPE, _TENSOR_BUFFER = 0, 1, 2  # Tensor.shape ([int]), .type (TensorType: byte), .buffer (uint)
_TENSOR_QUANT, _TENSOR_SPARSITY, _TENSOR_SHAPE_SIG = 4, 6, 7  # Tensor.quantization, .sparsity, .shape_signature
_QUANT_SCALE, _QUANT_ZERO_POINT, _QUANT_DIM = 2, 3, 6  # QuantizationParameters.scale ([float]),
#                                                         .zero_point ([long]), .quantized_dimension (int)
_OP_OPCODE_INDEX, _OP_INPUTS, _OP_OUTPUTS, _OP_INTERMEDIATES = 0, 1, 2, 8  # Operator.opcode_index (uint), .inputs,
#                                                                             .outputs, .intermediates ([int])
_SIG_INPUTS, _SIG_OUTPUTS, _SIG_SUBGRAPH = 0, 1, 4  # SignatureDef.inputs, .outputs ([TensorMap]), .subgraph_index
_TMAP_TENSOR_INDEX = 1  # TensorMap.tensor_index (uint)
_META_BUFFER = 1  # Metadata.buffer (uint)

_I32_VEC, _I64_VEC, _F32_VEC = np.dtype("<i4"), np.dtype("<i8"), np.dtype("<f4")


class TFLiteCheckError(ValueError):
    """What is structurally wrong with a TFLite file (the caller adds the file name)."""


def check_tflite(data: bytes) -> None:
    """Raise TFLiteCheckError if ``data`` is not a structurally sound TFLite model."""
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise TFLiteCheckError("not a TFLite flatbuffer (no TFL3 identifier)")
    try:
        _check(data)
    except TFLiteCheckError:
        raise
    except (IndexError, ValueError, TypeError, struct.error, UnicodeDecodeError, OverflowError, fb.OutOfRange) as exc:
        # An offset into nowhere: a Python reader fails where C++ would read wild memory.
        raise TFLiteCheckError("malformed flatbuffer: an offset points outside the file") from exc


def _ints(value: np.ndarray | None) -> np.ndarray:
    """A vector read by ``fb.array`` (None when the vector is absent) as an int64 array."""
    return np.zeros(0, np.int64) if value is None else np.asarray(value, np.int64)


def _floats(value: np.ndarray | None) -> np.ndarray:
    return np.zeros(0, np.float32) if value is None else np.asarray(value, np.float32)


def _count(n: int, what: str, size: int) -> int:
    # Every vector element takes at least 4 bytes: a longer vector is a corrupt length field.
    if n < 0 or 4 * n > size:
        raise TFLiteCheckError(f"corrupt {what} count ({n})")
    return n


def _check(data: bytes) -> None:
    """Every check, in the order the fields are read (so a damaged file fails where it first is)."""
    size = len(data)
    model = fb.U32(data, 0)[0]  # the root table
    version = fb.scalar(data, model, _MODEL_VERSION, fb.U32)
    if version != SCHEMA_VERSION:
        raise TFLiteCheckError(f"schema version {version}, expected {SCHEMA_VERSION}")
    codes_start, n_codes = fb.vector(data, model, _MODEL_OPERATOR_CODES)
    n_codes = _count(n_codes, "operator code", size)
    subgraphs_start, n_subgraphs = fb.vector(data, model, _MODEL_SUBGRAPHS)
    n_subgraphs = _count(n_subgraphs, "subgraph", size)
    buffers_start, n_buffers = fb.vector(data, model, _MODEL_BUFFERS)
    n_buffers = _count(n_buffers, "buffer", size)
    if n_subgraphs == 0:
        raise TFLiteCheckError("holds no subgraph")
    _check_operator_codes(data, codes_start, n_codes)
    buffer_sizes, buffer_tables = _check_buffers(data, buffers_start, n_buffers)
    tensor_counts = [_check_subgraph(data, fb.element(data, subgraphs_start, g), g, n_codes, buffer_sizes,
                                     buffer_tables) for g in range(n_subgraphs)]
    _check_signatures(data, model, tensor_counts)
    metadata_start, n_metadata = fb.vector(data, model, _MODEL_METADATA)
    for i in range(_count(n_metadata, "metadata", size)):
        buffer = fb.scalar(data, fb.element(data, metadata_start, i), _META_BUFFER, fb.U32)
        if not 0 <= buffer < n_buffers:
            raise TFLiteCheckError(f"metadata {i} names buffer {buffer} of {n_buffers}")


def _check_operator_codes(data: bytes, codes_start: int, n_codes: int) -> None:
    for i in range(n_codes):
        code = fb.element(data, codes_start, i)
        builtin = max(fb.scalar(data, code, _OPCODE_BUILTIN, fb.I32),
                      fb.scalar(data, code, _OPCODE_DEPRECATED_BUILTIN, fb.I8))
        if not 0 <= builtin <= _MAX_BUILTIN:
            raise TFLiteCheckError(f"operator code {i} is unknown builtin {builtin}")
        if builtin == CUSTOM and not fb.string(data, code, _OPCODE_CUSTOM):
            raise TFLiteCheckError(f"operator code {i} is a custom op without a name")


def _check_buffers(data: bytes, buffers_start: int, n_buffers: int) -> tuple[list[int], list[int]]:
    """(bytes of each buffer, its table position); a buffer stored past the end of the file raises."""
    buffer_sizes = []
    buffer_tables = []
    for i in range(n_buffers):
        buf = fb.element(data, buffers_start, i)
        offset, length = fb.scalar(data, buf, _BUF_OFFSET, fb.U64), fb.scalar(data, buf, _BUF_SIZE, fb.U64)
        if offset > 1 and offset + length > len(data):  # offset/size: buffers stored after the flatbuffer
            raise TFLiteCheckError(f"buffer {i} points past the end of the file")
        buffer_sizes.append(length if offset > 1 else fb.vector(data, buf, _BUF_DATA)[1])
        buffer_tables.append(buf)
    return buffer_sizes, buffer_tables


def _check_subgraph(data: bytes, subgraph: int, g: int, n_codes: int, buffer_sizes: list[int],
                    buffer_tables: list[int]) -> int:
    """Check subgraph ``g``: its tensors, inputs, outputs and operators; returns its tensor count."""
    tensors_start, n_tensors = fb.vector(data, subgraph, _SG_TENSORS)
    n_tensors = _count(n_tensors, "tensor", len(data))
    for t in range(n_tensors):
        tensor = fb.element(data, tensors_start, t)
        dtype, buffer = _check_tensor(data, tensor, g, t, len(buffer_sizes), buffer_sizes)
        if dtype in _FLOAT_TYPES and buffer_sizes[buffer]:
            _check_finite(data, buffer_tables[buffer], _FLOAT_TYPES[dtype], g, t)
    inputs = _ints(fb.array(data, subgraph, _SG_INPUTS, _I32_VEC))
    _check_indices(inputs, n_tensors, f"subgraph {g} inputs", optional=False)
    outputs = _ints(fb.array(data, subgraph, _SG_OUTPUTS, _I32_VEC))
    _check_indices(outputs, n_tensors, f"subgraph {g} outputs", optional=False)
    if inputs.size == 0 or outputs.size == 0:
        raise TFLiteCheckError(f"subgraph {g} has no inputs or no outputs")
    operators_start, n_operators = fb.vector(data, subgraph, _SG_OPERATORS)
    for o in range(_count(n_operators, "operator", len(data))):
        op = fb.element(data, operators_start, o)
        opcode_index = fb.scalar(data, op, _OP_OPCODE_INDEX, fb.U32)
        if not 0 <= opcode_index < n_codes:
            raise TFLiteCheckError(f"operator {o} uses operator code {opcode_index} of {n_codes}")
        where = f"operator {o} of subgraph {g}"
        _check_indices(_ints(fb.array(data, op, _OP_INPUTS, _I32_VEC)), n_tensors, f"{where} inputs", optional=True)
        _check_indices(_ints(fb.array(data, op, _OP_OUTPUTS, _I32_VEC)), n_tensors, f"{where} outputs",
                       optional=False)
        _check_indices(_ints(fb.array(data, op, _OP_INTERMEDIATES, _I32_VEC)), n_tensors, f"{where} intermediates",
                       optional=True)
    return n_tensors


def _check_signatures(data: bytes, model: int, tensor_counts: list[int]) -> None:
    signatures_start, n_signatures = fb.vector(data, model, _MODEL_SIGNATURE_DEFS)
    for i in range(_count(n_signatures, "signature", len(data))):
        signature = fb.element(data, signatures_start, i)
        g = fb.scalar(data, signature, _SIG_SUBGRAPH, fb.U32)
        if not 0 <= g < len(tensor_counts):
            raise TFLiteCheckError(f"signature {i} names subgraph {g} of {len(tensor_counts)}")
        inputs_start, n_inputs = fb.vector(data, signature, _SIG_INPUTS)
        maps = [fb.element(data, inputs_start, j) for j in range(_count(n_inputs, "signature input", len(data)))]
        outputs_start, n_outputs = fb.vector(data, signature, _SIG_OUTPUTS)
        maps += [fb.element(data, outputs_start, j) for j in range(_count(n_outputs, "signature output", len(data)))]
        for tensor_map in maps:
            index = fb.scalar(data, tensor_map, _TMAP_TENSOR_INDEX, fb.U32)
            if not 0 <= index < tensor_counts[g]:
                raise TFLiteCheckError(f"signature {i} names tensor {index} of {tensor_counts[g]}")


def _check_indices(indices: np.ndarray, n_tensors: int, what: str, optional: bool) -> None:
    low = -1 if optional else 0  # -1 marks an omitted optional operand
    if indices.size and (indices.min() < low or indices.max() >= n_tensors):
        bad = indices[(indices < low) | (indices >= n_tensors)][0]
        raise TFLiteCheckError(f"{what} name tensor {bad} of {n_tensors}")


def _check_tensor(data: bytes, tensor: int, g: int, t: int, n_buffers: int,
                  buffer_sizes: list[int]) -> tuple[int, int]:
    """Check one tensor table; return its (type, buffer index)."""
    where = f"tensor {t} of subgraph {g}"
    dtype = fb.scalar(data, tensor, _TENSOR_TYPE, fb.I8)
    if not 0 <= dtype <= _MAX_TENSOR_TYPE:
        raise TFLiteCheckError(f"{where} has unknown type {dtype}")
    shape = _ints(fb.array(data, tensor, _TENSOR_SHAPE, _I32_VEC))
    if shape.size > 16 or (shape.size and shape.min() < 0):
        raise TFLiteCheckError(f"{where} has invalid shape {shape.tolist()}")
    elements = math.prod(int(d) for d in shape)
    if elements > _MAX_ELEMENTS:
        raise TFLiteCheckError(f"{where} has {elements} elements")
    signature = _ints(fb.array(data, tensor, _TENSOR_SHAPE_SIG, _I32_VEC))
    if signature.size and (signature.size != shape.size or signature.min() < -1):
        raise TFLiteCheckError(f"{where} has shape signature {signature.tolist()} for shape {shape.tolist()}")
    buffer = fb.scalar(data, tensor, _TENSOR_BUFFER, fb.U32)
    if not 0 <= buffer < n_buffers:
        raise TFLiteCheckError(f"{where} names buffer {buffer} of {n_buffers}")
    if buffer_sizes[buffer] and dtype in _ITEMSIZE and fb.subtable(data, tensor, _TENSOR_SPARSITY) is None:
        expected = elements * _ITEMSIZE[dtype]
        if buffer_sizes[buffer] != expected:
            raise TFLiteCheckError(f"{where} needs {expected} bytes of data, its buffer holds {buffer_sizes[buffer]}")
    quant = fb.subtable(data, tensor, _TENSOR_QUANT)
    if quant is not None:
        scales = _floats(fb.array(data, quant, _QUANT_SCALE, _F32_VEC))
        zero_points = _ints(fb.array(data, quant, _QUANT_ZERO_POINT, _I64_VEC))
        if scales.size:
            if zero_points.size not in (0, scales.size):
                raise TFLiteCheckError(f"{where} has {scales.size} scales but {zero_points.size} zero points")
            if not np.isfinite(scales).all():
                raise TFLiteCheckError(f"{where} has a non-finite quantization scale")
            if scales.size > 1:
                axis = fb.scalar(data, quant, _QUANT_DIM, fb.I32)
                if not 0 <= axis < shape.size or shape[axis] != scales.size:
                    raise TFLiteCheckError(f"{where} has {scales.size} scales for axis {axis} "
                                           f"of shape {shape.tolist()}")
    return dtype, buffer


def _check_finite(data: bytes, buf: int, dtype: type[np.generic], g: int, t: int) -> None:
    """Float weights that hold NaN or inf: a damaged file (whatever the ops then make of it;
    a MaxPool, for one, may silently drop NaN and give finite nonsense)."""
    offset = fb.scalar(data, buf, _BUF_OFFSET, fb.U64)
    if offset > 1:
        raw = data[offset: offset + fb.scalar(data, buf, _BUF_SIZE, fb.U64)]
    else:
        start, length = fb.vector(data, buf, _BUF_DATA)  # Buffer.DataAsNumpy
        raw = np.frombuffer(data, dtype=np.uint8, count=length, offset=start).tobytes()
    values = np.frombuffer(raw, dtype=dtype, count=len(raw) // np.dtype(dtype).itemsize)
    if not np.isfinite(values).all():
        raise TFLiteCheckError(f"tensor {t} of subgraph {g} holds NaN or inf weights (damaged file?)")
