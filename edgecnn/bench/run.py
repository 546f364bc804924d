"""One bench run: load every subject, time them in interleaved rounds, add ratios, MACs and the ceiling.

Method: every runtime is loaded once in this process and warmed up; each call is timed alone
with ``time.perf_counter_ns``; the runtimes take turns in rounds so that drift of a shared
machine hits them all alike; ratios are against a baseline (the Keras model) measured in the
same run, in its own process first (``baseline``: TensorFlow never runs beside the files). Cold
start and peak memory come from a fresh subprocess per model. Each row also
gets the MACs per image counted from the model's graph, the GMAC/s it reached and its share
of this machine's GEMM ceiling for the same precision and thread count (``ceiling``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.bench import load
from edgecnn.bench.baseline import measure_apart
from edgecnn.bench.coldstart import cold_start
from edgecnn.bench.measure import measure
from edgecnn.bench.config import BenchConfig, BenchResult
from edgecnn.bench.recommend import recommend
from edgecnn.bench.subjects import Subject, load_subject, make_subjects, read_accuracies
from edgecnn.bench.timing import TIMING_METHOD
from edgecnn.errors import ModelError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


def run_bench(
    paths: Sequence[Path], config: BenchConfig, images: np.ndarray, *,
    out_dir: Path | None = None, progress: Progress | None = None,
) -> BenchResult:
    """Measure every model in ``paths`` (a ``.keras`` file is the baseline) on ``images`` (uint8).

    Args:
        paths: exported files and, optionally, the .keras baseline.
        config: batch sizes, threads, rounds, what else to measure (cold start, ceiling).
        images: uint8 test images; accuracy is read from ``out_dir``'s verify.json.
        out_dir: the folder whose verify.json holds the files' accuracies (None: none shown).
        progress: receives one line per step.

    Returns:
        One row per (file, batch, threads), the machine, the ceiling and the recommendation.
    """
    from edgecnn.env import library_versions, machine_info

    _check_config(config, images)
    say = progress or (lambda msg: log.info(msg))
    accuracies = read_accuracies(out_dir) if out_dir is not None else {}
    subjects = make_subjects(paths, config, accuracies)
    if not subjects:
        raise ModelError("nothing to benchmark (only .keras files were named, and the Keras baseline is off)")
    files = [s for s in subjects if not s.is_baseline]
    for subject in files:  # load everything first: a bad file fails in a second, not after the cold starts
        load_subject(subject, config, config.threads[0])
    samples: dict[tuple[str, int, int], np.ndarray] = {}
    baseline_rows: list[dict[str, Any]] = []
    for subject in (s for s in subjects if s.is_baseline):  # TensorFlow never enters this process
        say(f"baseline: {subject.name} in its own process, batch {','.join(map(str, config.batch_sizes))}")
        baseline_rows += measure_apart(subject, config, images, config.threads[0], samples)
    limit = None
    if config.ceiling != "off":
        from edgecnn.bench.ceiling import machine_ceiling

        limit = machine_ceiling(config.threads, remeasure=config.ceiling == "remeasure", say=say)
    if config.cold_start:
        for i, subject in enumerate(subjects, 1):
            say(f"cold start {i}/{len(subjects)}: {subject.name}")
            subject.cold = cold_start(subject.path, config.threads[0], subject.xnnpack is not False,
                                      unsafe=config.unsafe)
    rows = _time_files(files, config, images, samples, say) + baseline_rows
    _add_ratios(rows)
    _add_ceiling_shares(rows, limit)
    if limit is not None:
        limit = _recheck_ceiling(limit, rows, config, say)
    settings = {
        **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "ort_inter_op_threads": 1,
        "keras_threads": config.threads[0],
        "timing": TIMING_METHOD,
        "images": "the first N MNIST test images, N = batch",
    }
    return BenchResult(
        rows=rows, subjects=[_subject_json(s) for s in subjects], settings=settings,
        machine=machine_info(), versions=library_versions(), recommendation=recommend(rows), samples=samples,
        ceiling=limit.to_json() if limit is not None else {},
        load=load.merge(list({id(r["load"]): r["load"] for r in rows}.values())),  # one entry per timed block
    )


def _time_files(files: list[Subject], config: BenchConfig, images: np.ndarray,
                samples: dict[tuple[str, int, int], np.ndarray], say: Progress) -> list[dict[str, Any]]:
    """Every (threads, batch) block of the exported files, interleaved (the baseline ran apart,
    with the first thread count only: see baseline.py)."""
    rows: list[dict[str, Any]] = []
    steps = len(config.threads) * len(config.batch_sizes)
    step = 0
    for threads in config.threads:
        if threads != config.threads[0]:
            for subject in files:
                load_subject(subject, config, threads)
        for batch in config.batch_sizes:
            step += 1
            say(f"[{step}/{steps}] threads {threads}, batch {batch}: {len(files)} runtimes")
            rows += measure(files, config, images[:batch], threads, samples)
    return rows


def _recheck_ceiling(limit, rows: list[dict[str, Any]], config: BenchConfig, say: Progress):
    """Measure again the ceiling figures this run's rows make implausible, and redo the shares."""
    from edgecnn.bench.ceiling import implausible, machine_ceiling

    suspects = implausible(limit, rows, load.cores())
    if not suspects:
        return limit
    say(f"ceiling: {', '.join(sorted(suspects))} implausible for this run's figures, measuring again")
    limit = machine_ceiling(config.threads, remeasure=suspects, say=say)
    _add_ceiling_shares(rows, limit)
    return limit


