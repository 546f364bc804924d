"""Read TFLite flatbuffers with ``struct`` alone: the readers and one metadata lookup.

Why not ``ai_edge_litert.schema_py_generated``: importing that generated module costs
~16-25 ms and ~4 MB, a sizeable share of ``edgecnn predict``'s cold start. The readers
below make the same reads, in the same order, as the generated accessors over
``flatbuffers.table.Table`` (flatbuffers 25.12), so a damaged file fails where it would
fail there. They serve both ``read_metadata`` and the structural check in
``tflite_check``. Field numbers follow tensorflow/compiler/mlir/lite/schema/schema.fbs:
Model.buffers = 4, Model.metadata = 6; Metadata.name = 0, Metadata.buffer = 1;
Buffer.data = 0, Buffer.offset = 1, Buffer.size = 2.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np

_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_META_NAME, _META_BUFFER = 0, 1
_BUF_DATA, _BUF_OFFSET, _BUF_SIZE = 0, 1, 2

Data = bytes | bytearray | memoryview  # a flatbuffer in memory
Unpack = Callable[[Data, int], tuple[int]]  # one integer at a position: struct.Struct(...).unpack_from
I8: Unpack = struct.Struct("<b").unpack_from
U16: Unpack = struct.Struct("<H").unpack_from
I32: Unpack = struct.Struct("<i").unpack_from
U32: Unpack = struct.Struct("<I").unpack_from
U64: Unpack = struct.Struct("<Q").unpack_from
UOFFSET_MAX = 0xFFFFFFFF


class OutOfRange(Exception):
    """A position flatbuffers' Python reader refuses (it raises TypeError there)."""


# Readers. Each makes the reads flatbuffers.table.Table makes for the generated accessor, so
# a wild offset fails here exactly where it fails there (struct.error / numpy ValueError).

def slot(data: Data, table: int, field: int) -> int:
    """Table.Offset: the field's offset from the table start, 0 when absent."""
    vtable = table - I32(data, table)[0]
    if vtable < 0:  # Table.Get refuses a negative position; struct would read from the end
        raise OutOfRange(vtable)
    entry = 4 + 2 * field
    if entry < U16(data, vtable)[0]:
        return U16(data, vtable + entry)[0]
    return 0


def scalar(data: Data, table: int, field: int, unpack: Unpack) -> int:
    o = slot(data, table, field)
    return unpack(data, table + o)[0] if o else 0


def vector(data: Data, table: int, field: int) -> tuple[int, int]:
    """(start of elements, length) of a vector field (Table.Vector / VectorLen); (0, 0) when absent."""
    o = slot(data, table, field)
    if not o:
        return 0, 0
    pos = table + o
    pos += U32(data, pos)[0]
    return pos + 4, U32(data, pos)[0]


def array(data: Data, table: int, field: int, dtype: Any) -> np.ndarray | None:
    """Table.GetVectorAsNumpy; None when the field is absent (the generated code returns 0)."""
    o = slot(data, table, field)
    if not o:
        return None
    pos = table + o
    pos += U32(data, pos)[0]
    start, length = pos + 4, U32(data, pos)[0]
    return np.frombuffer(data, dtype=dtype, count=length, offset=start)


def element(data: Data, start: int, j: int) -> int:
    """Position of table ``j`` of a vector of tables (Vector + j * 4, then Table.Indirect)."""
    pos = start + 4 * j
    if pos > UOFFSET_MAX:
        raise OutOfRange(pos)
    pos += U32(data, pos)[0]
    if pos > UOFFSET_MAX:  # Table.__init__ refuses it (before any field of the table is read)
        raise OutOfRange(pos)
    return pos


def subtable(data: Data, table: int, field: int) -> int | None:
    """Position of a sub-table field (Table.Indirect), None when absent."""
    o = slot(data, table, field)
    if not o:
        return None
    pos = table + o
    pos += U32(data, pos)[0]
    if pos > UOFFSET_MAX:  # Table.__init__ refuses it
        raise OutOfRange(pos)
    return pos


def string(data: Data, table: int, field: int) -> bytes | None:
    """Table.String (its slicing clamps, it never fails on the length); None when absent."""
    o = slot(data, table, field)
    if not o:
        return None
    pos = table + o
    pos += U32(data, pos)[0]
    start = pos + 4
    return bytes(data[start: start + U32(data, pos)[0]])


def read_metadata(buf: bytes, name: str) -> bytes | None:
    """The bytes of the metadata entry called ``name``; None if absent or the flatbuffer is malformed."""
    try:
        model = U32(buf, 0)[0]
        meta_start, meta_len = vector(buf, model, _MODEL_METADATA)
        buffers_start, buffers_len = vector(buf, model, _MODEL_BUFFERS)
        for i in range(meta_len):
            entry = element(buf, meta_start, i)
            if string(buf, entry, _META_NAME) != name.encode():
                continue
            index = scalar(buf, entry, _META_BUFFER, U32)
            if index >= buffers_len:
                return None
            buffer = element(buf, buffers_start, index)
            data_start, data_len = vector(buf, buffer, _BUF_DATA)
            if data_len:
                data = bytes(buf[data_start: data_start + data_len])
                return data if len(data) == data_len else None
            # Large models keep buffers after the flatbuffer: offset/size from the file start.
            offset, size = scalar(buf, buffer, _BUF_OFFSET, U64), scalar(buf, buffer, _BUF_SIZE, U64)
            if offset > 1:
                data = bytes(buf[offset: offset + size])
                return data if len(data) == size else None
            return b""
    except (struct.error, IndexError, ValueError, OverflowError, OutOfRange):
        return None
    return None
