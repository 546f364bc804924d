"""A structural check of a TFLite flatbuffer, run before LiteRT sees the bytes.

LiteRT runs the flatbuffers verifier, which proves that every offset stays inside the
buffer, but not that the model makes sense: a file with no subgraph, an operator whose
tensor index points past the tensor list or a weight buffer shorter than its tensor
passes the verifier and then crashes the interpreter natively (SIGSEGV), taking the
whole process down. benchmarks/fuzz.py found such files among a few thousand byte
mutations. This check closes those holes in pure Python, reading the file through the
schema bindings that ai-edge-litert ships (``schema_py_generated``), in about a
millisecond for the reference model.
"""

from __future__ import annotations

import functools
import logging
import math
import struct

import numpy as np

log = logging.getLogger(__name__)

IDENTIFIER = b"TFL3"
SCHEMA_VERSION = 3
# Bytes per element for the tensor types whose weight buffers can be size-checked.
_ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4, 16: 2, 18: 2}
_MAX_ELEMENTS = 1 << 31  # tensors beyond 2**31 elements are not something this toolkit ever writes
CUSTOM = 32  # BuiltinOperator.CUSTOM
_FLOAT_TYPES = {0: np.float32, 1: np.float16}  # TensorType FLOAT32, FLOAT16: weights must be finite


class TFLiteCheckError(ValueError):
    """What is structurally wrong with a TFLite file (the caller adds the file name)."""


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:  # tflite-runtime wheels do not ship the schema bindings
        return None
    return schema


@functools.lru_cache(maxsize=None)
def _max_enum(cls) -> int:
    return max(v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int))


def _ints(value) -> np.ndarray:
    """A flatbuffers ``...AsNumpy()`` result (0 when the vector is absent) as an int64 array."""
    return np.zeros(0, np.int64) if isinstance(value, int) else np.asarray(value, np.int64)


def check_tflite(data: bytes) -> None:
    """Raise TFLiteCheckError if ``data`` is not a structurally sound TFLite model."""
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise TFLiteCheckError("not a TFLite flatbuffer (no TFL3 identifier)")
    schema = _schema()
    if schema is None:
        log.debug("no TFLite schema bindings installed; leaving the checks to LiteRT's verifier")
        return
    try:
        _check(schema, data)
    except TFLiteCheckError:
        raise
    except (IndexError, ValueError, TypeError, struct.error, UnicodeDecodeError, OverflowError) as exc:
        # An offset into nowhere: the flatbuffers Python reader fails where C++ would read wild memory.
        raise TFLiteCheckError("malformed flatbuffer: an offset points outside the file") from exc


def _check(schema, data: bytes) -> None:
    size = len(data)

    def count(n: int, what: str) -> int:
        # Every vector element takes at least 4 bytes: a longer vector is a corrupt length field.
        if n < 0 or 4 * n > size:
            raise TFLiteCheckError(f"corrupt {what} count ({n})")
        return n

    model = schema.Model.GetRootAs(data, 0)
    if model.Version() != SCHEMA_VERSION:
        raise TFLiteCheckError(f"schema version {model.Version()}, expected {SCHEMA_VERSION}")
    n_codes = count(model.OperatorCodesLength(), "operator code")
    n_subgraphs = count(model.SubgraphsLength(), "subgraph")
    n_buffers = count(model.BuffersLength(), "buffer")
    if n_subgraphs == 0:
        raise TFLiteCheckError("holds no subgraph")

    max_builtin = _max_enum(schema.BuiltinOperator)
    for i in range(n_codes):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if not 0 <= builtin <= max_builtin:
            raise TFLiteCheckError(f"operator code {i} is unknown builtin {builtin}")
        if builtin == CUSTOM and not code.CustomCode():
            raise TFLiteCheckError(f"operator code {i} is a custom op without a name")

    buffer_sizes = []
    for i in range(n_buffers):
        buf = model.Buffers(i)
        offset, length = buf.Offset(), buf.Size()
        if offset > 1 and offset + length > size:  # offset/size: buffers stored after the flatbuffer
            raise TFLiteCheckError(f"buffer {i} points past the end of the file")
        buffer_sizes.append(length if offset > 1 else buf.DataLength())

    max_type = _max_enum(schema.TensorType)
    tensor_counts = []
    for g in range(n_subgraphs):
        subgraph = model.Subgraphs(g)
        if subgraph is None:
            raise TFLiteCheckError(f"subgraph {g} is missing")
        n_tensors = count(subgraph.TensorsLength(), "tensor")
        tensor_counts.append(n_tensors)
        for t in range(n_tensors):
            tensor = subgraph.Tensors(t)
            _check_tensor(tensor, g, t, n_buffers, buffer_sizes, max_type)
            if tensor.Type() in _FLOAT_TYPES and buffer_sizes[tensor.Buffer()]:
                _check_finite(model.Buffers(tensor.Buffer()), data, _FLOAT_TYPES[tensor.Type()], g, t)
        _check_indices(_ints(subgraph.InputsAsNumpy()), n_tensors, f"subgraph {g} inputs", optional=False)
        _check_indices(_ints(subgraph.OutputsAsNumpy()), n_tensors, f"subgraph {g} outputs", optional=False)
        if subgraph.InputsLength() == 0 or subgraph.OutputsLength() == 0:
            raise TFLiteCheckError(f"subgraph {g} has no inputs or no outputs")
        for o in range(count(subgraph.OperatorsLength(), "operator")):
            op = subgraph.Operators(o)
            if not 0 <= op.OpcodeIndex() < n_codes:
                raise TFLiteCheckError(f"operator {o} uses operator code {op.OpcodeIndex()} of {n_codes}")
            where = f"operator {o} of subgraph {g}"
            _check_indices(_ints(op.InputsAsNumpy()), n_tensors, f"{where} inputs", optional=True)
            _check_indices(_ints(op.OutputsAsNumpy()), n_tensors, f"{where} outputs", optional=False)
            _check_indices(_ints(op.IntermediatesAsNumpy()), n_tensors, f"{where} intermediates", optional=True)

    for i in range(count(model.SignatureDefsLength(), "signature")):
        signature = model.SignatureDefs(i)
        g = signature.SubgraphIndex()
        if not 0 <= g < n_subgraphs:
            raise TFLiteCheckError(f"signature {i} names subgraph {g} of {n_subgraphs}")
        maps = [signature.Inputs(j) for j in range(count(signature.InputsLength(), "signature input"))]
        maps += [signature.Outputs(j) for j in range(count(signature.OutputsLength(), "signature output"))]
        for tensor_map in maps:
            if not 0 <= tensor_map.TensorIndex() < tensor_counts[g]:
                raise TFLiteCheckError(f"signature {i} names tensor {tensor_map.TensorIndex()} of {tensor_counts[g]}")

    for i in range(count(model.MetadataLength(), "metadata")):
        if not 0 <= model.Metadata(i).Buffer() < n_buffers:
            raise TFLiteCheckError(f"metadata {i} names buffer {model.Metadata(i).Buffer()} of {n_buffers}")


