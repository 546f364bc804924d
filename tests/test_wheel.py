"""The built wheel, installed base-only into a fresh venv (#15 point 2): no TensorFlow, and still
`edgecnn predict`, `edgecnn bundle` and the bundled MNIST work; `edgecnn export` says in one line
what to install. Needs PyPI or pip's cache (for the build backend and the base dependencies)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_terminal import FIXTURES, NOISE_RE, ROOT

FULL_ONLY = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib")


def _run(args, timeout=900, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env, **kw)


@pytest.mark.slow
@pytest.mark.wheel
def test_wheel_and_sdist_build_and_the_wheel_installs_base_only(exported_dir, tmp_path):
    dist = tmp_path / "dist"
    # sdist first, then the wheel built from that sdist: both are complete.
    build = _run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
    assert build.returncode == 0, build.stderr[-3000:]
    log = build.stdout + build.stderr
    assert "SetuptoolsDeprecationWarning" not in log and "License classifiers are deprecated" not in log
    assert "project.license` as a TOML table is deprecated" not in log
    wheels, sdists = list(dist.glob("edgecnn-*.whl")), list(dist.glob("edgecnn-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    check = _run([sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists])
    assert check.returncode == 0 and check.stdout.count("PASSED") == 2, check.stdout + check.stderr

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", venv]).returncode == 0
    bin_ = venv / "bin"
    pip = _run([bin_ / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheels[0]])
    assert pip.returncode == 0, pip.stderr[-3000:]
    probe = _run([bin_ / "python", "-c",
                  "import importlib.util as u; print(' '.join(m for m in %r if u.find_spec(m)) or 'none')" % (FULL_ONLY,)])
    assert probe.stdout.strip() == "none", f"the base install pulled in: {probe.stdout}"

    # Committed fixture image; the exported files come from this session's full install.
    exports = tmp_path / "exports"
    exports.mkdir()
    for name in ("mnist_cnn_int8.tflite", "mnist_cnn_float32.tflite", "manifest.json"):
        shutil.copyfile(exported_dir / name, exports / name)

    predict = _run([bin_ / "edgecnn", "predict", "--model", exports / "mnist_cnn_int8.tflite",
                    FIXTURES / "digit_7.png"], cwd=tmp_path)
    assert predict.returncode == 0, predict.stderr
    assert predict.stdout.split()[:2] == [str(FIXTURES / "digit_7.png"), "7"]
    assert not NOISE_RE.search(predict.stdout + predict.stderr) and predict.stderr == ""

    bundle = _run([bin_ / "edgecnn", "bundle", "--output-dir", exports, "--target", "pi"], cwd=tmp_path)
    assert bundle.returncode == 0, bundle.stderr
    pi = exports / "bundle" / "pi"
    assert {"classify.py", "requirements.txt", "README.md", "mnist_cnn_int8.tflite"} <= {p.name for p in pi.iterdir()}
    assert (pi / "classify.py").stat().st_size > 1000  # the template came from the wheel's package data
    # The MCU bundle's README is filled from the wheel's bundle_templates/mcu/ (no vendored kit, no
    # tflite-micro here: the resolver from edgecnn's own table, the arena from its own planner).
    mcu_bundle = _run([bin_ / "edgecnn", "bundle", "--output-dir", exports, "--target", "mcu"], cwd=tmp_path)
    assert mcu_bundle.returncode == 0, mcu_bundle.stderr
    readme = (exports / "bundle" / "mcu" / "README.md").read_text()
    assert "resolver.AddConv2D();  // CONV_2D" in readme and "kTensorArenaSize = 16384;" in readme
    assert "edgecnn's own estimate" in readme and "Not measured for this file yet" in readme
    assert "${" not in readme

    export = _run([bin_ / "edgecnn", "export", "--output-dir", exports], cwd=tmp_path)
    assert export.returncode == 1
    assert export.stderr.splitlines() == [
        "Error: `edgecnn export` needs tensorflow, which the base install leaves out (it is TensorFlow-free); "
        'install the full set: pip install ".[full]" in the clone (pip install "edgecnn[full]" once published)'
    ]

    data = _run([bin_ / "python", "-c", "from edgecnn.data import load_mnist; m = load_mnist(); "
                 "print(m.source, len(m.x_test))"], cwd=tmp_path)
    assert data.returncode == 0, data.stderr
    source, count = data.stdout.split()
    assert Path(source) == venv / "share" / "edgecnn" / "mnist" and count == "10000"


@pytest.mark.wheel
def test_a_used_checkout_builds_without_warnings_and_ships_no_bytecode(tmp_path):
    """#23 point 2: a checkout that has been used (imports compiled bytecode next to the sources,
    __pycache__ folders inside the package-data folders) builds without a warning, and neither
    the wheel nor the sdist carries a .pyc or a __pycache__ folder."""
    import compileall
    import zipfile
    import tarfile

    src = tmp_path / "checkout"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "exports", "*.egg-info", "__pycache__", ".pytest_cache"))
    assert compileall.compile_dir(src / "edgecnn", quiet=1, force=True)
    assert list((src / "edgecnn" / "bundle_templates").rglob("*.pyc")), "the checkout should hold bytecode"
    dist = tmp_path / "dist"
    env_drop = {"PYTHONDONTWRITEBYTECODE"}  # set here; it only makes setuptools say it skips compiling
    env = {k: v for k, v in os.environ.items() if k not in env_drop | {"PYTHONPATH", "VIRTUAL_ENV"}}
    build = subprocess.run([sys.executable, "-m", "build", "--outdir", str(dist), str(src)],
                           capture_output=True, text=True, timeout=900, env=env)
    assert build.returncode == 0, build.stderr[-3000:]
    log = build.stdout + build.stderr
    warnings = [line for line in log.splitlines() if "warning" in line.lower()]
    assert warnings == [], warnings
    (wheel,), (sdist,) = list(dist.glob("edgecnn-*.whl")), list(dist.glob("edgecnn-*.tar.gz"))
    names = zipfile.ZipFile(wheel).namelist() + tarfile.open(sdist).getnames()
    assert [n for n in names if n.endswith(".pyc") or "__pycache__" in n] == []
    assert "edgecnn/bundle_templates/pi/classify.py" in names  # the templates themselves still ship
    assert {"edgecnn/mcu/firmware/main.cc", "edgecnn/web/static/index.html"} <= set(names)
