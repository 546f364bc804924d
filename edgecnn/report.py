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

import numpy as np

from edgecnn import fileio

log = logging.getLogger(__name__)

COLUMNS = (
    ("format", "format"), ("precision", "precision"), ("size", "size"), ("accuracy", "accuracy"),
    ("agreement", "agreement with Keras"), ("verdict", "verify"), ("p50_b1", "p50 µs (batch 1)"),
    ("ips_b256", "images/s (batch 256)"), ("speedup", "speed-up vs Keras (batch 1)"),
)


def _load(path: Path) -> Any:
    return fileio.read_json(path) if Path(path).is_file() else None


def _fmt_bytes(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MiB"


def _pct(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f} %"


def _bench_rows(bench: dict | None) -> list[dict]:
    if not bench:
        return []
    return [r for r in bench.get("results", bench.get("rows", [])) if isinstance(r, dict)]


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
    manifest = _load(out_dir / "manifest.json") or {"artifacts": []}
    verify = _load(out_dir / "verify.json") or {}
    bench_rows = _bench_rows(_load(out_dir / "bench.json"))
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
            "format": "keras", "precision": "float32", "size": _fmt_bytes(keras_model.stat().st_size),
            "accuracy": _pct(verify.get("keras_accuracy")), "agreement": "(baseline)", "verdict": "–",
            "p50_b1": _num(keras_b1, "p50_us"), "ips_b256": _num(keras_b256, "throughput"), "speedup": "1.0×" if keras_b1 else "–",
        })
    for entry in manifest.get("artifacts", []):
        name = Path(entry["path"]).name
        if entry.get("format") not in ("tflite", "onnx"):
            continue
        check = parity.get(name, {})
        b1, b256 = _find_bench(bench_rows, name, 1), _find_bench(bench_rows, name, 256)
        speedup = (f"{keras_b1['p50_us'] / b1['p50_us']:.0f}×" if b1 and keras_b1 and b1.get("p50_us") else "–")
        rows.append({
            "format": entry["format"], "precision": entry["precision"], "size": _fmt_bytes(int(entry["bytes"])),
            "accuracy": _pct(check.get("accuracy")), "agreement": _pct(check.get("agreement")),
            "verdict": ("PASS" if check.get("passed") else "FAIL") if check else "–",
            "p50_b1": _num(b1, "p50_us"), "ips_b256": _num(b256, "throughput"), "speedup": speedup,
        })
    return rows


def _num(row: dict | None, key: str) -> str:
    if not row or row.get(key) is None:
        return "–"
    value = float(row[key])
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def markdown_table(rows: Sequence[dict[str, str]]) -> str:
    """A GitHub-flavoured Markdown table of ``summary_rows``."""
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(row[key] for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join([head, rule, *body])


def console_table(rows: Sequence[dict[str, str]]) -> str:
    """The same table, aligned for a terminal."""
    titles = [title for _, title in COLUMNS]
    cells = [[row[key] for key, _ in COLUMNS] for row in rows]
    widths = [max(len(t), *(len(c[i]) for c in cells)) if cells else len(t) for i, t in enumerate(titles)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths))  # noqa: E731
    return "\n".join([line(titles), line(["-" * w for w in widths]), *(line(c) for c in cells)])


def plot_training(record: dict, target: Path) -> Path:
    """Loss and accuracy per epoch, train and test (from train.json's history)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = record["history"]
    epochs = np.arange(1, len(history) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, label in (("loss", "train"), ("val_loss", "test")):
        ax_loss.plot(epochs, [h[key] for h in history], marker="o", label=label)
    for key, label in (("accuracy", "train"), ("val_accuracy", "test")):
        ax_acc.plot(epochs, [100 * h[key] for h in history], marker="o", label=label)
    ax_loss.set(title="Cross-entropy loss", xlabel="epoch")
    ax_acc.set(title=f"Accuracy (final test {100 * record['test_accuracy']:.2f} %)", xlabel="epoch", ylabel="%")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return save_figure(fig, target)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, target: Path, title: str,
                   labels: tuple[str, ...] | None = None) -> Path:
    """A K x K confusion matrix with counts in every cell (log-scaled colours); K from ``labels``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    k = len(labels) if labels else int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true.astype(int), y_pred.astype(int)), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    image = ax.imshow(matrix + 1, cmap="Blues", norm=LogNorm())
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if i == j else "black")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted", ylabel="true class", title=title)
    if labels:
        ax.set_xticklabels(labels, rotation=90 if k > 10 else 0)
        ax.set_yticklabels(labels)
    fig.colorbar(image, ax=ax, shrink=0.8, label="count + 1 (log)")
    fig.tight_layout()
    return save_figure(fig, target)


