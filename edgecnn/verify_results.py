"""verify.json and the console table: one run's report folded into the folder's results.

Below :mod:`edgecnn.verify` (which runs the files): this module only formats and merges, so the
report, the browser check and tests read verify.json through it without running anything.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecnn import fileio
from edgecnn.names import DISAGREEMENTS_PNG, VERIFY_JSON

if TYPE_CHECKING:
    import numpy as np

    from edgecnn.verify import VerifyReport

log = logging.getLogger(__name__)


def _display_path(path: Path, root: Path | None) -> str:
    return fileio.relative_posix(path, root) or str(path)


def _interval(bounds: Any, scale: float = 100.0, digits: int = 1) -> str:
    if not bounds:
        return "-"
    return "–".join(f"{scale * b:.{digits}f}".replace("-", "−") for b in bounds)  # a minus sign, not a dash


def format_table(report: VerifyReport, root: Path | None = None) -> str:
    """The console table: one line per artifact (point values and their 95 % intervals), then the
    Keras reference, the verdict and, under it, the line of every INCONCLUSIVE file."""
    header = ("artifact", "precision", "accuracy", "Δ pts", "drop 95 %", "agreement", "agree 95 %", "disagree",
              "max|Δ|", "mean|Δ|", "result")
    lines: list[tuple[str, ...]] = [header]
    for row in report.rows:
        name = _display_path(row.path, root)
        p = row.parity
        if p is None:
            lines.append((name, row.precision or "-", *["-"] * 8, f"FAIL: {row.reason}"))
            continue
        result = {"PASS": "PASS", "INCONCLUSIVE": "INCONCLUSIVE"}.get(row.verdict, f"FAIL: {row.reason}")
        lines.append((
            name, row.label or p.precision, "unknown" if p.accuracy is None else f"{p.accuracy:.2%}",
            "-" if p.accuracy_delta is None else f"{p.accuracy_delta:+.2f}",
            _interval(p.accuracy_drop_interval, 1.0, 2), f"{p.agreement:.2%}", _interval(p.agreement_interval),
            str(p.disagreements), f"{p.max_abs_diff:.1e}", f"{p.mean_abs_diff:.1e}", result,
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    text = ["  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths)) + "  " + line[-1] for line in lines]
    n_pass = sum(row.passed for row in report.rows)
    text.append("")
    if not report.ran_keras:
        text.append(f"0 of {len(report.rows)} artifacts pass (no file to run; Keras not loaded)")
        return "\n".join(text)
    accuracy = ("accuracy unknown (the data has no labels; agreement and |Δ| are checked)"
                if report.keras_accuracy is None else f"accuracy {report.keras_accuracy:.2%}")
    unsure = [row for row in report.rows if row.verdict == "INCONCLUSIVE"]
    text.append(
        f"Keras {accuracy} on {report.samples:,} test images "
        f"(model sha256 {report.model_sha256[:12]}…); {n_pass} of {len(report.rows)} artifacts pass"
        + (f", {len(unsure)} inconclusive" if unsure else "") + f" ({report.seconds:.1f} s)"
    )
    text += [f"{row.path.name}: INCONCLUSIVE: {row.reason}" for row in unsure]
    text.append("95 % intervals: Wilson (agreement), Newcombe's paired method (accuracy drop, points); "
                "float files are judged on every image, int8/dynamic by the intervals")
    return "\n".join(text)


def split_note(data) -> str | None:
    """verify's header line when the test images are a seeded share of data without its own split,
    e.g. "test split: 42 of 200 images, 20 % seeded; give x_train/x_test or a test/ folder to choose"."""
    if not str(getattr(data, "split", "")).startswith("seeded split"):
        return None
    from edgecnn.data.split import TEST_FRACTION

    n, total = len(data.x_test), len(data.x_test) + len(data.x_train)
    how = {"npz": "x_train/x_test in the .npz", "folder": "a test/ folder"}.get(
        data.kind, "x_train/x_test or a test/ folder")
    return f"test split: {n:,} of {total:,} images, {round(100 * TEST_FRACTION)} % seeded; give {how} to choose"


def run_verdict(report: VerifyReport, platforms: dict[str, Any] | None) -> str:
    """PASS, FAIL or INCONCLUSIVE over the files and the platform sections (a section that did
    not pass is FAIL unless its every entry that did not pass is INCONCLUSIVE)."""
    from edgecnn.parity import overall

    verdicts = [report.verdict]
    for section in (platforms or {}).values():
        if section.get("passed"):
            continue
        statuses = {row.get("status") for row in (section.get("artifacts") or {}).values()
                    if isinstance(row, dict) and row.get("passed") is False}
        verdicts.append("INCONCLUSIVE" if statuses == {"INCONCLUSIVE"} else "FAIL")
    return overall(verdicts)


def failure_line(report: VerifyReport, platforms: dict[str, Any] | None) -> str | None:
    """One line saying what failed or could not be judged, or None when everything passed."""
    verdict = run_verdict(report, platforms)
    if verdict == "PASS":
        return None
    failed = sum(row.verdict == "FAIL" for row in report.rows)
    unsure = [row for row in report.rows if row.verdict == "INCONCLUSIVE"]
    parts = []
    if failed:
        parts.append(f"{failed} of {len(report.rows)} artifact(s) FAILED parity with Keras")
    if unsure:
        parts.append(f"{len(unsure)} of {len(report.rows)} artifact(s) INCONCLUSIVE: {unsure[0].reason}")
    bad = [key for key, section in (platforms or {}).items() if not section.get("passed")]
    if bad:
        parts.append(f"FAILED on {', '.join(bad)}")
    # The first check that could not finish (a native crash, a failed build), in its one line.
    errors = [row["error"] for section in (platforms or {}).values()
              for row in (section.get("artifacts") or {}).values() if isinstance(row, dict) and row.get("error")]
    return "; ".join(parts + errors[:1])


def format_quant_debug(table: dict[str, Any]) -> str:
    """The per-layer table of one int8 diagnosis (see :mod:`edgecnn.quantdebug`)."""
    from edgecnn.quantdebug import format_layers

    return format_layers(table)


def merge_results(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Fold one run's verify.json document into the existing one, keyed by artifact path.

    An entry of ``new`` replaces the entry with the same path and keeps its place; other entries
    stay as they were. A run that could not run Keras (every named file missing) keeps the old
    reference fields. Platform sections of this run replace those of the same key; an older
    section is dropped when a file it checked changed (sha256) since, as it no longer describes it.
    ``passed`` is recomputed over the complete set.
    """
    if not isinstance(old, dict) or not isinstance(old.get("artifacts"), list):
        return {**new, "passed": all(e.get("passed") for e in new["artifacts"])}
    merged = dict(old) if new["data"]["samples"] == 0 else {**old, **{k: v for k, v in new.items()
                                                                        if k not in ("artifacts", "platforms")}}
    from edgecnn.results import merge_entries

    before = {e.get("path"): e for e in old["artifacts"] if isinstance(e, dict)}
    changed = {Path(str(e["path"])).name for e in new["artifacts"]
               if e["path"] in before and before[e["path"]].get("sha256") != e.get("sha256")}
    platforms = {key: section for key, section in (old.get("platforms") or {}).items()
                 if not changed & set((section or {}).get("artifacts", {}))}
    platforms.update(new.get("platforms") or {})
    merged["artifacts"] = merge_entries(before.values(), new["artifacts"], lambda e: e.get("path"))
    merged["platforms"] = platforms
    merged["passed"] = all(e.get("passed") for e in merged["artifacts"])
    return merged


