"""What a TensorFlow Lite Micro build needs to know about a TFLite file, read from the flatbuffer alone.

* ``builtin_ops``: the operators the model uses, i.e. what ``MicroMutableOpResolver`` must register;
* ``plan_arena``: the tensor-arena bytes the activations need, computed like TFLM's
  ``GreedyMemoryPlanner`` (each non-constant tensor lives from the op that writes it to the last
  op that reads it; largest first, each placed at the lowest 16-byte-aligned offset that does
  not overlap a live tensor), plus an estimate of TFLM's persistent allocations.

TF-free: uses only ``ai_edge_litert.schema_py_generated`` (or ``tflite_runtime``'s twin) and numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgecnn.errors import ModelError

ALIGN = 16  # TFLM aligns every arena buffer to 16 bytes
# Bytes per element of schema.TensorType values (FLOAT32=0, FLOAT16=1, INT32=2, UINT8=3,
# INT64=4, BOOL=6, INT16=7, INT8=9).
_DTYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1}
# Persistent TFLM data, estimated per tensor (TfLiteEvalTensor + TfLiteTensor bookkeeping),
# per operator (node, registration, op data) and per quantization channel (multiplier + shift).
PERSISTENT_PER_TENSOR = 64
PERSISTENT_PER_OP = 160
PERSISTENT_PER_CHANNEL = 8
# MicroMutableOpResolver method for each builtin op name (anything else: CamelCase of the name).
_RESOLVER = {
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "MAX_POOL_2D": "AddMaxPool2D",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "FULLY_CONNECTED": "AddFullyConnected",
}


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError as exc:
        raise ModelError("reading TFLite flatbuffers needs ai-edge-litert: pip install ai-edge-litert") from exc
    return schema


def _model(data: bytes):
    schema = _schema()
    try:
        model = schema.Model.GetRootAs(data, 0)
        if model.SubgraphsLength() < 1:
            raise ModelError("TFLite model has no subgraph")
        return schema, model
    except ModelError:
        raise
    except Exception as exc:  # a malformed flatbuffer raises struct/index errors
        raise ModelError(f"not a readable TFLite flatbuffer ({exc})") from exc


def resolver_method(op_name: str) -> str:
    return _RESOLVER.get(op_name) or "Add" + "".join(part.capitalize() for part in op_name.split("_"))


def builtin_ops(data: bytes) -> list[str]:
    """Builtin operator names used by the model (e.g. ``CONV_2D``), in first-use order."""
    schema, model = _model(data)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.Subgraphs(0)
    seen: list[str] = []
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        # Newer files keep the code in BuiltinCode, older ones (code < 127) in DeprecatedBuiltinCode.
        value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = names.get(value, f"CUSTOM_{value}")
        if name not in seen:
            seen.append(name)
    return seen


@dataclass(frozen=True)
class ArenaPlan:
    """Tensor-arena figures for one model (bytes)."""

    activations: int  # peak of the greedy plan for the non-constant tensors
    persistent: int  # estimate of TFLM's persistent allocations
    largest_tensor: int  # the biggest single activation
    operators: int
    tensors: int
    lower_bound: int = 0  # no arena below this can work: the largest op's own live buffers (see plan_arena)

    @property
    def recommended(self) -> int:
        """activations + persistent + 25 % margin, rounded up to a whole KiB."""
        return int(math.ceil((self.activations + self.persistent) * 1.25 / 1024) * 1024)


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_arena(data: bytes) -> ArenaPlan:
    """Compute the arena the model needs with TFLM's greedy placement (batch 1)."""
    schema, model = _model(data)
    graph = model.Subgraphs(0)
    n_ops = graph.OperatorsLength()
    first: dict[int, int] = {int(i): 0 for i in graph.InputsAsNumpy()}
    last: dict[int, int] = {int(i): n_ops - 1 for i in graph.OutputsAsNumpy()}
    for step in range(n_ops):
        op = graph.Operators(step)
        for t in op.InputsAsNumpy():
            if t >= 0:
                last[int(t)] = max(last.get(int(t), step), step)
        for t in op.OutputsAsNumpy():
            first.setdefault(int(t), step)
            last.setdefault(int(t), step)
    buffers, channels = [], 0
    for idx in range(graph.TensorsLength()):
        tensor = graph.Tensors(idx)
        quant = tensor.Quantization()
        if quant is not None and quant.ScaleLength() > 1:
            channels += quant.ScaleLength()
        buf = model.Buffers(tensor.Buffer())
        if buf.DataLength() > 0 or buf.Offset() > 1:  # constant: stays in flash, not in the arena
            continue
        if idx not in first:
            continue
        shape = [max(1, int(d)) for d in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else [1]
        size = math.prod(shape) * _DTYPE_BYTES.get(tensor.Type(), 4)
        buffers.append((size, first[idx], last.get(idx, first[idx])))
    lower_bound = _lower_bound(graph, model, n_ops)
    placed: list[tuple[int, int, int, int]] = []  # offset, size, first, last
    for size, start, end in sorted(buffers, key=lambda b: -b[0]):
        offset = 0
        for o, s, a, b in sorted(placed):
            if b < start or a > end:  # never alive at the same time
                continue
            if offset + _aligned(size) <= o:
                break
            offset = max(offset, o + _aligned(s))
        placed.append((offset, size, start, end))
    activations = max((o + _aligned(s) for o, s, _, _ in placed), default=0)
    persistent = (
        graph.TensorsLength() * PERSISTENT_PER_TENSOR + n_ops * PERSISTENT_PER_OP + channels * PERSISTENT_PER_CHANNEL
    )
    return ArenaPlan(
        activations=activations, persistent=persistent, largest_tensor=max((b[0] for b in buffers), default=0),
        operators=n_ops, tensors=graph.TensorsLength(), lower_bound=lower_bound,
    )


# Ops TFLM may run in place (output sharing the input's memory): their buffers are not counted together.
_IN_PLACE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def _lower_bound(graph, model, n_ops: int) -> int:
    """Bytes below which no arena can hold the model: the largest sum of one op's distinct
    non-constant inputs and outputs (an op reads and writes them at once, so no planner can
    overlap them), 16-byte aligned; an in-place op counts only its largest tensor.

    The arena bisection starts here so that the interpreter is never handed a hopeless arena:
    PyPI tflite-micro segfaults instead of failing below a few hundred bytes (measured at 100 B).
    """
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

    def size(idx: int) -> int:
        tensor = graph.Tensors(idx)
        buf = model.Buffers(tensor.Buffer())
        if buf.DataLength() > 0 or buf.Offset() > 1:
            return 0
        shape = [max(1, int(d)) for d in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else [1]
        return _aligned(math.prod(shape) * _DTYPE_BYTES.get(tensor.Type(), 4))

    best = 0
    for step in range(n_ops):
        op = graph.Operators(step)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "")
        sizes = [size(int(t)) for t in {*op.InputsAsNumpy().tolist(), *op.OutputsAsNumpy().tolist()} if t >= 0]
        best = max(best, max(sizes, default=0) if name in _IN_PLACE else sum(sizes))
    return best
