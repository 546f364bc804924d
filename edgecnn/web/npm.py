"""ONNX Runtime Web, pinned here and nowhere else, fetched with ``npm pack`` into a cache.

``npm pack onnxruntime-web@VERSION`` downloads the package's tarball (no node_modules, no
install scripts). It lands in ``~/.cache/edgecnn/npm/`` (``EDGECNN_NPM_CACHE`` overrides) and
is reused afterwards; its sha512 must match :data:`INTEGRITY`, the registry's own integrity
string for this version. Only the three files the page loads are taken out of it.

``python -m edgecnn.web.npm`` fetches it (the Makefile uses this, so the version stays here).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from edgecnn.errors import PlatformError

PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"
# `npm view onnxruntime-web@1.30.0 dist.integrity`
INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
# What the page needs from dist/: the WebAssembly-only ES module build, and the one wasm
# binary (SIMD, threads-capable; one thread needs no special headers) with its loader.
# The other ~60 dist files (WebGPU/WebGL/JSPI/asyncify builds, source maps) are left out.
DIST_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
NPM_TIMEOUT = 600.0


def cache_dir() -> Path:
    return Path(os.environ.get("EDGECNN_NPM_CACHE") or Path.home() / ".cache" / "edgecnn" / "npm")


def tarball_name() -> str:
    return f"{PACKAGE}-{VERSION}.tgz"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def fetch(cache: Path | None = None, npm: str | None = None) -> Path:
    """The cached tarball of the pinned package; ``npm pack`` fetches it when it is not cached yet."""
    cache = Path(cache or cache_dir())
    target = cache / tarball_name()
    if target.is_file():
        if _integrity(target) == INTEGRITY:
            return target
        target.unlink()  # damaged or not the pinned release: fetch it again
    npm = npm or shutil.which("npm")
    spec = f"{PACKAGE}@{VERSION}"
    if not npm:
        raise PlatformError(
            f"the web bundle needs {spec} and neither npm nor a cached {target} exists: "
            f"install npm (Debian: apt-get install npm) or put `npm pack {spec}` output there"
        )
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".npm-pack-", dir=cache) as tmp:
        try:
            proc = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", tmp],
                                  capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise PlatformError(f"`npm pack {spec}` timed out after {NPM_TIMEOUT:.0f} s") from exc
        got = Path(tmp) / tarball_name()
        if proc.returncode != 0 or not got.is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
            raise PlatformError(f"`npm pack {spec}` failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
        if _integrity(got) != INTEGRITY:
            raise PlatformError(f"`npm pack {spec}` gave a tarball whose sha512 is not the pinned {INTEGRITY}")
        os.replace(got, target)
    return target


def dist_files(cache: Path | None = None) -> dict[str, bytes]:
    """The page's runtime files (name -> bytes), read from the cached package."""
    tgz = fetch(cache)
    out: dict[str, bytes] = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for name in DIST_FILES:
            try:
                member = tar.getmember(f"package/dist/{name}")
            except KeyError:
                raise PlatformError(f"{tgz}: no dist/{name} in {PACKAGE} {VERSION}") from None
            fh = tar.extractfile(member)
            if fh is None:
                raise PlatformError(f"{tgz}: dist/{name} is not a regular file")
            out[name] = fh.read()
    return out


def main() -> None:  # python -m edgecnn.web.npm
    print(fetch())


if __name__ == "__main__":
    main()
