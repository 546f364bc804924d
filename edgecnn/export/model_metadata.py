"""Write TFLite Model Metadata (``TFLITE_METADATA``) by its schema, with ``flatbuffers`` alone.

Why not a metadata library: MediaPipe's ``metadata_writers.image_classifier`` (the writer its
maintainers point to) fails to import from the mediapipe 1.2.3 wheel (``No module named
'mediapipe.tasks.cc'``), and mediapipe adds ~240 MiB with OpenCV to an install; tflite-support
0.4.4 is unmaintained upstream. The schema's dozen tables an image classifier needs are
written here with the ``flatbuffers`` package edgecnn already depends on, following
metadata_schema.fbs (field numbers in ``edgecnn.runtime.model_metadata``, which reads them
back). ``tests/test_model_metadata.py`` checks the bytes against the schema's own generated
Python in the mediapipe wheel and against MediaPipe's ImageClassifier.
"""

from __future__ import annotations

import io
import zipfile

from edgecnn.runtime import model_metadata as md

AUTHOR = "edgecnn"


def image_classifier_metadata(spec, input_dtype: str, *, version: str, description: str, author: str = AUTHOR,
                              input_pixels: bool = False, channels: int | None = None) -> md.ModelMetadata:
    """The standard record of an edgecnn image classifier.

    Args:
        spec: the file's ``ModelSpec`` (name, labels, preprocessing, input size).
        input_dtype: the input tensor's type (``float32``, ``uint8``, ``int8``).
        version: the model version string (edgecnn's version and the file's precision).
        description: the model's one-line description.
        author: the author field ("edgecnn" unless given).
        input_pixels: the input tensor holds pixel codes as they are (a uint8 input whose quantization
            is the preprocessing itself): the normalization is then the identity.
        channels: the input tensor's channels when they differ from the model's (3: an app variant of
            a grey model takes RGB and converts inside).
    Returns:
        The ``ModelMetadata`` record; ``metadata_bytes`` serialises it.
    """
    h, w, c = spec.input_shape
    c = channels or c
    pre = spec.preprocessing
    # x = pixel * scale + offset  ==  (pixel - mean) / std  with std = 1/scale, mean = -offset/scale:
    # one value for every channel, exact (edgecnn's preprocessing is the same affine map on R, G, B).
    mean, std = (0.0, 1.0) if input_pixels else (-pre.offset / pre.scale + 0.0, 1.0 / pre.scale)  # + 0.0: no -0
    lo, hi = (0.0, 255.0) if input_pixels or input_dtype == "uint8" else (pre.offset, 255 * pre.scale + pre.offset)
    rgb = c == 3
    image = md.TensorMetadata(
        name=spec.input_name, content="image", color_space="RGB" if rgb else "GRAYSCALE", width=w, height=h,
        description=(f"{w}x{h} {'RGB' if rgb else 'grey'} picture; tensor = (pixel - {mean:g}) / {std:g}"
                     + ("; converted to grey inside" if c != spec.channels else "")
                     + ("; white digit on black, cropped and centred as MNIST" if pre.prepare == "mnist" else "")),
        mean=(mean,), std=(std,), min=(min(lo, hi),), max=(max(lo, hi),),
    )
    output = md.TensorMetadata(
        name=spec.output_name, content="feature", description=f"probabilities of the {spec.num_classes} classes",
        min=(0.0,), max=(1.0,), label_file=md.LABEL_FILE,
    )
    return md.ModelMetadata(name=spec.name, description=description, version=version, author=author, license="",
                            input=image, output=output, labels=tuple(spec.labels))


