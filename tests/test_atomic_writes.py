"""Nothing half-written: a killed export, a full disk and a read-only folder.

CI runs as root, for whom chmod stops nothing: the read-only and full-disk cases use a
small tmpfs mounted for the test (skipped where mounting is not permitted) and, always,
an ENOSPC injected into the atomic-write path.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn import fileio
from edgecnn.cli import cli
from edgecnn.errors import OutputError
from edgecnn.export import REGISTRY, STANDARD
from edgecnn.manifest import MANIFEST, read_manifest

KILLS = 3  # each costs one interpreter start with TensorFlow (~5-10 s)

# Re-exports in a loop, so that any kill moment after "ready" lands inside an export.
_EXPORT_LOOP = """
import sys
from pathlib import Path
from edgecnn.export import STANDARD, export_models
import tensorflow, tf2onnx, onnxruntime  # imported before "ready": the kill should hit the export
print("ready", flush=True)
while True:
    export_models(Path(sys.argv[1]), Path(sys.argv[2]), STANDARD)
"""


def _check_consistent(out: Path) -> int:
    """The manifest parses and lists only complete files; returns how many it lists."""
    manifest = read_manifest(out)
    listed = manifest["artifacts"]
    for entry in listed:
        path = out / entry["path"]
        assert fileio.sha256_file(path) == entry["sha256"], entry["path"]
        assert path.stat().st_size == entry["bytes"]
    allowed = {MANIFEST, "mnist_cnn.keras", "train.json"} | {t.filename for t in REGISTRY.values()}
    visible = {p.name for p in out.iterdir() if p.is_file()}
    assert visible <= allowed, f"stray files: {visible - allowed}"
    # Leftovers of a kill are hidden folders, holding at most the file being written.
    for stray in out.iterdir():
        assert stray.is_file() or stray.name.startswith(fileio.TMP_PREFIX), stray
    return len(listed)


@pytest.fixture(scope="module")
def other_model_path(trained_model_path, tmp_path_factory) -> Path:
    """The session model with perturbed weights: a re-export must replace every byte."""
    from edgecnn.model import load_model

    model = load_model(trained_model_path)
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0, 1e-3, w.shape).astype(w.dtype) for w in model.get_weights()])
    path = tmp_path_factory.mktemp("other") / "mnist_cnn.keras"
    model.save(path)
    return path


@pytest.mark.slow
def test_killed_export_never_leaves_a_half_written_artifact(exported_dir, other_model_path, tmp_path):
    out = tmp_path / "exports"
    out.mkdir()
    for name in [MANIFEST] + [REGISTRY[key].filename for key in STANDARD]:
        shutil.copy(exported_dir / name, out / name)
    assert _check_consistent(out) == 4
    rng = np.random.default_rng(0)
    listed_after_kill, interrupted = [], []
    for _ in range(KILLS):
        proc = subprocess.Popen(
            [sys.executable, "-c", _EXPORT_LOOP, str(other_model_path), str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        try:
            assert proc.stdout.readline().strip() == "ready"
            time.sleep(float(rng.uniform(0.2, 6.0)))  # one export of the four takes ~5-10 s
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        listed_after_kill.append(_check_consistent(out))
        interrupted.append(len(list(out.glob(f"{fileio.TMP_PREFIX}*"))) > 0)
    # The kills landed inside exports: each export writes in a hidden staging folder that
    # only a finished export removes, so a leftover one proves the kill hit mid-way.
    assert any(interrupted), (interrupted, listed_after_kill)


def test_enospc_keeps_the_previous_file(tmp_path, monkeypatch):
    target = fileio.write_json(tmp_path / "report.json", {"run": 1})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    for where in ("replace", "fsync"):
        with monkeypatch.context() as patch:
            patch.setattr(os, where, full)
            with pytest.raises(OutputError) as info:
                fileio.write_json(target, {"run": 2})
        assert str(info.value) == f"{target}: cannot write (disk full)"
        assert json.loads(target.read_text()) == {"run": 1}
        assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temporary left


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a 256 KiB tmpfs (as root); yields a mounter and unmounts everything after."""
    mounted = []

    def mount(name: str, *options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        opts = ",".join(("size=256k",) + options)
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
        mounted.append(point)
        return point

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], check=False)


def test_full_disk_is_one_error_line_and_keeps_the_old_file(tmpfs):
    disk = tmpfs("full")
    target = fileio.write_json(disk / "report.json", {"rows": list(range(100))})
    with open(disk / "filler", "wb", buffering=0) as fh:  # fill what is left
        with pytest.raises(OSError):
            while True:
                fh.write(b"\0" * 4096)
    with pytest.raises(OutputError) as info:
        fileio.write_json(target, {"rows": list(range(10_000))})
    assert str(info.value) == f"{target}: cannot write (disk full)"
    assert json.loads(target.read_text()) == {"rows": list(range(100))}
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "report.json"]


@pytest.mark.slow
def test_train_into_a_full_disk_is_one_error_line(tmpfs, tmp_path, mnist):
    disk = tmpfs("full")
    npz = tmp_path / "tiny.npz"
    np.savez(npz, x_train=mnist.x_train[:256], y_train=mnist.y_train[:256],
             x_test=mnist.x_test[:64], y_test=mnist.y_test[:64])
    result = CliRunner().invoke(cli, ["train", "--epochs", "1", "--data", str(npz), "--output-dir", str(disk)])
    assert result.exit_code == 1
    # The 1.8 MB model does not fit in 256 KiB.
    assert result.output.splitlines()[-1] == f"Error: {disk / 'mnist_cnn.keras'}: cannot write (disk full)"
    assert "Traceback" not in result.output
    assert list(disk.iterdir()) == []


@pytest.mark.slow
def test_read_only_folder_is_one_error_line_even_for_root(tmpfs, tmp_path, mnist):
    disk = tmpfs("ro", "ro")
    npz = tmp_path / "tiny.npz"
    np.savez(npz, x_train=mnist.x_train[:8], y_train=mnist.y_train[:8], x_test=mnist.x_test[:8], y_test=mnist.y_test[:8])
    result = CliRunner().invoke(cli, ["train", "--data", str(npz), "--output-dir", str(disk)])
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [f"Error: {disk}: output folder is not writable"]
    with pytest.raises(OutputError) as info:
        fileio.ensure_dir(disk / "sub")
    assert str(info.value) == f"{disk / 'sub'}: cannot create output folder (Read-only file system)"


def test_output_under_a_regular_file_is_one_error_line(tmp_path, mnist):
    (tmp_path / "file").write_text("x")
    npz = tmp_path / "tiny.npz"
    np.savez(npz, x_train=mnist.x_train[:8], y_train=mnist.y_train[:8], x_test=mnist.x_test[:8], y_test=mnist.y_test[:8])
    out = tmp_path / "file" / "exports"
    result = CliRunner().invoke(cli, ["train", "--data", str(npz), "--output-dir", str(out)])
    assert result.exit_code == 1
    assert result.output.splitlines()[1:] == [f"Error: {out}: cannot create output folder (Not a directory)"]
