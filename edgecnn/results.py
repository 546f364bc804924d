"""Result files are merged, never clobbered: one entry per artifact, the others kept.

``verify.json`` (see :func:`edgecnn.verify.merge_results`) and ``bench.json`` (here) follow the
manifest's rule: a command that looks at some files updates those files' entries and leaves
every other entry as it was, so a mistyped or partial command never loses earlier results.
The pictures and tables derived from a result file are rebuilt from the complete merged set.
"""

from __future__ import annotations

import dataclasses
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


def _artifact(entry: dict[str, Any]) -> str:
    return Path(str(entry.get("path", ""))).name


def read_old(path: Path) -> dict[str, Any] | None:
    """The result file at ``path`` as JSON, or None (absent, or unreadable: then said in the log)."""
    if not Path(path).is_file():
        return None
    try:
        obj = fileio.read_json(path)
    except Exception as exc:  # an unreadable old file is replaced
        log.warning("%s unreadable (%s); writing it afresh", path, exc)
        return None
    return obj if isinstance(obj, dict) else None


def merged_bench(result, out_dir: Path, bench_json: str):
    """``result`` (a ``BenchResult``) with the rows and subjects of ``out_dir``'s bench.json for the
    files it did not measure; the recommendation is recomputed over the complete set."""
    from edgecnn.bench import recommend

    old = read_old(Path(out_dir) / bench_json)
    if not old:
        return result
    rows = merge_entries(old.get("results", []), result.rows, _artifact)
    subjects = merge_entries(old.get("subjects", []), result.subjects, _artifact)
    return dataclasses.replace(result, rows=rows, subjects=subjects, recommendation=recommend(rows))
