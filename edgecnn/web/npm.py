"""The npm packages of the web page, pinned here and nowhere else, fetched with ``npm pack`` into a cache.

``npm pack NAME@VERSION`` downloads a package's tarball (no node_modules, no install scripts).
It lands in ``~/.cache/edgecnn/npm/`` (``$EDGECNN_CACHE_DIR/npm`` when set) and is reused
afterwards; its sha512 must match the pinned integrity string, the registry's own for that
version. Only the files the page loads are taken out of it.

``python -m edgecnn.web.npm`` fetches them all (the Makefile uses this, so versions stay here).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgecnn.errors import PlatformError


@dataclass(frozen=True)
class Package:
    """One pinned npm package and the files (paths inside it) the page needs."""

    name: str
    version: str
    integrity: str  # `npm view NAME@VERSION dist.integrity`
    files: tuple[str, ...]

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball(self) -> str:  # what `npm pack` names it: "@scope/name" -> "scope-name-VERSION.tgz"
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


ORT = Package(
    "onnxruntime-web", "1.30.0",
    "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==",
    # The WebAssembly-only ES module build, and the one wasm binary (SIMD, threads-capable;
    # one thread needs no special headers) with its loader. The other ~60 dist files
    # (WebGPU/WebGL/JSPI/asyncify builds, source maps) are left out.
    ("dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.mjs", "dist/ort-wasm-simd-threaded.wasm"),
)
# LiteRT.js (optional second runtime, for the .tflite files): its ES module, the module it
# imports, and the "compat" wasm build (no relaxed SIMD, no threads: runs in every browser
# with WebAssembly SIMD; the page loads it by its full path, so the other three wasm builds
# of 9 MB each are left out).
LITERT = Package(
    "@litertjs/core", "2.5.3",
    "sha512-PlGmbMOq9WitX7FO0jhbdJw9GthatsyuCQXjTt/wJZo0FLaw48q4tz8IwqgqCIkviYGr9OFDL1kCnN4nzWoyJQ==",
    ("dist/index.js", "wasm/litert_wasm_compat_internal.js", "wasm/litert_wasm_compat_internal.wasm"),
)
LITERT_UTILS = Package(
    "@litertjs/wasm-utils", "2.5.3",
    "sha512-4fJiw6tBQnIs+0jH/OQ16nYOiSl8/+zZnn5h2ul8aTKHi05sVqZW580Tmk78pC2kT39A9OYBVdFawteZ/sI1kQ==",
    ("dist/index.js",),
)
PACKAGES = (ORT, LITERT, LITERT_UTILS)

# The ONNX Runtime Web pin under its historical names.
PACKAGE, VERSION, INTEGRITY = ORT.name, ORT.version, ORT.integrity
DIST_FILES = tuple(Path(f).name for f in ORT.files)
NPM_TIMEOUT = 600.0


def cache_dir() -> Path:
    from edgecnn.env import cache_dir as edgecnn_cache

    return edgecnn_cache("npm")


def tarball_name(pkg: Package = ORT) -> str:
    return pkg.tarball


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _pinned(pkg: Package) -> str:
    # ORT's integrity is read through the module attribute so that tests can pin a fake package.
    return INTEGRITY if pkg.name == PACKAGE and pkg.version == VERSION else pkg.integrity


def fetch(cache: Path | None = None, npm: str | None = None, pkg: Package = ORT) -> Path:
    """The cached tarball of a pinned package; ``npm pack`` fetches it when it is not cached yet."""
    cache = Path(cache or cache_dir())
    target = cache / pkg.tarball
    if target.is_file():
        if _integrity(target) == _pinned(pkg):
            return target
        target.unlink()  # damaged or not the pinned release: fetch it again
    npm = npm or shutil.which("npm")
    spec = pkg.spec
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
        got = Path(tmp) / pkg.tarball
        if proc.returncode != 0 or not got.is_file():
            lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
            raise PlatformError(f"`npm pack {spec}` failed: {lines[-1] if lines else f'exit {proc.returncode}'}")
        if _integrity(got) != _pinned(pkg):
            raise PlatformError(f"`npm pack {spec}` gave a tarball whose sha512 is not the pinned {_pinned(pkg)}")
        os.replace(got, target)
    return target


def dist_files(cache: Path | None = None, pkg: Package = ORT) -> dict[str, bytes]:
    """The page's files of a pinned package (file name -> bytes), read from its cached tarball."""
    tgz = fetch(cache, pkg=pkg)
    out: dict[str, bytes] = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for path in pkg.files:
            try:
                member = tar.getmember(f"package/{path}")
            except KeyError:
                raise PlatformError(f"{tgz}: no {path} in {pkg.spec}") from None
            fh = tar.extractfile(member)
            if fh is None:
                raise PlatformError(f"{tgz}: {path} is not a regular file")
            out[Path(path).name] = fh.read()
    return out


def main() -> None:  # python -m edgecnn.web.npm
    for pkg in PACKAGES:
        print(fetch(pkg=pkg))


if __name__ == "__main__":
    main()
