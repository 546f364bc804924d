"""The int8 TFLite model as a C source/header pair for TensorFlow Lite Micro.

``mnist_cnn_int8.cc`` holds ``alignas(16) const unsigned char g_mnist_cnn_int8[]`` and
``const unsigned int g_mnist_cnn_int8_len``; ``mnist_cnn_int8.h`` declares them. TFLM
reads the flatbuffer in place, so the array must be 16-byte aligned and must stay const
(it then lives in flash, not RAM).
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from edgecnn import fileio
from edgecnn.artifact import Artifact

BYTES_PER_LINE = 12  # keeps lines under 80 columns

# TFLite builtin ops TensorFlow Lite Micro has kernels for, and the MicroMutableOpResolver
# method that registers each (tflite-micro's micro_mutable_op_resolver.h). An op outside
# this table cannot run on a microcontroller: the C array export refuses the model.
TFLM_OPS = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "CAST": "AddCast", "CEIL": "AddCeil",
    "CONCATENATION": "AddConcatenation", "CONV_2D": "AddConv2D", "COS": "AddCos", "CUMSUM": "AddCumSum",
    "DEPTH_TO_SPACE": "AddDepthToSpace", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv", "ELU": "AddElu", "EQUAL": "AddEqual", "EXP": "AddExp",
    "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor", "FLOOR_DIV": "AddFloorDiv",
    "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected", "GATHER": "AddGather",
    "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish", "L2_NORMALIZATION": "AddL2Normalization", "L2_POOL_2D": "AddL2Pool2D",
    "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual", "LOG": "AddLog",
    "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax", "MAX_POOL_2D": "AddMaxPool2D",
    "MAXIMUM": "AddMaximum", "MEAN": "AddMean", "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad",
    "MUL": "AddMul", "NEG": "AddNeg", "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad",
    "PADV2": "AddPadV2", "PRELU": "AddPrelu", "QUANTIZE": "AddQuantize", "REDUCE_MAX": "AddReduceMax",
    "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu", "RELU6": "AddRelu6", "RESHAPE": "AddReshape",
    "RESIZE_BILINEAR": "AddResizeBilinear", "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "ROUND": "AddRound", "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin",
    "SLICE": "AddSlice", "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPACE_TO_DEPTH": "AddSpaceToDepth", "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt",
    "SQUARE": "AddSquare", "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice", "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose", "TRANSPOSE_CONV": "AddTransposeConv", "UNPACK": "AddUnpack",
    "ZEROS_LIKE": "AddZerosLike", "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice", "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "REVERSE_V2": "AddReverseV2", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "CALL_ONCE": "AddCallOnce", "VAR_HANDLE": "AddVarHandle", "READ_VARIABLE": "AddReadVariable",
    "ASSIGN_VARIABLE": "AddAssignVariable", "IF": "AddIf", "WHILE": "AddWhile",
}


def op_resolver(ops: list[str]) -> list[str]:
    """The MicroMutableOpResolver calls that register exactly ``ops`` (TFLite builtin names)."""
    return [f"resolver.{TFLM_OPS[op]}();  // {op}" for op in ops]


def symbol_name(stem: str) -> str:
    """C identifier for a file stem: ``mnist_cnn_int8`` -> ``g_mnist_cnn_int8``."""
    return "g_" + re.sub(r"\W", "_", stem)


def c_header(stem: str, ops: list[str] | None = None) -> str:
    """The header; with ``ops``, also the op resolver of exactly the model's ops (opt-in by a macro)."""
    sym = symbol_name(stem)
    guard = f"{re.sub(r'[^A-Za-z0-9]', '_', stem).upper()}_H_"
    resolver = ""
    if ops:
        macro = f"{re.sub(r'[^A-Za-z0-9]', '_', stem).upper()}_OP_RESOLVER"
        resolver = (
            f"// The model's ops ({', '.join(ops)}). Define {macro} before including this header\n"
            f"// for {sym}_register_ops(), which registers exactly these with TFLM.\n"
            f"#define {sym.upper()}_OP_COUNT {len(ops)}\n"
            f"#ifdef {macro}\n"
            f'#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"\n'
            f"inline TfLiteStatus {sym}_register_ops(tflite::MicroMutableOpResolver<{len(ops)}>& resolver) {{\n"
            + "\n".join(f"  if ({line.split(';')[0]} != kTfLiteOk) return kTfLiteError;  //{line.split('//')[1]}"
                         for line in op_resolver(ops)) + "\n"
            f"  return kTfLiteOk;\n}}\n#endif  // {macro}\n\n"
        )
    return (
        f"// {stem}: int8 TFLite flatbuffer for TensorFlow Lite Micro. Generated by edgecnn; do not edit.\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char {sym}[];\n"
        f"extern const unsigned int {sym}_len;\n\n"
        f"{resolver}"
        f"#endif  // {guard}\n"
    )


