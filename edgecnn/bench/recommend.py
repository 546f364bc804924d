"""Which file to ship for which need, from the measured figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgecnn.formatting import number


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Which artifact to ship for which need, from the figures (the Keras baseline excluded)."""
    rows = [r for r in rows if r["format"] != "keras"]
    if not rows:
        return {}
    scaling = thread_scaling(rows)
    single = min(r["threads"] for r in rows)
    rows = [r for r in rows if r["threads"] == single]
    pick: dict[str, Any] = {}
    smallest = min(rows, key=lambda r: r["bytes"])
    pick["smallest"] = {"file": smallest["file"], "bytes": smallest["bytes"]}
    small = [r for r in rows if r["batch"] == min(r["batch"] for r in rows)]
    fast = min(small, key=lambda r: r["p50_us"])
    pick["fastest_single"] = {"file": fast["file"], "runtime": fast["runtime"], "batch": fast["batch"],
                              "p50_us": fast["p50_us"]}
    # From uint8 pixels, every model also pays for preprocessing and int8 models for (de)quantization: it can flip the winner.
    fast = min(small, key=lambda r: r["e2e_p50_us"])
    pick["fastest_single_e2e"] = {"file": fast["file"], "runtime": fast["runtime"], "batch": fast["batch"],
                                  "p50_us": fast["e2e_p50_us"]}
    big = [r for r in rows if r["batch"] == max(r["batch"] for r in rows)]
    for key, field_ in (("fastest_bulk", "throughput"), ("fastest_bulk_e2e", "e2e_throughput")):
        bulk = max(big, key=lambda r: r[field_])
        pick[key] = {"file": bulk["file"], "runtime": bulk["runtime"], "batch": bulk["batch"],
                     "throughput": bulk[field_]}
    scored = [r for r in rows if r["accuracy"] is not None]
    if scored:
        best = max(scored, key=lambda r: r["accuracy"])
        pick["most_accurate"] = {"file": best["file"], "accuracy": best["accuracy"]}
    else:
        pick["most_accurate"] = None  # no verify.json: run `edgecnn verify`
    pick["int8_vs_float32"] = int8_vs_float32(rows)
    if scaling:
        pick["thread_scaling"] = scaling
    return pick


def _same_runtime_pairs(rows: list[dict[str, Any]], batch: int) -> dict[tuple[str, str], dict[str, dict]]:
    """(format, runtime) -> precision -> row, at one batch size and the rows' own thread count."""
    pairs: dict[tuple[str, str], dict[str, dict]] = {}
    for r in rows:
        if r["batch"] == batch:
            pairs.setdefault((r["format"], r["runtime"]), {}).setdefault(r.get("precision", ""), r)
    return pairs


def int8_vs_float32(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per format and runtime: int8 p50 / float32 p50 at the smallest batch, and int8 / float32
    throughput at the largest (one thread count: the rows given). Says in words when int8 is slower."""
    if not rows:
        return []
    small, big = min(r["batch"] for r in rows), max(r["batch"] for r in rows)
    out = []
    at_small, at_big = _same_runtime_pairs(rows, small), _same_runtime_pairs(rows, big)
    for key, by in at_small.items():
        if "int8" not in by or "float32" not in by:
            continue
        bulk = at_big.get(key, {})
        entry: dict[str, Any] = {"format": key[0], "runtime": key[1], "batch": small,
                                 "p50_ratio": by["int8"]["p50_us"] / by["float32"]["p50_us"]}
        if "int8" in bulk and "float32" in bulk and big != small:
            entry.update(bulk_batch=big, throughput_ratio=bulk["int8"]["throughput"] / bulk["float32"]["throughput"])
        entry["int8_slower"] = entry["p50_ratio"] > 1 or entry.get("throughput_ratio", 1.0) < 1
        out.append(entry)
    return out


def thread_scaling(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Throughput with the most threads over one thread, per file and runtime, at the largest batch."""
    threads = sorted({r["threads"] for r in rows})
    if len(threads) < 2 or threads[0] != 1:
        return []
    big = max(r["batch"] for r in rows)
    one = {(r["file"], r["runtime"]): r for r in rows if r["batch"] == big and r["threads"] == 1}
    out = []
    for r in rows:
        if r["batch"] == big and r["threads"] == threads[-1] and (r["file"], r["runtime"]) in one:
            base = one[(r["file"], r["runtime"])]
            out.append({"file": r["file"], "runtime": r["runtime"], "batch": big, "threads": r["threads"],
                        "speedup": r["throughput"] / base["throughput"]})
    return out


def trade_offs(bench_rows: list[dict]) -> list[str]:
    """One caveat per format whose smallest file is slower at batch 1 than its largest on this CPU."""
    by_format: dict[str, list[dict]] = {}
    for row in bench_rows:
        if (int(row.get("batch", 0)) == 1 and int(row.get("threads", 1)) == 1 and row.get("xnnpack", True) is not False
                and row.get("format") in ("tflite", "onnx") and row.get("p50_us") and row.get("bytes")):
            by_format.setdefault(row["format"], []).append(row)
    notes = []
    for fmt, rows in by_format.items():
        small, big = min(rows, key=lambda r: r["bytes"]), max(rows, key=lambda r: r["bytes"])
        if small is big or float(small["p50_us"]) <= 1.1 * float(big["p50_us"]):
            continue
        name = lambda r: Path(str(r.get("path", r.get("file", "")))).name  # noqa: E731
        notes.append(
            f"trade-off: {name(small)} is {int(small['bytes']) / int(big['bytes']):.0%} the size of "
            f"{name(big)} but {float(small['p50_us']) / float(big['p50_us']):.1f}× slower at batch 1 on this "
            f"CPU ({number(small['p50_us'])} vs {number(big['p50_us'])} µs p50); ship it where size matters "
            f"more than latency"
        )
    return notes