def write_report(
    report: VerifyReport, out_dir: Path, images: np.ndarray | None = None, max_images: int = 12,
    platforms: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Merge this run into ``verify.json`` and redraw ``disagreements.png`` from the complete set.

    Never loses another artifact's result: see :func:`merge_results`. The picture is rewritten
    only when what it shows changed, so a run that adds a failed entry leaves it byte-identical.
    """
    from edgecnn.plots import plot_disagreements

    out_dir = fileio.ensure_dir(Path(out_dir))
    json_path, png_path = out_dir / VERIFY_JSON, out_dir / DISAGREEMENTS_PNG
    old = fileio.read_json_or_none(json_path)  # an unreadable old file is replaced (the log says so)
    merged = merge_results(old, report.to_json(out_dir, platforms))
    picture_key = fileio.sha256_bytes(repr([
        (e.get("path"), e.get("precision"), e.get("disagreements"), e.get("disagreement_indices"),
         e.get("disagreement_predictions")) for e in merged["artifacts"] if e.get("disagreements")
    ]).encode() + repr(max_images).encode())
    merged["disagreements_picture"] = picture_key
    redraw = not png_path.is_file() or (old or {}).get("disagreements_picture") != picture_key
    drawable = all(e.get("disagreement_predictions") or not e.get("disagreements") for e in merged["artifacts"])
    if (images is None or not drawable) and redraw and png_path.is_file():
        # Nothing to draw with, or entries from an older edgecnn without the classes to draw:
        # keep the picture of the last complete set rather than draw an incomplete one.
        redraw = False
    fileio.write_json(json_path, merged)
    if redraw:
        samples = int((merged.get("data") or {}).get("samples") or 0)
        plot_disagreements(merged["artifacts"], images, png_path, samples, max_images=max_images)
    return json_path, png_path
