"""The web target: npm fetch and cache, `bundle --target web`, `serve`, the JavaScript port of
images.py (in node), and `verify --platform browser` in the system's headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
import types
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.cli import cli
from edgecnn.errors import InputError, PlatformError
from edgecnn.web import STATIC_DIR, npm

EDGECNN_JS = STATIC_DIR / "edgecnn.js"


def _require(problem: str | None) -> None:
    """A missing tool: FAIL as root (`make test` installs it), skip with the reason elsewhere."""
    if problem is None:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.fail(f"{problem} (as root, `make test` installs it: make browser-deps)")
    pytest.skip(problem)


def _browser_problem() -> str | None:
    from edgecnn.platforms.browser import chromium_path

    try:
        chromium_path()
    except PlatformError as exc:
        return str(exc)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is missing (pip install playwright)"
    if not (npm.cache_dir() / npm.tarball_name()).is_file() and not shutil.which("npm"):
        return f"npm is missing and {npm.PACKAGE} {npm.VERSION} is not cached"
    return None


# ---- npm: the pinned package, its cache, and what happens without npm -----------------------
def _fake_package(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


FAKE_DIST = {f"dist/{n}": f"<{n}>".encode() for n in (*npm.DIST_FILES, "ort.webgpu.min.mjs", "ort.min.js.map")}


@pytest.fixture
def fake_pin(monkeypatch, tmp_path):
    """A fake onnxruntime-web tarball pinned in place of the real one; no npm on PATH."""
    tgz = _fake_package({**FAKE_DIST, "package.json": b"{}"})
    monkeypatch.setattr(npm, "INTEGRITY", _integrity(tgz))
    monkeypatch.setenv("EDGECNN_NPM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    return tgz


def test_version_is_pinned_once():
    assert (npm.PACKAGE, npm.VERSION) == ("onnxruntime-web", "1.30.0")
    assert npm.INTEGRITY.startswith("sha512-") and len(base64.b64decode(npm.INTEGRITY[7:])) == 64
    for path in (*STATIC_DIR.iterdir(), Path(npm.__file__).parent / "bundle.py"):
        assert "1.30.0" not in path.read_text(), f"{path.name} repeats the pinned version"


def test_cached_tarball_is_reused_without_npm(fake_pin, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / npm.tarball_name()).write_bytes(fake_pin)
    assert npm.fetch() == cache / npm.tarball_name()
    files = npm.dist_files()
    assert sorted(files) == sorted(npm.DIST_FILES)  # only what the page loads: no WebGPU build, no maps
    assert files["ort-wasm-simd-threaded.wasm"] == b"<ort-wasm-simd-threaded.wasm>"


def test_no_npm_and_no_cache_says_what_to_install(fake_pin):
    with pytest.raises(PlatformError) as err:
        npm.fetch()
    message = str(err.value)
    assert "install npm" in message and "onnxruntime-web@1.30.0" in message and "\n" not in message


def test_npm_pack_fills_the_cache_and_a_wrong_tarball_is_refused(fake_pin, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    payload = tmp_path / "payload.tgz"
    payload.write_bytes(fake_pin)
    log = tmp_path / "npm.log"
    fake = bin_dir / "npm"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {log}\nwhile [ "$1" != "--pack-destination" ]; do shift; done\n'
                    f'{shutil.which("cp", path=os.defpath)} {payload} "$2/{npm.tarball_name()}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / npm.tarball_name()).write_bytes(b"damaged")  # a damaged cache is fetched again
    got = npm.fetch(npm=str(fake))
    assert got.read_bytes() == fake_pin
    assert log.read_text().split()[:2] == ["pack", "onnxruntime-web@1.30.0"]
    npm.fetch(npm=str(fake))  # cached now: npm is not called again
    assert len(log.read_text().splitlines()) == 1
    payload.write_bytes(b"something else")
    got.unlink()
    with pytest.raises(PlatformError, match="sha512"):
        npm.fetch(npm=str(fake))
    assert not got.exists()


def test_bundle_web_without_npm_is_one_error_line(fake_pin, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("mnist_cnn_int8.tflite", "mnist_cnn_float32.tflite"):
        (out / name).write_bytes(b"TFL3")
    (out / "manifest.json").write_text(json.dumps({"artifacts": []}))
    result = CliRunner().invoke(cli, ["bundle", "--output-dir", str(out), "--target", "web"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "install npm" in lines[0], result.output
    assert not (out / "bundle" / "web" / "index.html").exists()


# ---- serve --------------------------------------------------------------------------------
def test_serve_mime_types_and_isolation_headers(tmp_path):
    from edgecnn.web.serve import serving

    for name, data in {"index.html": b"<!doctype html>", "a.mjs": b"export {}", "b.wasm": b"\0asm",
                       "m.onnx": b"\x08\x07", "models.json": b"{}"}.items():
        (tmp_path / name).write_bytes(data)
    with serving(tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        seen = {}
        for name in ("index.html", "a.mjs", "b.wasm", "m.onnx", "models.json"):
            with urllib.request.urlopen(url + name, timeout=10) as res:
                seen[name] = res.headers["Content-Type"].split(";")[0]
                assert res.headers["Cross-Origin-Opener-Policy"] == "same-origin"
                assert res.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
                assert res.read() == (tmp_path / name).read_bytes()
    assert seen == {"index.html": "text/html", "a.mjs": "text/javascript", "b.wasm": "application/wasm",
                    "m.onnx": "application/octet-stream", "models.json": "application/json"}


def test_serve_refuses_a_folder_without_a_page(tmp_path):
    from edgecnn.web.serve import make_server

    with pytest.raises(InputError, match="no index.html"):
        make_server(tmp_path, 0)
    result = CliRunner().invoke(cli, ["serve", str(tmp_path)])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and "bundle --target web" in result.output


# ---- the model record the page reads --------------------------------------------------------
def _predictor(shape, metadata, spec=None):
    tensor = lambda name, s: types.SimpleNamespace(name=name, shape=s)  # noqa: E731
    p = types.SimpleNamespace(
        path=Path("/x/net_float32.onnx"), metadata=metadata, labels=tuple(metadata.get("labels", ())),
        preprocessing=metadata.get("preprocessing", {"scale": 1 / 255, "offset": 0.0}),
        input_spec=tensor("in", (-1, *shape)), output_spec=tensor("out", (-1, 3)))
    if spec is not None:
        p.spec = spec
    return p


def test_model_record_comes_from_the_file():
    from edgecnn.web.bundle import model_record

    old = model_record(_predictor((28, 28, 1), {"name": "mnist_cnn", "labels": [str(i) for i in range(10)]}))
    assert old["input_shape"] == [28, 28, 1] and old["labels"][9] == "9"
    assert old["preprocessing"]["prepare"] == "mnist" and old["preprocessing"]["color"] == "grey"
    assert (old["input_name"], old["output_name"]) == ("in", "out")
    rgb = model_record(_predictor((32, 48, 3), {"name": "pets", "labels": ["cat", "dog", "fox"],
                                               "preprocessing": {"scale": 1 / 127.5, "offset": -1.0}}))
    assert rgb["input_shape"] == [32, 48, 3] and rgb["labels"] == ["cat", "dog", "fox"]
    assert rgb["preprocessing"]["prepare"] == "resize" and rgb["preprocessing"]["offset"] == -1.0
    pre = types.SimpleNamespace(scale=0.5, offset=2.0, preset="custom", color="grey", prepare="resize")
    spec = types.SimpleNamespace(name="blobs", input_shape=(16, 16, 1), labels=("a", "b", "c"), preprocessing=pre)
    rec = model_record(_predictor((16, 16, 1), {"name": "ignored"}, spec=spec))
    assert rec["name"] == "blobs" and rec["preprocessing"]["prepare"] == "resize"
    assert rec["preprocessing"]["scale"] == 0.5 and rec["labels"] == ["a", "b", "c"]


# ---- the JavaScript port, in node -----------------------------------------------------------
NODE_SCRIPT = """
const core = await import(process.argv[1]);
let input = "";
for await (const chunk of process.stdin) input += chunk;
const job = JSON.parse(input);
const out = { rounds: job.rounds.map(core.roundHalfEven), tables: [], prepared: [] };
for (const pre of job.tables) out.tables.push(Array.from(core.pixelTable(pre)));
for (const { grey, w, h } of job.photos) {
  const f = new Float32Array(Uint8Array.from(Buffer.from(grey, "base64")).buffer);
  try { out.prepared.push(Buffer.from(core.toMnist(f, w, h)).toString("base64")); }
  catch (e) { out.prepared.push("error: " + e.message); }
}
console.log(JSON.stringify(out));
"""


def _node(job: dict) -> dict:
    node = shutil.which("node")
    _require(None if node else "node is missing (Debian: apt-get install nodejs, which npm brings)")
    proc = subprocess.run([node, "--input-type=module", "-e", NODE_SCRIPT, EDGECNN_JS.as_uri()],
                          input=json.dumps(job), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_js_preparation_matches_images_py_byte_for_byte(mnist):
    from edgecnn.data import preprocess
    from edgecnn.images import to_mnist
    from edgecnn.platforms.browser import synthetic_photos
    from edgecnn.runtime.base import Predictor

    photos = synthetic_photos(mnist.x_test[:80], seed=1)
    blank = np.full((30, 40), 200.0, np.float32)
    custom = {"scale": 1 / 127.5, "offset": -1.0}
    job = {"rounds": [0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 3.5000001],
           "tables": [{"scale": 1 / 255, "offset": 0.0}, custom],
           "photos": [{"grey": base64.b64encode(p.astype(np.float32).tobytes()).decode(), "w": p.shape[1],
                       "h": p.shape[0]} for p in (*photos, blank)]}
    got = _node(job)
    assert got["rounds"] == [0, 2, 2, 0, -2, 2, 4]  # half to even, as numpy and Python
    unit = preprocess(np.arange(256, dtype=np.uint8)).ravel()
    assert np.array_equal(np.float32(got["tables"][0]), unit)  # p / 255 in float32, not p * (1/255)
    fake = types.SimpleNamespace(_scale_offset=lambda: (custom["scale"], custom["offset"]),
                                 input_spec=types.SimpleNamespace(quantized=False))
    assert np.array_equal(np.float32(got["tables"][1]), Predictor._from_unit(fake, unit))
    *prepared, blank_result = got["prepared"]
    assert blank_result == "error: blank image, no digit found"
    differ = [i for i, (b64, photo) in enumerate(zip(prepared, photos))
              if not np.array_equal(np.frombuffer(base64.b64decode(b64), np.uint8).reshape(28, 28), to_mnist(photo))]
    assert differ == [], f"JS preparation differs from images.py on photos {differ}"


# ---- the bundle and the browser -------------------------------------------------------------
@pytest.fixture(scope="module")
def web_bundle(exported_dir) -> Path:
    _require(None if (npm.cache_dir() / npm.tarball_name()).is_file() or shutil.which("npm")
             else f"npm is missing and {npm.PACKAGE} {npm.VERSION} is not cached")
    result = CliRunner().invoke(cli, ["bundle", "--output-dir", str(exported_dir), "--target", "web"])
    assert result.exit_code == 0, result.output
    return exported_dir / "bundle" / "web"


@pytest.mark.slow
def test_web_bundle_contents(web_bundle, exported_dir):
    from edgecnn.runtime import load

    assert sorted(p.relative_to(web_bundle).as_posix() for p in web_bundle.rglob("*") if p.is_file()) == sorted([
        "README.md", "app.js", "edgecnn.js", "index.html", "models.json", "style.css",
        "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx", *(f"ort/{n}" for n in npm.DIST_FILES)])
    index = json.loads((web_bundle / "models.json").read_text())
    assert index["runtime"]["version"] == npm.VERSION
    assert [m["precision"] for m in index["models"]] == ["float32", "int8"]
    for m in index["models"]:
        p = load(exported_dir / m["file"])
        assert m["precision"] == p.precision and m["model"]["labels"] == list(p.labels)
        assert m["model"]["input_shape"] == list(p.input_spec.shape[1:])
        assert (web_bundle / m["file"]).read_bytes() == (exported_dir / m["file"]).read_bytes()
    for name in ("index.html", "app.js", "edgecnn.js", "style.css"):
        text = (web_bundle / name).read_text()
        assert "https://" not in text and "http://" not in text.replace("http://127.0.0.1", ""), name
    readme = (web_bundle / "README.md").read_text()
    wasm = (web_bundle / "ort" / "ort-wasm-simd-threaded.wasm").stat().st_size
    assert f"| `ort/ort-wasm-simd-threaded.wasm` | {wasm:,} |" in readme and "dominates" in readme


def _keras_report(exported_dir, mnist, n):
    from edgecnn.verify import keras_reference

    keras = keras_reference(exported_dir / "mnist_cnn.keras", mnist.x_test[:n], 256, False)
    rows = [types.SimpleNamespace(path=exported_dir / f, error=None)
            for f in ("mnist_cnn_float32.tflite", "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx")]
    return types.SimpleNamespace(rows=rows, keras_probabilities=keras)


@pytest.mark.slow
@pytest.mark.browser
def test_browser_check_passes_on_the_standard_exports(exported_dir, mnist, web_bundle):
    _require(_browser_problem())
    from edgecnn.platforms.browser import SCREENSHOT, SECTION, check_browser
    from edgecnn.platforms.registry import resolve

    n = 300
    section = check_browser(resolve(["browser"]), _keras_report(exported_dir, mnist, n), mnist, n)
    entry = section[SECTION]
    assert entry["problems"] == [] and entry["page_errors"] == [] and entry["outside_requests"] == []
    assert entry["passed"] is True and entry["browser"].startswith("Chromium ") and entry["samples"] == n
    assert sorted(entry["artifacts"]) == ["mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx"]  # ONNX only
    f32, i8 = entry["artifacts"]["mnist_cnn_float32.onnx"], entry["artifacts"]["mnist_cnn_int8.onnx"]
    assert f32["precision"] == "float32" and i8["precision"] == "int8"
    assert f32["vs_python"]["max_abs_diff"] <= 1e-5 and f32["vs_python"]["agreement"] == 1.0
    assert i8["vs_python"]["agreement"] >= 0.995
    for a in (f32, i8):
        t = a["browser_timing"]
        assert t["images"] == n and 0 < t["median_us"] < 100_000 and "browser figures" in t["note"]
    assert entry["preparation"]["identical"] == entry["preparation"]["photos"] == 200
    assert entry["drawn"]["top"] == "7"  # the 7 drawn with mouse moves
    shot = exported_dir / SCREENSHOT
    assert entry["screenshot"] == SCREENSHOT and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
@pytest.mark.browser
def test_browser_check_fails_on_errors_outside_requests_and_a_wrong_port(exported_dir, mnist, web_bundle,
                                                                        tmp_path, monkeypatch):
    """A page that logs an error, calls another origin and rounds half up instead of half to even."""
    _require(_browser_problem())
    import edgecnn.web
    from edgecnn.platforms.browser import SECTION, check_browser
    from edgecnn.platforms.registry import resolve

    static = tmp_path / "static"
    shutil.copytree(STATIC_DIR, static)
    app = static / "app.js"
    app.write_text(app.read_text() + '\nconsole.error("boom");\nfetch("http://192.0.2.1/x").catch(() => {});\n')
    js = static / "edgecnn.js"
    js.write_text(js.read_text().replace("return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;", "return r;"))
    monkeypatch.setattr(edgecnn.web, "STATIC_DIR", static)
    n = 50
    entry = check_browser(resolve(["browser"]), _keras_report(exported_dir, mnist, n), mnist, n)[SECTION]
    assert entry["passed"] is False
    assert any("boom" in e for e in entry["page_errors"])
    assert entry["outside_requests"] == ["http://192.0.2.1/x"]
    assert 0 < entry["preparation"]["identical"] < 200
    assert any("preparation differs" in p for p in entry["problems"])
    assert all(a["vs_python"]["passed"] for a in entry["artifacts"].values())  # the models themselves are fine


def test_missing_chromium_is_named(monkeypatch, tmp_path):
    from edgecnn.platforms import browser

    monkeypatch.setenv("EDGECNN_CHROMIUM", str(tmp_path / "nowhere"))
    with pytest.raises(PlatformError, match="EDGECNN_CHROMIUM=.*nowhere is not an executable"):
        browser.chromium_path()
    monkeypatch.delenv("EDGECNN_CHROMIUM")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PlatformError, match="needs chromium.*apt-get install chromium"):
        browser.chromium_path()
