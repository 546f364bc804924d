"""``verify --platform browser``: the web bundle's own JavaScript in a real, headless Chromium.

The verified ONNX files are bundled (exactly as ``bundle --target web`` does) into a temporary
folder, served on 127.0.0.1 by :mod:`edgecnn.web.serve`, and opened in the system's Chromium
through Playwright (``executable_path``: Playwright's own browser downloads are never used).
The page's own functions (``edgecnn.js``: pixel table, tensor, ``session.run``) classify the
first N test images one at a time; the probabilities are compared with the same file run by
ONNX Runtime in Python and with Keras. The check fails if the page logs an error or requests
anything outside 127.0.0.1. Then a digit is drawn on the page with mouse moves and the page is
photographed (``browser-chromium.png`` next to the artifacts).

Timings are browser figures (``performance.now()`` in headless Chromium, WebAssembly, one
thread, batch 1, input tensor included): never compare them with native runtimes.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from edgecnn.errors import PlatformError
from edgecnn.names import MODELS_JSON
from edgecnn.platforms.registry import Platform
from edgecnn.parity import DEFAULT_TOLERANCES, Tolerance, compare, compare_with_keras, reproduces

log = logging.getLogger(__name__)

SECTION = "browser-chromium-wasm"
SCREENSHOT = "browser-chromium.png"
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
THREADS = 1  # one wasm thread: stable figures on a shared machine, and what any static host gives
PREPARE_SAMPLES = 200  # synthetic photos whose JS preparation is compared with images.py's
PAGE_TIMEOUT_MS = 300_000
TIMING_NOTE = ("browser figures: performance.now() in headless Chromium, WebAssembly, "
               f"{THREADS} thread, one image per run including the input tensor; "
               "not comparable with native runtimes")
# A "7" as three points on the pad (fractions of its width): drawn with mouse moves.
SEVEN = ((0.28, 0.2), (0.72, 0.2), (0.42, 0.85))


def chromium_path() -> str:
    """The system Chromium (``EDGECNN_CHROMIUM`` overrides); PlatformError naming what to install."""
    explicit = os.environ.get("EDGECNN_CHROMIUM")
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise PlatformError(f"EDGECNN_CHROMIUM={explicit} is not an executable file")
        return explicit
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise PlatformError("the browser check needs chromium, which is not installed "
                        "(Debian/Ubuntu: apt-get install chromium)")


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise PlatformError("the browser check needs playwright, which is not installed "
                            "(pip install playwright; never `playwright install`: it uses the system "
                            "chromium)") from exc
    return sync_playwright


def _b64(arr: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(arr).tobytes()).decode()


def synthetic_photos(images: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """MNIST digits made to look like photos: enlarged (various sizes and aspect ratios), half of
    them dark on a light, slightly grey background, with a little noise. float32 grey 0..255."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for i, img in enumerate(images):
        w, h = (int(v) for v in rng.integers(40, 160, size=2))
        big: np.ndarray = np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)
        if i % 2:
            big = 255.0 - big * float(rng.uniform(0.6, 1.0)) - float(rng.integers(0, 40))
        big = big + rng.normal(0, 3, size=big.shape)
        out.append(np.clip(np.round(big), 0, 255).astype(np.float32))
    return out


class _Page:
    """One Chromium page on the served bundle, recording errors and outside requests."""

    def __init__(self, browser, url: str, viewport: dict[str, int]) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page = browser.new_page(viewport=viewport)
        self.page.set_default_timeout(PAGE_TIMEOUT_MS)
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} ({r.failure})"))
        self.page.on("request", self._request)
        self.page.goto(url)
        ready = self.page.evaluate("window.edgecnn ? window.edgecnn.ready : 'app.js did not run'")
        if ready is not True:
            raise PlatformError(f"the web page did not start: {ready}; {'; '.join(self.errors) or 'no other error'}")

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob"):
            return
        if parts.hostname != "127.0.0.1":
            self.outside.append(request.url)


def _draw(page, points=SEVEN, steps: int = 12) -> None:
    """Draw a polyline on the pad with real mouse moves (down, moves, up)."""
    box = page.locator("#pad").bounding_box()
    at = lambda fx, fy: (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)  # noqa: E731
    page.mouse.move(*at(*points[0]))
    page.mouse.down()
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        for t in range(1, steps + 1):
            page.mouse.move(*at(ax + (bx - ax) * t / steps, ay + (by - ay) * t / steps))
    page.mouse.up()


