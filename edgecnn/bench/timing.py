"""Timing: the calls timed, warm-up, interleaved rounds, and the statistics of a sample.

What one timed call is:

* TFLite / ONNX (``p50_us`` …): ``Predictor.run(x)`` on real test images already in the
  runtime's input dtype (int8 models get pre-quantized images): ``set_tensor``/``invoke``/
  ``get_tensor`` for LiteRT, one ``session.run`` with an input dict for ONNX Runtime.
* TFLite / ONNX end to end (``e2e_p50_us`` …): from uint8 pixels, as a camera or an image
  file gives them, to float32 probabilities, i.e. ``finish(run(prepare(pixels)))``: input
  checks, the preprocessing, int8 input quantization and output dequantization are all
  inside the timed call, for every model alike.
* Keras: ``model(x, training=False)`` inside a ``tf.function`` traced once per batch size,
  on a float32 tensor already in memory, plus ``.numpy()`` of the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edgecnn.bench.subjects import Subject

TIMING_METHOD = {
    "clock": "time.perf_counter_ns around each single call",
    "tflite": "Predictor.run(x): set_tensor / invoke / get_tensor, x already in the input dtype",
    "onnx": "Predictor.run(x): session.run([output], {input: x}), x already in the input dtype",
    "e2e": "finish(run(prepare(pixels))): uint8 pixels in, float32 probabilities out; input checks, "
    "preprocessing, int8 input quantization and output dequantization inside the timed call",
    "keras": "tf.function(lambda x: model(x, training=False)) traced once per batch, "
    "on a float32 tf.constant, then .numpy()",
    "throughput": "images/s = batch / p50",
    "order": "the files interleaved in rounds, all loaded once in one process, an untimed pause between "
    "one file's turn and the next's (spinning worker threads park); the Keras baseline first, in its own process",
}


def timed_calls(subject: Subject, images: np.ndarray) -> tuple[Callable[[], Any], Callable[[], Any] | None]:
    """(runtime call, end-to-end call or None) on ``images`` (uint8 pixels, N x H x W [x C]), inputs pre-made."""
    from edgecnn.data import preprocess

    if subject.is_baseline:
        import tensorflow as tf

        model = subject.handle
        forward = tf.function(lambda t: model(t, training=False))
        xt = tf.constant(preprocess(images))
        return (lambda: forward(xt).numpy()), None
    predictor = subject.handle
    run, prepare, finish = predictor.run, predictor.prepare, predictor.finish
    x = prepare(images)  # the runtime's dtype, quantized with the model's own scale
    run(x)  # TFLite resizes its input here, outside any timed call
    return (lambda: run(x)), (lambda: finish(run(prepare(images))))


def warm_up(call: Callable[[], Any], seconds: float, calls: int) -> float:
    """Call until both ``calls`` calls and ``seconds`` have passed; the median late call in s."""
    clock = time.perf_counter_ns
    times: list[int] = []
    deadline = clock() + int(seconds * 1e9)
    while len(times) < calls or clock() < deadline:
        t0 = clock()
        call()
        times.append(clock() - t0)
    return float(np.median(times[len(times) // 2:])) / 1e9


def time_rounds(calls: Sequence[Callable[[], Any]], rounds: int, *, runs: int | None = None,
                seconds: float | None = None, min_runs: int = 1,
                round_ends: list[list[int]] | None = None,
                settle_after: Sequence[float] | None = None,
                groups: Sequence[object] | None = None) -> list[np.ndarray]:
    """Time each call ``runs`` times, or for ``seconds`` of timed calls, in interleaved rounds; ns per call.

    Each round gives every call ``runs / rounds`` calls or ``seconds / rounds`` of timed calls
    in turn, so drift of a shared machine hits them all alike. With ``seconds``, the last round
    tops a call up to ``min_runs`` samples. ``round_ends``, when given, receives per call the
    sample count at the end of each round (for :func:`round_spread`). ``settle_after[i]`` seconds
    pass, untimed, after call i's turn when the next call belongs to another of ``groups`` (another
    runtime instance): a runtime whose worker threads spin after their last task (ONNX Runtime with
    2+ threads, spinning on) would otherwise take CPU from the next runtime's calls.
    """
    if (runs is None) == (seconds is None):
        raise ValueError("give runs or seconds")
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in calls]
    per_round = math.ceil(runs / rounds) if runs else 0
    slice_ns = int(seconds * 1e9 / rounds) if seconds else 0
    ends: list[list[int]] = [[] for _ in calls]
    if round_ends is not None:
        round_ends[:] = ends
    pauses = _pauses(len(calls), settle_after, groups)
    for r in range(rounds):
        for call, out, end, pause in zip(calls, samples, ends, pauses):
            append = out.append
            if runs:
                for _ in range(min(per_round, runs - len(out))):
                    t0 = clock()
                    call()
                    append(clock() - t0)
                end.append(len(out))
                if pause:
                    time.sleep(pause)
                continue
            spent, floor = 0, min_runs if r == rounds - 1 else 0
            while spent < slice_ns or len(out) < floor:
                t0 = clock()
                call()
                elapsed = clock() - t0
                append(elapsed)
                spent += elapsed
            end.append(len(out))
            if pause:
                time.sleep(pause)
    return [np.asarray(s, dtype=np.int64) for s in samples]


def _pauses(n: int, settle_after: Sequence[float] | None, groups: Sequence[object] | None) -> list[float]:
    """The untimed pause after each call's turn: its settle time when the next turn is another group's."""
    if not settle_after or n < 2:
        return [0.0] * n
    groups = list(groups) if groups is not None else list(range(n))
    return [settle_after[i] if groups[i] != groups[(i + 1) % n] else 0.0 for i in range(n)]


def round_spread(ns: np.ndarray, ends: Sequence[int]) -> float | None:
    """The run's own noise for one call: half the interquartile range of its per-round medians,
    over their median.

    The rounds interleave every runtime, so a difference between two files smaller than their
    spreads together is not one a rerun would keep (a 0.3 % throughput difference once read as
    "SLOWER"). The quartiles, not the range: on a busy machine one round the others stalled
    would otherwise make every difference "noise". None with fewer than two non-empty rounds.
    """
    starts = [0, *ends[:-1]]
    medians = [float(np.median(ns[a:b])) for a, b in zip(starts, ends) if b > a]
    if len(medians) < 2:
        return None
    q25, q50, q75 = np.percentile(medians, [25, 50, 75])
    return float(q75 - q25) / 2 / float(q50)


def summarize(ns: np.ndarray, batch: int) -> dict[str, float]:
    """Per-call statistics in µs, and images/s from the median."""
    us = ns.astype(np.float64) / 1e3
    p50, p90, p99 = np.percentile(us, [50, 90, 99])
    return {
        "p50_us": float(p50), "p90_us": float(p90), "p99_us": float(p99), "min_us": float(us.min()),
        "mean_us": float(us.mean()), "std_us": float(us.std()), "runs": int(us.size),
        "throughput": float(batch * 1e6 / p50),
    }
