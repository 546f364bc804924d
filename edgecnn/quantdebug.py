"""Where an int8 TFLite model loses accuracy: the error at every layer, measured on the file itself.

TensorFlow's ``QuantizationDebugger`` re-converts the Keras model with its own
calibration, so it diagnoses a *new* int8 model, not the artifact that failed. Here
the artifact runs in LiteRT with every intermediate tensor kept, next to a float32
TFLite conversion of the same Keras model (the reference: it matches Keras to ~1e-6).
The two graphs come from the same converter, so their ops align one to one.

For every quantized op output the table gives:

- ``clipped``: the share of reference values outside the tensor's int8 range
  (``scale * (-128 - zp) … scale * (127 - zp)``): a range calibrated on
  unrepresentative images clips here;
- ``own``: the error this tensor's own grid adds, i.e. the RMSE of the reference
  quantized and dequantized with the tensor's scale/zero point, in quantization
  steps (≈ 0.29 = 1/√12 for pure rounding; far more when it clips);
- ``rmse``: the accumulated error, RMSE of the int8 tensor (dequantized) against the
  reference, in steps; and ``rel``: the same RMSE relative to the reference's RMS.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.data import preprocess
from edgecnn.errors import ModelError

log = logging.getLogger(__name__)

# Skipped when aligning the int8 ops with the float reference: the int8 model's boundary
# conversions have no float twin, and shape plumbing (a dynamic-batch Flatten becomes
# SHAPE/STRIDED_SLICE/PACK/RESHAPE in some converters, one static RESHAPE in edgecnn's)
# moves values without adding error, so files converted either way can be diagnosed.
_SKIP_OPS = {"QUANTIZE", "DEQUANTIZE", "SHAPE", "STRIDED_SLICE", "PACK", "RESHAPE"}
# Rounding alone gives ~0.29 steps; above one step the range clips real values hard. (A clipped
# *share* alone is no alarm: int8 softmax outputs always clip p > 0.996 by a fraction of a step.)
_HEALTHY_OWN_STEPS = 1.0


def _plain_convert(model) -> bytes:
    """TensorFlow's own float conversion of a Keras model (the op order most converters keep)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def _interpreter(content: bytes, batch: int):
    from edgecnn.runtime.tflite import _interpreter_class

    Interpreter, OpResolverType = _interpreter_class()
    try:
        # Reference kernels without XNNPACK: a delegate would fuse ops and hide their outputs.
        it = Interpreter(
            model_content=content, experimental_preserve_all_tensors=True,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
        detail = it.get_input_details()[0]
        shape = [int(d) for d in detail.get("shape_signature", detail["shape"])[1:]]  # the model's (H, W, C)
        it.resize_tensor_input(detail["index"], [batch, *shape], strict=True)
        it.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"not a loadable TFLite model ({exc})") from exc
    return it


def _ops(it) -> list[dict[str, Any]]:
    return [op for op in it._get_ops_details() if op["op_name"] not in _SKIP_OPS]


def _layer_name(tensor_name: str, previous: str, known: set[str]) -> str:
    """The Keras layer of a tensor: 'conv1_1/BiasAdd;…' or 'mnist_cnn_1/conv1_1/…' -> 'conv1'.

    The converter prefixes names with the layer (and, depending on how the model was
    traced, the model) plus a call counter; names it invents ('Reshape',
    'StatefulPartitionedCall_1:0') inherit the previous op's layer.
    """
    for part in tensor_name.split(";")[0].split("/"):
        name = re.sub(r"_\d+$", "", part)
        if name in known:
            return name
    return previous or tensor_name


def _run(it, x: np.ndarray, tensors: list[int]) -> dict[int, np.ndarray]:
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {t: it.get_tensor(t).copy() for t in tensors}


