"""TFLite Model Metadata: the standard ``TFLITE_METADATA`` entry, read without TensorFlow.

The record MediaPipe Tasks, ML Kit custom models, Android Studio's ML Model Binding and the
TFLite Task Library read from a ``.tflite`` file: a flatbuffer (file identifier ``M001``) in
the buffer the model's metadata entry ``TFLITE_METADATA`` points to, plus associated files
(the labels) appended to the model as a zip archive. ``edgecnn.export.model_metadata`` writes
it; this module reads it with the ``struct`` readers of ``runtime.flatbuffer``, so the base
install and ``edgecnn inspect`` need neither TensorFlow nor a metadata library.

Field numbers follow mediapipe/tasks/metadata/metadata_schema.fbs (shipped in the mediapipe
wheel; the same schema as tflite-support's). A union takes two slots: its type, then its value.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import asdict, dataclass
from typing import Any

from edgecnn.runtime import flatbuffer as fb

NAME = "TFLITE_METADATA"  # the model's metadata entry holding the flatbuffer
IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.0"  # only fields of the first schema version are written
LABEL_FILE = "labels.txt"

# ModelMetadata
MODEL_NAME, MODEL_DESCRIPTION, MODEL_VERSION, MODEL_SUBGRAPHS, MODEL_AUTHOR, MODEL_LICENSE = 0, 1, 2, 3, 4, 5
MODEL_MIN_PARSER = 7
# SubGraphMetadata
SUB_INPUTS, SUB_OUTPUTS = 2, 3
# TensorMetadata
TENSOR_NAME, TENSOR_DESCRIPTION, TENSOR_CONTENT, TENSOR_PROCESS_UNITS, TENSOR_STATS, TENSOR_FILES = 0, 1, 3, 4, 5, 6
# Content: union ContentProperties (type, value), then range
CONTENT_TYPE, CONTENT_VALUE = 0, 1
FEATURE_PROPERTIES, IMAGE_PROPERTIES = 1, 2  # ContentProperties members
# ImageProperties / ImageSize
IMAGE_COLOR_SPACE, IMAGE_SIZE = 0, 1
SIZE_WIDTH, SIZE_HEIGHT = 0, 1
COLOR_SPACES = {0: "UNKNOWN", 1: "RGB", 2: "GRAYSCALE"}
# ProcessUnit: union ProcessUnitOptions (type, value); NormalizationOptions = member 1
UNIT_TYPE, UNIT_VALUE = 0, 1
NORMALIZATION = 1
NORM_MEAN, NORM_STD = 0, 1
# Stats
STATS_MAX, STATS_MIN = 0, 1
# AssociatedFile
FILE_NAME, FILE_DESCRIPTION, FILE_TYPE = 0, 1, 2
TENSOR_AXIS_LABELS = 2  # AssociatedFileType
_U8 = struct.Struct("<B").unpack_from  # union type tags are ubyte


@dataclass(frozen=True)
class TensorMetadata:
    """One tensor's standard metadata: what the frameworks feed it or read from it."""

    name: str
    description: str = ""
    content: str = ""  # "image" | "feature" | ""
    color_space: str = ""  # "RGB" | "GRAYSCALE" | "UNKNOWN" (images)
    width: int = 0
    height: int = 0
    mean: tuple[float, ...] = ()  # NormalizationOptions: tensor = (pixel - mean) / std
    std: tuple[float, ...] = ()
    min: tuple[float, ...] = ()  # Stats
    max: tuple[float, ...] = ()
    label_file: str = ""  # the associated TENSOR_AXIS_LABELS file


@dataclass(frozen=True)
class ModelMetadata:
    """The standard record of an image classifier: model fields, one input, one output, its labels."""

    name: str
    description: str
    version: str
    author: str
    license: str
    input: TensorMetadata
    output: TensorMetadata
    min_parser_version: str = MIN_PARSER_VERSION
    labels: tuple[str, ...] = ()  # read from the output's label file in the appended zip

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["labels"] = list(self.labels)
        return out


