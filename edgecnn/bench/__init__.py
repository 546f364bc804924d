"""Latency, throughput, cold start, memory and the machine's own limit, for exported models.

One module per job: ``subjects`` (what to measure, loaded once), ``graph`` (what actually
runs), ``macs`` (MACs per image from the graph), ``ceiling`` (this machine's GEMM and memory
limits), ``timing`` (timed calls and statistics), ``coldstart`` (fresh-process start-up and
memory), ``run`` (the orchestration), ``recommend`` (which file to ship), ``folder`` (the
command: a request in, bench.json merged), ``report`` (a BenchResult as tables and pictures).

This package imports no heavy library at import time: the cold-start child imports it.
"""

from edgecnn.bench.ceiling import Ceiling, machine_ceiling
from edgecnn.bench.coldstart import cold_start, peak_rss_mb
from edgecnn.bench.config import BENCH_CSV, BENCH_JSON, BENCH_MD, BENCH_PNG, BenchConfig, BenchResult, with_options
from edgecnn.bench.graph import onnx_graph_ops, tflite_delegation
from edgecnn.bench.macs import count_keras, count_onnx, count_tflite
from edgecnn.bench.recommend import recommend
from edgecnn.bench.run import run_bench
from edgecnn.bench.subjects import (
    MODEL_SUFFIXES, Subject, check_model_path, default_paths, load_subject, make_subjects, manifest_paths,
    read_accuracies, runtime_label, runtime_options,
)
from edgecnn.bench.timing import TIMING_METHOD, summarize, time_rounds, timed_calls, warm_up

__all__ = [
    "BENCH_CSV", "BENCH_JSON", "BENCH_MD", "BENCH_PNG", "MODEL_SUFFIXES", "TIMING_METHOD",
    "BenchConfig", "BenchResult", "Ceiling", "Subject",
    "check_model_path", "cold_start", "count_keras", "count_onnx", "count_tflite", "default_paths",
    "load_subject", "machine_ceiling", "make_subjects", "manifest_paths", "onnx_graph_ops", "peak_rss_mb",
    "read_accuracies", "recommend", "run_bench", "runtime_label", "runtime_options", "summarize",
    "tflite_delegation", "time_rounds", "timed_calls", "warm_up", "with_options",
]
