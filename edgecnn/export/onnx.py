"""ONNX exporters: float32 via tf2onnx.from_function, int8 via ONNX Runtime's static quantization.

The float32 graph is tf2onnx's output cleaned by ``onnx_graph.clean_graph``; int8 quantizes it
with ``onnx_int8.quantize_int8`` (which ops, in which format, and why: that module's docstring).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path


from edgecnn.artifact import Artifact
from edgecnn.export.common import (
    calibration_images, calibration_record, description, embedded_metadata, forward_function,
    metadata_json, write_artifact,
)
from edgecnn.export.onnx_graph import clean_graph
from edgecnn.runtime.base import METADATA_KEY

log = logging.getLogger(__name__)

def to_onnx(model, opset: int, spec=None):
    """tf2onnx's conversion of ``forward_function`` (constant Flatten, MaxPool before tanh)."""
    import tf2onnx

    # tf2onnx.convert.from_keras fails on Keras 3 models; a tf.function with an explicit
    # signature converts cleanly and names the tensors.
    forward = forward_function(model, spec)
    # tf2onnx logs each op it cannot convert as ERROR; edgecnn says so in its own one line.
    quiet = logging.getLogger("tf2onnx")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        proto, _ = tf2onnx.convert.from_function(forward, input_signature=forward.input_signature, opset=opset)
    except Exception as exc:
        from edgecnn.export.unsupported import onnx_refusal

        refusal = onnx_refusal(model, exc, opset)
        if refusal is None:
            raise
        raise refusal from exc
    finally:
        quiet.setLevel(level)
    _inline_captured_constants(proto, forward)
    from edgecnn.export.unsupported import check_onnx_ops

    check_onnx_ops(model, proto, opset)
    return proto


def _inline_captured_constants(proto, forward) -> int:
    """Put constants the traced function captured from eager tensors back into the graph.

    tf2onnx freezes variables, but a tensor captured by value (a Normalization layer's mean and
    variance, for one) stays a placeholder and becomes an extra graph input: the file would then
    ask the app for three inputs. Each such input becomes an initializer holding the captured value.
    """
    from onnx import numpy_helper

    concrete = forward.get_concrete_function()
    values = {internal.name: external for external, internal
              in zip(concrete.captured_inputs, concrete.graph.internal_captures)
              if external.dtype.name != "resource"}
    kept, inlined = [], 0
    for graph_input in proto.graph.input:
        if graph_input.name in values:
            proto.graph.initializer.append(numpy_helper.from_array(values[graph_input.name].numpy(), graph_input.name))
            inlined += 1
        else:
            kept.append(graph_input)
    if inlined:
        del proto.graph.input[:]
        proto.graph.input.extend(kept)
    return inlined


def attach_metadata(model, meta: dict) -> bytes:
    """metadata_props: "edgecnn" = the JSON, plus a few plain keys; doc_string = description."""
    from onnx import helper

    plain = {
        METADATA_KEY: metadata_json(meta),
        "labels": ",".join(meta["labels"]),
        "preprocessing": meta["preprocessing"]["formula"] + " (uint8 -> float32, NHWC)",
        "precision": meta["precision"],
        "source_sha256": meta["source_sha256"],
        "edgecnn_version": meta["edgecnn_version"],
    }
    del model.metadata_props[:]
    helper.set_model_props(model, plain)
    model.doc_string = description(meta)
    model.producer_name, model.producer_version = "edgecnn", meta["edgecnn_version"]
    return model.SerializeToString()


def float32_model(model, options):
    """The cleaned float32 ONNX model (a ModelProto)."""
    return clean_graph(to_onnx(model, options.opset, options.spec))


def export_float32(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """float32 ONNX, cleaned graph, NHWC input ``image`` and output ``probabilities``."""
    started = time.perf_counter()
    meta = embedded_metadata("onnx", "float32", options, opset=options.opset)
    data = attach_metadata(float32_model(model, options), meta)
    return write_artifact(data, Path(out_dir) / filename, "onnx", "float32", started, spec=options.spec,
                          opset=options.opset)




def export_int8(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """int8 ONNX (``onnx_int8.quantize_int8``: QOperator, uint8 activations, int8 per-channel weights),
    float32 I/O, calibrated on training images; the metadata's "quantization" record says which
    layers are int8 and which stay float32 (by the rule, or ``options.onnx_nodes_to_exclude``)."""
    from edgecnn.errors import ExportError
    from edgecnn.export.onnx_int8 import quantize_int8

    started = time.perf_counter()
    fp32 = float32_model(model, options)
    try:
        proto, record = quantize_int8(fp32, calibration_images(options), per_channel=options.onnx_per_channel,
                                      calibrate_method=options.onnx_calibrate_method,
                                      nodes_to_exclude=options.onnx_nodes_to_exclude)
    except ValueError as exc:  # an unknown node name or method, or nothing left to quantize
        raise ExportError(f"{filename}: {exc}") from exc
    extra = {"opset": options.opset, "calibration": calibration_record(options),
             "per_channel": options.onnx_per_channel, "quantization": record.to_json()}
    meta = embedded_metadata("onnx", "int8", options, **extra)
    data = attach_metadata(proto, meta)
    return write_artifact(data, Path(out_dir) / filename, "onnx", "int8", started, spec=options.spec, **extra)
