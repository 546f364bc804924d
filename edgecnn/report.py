"""The results report: one summary table, pictures, and the commands that reproduce them.

Reads only the JSON files the stages write (train.json, manifest.json, verify.json,
bench.json), so it can be rebuilt from an output folder without rerunning anything.
"""

from __future__ import annotations

import base64
import html
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


from edgecnn import fileio
from edgecnn.artifact import mixed_label
from edgecnn.formatting import TERMINAL_WIDTH, VS_KERAS, align, format_kib, markdown, number, pct, times, wrap_notes
from edgecnn.names import (BENCH_JSON, BENCH_PNG, CONFUSION_PNG, DISAGREEMENTS_PNG, MANIFEST, REPORT_HTML, REPORT_MD,
                           TRAINING_PNG, VERIFY_JSON)
from edgecnn.plots import plot_confusion, plot_training, save_figure  # noqa: F401  (the report's pictures)

log = logging.getLogger(__name__)

COLUMNS = (
    ("format", "format"), ("precision", "precision"), ("size", "size"), ("accuracy", "accuracy"),
    ("agreement", "agreement with Keras"), ("verdict", "verify"), ("p50_b1", "p50 µs (batch 1, 1 thread)"),
    ("ips_b256", "images/s (batch 256, 1 thread)"), ("speedup", f"{VS_KERAS} (batch 1, speed-up)"),
)


def _load(path: Path) -> Any:
    return fileio.read_json(path) if Path(path).is_file() else None


# The terminal's compact titles (the table fits TERMINAL_WIDTH columns); the Markdown keeps the long ones.
CONSOLE_TITLES = {
    "format": "format", "precision": "precision", "size": "size", "accuracy": "accuracy",
    "agreement": "agree", "verdict": "verify", "p50_b1": "p50 µs b1", "ips_b256": "img/s b256",
    "speedup": VS_KERAS,
}
RIGHT_ALIGNED = {"size", "accuracy", "agreement", "p50_b1", "ips_b256", "speedup"}


def _bench_rows(bench: dict | None) -> list[dict]:
    if not bench:
        return []
    return [r for r in bench.get("results", []) if isinstance(r, dict)]


def _threads_one(row: dict) -> bool:
    return int(row.get("threads", 1)) == 1


def _find_bench(rows: list[dict], name: str, batch: int) -> dict | None:
    """The default-settings row (1 thread, XNNPACK on where it applies) for a file at a batch size."""
    for row in rows:
        if (Path(str(row.get("path", ""))).name == name and int(row.get("batch", 0)) == batch
                and _threads_one(row) and row.get("xnnpack", True) is not False):
            return row
    return None


def summary_rows(out_dir: Path) -> list[dict[str, str]]:
    """One row per artifact (and the Keras baseline): size, accuracy, parity, speed."""
    out_dir = Path(out_dir)
    manifest = _load(out_dir / MANIFEST) or {"artifacts": []}
    verify = _load(out_dir / VERIFY_JSON) or {}
    bench_rows = _bench_rows(_load(out_dir / BENCH_JSON))
    parity = {Path(str(r.get("path", ""))).name: r for r in verify.get("artifacts", [])}
    keras_b1 = next((r for r in bench_rows if r.get("runtime") == "keras" and int(r.get("batch", 0)) == 1
                     and _threads_one(r)), None)
    keras_b256 = next((r for r in bench_rows if r.get("runtime") == "keras" and int(r.get("batch", 0)) == 256
                       and _threads_one(r)), None)
    rows = []
    from edgecnn.model import default_model_path

    keras_model = default_model_path(out_dir)
    if keras_model.is_file():
        rows.append({
            "format": "keras", "precision": "float32", "size": format_kib(keras_model.stat().st_size),
            "accuracy": pct(verify.get("keras_accuracy")), "agreement": "(baseline)", "verdict": "–",
            "p50_b1": _num(keras_b1, "p50_us"), "ips_b256": _num(keras_b256, "throughput"),
            "speedup": "1.0×" if keras_b1 else "–",
        })
    for entry in manifest.get("artifacts", []):
        name = Path(entry["path"]).name
        if entry.get("format") not in ("tflite", "onnx"):
            continue
        check = parity.get(name, {})
        b1, b256 = _find_bench(bench_rows, name, 1), _find_bench(bench_rows, name, 256)
        speedup = times(keras_b1["p50_us"] / b1["p50_us"]) if b1 and keras_b1 and b1.get("p50_us") else "–"
        rows.append({
            "format": entry["format"], "precision": mixed_label(entry) or entry["precision"],
            "precision_short": mixed_label(entry, short=True) or entry["precision"],
            "size": format_kib(int(entry["bytes"])),
            "accuracy": pct(check.get("accuracy")), "agreement": pct(check.get("agreement")),
            "agreement_interval": _interval(check.get("agreement_interval")),
            "verdict": verdict_of(check) if check else "–",
            "p50_b1": _num(b1, "p50_us"), "ips_b256": _num(b256, "throughput"), "speedup": speedup,
        })
    return rows


