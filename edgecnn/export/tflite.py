"""TFLite exporters: float32, full-integer int8, dynamic-range int8 and float16.

All four convert the same frozen ``tf.function`` (``common.forward_function``), then
rewrite the flatbuffer once: the input and output tensors are renamed to the contract's
``image`` / ``probabilities`` (the converter calls them ``serving_default_image:0`` and
``StatefulPartitionedCall:0``; ``get_input_details()`` reports tensor names, not signature
names, so an app that looks tensors up by name would otherwise see converter internals),
the model description says what the file is, and an ``edgecnn`` metadata entry holds the
JSON that ``runtime.tflite.read_tflite_metadata`` reads.
"""

from __future__ import annotations

import time
from typing import Any
from pathlib import Path

from edgecnn.artifact import Artifact
from edgecnn.export.column_pairs import pair_columns
from edgecnn.export.common import (
    calibration_images, calibration_record, description, embedded_metadata, forward_function,
    metadata_json, write_artifact,
)
from edgecnn.runtime.base import METADATA_KEY

BUFFER_ALIGNMENT = 16  # what the TFLite converter uses; TFLite Micro and SIMD kernels expect it
TFLITE_IDENTIFIER = b"TFL3"


def _converter(model, spec=None):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    # Freeze the weights into constants first: converting the concrete function as it is
    # keeps resource variables (VAR_HANDLE / READ_VARIABLE ops, uninitialised -> NaN) and
    # blocks the Conv+bias fusion. The same call from_keras_model makes internally.
    frozen = convert_variables_to_constants_v2(forward_function(model, spec).get_concrete_function())
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen], model)


def _convert(model, precision: str, options, pair: bool = True) -> bytes:
    """The converter's flatbuffer for ``precision``, 1-channel convolutions on column pairs if ``pair``."""
    data = _convert_only(model, precision, options)
    return pair_columns(data) if pair else data


