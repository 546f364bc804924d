"""``edgecnn inspect FILE``: what a model file carries and which frameworks take it (TF-free).

One call, :func:`inspect_model`, returns an :class:`Inspection`: the tensors (dtype, shape,
quantization), edgecnn's own metadata and the standard TFLite Model Metadata (normalization,
colour space, labels), the operators and how many of them XNNPACK takes, and a verdict per app
framework with its reason. The framework rules are the ones measured with the real clients
(MediaPipe 1.2.3's ImageClassifier refuses an int8 input, a 1-channel input, a GRAYSCALE colour
space and a float32 input without NormalizationOptions; ``verify --platform mediapipe`` checks
the verdicts against it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn.artifact import TensorSpec


@dataclass(frozen=True)
class Verdict:
    """Whether one framework takes the file, and why (not)."""

    framework: str
    accepts: bool
    reason: str


@dataclass(frozen=True)
class Inspection:
    """What :func:`inspect_model` found in one file."""

    path: Path
    format: str
    bytes: int
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    edgecnn: dict[str, Any]  # the file's own edgecnn metadata ({} for a foreign file)
    spec: Any  # edgecnn.spec.ModelSpec: what the runtime makes of the file
    standard: Any  # runtime.model_metadata.ModelMetadata, None when the file has none
    ops: tuple[str, ...] = ()
    delegation: dict[str, Any] | None = None
    frameworks: tuple[Verdict, ...] = field(default_factory=tuple)

    def verdict(self, framework: str) -> Verdict:
        return next(v for v in self.frameworks if v.framework == framework)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "format": self.format, "bytes": self.bytes, "sha256": self.sha256,
            "inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs],
            "edgecnn_metadata": self.edgecnn, "model": self.spec.to_json() if self.spec is not None else None,
            "model_metadata": self.standard.to_json() if self.standard is not None else None,
            "ops": list(self.ops), "delegation": self.delegation,
            "frameworks": {v.framework: {"accepts": v.accepts, "reason": v.reason} for v in self.frameworks},
        }


def inspect_model(path: Path) -> Inspection:
    """Read ``path`` (.tflite or .onnx) without TensorFlow; a missing or broken file is a ModelError.

    Args:
        path: the model file.
    Returns:
        The :class:`Inspection` (tensors, both metadata records, ops, delegation, framework verdicts).
    """
    from edgecnn import fileio
    from edgecnn.runtime import load

    path = Path(path)
    predictor = load(path)
    data = path.read_bytes()
    standard, delegation = None, None
    ops: tuple[str, ...] = ()
    if predictor.format == "tflite":
        from edgecnn.bench.graph import tflite_delegation
        from edgecnn.runtime.model_metadata import read_model_metadata
        from edgecnn.tflm import builtin_ops

        standard, ops = read_model_metadata(data), tuple(builtin_ops(data))
        delegation = tflite_delegation(predictor.interpreter)  # type: ignore[attr-defined]  # a TFLitePredictor
    else:
        ops = _onnx_ops(path)
    found = Inspection(path, predictor.format, len(data), fileio.sha256_bytes(data), (predictor.input_spec,),
                       (predictor.output_spec,), dict(predictor.metadata), predictor.spec, standard, ops, delegation)
    verdicts = tuple(Verdict(name, *rule(found)) for name, rule in FRAMEWORKS.items())
    return Inspection(**{**found.__dict__, "frameworks": verdicts})


def _onnx_ops(path: Path) -> tuple[str, ...]:
    try:
        import onnx
    except ImportError:  # the base install: ONNX Runtime has no public node list
        return ()
    return tuple(dict.fromkeys(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node))


# -- the frameworks' rules --------------------------------------------------------------------------

def _image_input(info: Inspection, who: str) -> tuple[bool, str]:
    """MediaPipe Tasks and ML Kit: a uint8 or float32 RGB image 1 x H x W x 3 described by the metadata."""
    if info.format != "tflite":
        return False, f"{who} reads .tflite files only"
    t = info.inputs[0]
    stem = info.path.stem.removesuffix("_app")
    if t.dtype not in ("uint8", "float32"):
        return False, f"input is {t.dtype}; {who} takes uint8 or float32 (ship {stem}_app.tflite)"
    if len(t.shape) != 4 or t.shape[3] != 3:
        return False, f"input is {list(t.shape)}; {who} takes RGB 1 x H x W x 3 (ship {stem}_app.tflite)"
    if info.standard is None:
        return False, "no TFLite Model Metadata (image size, normalization, labels)"
    if info.standard.input.color_space != "RGB":
        return False, f"metadata colour space {info.standard.input.color_space or 'missing'}; {who} takes RGB only"
    if t.dtype == "float32" and not info.standard.input.mean:
        return False, "float32 input without NormalizationOptions in the metadata"
    n = len(info.standard.labels)
    how = ("pixels as they are" if t.dtype == "uint8" else
           f"(pixel - {info.standard.input.mean[0]:g}) / {info.standard.input.std[0]:g}")
    names = f"{n} labels from {info.standard.output.label_file}" if n else "no labels (categories unnamed)"
    return True, f"{t.dtype} RGB {t.shape[2]}x{t.shape[1]}, {how}; {names}"


def _mediapipe(info: Inspection) -> tuple[bool, str]:
    return _image_input(info, "MediaPipe Tasks")


def _mlkit(info: Inspection) -> tuple[bool, str]:
    ok, why = _image_input(info, "ML Kit")
    out = info.outputs[0]
    if ok and (out.dtype not in ("uint8", "float32") or len(out.shape) != 2):
        return False, f"output is {out.dtype} {list(out.shape)}; ML Kit takes uint8 or float32 [1, K]"
    return ok, why


def _model_binding(info: Inspection) -> tuple[bool, str]:
    if info.format != "tflite":
        return False, "Android Studio's ML Model Binding imports .tflite files only"
    if info.standard is None:
        return True, "imports, but without TFLite Model Metadata the generated class takes raw TensorBuffers"
    return True, "typed wrapper from the metadata: image input, labelled output"


def _tflm(info: Inspection) -> tuple[bool, str]:
    from edgecnn.export.c_array import TFLM_OPS

    if info.format != "tflite":
        return False, "TFLite Micro runs .tflite flatbuffers (as a C array) only"
    missing = [op for op in info.ops if op not in TFLM_OPS]
    if missing:
        return False, f"no TFLite Micro kernel for {', '.join(missing)}"
    if info.inputs[0].dtype != "int8":
        return True, "every op has a kernel; a microcontroller wants the int8 file (the MCU bundle's C array)"
    return True, f"every op has a kernel ({len(info.ops)} ops): `edgecnn bundle --target mcu`"


def _litert(info: Inspection) -> tuple[bool, str]:
    if info.format != "tflite":
        return False, "LiteRT runs .tflite files; this is an ONNX file"
    share = info.delegation or {}
    return True, (f"XNNPACK takes {share.get('delegated_nodes', 0)} of {share.get('nodes', 0)} nodes"
                  + (f" (not: {', '.join(share['not_delegated'])})" if share.get("not_delegated") else ""))


def _onnxruntime(info: Inspection) -> tuple[bool, str]:
    if info.format != "onnx":
        return False, "ONNX Runtime (web, desktop, mobile) takes the .onnx export of the same model"
    return True, f"{info.inputs[0].dtype} input, {len(info.ops) or 'unknown number of'} op types"


FRAMEWORKS: dict[str, Callable[[Inspection], tuple[bool, str]]] = {
    "MediaPipe Tasks": _mediapipe,
    "ML Kit": _mlkit,
    "Android Studio ML Model Binding": _model_binding,
    "LiteRT Interpreter": _litert,
    "TFLite Micro": _tflm,
    "ONNX Runtime": _onnxruntime,
}


def format_inspection(info: Inspection) -> str:
    """The inspection as console text."""
    def tensor(t: TensorSpec) -> str:
        quant = f", scale {t.scale!r}, zero point {t.zero_point}" if t.quantized else ""
        return f"{t.name}: {t.dtype} {list(t.shape)}{quant}"

    spec = info.spec
    lines = [f"{info.path.name}: {info.format}, {info.bytes:,} bytes, sha256 {info.sha256[:16]}…",
             f"  input   {tensor(info.inputs[0])}", f"  output  {tensor(info.outputs[0])}"]
    if info.edgecnn:
        lines.append(f"  edgecnn metadata: {spec.name}, {info.edgecnn.get('precision')}, "
                     f"{spec.height}x{spec.width}x{spec.channels} {spec.preprocessing.color}, "
                     f"x = {spec.preprocessing.formula}, prepare {spec.preprocessing.prepare}, "
                     f"{spec.num_classes} labels" + _app_note(info.edgecnn.get("app")))
    else:
        lines.append("  edgecnn metadata: none (not written by edgecnn)")
    s = info.standard
    if s is not None:
        i = s.input
        shown = ", ".join(s.labels[:10]) + (", …" if len(s.labels) > 10 else "")
        lines.append(f"  TFLite Model Metadata: {s.name!r} by {s.author!r}, version {s.version!r}; "
                     f"input {i.color_space} {i.width}x{i.height}, mean {list(i.mean)}, std {list(i.std)}; "
                     f"output labels {s.output.label_file or '-'} ({len(s.labels)}: {shown})")
    elif info.format == "tflite":
        lines.append("  TFLite Model Metadata: none")
    if info.ops:
        lines.append(f"  ops: {', '.join(info.ops)}")
    if info.delegation:
        d = info.delegation
        lines.append(f"  XNNPACK: {d['delegated_nodes']} of {d['nodes']} nodes in {d['partitions']} partition(s)")
    lines.append("  frameworks:")
    width = max(len(v.framework) for v in info.frameworks)
    lines += [f"    {v.framework:<{width}}  {'yes' if v.accepts else 'no '}  {v.reason}" for v in info.frameworks]
    return "\n".join(lines)


def _app_note(app: Any) -> str:
    if not isinstance(app, dict):
        return ""
    return (f"; app variant: {app.get('input')} RGB in" + (", grey inside" if app.get("rgb_to_grey") else "")
            + f", {app.get('core')} core, added {', '.join(app.get('added_ops') or []) or 'nothing'}")