def metadata_bytes(record: md.ModelMetadata) -> bytes:
    """The ``TFLITE_METADATA`` flatbuffer of ``record`` (file identifier M001)."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    subgraph = _table(b, [
        (md.SUB_INPUTS, "offset", _offsets(b, [_tensor(b, record.input)])),
        (md.SUB_OUTPUTS, "offset", _offsets(b, [_tensor(b, record.output)])),
    ])
    strings = {slot: b.CreateString(text) for slot, text in (
        (md.MODEL_NAME, record.name), (md.MODEL_DESCRIPTION, record.description), (md.MODEL_VERSION, record.version),
        (md.MODEL_AUTHOR, record.author), (md.MODEL_LICENSE, record.license),
        (md.MODEL_MIN_PARSER, record.min_parser_version)) if text}
    root = _table(b, [(md.MODEL_SUBGRAPHS, "offset", _offsets(b, [subgraph])),
                      *((slot, "offset", off) for slot, off in strings.items())])
    b.Finish(root, file_identifier=md.IDENTIFIER)
    return bytes(b.Output())


def with_label_file(model_bytes: bytes, labels: tuple[str, ...]) -> bytes:
    """``model_bytes`` with ``labels.txt`` appended as a zip archive, as the metadata schema packs files.

    The interpreter reads the flatbuffer only and ignores what follows it; the frameworks open the
    whole file as a zip (its directory is at the end). Fixed timestamps: two exports are identical.
    """
    out = io.BytesIO()
    out.write(model_bytes)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo(md.LABEL_FILE, date_time=(1980, 1, 1, 0, 0, 0))
        archive.writestr(info, "".join(f"{label}\n" for label in labels))
    return out.getvalue()


# -- flatbuffer pieces ------------------------------------------------------------------------

def _table(b, fields: list[tuple[int, str, object]]) -> int:
    """One table: (slot, kind, value) with kind offset | uint8 | int8 | uint32; defaults are left out."""
    b.StartObject(1 + max((slot for slot, _, _ in fields), default=0))
    for slot, kind, value in fields:
        if kind == "offset":
            b.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif kind == "uint8":
            b.PrependUint8Slot(slot, value, 0)
        elif kind == "int8":
            b.PrependInt8Slot(slot, value, 0)
        else:
            b.PrependUint32Slot(slot, value, 0)
    return b.EndObject()


def _offsets(b, items: list[int]) -> int:
    b.StartVector(4, len(items), 4)
    for item in reversed(items):
        b.PrependUOffsetTRelative(item)
    return b.EndVector()


def _floats(b, values: tuple[float, ...]) -> int:
    b.StartVector(4, len(values), 4)
    for value in reversed(values):
        b.PrependFloat32(value)
    return b.EndVector()


def _tensor(b, t: md.TensorMetadata) -> int:
    fields: list[tuple[int, str, object]] = []
    if t.content == "image":
        size = _table(b, [(md.SIZE_WIDTH, "uint32", t.width), (md.SIZE_HEIGHT, "uint32", t.height)])
        color = {v: k for k, v in md.COLOR_SPACES.items()}[t.color_space or "UNKNOWN"]
        props = _table(b, [(md.IMAGE_COLOR_SPACE, "int8", color), (md.IMAGE_SIZE, "offset", size)])
        fields.append((md.TENSOR_CONTENT, "offset", _table(b, [(md.CONTENT_TYPE, "uint8", md.IMAGE_PROPERTIES),
                                                              (md.CONTENT_VALUE, "offset", props)])))
    elif t.content == "feature":
        props = _table(b, [])
        fields.append((md.TENSOR_CONTENT, "offset", _table(b, [(md.CONTENT_TYPE, "uint8", md.FEATURE_PROPERTIES),
                                                              (md.CONTENT_VALUE, "offset", props)])))
    if t.mean:
        norm = _table(b, [(md.NORM_MEAN, "offset", _floats(b, t.mean)), (md.NORM_STD, "offset", _floats(b, t.std))])
        unit = _table(b, [(md.UNIT_TYPE, "uint8", md.NORMALIZATION), (md.UNIT_VALUE, "offset", norm)])
        fields.append((md.TENSOR_PROCESS_UNITS, "offset", _offsets(b, [unit])))
    if t.min or t.max:
        fields.append((md.TENSOR_STATS, "offset", _table(b, [(md.STATS_MAX, "offset", _floats(b, t.max)),
                                                            (md.STATS_MIN, "offset", _floats(b, t.min))])))
    if t.label_file:
        name, what = b.CreateString(t.label_file), b.CreateString("class names, one per line, in output order")
        file = _table(b, [(md.FILE_NAME, "offset", name), (md.FILE_DESCRIPTION, "offset", what),
                          (md.FILE_TYPE, "int8", md.TENSOR_AXIS_LABELS)])
        fields.append((md.TENSOR_FILES, "offset", _offsets(b, [file])))
    for slot, text in ((md.TENSOR_NAME, t.name), (md.TENSOR_DESCRIPTION, t.description)):
        if text:
            fields.append((slot, "offset", b.CreateString(text)))
    return _table(b, fields)