def _check_config(config: BenchConfig, images: np.ndarray) -> None:
    from edgecnn.errors import InputError

    if not config.batch_sizes or min(config.batch_sizes) < 1:
        raise InputError("batch sizes must be positive integers")
    if max(config.batch_sizes) > len(images):
        raise InputError(f"batch size {max(config.batch_sizes)} is larger than the {len(images)} test images")
    if not config.threads or min(config.threads) < 1:
        raise InputError("thread counts must be positive integers")
    if config.runs is None and config.seconds <= 0 or config.runs is not None and config.runs < 1:
        raise InputError("--seconds must be > 0 and --runs >= 1")


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    """``ratio`` = p50 / the baseline's p50 at the same batch (Keras if measured, else the first model);
    ``speedup`` = its inverse, what the tables show as "× Keras"."""
    for batch in {r["batch"] for r in rows}:
        same = [r for r in rows if r["batch"] == batch]
        base = next((r for r in same if r["format"] == "keras"), same[0])
        for row in same:
            row["baseline"] = f"{base['file']} [{base['runtime']}]"
            row["ratio"] = row["p50_us"] / base["p50_us"]
            row["speedup"] = base["p50_us"] / row["p50_us"]


def _add_ceiling_shares(rows: list[dict[str, Any]], limit) -> None:
    """``gmacs`` = MACs per image x images/s; ``ceiling_share`` = that over the GEMM ceiling of the
    same precision (int8 files: the int8 ceiling) and thread count."""
    from edgecnn.bench.ceiling import CEILING_OF

    for row in rows:
        macs = row.get("macs_per_image")
        row["gmacs"] = macs * row["throughput"] / 1e9 if macs else None
        row["ceiling_precision"] = CEILING_OF.get(row["precision"], "float32")
        row["ceiling_gmacs"] = limit.gmacs(row["precision"], row["threads"]) if limit is not None else None
        row["ceiling_share"] = (row["gmacs"] / row["ceiling_gmacs"]
                                if row["gmacs"] is not None and row["ceiling_gmacs"] else None)


def _subject_json(subject: Subject) -> dict[str, Any]:
    return {
        "path": str(subject.path), "format": subject.format, "precision": subject.precision,
        "runtime": subject.runtime, "bytes": subject.bytes, "accuracy": subject.accuracy,
        "graph": subject.graph, "macs": subject.macs, "cold_start": subject.cold,
    }