def _convert_only(model, precision: str, options) -> bytes:
    import tensorflow as tf

    converter = _converter(model, getattr(options, "spec", None))
    if precision == "int8":
        images = calibration_images(options)

        def representative():
            for i in range(len(images)):
                yield [images[i: i + 1]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        # INT8 builtins only: the conversion fails rather than silently keeping a float op.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: int8 weights, float I/O
    elif precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _aligned_buffer_class():
    from ai_edge_litert import schema_py_generated as schema

    class AlignedBuffer(schema.BufferT):
        """A BufferT whose data vector starts on a 16-byte boundary, as the converter writes it."""

        def Pack(self, builder):  # flatbuffers' naming
            data = None
            if self.data is not None and len(self.data):
                payload = bytes(memoryview(self.data).cast("B"))
                builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
                builder.head -= len(payload)
                builder.Bytes[builder.head: builder.head + len(payload)] = payload
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBuffer


def finalize_flatbuffer(model_bytes: bytes, meta: dict, model_metadata: bool = True,
                       input_pixels: bool = False) -> bytes:
    """Rename the I/O tensors, set the description, embed ``meta`` as metadata "edgecnn".

    With ``model_metadata``, also the standard TFLite Model Metadata (``TFLITE_METADATA``) and its
    label file, appended as a zip (``export.model_metadata``): what MediaPipe Tasks, ML Kit and
    Android Studio read. ``input_pixels``: the input takes pixel codes as they are (app variants).
    Neither changes a tensor, an operator or a weight: the interpreter computes the same.
    """
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    from edgecnn.export import model_metadata as standard
    from edgecnn.runtime.model_metadata import NAME as STANDARD_NAME
    from edgecnn.spec import ModelSpec

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    subgraph = model.subgraphs[0]
    if len(subgraph.inputs) != 1 or len(subgraph.outputs) != 1:
        raise ValueError("expected one input and one output tensor")
    subgraph.tensors[subgraph.inputs[0]].name = meta["input"].encode()
    subgraph.tensors[subgraph.outputs[0]].name = meta["output"].encode()
    for signature in model.signatureDefs or []:  # signature output "output_0" -> "probabilities"
        for tensor_map in signature.outputs or []:
            tensor_map.name = meta["output"].encode()
    model.description = description(meta).encode()

    buffer_cls = _aligned_buffer_class()
    buffers = []
    for old in model.buffers:
        new = buffer_cls()
        new.data, new.offset, new.size = old.data, old.offset, old.size
        buffers.append(new)
    entries = {METADATA_KEY: metadata_json(meta).encode()}
    spec = ModelSpec.from_metadata(meta)
    if model_metadata:
        tensor = subgraph.tensors[subgraph.inputs[0]]
        record = standard.image_classifier_metadata(
            spec, _TENSOR_TYPES.get(tensor.type, "other"),
            version=f"{meta['precision']}, edgecnn {meta['edgecnn_version']}",
            description=model.description.decode(), input_pixels=input_pixels, channels=int(tensor.shape[-1]),
            author=str(meta.get("author") or standard.AUTHOR))
        entries[STANDARD_NAME] = standard.metadata_bytes(record)
    kept = [m for m in (model.metadata or []) if m.name.decode() not in entries]
    for replaced in (m for m in (model.metadata or []) if m.name.decode() in entries):
        buffers[replaced.buffer].data = None  # the old record's bytes (an app variant of a written file)
    for name, payload in entries.items():
        blob = buffer_cls()
        blob.data = np.frombuffer(payload, dtype=np.uint8)
        buffers.append(blob)
        entry = schema.MetadataT()
        entry.name, entry.buffer = name.encode(), len(buffers) - 1
        kept.append(entry)
    model.buffers, model.metadata = buffers, kept

    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    data = bytes(builder.Output())
    return standard.with_label_file(data, spec.labels) if model_metadata else data


_TENSOR_TYPES = {0: "float32", 3: "uint8", 9: "int8"}  # schema.fbs TensorType


def _export(model, out_dir: Path, filename: str, precision: str, options, pair: bool = True,
            model_metadata: bool = True) -> Artifact:
    started = time.perf_counter()
    extra = {"calibration": calibration_record(options)} if precision == "int8" else {}
    meta = embedded_metadata("tflite", precision, options, **extra)
    data = finalize_flatbuffer(convert_checked(model, precision, options, pair), meta, model_metadata)
    return write_artifact(data, Path(out_dir) / filename, "tflite", precision, started, spec=options.spec, **extra)


# The last model's conversions: an app variant (export.app) converts exactly what the plain file
# did; one int8 calibration of a MobileNet takes seconds, and the converter is deterministic.
_CONVERTED: dict[str, Any] = {"model": None, "bytes": {}}


def convert_checked(model, precision: str, options, pair: bool = True) -> bytes:
    """``_convert_checked``, remembered for the model being exported (keyed by what changes the graph)."""
    import weakref

    import numpy as np

    weights = sum(float(np.asarray(w, np.float64).sum()) for w in model.weights)  # a model changed in place
    key = (precision, pair, options.calibration_samples, options.seed, str(options.data_path), options.spec,
           id(options.dataset), weights)
    ref = _CONVERTED["model"]
    if ref is None or ref() is not model:
        _CONVERTED["model"], _CONVERTED["bytes"] = weakref.ref(model), {}
    cache: dict[tuple[Any, ...], bytes] = _CONVERTED["bytes"]
    if key not in cache:
        cache[key] = _convert_checked(model, precision, options, pair)
    return cache[key]


def _convert_checked(model, precision: str, options, pair: bool = True) -> bytes:
    """``_convert``; an op TFLite's builtins lack is an UnsupportedOpError naming the layer.

    The converter's native diagnostics (pages of MLIR locations when an op is missing) are held
    back: passed on to stderr as they are when the conversion succeeds or fails for another
    reason, dropped when edgecnn says the reason in one line.
    """
    import os
    import sys
    import tempfile

    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            return _convert(model, precision, options, pair=pair)
        except Exception as exc:  # the converter's ConverterError and friends
            from edgecnn.export.unsupported import tflite_refusal

            refusal = tflite_refusal(model, exc, precision)
            if refusal is None:
                raise
            held.truncate(0)  # said in one line instead
            raise refusal from exc
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read()
            if text:
                os.write(2, text)


def export_float32(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """float32 weights and activations: the reference for every other artifact."""
    return _export(model, out_dir, filename, "float32", options)


def export_int8(model, out_dir: Path, *, filename: str, options, pair: bool = True,
                model_metadata: bool = True) -> Artifact:
    """Full-integer int8: int8 weights, activations, input and output; calibrated on training images.

    ``pair=False`` keeps 1-channel convolutions as converted (``pair_columns`` is for XNNPACK's
    kernels; the microcontroller C array keeps the converter's graph). ``model_metadata=False``
    leaves out the standard metadata and label zip (the C array: no app framework reads it)."""
    return _export(model, out_dir, filename, "int8", options, pair, model_metadata)


def export_dynamic(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """Dynamic-range quantization: int8 weights, float32 input/output and activations."""
    return _export(model, out_dir, filename, "dynamic", options)


def export_float16(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """float16 weights (half the size), dequantized to float32 at load; float32 I/O."""
    return _export(model, out_dir, filename, "float16", options)