def verdict_of(entry: dict) -> str:
    """PASS / FAIL / INCONCLUSIVE of a verify.json entry (entries of an older edgecnn: from ``passed``)."""
    return str(entry.get("status") or ("PASS" if entry.get("passed") else "FAIL"))


def _interval(bounds: Any, scale: float = 100.0, unit: str = " %") -> str:
    """"99.6–100.0 %": a 95 % interval of verify.json, or "" when it has none."""
    if not bounds or len(bounds) != 2:
        return ""
    return "–".join(f"{scale * b:.1f}".replace("-", "−") for b in bounds) + unit


def verdict_lines(out_dir: Path) -> list[str]:
    """Under the results table: what the intervals are, and each file's INCONCLUSIVE or FAIL line."""
    verify = _load(Path(out_dir) / VERIFY_JSON) or {}
    entries = [e for e in verify.get("artifacts", []) if isinstance(e, dict)]
    if not entries:
        return []
    lines = ["Agreement with Keras is shown with its 95 % interval (Wilson); float files are judged on every "
             "image (max |Δ|), int8 and dynamic files by the intervals: PASS when the interval shows the "
             "tolerance holds, FAIL when it shows it does not, INCONCLUSIVE when the test set is too small to tell."]
    for e in entries:
        drop = e.get("accuracy_drop_interval")
        if verdict_of(e) != "PASS" or drop:
            name = Path(str(e.get("path", ""))).name
            what = (f"accuracy drop {-(e.get('accuracy_delta') or 0.0) + 0.0:.2f} points "  # + 0.0: never -0.00
                    f"(95 % interval {_interval(drop, 1.0, ' points')})") if drop else "accuracy unknown"
            lines.append(f"- {name}: {verdict_of(e)}; {what}" + (f"; {e['reason']}" if e.get("reason") else ""))
    return lines


def _num(row: dict | None, key: str) -> str:
    return number(None if not row else row.get(key))


def markdown_table(rows: Sequence[dict[str, str]]) -> str:
    """A GitHub-flavoured Markdown table of ``summary_rows`` (agreement with its 95 % interval)."""
    def cell(row: dict[str, str], key: str) -> str:
        if key == "agreement" and row.get("agreement_interval"):
            return f"{row[key]} ({row['agreement_interval']})"
        return row[key]

    return markdown([title for _, title in COLUMNS], [[cell(row, key) for key, _ in COLUMNS] for row in rows])


def console_table(rows: Sequence[dict[str, str]]) -> str:
    """The same table for a terminal: short titles, numbers right-aligned, at most 100 columns."""
    titles = [CONSOLE_TITLES[key] for key, _ in COLUMNS]
    # A mixed file's full label ("int8, 4 of 6 layers float32") would push the table past 100 columns.
    text = align(titles, [[row.get(f"{key}_short", row[key]) for key, _ in COLUMNS] for row in rows],
                 right=[key in RIGHT_ALIGNED for key, _ in COLUMNS])
    legend = ("agree: top-1 agreement with Keras; p50 µs b1: median latency at batch 1; "
              f"img/s b256: throughput at batch 256; {VS_KERAS}: how many times faster than Keras at batch 1")
    if any(row.get("precision_short", row["precision"]) != row["precision"] for row in rows):
        legend += "; int8 (3/65 f32): an int8 file with 3 of its 65 layers kept float32"
    return text + "\n" + wrap_notes([legend], TERMINAL_WIDTH, bullet="")