def c_source(data: bytes, stem: str, sha256: str) -> str:
    sym = symbol_name(stem)
    hex_bytes = [f"0x{b:02x}" for b in data]
    lines = [
        "  " + ", ".join(hex_bytes[i: i + BYTES_PER_LINE]) + ","
        for i in range(0, len(hex_bytes), BYTES_PER_LINE)
    ]
    return (
        f"// {stem}.tflite ({len(data)} bytes, sha256 {sha256}) as a C array.\n"
        f"// Generated by edgecnn; do not edit. 16-byte alignment: TFLM reads the flatbuffer in place.\n"
        f'#include "{stem}.h"\n\n'
        f"alignas(16) const unsigned char {sym}[] = {{\n" + "\n".join(lines) + "\n};\n"
        f"const unsigned int {sym}_len = {len(data)};\n"
    )


def write_c_array(data: bytes, out_dir: Path, stem: str, ops: list[str] | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.cc`` and ``<stem>.h`` for the flatbuffer ``data`` (each atomically)."""
    out_dir = Path(out_dir)
    header = fileio.write_text(out_dir / f"{stem}.h", c_header(stem, ops))
    source = fileio.write_text(out_dir / f"{stem}.cc", c_source(data, stem, fileio.sha256_bytes(data)))
    return source, header


def export_int8(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """Export the int8 TFLite model (the tflite exporter's own conversion) as ``filename`` (.cc) + .h."""
    from edgecnn.export import tflite_accuracy

    started = time.perf_counter()
    stem = Path(filename).stem
    fileio.ensure_dir(Path(out_dir))
    # Reuse the int8 TFLite exporter as it is (conversion, metadata, checks) in a scratch folder.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".c_array.") as scratch:
        flat = tflite_accuracy.export_int8(model, Path(scratch), filename=f"{stem}.tflite", options=options, pair=False,
                                model_metadata=False, full_integer=True)
        data = Path(flat.path).read_bytes()
    ops = check_tflm_ops(data, model)
    source, header = write_c_array(data, out_dir, stem, ops)
    return replace(
        flat, path=source, format="c", bytes=source.stat().st_size, sha256=fileio.sha256_file(source),
        export_seconds=time.perf_counter() - started,
        extra={**flat.extra, "header": header.name, "symbol": symbol_name(stem),
               "tflite_bytes": len(data), "tflite_sha256": fileio.sha256_bytes(data), "ops": ops},
    )


def check_tflm_ops(data: bytes, model=None) -> list[str]:
    """The model's builtin ops; an op TFLite Micro lacks is an UnsupportedOpError naming its layer."""
    from edgecnn.export.unsupported import layer_of_tflite_op
    from edgecnn.tflm import builtin_ops

    ops = builtin_ops(data)
    missing = [op for op in ops if op not in TFLM_OPS]
    if missing:
        from edgecnn.export import UnsupportedOpError

        where = ", ".join(f"layer {layer_of_tflite_op(data, op, model)!r} (op {op})" for op in missing)
        raise UnsupportedOpError(f"{where} has no TensorFlow Lite Micro kernel")
    return ops
