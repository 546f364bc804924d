"""The ONNX backend of the accuracy loop (``export.accuracy``), on ``export.onnx_int8``.

ONNX Runtime's ``quantize_static`` calibrates on every call, so each step is a full quantization;
the levers are the ones ONNX Runtime has, cheapest first: per-channel weights, more calibration
images, then the other calibration methods (Entropy, Percentile: they clip the rare extremes
MinMax keeps, which helps when a few outliers stretch a tensor's range). The ranking is
``onnx_int8.rank_onnx_nodes``: each quantized layer's own int8 error, computed from one pass of
the float32 graph (a tensor rounded too coarsely is charged to its producer and its consumers, the
nodes whose exclusion keeps it float32), so ranking costs no extra quantization.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgecnn.artifact import Artifact
from edgecnn.export.accuracy import JUDGE_MAX, RANK_IMAGES, Judge

log = logging.getLogger(__name__)

CALIBRATION_PLATEAU = 500  # as for TFLite: ExportOptions' default
OTHER_METHODS = ("Entropy", "Percentile")  # tried after MinMax, in this order


class OnnxBackend:
    """Builds int8 ONNX files of ``model``: a calibration setting and a set of float32 nodes."""

    def __init__(self, model, options, pool: int = JUDGE_MAX, plain_options=None):
        from edgecnn.export.onnx import float32_model

        self.options, self.pool = options, pool
        self.plain_options = plain_options or options
        self.fp32 = float32_model(model, options)
        self.records: dict[tuple[Any, ...], Any] = {}  # (setting, float nodes) -> QuantRecord
        self.protos: dict[tuple[Any, ...], Any] = {}
        self.calibrations: dict[tuple[Any, ...], Any] = {}  # (samples, method, plain) -> ORT's TensorsData

    def initial(self) -> dict[str, Any]:
        o = self.options
        return {"samples": o.calibration_samples, "method": o.onnx_calibrate_method, "per_channel": o.onnx_per_channel,
                "plain": True}

    def levers(self, setting: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        if not setting["per_channel"]:
            out.append(("per-channel weights", {"per_channel": True}))
        more = min(CALIBRATION_PLATEAU, self.pool)
        if setting["samples"] < more:
            out.append((f"calibration images {setting['samples']} -> {more}", {"samples": more}))
        out += [(f"{m} calibration", {"method": m}) for m in OTHER_METHODS if m != setting["method"]]
        return out

    def _key(self, setting: dict[str, Any], float_layers: tuple[str, ...]) -> tuple[Any, ...]:
        return (setting["samples"], setting["method"], setting["per_channel"], bool(setting.get("plain")),
                tuple(sorted(float_layers)))

    def quantized(self, setting: dict[str, Any], float_layers: tuple[str, ...] = ()):
        """(int8 ModelProto, QuantRecord), once per setting and float set."""
        key = self._key(setting, float_layers)
        if key not in self.protos:
            from edgecnn.export.onnx_int8 import quantize_int8

            self.protos[key], self.records[key] = quantize_int8(
                self.fp32, None, calibrate_method=setting["method"], per_channel=setting["per_channel"],
                nodes_to_exclude=tuple(float_layers), ranges=self._ranges(setting))
        return self.protos[key], self.records[key]

    def _ranges(self, setting: dict[str, Any]) -> Any:
        """The activation ranges of a calibration setting, computed once: the ranges do not depend on
        which layers stay float32, so each repair step quantizes without calibrating again."""
        key = (setting["samples"], setting["method"], bool(setting.get("plain")))
        if key not in self.calibrations:
            from edgecnn.export.common import calibration_images
            from edgecnn.export.onnx_int8 import calibrate, calibrated_op_types

            chosen = self.plain_options if setting.get("plain") else self.options
            images = calibration_images(replace(chosen, calibration_samples=setting["samples"]))
            self.calibrations[key] = calibrate(self.fp32, images, calibrated_op_types(self.fp32), setting["method"])
        return self.calibrations[key]

    def build(self, setting: dict[str, Any], float_layers: tuple[str, ...], record: dict[str, Any]) -> bytes:
        from edgecnn.export.common import calibration_record, embedded_metadata
        from edgecnn.export.onnx import attach_metadata

        proto, quant = self.quantized(setting, float_layers)
        options = replace(self.options, calibration_samples=setting["samples"])
        extra = {"opset": options.opset, "calibration": calibration_record(options),
                 "per_channel": setting["per_channel"], "quantization": {**quant.to_json(), **record}}
        return attach_metadata(proto, embedded_metadata("onnx", "int8", options, **extra))

    def layers(self, setting: dict[str, Any]) -> list[str]:
        from edgecnn.export.onnx_int8 import layer_nodes

        return layer_nodes(self.fp32)

    def label(self, setting: dict[str, Any], float_layers: tuple[str, ...]) -> str:
        return str(self.quantized(setting, float_layers)[1].label)  # the rule's float layers count too

    def float_count(self, setting: dict[str, Any], float_layers: tuple[str, ...]) -> int:
        return len(self.quantized(setting, float_layers)[1].float_nodes)  # the rule's too (onnx_int8.rule_excluded)

    def display(self, layer: str) -> str:
        return layer

    def rank(self, setting: dict[str, Any], judge: Judge) -> list[tuple[tuple[str, ...], float]]:
        """Quantized layers by their own int8 error (``rank_onnx_nodes``), worst first."""
        from edgecnn.export.onnx_int8 import rank_onnx_nodes

        images = self.options.spec.preprocessing.apply(judge.images[:RANK_IMAGES])
        ranked = rank_onnx_nodes(self.fp32, self.quantized(setting)[0], images)
        return [((name,), error) for name, error in ranked]


def export_controlled(model, out_dir: Path, filename: str, options) -> Artifact:
    """The int8 ONNX file the accuracy loop keeps, written as ``onnx.export_int8`` writes one."""
    from edgecnn.export.accuracy import Control, control_loop, input_floor, judge_set, quantization_record
    from edgecnn.export.common import calibration_data, write_artifact
    from edgecnn.parity import DEFAULT_TOLERANCES

    started = time.perf_counter()
    plain = replace(options, dataset=calibration_data(options))
    rest, judge = judge_set(model, options.spec, plain.dataset, options.seed)
    options = replace(options, dataset=rest)
    backend = OnnxBackend(model, options, pool=len(rest.x_train), plain_options=plain)
    control = Control(options.max_drop, float(DEFAULT_TOLERANCES["int8"].min_agreement or 0.0),
                      options.max_float_layers, False, ".onnx")
    outcome = control_loop(backend, judge, control, rank=lambda setting: backend.rank(setting, judge),
                           floor=lambda predictor: input_floor(model, judge, predictor))
    log.info("%s: %s", filename, outcome.statement)
    record = quantization_record(outcome)
    data = backend.build(outcome.setting, outcome.nodes, record)
    quant = backend.records[backend._key(outcome.setting, outcome.nodes)]
    split = "training split" if outcome.setting.get("plain") else "training split less the judge images"
    calibration = {"samples": outcome.setting["samples"], "seed": options.seed, "split": split}
    return write_artifact(data, Path(out_dir) / filename, "onnx", "int8", started, spec=options.spec,
                          opset=options.opset, calibration=calibration, per_channel=outcome.setting["per_channel"],
                          quantization={**quant.to_json(), **record})


def export_int8(model, out_dir: Path, *, filename: str, options) -> Artifact:
    """The int8 ONNX exporter: ``onnx.export_int8`` as asked, or with ``options.max_drop`` the file the
    accuracy loop keeps. The switch lives here, not in ``export.onnx``, so that no module imports back
    the one that imports it (tests/test_layering.py)."""
    if options.max_drop is None:
        from edgecnn.export.onnx import export_int8 as plain

        return plain(model, out_dir, filename=filename, options=options)
    return export_controlled(model, out_dir, filename, options)
