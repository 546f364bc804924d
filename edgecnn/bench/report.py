"""What ``edgecnn bench`` writes: the console table, bench.json/csv/md and bench.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgecnn import fileio
from edgecnn.bench.advice import recommendation_text
from edgecnn.bench.config import BenchResult
from edgecnn.formatting import VS_KERAS, format_kib, times
from edgecnn.names import BENCH_CSV, BENCH_JSON, BENCH_MD, BENCH_PNG

CSV_FIELDS = (
    "path", "format", "precision", "runtime", "xnnpack", "bytes", "accuracy", "batch", "threads",
    "p50_us", "p90_us", "p99_us", "min_us", "mean_us", "std_us", "runs", "throughput",
    "e2e_p50_us", "e2e_p99_us", "e2e_throughput", "e2e_measured", "quantize_in_timed_call", "ratio", "speedup",
    "baseline", "round_spread",
    "cold_start_ms", "peak_rss_mb", "partial_delegation",
    "macs_per_image", "gmacs", "ceiling_precision", "ceiling_gmacs", "ceiling_share",
)
HEADER = ("file", "format", "precision", "size", "accuracy", "runtime", "thr", "batch",
          "p50 µs", "p99 µs", "e2e p50 µs", "images/s", VS_KERAS, "GMAC/s", "% ceiling", "load (1 min)")


def _num(x: float | None, fmt: str = "{:,.1f}") -> str:
    return "—" if x is None else fmt.format(x)


def table_rows(result: BenchResult) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for r in result.rows:
        out.append((
            r["file"], r["format"], r.get("label") or r["precision"], format_kib(r["bytes"]),
            _num(r["accuracy"], "{:.2%}"), r["runtime"] + (" (partial)" if r["partial_delegation"] else ""),
            str(r["threads"]), str(r["batch"]), _num(r["p50_us"]), _num(r["p99_us"]),
            _num(r["e2e_p50_us"]) if r.get("e2e_measured") else "=",
            _num(r["throughput"], "{:,.0f}"), times(_speedup(r)),
            _num(r.get("gmacs"), "{:,.1f}"), _share(r), _load_cell(r.get("load")),
        ))
    return out


def _speedup(row: dict[str, Any]) -> float | None:
    """Baseline p50 / this row's p50 (older bench.json rows have only ``ratio``, its inverse)."""
    if row.get("speedup") is not None:
        return row["speedup"]
    return 1 / row["ratio"] if row.get("ratio") else None


def _load_cell(load: dict[str, Any] | None) -> str:
    """"1.2" (the 1-minute load after the block), "3.4 busy" when the block ran on a busy machine."""
    if not load or load.get("load1_after") is None:
        return "—"
    return f"{load['load1_after']:.1f}" + (" busy" if load.get("busy") else "")


def _ceiling_name(precision: str | None) -> str:
    """How a ceiling is named in text: "fp32" for float32, else the precision itself (int8)."""
    return "fp32" if precision == "float32" else str(precision)


def _share(row: dict[str, Any]) -> str:
    """The share of the machine's GEMM ceiling for the row's precision, e.g. "41 % of fp32"."""
    share = row.get("ceiling_share")
    if share is None:
        return "—"
    return f"{share:.1%} of {_ceiling_name(row.get('ceiling_precision'))}"


def ceiling_lines(result: BenchResult) -> list[str]:
    """The machine's limits the shares are measured against, and how they were measured."""
    c = result.ceiling
    if not c:
        return []
    lines = []
    for precision, per_threads in c["gemm"].items():
        figures = ", ".join(f"{v['gmacs']:,.1f} GMAC/s with {t} thread(s)" for t, v in sorted(per_threads.items()))
        dates = sorted({c["measured"].get(f"gemm/{precision}/{t}", "?") for t in per_threads})
        lines.append(f"{_ceiling_name(precision)} GEMM ceiling: {figures} "
                     f"(measured {', '.join(dates)})")
    lines.append(f"memory bandwidth: {c['memory_gbps']:,.1f} GB/s, one thread "
                 f"(measured {c['measured'].get('memory', '?')})")
    lines.append(f"method: {c['method']['gemm']}; {c['method']['memory']}"
                 + ("; from this machine's cache (--remeasure-ceiling measures again)" if c.get("cached") else ""))
    lines += ceiling_caveats(c)
    macs = sorted({(Path(s["path"]).name, s["macs"].get("macs_per_image")) for s in result.subjects
                   if s.get("macs", {}).get("macs_per_image")})
    if macs:
        lines.append("MACs per image, counted from each graph: " + ", ".join(f"{n} {m:,}" for n, m in macs))
    return lines


