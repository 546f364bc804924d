"""The error family the CLI turns into one-line ``Error: ...`` messages.

Library code raises these for anything the user can fix (a missing file, a corrupt
model, bad input); a bug stays a plain exception with a traceback.
"""

from __future__ import annotations


class EdgeCnnError(Exception):
    """Base class: a problem the user can fix, reported as one line."""

    exit_code = 1  # what the command exits with; usage problems say 2, as click's own do


class OptionError(EdgeCnnError):
    """Options that cannot go together (e.g. a format without that precision): a usage error, exit 2."""

    exit_code = 2


class DataError(EdgeCnnError):
    """MNIST files missing, truncated, corrupt or of the wrong shape."""


class ModelError(EdgeCnnError):
    """A model or artifact file that is missing, corrupt, unsafe or of the wrong kind."""


class ExportError(EdgeCnnError):
    """An export that could not be completed."""


class ExportOptionError(ExportError, OptionError):
    """A --format/--quantize pair the export registry does not have (exit 2)."""


class OutputError(EdgeCnnError):
    """An output folder or file that cannot be written."""


class InputError(EdgeCnnError, ValueError):
    """Input arrays or images that do not fit the model (also a ValueError)."""


class PlatformError(EdgeCnnError):
    """An emulated platform that cannot be set up on this machine."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-blank line of an exception's message (runtimes raise pages of context)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0][:limit] if lines else type(exc).__name__


# The modules only the full install (the [full] extra) provides; the base install
# (runtime, predict, bench of exported files, bundle) never imports them.
FULL_MODULES = ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib", "tf_keras")
# Not on PyPI yet: the command that works today, from the clone (a wheel takes the same [full]).
FULL_INSTALL = 'pip install ".[full]" in the clone (pip install "edgecnn[full]" once published)'


class MissingDependency(EdgeCnnError):
    """A feature of the full install used from the base install."""


def missing_dependency(exc: ImportError, what: str = "this command") -> MissingDependency | None:
    """The one-line error for an ImportError of a full-install module (None for any other module)."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name not in FULL_MODULES:
        return None
    return MissingDependency(
        f"{what} needs {name}, which the base install leaves out (it is TensorFlow-free); "
        f"install the full set: {FULL_INSTALL}"
    )


def require_full(what: str, modules: tuple[str, ...] = ("tensorflow", "keras")) -> None:
    """Raise :class:`MissingDependency` at once (before any slow work) if ``modules`` are not installed."""
    from importlib.util import find_spec

    for name in modules:
        if find_spec(name) is None:
            raise MissingDependency(
                f"{what} needs {name}, which the base install leaves out (it is TensorFlow-free); "
                f"install the full set: {FULL_INSTALL}"
            )
