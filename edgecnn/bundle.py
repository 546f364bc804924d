"""``edgecnn bundle``: ready-to-copy folders for a Raspberry Pi, a phone and a microcontroller.

A registry maps each target name to a function that fills ``<output-dir>/bundle/<target>/``
from the exported artifacts. File names, shapes, labels and preprocessing come from the
manifest's ``"model"`` record (the reference CNN's when an old manifest has none). Missing
artifacts are exported from the source .keras model when it is there. Every file is written
atomically. Imports stay inside the functions: the CLI imports this module for its target names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecnn.errors import ModelError
from edgecnn.names import BUNDLE_DIR, MANIFEST

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sources:
    """What the bundle builders read: the export folder, its manifest and the two TFLite files."""

    out_dir: Path
    manifest: dict[str, Any]

    @property
    def spec(self):
        """The model record (edgecnn.spec.ModelSpec) of the manifest."""
        from edgecnn.spec import REFERENCE, ModelSpec

        model = self.manifest.get("model")
        return ModelSpec.from_json(model) if isinstance(model, dict) else REFERENCE

    @property
    def int8(self) -> Path:
        return self.out_dir / f"{self.spec.name}_int8.tflite"

    @property
    def float32(self) -> Path:
        return self.out_dir / f"{self.spec.name}_float32.tflite"

    def entry(self, name: str) -> dict[str, Any]:
        for e in self.manifest.get("artifacts", []):
            if e.get("path") == name:
                return e
        return {}


def collect_sources(out_dir: Path) -> Sources:
    """The TFLite artifacts in ``out_dir``; exported from the source .keras model first when missing."""
    from edgecnn.manifest import read_manifest

    out_dir = Path(out_dir)
    src = Sources(out_dir, read_manifest(out_dir))
    missing = [key for key, path in ((("tflite", "int8"), src.int8), (("tflite", "float32"), src.float32))
               if not path.is_file()]
    if missing:
        from edgecnn.model import default_model_path

        keras_path = default_model_path(out_dir)
        if not keras_path.is_file():
            raise ModelError(
                f"{out_dir}: no {src.int8.name}/{src.float32.name} and no {keras_path.name}; "
                "run `edgecnn train` and `edgecnn export` first"
            )
        from edgecnn.export import ExportOptions, export_models

        log.info("exporting %s from %s", missing, keras_path)
        spec = src.spec if isinstance(src.manifest.get("model"), dict) else None
        options = ExportOptions(labels=spec.labels, preprocessing=spec.preprocessing,
                                prepare=spec.preprocessing.prepare) if spec is not None else None
        export_models(keras_path, out_dir, missing, options)
        src = Sources(out_dir, read_manifest(out_dir))
    return src


def _copy(src: Path, dest_dir: Path) -> Path:
    from edgecnn import fileio

    return fileio.write_bytes(dest_dir / src.name, src.read_bytes())


# ---- pi ---------------------------------------------------------------------------------
def build_pi(src: Sources, dest: Path) -> list[Path]:
    """int8 + float32 TFLite, manifest, standalone classify.py, its requirements.txt and a README."""
    from edgecnn import fileio
    from edgecnn.bundle_templates import pi_classify_path, pi_requirements_path, render

    files = [_copy(src.int8, dest), _copy(src.float32, dest)]
    manifest = dict(src.manifest)
    manifest["artifacts"] = [e for e in src.manifest.get("artifacts", [])
                             if e.get("path") in (src.int8.name, src.float32.name)]
    files.append(fileio.write_json(dest / MANIFEST, manifest))
    # classify.py reads the model's record from the model file itself; its default model is this one.
    script = pi_classify_path().read_text(encoding="utf-8").replace(
        'DEFAULT_MODEL = "mnist_cnn_int8.tflite"', f'DEFAULT_MODEL = "{src.int8.name}"', 1)
    files.append(fileio.write_text(dest / "classify.py", script))
    files.append(fileio.write_bytes(dest / "requirements.txt", pi_requirements_path().read_bytes()))
    readme = render("pi/README.md.in", name=src.spec.name, int8=src.int8.name, float32=src.float32.name)
    files.append(fileio.write_text(dest / "README.md", readme))
    return files


# ---- android ----------------------------------------------------------------------------
_PREPARE_STEPS = {
    "mnist": ("This is a digit model: the frameworks resize and normalize, but the picture must first look "
              "like MNIST: one digit, **white on black** (invert a dark-on-light drawing), cropped to the "
              "digit, scaled to fit 20x20 keeping its aspect ratio and centred by centre of mass in a "
              "{field}x{field} field{resize}. No metadata can say this: do it before `classify`. A grey picture "
              "given as RGB (R = G = B) is what the file expects; it converts to grey inside."),
    "resize": ("Nothing: MediaPipe and ML Kit scale the picture to {w}x{h} and normalize it as the metadata "
               "says. (They stretch the whole picture; edgecnn's own `predict` keeps the aspect ratio and pads "
               "with black, so crop far-from-square pictures to a square first for the same answers.)"),
}


def _app_files(src: Sources, dest: Path) -> list[Path]:
    """The two app variants in ``dest``: the exported ones, else derived from the exported files (TF-free)."""
    from edgecnn import fileio
    from edgecnn.export.app import app_variant

    out = []
    for plain in (src.int8, src.float32):
        exported = plain.with_name(f"{plain.stem}_app.tflite")
        data = exported.read_bytes() if exported.is_file() else app_variant(plain.read_bytes())[0]
        out.append(fileio.write_bytes(dest / exported.name, data))
    return out


def _kotlin_put_pixel(dtype: str, mean: float, std: float) -> str:
    channels = ("p shr 16 and 0xFF", "p shr 8 and 0xFF", "p and 0xFF")  # R, G, B of an ARGB Int
    if dtype == "uint8":
        return "\n".join(f"    input.put(({c}).toByte())" for c in channels)
    return "\n".join(f"    input.putFloat((({c}) - {mean!r}f) / {std!r}f)" for c in channels)


def build_android(src: Sources, dest: Path) -> list[Path]:
    """The two framework-ready .tflite files (export/app.py), labels.txt, manifest.json and a README that
    leads with MediaPipe Tasks and ML Kit and states the input contract read from the files' metadata."""
    from edgecnn import fileio
    from edgecnn.bundle_templates import render
    from edgecnn.formatting import format_kib
    from edgecnn.images import FIELD
    from edgecnn.runtime import load
    from edgecnn.runtime.model_metadata import read_model_metadata

    int8, float32 = files = _app_files(src, dest)
    predictors = [load(p) for p in files]
    spec = predictors[0].spec
    standard = read_model_metadata(int8.read_bytes())
    if standard is None:  # written just above by edgecnn: a missing record is a bug, not a user error
        raise ModelError(f"{int8.name}: no TFLite Model Metadata")
    files.append(fileio.write_text(dest / "labels.txt", "\n".join(standard.labels) + "\n"))
    rows = []
    for p, predictor in zip(files, predictors):
        i, o = predictor.input_spec, predictor.output_spec
        rows.append(f"| `{p.name}` | {'ship this (int8)' if p == int8 else 'float32, exact'} | {i.dtype} "
                    f"{list(i.shape)} | {o.dtype} {list(o.shape)} | {p.stat().st_size} | `{fileio.sha256_file(p)}` |")
    manifest = {**src.manifest, "artifacts": [
        {"path": p.name, "format": "tflite", "precision": pr.precision, "bytes": p.stat().st_size,
         "sha256": fileio.sha256_file(p), "inputs": [pr.input_spec.to_json()], "outputs": [pr.output_spec.to_json()],
         "app": pr.metadata.get("app", {})} for p, pr in zip(files[:2], predictors)]}
    files.append(fileio.write_json(dest / MANIFEST, manifest))
    h, w, c = spec.input_shape
    mean, std = standard.input.mean[0], standard.input.std[0]
    dtype = predictors[0].input_spec.dtype
    labels = list(spec.labels)
    pre = spec.preprocessing
    resize = "" if (h, w) == (FIELD, FIELD) else f", then resized to {w}x{h}"
    text = render("android/README.md.in", **{
        "name": spec.name, "app_int8": int8.name, "app_int8_stem": int8.stem, "app_float32": float32.name,
        "table": "\n".join(rows), "int8_kib": format_kib(int8.stat().st_size, 1),
        "float32_kib": format_kib(float32.stat().st_size, 1), "k": spec.num_classes,
        "label_list": ", ".join(labels) if len(labels) <= 20 else ", ".join(labels[:20]) + ", …",
        "input_dtype": dtype, "h": h, "w": w, "mean": f"{mean:g}", "std": f"{std:g}",
        "normalization_note": ("uint8: the pixels as they are; the file's input quantization is the model's "
                               f"preprocessing x = {pre.formula}") if dtype == "uint8" else
                              f"float32 (pixel - {mean:g}) / {std:g}, i.e. the model's x = {pre.formula}",
        "grey_note": "; the file converts RGB to grey inside (the model is grey)" if c == 1 else "",
        "app_steps": _PREPARE_STEPS.get(pre.prepare, _PREPARE_STEPS["resize"]).format(field=FIELD, resize=resize,
                                                                                     w=w, h=h),
        "input_bytes": h * w * 3 * (1 if dtype == "uint8" else 4), "put_pixel": _kotlin_put_pixel(dtype, mean, std),
    })
    files.append(fileio.write_text(dest / "README.md", text))
    return files


