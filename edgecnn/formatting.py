"""Text formatting shared by the terminal tables and the reports (stdlib only).

One unit convention everywhere: sizes in KiB (1 KiB = 1024 B), written ``KiB``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

TERMINAL_WIDTH = 100  # the final tables of `run` and `bench` fit this many columns
DASH = "–"  # an empty cell


def format_kib(n_bytes: int | float, digits: int = 0) -> str:
    """``163568`` -> ``'160 KiB'`` (``digits`` decimals; thousands separated)."""
    return f"{n_bytes / 1024:,.{digits}f} KiB"


def pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a percentage: ``0.9912`` -> ``'99.12 %'``; None -> the empty cell."""
    return DASH if x is None else f"{100 * x:.{digits}f} %"


def number(value: float | None) -> str:
    """``12345.6`` -> ``'12,346'``, ``12.34`` -> ``'12.3'``; None -> the empty cell."""
    if value is None:
        return DASH
    value = float(value)
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


# The one name for "how many times faster than the Keras model" (Keras' p50 / the file's p50),
# in `run`'s table, `bench`'s table, bench.md and the report alike.
VS_KERAS = "× Keras"


def times(x: float | None) -> str:
    """A speed-up factor: ``33.2`` -> ``'33×'``, ``1.84`` -> ``'1.8×'``; None -> the empty cell."""
    if x is None:
        return DASH
    return f"{x:,.0f}×" if x >= 10 else f"{x:.1f}×"


def align(titles: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None,
          gap: int = 2) -> str:
    """A plain-text table: a title line, a rule, one line per row (numbers right-aligned)."""
    right = list(right) if right is not None else [False] * len(titles)
    widths = [max([len(t), *(len(r[i]) for r in rows)]) for i, t in enumerate(titles)]

    def line(values: Sequence[str]) -> str:
        cells = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)]
        return (" " * gap).join(cells).rstrip()

    return "\n".join([line(titles), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def markdown(titles: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    head = "| " + " | ".join(titles) + " |"
    rule = "|" + "|".join("---" for _ in titles) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(r) + " |" for r in rows)])


def wrap_notes(notes: Sequence[str], width: int = TERMINAL_WIDTH, bullet: str = "- ") -> str:
    """Bulleted paragraphs wrapped to ``width`` columns (continuation lines indented); a note never
    ends on a line holding one lone word (it is wrapped a little narrower instead)."""
    out = []
    for note in notes:
        out.extend(_wrap_without_widow(note.strip(), width, bullet))
    return "\n".join(out)


def _wrap_without_widow(text: str, width: int, bullet: str) -> list[str]:
    lines: list[str] = []
    for narrower in range(0, max(1, width // 4)):
        lines = textwrap.wrap(text, width=width - narrower, initial_indent=bullet,
                              subsequent_indent=" " * len(bullet), break_on_hyphens=False)
        if len(lines) < 2 or len(lines[-1].split()) > 1:
            return lines
    return lines
