"""``--labels FILE``: class names, one a line."""

from __future__ import annotations

from pathlib import Path

from edgecnn.errors import DataError


def read_labels_file(path: Path) -> tuple[str, ...]:
    """``--labels FILE``: one class name per line (blank lines ignored), in output order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read labels ({exc})") from exc
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise DataError(f"{path}: no labels (expected one class name per line)")
    if len(set(names)) != len(names):
        raise DataError(f"{path}: duplicate class names")
    return names