def ceiling_caveats(c: dict[str, Any]) -> list[str]:
    """What this run did to the ceiling: figures measured again (implausible), or measured busy."""
    lines = []
    if c.get("remeasured"):
        lines.append(f"measured again: {', '.join(c['remeasured'])}, which this run's figures made implausible "
                     "(a file within 10 % of its ceiling or above it, or a 2-thread figure above the cores "
                     "times the 1-thread one); the best quiet figure is kept")
    if c.get("busy"):
        lines.append(f"measured on a busy machine: {', '.join(c['busy'])}; used for this run only, not cached: "
                     "the shares of those ceilings are too high")
    return lines


def format_table(result: BenchResult) -> str:
    """The console table (at most 100 columns: size, accuracy and the rest are in bench.md), then
    the cold starts, what runs where, and the recommendation, each wrapped to 100 columns."""
    from edgecnn.formatting import TERMINAL_WIDTH, align, wrap_notes

    keras = any(r["format"] == "keras" for r in result.rows)
    vs = VS_KERAS if keras else "× base"
    titles = ("file", "runtime", "thr", "batch", "p50 µs", "e2e p50", "img/s", vs, "ceil")
    rows = [(r["file"], r["runtime"] + ("*" if r["partial_delegation"] else ""), str(r["threads"]),
             str(r["batch"]), _num(r["p50_us"]) + ("!" if (r.get("load") or {}).get("busy") else ""),
             _num(r["e2e_p50_us"]) if r.get("e2e_measured") else "=",
             _num(r["throughput"], "{:,.0f}"), times(_speedup(r)),
             _num(r.get("ceiling_share"), "{:.0%}")) for r in result.rows]
    lines = [align(titles, rows, right=[False, False, True, True, True, True, True, True, True])]
    base = "" if keras else f" ({result.rows[0]['baseline']})" if result.rows else ""
    lines.append(wrap_notes(["e2e p50: from uint8 pixels, preprocessing and (de)quantization counted "
                             f"(= the same call); {vs}: how many times faster than the baseline{base} at that "
                             "batch (its p50 over the file's); ceil: share of this CPU's GEMM ceiling for the "
                             "file's precision; *: partly delegated (see below); !: timed while the machine was "
                             "busy; sizes, accuracy, p99, GMAC/s, load and every other column: bench.md"],
                            TERMINAL_WIDTH, bullet=""))
    for block in (ceiling_lines(result), cold_start_lines(result), what_runs_lines(result)):
        if block:
            lines += ["", wrap_notes(block, TERMINAL_WIDTH)]
    advice = recommendation_lines(result)
    if advice:
        lines += ["", advice[0], wrap_notes([a.strip() for a in advice[1:]], TERMINAL_WIDTH)]
    return "\n".join(lines)


def load_summary(load: dict[str, Any]) -> str:
    """One sentence on how busy the machine was over the run's timed blocks."""
    if not load:
        return "Load: not recorded."
    parts = []
    if load.get("load1_before") is not None:
        parts.append(f"1-minute load average {load['load1_before']:.1f} before, {load['load1_after']:.1f} after "
                     f"(up to {load['load1_max']:.1f}) on {load['cores']} cores")
    if load.get("others_share") is not None:
        parts.append(f"other processes took up to {100 * load['others_share']:.0f} % of the CPU during a block"
                     + (f", the hypervisor up to {100 * load['steal_share']:.0f} %" if load.get("steal_share") else ""))
    verdict = (f"busy during {load['busy_blocks']} of {load['blocks']} blocks: those rows' figures are in doubt"
               if load.get("busy") else "quiet throughout")
    return "Load: " + "; ".join(parts) + f"; {verdict}."


