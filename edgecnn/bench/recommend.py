"""Which file to ship for which need, from the measured figures."""

from __future__ import annotations

from typing import Any

# A ratio of two figures counts as a difference only beyond both files' own noise (their
# round_spread added) and at least this much: a few per cent is within what a rerun moves.
MIN_DIFFERENCE = 0.03
SMALLER = 0.9  # a file at 90 % of its float32 twin's size or more is not "the small one"


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
    # From uint8 pixels, every model also pays for preprocessing and int8 models for (de)quantization:
    # it can flip the winner.
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
                                 **({"label": by["int8"]["label"]} if by["int8"].get("label") else {}),
                                 "p50_ratio": by["int8"]["p50_us"] / by["float32"]["p50_us"],
                                 "size_ratio": by["int8"]["bytes"] / by["float32"]["bytes"]}
        entry["p50_noise"] = noise(by["int8"], by["float32"])
        entry["p50_verdict"] = verdict(1 / entry["p50_ratio"], entry["p50_noise"])
        if "int8" in bulk and "float32" in bulk and big != small:
            entry.update(bulk_batch=big, throughput_ratio=bulk["int8"]["throughput"] / bulk["float32"]["throughput"],
                         throughput_noise=noise(bulk["int8"], bulk["float32"]))
            entry["throughput_verdict"] = verdict(entry["throughput_ratio"], entry["throughput_noise"])
        verdicts = [entry["p50_verdict"], entry.get("throughput_verdict", "same")]
        entry["int8_slower"] = "slower" in verdicts
        entry["int8_faster"] = "faster" in verdicts and not entry["int8_slower"]
        entry["int8_smaller"] = entry["size_ratio"] < SMALLER
        out.append(entry)
    return out


def noise(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The relative difference two rows' figures need to count: their round spreads added, at least
    MIN_DIFFERENCE (rows without a spread, from older bench.json files, get that floor)."""
    return max(MIN_DIFFERENCE, (a.get("round_spread") or 0.0) + (b.get("round_spread") or 0.0))


def verdict(speed_ratio: float, noise_level: float) -> str:
    """"faster" / "slower" (a speed ratio, > 1 faster) beyond ``noise_level``, else "same"."""
    if speed_ratio > 1 + noise_level:
        return "faster"
    if speed_ratio < 1 / (1 + noise_level):
        return "slower"
    return "same"


def thread_scaling(rows: list[dict[str, Any]], n_cores: int | None = None) -> list[dict[str, Any]]:
    """Throughput with the most threads over one thread, per file and runtime, at the largest batch.

    A ratio above the core count cannot come from the file (the one-thread figure was slowed by
    other processes), nor can one below 1 measured on a busy machine: such entries carry
    ``noise`` (why), and are not a property of the file.
    """
    from edgecnn.bench.load import cores
    threads = sorted({r["threads"] for r in rows})
    if len(threads) < 2 or threads[0] != 1:
        return []
    big = max(r["batch"] for r in rows)
    one = {(r["file"], r["runtime"]): r for r in rows if r["batch"] == big and r["threads"] == 1}
    out = []
    for r in rows:
        if r["batch"] == big and r["threads"] == threads[-1] and (r["file"], r["runtime"]) in one:
            base = one[(r["file"], r["runtime"])]
            speedup = r["throughput"] / base["throughput"]
            n = n_cores or (r.get("load") or {}).get("cores") or cores()
            busy = any((x.get("load") or {}).get("busy") for x in (r, base))
            why = (f"above the {n} cores" if speedup > n else
                   "below 1 on a busy machine" if speedup < 1 and busy else None)
            out.append({"file": r["file"], "runtime": r["runtime"], "batch": big, "threads": r["threads"],
                        "speedup": speedup, "noise": why})
    return out