def _float_twin(keras_model: Any, spec: Any, q_ops: list[dict[str, Any]], batch: int, artifact_path: Path):
    """The float32 interpreter whose ops line up with the int8 file's, and its ops.

    The float twin must have the int8 file's op order: edgecnn's export (MaxPool before tanh),
    else TensorFlow's plain conversion, for files converted elsewhere (with or without the
    column-paired first convolution, as the file has it).
    """
    from edgecnn.export import ExportOptions
    from edgecnn.export.tflite import _convert

    for convert in (lambda m: _convert(m, "float32", ExportOptions(spec=spec)),
                    lambda m: _convert(m, "float32", ExportOptions(spec=spec), pair=False), _plain_convert):
        ref = _interpreter(convert(keras_model), batch)
        f_ops = _ops(ref)
        if [op["op_name"] for op in q_ops] == [op["op_name"] for op in f_ops]:
            return ref, f_ops
    raise ModelError(
        f"{artifact_path}: its ops {[op['op_name'] for op in q_ops]} do not align with the float "
        f"reference {[op['op_name'] for op in f_ops]}; was it exported from this model?"
    )


def _tensor_pairs(quant: Any, ref: Any, q_ops: list[dict[str, Any]], f_ops: list[dict[str, Any]]) -> list[tuple]:
    """(op name, int8 tensor detail, float tensor detail) for every op output with a float twin."""
    from edgecnn.export.column_pairs import PAIRS

    pairs = []
    for q_op, f_op in zip(q_ops, f_ops):
        if q_op["op_name"] == "RESHAPE" and any(
                PAIRS.decode() in quant._get_tensor_details(t, 0)["name"] for t in [*q_op["inputs"], *q_op["outputs"]]):
            continue  # the free reshapes around a column-paired convolution are not layers (export.column_pairs)
        for qt, ft in zip(q_op["outputs"], f_op["outputs"]):
            q_detail, f_detail = quant._get_tensor_details(qt, 0), ref._get_tensor_details(ft, 0)
            if np.dtype(f_detail["dtype"]) == np.float32 and q_detail["quantization"][0]:
                pairs.append((q_op["op_name"], q_detail, f_detail))
    return pairs


def _error_sums(quant: Any, ref: Any, pairs: list[tuple], images: np.ndarray, batch: int, preprocessing: Any,
                in_spec: Any) -> dict[int, np.ndarray]:
    """Per pair, summed over whole batches of ``images``: [n, sq_err, sq_own, sq_ref, clipped]."""
    from edgecnn.runtime.base import quantize

    sums: dict[int, np.ndarray] = {}
    for start in range(0, len(images) - batch + 1, batch):  # whole batches only: the shapes are fixed
        x = preprocess(images[start: start + batch], preprocessing)
        q_vals = _run(quant, quantize(x, in_spec), [q["index"] for _, q, _ in pairs])
        f_vals = _run(ref, x, [f["index"] for _, _, f in pairs])
        for k, (_, q_detail, f_detail) in enumerate(pairs):
            s, z = q_detail["quantization"]
            info = np.iinfo(np.dtype(q_detail["dtype"]))
            reference = f_vals[f_detail["index"]].astype(np.float64)
            got = s * (q_vals[q_detail["index"]].astype(np.float64) - z)
            steps = np.round(reference / s) + z
            own = s * (np.clip(steps, info.min, info.max) - z)
            acc = sums.setdefault(k, np.zeros(5))
            acc += (
                reference.size, ((got - reference) ** 2).sum(), ((own - reference) ** 2).sum(),
                (reference ** 2).sum(), ((steps < info.min) | (steps > info.max)).sum(),
            )
    return sums