def run_in_browser(
    model_paths: list[Path], images: np.ndarray, *, prepare_images: list[np.ndarray] | None = None,
    screenshot: Path | None = None, workdir: Path | None = None, litert_paths: Sequence[Path] = (),
) -> dict[str, Any]:
    """Bundle ``model_paths`` (ONNX, for ONNX Runtime Web) and ``litert_paths`` (batch-1 TFLite,
    for LiteRT.js), serve them, and run ``images`` (uint8, N x H x W[x C]) through the page.

    Returns {"browser", "per_model": {path: {"probs", "times_ms"}}, "prepared": [uint8 arrays or
    error strings], "errors", "outside_requests", "drawn", "screenshot", ...}.
    """
    from edgecnn.web.bundle import build_from
    from edgecnn.web.serve import serving

    executable = chromium_path()
    sync_playwright = _playwright()
    with tempfile.TemporaryDirectory(prefix="edgecnn-web-", dir=workdir) as tmp:
        bundle = Path(tmp)
        build_from(model_paths, bundle, litert_paths)
        import json

        index = json.loads((bundle / MODELS_JSON).read_text())
        keys = {e["file"]: e["key"] for e in index["models"]}
        out: dict[str, Any] = {"runtimes": index.get("runtimes", {}), "per_model": {}, "runtime": index["runtime"]}
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        with serving(bundle) as url, sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(executable_path=executable, args=args)
            except Exception as exc:  # Playwright's own Error type
                raise PlatformError(f"cannot start {executable} ({str(exc).splitlines()[0]})") from exc
            try:
                out["browser"] = f"Chromium {browser.version}"
                out["executable"] = executable
                started = time.perf_counter()
                view = _Page(browser, f"{url}?threads={THREADS}", {"width": 1100, "height": 760})
                # Page load: navigation until app.js says it is ready (HTML, JS and the runtime's WASM).
                out["page_load_ms"] = (time.perf_counter() - started) * 1000.0
                page = view.page
                out["cross_origin_isolated"] = page.evaluate("self.crossOriginIsolated")
                out["per_model"] = _page_predictions(page, keys, [*model_paths, *litert_paths], images)
                out["prepared"] = _page_preparations(page, prepare_images or [])
                # The person's view: a digit drawn with the mouse, classified by the first model.
                first = index["models"][0]["key"] if index["models"] else None
                if first is not None:
                    out["drawn"] = _page_drawing(page, first)
                    if screenshot is not None:
                        page.screenshot(path=str(screenshot), full_page=True)
                        out["screenshot"] = screenshot
                out["errors"], out["outside_requests"] = view.errors, view.outside
            finally:
                browser.close()
    return out


def _page_predictions(page: Any, keys: dict[str, str], paths: list[Path], images: np.ndarray) -> dict[Path, Any]:
    """{path: {"probs", "times_ms", "load_ms"}}: every image through each model the bundle kept, in the page."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    per_model: dict[Path, Any] = {}
    for path in paths:
        key = keys.get(path.name)
        if key is None:  # two files of one precision: the bundle keeps the first
            continue
        started = time.perf_counter()
        res = page.evaluate("([k, b, n]) => edgecnn.predictMany(k, b, n)", [key, _b64(flat), len(flat)])
        call_ms = (time.perf_counter() - started) * 1000.0  # model fetch + session + every image
        probs = np.frombuffer(base64.b64decode(res["probs"]), dtype=np.float32).reshape(len(flat), -1)
        per_model[path] = {"probs": probs, "times_ms": np.asarray(res["times"], dtype=np.float64),
                           "load_ms": max(0.0, call_ms - float(np.sum(res["times"])))}
    return per_model


def _page_preparations(page: Any, greys: list[np.ndarray]) -> list[Any]:
    """The page's MNIST preparation of each grey photo (uint8 array, or its error string)."""
    prepared: list[Any] = []
    for grey in greys:
        h, w = grey.shape
        got = page.evaluate("([g, w, h]) => edgecnn.prepareGrey(g, w, h)", [_b64(grey.astype(np.float32)), w, h])
        prepared.append(got if got.startswith("error:") else np.frombuffer(base64.b64decode(got), dtype=np.uint8))
    return prepared


def _page_drawing(page: Any, key: str) -> dict[str, Any]:
    """A digit drawn with the mouse on the page, classified by model ``key``."""
    page.evaluate("(k) => edgecnn.useModel(k)", key)
    _draw(page)
    page.wait_for_function("document.querySelectorAll('#top li').length > 0")
    return {"model": key, "top": page.locator("#top li .label").first.inner_text(),
            "status": page.locator("#status").inner_text()}


PYTHON = "the same file in Python"  # the browser's reference for a lossy file