def _check_indices(indices: np.ndarray, n_tensors: int, what: str, optional: bool) -> None:
    low = -1 if optional else 0  # -1 marks an omitted optional operand
    if indices.size and (indices.min() < low or indices.max() >= n_tensors):
        bad = indices[(indices < low) | (indices >= n_tensors)][0]
        raise TFLiteCheckError(f"{what} name tensor {bad} of {n_tensors}")


def _check_tensor(tensor, g: int, t: int, n_buffers: int, buffer_sizes: list[int], max_type: int) -> None:
    where = f"tensor {t} of subgraph {g}"
    dtype = tensor.Type()
    if not 0 <= dtype <= max_type:
        raise TFLiteCheckError(f"{where} has unknown type {dtype}")
    shape = _ints(tensor.ShapeAsNumpy())
    if shape.size > 16 or (shape.size and shape.min() < 0):
        raise TFLiteCheckError(f"{where} has invalid shape {shape.tolist()}")
    elements = math.prod(int(d) for d in shape)
    if elements > _MAX_ELEMENTS:
        raise TFLiteCheckError(f"{where} has {elements} elements")
    signature = _ints(tensor.ShapeSignatureAsNumpy())
    if signature.size and (signature.size != shape.size or signature.min() < -1):
        raise TFLiteCheckError(f"{where} has shape signature {signature.tolist()} for shape {shape.tolist()}")
    buffer = tensor.Buffer()
    if not 0 <= buffer < n_buffers:
        raise TFLiteCheckError(f"{where} names buffer {buffer} of {n_buffers}")
    if buffer_sizes[buffer] and dtype in _ITEMSIZE and tensor.Sparsity() is None:
        expected = elements * _ITEMSIZE[dtype]
        if buffer_sizes[buffer] != expected:
            raise TFLiteCheckError(f"{where} needs {expected} bytes of data, its buffer holds {buffer_sizes[buffer]}")
    quant = tensor.Quantization()
    if quant is not None:
        scales, zero_points = _floats(quant.ScaleAsNumpy()), _ints(quant.ZeroPointAsNumpy())
        if scales.size:
            if zero_points.size not in (0, scales.size):
                raise TFLiteCheckError(f"{where} has {scales.size} scales but {zero_points.size} zero points")
            if not np.isfinite(scales).all():
                raise TFLiteCheckError(f"{where} has a non-finite quantization scale")
            if scales.size > 1:
                axis = quant.QuantizedDimension()
                if not 0 <= axis < shape.size or shape[axis] != scales.size:
                    raise TFLiteCheckError(f"{where} has {scales.size} scales for axis {axis} of shape {shape.tolist()}")


def _check_finite(buf, data: bytes, dtype, g: int, t: int) -> None:
    """Float weights that hold NaN or inf: a damaged file (whatever the ops then make of it;
    a MaxPool, for one, may silently drop NaN and give finite nonsense)."""
    offset = buf.Offset()
    raw = data[offset: offset + buf.Size()] if offset > 1 else buf.DataAsNumpy().tobytes()
    values = np.frombuffer(raw, dtype=dtype, count=len(raw) // np.dtype(dtype).itemsize)
    if not np.isfinite(values).all():
        raise TFLiteCheckError(f"tensor {t} of subgraph {g} holds NaN or inf weights (damaged file?)")


def _floats(value) -> np.ndarray:
    return np.zeros(0, np.float32) if isinstance(value, int) else np.asarray(value, np.float32)
