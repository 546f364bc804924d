"""What a bench run is asked to do (BenchConfig) and what it gives back (BenchResult)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgecnn.runtime.base import RuntimeOptions

from edgecnn.names import BENCH_CSV, BENCH_JSON, BENCH_MD, BENCH_PNG  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and for how long; the CLI options map onto these one to one."""

    batch_sizes: tuple[int, ...] = (1, 32, 256)  # one image (latency) and two bulk sizes (throughput)
    threads: tuple[int, ...] = (1,)  # one thread: the honest per-core figure; a list sweeps
    seconds: float = 1.0  # seconds of timed calls per runtime and configuration (unless runs is set)
    runs: int | None = None  # a fixed number of timed calls per runtime and configuration instead
    min_runs: int = 10  # --seconds never times fewer calls than this (percentiles need samples)
    warmup_seconds: float = 0.5  # warm-up per runtime and configuration: caches, allocators, traces …
    warmup_calls: int = 5  # … and at least this many calls
    rounds: int = 10  # the timed calls are split into this many interleaved rounds
    # Untimed pause after the turn of a runtime whose workers spin (ONNX Runtime, 2+ threads, spinning
    # on), before another runtime's turn: its workers kept 0.04-1 core busy just after its last call
    # and 0.1-0.2 core up to 80 ms later here (benchmarks/results/harness_overhead.txt, --spin).
    settle_seconds: float = 0.05
    xnnpack: tuple[bool, ...] = (True,)  # TFLite with XNNPACK (LiteRT's default); (True, False) sweeps
    keras: bool = True  # time .keras files (the baseline); False drops them from the run
    cold_start: bool = True  # cold start + peak RSS, one fresh subprocess per model
    # ONNX Runtime settings: the runtime's own defaults, chosen by benchmarks/onnx_choice.py.
    ort_optimization: str = RuntimeOptions.ort_optimization
    ort_spinning: bool | None = RuntimeOptions.ort_spinning  # None: on with 2+ threads
    unsafe: bool = False  # load .keras baselines that hold Python code (only for trusted files)
    # The machine's limits (GEMM GMAC/s per precision and thread count, memory bandwidth):
    # "cached" measures once per machine and reuses the figure, "remeasure" measures again, "off" skips.
    ceiling: str = "cached"


@dataclass
class BenchResult:
    """Everything a run measured: one row per subject x batch x threads, and the context."""

    rows: list[dict[str, Any]]
    subjects: list[dict[str, Any]]
    settings: dict[str, Any]
    machine: dict[str, Any]
    versions: dict[str, str]
    recommendation: dict[str, Any]
    samples: dict[tuple[str, int, int], np.ndarray] = field(default_factory=dict, repr=False)  # µs per call
    ceiling: dict[str, Any] = field(default_factory=dict)  # ceiling.Ceiling.to_json(), {} when not measured
    load: dict[str, Any] = field(default_factory=dict)  # bench.load.merge of the rows' loads: was it busy?

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings, "machine": self.machine, "versions": self.versions,
            "ceiling": self.ceiling, "load": self.load, "recommendation": self.recommendation,
            "subjects": self.subjects,
            "results": self.rows,
        }


def with_options(config: BenchConfig, **changes: Any) -> BenchConfig:
    """``config`` with the non-None ``changes`` applied (for the CLI)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