def _vs_python(probs: np.ndarray, ref: np.ndarray, precision: str, tol: Tolerance) -> dict[str, Any]:
    """The browser's probabilities against the same file's in Python: a lossy file must reproduce
    them (parity.reproduces), a float one meet verify's point rules with the Python ones as
    reference and no labels (agreement and |Δ| only)."""
    if tol.lossy:
        return reproduces(probs, ref, PYTHON)
    parity = compare(probs, ref, None, precision, tol, None)
    return {"agreement": parity.agreement, "max_abs_diff": parity.max_abs_diff, "max_abs_diff_limit": tol.max_abs_diff,
            "min_agreement": tol.min_agreement, "passed": parity.passed}


def _times(ms: np.ndarray) -> dict[str, Any]:
    us = ms * 1000.0
    return {"note": TIMING_NOTE, "images": int(len(us)), "first_us": float(us[0]), "median_us": float(np.median(us)),
            "p90_us": float(np.percentile(us, 90)), "mean_us": float(np.mean(us)), "min_us": float(np.min(us)),
            "total_s": float(np.sum(ms) / 1000.0)}


def python_probs(predictor, images: np.ndarray) -> np.ndarray:
    """The same file's probabilities in Python; a static batch-1 file (LiteRT.js variant) one image at a time."""
    if predictor.input_spec.shape[0] == 1:
        return np.concatenate([predictor.predict(images[i: i + 1]) for i in range(len(images))]) \
            if len(images) else np.zeros((0, predictor.output_spec.shape[-1]), np.float32)
    return predictor.predict(images)


def litert_variants_for(report, tmp: Path, echo: Callable[[str], None],
                        data=None) -> tuple[list[Path], dict[str, Path]]:
    """Batch-1 float-I/O variants of the verified TFLite files' Keras model (LiteRT.js refuses the
    standard files), and for each variant the standard TFLite file of the same precision."""
    from edgecnn.manifest import read_manifest
    from edgecnn.runtime import load
    from edgecnn.web.litert import convert_variants

    tflite = [Path(row.path) for row in report.rows if row.error is None and Path(row.path).suffix == ".tflite"]
    model_path = Path(getattr(report, "model_path", "") or "")
    if not tflite or not model_path.is_file():
        return [], {}
    echo(f"Converting batch-1, float-I/O TFLite variants of {model_path.name} for LiteRT.js")
    variants = convert_variants(model_path, tmp, read_manifest(model_path.parent), dataset=data,
                                spec=load(tflite[0]).spec)  # the verified files' own model record
    standard = {load(p).precision: p for p in tflite}
    pairs = {v.name: standard[load(v).precision] for v in variants if load(v).precision in standard}
    return [v for v in variants if v.name in pairs], pairs


def _artifact_entry(path: Path, result: dict[str, Any], precision: str, keras: np.ndarray, labels: np.ndarray,
                    ref: np.ndarray, table: Mapping[str, Tolerance], runtime: str, standard: Path | None,
                    standard_ref: np.ndarray | None, available: int | None = None) -> dict[str, Any]:
    """One file's entry: against Keras (verify's rules), the same file in Python, its standard twin."""
    probs = result["probs"]  # precision: from the file's metadata, never its name
    entry = {"format": path.suffix.lstrip("."), "precision": precision, "runtime": runtime,
             **compare_with_keras(probs, keras, labels, precision, table, host_probs=ref, host=PYTHON,
                                  available=available)}
    entry["vs_python"] = _vs_python(probs, ref, precision, table.get(precision, Tolerance()))
    if standard is not None and standard_ref is not None:
        entry["variant_of"] = standard.name
        entry["vs_standard_tflite"] = _vs_standard(probs, standard_ref)
    entry["passed"] = bool(entry["passed"] and entry["vs_python"]["passed"])
    entry["status"] = "PASS" if entry["passed"] else "FAIL"
    entry["browser_timing"] = {**_times(result["times_ms"]), "model_load_ms": round(result["load_ms"], 1)}
    return entry


