"""What an exported file is: its tensors and the record kept in ``manifest.json``.

TF-free on purpose: the runtime, verify and bench read these without TensorFlow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("tflite", "onnx", "c")
RUNNABLE_FORMATS = ("tflite", "onnx")  # what edgecnn.runtime loads; "c" is the int8 TFLite as source code
PRECISIONS = ("float32", "int8", "dynamic", "float16", "float32_app", "int8_app")  # *_app: export/app.py


def layer_label(float_layers: int, total: int, short: bool = False) -> str:
    """``int8`` or ``int8, 3 of 65 layers float32`` (short, for a terminal's column: ``int8 (3/65 f32)``):
    what a file is, everywhere it is shown."""
    if not float_layers:
        return "int8"
    return f"int8 ({float_layers}/{total} f32)" if short else f"int8, {float_layers} of {total} layers float32"


def mixed_label(record: Any, short: bool = False) -> str | None:
    """``int8, 3 of 65 layers float32`` for a file with float32 layers (its metadata or manifest entry), else None.

    The accuracy loop (export.accuracy) records ``quantization`` = {label, layers, float_layers, …} for
    TFLite; the ONNX exporter {label, int8_layers, float_nodes, …} (export.onnx_int8.QuantRecord).
    """
    q = record.get("quantization") if isinstance(record, dict) else None
    if not isinstance(q, dict):
        return None
    floats = q.get("float_layers") or q.get("float_nodes")
    if not floats or not q.get("label"):
        return None
    if not short:
        return str(q.get("label"))
    total = q.get("layers") or int(q.get("int8_layers") or 0) + len(floats)
    return layer_label(len(floats), int(total), short=True)


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name, shape (-1 for the dynamic batch), dtype, int8 quantization."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None = None  # set for int8 tensors: real = scale * (q - zero_point)
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.scale is not None and self.dtype in ("int8", "uint8")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["shape"] = list(self.shape)
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TensorSpec:
        return cls(obj["name"], tuple(obj["shape"]), obj["dtype"], obj.get("scale"), obj.get("zero_point"))


@dataclass(frozen=True)
class Artifact:
    """An exported file and everything a device app needs to know about it."""

    path: Path
    format: str  # one of FORMATS
    precision: str  # one of PRECISIONS
    bytes: int
    sha256: str
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    export_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # calibration, opset, companion files …

    @property
    def key(self) -> str:
        """Manifest key: one entry per (format, precision)."""
        return f"{self.format}/{self.precision}"

    def to_json(self, root: Path) -> dict[str, Any]:
        """The manifest entry; ``path`` relative to the manifest's folder."""
        # Imported here: fileio pulls in tempfile (and with it shutil, bz2, lzma, random), which
        # the CLI's start-up and `edgecnn predict` never need.
        from edgecnn.fileio import relative_posix

        return {
            "path": relative_posix(self.path, root) or Path(self.path).as_posix(),
            "format": self.format,
            "precision": self.precision,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "export_seconds": round(self.export_seconds, 3),
            **self.extra,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any], root: Path) -> Artifact:
        known = {"path", "format", "precision", "bytes", "sha256", "inputs", "outputs", "export_seconds"}
        return cls(
            path=Path(root) / obj["path"],
            format=obj["format"],
            precision=obj["precision"],
            bytes=int(obj["bytes"]),
            sha256=obj["sha256"],
            inputs=tuple(TensorSpec.from_json(t) for t in obj.get("inputs", ())),
            outputs=tuple(TensorSpec.from_json(t) for t in obj.get("outputs", ())),
            export_seconds=float(obj.get("export_seconds", 0.0)),
            extra={k: v for k, v in obj.items() if k not in known},
        )


def manifest_precision(path: Path) -> str | None:
    """The precision the manifest next to ``path`` records for this exact file (matched by sha256)."""
    import json

    from edgecnn.fileio import sha256_file
    from edgecnn.names import MANIFEST

    path = Path(path)
    try:
        entries = json.loads((path.parent / MANIFEST).read_text(encoding="utf-8")).get("artifacts", [])
        digest = sha256_file(path)
    except (OSError, ValueError, AttributeError):
        return None
    for entry in entries:
        if isinstance(entry, dict) and entry.get("sha256") == digest and entry.get("precision"):
            return str(entry["precision"])
    return None
