"""The TFLite backend of the accuracy loop (``export.accuracy``): calibrate once, quantize many times.

The converter calibrates (the slow part: ~20-40 s for MobileNetV2 on 500 images here) into a
model that records every tensor's range; ``mlir_quantize`` then turns that model into int8 in
~0.2 s, with ``denylisted_nodes`` kept in float32 (Quantize/Dequantize around them). That is
the converter's own quantizer, the one ``QuantizationDebugger`` drives: every step after the
calibration is cheap, so the loop can rank all layers and add float layers one at a time.

Measured on the MobileNetV2 test model (500 calibration images, the same 8 layers float32,
load ~5, benchmarks/int8_recovery.py): the converter's denylist 642,456 bytes, agreement 99.6 %
on 500 held-out training images / 99.3 % on the 1,000 test images; the LiteRT Quantizer
(``ai-edge-quantizer``, recipe ``static_wi8_ai8`` with ``NO_QUANTIZE`` per layer) 645,440 bytes,
99.4 % / 99.1 %, its calibration as slow (22-36 s) and its quantization as fast (0.2 s). Equal
results, so the converter stays: it is already a dependency, and with no float layer its file is
the int8 file ``export`` writes today (the same calibrator and quantizer).

The converter has one calibration method (min/max) and quantizes convolution weights per
channel already: the only cheap lever here is more calibration images.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgecnn.artifact import Artifact, layer_label
from edgecnn.export.accuracy import JUDGE_MAX, RANK_IMAGES, Judge, probabilities

log = logging.getLogger(__name__)

CALIBRATION_PLATEAU = 500  # calibration images past which agreement stops improving (ExportOptions' default)
_NUMERIC_VERIFY = "NumericVerify/"


class TFLiteBackend:
    """Builds int8 TFLite files of ``model``: a calibration setting and a set of float32 layers."""

    def __init__(self, model, options, pair: bool = True, model_metadata: bool = True, pool: int = JUDGE_MAX,
                 plain_options=None):
        self.model, self.options, self.pair, self.model_metadata, self.pool = model, options, pair, model_metadata, pool
        self.plain_options = plain_options or options  # the export as asked: calibrated on the whole training split
        self._calibrated: dict[tuple[int, bool], bytes] = {}
        self._layers: dict[tuple[int, bool], list[str]] = {}
        self._known = {layer.name for layer in getattr(model, "layers", [])}

    def initial(self) -> dict[str, Any]:
        """The file ``export`` writes without ``--max-drop`` (byte for byte: nothing changes when it passes)."""
        return {"samples": self.options.calibration_samples, "plain": True}

    def levers(self, setting: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        n, more = setting["samples"], min(CALIBRATION_PLATEAU, self.pool)
        return [(f"calibration images {n} -> {more}", {"samples": more})] if n < more else []

    def _options(self, setting: dict[str, Any]):
        chosen = self.plain_options if setting.get("plain") else self.options
        return replace(chosen, calibration_samples=setting["samples"])

    def calibrated(self, setting: dict[str, Any]) -> bytes:
        """The converter's calibrated model (ranges recorded, nothing quantized yet), once per setting."""
        key = (setting["samples"], bool(setting.get("plain")))
        if key not in self._calibrated:
            import tensorflow as tf

            from edgecnn.export.common import calibration_images
            from edgecnn.export.tflite import _converter

            images = calibration_images(self._options(setting))
            converter = _converter(self.model, self.options.spec)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([images[i: i + 1]] for i in range(len(images)))
            converter.inference_input_type = converter.inference_output_type = tf.int8
            converter._experimental_calibrate_only = True  # what QuantizationDebugger sets
            converter.experimental_mlir_quantizer = True
            self._calibrated[key] = converter.convert()
        return self._calibrated[key]

    def quantized(self, setting: dict[str, Any], float_layers: tuple[str, ...] = (), debug: bool = False) -> bytes:
        import tensorflow as tf
        from tensorflow.lite.python.convert import mlir_quantize

        return mlir_quantize(self.calibrated(setting), input_data_type=tf.int8,
                             output_data_type=tf.int8, denylisted_nodes=list(float_layers) or None,
                             enable_numeric_verify=debug)

    def build(self, setting: dict[str, Any], float_layers: tuple[str, ...], record: dict[str, Any]) -> bytes:
        from edgecnn.export.column_pairs import pair_columns
        from edgecnn.export.common import calibration_record, embedded_metadata
        from edgecnn.export.tflite import finalize_flatbuffer

        from edgecnn.export.tflite import convert_checked

        options = self._options(setting)
        if setting.get("plain") and not float_layers:  # the converter's own int8 file, as export writes it
            data = convert_checked(self.model, "int8", options, pair=self.pair)
        else:
            data = self.quantized(setting, float_layers)
            data = pair_columns(data) if self.pair else data
        meta = embedded_metadata("tflite", "int8", options, calibration=calibration_record(options), **record)
        return finalize_flatbuffer(data, meta, self.model_metadata)

    def layers(self, setting: dict[str, Any]) -> list[str]:
        """The quantized ops' output names, as ``denylisted_nodes`` takes them (from the debug model)."""
        key = (setting["samples"], bool(setting.get("plain")))
        if key not in self._layers:
            from ai_edge_litert.interpreter import Interpreter

            it = Interpreter(model_content=self.quantized(setting, debug=True))
            names = [d["name"][len(_NUMERIC_VERIFY):].rsplit(":", 1)[0] for d in it.get_tensor_details()
                     if d["name"].startswith(_NUMERIC_VERIFY)]
            # The debug model appends a digit to each name (QuantizationDebugger strips it the same way).
            self._layers[key] = [n[:-1] if n and n[-1].isdigit() else n for n in names]
        return self._layers[key]

    def label(self, setting: dict[str, Any], float_layers: tuple[str, ...]) -> str:
        return layer_label(len(float_layers), len(self.layers(setting)))

    def float_count(self, setting: dict[str, Any], float_layers: tuple[str, ...]) -> int:
        return len(float_layers)  # the converter keeps nothing float32 of its own

    def display(self, layer: str) -> str:
        """'mobilenet_v2_035_1/block_1_expand_relu_1/Relu6;…' -> 'block_1_expand_relu' (the Keras layer)."""
        for part in layer.split(";")[0].split("/"):
            name = re.sub(r"_\d+$", "", part)
            if name in self._known:
                return name
        return layer.split(";")[0].rstrip(":") or layer

    def groups(self, setting: dict[str, Any]) -> list[tuple[str, ...]]:
        """Per int8 tensor between layers, the layers that keep it float32: its producer and its consumers.

        Denylisting the producer alone is not enough: an int8 consumer quantizes its input again
        (on MobileNetV2 with one channel of block_16_project_BN scaled x300 and Conv_1 scaled
        back, keeping Conv_1 alone float32 left agreement at 46 %).
        """
        from collections import defaultdict

        from ai_edge_litert.interpreter import Interpreter

        layers = self.layers(setting)
        lookup = {**{n + "0": n for n in layers}, **{n: n for n in layers}}  # 'PartitionedCall:0' lost its 0
        it = Interpreter(model_content=self.quantized(setting))
        names = {d["index"]: d["name"] for d in it.get_tensor_details()}
        producer: dict[int, str] = {}
        consumers: dict[int, list[str]] = defaultdict(list)
        for op in it._get_ops_details():
            node = next((lookup[names[o]] for o in op["outputs"] if names[o] in lookup), None)
            if node is None:
                continue
            producer.update({o: node for o in op["outputs"]})
            for i in op["inputs"]:
                consumers[int(i)].append(node)
        return [tuple(dict.fromkeys([node, *consumers[t]])) for t, node in producer.items()]

    def rank(self, setting: dict[str, Any], judge: Judge) -> list[tuple[tuple[str, ...], float]]:
        """Groups (``groups``) by the int8 error each adds at the output, most harmful first.

        Each group alone is kept in float32 and the output's squared probability error against
        Keras is measured on ``RANK_IMAGES`` judge images: the error that group's int8 adds is the
        full-integer file's error minus that. (TFLite's per-layer ``rmse/scale``, each op on its
        own, is ~0.3 steps, i.e. rounding alone, on 63 of MobileNetV2's 65 ops: no ranking there;
        the loss is in how the errors add up.)
        """
        images, reference = judge.images[:RANK_IMAGES], judge.keras_probs[:RANK_IMAGES]

        def error(float_layers: tuple[str, ...]) -> float:
            probs, _, _ = probabilities(self.build(setting, float_layers, {}), ".tflite", images, timed=False)
            return float(((probs - reference) ** 2).sum(1).mean())

        base = error(())
        scores = [(group, base - error(group)) for group in self.groups(setting)]
        log.info("ranked %d groups of TFLite layers on %d images", len(scores), len(images))
        return sorted(scores, key=lambda item: -item[1])