def _vs_standard(probs: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """A LiteRT.js variant against the standard TFLite file it was converted beside."""
    return {"agreement": float(np.mean(probs.argmax(1) == std.argmax(1))),
            "max_abs_diff": float(np.max(np.abs(probs - std)))}


def _preparation(photos: list[np.ndarray], prepared: list[Any]) -> dict[str, Any]:
    """The page's toMnist against images.py's to_mnist on the same synthetic photos."""
    from edgecnn.images import to_mnist

    expected = [to_mnist(p) for p in photos]
    same = sum(isinstance(g, np.ndarray) and np.array_equal(g.reshape(e.shape), e)
               for g, e in zip(prepared, expected))
    diffs = [int(np.max(np.abs(g.reshape(e.shape).astype(int) - e.astype(int))))
             for g, e in zip(prepared, expected) if isinstance(g, np.ndarray)]
    return {"photos": len(photos), "identical": int(same), "max_abs_diff": max(diffs) if diffs else None,
            "passed": same == len(photos),
            "note": "edgecnn.js toMnist vs edgecnn/images.py to_mnist on synthetic photos"}


def _section(platforms: list[Platform], got: dict[str, Any], n: int, artifacts: dict[str, Any],
             photos: list) -> dict[str, Any]:
    """verify.json's browser section from what the page answered (``got``) and the artifacts' entries."""
    problems = [*got["errors"], *(f"request outside 127.0.0.1: {u}" for u in got["outside_requests"])]
    section: dict[str, Any] = {
        "name": "browser", "kind": "browser", "description": platforms[0].description if platforms else "",
        "browser": got["browser"], "runtime": f"{got['runtime']['package']} {got['runtime']['version']} (WebAssembly)",
        "runtimes": {k: f"{v['package']} {v['version']}" for k, v in got.get("runtimes", {}).items()},
        "threads": THREADS, "cross_origin_isolated": got["cross_origin_isolated"],
        "page_load_ms": round(got["page_load_ms"], 1),
        "runner": "web bundle edgecnn.js (the page's own functions)", "samples": n,
        "artifacts": artifacts, "page_errors": got["errors"], "outside_requests": got["outside_requests"],
    }
    if photos:
        section["preparation"] = _preparation(photos, got["prepared"])
        same = section["preparation"]["identical"]
        if same != len(photos):
            problems.append(f"image preparation differs from images.py on {len(photos) - same} of {len(photos)} photos")
    if "drawn" in got:
        section["drawn"] = got["drawn"]
    if got.get("screenshot"):
        section["screenshot"] = SCREENSHOT
    section["problems"] = problems
    section["passed"] = bool(artifacts) and all(a["passed"] for a in artifacts.values()) and not problems
    return section


def check_browser(
    platforms: list[Platform], report, data, samples: int = 1000,
    tolerances: Mapping[str, Tolerance] | None = None, echo: Callable[[str], None] = log.info,
) -> dict[str, dict[str, Any]]:
    """The checker of kind ``browser``: the section ``browser-chromium-wasm`` of verify.json."""
    from edgecnn.images import FIELD
    from edgecnn.runtime import load

    table = dict(tolerances or DEFAULT_TOLERANCES)
    loaded = [Path(row.path) for row in report.rows if row.error is None]
    paths = [p for p in loaded if p.suffix == ".onnx"]
    if not any(p.suffix in (".onnx", ".tflite") for p in loaded):
        raise PlatformError("the browser check runs .onnx files (ONNX Runtime Web) and .tflite files (LiteRT.js); "
                            "none of the verified artifacts is one")
    n = min(samples, len(data.x_test))
    images, labels = np.asarray(data.x_test[:n]), np.asarray(data.y_test[:n])
    predictors = {p: load(p) for p in paths}
    spec = load(loaded[0]).spec
    # The MNIST preparation, in MNIST's own field: its JavaScript port is checked on photos.
    mnist_like = spec.preprocessing.prepare == "mnist" and tuple(spec.input_shape) == (FIELD, FIELD, 1)
    photos = synthetic_photos(images[:PREPARE_SAMPLES]) if mnist_like else []
    shot_dir = loaded[0].parent
    with tempfile.TemporaryDirectory(prefix="edgecnn-litert-") as tmp:
        litert, standard = litert_variants_for(report, Path(tmp), echo, data)
        predictors.update({p: load(p) for p in litert})
        tflite_note = f" and {len(litert)} TFLite file(s) (LiteRT.js)" if litert else ""
        echo(f"Checking {len(paths)} ONNX file(s) (ONNX Runtime Web){tflite_note} "
             f"in headless Chromium with the web bundle's own JavaScript "
             f"({n:,} test images{f', {len(photos)} photos through the image preparation' if photos else ''})")
        got = run_in_browser(paths, images, prepare_images=photos, screenshot=shot_dir / SCREENSHOT,
                             litert_paths=litert)
        refs = {p: python_probs(predictors[p], images) for p in got["per_model"]}
        standard_refs = {name: python_probs(load(std), images) for name, std in standard.items()}
    artifacts = {path.name: _artifact_entry(path, got["per_model"][path], predictors[path].precision,
                                            report.keras_probabilities[:n], labels, refs[path], table,
                                            "litert.js" if path in litert else "onnxruntime-web",
                                            standard.get(path.name), standard_refs.get(path.name),
                                            len(data.x_test))
                 for path in [*paths, *litert] if path in got["per_model"]}
    return {SECTION: _section(platforms, got, n, artifacts, photos)}
