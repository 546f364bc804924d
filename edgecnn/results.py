"""Result files are merged, never clobbered: one entry per artifact, the others kept.

``verify.json`` (:func:`edgecnn.verify_results.merge_results`) and ``bench.json``
(:func:`edgecnn.bench.report.merged_bench`) both fold with :func:`merge_entries` and follow the
manifest's rule: a command that looks at some files updates those files' entries and leaves
every other entry as it was, so a mistyped or partial command never loses earlier results.
The pictures and tables derived from a result file are rebuilt from the complete merged set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from edgecnn import fileio

log = logging.getLogger(__name__)


def merge_entries(old: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]],
                  owner: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """``old`` without the entries whose ``owner`` (e.g. the artifact path) appears in ``new``, then ``new``.

    Entries of an owner keep their place when the owner was already there; a new owner's entries
    go at the end.
    """
    new = list(new)
    fresh: dict[Any, list[dict[str, Any]]] = {}
    for entry in new:
        fresh.setdefault(owner(entry), []).append(entry)
    out: list[dict[str, Any]] = []
    placed = set()
    for entry in old:
        key = owner(entry)
        if key in fresh:
            if key not in placed:
                out.extend(fresh[key])
                placed.add(key)
            continue
        out.append(entry)
    for key, entries in fresh.items():
        if key not in placed:
            out.extend(entries)
    return out


def artifact_name(entry: dict[str, Any]) -> str:
    """The owner of a bench.json row or subject: its artifact's file name."""
    return Path(str(entry.get("path", ""))).name


def read_old(path: Path) -> dict[str, Any] | None:
    """The result file at ``path`` as a JSON object, or None (absent or unreadable: the log says so)."""
    obj = fileio.read_json_or_none(path)
    return obj if isinstance(obj, dict) else None