def save_figure(fig, target: Path) -> Path:
    """Save a matplotlib figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    with fileio.atomic_path(Path(target)) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(target)


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
    sections.append(("Results", [markdown_table(rows)]))
    if inputs.notes:
        sections.append(("Which file to ship", [f"- {n.strip()}" for n in inputs.notes]))
    for title, name, caption in (
        ("Training", "training.png", "Loss and accuracy per epoch, train and test."),
        ("Speed", "bench.png", "Latency distribution at batch 1 and throughput against batch size."),
        ("Where int8 and Keras disagree", "disagreements.png", "Test images on which a quantized model and Keras disagree."),
        ("Confusion matrix of the int8 TFLite model", "confusion.png", "Full 10,000-image test set."),
    ):
        if (out_dir / name).is_file():
            sections.append((title, [caption, f"![{title}]({name})"]))
    platforms = (_load(out_dir / "verify.json") or {}).get("platforms") or {}
    if platforms:
        sections.append(("On emulated Raspberry Pi CPUs", platform_lines(platforms)))
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in inputs.stage_seconds.items())
    machine = ", ".join(f"{k}: {v}" for k, v in inputs.machine.items())
    versions = ", ".join(f"{k} {v}" for k, v in sorted(inputs.versions.items()))
    sections.append(("Machine and libraries", [f"- Machine: {machine}", f"- Libraries: {versions}",
                                               f"- Stage times: {stages}"]))
    sections.append(("Reproduce", ["```sh", *inputs.commands, "```"]))
    md = "# edgecnn results\n\n" + "\n\n".join(f"## {t}\n\n" + "\n".join(body) for t, body in sections) + "\n"
    md_path = fileio.write_text(out_dir / "report.md", md)
    html_path = fileio.write_text(out_dir / "report.html", markdown_to_html(md, out_dir))
    return md_path, html_path


def platform_lines(platforms: dict[str, Any]) -> list[str]:
    """verify.json's ``platforms`` section as a Markdown table (outputs only: emulation says nothing of speed)."""
    lines = ["The Pi bundle's own `classify.py`, run under qemu with the board's CPU model; "
             "emulated timings are not performance figures.", "",
             "| platform | file | agreement with Keras | max abs diff | verdict |", "|---|---|---|---|---|"]
    for key, entry in platforms.items():
        for name, row in entry.get("artifacts", {}).items():
            lines.append(f"| {key} | {name} | {_pct(row.get('agreement'))} | {row.get('max_abs_diff', 0):.1e} "
                         f"| {row.get('status', '–')} |")
    return lines


_CSS = """body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%}
pre{background:#f6f6f6;padding:10px;overflow-x:auto}code{font-size:90%}.PASS{color:#0a0}.FAIL{color:#c00;font-weight:bold}"""


def markdown_to_html(md: str, base: Path) -> str:
    """Render the small Markdown subset the report uses; images become data: URIs."""
    out, in_code, table = [], False, []

    def flush_table():
        if table:
            head, *body = [[c.strip() for c in r.strip("|").split("|")] for r in table if not set(r) <= set("|-")]
            out.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>")
            for row in body:
                out.append("<tr>" + "".join(f'<td class="{html.escape(c)}">{html.escape(c)}</td>' for c in row) + "</tr>")
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
