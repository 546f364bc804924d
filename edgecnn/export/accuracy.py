"""Accuracy-controlled int8: calibrate, compare with Keras, and repair until the tolerance holds.

Backend-agnostic: a backend (``tflite_accuracy``, ``onnx_accuracy``) builds a file's bytes from a
setting (calibration images, method, per-channel) and a set of layers kept in float32, names its
cheap levers and ranks its layers. The loop here decides:

1. the file as asked (``--calibration-samples``, the format's defaults);
2. the cheap levers, in the backend's order (more calibration images; another calibration method;
   per-channel weights), each kept only if it raised agreement;
3. unless the target needs full integer (the C array, microcontrollers): the layers ranked by the
   int8 error each one adds at the output, and the first 1, 2, 3, 4, 6, 8, … of them kept in
   float32, up to ``max_float_layers``.

It stops at the first file that meets the tolerance: top-1 agreement with Keras >= the int8
``min_agreement`` of ``parity.DEFAULT_TOLERANCES`` and an accuracy drop <= ``max_drop`` points.
When the file as asked misses it and its input is int8, the loop also measures the input floor
(``input_floor``): how many of Keras' own answers survive the int8 input grid. Float32 layers do
not lift a file above that (bar errors that cancel by chance), so a floor under the tolerance is
named in the one-line statement.
Every file is judged on a held-out part of the *training* split (never the calibration images,
never the test split), so that ``verify``'s verdict on the test split stays an independent check.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

log = logging.getLogger(__name__)

JUDGE_FRACTION = 0.25  # of the training split, per class, held out to judge every step
JUDGE_MAX = 1000  # more images cost time, not confidence: 768 without a miss establish 99.5 % (Wilson)
RANK_IMAGES = 200  # judge images the ranking runs on (one file per layer: 65 for MobileNetV2)
DEFAULT_MAX_FLOAT_LAYERS = 16  # the budget: at most this many layers kept in float32
P50_CALLS = 30  # batch-1 calls timed per step (after 5 untimed): a step's p50, not a benchmark


@dataclass(frozen=True)
class Step:
    """One file the loop built and judged."""

    change: str  # what changed against the previous step, in words
    agreement: float  # top-1 agreement with Keras on the judge images
    accuracy: float | None  # accuracy on the judge images (None: unlabelled data)
    drop: float | None  # Keras accuracy minus the file's, in points
    bytes: int
    p50_us: float  # median batch-1 latency, one thread, in this process
    float_layers: tuple[str, ...] = ()
    label: str = "int8"
    passed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"change": self.change, "agreement": round(self.agreement, 6),
                "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
                "drop": None if self.drop is None else round(self.drop, 4), "bytes": self.bytes,
                "p50_us": round(self.p50_us, 1), "float_layers": list(self.float_layers), "label": self.label,
                "passed": self.passed}


@dataclass(frozen=True)
class Outcome:
    """What the loop reached: every step, the file kept and one line saying it."""

    steps: tuple[Step, ...]
    best: int  # index of the file kept (the first that passed, else the highest agreement)
    met: bool
    statement: str  # one line: met at step k, or cannot within the budget and what the best reached
    judge: str  # which images judged the steps
    setting: dict[str, Any] = field(default_factory=dict)  # the kept file's setting (calibration, method)
    nodes: tuple[str, ...] = ()  # the kept file's float32 layers as the backend names them
    layers: int = 0  # layers that are int8 in the full-integer file
    input_floor: float | None = None  # Keras' agreement with itself on the int8 input grid (None: not measured)

    def to_json(self) -> dict[str, Any]:
        floor = None if self.input_floor is None else round(self.input_floor, 6)
        return {"met": self.met, "statement": self.statement, "judge": self.judge, "best_step": self.best,
                "input_floor": floor, "steps": [s.to_json() for s in self.steps]}


class Backend(Protocol):
    """What the loop needs from a format."""

    def initial(self) -> dict[str, Any]:
        """The setting of the file as asked."""

    def levers(self, setting: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The cheap levers open from ``setting``, in order: (what changes, the setting's changed keys)."""

    def build(self, setting: dict[str, Any], float_layers: tuple[str, ...], record: dict[str, Any]) -> bytes:
        """The file's bytes: ``setting``, ``float_layers`` in float32, ``record`` in its metadata."""

    def layers(self, setting: dict[str, Any]) -> list[str]:
        """Every layer (node) that is int8 in the full-integer file."""

    def display(self, layer: str) -> str:
        """A layer's name for people (the Keras layer where known)."""

    def label(self, setting: dict[str, Any], float_layers: tuple[str, ...]) -> str:
        """What the file is: ``int8`` or ``int8, 3 of 65 layers float32``."""

    def float_count(self, setting: dict[str, Any], float_layers: tuple[str, ...]) -> int:
        """How many layers the file keeps float32: ``float_layers`` and any the format adds (a rule's)."""


