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
    """Bulleted paragraphs wrapped to ``width`` columns (continuation lines indented)."""
    out = []
    for note in notes:
        out.extend(textwrap.wrap(note.strip(), width=width, initial_indent=bullet,
                                 subsequent_indent=" " * len(bullet), break_on_hyphens=False))
    return "\n".join(out)
