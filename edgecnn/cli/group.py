"""The click group: logging set up once, and the one exit path for user errors.

Library code raises an :class:`~edgecnn.errors.EdgeCnnError`; :class:`EdgeCnnGroup` turns it (or a
missing full-install module) into a :class:`UserError`, which prints one ``Error:`` line.
"""

from __future__ import annotations

import logging
import sys

import click

from edgecnn import __version__
from edgecnn.errors import EdgeCnnError


class UserError(click.ClickException):
    """The one exit path for anything the user can fix: ``Error: <message>`` on stderr, then ``exit_code``.

    Commands raise it (or a library :class:`~edgecnn.errors.EdgeCnnError`, which the group turns into
    one); nothing else in the CLI prints ``Error:`` or calls ``sys.exit``.
    """

    def __init__(self, message: str | list[str], exit_code: int = 1) -> None:
        self.messages = [message] if isinstance(message, str) else list(message)
        super().__init__("\n".join(self.messages))
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it per class; ours is per error

    def show(self, file=None) -> None:
        """One ``Error:`` line per message (e.g. one per bad input of ``predict``)."""
        for message in self.messages:
            click.echo(f"Error: {message}", err=True, file=file)


class EdgeCnnGroup(click.Group):
    """Turns the library's typed errors, and a missing full-install module, into one ``Error:`` line."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeCnnError as exc:
            raise UserError(str(exc), exc.exit_code) from exc
        except ImportError as exc:
            from edgecnn.errors import missing_dependency

            name = ctx.invoked_subcommand or "this command"
            error = missing_dependency(exc, f"`edgecnn {name}`")
            if error is None:
                raise
            raise UserError(str(error)) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list with each command's whole first line (click cuts it at ~45 chars with '…')."""
        rows = [(name, cmd.get_short_help_str(limit=1000)) for name, cmd in
                ((n, self.get_command(ctx, n)) for n in self.list_commands(ctx)) if cmd and not cmd.hidden]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


# main() sets this: only the real console script filters fd 2 (tests drive `cli` in-process).
_FILTER_NATIVE_STDERR = False

EPILOG_INDENT = "  "


def examples(*lines: str) -> str:
    """An epilog of real example commands (``\b`` keeps click from re-wrapping them)."""
    return "\b\nExamples:\n" + "\n".join(EPILOG_INDENT + line for line in lines)


@click.group(
    cls=EdgeCnnGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=examples(
        "edgecnn run --quick                      # a first look in about a minute",
        "edgecnn predict --model exports/mnist_cnn_int8.tflite digit.png",
        "edgecnn bench --batch-sizes 1,32 exports/mnist_cnn_int8.onnx",
    ),
)
@click.version_option(__version__, "-V", "--version", prog_name="edgecnn")
@click.option("-v", "--verbose", count=True,
              help="More log output, including TensorFlow's and LiteRT's own lines (-vv for debug).")
def cli(verbose: int) -> None:
    """Train the classic MNIST CNN and carry it to a device: export, verify, bench, deploy.

    The base install (pip install .) runs predict, bench of exported files and bundle
    without TensorFlow; train, export and verify need the full set (pip install ".[full]").
    """
    from edgecnn import quiet

    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose == 0:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        if _FILTER_NATIVE_STDERR:
            quiet.install(verbose)
        else:
            quiet.set_library_env()



def main() -> None:
    """Console-script entry point: native log lines are filtered at fd 2 (see edgecnn.quiet)."""
    global _FILTER_NATIVE_STDERR
    _FILTER_NATIVE_STDERR = True
    cli(prog_name="edgecnn")