# ---- mcu --------------------------------------------------------------------------------
def build_mcu(src: Sources, dest: Path) -> list[Path]:
    """The C array of the int8 model, a README (resolver, arena, measured figures) and a buildable example."""
    from edgecnn.mcu.bundle import write_mcu_bundle

    return write_mcu_bundle(src.int8, dest, src.out_dir)


def build_web(src: Sources, dest: Path) -> list[Path]:
    """A web page running the ONNX files with ONNX Runtime Web, all files local (edgecnn.web.bundle)."""
    from edgecnn.web.bundle import build

    return build(src, dest)


Builder = Callable[[Sources, Path], list[Path]]
TARGETS: dict[str, Builder] = {"pi": build_pi, "android": build_android, "mcu": build_mcu, "web": build_web}
# Targets that need a tool beyond edgecnn's own dependencies (web: npm or its cache) are built
# only when named; `--target all` leaves them out so it works wherever edgecnn does.
OPT_IN: frozenset[str] = frozenset({"web"})


def build_bundles(out_dir: Path, targets: list[str] | str = "all") -> dict[str, list[Path]]:
    """Fill ``<out_dir>/bundle/<target>/`` for each target.

    Args:
        out_dir: the output folder whose manifest lists the files to bundle.
        targets: names of :data:`TARGETS`, or ``"all"``: every target but the opt-in ones
            (:data:`OPT_IN`: web, which needs npm).

    Returns:
        The files written per target, in order.
    """
    from edgecnn import fileio

    if isinstance(targets, str):
        targets = [n for n in TARGETS if n not in OPT_IN] if targets == "all" else [targets]
    src = collect_sources(Path(out_dir))
    written = {}
    for name in targets:
        dest = fileio.ensure_dir(Path(out_dir) / BUNDLE_DIR / name)
        written[name] = TARGETS[name](src, dest)
    return written