def cold_start_lines(result: BenchResult) -> list[str]:
    lines = []
    for s in result.subjects:
        cold = s["cold_start"]
        if not cold:
            continue
        name = f"{Path(s['path']).name} [{s['runtime']}]"
        if "error" in cold:
            lines.append(f"cold start {name}: failed ({cold['error']})")
        else:
            lines.append(
                f"cold start {name}: {cold['cold_start_ms']:,.0f} ms (import {cold['import_ms']:,.0f}, "
                f"load {cold['load_ms']:,.1f}, first call {cold['first_inference_ms']:,.1f}), "
                f"peak RSS {cold['peak_rss_mb']:,.0f} MB"
            )
    return lines


def what_runs_lines(result: BenchResult) -> list[str]:
    lines = []
    for s in result.subjects:
        g, name = s["graph"], f"{Path(s['path']).name} [{s['runtime']}]"
        if g.get("delegate"):
            left = ", ".join(f"{op}×{n}" for op, n in g["not_delegated"].items()) or "none"
            flag = "PARTIAL: " if g["partial"] else ""
            lines.append(f"{flag}{name}: XNNPACK took {g['delegated_nodes']}/{g['nodes']} nodes in "
                         f"{g['partitions']} partition(s); on the reference kernels: {left}")
        elif "ops" in g:
            ops = ", ".join(f"{op}×{n}" for op, n in g["ops"].items())
            lines.append(f"{name}: {g['nodes']} nodes after ORT '{g['optimization']}' "
                         f"({g['nodes_in_file']} in the file): {ops}")
    return lines


def recommendation_lines(result: BenchResult) -> list[str]:
    lines = recommendation_text(result.recommendation, result.load)
    return ["Which file to ship:", *lines] if lines else []


def _spinning(setting: bool | None) -> str:
    return "on with 2+ threads" if setting is None else ("on" if setting else "off")


def ceiling_notes(bench: dict[str, Any]) -> list[str]:
    """bench.json's ceiling as report lines: the machine's GEMM ceiling, then each bulk row's share of it."""
    lines: list[str] = []
    ceiling = bench.get("ceiling") or {}
    rows = [r for r in bench.get("results", []) if r.get("ceiling_share") is not None]
    if ceiling and rows:
        big = max(r["batch"] for r in rows)
        gemm = "; ".join(f"{_ceiling_name(p)} {v['1']['gmacs']:,.0f} GMAC/s"
                         for p, v in ceiling["gemm"].items() if "1" in v)
        lines.append(f"  this machine's GEMM ceiling per core (LiteRT/XNNPACK): {gemm}; "
                     f"memory {ceiling['memory_gbps']:,.1f} GB/s")
        lines += [f"  ceiling {line}" for line in ceiling_caveats(ceiling)]
        for r in rows:
            if r["batch"] == big:
                lines.append(f"  {r['file']} on {r['runtime']}, {r['threads']} thread(s), batch {big}: "
                             f"{r['gmacs']:,.1f} GMAC/s = {_share(r)} ceiling")
    return lines