@dataclass(frozen=True)
class Judge:
    """The held-out training images every step is judged on, with Keras' probabilities."""

    images: np.ndarray
    labels: np.ndarray | None
    keras_probs: np.ndarray
    text: str

    @property
    def keras_accuracy(self) -> float | None:
        return None if self.labels is None else float((self.keras_probs.argmax(1) == self.labels).mean())


def holdout(data, seed: int) -> tuple[Any, Any, np.ndarray | None]:
    """(data with the judge images removed from its training split, judge images, their labels).

    A seeded per-class ``JUDGE_FRACTION`` of the training images (at most ``JUDGE_MAX``): the
    calibration images are drawn from the rest.
    """
    from edgecnn.data.split import take

    n = len(data.x_train)
    rng = np.random.default_rng(seed + 7919)  # not the calibration draw's stream
    judge = np.zeros(n, bool)
    want = min(JUDGE_MAX, int(round(n * JUDGE_FRACTION)))
    groups = [np.arange(n)] if data.y_train is None else [np.flatnonzero(data.y_train == k)
                                                         for k in np.unique(data.y_train)]
    for idx in groups:
        idx = rng.permutation(idx)
        judge[idx[: int(round(want * len(idx) / n))]] = True
    y = data.y_train
    rest = replace(data, x_train=take(data.x_train, ~judge), y_train=None if y is None else y[~judge])
    images = take(data.x_train, judge)
    images = np.asarray(images[:] if hasattr(images, "subset") else images)
    return rest, images, None if y is None else y[judge]


def _keras_outputs(model, images: np.ndarray, prepare: Callable[[np.ndarray], np.ndarray], classes: int) -> np.ndarray:
    """Keras' outputs on uint8 ``images``, each batch ``prepare``d to the model's input when it is
    predicted: 1,000 judge images of 224x224x3 would be 0.6 GB as float32 at once."""
    from edgecnn.data.stream import batch_size_for

    step = batch_size_for(images.shape[1:], 100)
    batches = [np.asarray(model.predict(prepare(images[i: i + step]), batch_size=step, verbose=0), np.float64)
               for i in range(0, len(images), step)]
    return np.concatenate(batches) if batches else np.zeros((0, classes))


def judge_set(model, spec, data, seed: int) -> tuple[Any, Judge]:
    """The calibration data (training split less the judge images) and the :class:`Judge`."""
    rest, images, labels = holdout(data, seed)
    probs = _keras_outputs(model, images, spec.preprocessing.apply, spec.num_classes)
    if spec.head == "logits":
        e = np.exp(probs - probs.max(1, keepdims=True))
        probs = e / e.sum(1, keepdims=True)
    text = (f"judged on {len(images):,} held-out training images (seeded, {JUDGE_FRACTION:.0%} per class; not the "
            "test split, so verify stays an independent check; repairs calibrate on the other training images)")
    return rest, Judge(images, labels, probs, text)


