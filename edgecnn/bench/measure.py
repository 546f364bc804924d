"""One timed block: subjects loaded once, warmed up, then timed in interleaved rounds.

``run`` calls it per batch size and thread count; ``baseline`` calls it in the Keras baseline's
own process, so both measure the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edgecnn.bench import load
from edgecnn.bench.config import BenchConfig
from edgecnn.bench.subjects import Subject
from edgecnn.bench.timing import round_spread, summarize, time_rounds, timed_calls, warm_up


def measure(subjects: list[Subject], config: BenchConfig, images: np.ndarray, threads: int,
            samples: dict[tuple[str, int, int], np.ndarray]) -> list[dict[str, Any]]:
    """Time ``subjects`` (already loaded) at one batch size and thread count, interleaved in rounds.

    Adds each subject's per-call µs to ``samples`` and returns one bench.json row per subject,
    with the machine's load over these timed calls.
    """
    batch = len(images)
    calls: list[Callable[[], Any]] = []
    owners: list[tuple[Subject, str]] = []
    settle: list[float] = []
    for subject in subjects:
        run, e2e = timed_calls(subject, images)
        spins = _spins(subject, config, threads)
        for kind, call in (("run", run), ("e2e", e2e)):
            if call is not None:
                calls.append(call)
                owners.append((subject, kind))
                settle.append(config.settle_seconds if spins else 0.0)
    for call in calls:
        warm_up(call, config.warmup_seconds, config.warmup_calls)
    time.sleep(max(settle, default=0.0))  # the last warm-up's spinning workers park before round 1
    before = load.read()
    ends: list[list[int]] = []
    pace: dict[str, Any] = {"round_ends": ends, "settle_after": settle, "groups": [id(s) for s, _ in owners]}
    if config.runs:
        timed = time_rounds(calls, min(config.rounds, config.runs), runs=config.runs, **pace)
    else:
        timed = time_rounds(calls, config.rounds, seconds=config.seconds, min_runs=config.min_runs, **pace)
    block_load = load.between(before, load.read())  # how busy the machine was over these timed calls
    by_subject: dict[int, dict[str, np.ndarray]] = {}
    spread: dict[int, float | None] = {}
    for (subject, kind), ns, end in zip(owners, timed, ends):
        by_subject.setdefault(id(subject), {})[kind] = ns
        if kind == "run":
            spread[id(subject)] = round_spread(ns, end)
    rows = []
    for subject in subjects:
        got = by_subject[id(subject)]
        stats = summarize(got["run"], batch)
        e2e_stats = summarize(got["e2e"], batch) if "e2e" in got else stats
        samples[(subject.name, batch, threads)] = got["run"] / 1e3
        rows.append({
            "path": str(subject.path), "file": subject.path.name, "format": subject.format,
            "precision": subject.precision, **({"label": subject.label} if subject.label else {}),
            "runtime": subject.runtime, "xnnpack": subject.xnnpack,
            "bytes": subject.bytes, "accuracy": subject.accuracy, "batch": batch,
            "threads": config.threads[0] if subject.is_baseline else threads,
            **stats,
            "round_spread": spread[id(subject)],  # the run's own noise (timing.round_spread)
            "e2e_p50_us": e2e_stats["p50_us"], "e2e_p99_us": e2e_stats["p99_us"],
            "e2e_throughput": e2e_stats["throughput"],
            "e2e_measured": "e2e" in got,  # Keras has no separate end-to-end call
            "quantize_in_timed_call": "e2e" in got and subject.handle.input_spec.quantized,
            "cold_start_ms": subject.cold.get("cold_start_ms"), "peak_rss_mb": subject.cold.get("peak_rss_mb"),
            "partial_delegation": bool(subject.graph.get("partial", False)),
            "macs_per_image": subject.macs.get("macs_per_image"),
            "load": block_load,
        })
    return rows


def _spins(subject: Subject, config: BenchConfig, threads: int) -> bool:
    """Whether the subject's worker threads keep spinning after a call (ONNX Runtime, spinning on)."""
    from edgecnn.runtime.base import RuntimeOptions

    if subject.format != "onnx":
        return False  # LiteRT's and XNNPACK's pools measured idle within 2 ms of the last call
    return RuntimeOptions(num_threads=threads, ort_spinning=config.ort_spinning).spinning
