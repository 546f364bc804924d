"""``edgecnn bench`` as a library call: a request in, the measured and written result out.

``run`` calls the same function with ``fresh_process=True``: a ``multiprocessing`` spawn child
starts clean (as Optimum validates an export in a child) and sends its progress lines and its
result back; a crash there is one error naming the signal, never the end of the run; its other
errors say "edgecnn bench failed: ..." (which of run's stages failed).

``edgecnn bench`` itself measures in the same kind of child (``isolated=True``): LiteRT and ONNX
Runtime run the user's files there, so a native crash in them is one ``Error:`` line naming the
signal instead of the end of the command; the child's own errors reach the user unchanged (type,
exit status, text). Its cost, measured: the child's interpreter start and imports, 12.2 -> 17.0 s
(median of 5, +4 s) for a 20-call bench of one file at load 5-8 on 2 cores; a default bench (three
batch sizes, the Keras baseline, cold starts) takes minutes, so the protection wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgecnn.bench.config import BenchConfig, BenchResult
from edgecnn.errors import FULL_INSTALL, EdgeCnnError
from edgecnn.workspace import Workspace

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchRequest:
    """What to time, on which images, for how long."""

    workspace: Workspace
    artifacts: tuple[Path, ...] = ()  # none: the manifest's files plus the folder's Keras model
    data: Path | None = None  # test images (None: $EDGECNN_DATA, then the bundled MNIST)
    config: BenchConfig = field(default_factory=BenchConfig)
    fresh_process: bool = False  # run's bench: in a spawned child, errors prefixed (see the module docstring)
    isolated: bool = False  # the CLI's bench: in a spawned child, errors unchanged (see the module docstring)


@dataclass
class BenchRun:
    """What :func:`bench_folder` measured and wrote, and what it had to leave out."""

    result: BenchResult  # this run's rows (bench.json holds them merged with earlier runs')
    written: dict[str, Path]  # "json", "csv", "md" and, with matplotlib, "png"
    notes: list[str]  # e.g. no Keras baseline on the base install


def bench_folder(request: BenchRequest, progress: Progress = lambda message: None) -> BenchRun:
    """Time the requested files and merge the figures into the folder's bench.json (csv, md, png).

    Args:
        request: the files (or the folder's), the data and the bench configuration.
        progress: receives one line per step (loading, each configuration, cold starts).

    Returns:
        The measured result, the files written and notes for the user.

    Raises:
        ModelError: no model to benchmark, or a named file is not one.
        EdgeCnnError: the fresh child process failed or crashed (its reason in one line).
    """
    if request.fresh_process or request.isolated:
        return _in_child(request, progress, prefixed=request.fresh_process)
    return _bench(request, progress)


def _bench(request: BenchRequest, progress: Progress) -> BenchRun:
    from dataclasses import replace
    from importlib.util import find_spec

    from edgecnn.bench.run import run_bench
    from edgecnn.bench.subjects import check_model_path, default_paths
    from edgecnn.bench.report import write_outputs
    from edgecnn.data import load_data
    from edgecnn.datasource import choose_data
    from edgecnn.verify import artifact_spec

    config, notes = request.config, []
    if config.keras and not request.artifacts and find_spec("keras") is None:
        config = replace(config, keras=False)
        notes.append(f"no Keras baseline on the base install ({FULL_INSTALL} adds it)")
    root = request.workspace.root
    paths = [check_model_path(p) for p in request.artifacts] if request.artifacts else default_paths(root, config.keras)
    spec = artifact_spec([p for p in paths if p.suffix in (".tflite", ".onnx")])
    choice = choose_data(root, request.data, spec)  # --data, else the one recorded at export
    progress(choice.note)
    images = load_data(choice.path, spec.input_shape if spec is not None else None).x_test
    progress(f"Benchmarking {len(paths)} model(s): batch {','.join(map(str, config.batch_sizes))}, "
             f"threads {','.join(map(str, config.threads))}")
    result = run_bench(paths, config, images, out_dir=root, progress=progress)
    return BenchRun(result, write_outputs(result, root), notes)


# -- the fresh child process ----------------------------------------------------------------------
def _in_child(request: BenchRequest, progress: Progress, main: Callable[..., BenchRun] | None = None,
              prefixed: bool = True) -> BenchRun:
    """Run :func:`_bench` (or ``main``, same signature) in a spawned child (edgecnn.isolation.run_spawned).

    ``prefixed``: the child's errors become "edgecnn bench failed: ..." (run); else they are re-raised as they are.
    """
    from edgecnn.isolation import ChildDied, run_spawned

    try:
        return run_spawned(main or _bench, request, progress=progress, name="edgecnn-bench")
    except ChildDied as died:
        raise EdgeCnnError(f"edgecnn bench failed: its process ended without a result ({died.how})") from None
    except EdgeCnnError as exc:
        if not prefixed:
            raise
        raise EdgeCnnError(f"edgecnn bench failed: {exc}") from None
    except Exception as exc:  # a bug in the child: its type and text in the one error
        if not prefixed:
            raise
        raise EdgeCnnError(f"edgecnn bench failed: {type(exc).__name__}: {exc}") from None
