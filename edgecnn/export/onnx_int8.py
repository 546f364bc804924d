"""int8 ONNX: which ops go to int8, in which format, and how much each quantized node costs.

The rule (``plan``), measured on ONNX Runtime's CPU kernels (benchmarks/onnx_choice.py, on a
MobileNetV2 and on the reference CNN):

* format QOperator (QLinearConv, QLinearAdd, QGemm, …) with uint8 activations and int8 weights,
  per-channel: the QDQ form of the same graph runs slower at batch 1 (ORT must fuse every
  DequantizeLinear -> op -> QuantizeLinear back into the same kernels), and int8 activations in
  QDQ were ~4x slower still;
* ``reduce_range`` (7-bit weights): x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake)
  multiply uint8 x int8 pairs with ``vpmaddubsw``, whose int16 sums saturate; with full 8-bit
  weights the MobileNetV2 agreed with Keras on 96.5 % of its test photos, with 7-bit ones 99.1 %;
* every convolution (regular, depthwise, pointwise), Gemm/MatMul, Add, and pooling goes to int8
  (``LAYER_OP_TYPES``: the "layers" a record counts), with the ops ONNX Runtime carries along
  in int8 between them (``PASSENGER_OP_TYPES``: ReLU/ReLU6 fused into the convolution, reshapes);
* except a convolution on an image's own channels (``group == 1`` and at most
  ``STEM_CHANNELS`` = 3 input channels: a grey or RGB stem): QLinearConv has no kernel worth the
  name for so few channels (on the reference CNN the 1-channel one took 80 % of the int8 file's
  time; on the MobileNetV2 0.35 of tests/real_models.py, 96x96, one thread, its 3-channel stem in
  float32 makes the file 0.73-0.79x float32's p50 at batch 1 against 0.79-0.82x with the stem
  int8 on an AVX-512 VNNI CPU (benchmarks/onnx_stem.py, three processes), 0.49x against 0.60x on
  an AVX2 one, with throughput at batch 256 equal within the noise); a convolution fed by an op
  with no int8 kernel (the reference CNN's second one, after tanh): an int8 island that quantizes
  its input and dequantizes its output on every call (reference CNN, batch 1: 1.04x float32's p50
  with it in int8, 0.88x with it in float32; the Gemms stay int8 even so: 0.83x, the measured
  choice before); and Softmax: the file's output is
  float32 probabilities, which a uint8 softmax would round to steps of 1/256.

``rank_onnx_nodes`` orders the quantized nodes by their own int8 error, for the accuracy loop
that keeps the worst few in float32 (``nodes_to_exclude``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import layer_label

log = logging.getLogger(__name__)

# Ops with a quantized kernel that does the work: the "layers" of a QuantRecord's label.
LAYER_OP_TYPES = ("Conv", "Gemm", "MatMul", "Add", "MaxPool", "AveragePool", "GlobalAveragePool")
# Ops quantized only so that int8 flows through them (fused activations, data movement).
PASSENGER_OP_TYPES = ("Relu", "Clip", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose", "Concat")
CALIBRATE_METHODS = ("MinMax", "Percentile", "Entropy")
# MinMax: each tensor's range is a moving average of the ranges of batches of 16 images, not the
# extremes over every image: on the MobileNetV2 of tests/real_models.py (500 images) agreement with
# Keras 99.5 % instead of 98.8 % (batches of 32: 99.1 %; constants 0.01-0.1: the same 99.5 %).
CALIBRATION_BATCH = 16
CALIBRATION_PART = 8  # images per calibration call within a batch (memory only: _PartSession)
HISTOGRAM_CHUNK = 16  # Entropy / Percentile: images whose tensors are held at once (``calibrate``)
MOVING_AVERAGE = {"moving_average": True, "averaging_constant": 0.1}  # create_calibrator's names
FORMAT, ACTIVATIONS, WEIGHTS = "QOperator", "uint8", "int8"
STEM_CHANNELS = 3  # a convolution on this many input channels or fewer stays float32 (the rule)


@dataclass(frozen=True)
class QuantRecord:
    """What an int8 ONNX file quantized: the "quantization" record of its embedded metadata."""

    format: str  # "QOperator" | "QDQ"
    activations: str  # "uint8" | "int8"
    weights: str  # "int8"
    per_channel: bool
    reduce_range: bool
    calibrate_method: str
    int8_nodes: tuple[str, ...]  # the layers (LAYER_OP_TYPES nodes) quantized
    float_nodes: tuple[str, ...]  # the layers kept in float32 (the rule's and the caller's)
    int8_op_types: tuple[tuple[str, int], ...]  # (op type, count) of int8_nodes
    float_op_types: tuple[tuple[str, int], ...]

    @property
    def layers(self) -> int:
        return len(self.int8_nodes) + len(self.float_nodes)

    @property
    def label(self) -> str:
        """'int8', or 'int8, 3 of 52 layers float32' for a mixed file."""
        return layer_label(len(self.float_nodes), self.layers)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format, "activations": self.activations, "weights": self.weights,
            "per_channel": self.per_channel, "reduce_range": self.reduce_range,
            "calibrate_method": self.calibrate_method, "label": self.label,
            "op_types": dict(self.int8_op_types), "float_op_types": dict(self.float_op_types),
            "int8_layers": len(self.int8_nodes), "float_nodes": list(self.float_nodes),
        }


def _initializers(graph) -> dict:
    return {init.name: init for init in graph.initializer}


def rule_excluded(proto, stem_channels: int = STEM_CHANNELS) -> list[str]:
    """The layer nodes the rule keeps in float32 (module docstring): convolutions on at most
    ``stem_channels`` input channels, and convolutions fed by an op with no int8 kernel (tanh, sigmoid, …).
    Unnamed nodes are named as ``named`` names them."""
    proto = named(proto)
    inits = _initializers(proto.graph)
    producer = {out: node for node in proto.graph.node for out in node.output}
    int8_capable = (*LAYER_OP_TYPES, *PASSENGER_OP_TYPES)
    excluded = []
    for node in proto.graph.node:
        if node.op_type != "Conv" or len(node.input) < 2 or node.input[1] not in inits:
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        source = producer.get(node.input[0])
        stem = group == 1 and inits[node.input[1]].dims[1] <= stem_channels
        if stem or (source is not None and source.op_type not in int8_capable):
            excluded.append(node.name)
    return excluded


# Ops ONNX Runtime's QOperator quantizer gives their input's scale and zero point (Direct8Bit).
COPIES_INPUT_PARAMS = ("MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Resize", "Gather")


def unfused_activations(proto) -> list[str]:
    """Relu/Clip nodes that must stay float32 because ONNX Runtime would drop them wrongly.

    ORT removes a quantized Relu/Clip, trusting that the tensor before it was calibrated to the
    activation's output range ([0, max]). An op that copies its input's scale and zero point
    (``COPIES_INPUT_PARAMS``, e.g. MaxPool) ignores that range, so the negative values pass: a
    Conv -> MaxPool -> Relu graph agreed with Keras on 94 % of its images, 100 % with the Relu kept.
    """
    producer = {out: node for node in proto.graph.node for out in node.output}
    return [node.name for node in proto.graph.node
            if node.op_type in ("Relu", "Clip") and getattr(producer.get(node.input[0]), "op_type", None)
            in COPIES_INPUT_PARAMS]


def named(proto):
    """``proto`` itself when every node has a name, else a copy whose unnamed nodes are called
    ``<OpType>_<index>`` (ONNX Runtime's quantizer and ``nodes_to_exclude`` go by names)."""
    if all(node.name for node in proto.graph.node):
        return proto
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    for i, node in enumerate(copy.graph.node):
        node.name = node.name or f"{node.op_type}_{i}"
    return copy


def layer_nodes(proto) -> list[str]:
    """The names of ``proto``'s layer nodes (``LAYER_OP_TYPES``), in graph order."""
    return [node.name for node in named(proto).graph.node if node.op_type in LAYER_OP_TYPES]


def quantize_int8(fp32_proto, images: np.ndarray | None, *, calibrate_method: str = "MinMax", per_channel: bool = True,
                  nodes_to_exclude=(), quant_format: str = FORMAT, activations: str = ACTIVATIONS,
                  reduce_range: bool = True, ranges: Any = None,
                  stem_channels: int = STEM_CHANNELS) -> tuple[Any, QuantRecord]:
    """Static int8 quantization of ``fp32_proto`` calibrated on ``images`` (float32 NHWC, preprocessed).

    Quantizes the layers of ``LAYER_OP_TYPES`` except the rule's (``rule_excluded``) and
    ``nodes_to_exclude`` (names of ``fp32_proto``'s nodes), which stay float32. Returns the int8
    ModelProto (without edgecnn metadata) and its QuantRecord. ``ranges``: what ``calibrate`` gave
    for these images and this method (then ``images`` is not needed): the accuracy loop calibrates
    once per setting, not once per set of float32 layers. ``quant_format``, ``activations``,
    ``reduce_range`` and ``stem_channels`` exist for the benchmarks; the defaults are what export ships.
    """
    fp32_proto = named(fp32_proto)
    if calibrate_method not in CALIBRATE_METHODS:
        raise ValueError(f"calibrate_method {calibrate_method!r}: expected one of {', '.join(CALIBRATE_METHODS)}")
    names = {node.name for node in fp32_proto.graph.node}
    unknown = sorted(set(nodes_to_exclude) - names)
    if unknown:
        raise ValueError(f"nodes_to_exclude: no node named {', '.join(unknown)} in the graph")
    layers = layer_nodes(fp32_proto)
    excluded = set(rule_excluded(fp32_proto, stem_channels)) | set(nodes_to_exclude)
    excluded |= {n.name for n in fp32_proto.graph.node if n.op_type == "Softmax"}
    excluded |= set(unfused_activations(fp32_proto))
    ops = calibrated_op_types(fp32_proto)
    if ranges is None:
        if images is None:
            raise ValueError("quantize_int8: give the calibration images or their ranges")
        ranges = calibrate(fp32_proto, images, ops, calibrate_method)
    proto = _quantize_static(fp32_proto, ranges, ops, sorted(excluded), per_channel=per_channel,
                             quant_format=quant_format, activations=activations, reduce_range=reduce_range)
    quantized = set(quantized_nodes(fp32_proto, proto))
    types = {node.name: node.op_type for node in fp32_proto.graph.node}
    int8 = tuple(n for n in layers if n in quantized)
    floats = tuple(n for n in layers if n not in quantized)
    record = QuantRecord(
        format=quant_format, activations=activations, weights=WEIGHTS, per_channel=per_channel,
        reduce_range=reduce_range, calibrate_method=calibrate_method, int8_nodes=int8, float_nodes=floats,
        int8_op_types=tuple(sorted(Counter(types[n] for n in int8).items())),
        float_op_types=tuple(sorted(Counter(types[n] for n in floats).items())),
    )
    if not int8:
        raise ValueError("nothing left to quantize: every layer is float32")
    return proto, record


def quantize_op_types(fp32_proto, images: np.ndarray, op_types: list[str] | tuple[str, ...] | None, *,
                      per_channel: bool, activations: str = "int8", quant_format: str = "QDQ",
                      reduce_range: bool = False):
    """ONNX Runtime's static quantization of ``op_types`` (None: every op it can), MinMax, no rule:
    the variants the benchmarks compare ``quantize_int8`` with."""
    ops = list(op_types) if op_types is not None else None
    return _quantize_static(fp32_proto, calibrate(fp32_proto, images, ops, "MinMax"), ops, [],
                            per_channel=per_channel, quant_format=quant_format, activations=activations,
                            reduce_range=reduce_range)


def calibrated_op_types(fp32_proto) -> list[str]:
    """The op types ``quantize_int8`` quantizes (and so calibrates) in ``fp32_proto``."""
    return [t for t in (*LAYER_OP_TYPES, *PASSENGER_OP_TYPES) if any(n.op_type == t for n in fp32_proto.graph.node)]


def calibrate(fp32_proto, images: np.ndarray, op_types: list[str] | None, calibrate_method: str = "MinMax") -> Any:
    """The activation ranges (ORT's ``TensorsData``) ``quantize_static`` computes on ``images``.

    ONNX Runtime's own calibrator, made as ``quantize_static`` makes it and fed the same batches, with
    two changes that touch memory only. Its session runs without ORT's memory arena, which keeps the
    largest batch's activations of every tensor the calibrator reads (each feeds a graph output of the
    augmented model): on a 224x224x3 MobileNetV2 calibrating on 500 images in batches of 16, RSS rose
    by 1.93 GiB and stayed there with it, by 1.33 GiB at the peak without it. And MinMax batches run in
    parts (``_PartSession``, 8 images at a time): +0.14-0.50 GiB at the peak. The int8 file is byte-identical
    (tests/test_onnx_int8_graph.py). This step was export's peak (benchmarks/results/memory_scaling.txt).
    """
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    if calibrate_method not in CALIBRATE_METHODS:
        raise ValueError(f"calibrate_method {calibrate_method!r}: expected one of {', '.join(CALIBRATE_METHODS)}")
    name = fp32_proto.graph.input[0].name
    # MinMax's moving average wants batches; the histogram methods (Entropy, Percentile) stack every
    # batch's outputs into one array, which fails on a shorter last batch: one image at a time there.
    step = CALIBRATION_BATCH if calibrate_method == "MinMax" else 1

    class Reader(CalibrationDataReader):
        def __init__(self, part: np.ndarray):
            self._it = iter(part[i: i + step] for i in range(0, len(part), step))

        def get_next(self):
            x = next(self._it, None)
            return None if x is None else {name: x}

    with _root_errors_only(), tempfile.TemporaryDirectory(prefix="edgecnn-onnx-calibrate-") as work:
        src = Path(work) / "fp32.onnx"
        src.write_bytes(fp32_proto.SerializeToString())
        calibrator = create_calibrator(src, op_types, augmented_model_path=str(Path(work) / "augmented_model.onnx"),
                                       calibrate_method=getattr(CalibrationMethod, calibrate_method),
                                       extra_options=MOVING_AVERAGE if calibrate_method == "MinMax" else {})
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # as ORT's calibrator
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3
        session = ort.InferenceSession(calibrator.augmented_model_path, sess_options=options,
                                       providers=["CPUExecutionProvider"])
        calibrator.infer_session = _PartSession(session, CALIBRATION_PART) if calibrate_method == "MinMax" else session
        printed = io.StringIO()  # the histogram methods print their progress: library logs, CLI prints
        with contextlib.redirect_stdout(printed):
            if calibrate_method == "MinMax":
                calibrator.collect_data(Reader(images))
            else:
                # The histogram calibrators hold every calibrated tensor of every image until
                # collect_data returns (96x96x3 MobileNetV2 0.35, 500 images: +2.50 GiB; a 224x224
                # one would need tens of GiB): so HISTOGRAM_CHUNK images per call, each call adding
                # to the histograms of the ones before (ORT's incremental collection; the bin width
                # is set by the first chunk, and bins are added as later chunks widen the range).
                for i in range(0, len(images), HISTOGRAM_CHUNK):
                    calibrator.collect_data(Reader(images[i: i + HISTOGRAM_CHUNK]))
            ranges = calibrator.compute_data()
        del calibrator, session  # the session, before the folder holding its model goes
    if printed.getvalue().strip():
        log.debug("ONNX Runtime's calibrator: %s", " | ".join(printed.getvalue().split("\n")).strip(" |"))
    return ranges


class _PartSession:
    """A MinMax calibration session that runs each batch ``part`` images at a time and gives the
    batch's ranges: the minimum of the parts' ReduceMin outputs, the maximum of their ReduceMax ones.
    Min and max do not depend on how a batch is split, so the moving average over batches of
    ``CALIBRATION_BATCH`` (what the ranges mean) is unchanged, byte for byte, while the activations
    ONNX Runtime allocates for one call are a part's. Calibrating a 224x224x3 MobileNetV2 on 500
    images (two rounds, load 1.2-2): whole batches of 16 raised RSS by 1.41-1.46 GiB at the peak in
    37-40 s, parts of 8 by 0.14-0.50 GiB in 39-40 s, parts of 4 by 0.23-0.68 GiB in 40-42 s."""

    def __init__(self, session: Any, part: int):
        self.session, self.part = session, part

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)

    def run(self, names: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        (key, x), = feed.items()
        if len(x) <= self.part:
            return list(self.session.run(names, feed))
        parts = [self.session.run(names, {key: x[i: i + self.part]}) for i in range(0, len(x), self.part)]
        out = []
        for k, output in enumerate(self.session.get_outputs()):
            values = [p[k] for p in parts]
            if output.name.endswith("_ReduceMin"):
                out.append(np.minimum.reduce(values))
            elif output.name.endswith("_ReduceMax"):
                out.append(np.maximum.reduce(values))
            else:  # the model's own outputs (the calibrator drops them)
                out.append(np.concatenate(values))
        return out


def _quantize_static(fp32_proto, ranges: Any, op_types: list[str] | None, exclude: list[str], *,
                     per_channel: bool, quant_format: str, activations: str, reduce_range: bool):
    """ONNX Runtime's ``quantize_static`` on a ModelProto with ``ranges`` from ``calibrate`` (it works
    on files, in a private folder; the ranges reach it as its calibration cache)."""
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import save_tensors_data

    with _root_errors_only(), tempfile.TemporaryDirectory(prefix="edgecnn-onnx-") as work:
        src, dst, cache = Path(work) / "fp32.onnx", Path(work) / "int8.onnx", Path(work) / "ranges.json"
        src.write_bytes(fp32_proto.SerializeToString())
        save_tensors_data(ranges, cache)
        quantize_static(
            str(src), str(dst), None, quant_format=getattr(QuantFormat, quant_format),
            activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8, per_channel=per_channel, reduce_range=reduce_range,
            op_types_to_quantize=op_types, nodes_to_exclude=exclude,
            calibrate_method=ranges.calibration_method, calibration_cache_path=cache,
        )
        return onnx.load(str(dst))


@contextlib.contextmanager
def _root_errors_only():
    """ONNX Runtime's quantization tools warn on the root logger (e.g. to run its shape pre-processing;
    the cleaned graph already has static shapes): noise in the CLI's output, so errors only within."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def quantized_nodes(fp32_proto, int8_proto) -> list[str]:
    """The names of ``fp32_proto``'s nodes that run in int8 in ``int8_proto``, in graph order.

    QOperator: ONNX Runtime names the quantized node ``<name>_quant``, except the ops that run
    unchanged on uint8 (MaxPool, reshapes), which keep their name and read a ``<x>_quantized``
    tensor; QDQ: the node keeps its name and reads its activations from DequantizeLinear.
    """
    produced_by = {out: node for node in int8_proto.graph.node for out in node.output}
    by_name = {node.name: node for node in int8_proto.graph.node}
    if any(node.name.endswith("_quant") for node in int8_proto.graph.node):  # QOperator
        return [node.name for node in fp32_proto.graph.node if f"{node.name}_quant" in by_name
                or (node.name in by_name and by_name[node.name].input
                    and by_name[node.name].input[0].endswith("_quantized"))]
    inits = _initializers(fp32_proto.graph)
    out = []
    for node in fp32_proto.graph.node:  # QDQ: every input (activations and weights) dequantized
        twin = by_name.get(node.name)
        if twin is None or twin.op_type != node.op_type:
            continue
        inputs = [i for i in twin.input if i and i not in inits]
        if inputs and all(getattr(produced_by.get(i), "op_type", "") == "DequantizeLinear" for i in inputs):
            out.append(node.name)
    return out


def rank_onnx_nodes(fp32_proto, int8_proto, images: np.ndarray, *, max_images: int = 64) -> list[tuple[str, float]]:
    """The quantized layers of ``int8_proto``, worst first, with their own int8 error.

    A node's own error: run the float32 node alone on the float32 graph's values of its inputs,
    rounded to the int8 graph's quantization of those inputs, with the int8 graph's (dequantized)
    weights, round its output the same way, and compare with the float32 graph's output:
    ``|q - f|^2 / |f|^2`` (noise-to-signal power) per channel, averaged over the channels (a wide
    channel must not hide the others it squeezes), over the first ``max_images`` of ``images``.
    Comparing each node's output in the two whole graphs instead would blame every node after
    the first bad one (the error accumulates); and a tensor rounded too coarsely is charged to
    both its producer and its consumers, the nodes whose exclusion keeps it in float32.
    """
    import onnx

    fp32_proto = named(fp32_proto)
    values = _float_values(fp32_proto, images[:max_images])
    params = _tensor_params(int8_proto)
    weights = _dequantized_weights(int8_proto)
    fp_inits = _initializers(fp32_proto.graph)
    nodes = {node.name: node for node in fp32_proto.graph.node}
    # ONNX Runtime fuses ReLU/ReLU6 into the node before: that node's int8 output is the activation's.
    int8_names = {node.name for node in int8_proto.graph.node}
    fused = {node.input[0]: node.output[0] for node in fp32_proto.graph.node
             if node.op_type in ("Relu", "Clip") and node.name not in int8_names and node.input[0] in params}
    params.update({after: params[before] for before, after in fused.items()})
    ranked = []
    for name in quantized_nodes(fp32_proto, int8_proto):
        node = nodes[name]
        if node.op_type not in LAYER_OP_TYPES:
            continue
        feeds = {i: _fake_quant(values[i], params[i]) if i in params else values[i]
                 for i in node.input if i and i not in fp_inits}
        consts = [weights[i] if i in weights else onnx.numpy_helper.to_array(fp_inits[i])
                  for i in node.input if i in fp_inits]
        got = _run_node(fp32_proto, node, feeds, dict(zip([i for i in node.input if i in fp_inits], consts)))
        out = node.output[0]
        if out in params:
            got = _fake_quant(got, params[out])  # a fused ReLU6's range clips as the activation would
        ranked.append((name, _channel_nsr(got, values[fused.get(out, out)])))
    return sorted(ranked, key=lambda item: -item[1])


def _channel_nsr(got: np.ndarray, want: np.ndarray) -> float:
    """Noise-to-signal power of each channel (axis 1: NCHW or [N, K]), averaged over the channels."""
    axes = tuple(a for a in range(want.ndim) if a != 1) if want.ndim > 1 else None
    noise, power = np.sum((got - want) ** 2, axis=axes), np.sum(want.astype(np.float64) ** 2, axis=axes)
    live = np.atleast_1d(power > 0)  # a dead channel (ReLU never on) carries no signal to lose
    return float(np.mean(np.atleast_1d(noise)[live] / np.atleast_1d(power)[live])) if live.any() else 0.0


def _float_values(proto, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the float32 graph on ``images``: the graph with each node output made an output."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    known = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        probe.graph.output.extend(onnx.ValueInfoProto(name=o) for o in node.output if o and o not in known)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor as it is
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    got = session.run(names, {proto.graph.input[0].name: images.astype(np.float32)})
    return {proto.graph.input[0].name: images.astype(np.float32), **dict(zip(names, got))}


def _tensor_params(int8_proto) -> dict[str, tuple[float, int, Any]]:
    """Activation tensor -> (scale, zero point, dtype) of the int8 graph (ONNX Runtime's ``<T>_scale``,
    ``<T>_zero_point`` initializers; per-tensor only: the weights' are per channel)."""
    from onnx import numpy_helper

    inits = _initializers(int8_proto.graph)
    out = {}
    for name, init in inits.items():
        if not name.endswith("_scale") or f"{name[:-6]}_quantized" in inits:
            continue  # a weight's scale
        zero = inits.get(f"{name[:-6]}_zero_point")
        if zero is not None and not init.dims:
            z = numpy_helper.to_array(zero)
            out[name[:-6]] = (float(numpy_helper.to_array(init)), int(z), z.dtype)
    return out


def _dequantized_weights(int8_proto) -> dict[str, np.ndarray]:
    """Float weight name -> its int8 values times their (per-channel) scales."""
    from onnx import numpy_helper

    inits = _initializers(int8_proto.graph)
    out = {}
    for name, init in inits.items():
        base = name[: -len("_quantized")]
        if not name.endswith("_quantized") or f"{base}_scale" not in inits or init.data_type == 6:  # int32 bias
            continue
        q = numpy_helper.to_array(init).astype(np.float32)
        scale = numpy_helper.to_array(inits[f"{base}_scale"]).astype(np.float32)
        zero = numpy_helper.to_array(inits[f"{base}_zero_point"]).astype(np.float32)
        # per channel: the axis whose length is the scale's (the first such: Conv's output channels)
        axis = next((a for a, n in enumerate(q.shape) if scale.size > 1 and n == scale.size), None)
        shape = [1] * q.ndim
        if axis is not None:
            shape[axis] = scale.size
        out[base] = (q - zero.reshape(shape)) * scale.reshape(shape)
    return out


def _fake_quant(x: np.ndarray, param: tuple[float, int, Any]) -> np.ndarray:
    scale, zero, dtype = param
    info = np.iinfo(dtype)
    return ((np.clip(np.round(x / scale) + zero, info.min, info.max) - zero) * scale).astype(np.float32)


def _run_node(fp32_proto, node, feeds: dict[str, np.ndarray], consts: dict[str, np.ndarray]) -> np.ndarray:
    """``node`` alone (same opset) on ``feeds`` with ``consts`` as its initializers."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    graph = helper.make_graph(
        [node], "node",
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, list(v.shape)) for n, v in feeds.items()],
        [onnx.ValueInfoProto(name=node.output[0])],
        [numpy_helper.from_array(v.astype(np.float32), n) for n, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=list(fp32_proto.opset_import))
    model.ir_version = fp32_proto.ir_version
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got: np.ndarray = session.run([node.output[0]], feeds)[0]
    return got
