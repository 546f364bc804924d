"""Which (format, precision) pairs an ``--format`` / ``--quantize`` request means.

The rules read the export registry, so a new exporter row (e.g. ``("c", "int8")``) is covered by
itself. A pair the registry lacks is an :class:`~edgecnn.errors.ExportOptionError` (exit 2, as a
usage error), raised here so a Python caller gets the same check as the command line.
"""

from __future__ import annotations

from edgecnn.errors import ExportOptionError

# What --format all exports without --quantize: the four standard artifacts plus any other
# registered float32/int8 format (the C array).
DEFAULT_PRECISIONS = ("float32", "int8")


def export_targets(fmt: str, quantize: str | None) -> list[tuple[str, str]]:
    """(format, precision) pairs for ``--format``/``--quantize``.

    Args:
        fmt: a registered format, or ``"all"``.
        quantize: a precision other than float32, or None.

    Returns:
        ``all``: every format at float32 and int8, or with ``quantize`` every format that has it.
        A single format without ``quantize`` means float32 (or the format's only precision, e.g.
        the C array's int8).

    Raises:
        ExportOptionError: the registry has no such format or pair.
    """
    from edgecnn.export import REGISTRY, formats, precisions

    if fmt == "all":
        wanted = (quantize,) if quantize else DEFAULT_PRECISIONS
        targets = [key for key in REGISTRY if key[1] in wanted]
        if not targets:
            raise ExportOptionError(f"no format supports --quantize {quantize}")
        return targets
    if fmt not in formats():
        raise ExportOptionError(f"unknown format {fmt!r} (choose from {', '.join(formats())}, all)")
    have = precisions(fmt)
    if quantize is None:
        precision = "float32" if "float32" in have else (have[0] if len(have) == 1 else None)
        if precision is None:
            raise ExportOptionError(f"--format {fmt} needs --quantize ({', '.join(have)})")
        return [(fmt, precision)]
    if (fmt, quantize) not in REGISTRY:
        raise ExportOptionError(f"--format {fmt} does not support --quantize {quantize} (supported: {', '.join(have)})")
    return [(fmt, quantize)]
