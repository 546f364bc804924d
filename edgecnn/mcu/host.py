"""The int8 model in the real TensorFlow Lite Micro interpreter on this machine (PyPI ``tflite-micro``).

``run`` gives the int8 outputs for int8 inputs; ``smallest_arena`` asks the interpreter itself
which arena is the smallest that allocates and invokes (bisection on ``arena_size``), rather
than trusting edgecnn's own planner (:mod:`edgecnn.tflm`). Figures are for this 64-bit host:
TFLM's bookkeeping structs hold pointers, so a 32-bit Cortex-M needs less (see ``arena_used``
of the firmware run).

Both run in a child process (:mod:`edgecnn.isolation`): the interpreter segfaults on arenas it
cannot fit, and a crash must become one error line, not the end of ``verify`` or ``run``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.errors import PlatformError

log = logging.getLogger(__name__)

MAX_ARENA = 64 * 1024 * 1024
HOST_ARENA = 1024 * 1024  # the host check's arena: ample for every model an MCU can take


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as exc:
        raise PlatformError("tflite-micro not installed: pip install tflite-micro "
                            "(the TFLM Python interpreter)") from exc
    return runtime


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence C++ writes to fd 2 (TFLM prints every failed allocation while bisecting).

    Not in an isolated child: its fd 2 is a file the parent reads for the last words of a crash.
    """
    from edgecnn.isolation import ISOLATED_ENV

    if os.environ.get(ISOLATED_ENV):
        yield
        return
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
    microcontroller; outputs are identical). The MCU bundle's C array holds exactly these bytes.

    A mixed file (int8 with float32 layers, from ``export --max-drop``) is refused in one line: a
    microcontroller build needs every layer int8 (CMSIS-NN and the board's arena plan assume it)."""
    from edgecnn.export.column_pairs import unpair_columns

    data = Path(path).read_bytes()
    require_full_integer(Path(path).name, data)
    return unpair_columns(data)


def require_full_integer(name: str, data: bytes) -> None:
    """A ModelError naming the float32 layers when the TFLite ``data`` is not full-integer (its metadata)."""
    import json

    from edgecnn.artifact import mixed_label
    from edgecnn.errors import ModelError
    from edgecnn.runtime.tflite import read_tflite_metadata

    text = read_tflite_metadata(data)
    try:
        meta = json.loads(text) if text else {}
    except ValueError:
        meta = {}
    label = mixed_label(meta)
    if label:
        raise ModelError(f"{name} is {label}: a microcontroller needs every layer int8; export the full-integer "
                         "file (`edgecnn export --format c --max-drop POINTS` tries only the full-integer levers)")


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
    """Whether TFLM allocates and invokes the model in ``arena_size`` bytes (in this process)."""
    try:
        it = MicroInterpreter(path, arena_size)
        with quiet_stderr():
            it.run(probe[:1])
        return True
    except (PlatformError, RuntimeError):
        return False


def outputs(path: str | Path, inputs: np.ndarray, arena_size: int = HOST_ARENA) -> np.ndarray:
    """The interpreter's int8 outputs (N x K) for int8 ``inputs`` (in this process)."""
    return MicroInterpreter(path, arena_size).run(inputs)


def isolated_outputs(path: str | Path, inputs: np.ndarray, arena_size: int | None = None) -> np.ndarray:
    """:func:`outputs` in a child process; a crash raises ``NativeCrash`` naming the file and signal."""
    from edgecnn.isolation import call_isolated

    arena = HOST_ARENA if arena_size is None else arena_size
    return call_isolated("edgecnn.mcu.host:outputs", str(path), np.asarray(inputs, np.int8), arena,
                         file=path, step=f"the TFLM host interpreter ({arena:,} B arena)")


def arena_lower_bound(path: str | Path) -> int:
    """No arena below this can work (:attr:`edgecnn.tflm.ArenaPlan.lower_bound`)."""
    from edgecnn.tflm import plan_arena

    return plan_arena(tflm_bytes(path)).lower_bound


def smallest_arena(path: str | Path, probe: np.ndarray, *, fits: Callable[[int], bool] | None = None,
                   start: int = 16 * 1024, lower: int | None = None) -> tuple[int, int]:
    """(smallest working arena in bytes, interpreter constructions it took), by bisection.

    ``fits(n)`` defaults to :func:`works` on ``path`` in one child process (an arena that
    crashes the interpreter counts as too small, and a fresh child goes on); the search never
    goes below ``lower`` (default: :func:`arena_lower_bound`), so the interpreter is not handed
    a hopeless arena. The answer is exact to the byte.
    """
    if fits is not None:
        return _bisect(fits, start, 0 if lower is None else lower, Path(path).name)
    from edgecnn.isolation import Child, NativeCrash

    lower = arena_lower_bound(path) if lower is None else lower
    with Child() as child:
        def fits_isolated(n: int) -> bool:
            try:
                return bool(child.call("edgecnn.mcu.host:works", str(path), n, probe[:1],
                                       file=Path(path).name, step=f"TFLM arena bisection at {n:,} B"))
            except NativeCrash as exc:
                log.info("%s", exc)
                return False

        return _bisect(fits_isolated, start, lower, Path(path).name)


def _bisect(fits: Callable[[int], bool], start: int, lower: int, name: str) -> tuple[int, int]:
    hi, tries = max(start, lower), 0
    while not fits(hi):
        tries += 1
        hi *= 2
        if hi > MAX_ARENA:
            raise PlatformError(f"{name}: TFLM cannot allocate it even in {MAX_ARENA:,} B")
    tries += 1
    lo = max(0, lower - 1)  # does not work (below the lower bound, or no arena)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        tries += 1
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi, tries
