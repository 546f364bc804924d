"""The ``edgecnn`` command line: parse, call the library, print.

Heavy libraries (TensorFlow, ONNX Runtime, LiteRT) are imported inside the command
that needs them, so ``edgecnn --help`` and ``--version`` return instantly.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from edgecnn import __version__
from edgecnn.errors import EdgeCnnError

DEFAULT_OUTPUT_DIR = Path("exports")

output_dir_option = click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUTPUT_DIR,
    show_default=True, help="Folder for models, manifest and reports.",
)
data_option = click.option(
    "--data", type=click.Path(path_type=Path), default=None,
    help="MNIST folder (IDX files) or mnist.npz; default: $EDGECNN_DATA, then the bundled copy.",
)
# For every command that loads a .keras file: pass it on as edgecnn.model.load_model(path, unsafe=unsafe).
unsafe_option = click.option(
    "--unsafe", is_flag=True, default=False,
    help="Load .keras files that hold Python code (Lambda layers); loading runs that code, so only for files you trust.",
)


class EdgeCnnGroup(click.Group):
    """A group that turns the library's typed errors into one ``Error: ...`` line, exit 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EdgeCnnError as exc:
            raise click.ClickException(str(exc)) from exc


def _quiet_tensorflow() -> None:
    # TF's C++ start-up chatter (oneDNN notes, CPU feature banners) is noise for a user.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@click.group(cls=EdgeCnnGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="edgecnn")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Train the classic MNIST CNN and carry it to a device: export, verify, bench, deploy."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _quiet_tensorflow()


@cli.command()
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--h5", is_flag=True, help="Also write the legacy mnist_cnn.h5.")
@output_dir_option
@data_option
def train(epochs: int, batch_size: int, seed: int, h5: bool, output_dir: Path, data: Path | None) -> None:
    """Train the reference CNN on MNIST; writes mnist_cnn.keras and train.json."""
    from edgecnn.data import load_mnist
    from edgecnn.model import TrainConfig, train as train_model

    mnist = load_mnist(data)
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, seed=seed, verbose=1 if sys.stdout.isatty() else 2
    )
    click.echo(f"Training on {len(mnist.x_train):,} images from {mnist.source} ({epochs} epochs, seed {seed})")
    result = train_model(config, mnist, output_dir, h5=h5)
    click.echo(
        f"Test accuracy {result.test_accuracy:.2%} in {result.wall_seconds:.1f} s -> {result.model_path}"
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgecnn")
