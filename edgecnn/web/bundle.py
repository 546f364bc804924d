"""``edgecnn bundle --target web``: a folder any static web server can host.

``<output-dir>/bundle/web/`` gets the page (``index.html``, ``app.js``, ``edgecnn.js``,
``style.css``), the exported ONNX files, ``models.json`` (each file's model record, read from
its embedded metadata: input size, labels, preprocessing, tensor names) and, under ``ort/``,
the three ONNX Runtime Web files the page loads, taken from the pinned npm package
(:mod:`edgecnn.web.npm`). Nothing is requested from any other origin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgecnn.errors import ModelError
from edgecnn.names import MODELS_JSON

log = logging.getLogger(__name__)

RUNTIME_DIR = "ort"
LITERT_DIR = "litert"
LITERT = "litert.js"
PRECISION_ORDER = ("float32", "float16", "int8", "dynamic")


def onnx_artifacts(out_dir: Path, manifest: dict[str, Any]) -> list[Path]:
    """The ONNX files the manifest lists (exported from the .keras model first when there are none)."""
    out_dir = Path(out_dir)
    paths = [out_dir / e["path"] for e in manifest.get("artifacts", [])
             if str(e.get("path", "")).endswith(".onnx") and (out_dir / e["path"]).is_file()]
    if paths:
        return paths
    keras = sorted(out_dir.glob("*.keras"))
    if not keras:
        raise ModelError(f"{out_dir}: no ONNX files in manifest.json and no .keras model to export them from; "
                         "run `edgecnn export --format onnx` first")
    from edgecnn.export import export_models

    log.info("exporting ONNX float32 + int8 from %s", keras[0])
    return [Path(a.path) if Path(a.path).is_absolute() else out_dir / a.path
            for a in export_models(keras[0], out_dir, [("onnx", "float32"), ("onnx", "int8")])]


def model_record(predictor) -> dict[str, Any]:
    """What the page needs to know about a model file, from the file itself: its model record
    (``predictor.spec``; files from before the record read as the reference CNN's) and tensor names."""
    spec = predictor.spec
    sp = spec.preprocessing
    return {
        "name": spec.name, "input_shape": list(spec.input_shape), "labels": list(spec.labels),
        "input_name": predictor.input_spec.name, "output_name": predictor.output_spec.name,
        "head": spec.head,
        "preprocessing": {**predictor.preprocessing, "scale": sp.scale, "offset": sp.offset, "preset": sp.preset,
                          "color": sp.color, "prepare": sp.prepare},
    }


def _entry(path: Path, runtime: str = "onnxruntime-web") -> dict[str, Any]:
    from edgecnn import fileio
    from edgecnn.runtime import load

    p = load(path)
    record = model_record(p)
    if len(record["labels"]) != int(p.output_spec.shape[-1]):
        raise ModelError(f"{path}: {len(record['labels'])} labels for {p.output_spec.shape[-1]} outputs")
    litert = runtime == LITERT
    return {"source": str(path), "key": f"litert-{p.precision}" if litert else p.precision, "file": path.name,
            "precision": p.precision, "format": path.suffix.lstrip("."), "runtime": runtime,
            "bytes": path.stat().st_size, "sha256": fileio.sha256_file(path), "model": record}


def litert_variants(out_dir: Path, manifest: dict[str, Any], cache: Path) -> list[Path]:
    """The LiteRT.js variants of the .keras model in ``out_dir`` (reused from ``cache`` when current)."""
    from edgecnn import fileio
    from edgecnn.runtime import load
    from edgecnn.web.litert import convert_variants

    keras = sorted(Path(out_dir).glob("*.keras"))
    if not keras:
        return []
    sha = fileio.sha256_file(keras[0])
    cached = sorted(Path(cache).glob("*_b1.tflite"))
    try:
        if cached and all(load(p).metadata.get("source_sha256") == sha for p in cached):
            return cached
    except Exception:  # noqa: BLE001 - unreadable or stale: convert again
        pass
    for old in cached:
        old.unlink()
    log.info("converting the LiteRT.js variants (batch 1, float I/O) from %s", keras[0])
    spec = None
    if isinstance(manifest.get("model"), dict):
        from edgecnn.spec import ModelSpec

        spec = ModelSpec.from_json(manifest["model"])
    else:
        standard = [Path(out_dir) / a["path"] for a in manifest.get("artifacts", [])
                    if str(a.get("path", "")).endswith((".tflite", ".onnx")) and (Path(out_dir) / a["path"]).is_file()]
        spec = load(standard[0]).spec if standard else None
    from edgecnn.errors import MissingDependency, require_full

    try:
        require_full("the LiteRT.js variants of the web bundle")
    except MissingDependency as exc:  # the base install: the page runs the ONNX files only
        log.warning("%s", exc)
        return []
    return convert_variants(keras[0], cache, manifest, spec=spec)


def _model_line(e: dict) -> str:
    """The README's line for one models.json entry."""
    m = e["model"]
    return (f"- `{e['file']}` ({e['precision']}, {e['runtime']}, {e['bytes']:,} bytes, sha256 `{e['sha256'][:16]}…`): "
            f"input {'x'.join(map(str, m['input_shape']))} `{m['input_name']}`, {len(m['labels'])} labels, "
            f"preparation `{m['preprocessing'].get('prepare')}`, "
            f"preprocessing `{json.dumps({k: m['preprocessing'].get(k) for k in ('scale', 'offset')})}`")


def build(src, dest: Path) -> list[Path]:
    """``bundle --target web``: the ONNX files of ``src`` (a bundle.Sources), and the LiteRT.js
    variants of its .keras model when there is one, into ``dest``."""
    from edgecnn import fileio
    from edgecnn.web import npm

    for pkg in npm.PACKAGES:  # first: a missing npm is the likeliest failure, say it before any work
        npm.fetch(pkg=pkg)
    litert = litert_variants(src.out_dir, src.manifest, fileio.ensure_dir(dest))
    return build_from(onnx_artifacts(src.out_dir, src.manifest), dest, litert)


def _ordered(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    entries = sorted(entries, key=lambda e: (e["runtime"] == LITERT, PRECISION_ORDER.index(e["precision"])
                                             if e["precision"] in PRECISION_ORDER else 99))
    kept, seen = [], set()
    for e in entries:  # one file per precision and runtime
        if e["key"] not in seen:
            seen.add(e["key"])
            kept.append(e)
    return kept


def _readme(entries: list[dict[str, Any]], sizes: dict[str, int], dest: Path) -> str:
    """The web bundle's README.md: how to serve it, what is in it (``sizes``: bytes per file), the models."""
    from edgecnn.bundle_templates import render
    from edgecnn.web import STATIC_FILES, npm

    wasm = next(n for n in npm.DIST_FILES if n.endswith(".wasm"))
    what = {**{n: "the page" for n in STATIC_FILES}, MODELS_JSON: "model records (from the files' metadata)",
            **{e["file"]: f"{e['precision']} model" for e in entries},
            **{f"{RUNTIME_DIR}/{n}": "ONNX Runtime Web" for n in npm.DIST_FILES},
            **{n: "LiteRT.js" for n in sizes if n.startswith(LITERT_DIR + "/")},
            **{e["file"]: f"{e['precision']} model for LiteRT.js (batch 1, float I/O)"
               for e in entries if e["runtime"] == LITERT}}
    litert_bytes = sum(b for n, b in sizes.items() if n.startswith(LITERT_DIR + "/"))
    litert_note = "" if not litert_bytes else (
        f"\nThe `.tflite` models run with LiteRT.js (`{npm.LITERT.spec}`, in `{LITERT_DIR}/`, "
        f"{litert_bytes / 2**20:.1f} MiB: its \"compat\" wasm build, which needs neither relaxed SIMD nor "
        "threads). The page downloads it only when a LiteRT.js model is chosen. LiteRT.js refuses the "
        "standard `.tflite` files (dynamic batch, int8 input/output), so the bundle carries variants "
        "converted from the same Keras model with batch 1 and float32 input/output (`*_b1.tflite`; the "
        "int8 one is the same int8 network, calibrated the same way, with QUANTIZE/DEQUANTIZE at its ends).\n")
    total = sum(sizes.values()) + 4096  # + this README, roughly
    model_bytes = sum(e["bytes"] for e in entries)
    wasm_bytes = sizes[f"{RUNTIME_DIR}/{wasm}"]
    text = render(
        "web/README.md.in", name=entries[0]["model"]["name"] if entries else "model", version=npm.VERSION,
        package=npm.PACKAGE, folder=dest, total_kib=f"{total / 1024:,.0f}", runtime_dir=RUNTIME_DIR, wasm=wasm,
        wasm_kib=f"{wasm_bytes / 1024:,.0f}", wasm_pct=f"{100 * wasm_bytes / total:.0f}",
        model_kib=f"{model_bytes / 1024:.0f}", n_runtime=len(npm.DIST_FILES), litert_note=litert_note,
        rows="\n".join(f"| `{n}` | {b:,} | {what.get(n, '')} |"
                       for n, b in sorted(sizes.items(), key=lambda kv: -kv[1])),
        models="\n".join(_model_line(e) for e in entries),
    )
    return text


def build_from(paths: list[Path], dest: Path, litert_paths: Sequence[Path] = ()) -> list[Path]:
    """Fill ``dest`` with the page, models.json, the ONNX files ``paths``, the LiteRT.js files
    ``litert_paths`` (batch 1, float I/O) and each runtime's own files."""
    from edgecnn import fileio
    from edgecnn.web import STATIC_DIR, STATIC_FILES, npm

    entries = _ordered([_entry(p) for p in paths] + [_entry(p, LITERT) for p in litert_paths])
    files: list[Path] = []
    for name in STATIC_FILES:
        files.append(fileio.write_bytes(dest / name, (STATIC_DIR / name).read_bytes()))
    for e in entries:
        source = Path(e.pop("source"))
        target = dest / e["file"]
        if source.resolve() != target.resolve():
            fileio.write_bytes(target, source.read_bytes())
        files.append(target)
    runtimes = {"onnxruntime-web": {"package": npm.PACKAGE, "version": npm.VERSION, "dir": RUNTIME_DIR,
                                    "entry": npm.DIST_FILES[0], "files": list(npm.DIST_FILES)}}
    for name, data in npm.dist_files().items():
        files.append(fileio.write_bytes(fileio.ensure_dir(dest / RUNTIME_DIR) / name, data))
    if any(e["runtime"] == LITERT for e in entries):
        core = npm.dist_files(pkg=npm.LITERT)
        for name, data in core.items():
            files.append(fileio.write_bytes(fileio.ensure_dir(dest / LITERT_DIR) / name, data))
        for name, data in npm.dist_files(pkg=npm.LITERT_UTILS).items():
            files.append(fileio.write_bytes(fileio.ensure_dir(dest / LITERT_DIR / "wasm-utils") / name, data))
        runtimes[LITERT] = {"package": npm.LITERT.name, "version": npm.LITERT.version, "dir": LITERT_DIR,
                            "entry": "index.js", "wasm": next(n for n in core if n.endswith(".js") and n != "index.js"),
                            "files": sorted(core)}
    index = {
        "runtime": runtimes["onnxruntime-web"],  # the default runtime (older pages read this key)
        "runtimes": runtimes,
        "models": entries,
    }
    files.append(fileio.write_json(dest / MODELS_JSON, index))
    sizes = {f.relative_to(dest).as_posix(): f.stat().st_size for f in files}
    text = _readme(entries, sizes, dest)
    files.append(fileio.write_text(dest / "README.md", text))
    return files