def _layer_rows(pairs: list[tuple], sums: dict[int, np.ndarray], known: set[str]) -> list[dict[str, Any]]:
    """One table row per pair: its layer, quantization and errors in quantization steps."""
    layers, previous = [], ""
    for k, (op_name, q_detail, f_detail) in enumerate(pairs):
        n, sq_err, sq_own, sq_ref, clipped = sums[k]
        s, z = q_detail["quantization"]
        previous = _layer_name(f_detail["name"], previous, known)
        rmse, own = np.sqrt(sq_err / n), np.sqrt(sq_own / n)
        entry = {
            "op": op_name,
            "layer": previous,
            "tensor": q_detail["name"],
            "scale": float(s),
            "zero_point": int(z),
            "clipped": float(clipped / n),
            "own_rmse_steps": float(own / s),
            "rmse_steps": float(rmse / s),
            "rel_error": float(rmse / np.sqrt(sq_ref / n)) if sq_ref else 0.0,
        }
        entry["flag"] = entry["own_rmse_steps"] > _HEALTHY_OWN_STEPS
        layers.append(entry)
    return layers


def debug_tflite_int8(
    artifact_path: Path, model_path: Path, images: np.ndarray, batch_size: int = 1000, unsafe: bool = False
) -> dict[str, Any]:
    """Per-layer error table of an int8 ``.tflite`` file against a float reference of the Keras model.

    ``images`` are uint8 test images. Returns ``{"reference", "samples", "layers": [...]}``
    where each layer has op, layer, tensor, scale, zero_point, clipped, own_rmse_steps,
    rmse_steps, rel_error and flag. Raises ModelError if the file is not an int8 TFLite
    model of the reference architecture.
    """
    from edgecnn.model import load_model
    from edgecnn.runtime import load
    from edgecnn.runtime.tflite import _spec

    artifact_path = Path(artifact_path)
    images = np.asarray(images)
    batch = min(batch_size, len(images))
    if batch == 0:
        raise ModelError("no images to run the layer diagnosis on")
    quant = _interpreter(artifact_path.read_bytes(), batch)
    spec = load(artifact_path).spec  # the declared preprocessing and head
    keras_model = load_model(model_path, unsafe=unsafe)
    q_ops = _ops(quant)
    ref, f_ops = _float_twin(keras_model, spec, q_ops, batch, artifact_path)
    in_spec = _spec(quant.get_input_details()[0])
    if not in_spec.quantized:
        raise ModelError(f"{artifact_path}: input is not int8-quantized; --debug-quant is for full-integer models")
    pairs = _tensor_pairs(quant, ref, q_ops, f_ops)
    sums = _error_sums(quant, ref, pairs, images, batch, spec.preprocessing, in_spec)
    layers = _layer_rows(pairs, sums, {layer.name for layer in keras_model.layers})
    log.info("%s: layer diagnosis over %d images", artifact_path.name, len(images) - len(images) % batch)
    return {
        "reference": "float32 TFLite conversion of the Keras model",
        "samples": len(images) - len(images) % batch,
        "layers": layers,
    }


def format_layers(table: dict[str, Any]) -> str:
    """The per-layer table as text; flagged layers are marked with '<-'."""
    if "error" in table:
        return f"layer diagnosis failed: {table['error']}"
    header = ("#", "op", "layer", "scale", "zp", "clipped", "own (steps)", "rmse (steps)", "rel. error", "")
    lines = [header]
    for i, layer in enumerate(table["layers"]):
        lines.append((
            str(i), layer["op"], layer["layer"], f"{layer['scale']:.3g}", str(layer["zero_point"]),
            f"{layer['clipped']:.2%}", f"{layer['own_rmse_steps']:.2f}", f"{layer['rmse_steps']:.2f}",
            f"{layer['rel_error']:.2%}", "<- check calibration" if layer["flag"] else "",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    text.append(
        f"({table['samples']:,} test images vs {table['reference']}; own = error of this tensor's int8 grid alone, "
        "rmse/rel = accumulated error)"
    )
    flagged = [(i, x) for i, x in enumerate(table["layers"]) if x["flag"]]
    if flagged:
        i, x = flagged[0]
        text.append(
            f"First layer out of range: #{i} {x['layer']} {x['op']} ({x['clipped']:.1%} of its float values fall "
            "outside the int8 range): recalibrate with representative images"
        )
    return "\n".join(text)