def read_model_metadata(model_bytes: bytes) -> ModelMetadata | None:
    """The file's standard metadata, None when it has none or it is malformed (never raises)."""
    data = fb.read_metadata(model_bytes, NAME)
    if not data or len(data) < 8 or data[4:8] != IDENTIFIER:
        return None
    try:
        return _parse(data, model_bytes)
    except (struct.error, IndexError, ValueError, OverflowError, fb.OutOfRange, UnicodeDecodeError):
        return None


def associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files zipped after the flatbuffer ({} when there are none or the archive is damaged)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist() if info.file_size < 1 << 24}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return {}


def flatbuffer_part(model_bytes: bytes) -> bytes:
    """The model without its appended files (the zip starts at its first local header)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            start = min((info.header_offset for info in archive.infolist()), default=len(model_bytes))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return model_bytes
    return model_bytes[:start]


def _text(data: bytes, table: int, field: int) -> str:
    raw = fb.string(data, table, field)
    return raw.decode("utf-8") if raw else ""


def _floats(data: bytes, table: int | None, field: int) -> tuple[float, ...]:
    if table is None:
        return ()
    arr = fb.array(data, table, field, "<f4")
    return tuple(float(x) for x in arr) if arr is not None else ()


def _tables(data: bytes, table: int, field: int) -> list[int]:
    start, n = fb.vector(data, table, field)
    return [fb.element(data, start, i) for i in range(n)]


def _tensor(data: bytes, table: int) -> TensorMetadata:
    fields: dict[str, Any] = {"name": _text(data, table, TENSOR_NAME),
                              "description": _text(data, table, TENSOR_DESCRIPTION)}
    content = fb.subtable(data, table, TENSOR_CONTENT)
    if content is not None:
        kind = fb.scalar(data, content, CONTENT_TYPE, _U8)
        value = fb.subtable(data, content, CONTENT_VALUE)
        fields["content"] = {IMAGE_PROPERTIES: "image", FEATURE_PROPERTIES: "feature"}.get(kind, "")
        if kind == IMAGE_PROPERTIES and value is not None:
            color = fb.scalar(data, value, IMAGE_COLOR_SPACE, fb.I8)
            fields["color_space"] = COLOR_SPACES.get(color, "UNKNOWN")
            size = fb.subtable(data, value, IMAGE_SIZE)
            if size is not None:
                fields["width"] = fb.scalar(data, size, SIZE_WIDTH, fb.U32)
                fields["height"] = fb.scalar(data, size, SIZE_HEIGHT, fb.U32)
    for unit in _tables(data, table, TENSOR_PROCESS_UNITS):
        if fb.scalar(data, unit, UNIT_TYPE, _U8) == NORMALIZATION:
            options = fb.subtable(data, unit, UNIT_VALUE)
            fields["mean"], fields["std"] = _floats(data, options, NORM_MEAN), _floats(data, options, NORM_STD)
    stats = fb.subtable(data, table, TENSOR_STATS)
    fields["min"], fields["max"] = _floats(data, stats, STATS_MIN), _floats(data, stats, STATS_MAX)
    for file in _tables(data, table, TENSOR_FILES):
        if fb.scalar(data, file, FILE_TYPE, fb.I8) == TENSOR_AXIS_LABELS:
            fields["label_file"] = _text(data, file, FILE_NAME)
    return TensorMetadata(**fields)


def _parse(data: bytes, model_bytes: bytes) -> ModelMetadata | None:
    root = fb.U32(data, 0)[0]
    subgraphs = _tables(data, root, MODEL_SUBGRAPHS)
    if len(subgraphs) != 1:
        return None
    inputs, outputs = _tables(data, subgraphs[0], SUB_INPUTS), _tables(data, subgraphs[0], SUB_OUTPUTS)
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    output = _tensor(data, outputs[0])
    labels: tuple[str, ...] = ()
    if output.label_file:
        text = associated_files(model_bytes).get(output.label_file)
        labels = tuple(line for line in text.decode("utf-8").splitlines() if line) if text else ()
    return ModelMetadata(
        name=_text(data, root, MODEL_NAME), description=_text(data, root, MODEL_DESCRIPTION),
        version=_text(data, root, MODEL_VERSION), author=_text(data, root, MODEL_AUTHOR),
        license=_text(data, root, MODEL_LICENSE), input=_tensor(data, inputs[0]), output=output,
        min_parser_version=_text(data, root, MODEL_MIN_PARSER), labels=labels,
    )
