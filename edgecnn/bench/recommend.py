"""Which file to ship for which need, from the measured figures."""

from __future__ import annotations

from typing import Any


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Which artifact to ship for which need, from the figures (the Keras baseline excluded)."""
    rows = [r for r in rows if r["format"] != "keras"]
    if not rows:
        return {}
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
    return pick
