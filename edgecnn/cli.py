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

# --- export ------------------------------------------------------------------------------
# Choices come from the export REGISTRY (a light import: no TensorFlow), so a new exporter
# row (e.g. ("c", "int8")) appears in --format / --quantize and in their validation by itself.
from edgecnn.export import REGISTRY as _EXPORT_REGISTRY  # noqa: E402

_QUANTIZE_CHOICES = sorted({p for _, p in _EXPORT_REGISTRY if p != "float32"})
_DEFAULT_PRECISIONS = ("float32", "int8")  # what --format all exports without --quantize
OPSET_RANGE = (13, 18)  # 13: per-channel QDQ; 18: the newest tf2onnx 1.17 writes


def export_targets(fmt: str, quantize: str | None) -> list[tuple[str, str]]:
    """(format, precision) pairs for ``--format``/``--quantize``; a pair the registry lacks is a usage error.

    ``--format all``: every format at float32 and int8 (the four standard artifacts, plus any
    other registered int8/float32 format such as the C array); with ``--quantize MODE``: every
    format that has MODE. A single format without --quantize means float32 (or the format's
    only precision, e.g. the C array's int8).
    """
    formats = list(dict.fromkeys(f for f, _ in _EXPORT_REGISTRY))
    if fmt == "all":
        wanted = (quantize,) if quantize else _DEFAULT_PRECISIONS
        targets = [key for key in _EXPORT_REGISTRY if key[1] in wanted]
        if not targets:
            raise click.BadParameter(f"no format supports --quantize {quantize}", param_hint="'--quantize'")
        return targets
    have = [p for f, p in _EXPORT_REGISTRY if f == fmt]
    if fmt not in formats:
        raise click.BadParameter(f"unknown format {fmt!r}", param_hint="'--format'")
    if quantize is None:
        precision = "float32" if "float32" in have else (have[0] if len(have) == 1 else None)
        if precision is None:
            raise click.UsageError(f"--format {fmt} needs --quantize ({', '.join(have)})")
        return [(fmt, precision)]
    if (fmt, quantize) not in _EXPORT_REGISTRY:
        raise click.UsageError(
            f"--format {fmt} does not support --quantize {quantize} (supported: {', '.join(have)})"
        )
    return [(fmt, quantize)]


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice([*dict.fromkeys(f for f, _ in _EXPORT_REGISTRY), "all"]),
    default="all", show_default=True, help="Which file format(s) to write.",
)
@click.option(
    "--quantize", type=click.Choice(_QUANTIZE_CHOICES), is_flag=False, flag_value="int8", default=None,
    help="Bare --quantize: full-integer int8, calibrated (TFLite: int8 input/output too; "
    "ONNX: static QDQ, float I/O). 'dynamic': int8 weights, float I/O. 'float16': half-size "
    "weights. Omitted: float32.",
)
@click.option("--calibration-samples", type=click.IntRange(min=1), default=500, show_default=True,
              help="Training images used to calibrate int8 ranges.")
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the calibration images.")
@click.option("--opset", type=click.IntRange(*OPSET_RANGE), default=17, show_default=True, help="ONNX opset.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Trained .keras model [default: <output-dir>/mnist_cnn.keras].")
@output_dir_option
@data_option
def export(fmt: str, quantize: str | None, calibration_samples: int, seed: int, opset: int,
           model_path: Path | None, output_dir: Path, data: Path | None) -> None:
    """Export the trained model to TFLite / ONNX; writes the files and manifest.json.

    Without --format, writes the standard set: float32 and int8 of every format.
    """
    import time

    from edgecnn.errors import ModelError
    from edgecnn.model import MODEL_FILENAME

    targets = export_targets(fmt, quantize)
    model_path = model_path or output_dir / MODEL_FILENAME
    if not model_path.is_file():  # checked before TensorFlow loads: the error is instant
        raise ModelError(f"{model_path}: model not found (run `edgecnn train` first)")

    from edgecnn.export import ExportOptions, export_models

    options = ExportOptions(calibration_samples=calibration_samples, seed=seed, opset=opset, data_path=data)
    started = time.perf_counter()
    artifacts = export_models(model_path, output_dir, targets, options)
    width = max(len(a.path.name) for a in artifacts)
    click.echo(f"{'file':<{width}}  {'precision':<9}  {'size':>10}  {'seconds':>7}")
    for a in artifacts:
        click.echo(f"{a.path.name:<{width}}  {a.precision:<9}  {a.bytes / 1024:>7.1f} KB  {a.export_seconds:>7.2f}")
    click.echo(
        f"Exported {len(artifacts)} file(s) in {time.perf_counter() - started:.1f} s -> {output_dir / 'manifest.json'}"
        " (each loaded and predicted a batch in its runtime)"
    )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgecnn")
