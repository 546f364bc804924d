"""The error family the CLI turns into one-line ``Error: ...`` messages.

Library code raises these for anything the user can fix (a missing file, a corrupt
model, bad input); a bug stays a plain exception with a traceback.
"""

from __future__ import annotations


class EdgeCnnError(Exception):
    """Base class: a problem the user can fix, reported as one line."""


class DataError(EdgeCnnError):
    """MNIST files missing, truncated, corrupt or of the wrong shape."""


class ModelError(EdgeCnnError):
    """A model or artifact file that is missing, corrupt, unsafe or of the wrong kind."""


class ExportError(EdgeCnnError):
    """An export that could not be completed."""


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
