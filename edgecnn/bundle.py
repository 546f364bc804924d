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


def _io_spec(path: Path) -> dict[str, Any]:
    """Input/output spec read from the model file itself (LiteRT), plus its embedded metadata."""
    from edgecnn.runtime import load

    p = load(path)
    return {"input": p.input_spec, "output": p.output_spec, "labels": p.labels, "metadata": p.metadata}


def _preprocessing(src: Sources, spec: dict[str, Any]) -> dict[str, Any]:
    return (spec["metadata"].get("preprocessing") or src.manifest.get("preprocessing")
            or src.spec.preprocessing.to_json(src.spec.input_shape))


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
def _tensor_line(t) -> str:
    shape = ", ".join("N" if d in (-1, None) else str(d) for d in t.shape)
    quant = f", scale {t.scale!r}, zero point {t.zero_point}" if t.quantized else ""
    return f"`{t.name}`: {t.dtype} [{shape}]{quant}"


ANDROID_README = """# {name} for Android (and iOS)

Generated by edgecnn. Copy the `.tflite` files into `app/src/main/assets/` (iOS: the app bundle).
`labels.txt` holds one label per line, in output order ({k} classes: {label_list}).

| file | precision | bytes | sha256 |
|---|---|---|---|
{table}

## Input and output (read from the model files)

{specs}

## Preprocessing

{preprocessing}

1. {prepare_step}
2. `x = {formula}` for each pixel value 0-255 (float32), layout NHWC `[1, {h}, {w}, {c}]`{channel_note}.
3. int8 model only: `q = clamp(round(x / {in_scale!r}) + ({in_zp}), -128, 127)` as a signed byte;
   output: `p = {out_scale!r} * (q - ({out_zp}))`.

The outputs are probabilities (the files end in a softmax{head_note}).

## Kotlin (org.tensorflow:tensorflow-lite or com.google.ai.edge.litert)

```kotlin
val model = FileUtil.loadMappedFile(context, "{int8}")
val interpreter = Interpreter(model)
// pixels: IntArray({n_in}) of 0-255 values, {pixel_order}
val input = ByteBuffer.allocateDirect({n_in}).order(ByteOrder.nativeOrder())
for (v in pixels) {{
    val x = v * {scale}f + ({offset}f)
    val q = Math.round(x / {in_scale}f) + ({in_zp})
    input.put(q.coerceIn(-128, 127).toByte())
}}
input.rewind()
val output = Array(1) {{ ByteArray({k}) }}
interpreter.run(input, output)
val probs = output[0].map {{ {out_scale}f * (it.toInt() - ({out_zp})) }}
val best = probs.indices.maxBy {{ probs[it] }}  // labels.txt line `best`
```

For `{float32}` feed a float32 buffer (4 x {n_in} bytes) of `x` and read
`Array(1) {{ FloatArray({k}) }}`: no quantization step.
"""

_PREPARE_STEPS = {
    "mnist": ("Make the picture MNIST-like: one digit, grey, **white digit on black** (invert a dark-on-light "
              "drawing), cropped to the digit, scaled to fit 20x20 keeping its aspect ratio, centred by "
              "centre of mass in a {field}x{field} field{resize}."),
    "resize": ("Scale the picture to fit {w}x{h} keeping its aspect ratio, centre it and pad the rest "
               "with black, and convert it to {color}."),
}


def build_android(src: Sources, dest: Path) -> list[Path]:
    """The .tflite files, labels.txt and a README with the exact I/O spec and a Kotlin snippet."""
    import json

    from edgecnn import fileio

    files = [_copy(src.int8, dest), _copy(src.float32, dest)]
    int8, float32 = _io_spec(src.int8), _io_spec(src.float32)
    files.append(fileio.write_text(dest / "labels.txt", "\n".join(int8["labels"]) + "\n"))
    table = "\n".join(
        f"| `{p.name}` | {prec} | {p.stat().st_size} | `{fileio.sha256_file(p)}` |"
        for p, prec in ((src.int8, "int8"), (src.float32, "float32"))
    )
    specs = "\n".join(
        f"- `{path.name}` input {_tensor_line(s['input'])}; output {_tensor_line(s['output'])} (probabilities)"
        for path, s in ((src.int8, int8), (src.float32, float32))
    )
    from edgecnn.spec import ModelSpec

    spec = ModelSpec.from_metadata(int8["metadata"], input_shape=tuple(int8["input"].shape[1:]),
                                   num_classes=int(int8["output"].shape[-1]))
    h, w, c = spec.input_shape
    pre = spec.preprocessing
    from edgecnn.images import FIELD

    resize = "" if (h, w, c) == (FIELD, FIELD, 1) else f", then resized to {w}x{h}"
    prepare_step = _PREPARE_STEPS.get(pre.prepare, _PREPARE_STEPS["resize"]).format(
        field=FIELD, w=w, h=h, color="grey (one channel)" if c == 1 else "RGB (three channels, R, G, B order)",
        resize=resize)
    labels = list(spec.labels)
    inp, out = int8["input"], int8["output"]
    text = ANDROID_README.format(
        name=spec.name, k=spec.num_classes,
        label_list=", ".join(labels) if len(labels) <= 20 else ", ".join(labels[:20]) + ", …",
        table=table, specs=specs, int8=src.int8.name, float32=src.float32.name,
        preprocessing="```json\n" + json.dumps(_preprocessing(src, int8), indent=2) + "\n```",
        prepare_step=prepare_step, formula=pre.formula, h=h, w=w, c=c,
        channel_note="" if c == 1 else ", channels R, G, B",
        head_note="" if spec.head == "softmax" else " appended by edgecnn: the Keras model gave logits",
        n_in=h * w * c, pixel_order="row by row" if c == 1 else "row by row, R, G, B per pixel",
        scale=repr(float(pre.scale)), offset=repr(float(pre.offset)),
        in_scale=inp.scale, in_zp=inp.zero_point, out_scale=out.scale, out_zp=out.zero_point,
    )
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
