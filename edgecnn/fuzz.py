"""Seeded corruption of model files, and a runner that survives native crashes.

A mutated file goes through ``edgecnn.runtime.load`` + one ``predict`` in a *child*
process, so a segfault, an abort or a hang inside a runtime is recorded as an outcome
instead of taking the caller down. Children run cases in batches (one process start
per batch, not per case) and report each case on its own line; when a child dies or
stalls, the case it was on is the culprit and a fresh child resumes after it.

Used by ``tests/test_fuzz.py`` (a few hundred cases) and ``benchmarks/fuzz.py``
(thousands). Imports only numpy and edgecnn's runtime: no TensorFlow.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ("truncate", "bitflip", "overwrite")


def mutate(data: bytes, seed: int, index: int) -> tuple[str, bytes]:
    """The ``index``-th seeded mutation of ``data``: (kind, mutated bytes).

    Kinds cycle truncate / bitflip / overwrite. Half the bit flips and overwrites land in
    the first 256 bytes, where the flatbuffer root table / protobuf header live and a
    single wrong byte sends a parser furthest astray.
    """
    rng = np.random.default_rng([seed, index])
    kind = KINDS[index % len(KINDS)]
    buf = bytearray(data)
    n = len(buf)

    def position() -> int:
        return int(rng.integers(0, min(n, 256))) if rng.random() < 0.5 else int(rng.integers(0, n))

    if kind == "truncate":
        return kind, bytes(buf[: int(rng.integers(0, n))])
    if kind == "bitflip":
        for _ in range(int(rng.integers(1, 9))):
            pos = position()
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        return kind, bytes(buf)
    start = position()
    length = min(int(rng.integers(1, 65)), n - start)
    fill = rng.choice(["random", "zero", "ff"])
    if fill == "random":
        chunk = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    else:
        chunk = (b"\x00" if fill == "zero" else b"\xff") * length
    buf[start: start + length] = chunk
    return kind, bytes(buf)


@dataclass
class FuzzResult:
    """Outcome counts of one fuzz run, and the cases that went wrong."""

    tried: int = 0
    counts: Counter = field(default_factory=Counter)
    by_kind: dict[str, Counter] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)  # crash / hang / untyped / bad output cases

    def add(self, case: dict) -> None:
        self.tried += 1
        self.counts[case["outcome"]] += 1
        self.by_kind.setdefault(case["kind"], Counter())[case["outcome"]] += 1
        if case["outcome"] not in ("ok", "typed_error"):
            self.failures.append(case)

    def merge(self, other: FuzzResult) -> None:
        self.tried += other.tried
        self.counts.update(other.counts)
        for kind, counter in other.by_kind.items():
            self.by_kind.setdefault(kind, Counter()).update(counter)
        self.failures.extend(other.failures)


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"exit {returncode}"


def fuzz_file(
    source: Path, seed: int, count: int, *, batch: int = 100, timeout: float = 20.0,
    workdir: Path | None = None, python: str = sys.executable,
) -> FuzzResult:
    """Run ``count`` seeded mutations of ``source`` through load + predict in child processes.

    ``timeout`` bounds each case (a child that reports nothing for that long is killed and
    its case counted as a hang); the first case of a child also pays for its start-up.
    """
    source = Path(source)
    result = FuzzResult()
    with tempfile.TemporaryDirectory(prefix="edgecnn-fuzz-", dir=workdir) as tmp:
        next_index = 0
        while next_index < count:
            stop = min(count, next_index + batch)
            cmd = [python, "-m", "edgecnn.fuzz", str(source), str(seed), str(next_index), str(stop), tmp]
            # stderr to a file: runtimes log every refused model, and a full pipe would stall the child.
            with open(Path(tmp) / "stderr.txt", "w+b") as err:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=os.environ.copy())
                next_index = _collect(proc, next_index, stop, timeout, result, source, err)
    return result


def _collect(
    proc: subprocess.Popen, index: int, stop: int, timeout: float, result: FuzzResult, source: Path, err,
    startup: float = 30.0,
) -> int:
    """Read one child's per-case lines; return the index the next child starts at.

    ``startup`` is extra time for the first case (interpreter start and runtime imports).
    """
    stdout = proc.stdout
    assert stdout is not None  # started with stdout=PIPE
    fd = stdout.fileno()
    pending = b""
    deadline = time.monotonic() + timeout + startup
    while index < stop:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            proc.kill()
            proc.wait()
            stdout.close()
            result.add({"source": source.name, "index": index, "kind": KINDS[index % len(KINDS)],
                        "outcome": "hang", "detail": f"no answer within {timeout:.0f} s"})
            return index + 1
        chunk = os.read(fd, 65536)
        if not chunk:  # the child died on case `index`
            proc.wait()
            stdout.close()
            err.seek(0)
            stderr = err.read().decode(errors="replace").strip().splitlines()
            result.add({"source": source.name, "index": index, "kind": KINDS[index % len(KINDS)],
                        "outcome": "crash",
                        "detail": f"{_signal_name(proc.returncode)}: {stderr[-1] if stderr else ''}"})
            return index + 1
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            case = json.loads(line)
            result.add(case)
            index = case["index"] + 1
            deadline = time.monotonic() + timeout
    proc.wait()
    stdout.close()
    return index


def check_predictor(predictor) -> str:
    """'' if one predict gives finite probabilities of shape (1, K), else what is wrong."""
    probs = predictor.predict(np.full((1, *predictor.input_shape), 128, np.uint8))
    if probs.shape != (1, predictor.num_classes) or probs.dtype != np.float32:
        return f"predict gave {probs.dtype}{probs.shape}"
    if not np.isfinite(probs).all():
        return "predict gave non-finite values"
    return ""


def run_case(source_bytes: bytes, name: str, suffix: str, seed: int, index: int, tmp: Path) -> dict:
    """Mutate, write, load and predict one case in this process; classify the outcome."""
    from edgecnn import runtime
    from edgecnn.errors import InputError, ModelError

    kind, data = mutate(source_bytes, seed, index)
    path = tmp / f"case{index}{suffix}"
    path.write_bytes(data)
    case = {"source": name, "index": index, "kind": kind}
    try:
        problem = check_predictor(runtime.load(path))
        case.update(outcome="bad_output" if problem else "ok", detail=problem)
    except (ModelError, InputError) as exc:
        case.update(outcome="typed_error", detail=str(exc).replace(str(path), "<file>")[:300])
    except Exception as exc:  # noqa: BLE001 - an untyped error is a finding, not a crash
        case.update(outcome="untyped_error", detail=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        path.unlink(missing_ok=True)
    return case


def _worker(argv: list[str]) -> None:
    source, seed, start, stop, tmp = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3]), Path(argv[4])
    data = source.read_bytes()
    # Runtimes print to fd 1 from native code: keep the report channel private, send fd 1 to stderr.
    report = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for index in range(start, stop):
        case = run_case(data, source.name, source.suffix, seed, index, tmp)
        report.write(json.dumps(case) + "\n")
        report.flush()


if __name__ == "__main__":
    _worker(sys.argv[1:])
