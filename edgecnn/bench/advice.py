"""Which file to ship, in words: bench.json's recommendation as a few notes for the terminal,
bench.md and the report (smallest, fastest at batch 1 and in bulk, most accurate, the int8
trade-offs, threads, and whether the machine was busy)."""

from __future__ import annotations

from typing import Any

from edgecnn.bench.recommend import SMALLER
from edgecnn.formatting import format_kib


def _end_to_end(best: dict[str, Any], e2e: dict[str, Any], figure: str) -> str:
    """"; from uint8 pixels: <file> (<figure>)" when another file wins end to end, else ""."""
    if (e2e["file"], e2e["runtime"]) == (best["file"], best["runtime"]):
        return ""
    other = e2e["file"] if e2e["runtime"] == best["runtime"] else f"{e2e['file']} on {e2e['runtime']}"
    return f"; from uint8 pixels: {other}, {figure}"


def _word(verdict: str, noise: float | None) -> str:
    """"faster", "SLOWER", or "as fast (within the noise of ±x %)": the run's own noise, in words."""
    if verdict == "same":
        return "as fast" + (f" (within the noise of ±{100 * noise:.0f} %)" if noise else " (within the noise)")
    return {"faster": "faster", "slower": "SLOWER"}[verdict]


def _int8_verdict(e: dict[str, Any]) -> str:
    """"faster", "SLOWER", "as fast (within the noise of ±x %)" (of this run's rounds), or both halves
    when batch 1 and bulk differ."""
    small = e.get("p50_verdict") or ("slower" if e.get("int8_slower") else "faster")  # older bench.json
    bulk = e.get("throughput_verdict", small)
    small_noise, bulk_noise = e.get("p50_noise"), e.get("throughput_noise", e.get("p50_noise"))
    if small == bulk:  # one word for both; "as fast" within the larger of the two noises
        return _word(small, max((x for x in (small_noise, bulk_noise) if x), default=None))
    return f"{_word(small, small_noise)} at batch 1, {_word(bulk, bulk_noise)} in bulk"


def int8_line(entries: list[dict[str, Any]]) -> str | None:
    """The int8-against-float32 trade-offs of every format in one note, e.g. "int8 vs float32: tflite
    0.49× the p50, 1.82× the throughput: faster, 26 % of the size; onnx ...".

    A file not smaller than its float32 twin (90 % of its size or more) is never advised "where
    size matters"; "faster"/"SLOWER" only beyond the run's own noise (recommend.verdict).
    """
    parts = []
    for i, e in enumerate(entries):
        what = ("the p50", "the throughput") if i == 0 else ("", "")
        figures = f"{e['p50_ratio']:.2f}×{' ' + what[0] if what[0] else ''}"
        if "throughput_ratio" in e:
            figures += f", {e['throughput_ratio']:.2f}×{' ' + what[1] if what[1] else ''}"
        size = e.get("size_ratio")
        if size is None:  # an older bench.json: the size is not known, so nothing is said of it
            advice = ": pick float32 for speed" if e["int8_slower"] else ""
        elif size >= SMALLER:
            advice = f", {100 * size:.0f} % of float32's size" + ("" if e.get("int8_faster") else ": ship float32")
        else:
            advice = f", {100 * size:.0f} % of the size" + (
                " (ship it where size matters more than speed)" if e["int8_slower"] else "")
        name = f"{e['format']} ({e['label']})" if e.get("label") else e["format"]  # a mixed file says so
        parts.append(f"{name} {figures}: {_int8_verdict(e)}{advice}")
    if not parts:
        return None
    e = entries[0]
    where = f"batch {e['batch']} p50" + (f", batch {e['bulk_batch']} throughput" if "bulk_batch" in e else "")
    return f"int8 vs float32 ({where}): " + "; ".join(parts)


def _files(n: int) -> str:
    return f"{n} file" + ("s" if n != 1 else "")


def threads_line(scaling: list[dict[str, Any]]) -> str | None:
    """Thread scaling in one note; ratios that cannot be the file's say "noise" and why."""
    if not scaling:
        return None

    def span(entries: list[dict[str, Any]]) -> str:
        low, high = min(e["speedup"] for e in entries), max(e["speedup"] for e in entries)
        return f"{low:.2f}×" if abs(high - low) < 0.005 else f"{low:.2f}–{high:.2f}×"

    real = [e for e in scaling if not e.get("noise")]
    noisy = [e for e in scaling if e.get("noise")]
    first = scaling[0]
    text = f"{first['threads']} threads: "
    if real:
        text += f"{span(real)} the one-thread throughput at batch {first['batch']} ({_files(len(real))})"
    if noisy:
        why = "; ".join(sorted({e["noise"] for e in noisy}))
        text += (f"; {len(noisy)} more at {span(noisy)}" if real else
                 f"{span(noisy)} the one-thread throughput at batch {first['batch']} ({_files(len(noisy))})")
        text += f": noise ({why}), not a property of the files"
    return text


def recommendation_text(rec: dict[str, Any], load: dict[str, Any] | None = None) -> list[str]:
    """bench.json's ``recommendation`` as at most ~8 notes: smallest, fastest at batch 1 and in bulk,
    most accurate, the int8 trade-offs, threads, and whether the machine was busy."""
    if not rec:
        return []
    from edgecnn.formatting import pct

    lines: list[str] = []
    s = rec["smallest"]
    lines.append(f"  smallest: {s['file']} ({format_kib(s['bytes'])})")
    f, e = rec["fastest_single"], rec["fastest_single_e2e"]
    lines.append(f"  fastest at batch {f['batch']}: {f['file']} on {f['runtime']} (p50 {f['p50_us']:,.1f} µs"
                 + _end_to_end(f, e, f"{e['p50_us']:,.1f} µs") + ")")
    b, e = rec["fastest_bulk"], rec["fastest_bulk_e2e"]
    lines.append(f"  fastest in bulk: {b['file']} on {b['runtime']} ({b['throughput']:,.0f} images/s "
                 f"at batch {b['batch']}" + _end_to_end(b, e, f"{e['throughput']:,.0f} images/s") + ")")
    a = rec["most_accurate"]
    lines.append(f"  most accurate: {a['file']} ({pct(a['accuracy'])})" if a
                 else "  most accurate: unknown (no verify.json: run `edgecnn verify`)")
    for line in (int8_line(rec.get("int8_vs_float32", [])), threads_line(rec.get("thread_scaling", [])),
                 busy_line(load or {})):
        if line:
            lines.append("  " + line)
    return lines


def busy_line(load: dict[str, Any]) -> str | None:
    """"busy: ..." when some timed blocks ran on a busy machine, naming the figures in doubt."""
    if not load.get("busy"):
        return None
    why = []
    if load.get("load1_max") is not None:
        why.append(f"load up to {load['load1_max']:.1f} on {load.get('cores')} cores")
    if load.get("others_share") is not None:
        why.append(f"others took up to {100 * load['others_share']:.0f} % of the CPU")
    blocks = ("every timed block" if load["busy_blocks"] == load["blocks"]
              else f"{load['busy_blocks']} of {load['blocks']} timed blocks")
    return (f"busy machine ({', '.join(why)}) in {blocks}: the figures above are in doubt "
            "(rows marked ! in bench's table); rerun when quiet")