def probabilities(data: bytes, suffix: str, images: np.ndarray, timed: bool = True) -> tuple[np.ndarray, float, Any]:
    """The file's probabilities on ``images``, its batch-1 p50 (µs, one thread; 0 unless ``timed``), predictor."""
    from edgecnn.data.stream import batch_size_for
    from edgecnn.runtime import RuntimeOptions, load

    # Batches capped by input size: a runtime's activations grow with the batch, and the judge set with
    # the data set (up to JUDGE_MAX). Measured on a 224x224x3 MobileNetV2, 1,000 photos: float32 ONNX
    # peaked at 3.10 GiB in batches of 250 and 0.66 GiB in the capped 27s (TFLite 1.89 / 0.39 GiB).
    step = batch_size_for(images.shape[1:], 250)
    with tempfile.TemporaryDirectory(prefix="edgecnn-accuracy-") as tmp:
        path = Path(tmp) / f"candidate{suffix}"
        path.write_bytes(data)
        predictor = load(path, RuntimeOptions(num_threads=1))
        probs = np.concatenate([predictor.predict(images[i: i + step]) for i in range(0, len(images), step)])
        one = images[:1]
        for _ in range(5 if timed else 0):
            predictor.predict(one)
        times = []
        for _ in range(P50_CALLS if timed else 1):
            started = time.perf_counter_ns()
            predictor.predict(one)
            times.append(time.perf_counter_ns() - started)
    return probs, float(np.median(times)) / 1e3, predictor


def input_floor(model, judge: Judge, predictor) -> float | None:
    """Keras' top-1 agreement with its own answers on the judge images as an int8 input carries them
    (quantized to the file's input scale and back): what a file with that input can be expected to
    reach at best, whatever stays float32. ``x / 127.5 - 1`` falls half-way between int8 steps, so
    every pixel moves by half a step; a model that this flips cannot be repaired by float layers.
    None for a float input or an input Keras does not take as it is (a grey input the graph widens
    to RGB).
    """
    from edgecnn.runtime.base import dequantize

    spec = predictor.input_spec
    if not spec.quantized or not len(judge.images):
        return None
    if tuple(predictor.prepare(judge.images[:1]).shape[1:]) != tuple(model.input_shape[1:]):
        return None
    outputs = _keras_outputs(model, judge.images, lambda batch: dequantize(predictor.prepare(batch), spec),
                             judge.keras_probs.shape[1])
    return float((outputs.argmax(1) == judge.keras_probs.argmax(1)).mean())


def schedule(budget: int, available: int) -> list[int]:
    """How many ranked layers each repair step keeps in float32: 1, 2, 3, 4, 6, 8, 12, 16, …"""
    counts, k = [], 1
    while k <= min(budget, available):
        counts.append(k)
        k = k + 1 if k < 4 else k + k // 2
    if counts and counts[-1] < min(budget, available):
        counts.append(min(budget, available))
    return counts


@dataclass(frozen=True)
class Control:
    """What the loop aims at and may spend."""

    max_drop: float  # accuracy drop allowed, in points
    min_agreement: float  # top-1 agreement with Keras (the int8 verify tolerance)
    max_float_layers: int = DEFAULT_MAX_FLOAT_LAYERS
    full_integer: bool = False  # the C array / microcontrollers: no float layers, only the cheap levers
    suffix: str = ".tflite"


# Who prints the steps as they are judged (export's and run's terminal): set by ``watching``.
_WATCHER: ContextVar[Callable[[str], None] | None] = ContextVar("edgecnn_int8_watcher", default=None)


@contextmanager
def watching(echo: Callable[[str], None]) -> Iterator[None]:
    """Within the block, every loop step is handed to ``echo`` as one line the moment it is judged
    (the loop takes minutes on a real network: the user sees each step, not only the table at the end)."""
    token = _WATCHER.set(echo)
    try:
        yield
    finally:
        _WATCHER.reset(token)


def step_line(index: int, step: Step, suffix: str) -> str:
    """``int8 ONNX step 2, + float32: conv_5: agreement 99.60 %, accuracy 95.10 %, 312.4 KiB, p50 760 µs``."""
    from edgecnn.formatting import format_kib

    accuracy = "" if step.accuracy is None else f", accuracy {100 * step.accuracy:.2f} %"
    kind = {".onnx": "ONNX", ".tflite": "TFLite"}.get(suffix, suffix)
    return (f"int8 {kind} step {index}, {step.change}: agreement {100 * step.agreement:.2f} %{accuracy}, "
            f"{format_kib(step.bytes, 1)}, p50 {step.p50_us:.0f} µs{' (meets the tolerance)' if step.passed else ''}")


