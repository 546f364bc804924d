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


def _int_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """'1,32,256' -> (1, 32, 256); anything else is a usage error."""
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise click.BadParameter(f"{value!r}: expected positive integers separated by commas")
    return tuple(dict.fromkeys(out))


@cli.command()
@click.argument("artifacts", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@output_dir_option
@data_option
@click.option("--batch-sizes", default="1,32,256", show_default=True, callback=_int_list,
              help="Batch sizes, comma-separated.")
@click.option("--threads", default="1", show_default=True, callback=_int_list,
              help="Thread counts; a list (1,2) sweeps.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Timed seconds per runtime and configuration [default: 1.0].")
@click.option("--runs", type=click.IntRange(min=1), default=None, help="Timed calls per runtime and configuration.")
@click.option("--warmup", type=click.FloatRange(min=0), default=None,
              help="Warm-up seconds per runtime and configuration [default: 0.5].")
@click.option("--xnnpack", "xnnpack", type=click.Choice(["on", "off", "both"]), default="on", show_default=True,
              help="TFLite with the XNNPACK delegate, without it, or both.")
@click.option("--no-xnnpack", "xnnpack", flag_value="off", help="Same as --xnnpack off.")
@click.option("--no-keras", is_flag=True, help="Skip the Keras baseline (ratios then use the first model).")
@click.option("--no-cold-start", is_flag=True, help="Skip the cold-start / peak-memory subprocesses.")
def bench(artifacts: tuple[Path, ...], output_dir: Path, data: Path | None, batch_sizes: tuple[int, ...],
          threads: tuple[int, ...], seconds: float | None, runs: int | None, warmup: float | None,
          xnnpack: str, no_keras: bool, no_cold_start: bool) -> None:
    """Latency, throughput, cold start and memory of models on the CPU runtimes.

    With no ARTIFACT: every artifact in the manifest plus OUTPUT_DIR/mnist_cnn.keras as the
    baseline. Writes bench.json, bench.csv, bench.md and bench.png into OUTPUT_DIR.
    """
    from edgecnn.bench import BenchConfig, check_model_path, default_paths, run_bench, with_options
    from edgecnn.bench_report import format_table, write_outputs
    from edgecnn.data import load_mnist

    if seconds is not None and runs is not None:
        raise click.UsageError("give --seconds or --runs, not both")
    paths = [check_model_path(p) for p in artifacts] if artifacts else default_paths(output_dir, not no_keras)
    config = with_options(
        BenchConfig(), batch_sizes=batch_sizes, threads=threads, seconds=seconds, runs=runs,
        warmup_seconds=warmup, xnnpack={"on": (True,), "off": (False,), "both": (True, False)}[xnnpack],
        keras=not no_keras, cold_start=not no_cold_start,
    )
    images = load_mnist(data).x_test
    click.echo(f"Benchmarking {len(paths)} model(s): batch {','.join(map(str, batch_sizes))}, "
               f"threads {','.join(map(str, threads))}", err=True)
    result = run_bench(paths, config, images, out_dir=output_dir, progress=lambda msg: click.echo(f"  {msg}", err=True))
    written = write_outputs(result, output_dir)
    click.echo(format_table(result))
    click.echo(f"\nWrote {', '.join(str(p) for p in written.values())}")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgecnn")
