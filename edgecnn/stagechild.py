"""One ``edgecnn run`` stage in a spawned child, so TensorFlow never loads into run's own process.

``run``'s train, export and verify stages (and, with ``--model``, the data stage's look at the
model's input shape) each run in a fresh ``multiprocessing`` spawn child
(:func:`edgecnn.isolation.run_spawned`). Why: in one process, TensorFlow, the Keras model and the
converters' leftovers stayed resident to the end (3.15 GiB for a 224x224 MobileNetV2) while bench
measured in its own child (2.3 GiB), so the run's peak was the sum, 5.45-5.98 GiB
(benchmarks/results/memory_scaling.txt). With each stage in its own child, the peak is the
largest stage, and a native crash in a converter or TensorFlow ends that child, not the run.

Why one child per stage rather than one for train+export+verify (which loads TensorFlow once):
the peak of a 224x224 MobileNetV2 run is the export stage either way (3.3 GiB: TensorFlow, the
model, the converters), but in one child verify runs on top of export's leftovers, which grew the
old single process from 3.31 to 3.65 GiB between 1,000 and 5,000 photos; a fresh child per stage
frees them, and a crash names its stage. The price is one TensorFlow start per stage: measured
+25 s per stage child at load 4-5 on 2 cores (a tiny model's export 3.9 -> 28.6 s, verify 1.1 ->
28.0 s), a few percent of a real run (700-1,600 s). Figures: benchmarks/results/memory_scaling.txt.

The child gets the parent's logging levels and format and edgecnn's Python-warning filter, so it
prints what the parent printed; its ``say`` lines are forwarded to the parent's stage log as they
come; its exception is re-raised in the parent; its death is one :class:`StageCrashed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from edgecnn.errors import EdgeCnnError

T = TypeVar("T")

_LOGGERS = ("", "tensorflow", "tf2onnx", "absl", "edgecnn")


class StageCrashed(EdgeCnnError):
    """A run stage's child ended without a result: one line naming the stage and the signal."""

    def __init__(self, stage: str, how: str):
        self.stage, self.how = stage, how
        super().__init__(f"run's {stage} stage crashed: its child process ended without a result ({how}); "
                         f"the stages before it are written, the report too")

    def __reduce__(self):
        return StageCrashed, (self.stage, self.how)


def _logging_state() -> tuple[dict[str, int], str | None]:
    """The levels of the loggers the CLI sets and the root handler's format (None: not configured)."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter if root.handlers else None
    fmt = getattr(formatter, "_fmt", None) if formatter is not None else None
    return {name: logging.getLogger(name).level for name in _LOGGERS}, fmt


def _child_main(body: Callable[..., Any], args: tuple[Any, ...], state: tuple[dict[str, int], str | None],
                say: Callable[[str], None]) -> Any:
    """In the child: the parent's logging and warning filter, then ``body(*args, say)``."""
    import sys

    from edgecnn import quiet

    levels, fmt = state
    if fmt is not None:
        logging.basicConfig(level=levels[""], format=fmt, stream=sys.stderr)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    quiet.set_library_env()
    quiet.quiet_python_warnings()  # fd 2 is the parent's (filtered there when the parent filters it)
    return body(*args, say)


def in_child(stage: str, body: Callable[..., T], *args: Any, say: Callable[[str], None]) -> T:
    """``body(*args, say)`` in a spawned child; its ``say`` lines reach ``say`` here as they come.

    Args:
        stage: the run stage ("train", "export", "verify", "data"), named in a crash.
        body: a module-level function (spawn pickles it by name) taking ``say`` last.
        say: receives each line the child prints through its ``say``.

    Returns:
        ``body``'s return value (pickled back).

    Raises:
        StageCrashed: the child died (a signal, or an exit before it answered).
        The child's own exception, same type and message.
    """
    from edgecnn.isolation import ChildDied, run_spawned

    try:
        return run_spawned(_child_main, body, args, _logging_state(), progress=say, name=f"edgecnn-run-{stage}")
    except ChildDied as died:
        raise StageCrashed(stage, died.how) from None
