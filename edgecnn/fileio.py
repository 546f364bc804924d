"""Atomic writes and hashing: a crash or Ctrl-C never leaves a half-written file."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgecnn.errors import OutputError


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents); a folder that cannot be made is an OutputError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create output folder ({exc.strerror or exc})") from exc
    if not os.access(path, os.W_OK):
        raise OutputError(f"{path}: output folder is not writable")
    return path


TMP_PREFIX = ".edgecnn-tmp-"  # hidden folders holding files being written; stale ones are crash leftovers


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path for ``target``; rename it over ``target`` on success.

    The temporary file has ``target``'s own name inside a hidden folder beside it (same
    filesystem, so the rename is atomic), because some writers (Keras, ONNX) choose the
    format from the suffix, and because a process killed mid-write must not leave a
    ``*.onnx`` or ``*.tflite`` next to the real artifacts for a glob to pick up. On any
    error the temporary folder is removed and the old ``target`` is left untouched.
    """
    target = Path(target)
    ensure_dir(target.parent)
    try:
        tmp_dir = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=target.parent))
    except OSError as exc:
        raise OutputError(f"{target}: cannot write ({exc.strerror or exc})") from exc
    tmp = tmp_dir / target.name
    try:
        # The file a plain open() would make: permissions from the umask, not mkstemp's 0600.
        tmp.touch()
        yield tmp
        # fsync so that the rename never exposes a file whose data is not on disk yet.
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        reason = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise OutputError(f"{target}: cannot write ({reason})") from exc
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_bytes(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    return write_bytes(target, text.encode("utf-8"))


def write_json(target: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    return write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file; a corrupt one is an OutputError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OutputError(f"{path}: cannot read JSON ({exc})") from exc


def read_json_or_none(path: Path, what: str = "JSON file") -> Any:
    """The JSON at ``path``, or None when it is absent or unreadable.

    For records that only save work or add detail (train.json, verify.json, an old bench.json):
    a broken one means "none", and the log says so; it never stops a command. Anything that must
    be valid (the manifest) uses :func:`read_json`, which raises.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        import logging

        logging.getLogger(__name__).warning("%s unreadable (%s); treated as absent", path, exc)
        return None


def relative_posix(path: Path, root: Path | None) -> str | None:
    """``path`` relative to ``root`` as a POSIX string, or None when it lies outside (or no root)."""
    if root is None:
        return None
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