def export_int8(model, out_dir: Path, *, filename: str, options, pair: bool = True, model_metadata: bool = True,
                full_integer: bool = False) -> Artifact:
    """The int8 TFLite exporter: ``tflite.export_int8`` as asked, or with ``options.max_drop`` the file the
    accuracy loop keeps; ``full_integer`` (the C array) or ``options.full_integer`` (a microcontroller
    target) limits the loop to the levers that keep every layer int8."""
    if options.max_drop is None:
        from edgecnn.export.tflite import export_int8 as plain

        return plain(model, out_dir, filename=filename, options=options, pair=pair, model_metadata=model_metadata)
    return export_controlled(model, out_dir, filename, options, pair, model_metadata,
                             full_integer or options.full_integer)


def export_controlled(model, out_dir: Path, filename: str, options, pair: bool = True, model_metadata: bool = True,
                      full_integer: bool = False) -> Artifact:
    """The int8 TFLite file the accuracy loop keeps, written as ``export_int8`` writes one.

    ``full_integer`` (the C array): only the calibration lever; a file that still misses the
    tolerance is an ExportError in one line, and nothing is written.
    """
    import time

    from edgecnn.errors import ExportError
    from edgecnn.export.accuracy import Control, control_loop, input_floor, judge_set, quantization_record
    from edgecnn.export.common import calibration_data, calibration_record, write_artifact
    from edgecnn.parity import DEFAULT_TOLERANCES

    started = time.perf_counter()
    plain = replace(options, dataset=calibration_data(options))
    rest, judge = judge_set(model, options.spec, plain.dataset, options.seed)
    options = replace(options, dataset=rest)
    backend = TFLiteBackend(model, options, pair, model_metadata, pool=len(rest.x_train), plain_options=plain)
    control = Control(options.max_drop, float(DEFAULT_TOLERANCES["int8"].min_agreement or 0.0),
                      options.max_float_layers, full_integer, ".tflite")
    outcome = control_loop(backend, judge, control, rank=lambda setting: backend.rank(setting, judge),
                           floor=lambda predictor: input_floor(model, judge, predictor))
    log.info("%s: %s", filename, outcome.statement)
    if full_integer and not outcome.met:
        raise ExportError(f"{outcome.statement}; not written")  # export_models names the file
    record = {"quantization": quantization_record(outcome)}
    data = backend.build(outcome.setting, outcome.nodes, record)
    split = "training split" if outcome.setting.get("plain") else "training split less the judge images"
    calibration = {**calibration_record(replace(options, calibration_samples=outcome.setting["samples"])),
                   "split": split}
    return write_artifact(data, Path(out_dir) / filename, "tflite", "int8", started, spec=options.spec,
                          calibration=calibration, **record)
