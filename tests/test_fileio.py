"""Atomic writes leave either the old file or the new one, never a half-written one."""

from __future__ import annotations

import os

import pytest

from edgecnn import fileio
from edgecnn.errors import OutputError


def test_write_is_atomic_and_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "m.json"
    fileio.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert fileio.read_json(target) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_folder_is_output_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(OutputError, match="not writable"):
        fileio.ensure_dir(ro)


def test_folder_under_a_file_is_output_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="cannot create output folder"):
        fileio.write_text(tmp_path / "file" / "sub" / "a.txt", "x")


def test_sha256_file(tmp_path):
    path = fileio.write_bytes(tmp_path / "b.bin", b"abc")
    assert fileio.sha256_file(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