def ship_advice(out_dir: Path, verbose: bool = True) -> list[str]:
    """"Which file to ship": bench.json's recommendation, one note each (at most ~8, with the int8
    trade-offs, threads and whether the machine was busy); ``verbose`` adds each bulk row's share
    of this machine's GEMM ceiling (the report always, the terminal with -v).
    """
    from edgecnn.bench.advice import recommendation_text
    from edgecnn.bench.report import ceiling_notes

    bench = _load(Path(out_dir) / BENCH_JSON) or {}
    notes = [line.strip() for line in recommendation_text(bench.get("recommendation") or {}, bench.get("load"))
             if line.strip()]
    return notes + ([line.strip() for line in ceiling_notes(bench)] if verbose else [])


@dataclass(frozen=True)
class ReportInputs:
    """What the report shows besides the JSON files: the commands and timings of this run."""

    commands: tuple[str, ...]
    stage_seconds: dict[str, float]
    machine: dict[str, Any]
    versions: dict[str, str]
    notes: tuple[str, ...] = ()


def write_report(out_dir: Path, inputs: ReportInputs) -> tuple[Path, Path]:
    """Write report.md and a self-contained report.html (images inlined) into ``out_dir``."""
    out_dir = Path(out_dir)
    rows = summary_rows(out_dir)
    sections: list[tuple[str, list[str]]] = []
    sections.append(("Results", [markdown_table(rows), "", *verdict_lines(out_dir)]))
    data = data_lines(out_dir)
    if data:
        sections.append(("Data", data))
    if inputs.notes:
        sections.append(("Which file to ship", [f"- {n.strip()}" for n in inputs.notes]))
    for title, name, caption in (
        ("Training", TRAINING_PNG, "Loss and accuracy per epoch, train and test."),
        ("Speed", BENCH_PNG, "Latency distribution at batch 1, and throughput against batch size with this "
                             "machine's GEMM ceilings drawn."),
        ("Where an artifact and Keras disagree", DISAGREEMENTS_PNG,
         "Test images on which an exported file and Keras disagree (every file in verify.json)."),
        ("Confusion matrix of the int8 TFLite model", CONFUSION_PNG, "The whole test set."),
    ):
        if (out_dir / name).is_file():
            sections.append((title, [caption, f"![{title}]({name})"]))
    platforms = dict((_load(out_dir / VERIFY_JSON) or {}).get("platforms") or {})
    from edgecnn.web.report import SECTION as _BROWSER, browser_lines

    browser = platforms.pop(_BROWSER, None)
    apps = {key: platforms.pop(key) for key in list(platforms) if platforms[key].get("kind") == "mediapipe"}
    if apps:
        from edgecnn.platforms.mediapipe import report_lines

        sections.append(("In the app frameworks (MediaPipe Tasks)", report_lines(apps)))
    if platforms:
        sections.append(("On emulated Raspberry Pi CPUs", platform_lines(platforms)))
    mcu = mcu_lines(platforms)
    if mcu:
        sections.append(("On the microcontroller (emulated Cortex-M)", mcu))
    if browser:
        sections.append(("In the browser", browser_lines(browser)))
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in inputs.stage_seconds.items())
    machine = ", ".join(f"{k}: {v}" for k, v in inputs.machine.items())
    versions = ", ".join(f"{k} {v}" for k, v in sorted(inputs.versions.items()))
    sections.append(("Machine and libraries", [f"- Machine: {machine}", f"- Libraries: {versions}",
                                               f"- Stage times: {stages}"]))
    sections.append(("Reproduce", ["```sh", *inputs.commands, "```"]))
    md = "# edgecnn results\n\n" + "\n\n".join(f"## {t}\n\n" + "\n".join(body) for t, body in sections) + "\n"
    md_path = fileio.write_text(out_dir / REPORT_MD, md)
    html_path = fileio.write_text(out_dir / REPORT_HTML, markdown_to_html(md, out_dir))
    return md_path, html_path


