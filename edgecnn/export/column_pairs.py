"""1-channel convolutions computed on pairs of columns (TFLite flatbuffer rewrite), and back.

``pair_columns`` is applied to every exported ``.tflite`` file: same outputs, faster on XNNPACK.
``unpair_columns`` restores the converter's graph exactly, for TensorFlow Lite Micro (where the
extra RESHAPE outputs would cost arena and the zero taps MACs, for no gain).
"""

from __future__ import annotations

from typing import Any

import numpy as np

TFLITE_IDENTIFIER = b"TFL3"
PAIRS = b"/column_pairs_"  # every tensor the rewrite adds is named <conv output>/column_pairs_<what>


def pair_columns(model_bytes: bytes) -> bytes:
    """Compute each 1-channel convolution on pairs of columns: the same numbers, ~1.4x faster int8.

    XNNPACK's int8 GEMM kernels pad the input channels of a convolution to a multiple of 8 (or
    4), so a convolution of a 1-channel image (MNIST's first layer: K = 3x3x1) wastes most of its
    work: it took longer in int8 than in float32 (benchmarks/speed.py, "where the time goes").
    Reading the H x W x 1 input as H x W/2 x 2 (a free RESHAPE: NHWC keeps adjacent columns
    adjacent), one output position computes two adjacent output columns with a kh x (kw//2 + 1)
    x 2 kernel and 2 x Cout channels (the taps that fall outside the original kernel are zero),
    and H' x W'/2 x 2Cout reshapes back to H' x W' x Cout for free. Every value is computed from
    the same weights in the same order: the outputs are identical (int8 codes bit for bit),
    at the cost of the zero taps (conv1 of the reference CNN: 48,672 MACs instead of 36,504).

    Applies to CONV_2D ops with one input channel, an odd kernel width, stride 1, dilation 1,
    VALID padding, an even input width and float32 or int8 weights in the file; others are left alone.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    ops = schema.BuiltinOperator
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    changed = 0
    for sub in model.subgraphs:
        rewritten: list[Any] = []
        for op in sub.operators:
            pieces = _paired(model, sub, op, codes, schema) if codes[op.opcodeIndex] == ops.CONV_2D else None
            rewritten.extend(pieces or [op])
            changed += bool(pieces)
        sub.operators = rewritten
    if not changed:
        return model_bytes
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def _paired_weights(w_arr: np.ndarray, cout: int, kh: int, kw: int) -> np.ndarray:
    """The (2*cout, kh, kw//2 + 1, 2) kernel over column pairs: output pair column j computes
    output columns 2j and 2j + 1 from the same pairs of input columns."""
    taps = kw // 2 + 1  # pair columns an output pair reads
    paired = np.zeros((2 * cout, kh, taps, 2), w_arr.dtype)
    for p in range(2):  # output column 2j + p reads input columns 2j + p .. 2j + p + kw - 1
        for t in range(taps):
            for c in range(2):
                k = 2 * t + c - p
                if 0 <= k < kw:
                    paired[p * cout:(p + 1) * cout, :, t, c] = w_arr[:, :, k, 0]
    return paired


def _quant(q: Any, tile: bool, schema: Any) -> Any:
    """A copy of quantization parameters ``q``; per-channel ones twice over when ``tile``."""
    if q is None or q.scale is None or not len(q.scale):
        return None
    new = schema.QuantizationParametersT()
    reps = 2 if tile and len(q.scale) > 1 else 1
    new.scale, new.zeroPoint = list(q.scale) * reps, list(q.zeroPoint) * reps
    new.quantizedDimension = q.quantizedDimension
    return new


def _paired(model, sub, conv, codes, schema):
    """[RESHAPE, paired CONV_2D, RESHAPE] replacing ``conv``, or None when it does not apply.

    Longer than 60 lines: one rewrite whose checks, new buffers and new tensors all append to the
    same model and subgraph lists (the two closures below); split up, each piece would take them all.
    """
    types = schema.TensorType
    x_i, w_i, b_i = (list(conv.inputs) + [-1, -1, -1])[:3]
    opt = conv.builtinOptions
    if w_i < 0 or b_i < 0 or opt is None:
        return None
    x, w, b, out = sub.tensors[x_i], sub.tensors[w_i], sub.tensors[b_i], sub.tensors[conv.outputs[0]]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        return None
    cout, kh, kw, cin = (int(d) for d in w.shape)
    height, width = int(x.shape[1]), int(x.shape[2])
    out_h, out_w = int(out.shape[1]), int(out.shape[2])
    weights = model.buffers[w.buffer].data if w.buffer < len(model.buffers) else None
    bias = model.buffers[b.buffer].data if b.buffer < len(model.buffers) else None
    kinds = {(types.FLOAT32, types.FLOAT32, types.FLOAT32): (np.float32, np.float32),
             (types.INT8, types.INT8, types.INT32): (np.int8, np.int32)}
    dtypes = kinds.get((x.type, w.type, b.type))
    if (cin != 1 or kw % 2 == 0 or width % 2 or out_w != width - kw + 1 or dtypes is None
            or weights is None or bias is None or len(weights) == 0
            or opt.padding != schema.Padding.VALID or (opt.strideW, opt.strideH) != (1, 1)
            or (opt.dilationWFactor, opt.dilationHFactor) != (1, 1)):
        return None
    w_arr = np.frombuffer(bytes(memoryview(weights).cast("B")), dtypes[0]).reshape(cout, kh, kw, 1)
    b_arr = np.frombuffer(bytes(memoryview(bias).cast("B")), dtypes[1])
    paired = _paired_weights(w_arr, cout, kh, kw)

    def buffer(arr=None) -> int:
        buf = schema.BufferT()
        if arr is not None:
            buf.data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8)
        model.buffers.append(buf)
        return len(model.buffers) - 1

    def tensor(name: bytes, shape, ttype, q, data=None, batch_dynamic=False) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.quantization = name, [int(d) for d in shape], ttype, q
        if batch_dynamic:
            t.shapeSignature = [-1, *[int(d) for d in shape[1:]]]
        t.buffer = buffer(data)
        sub.tensors.append(t)
        return len(sub.tensors) - 1

    base = out.name or b"conv"
    dynamic = x.shapeSignature is not None and len(x.shapeSignature) and int(x.shapeSignature[0]) == -1
    x2 = tensor(base + b"/column_pairs_in", (x.shape[0], height, width // 2, 2), x.type,
                _quant(x.quantization, False, schema), batch_dynamic=dynamic)
    s_in = tensor(base + b"/column_pairs_in_shape", (4,), types.INT32, None,
                  np.array([-1, height, width // 2, 2], np.int32))
    # The weight and bias tensors are rewritten in place (renamed, so that ``unpair_columns`` finds them).
    for t, arr, what in ((w, paired, b"weights"), (b, np.tile(b_arr, 2), b"bias")):
        shared = sum(1 for other in sub.tensors if other.buffer == t.buffer) > 1
        if shared:
            t.buffer = buffer(arr)
        else:
            model.buffers[t.buffer].data = np.frombuffer(np.ascontiguousarray(arr).tobytes(), np.uint8)
        t.shape, t.quantization = list(arr.shape), _quant(t.quantization, True, schema)
        t.name = (t.name or b"") + PAIRS + what
    y2 = tensor(base + b"/column_pairs_out", (out.shape[0], out_h, out_w // 2, 2 * cout), out.type,
                _quant(out.quantization, False, schema), batch_dynamic=dynamic)
    s_out = tensor(base + b"/column_pairs_out_shape", (4,), types.INT32, None,
                   np.array([-1, out_h, out_w, cout], np.int32))
    reshape = _opcode_index(model, schema.BuiltinOperator.RESHAPE, schema)
    first, last = schema.OperatorT(), schema.OperatorT()
    first.opcodeIndex, first.inputs, first.outputs = reshape, [x_i, s_in], [x2]
    last.opcodeIndex, last.inputs, last.outputs = reshape, [y2, s_out], list(conv.outputs)
    conv.inputs, conv.outputs = [x2, w_i, b_i], [y2]
    return [first, conv, last]


def _opcode_index(model, code: int, schema) -> int:
    for i, c in enumerate(model.operatorCodes):
        if max(c.builtinCode, c.deprecatedBuiltinCode) == code:
            return i
    new = schema.OperatorCodeT()
    new.builtinCode, new.deprecatedBuiltinCode, new.version = code, min(code, 127), 1
    model.operatorCodes.append(new)
    return len(model.operatorCodes) - 1




def unpair_columns(model_bytes: bytes) -> bytes:
    """Undo ``pair_columns``: each RESHAPE -> paired CONV_2D -> RESHAPE becomes the original CONV_2D again."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    changed = 0
    for index, sub in enumerate(model.subgraphs):
        ops, out = list(sub.operators), []
        i = 0
        while i < len(ops):
            conv = ops[i + 1] if i + 1 < len(ops) else None
            w_name = sub.tensors[conv.inputs[1]].name if conv is not None and len(conv.inputs) > 1 else None
            if conv is not None and i + 2 < len(ops) and w_name and w_name.endswith(PAIRS + b"weights"):
                first, last = ops[i], ops[i + 2]
                w, b = sub.tensors[conv.inputs[1]], sub.tensors[conv.inputs[2]]
                cout2, kh, taps, _ = (int(d) for d in w.shape)
                cout, kw = cout2 // 2, 2 * taps - 1
                dtype = np.int8 if w.type == schema.TensorType.INT8 else np.float32
                b_dtype = np.int32 if b.type == schema.TensorType.INT32 else np.float32
                raw = bytes(memoryview(model.buffers[w.buffer].data).cast("B"))
                paired = np.frombuffer(raw, dtype).reshape(w.shape)
                original = np.zeros((cout, kh, kw, 1), dtype)
                for k in range(kw):  # output column 2j reads tap k at pair column k // 2, channel k % 2
                    original[:, :, k, 0] = paired[:cout, :, k // 2, k % 2]
                bias = np.frombuffer(bytes(memoryview(model.buffers[b.buffer].data).cast("B")), b_dtype)[:cout]
                model.buffers[w.buffer].data = np.frombuffer(original.tobytes(), np.uint8)
                model.buffers[b.buffer].data = np.frombuffer(np.ascontiguousarray(bias).tobytes(), np.uint8)
                w.shape, b.shape = list(original.shape), [cout]
                w.name, b.name = w.name[: -len(PAIRS + b"weights")], b.name[: -len(PAIRS + b"bias")]
                for t in (w, b):
                    q = t.quantization
                    if q is not None and q.scale is not None and len(q.scale) > 1:
                        q.scale, q.zeroPoint = list(q.scale)[:cout], list(q.zeroPoint)[:cout]
                conv.inputs = [first.inputs[0], conv.inputs[1], conv.inputs[2]]
                conv.outputs = list(last.outputs)
                out.append(conv)
                changed += 1
                i += 3
                continue
            out.append(ops[i])
            i += 1
        sub.operators = out
        renumber = _drop_unused_pair_tensors(sub)
        for signature in model.signatureDefs or []:
            if signature.subgraphIndex == index:
                for tensor_map in [*(signature.inputs or []), *(signature.outputs or [])]:
                    tensor_map.tensorIndex = renumber[tensor_map.tensorIndex]
    if not changed:
        return model_bytes
    builder = flatbuffers.Builder(len(model_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def _drop_unused_pair_tensors(sub) -> dict[int, int]:
    """Remove the tensors ``pair_columns`` added that no op uses any more; old -> new tensor index."""
    used = {i for op in sub.operators for i in [*op.inputs, *op.outputs] if i >= 0} | set(sub.inputs) | set(sub.outputs)
    keep = [i for i, t in enumerate(sub.tensors) if i in used or PAIRS not in (t.name or b"")]
    new_index = {old: new for new, old in enumerate(keep)}
    sub.tensors = [sub.tensors[i] for i in keep]
    for op in sub.operators:
        op.inputs = [new_index[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [new_index[i] for i in op.outputs]
    sub.inputs = [new_index[i] for i in sub.inputs]
    sub.outputs = [new_index[i] for i in sub.outputs]
    return new_index