class _Run:
    """One loop's state: the judge, the steps so far, the best file."""

    def __init__(self, backend: Backend, judge: Judge, control: Control, report: Callable[[Step], None],
                 floor: Callable[[Any], float | None] | None = None):
        self.backend, self.judge, self.control, self.report = backend, judge, control, report
        self.measure_floor = floor
        self.steps: list[Step] = []
        self.settings: list[dict[str, Any]] = []
        self.nodes: list[tuple[str, ...]] = []  # each step's float layers as the backend names them
        self.total = 0
        self.floor: float | None = None  # measured on step 0's file when it misses

    def try_file(self, change: str, setting: dict[str, Any], float_layers: tuple[str, ...]) -> Step:
        from edgecnn.parity import Tolerance, compare

        data = self.backend.build(setting, float_layers, {})
        probs, p50, predictor = probabilities(data, self.control.suffix, self.judge.images)
        tolerance = Tolerance(min_agreement=self.control.min_agreement, max_accuracy_drop=self.control.max_drop)
        parity = compare(probs, self.judge.keras_probs, self.judge.labels, "int8", tolerance,
                         self.judge.keras_accuracy)
        if not self.steps and not parity.passed and self.measure_floor is not None:
            self.floor = self.measure_floor(predictor)
        drop = None if parity.accuracy_delta is None else -parity.accuracy_delta
        shown = tuple(self.backend.display(n) for n in float_layers)
        label = self.backend.label(setting, tuple(float_layers))
        if self.backend.float_count(setting, tuple(float_layers)) > (self.backend.float_count(setting, ())
                                                                      + len(float_layers)):
            # the file keeps more layers float32 than its rule and the step asked (ONNX Runtime leaves a pool
            # float32 when the layer before it is): the step says what the file is, not only what changed
            change = f"{change} (the file: {label})"
        step = Step(change, parity.agreement, parity.accuracy, drop, len(data), p50, shown, label, parity.passed)
        line = step_line(len(self.steps), step, self.control.suffix)
        log.info("%s", line)
        watcher = _WATCHER.get()
        if watcher is not None:
            watcher(line)
        self.steps.append(step)
        self.settings.append(setting)
        self.nodes.append(tuple(float_layers))
        self.report(step)
        return step

    def best(self) -> int:
        passed = [i for i, s in enumerate(self.steps) if s.passed]
        if passed:
            return passed[0]
        return max(range(len(self.steps)), key=lambda i: (self.steps[i].agreement, -len(self.steps[i].float_layers)))


def control_loop(backend: Backend, judge: Judge, control: Control,
                 report: Callable[[Step], None] = lambda step: None,
                 rank: Callable[[dict[str, Any]], list[tuple[tuple[str, ...], float]]] | None = None,
                 floor: Callable[[Any], float | None] | None = None) -> Outcome:
    """Run the repair loop of the module docstring; ``report`` sees each step as it is judged.

    ``rank(setting)`` orders groups of layers by the int8 error each group adds (most harmful
    first; a group is what keeps one tensor in float32: its producer and its consumers); without
    it (or with ``control.full_integer``) only the cheap levers apply. ``floor(predictor)`` (for
    example ``input_floor``) measures, once step 0 misses, the agreement no float layer can pass.
    """
    run = _Run(backend, judge, control, report, floor)
    setting = backend.initial()
    run.total = len(backend.layers(setting))
    step = run.try_file(_describe(setting), setting, ())
    for change, changes in backend.levers(setting):
        if step.passed:
            break
        candidate = {**setting, **changes, "plain": False}  # a lever's file is no longer the plain export
        tried = run.try_file(change, candidate, ())
        if tried.agreement >= step.agreement:  # kept: later steps build on it
            setting, step = candidate, tried
    if not step.passed and rank is not None and not control.full_integer:
        groups = [group for group, _ in rank(setting)]
        kept: tuple[str, ...] = ()
        for k in schedule(len(groups), len(groups)):
            wanted = tuple(dict.fromkeys([*kept, *(name for group in groups[:k] for name in group)]))
            if len(wanted) > control.max_float_layers:
                break
            added = ", ".join(backend.display(name) for name in wanted if name not in kept)
            step, kept = run.try_file(f"+ float32: {added}", setting, wanted), wanted
            if step.passed:
                break
    best = run.best()
    return Outcome(tuple(run.steps), best, run.steps[best].passed, _statement(run, best), judge.text,
                   run.settings[best], run.nodes[best], run.total, run.floor)


