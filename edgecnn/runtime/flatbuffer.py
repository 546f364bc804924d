"""Read one named metadata entry of a TFLite flatbuffer with ``struct`` alone.

Why not ``ai_edge_litert.schema_py_generated``: importing that generated module costs
~25 ms and ~4 MB, a sizeable share of ``edgecnn predict``'s cold start, for one lookup.
Field numbers follow tensorflow/compiler/mlir/lite/schema/schema.fbs:
Model.buffers = 4, Model.metadata = 6; Metadata.name = 0, Metadata.buffer = 1;
Buffer.data = 0, Buffer.offset = 1, Buffer.size = 2.
"""

from __future__ import annotations

import struct

_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_META_NAME, _META_BUFFER = 0, 1
_BUF_DATA, _BUF_OFFSET, _BUF_SIZE = 0, 1, 2


def _field(buf: bytes, table: int, index: int) -> int:
    """Absolute position of a table field's value, or 0 when the field is absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vtable)[0]
    slot = 4 + 2 * index
    if slot >= vt_size:
        return 0
    off = struct.unpack_from("<H", buf, vtable + slot)[0]
    return table + off if off else 0


def _deref(buf: bytes, pos: int) -> int:
    return pos + struct.unpack_from("<I", buf, pos)[0]


def _vector(buf: bytes, table: int, index: int) -> tuple[int, int]:
    """(start of elements, length) of a vector field; (0, 0) when absent."""
    pos = _field(buf, table, index)
    if not pos:
        return 0, 0
    vec = _deref(buf, pos)
    return vec + 4, struct.unpack_from("<I", buf, vec)[0]


def _table_at(buf: bytes, start: int, i: int) -> int:
    return _deref(buf, start + 4 * i)


def read_metadata(buf: bytes, name: str) -> bytes | None:
    """The bytes of the metadata entry called ``name``; None if absent or the flatbuffer is malformed."""
    try:
        model = _deref(buf, 0)
        meta_start, meta_len = _vector(buf, model, _MODEL_METADATA)
        buffers_start, buffers_len = _vector(buf, model, _MODEL_BUFFERS)
        for i in range(meta_len):
            entry = _table_at(buf, meta_start, i)
            name_pos = _field(buf, entry, _META_NAME)
            if not name_pos:
                continue
            text = _deref(buf, name_pos)
            length = struct.unpack_from("<I", buf, text)[0]
            if bytes(buf[text + 4: text + 4 + length]) != name.encode():
                continue
            buffer_pos = _field(buf, entry, _META_BUFFER)
            index = struct.unpack_from("<I", buf, buffer_pos)[0] if buffer_pos else 0
            if index >= buffers_len:
                return None
            buffer = _table_at(buf, buffers_start, index)
            data_start, data_len = _vector(buf, buffer, _BUF_DATA)
            if data_len:
                data = bytes(buf[data_start: data_start + data_len])
                return data if len(data) == data_len else None
            # Large models keep buffers after the flatbuffer: offset/size from the file start.
            off_pos, size_pos = _field(buf, buffer, _BUF_OFFSET), _field(buf, buffer, _BUF_SIZE)
            if off_pos and size_pos:
                offset = struct.unpack_from("<Q", buf, off_pos)[0]
                size = struct.unpack_from("<Q", buf, size_pos)[0]
                data = bytes(buf[offset: offset + size])
                return data if len(data) == size else None
            return b""
    except (struct.error, IndexError):
        return None
    return None