def data_lines(out_dir: Path) -> list[str]:
    """What the files were calibrated and verified on: manifest.json's data record and verify.json's data."""
    from edgecnn.datasource import DataRecord

    record = DataRecord.from_json((_load(out_dir / MANIFEST) or {}).get("data"))
    verified = (_load(out_dir / VERIFY_JSON) or {}).get("data") or {}
    lines = []
    if record is not None:
        lines.append(f"- Calibrated on: {record.name} ({record.layout}; {record.split}; {record.train_images:,} "
                     f"training and {record.test_images:,} test images; sha256 {record.sha256[:12]}…)")
    if verified.get("source"):
        same = (record is not None and record.path is not None
                and Path(verified["source"]).resolve() == Path(record.path))
        lines.append(f"- Verified on: {verified['source']} ({int(verified.get('samples') or 0):,} test images"
                     f"{', the calibration data set' if same else ''})")
    return lines


def mcu_lines(platforms: dict[str, Any]) -> list[str]:
    """Per int8 file measured on an emulated Cortex-M: MLPerf Tiny's reference beside its figures, and the fit."""
    from edgecnn.mcu.parts import fit_table, firmware_size, reference_rows

    by_file: dict[str, dict[str, Any]] = {}
    for key, section in platforms.items():
        if isinstance(section, dict) and section.get("kind") == "cortex-m":
            for name, entry in (section.get("artifacts") or {}).items():
                if "kernels" in entry:
                    by_file.setdefault(name, {})[key] = entry
    lines: list[str] = []
    for name, measured in by_file.items():
        lines += [f"**{name}**", ""] + (reference_rows(measured) or []) + [""]
        size = firmware_size(measured)
        if size:
            lines += [fit_table(*size, "the largest build measured"), ""]
    return lines


def platform_lines(platforms: dict[str, Any]) -> list[str]:
    """verify.json's ``platforms`` section as a Markdown table (outputs only: emulation says nothing of speed)."""
    lines = ["The Pi bundle's own `classify.py`, run under qemu with the board's CPU model; "
             "emulated timings are not performance figures. A float file is judged against Keras on every "
             "image; an int8 file must reproduce the same file's output in edgecnn's runtime on this machine "
             "(its agreement with Keras and the 95 % interval beside it, for information).", "",
             "| platform | file | agreement with Keras (95 %) | max abs diff | judged against | verdict |",
             "|---|---|---|---|---|---|"]
    for key, entry in platforms.items():
        for name, row in entry.get("artifacts", {}).items():
            verdict = f"ERROR: {row['error']}" if row.get("error") else row.get("status", "–")
            interval = _interval(row.get("agreement_interval"))
            against = "Keras" if row.get("judged_against", "Keras") == "Keras" else "same file here"
            lines.append(f"| {key} | {name} | {pct(row.get('agreement'))}{f' ({interval})' if interval else ''} "
                         f"| {row.get('max_abs_diff', 0):.1e} | {against} | {verdict} |")
    return lines


_CSS = """body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%}
pre{background:#f6f6f6;padding:10px;overflow-x:auto}code{font-size:90%}.PASS{color:#0a0}.FAIL{color:#c00;font-weight:bold}"""


def markdown_to_html(md: str, base: Path) -> str:
    """Render the small Markdown subset the report uses; images become data: URIs."""
    out: list[str] = []
    table: list[str] = []
    in_code = False

    def flush_table():
        if table:
            head, *body = [[c.strip() for c in r.strip("|").split("|")] for r in table if not set(r) <= set("|-")]
            out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>")
            for row in body:
                cells = "".join(f'<td class="{html.escape(c)}">{html.escape(c)}</td>' for c in row)
                out.append("<tr>" + cells + "</tr>")
            out.append("</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("```"):
            out.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            out.append(html.escape(line))
            continue
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif (m := re.fullmatch(r"!\[(.*)\]\((.*)\)", line)):
            data = base64.b64encode((base / m.group(2)).read_bytes()).decode()
            out.append(f'<p><img alt="{html.escape(m.group(1))}" src="data:image/png;base64,{data}"></p>')
        elif line.startswith("- "):
            out.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    return ("<!doctype html><html><head><meta charset='utf-8'><title>edgecnn results</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")