def summary_table(result: BenchResult) -> str:
    """One Markdown row per model and runtime: the README's results table."""
    small, big = min(result.settings["batch_sizes"]), max(result.settings["batch_sizes"])
    lines = [
        f"| file | runtime | precision | size | accuracy | threads | p50 µs, batch {small} | "
        f"e2e p50 µs, batch {small} | images/s, batch {big} | GMAC/s, batch {big} | share of the GEMM ceiling | "
        f"{VS_KERAS}, batch {small} | cold start ms | peak RSS MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for threads in result.settings["threads"]:
        rows = [r for r in result.rows if r["threads"] == threads]
        for r in rows:
            if r["batch"] != small or (r["format"] == "keras" and threads != result.settings["threads"][0]):
                continue
            bulk = next((b for b in rows
                         if b["batch"] == big and b["path"] == r["path"] and b["runtime"] == r["runtime"]), r)
            precision = r.get("label") or r["precision"]
            lines.append(
                f"| {r['file']} | {r['runtime']}{' (partial)' if r['partial_delegation'] else ''} | {precision} "
                f"| {format_kib(r['bytes'])} | {_num(r['accuracy'], '{:.2%}')} | {threads} | {_num(r['p50_us'])} "
                f"| {_num(r['e2e_p50_us'])} | {_num(bulk['throughput'], '{:,.0f}')} "
                f"| {_num(bulk.get('gmacs'), '{:,.1f}')} "
                f"| {_share(bulk)} | {times(_speedup(r))} "
                f"| {_num(r['cold_start_ms'], '{:,.0f}')} | {_num(r['peak_rss_mb'], '{:,.0f}')} |"
            )
    return "\n".join(lines)


def to_csv(result: BenchResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(result.rows)
    return buf.getvalue()


def to_markdown(result: BenchResult) -> str:
    m, st = result.machine, result.settings
    lines = [
        "# edgecnn bench",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['system']} ({m['machine']}). "
        + ", ".join(f"{k} {v}" for k, v in result.versions.items()) + ".",
        "",
        f"Settings: threads {st['threads']}, XNNPACK {st['xnnpack']}, ONNX Runtime level "
        f"'{st['ort_optimization']}', spinning {_spinning(st.get('ort_spinning'))}, inter-op 1; "
        + (f"{st['runs']} timed calls" if st["runs"] else f"{st['seconds']} s of timed calls")
        + f" per runtime and batch after ≥ {st['warmup_calls']} calls and {st['warmup_seconds']} s of warm-up, "
        f"in {st['rounds']} interleaved rounds.",
        "",
        "Timed call: " + "; ".join(f"**{k}**: {v}" for k, v in st["timing"].items()) + ".",
        "",
        load_summary(result.load),
        "",
        "## Summary",
        "",
        summary_table(result),
        "",
        "## Every configuration",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" if i < 8 else "---:" for i in range(len(HEADER))) + "|",
        *("| " + " | ".join(row) + " |" for row in table_rows(result)),
        "",
        "“e2e p50” starts from uint8 pixels: input checks, preprocessing, int8 quantization and "
        "dequantization included (“=” for Keras, timed on ready float32 tensors); "
        f"“{VS_KERAS}” is how many times faster than the baseline ({(result.rows or [{}])[0].get('baseline', '–')}) "
        "at the same batch: its p50 over the file's (bench.json keeps the inverse as `ratio`). "
        "“load (1 min)” is the load average after the row's timed block; “busy”: above the core count, "
        "or other processes took more than one core's share of the CPU (edgecnn.bench.load).",
        "",
        "## Against this machine's limit",
        "",
        "GMAC/s = MACs per image (counted from each exported graph) × images/s; the share is of the GEMM "
        "ceiling of the same precision and thread count (int8 files: the int8 ceiling).",
        "",
        *(f"- {line}" for line in ceiling_lines(result)),
        "",
        "## Cold start and memory (fresh process each)",
        "",
        *(f"- {line}" for line in cold_start_lines(result)),
        "",
        "## What actually runs",
        "",
        *(f"- {line}" for line in what_runs_lines(result)),
        "",
        "## " + (recommendation_lines(result) or ["Which file to ship"])[0].rstrip(":"),
        "",
        *(f"- {line.strip()}" for line in recommendation_lines(result)[1:]),
        "",
    ]
    return "\n".join(lines)


AXIS_FONT = 10  # matplotlib's default axis-label size: the legend and tick labels use it too


def plot(result: BenchResult, target: Path) -> Path:
    """bench.png: batch-1 latency per runtime, and a roofline-style picture of images/s against
    batch with this machine's GEMM ceilings drawn (ceiling GMAC/s ÷ MACs per image)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    threads = result.settings["threads"][0]
    small = min(result.settings["batch_sizes"])
    names = list(dict.fromkeys(f"{r['file']} [{r['runtime']}]" for r in result.rows))  # run order, no duplicates
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 0.5 * len(names) + 5.5))
    data = [result.samples.get((n, small, threads)) for n in names]
    shown = [(n, d) for n, d in zip(names, data) if d is not None and len(d)]
    if shown:
        ax1.boxplot([d for _, d in shown], vert=False, whis=(1, 99), showfliers=False)
        ax1.set_yticks(range(1, len(shown) + 1), [n for n, _ in shown], fontsize=AXIS_FONT)
        ax1.set_xscale("log")
    ax1.set_xlabel(f"µs per call at batch {small} (box p25–p75, whiskers p1–p99), log scale")
    ax1.set_title(f"Latency, batch {small}, {threads} thread(s)")
    # One thread count per chart (the first: the per-core figure), and one labelled ceiling line per
    # precision for it: eight grey lines for every (precision, threads, MACs) overlapped in two
    # clusters at 100 % zoom. The files' MACs per image differ by a few per cent (TFLite's column
    # pairs), so the line uses their median; the exact shares are in bench.md.
    for n in names:
        pts = sorted((r["batch"], r["throughput"]) for r in result.rows
                     if f"{r['file']} [{r['runtime']}]" == n and r["threads"] == threads)
        if pts:
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=n)
    for precision, color, style in (("float32", "black", "--"), ("int8", "dimgrey", ":")):
        same = [r for r in result.rows if r.get("ceiling_precision") == precision and r["threads"] == threads
                and r.get("ceiling_gmacs") and r.get("macs_per_image")]
        if not same:
            continue
        macs = sorted(r["macs_per_image"] for r in same)[len(same) // 2]
        gmacs = same[0]["ceiling_gmacs"]
        ax2.axhline(gmacs * 1e9 / macs, color=color, linestyle=style, linewidth=2,
                    label=f"{_ceiling_name(precision)} GEMM ceiling, {threads} thread(s): {gmacs:,.0f} GMAC/s "
                          f"= {gmacs * 1e9 / macs:,.0f} images/s")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("batch size")
    ax2.set_ylabel("images/s (batch / p50)")
    ax2.set_title(f"Throughput, {threads} thread(s), against this machine's GEMM ceiling")
    ax2.legend(fontsize=AXIS_FONT, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1)
    ax2.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with fileio.atomic_path(Path(target)) as tmp:
        fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")  # the legend below the axes included
    plt.close(fig)
    return Path(target)


def merged_bench(result: BenchResult, out_dir: Path) -> BenchResult:
    """``result`` with the rows and subjects of ``out_dir``'s bench.json for the files it did not
    measure; the recommendation is recomputed over the complete set."""
    import dataclasses

    from edgecnn.bench import recommend
    from edgecnn.results import artifact_name, merge_entries, read_old

    old = read_old(Path(out_dir) / BENCH_JSON)
    if not old:
        return result
    rows = merge_entries(old.get("results", []), result.rows, artifact_name)
    subjects = merge_entries(old.get("subjects", []), result.subjects, artifact_name)
    return dataclasses.replace(result, rows=rows, subjects=subjects, recommendation=recommend(rows))


def write_outputs(result: BenchResult, out_dir: Path) -> dict[str, Path]:
    """bench.json, bench.csv, bench.md and bench.png in ``out_dir`` (each written atomically).

    bench.json is merged per artifact (edgecnn.results): files not measured now keep their rows,
    and the other three are rebuilt from the merged set. bench.png needs matplotlib (full install).
    """
    from importlib.util import find_spec

    out_dir = Path(out_dir)
    result = merged_bench(result, out_dir)
    written = {
        "json": fileio.write_json(out_dir / BENCH_JSON, result.to_json()),
        "csv": fileio.write_text(out_dir / BENCH_CSV, to_csv(result)),
        "md": fileio.write_text(out_dir / BENCH_MD, to_markdown(result)),
    }
    if find_spec("matplotlib") is not None:
        written["png"] = plot(result, out_dir / BENCH_PNG)
    return written
