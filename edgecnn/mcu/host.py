"""The int8 model in the real TensorFlow Lite Micro interpreter on this machine (PyPI ``tflite-micro``).

``run`` gives the int8 outputs for int8 inputs; ``smallest_arena`` asks the interpreter itself
which arena is the smallest that allocates and invokes (bisection on ``arena_size``), rather
than trusting edgecnn's own planner (:mod:`edgecnn.tflm`). Figures are for this 64-bit host:
TFLM's bookkeeping structs hold pointers, so a 32-bit Cortex-M needs less (see ``arena_used``
of the firmware run).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.errors import PlatformError

MAX_ARENA = 64 * 1024 * 1024


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise PlatformError("tflite-micro not installed: pip install tflite-micro "
                            "(the TFLM Python interpreter)") from exc
    return runtime


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence C++ writes to fd 2 (TFLM prints every failed allocation while bisecting)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@dataclass(frozen=True)
class TensorInfo:
    shape: tuple[int, ...]
    scale: float
    zero_point: int


def tflm_bytes(path: str | Path) -> bytes:
    """The flatbuffer TFLM gets for an exported .tflite: its 1-channel convolutions back in the
    converter's form (the column pairs that speed up XNNPACK only cost arena and MACs on a
    microcontroller; outputs are identical). The MCU bundle's C array holds exactly these bytes."""
    from edgecnn.export.column_pairs import unpair_columns

    return unpair_columns(Path(path).read_bytes())


class MicroInterpreter:
    """One TFLM interpreter for a .tflite file with an int8 input and output."""

    def __init__(self, path: str | Path, arena_size: int = 1024 * 1024):
        runtime = _runtime()
        self.path = Path(path)
        self.arena_size = arena_size
        with quiet_stderr():
            try:
                self._it = runtime.Interpreter.from_bytes(tflm_bytes(self.path), arena_size=arena_size)
            except RuntimeError as exc:
                raise PlatformError(f"{self.path.name}: TFLM could not allocate tensors in "
                                    f"{arena_size:,} B ({exc})") from exc
        inp, out = self._it.get_input_details(0), self._it.get_output_details(0)
        if inp["dtype"] is not np.int8 or out["dtype"] is not np.int8:
            raise PlatformError(f"{self.path.name}: TFLM checks need an int8 input and output, got "
                                f"{np.dtype(inp['dtype']).name} -> {np.dtype(out['dtype']).name}")
        self.input = _info(inp)
        self.output = _info(out)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        """int8 outputs (N x K) for int8 inputs shaped (N, *input_shape[1:])."""
        inputs = np.asarray(inputs, dtype=np.int8)
        outs = []
        for q in inputs:
            self._it.set_input(q.reshape(self.input.shape), 0)
            self._it.invoke()
            outs.append(np.asarray(self._it.get_output(0)).reshape(-1).copy())
        return np.stack(outs).astype(np.int8)


def _info(detail) -> TensorInfo:
    q = detail["quantization_parameters"]
    return TensorInfo(tuple(int(d) for d in detail["shape"]), float(q["scales"][0]), int(q["zero_points"][0]))


def works(path: str | Path, arena_size: int, probe: np.ndarray) -> bool:
    """Whether TFLM allocates and invokes the model in ``arena_size`` bytes."""
    try:
        it = MicroInterpreter(path, arena_size)
        with quiet_stderr():
            it.run(probe[:1])
        return True
    except (PlatformError, RuntimeError):
        return False


def smallest_arena(path: str | Path, probe: np.ndarray, *, fits: Callable[[int], bool] | None = None,
                   start: int = 16 * 1024) -> tuple[int, int]:
    """(smallest working arena in bytes, interpreter constructions it took), by bisection.

    ``fits(n)`` defaults to :func:`works` on ``path``; the answer is exact to the byte.
    """
    fits = fits or (lambda n: works(path, n, probe))
    hi, tries = start, 0
    while not fits(hi):
        tries += 1
        hi *= 2
        if hi > MAX_ARENA:
            raise PlatformError(f"{Path(path).name}: TFLM cannot allocate it even in {MAX_ARENA:,} B")
    tries += 1
    lo = 0  # does not work (no arena)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        tries += 1
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi, tries