def _describe(setting: dict[str, Any]) -> str:
    parts = [f"{setting['samples']} calibration images"]  # step 0: the file export writes without --max-drop
    if setting.get("method"):
        parts.append(f"{setting['method']} calibration")
    if "per_channel" in setting:
        parts.append("per-channel weights" if setting["per_channel"] else "per-tensor weights")
    return "as asked: " + ", ".join(parts)


def _statement(run: _Run, best: int) -> str:
    """One line: where the tolerance was met, or that it cannot be within the budget and the best file."""
    step, control = run.steps[best], run.control
    target = f"agreement >= {control.min_agreement:.2%}, drop <= {control.max_drop:g} points"
    reached = (f"agreement {step.agreement:.2%}" + ("" if step.drop is None else f", drop {step.drop:.2f} points")
               + f" ({step.label})")
    if step.passed:
        return f"int8 meets {target} at step {best}: {reached}{_judge_caveat(run, step)}"
    floor = ""
    if run.floor is not None and run.floor < control.min_agreement:
        floor = (f"; Keras itself keeps only {run.floor:.2%} of its answers on the int8 input grid (the file's "
                 "input scale), so no float32 layer can reach the agreement: retrain with noise in the "
                 "input, or judge with a lower verify --min-agreement")
    if control.full_integer:
        return (f"int8 cannot meet {target} with every layer int8 (full integer, as a microcontroller needs) "
                f"after {len(run.steps)} steps; best: {reached}{floor}")
    return (f"int8 cannot meet {target} within {control.max_float_layers} float32 layers; "
            f"kept the best: {reached}{floor}")


def _judge_caveat(run: _Run, step: Step) -> str:
    """When the judge images are too few to establish the agreement, say so: the loop stops on the
    point value, and a few hundred judge images cannot show 99.5 % (500 with 1 disagreement: 95 %
    interval 98.9-100 %), so verify on the test split is the verdict (it can still be INCONCLUSIVE)."""
    from edgecnn.verdicts import interval_text, wilson_interval

    n = len(run.judge.images)
    low, high = wilson_interval(int(round(step.agreement * n)), n)
    if low >= run.control.min_agreement:
        return ""
    interval = interval_text(low, high, run.control.min_agreement)  # 99.48, not 99.5, below a 99.5 % tolerance
    return (f"; {n:,} judge images cannot establish it (95 % interval {interval} %): "
            "verify's verdict on the test split decides")


def quantization_record(outcome: Outcome) -> dict[str, Any]:
    """The record of the kept file, for its metadata and the manifest (``quantization``)."""
    step = outcome.steps[outcome.best]
    return {"label": step.label, "layers": outcome.layers, "float_layers": list(step.float_layers),
            "accuracy_control": outcome.to_json()}


def step_lines(record: dict[str, Any], table: bool = True) -> list[str]:
    """The loop's steps as printed by ``export``/``run``: a table (``table``; without it the steps were
    shown as they came, ``watching``), the judge and the one-line statement."""
    from edgecnn.formatting import format_kib

    control = record.get("accuracy_control") or {}
    rows = [("step", "what changed", "agreement", "accuracy", "size", "p50")]
    for i, s in enumerate(control.get("steps", [])):
        accuracy = "-" if s.get("accuracy") is None else f"{100 * s['accuracy']:.2f} %"
        rows.append((str(i), s["change"], f"{100 * s['agreement']:.2f} %", accuracy, format_kib(s["bytes"], 1),
                     f"{s['p50_us']:.0f} µs"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) if c == 1 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths))) for r in rows]
    return [*(lines if table else []), f"({control.get('judge', '')}; p50: batch 1, one thread, in the export process)",
            str(control.get("statement", ""))]
