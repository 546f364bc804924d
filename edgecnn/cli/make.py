"""Commands that make the model and its files: train, export, and run (the whole job)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

# The registries give the CLI its choices; both are light imports (no numpy, no TensorFlow,
# no runtime), so `edgecnn --help` stays instant (a test checks it).
from edgecnn.export import REGISTRY as _EXPORT_REGISTRY
from edgecnn.platforms.registry import CHOICES as _PLATFORM_CHOICES
from edgecnn.cli.group import UserError, cli, examples
from edgecnn.cli.options import (data_option, labels_option, max_float_layers_option, output_dir_option,
                                 prepare_option, preprocess_option, unsafe_option)
from edgecnn.workspace import Workspace


@cli.command(epilog=examples(
    "edgecnn train                            # 12 epochs, the published recipe",
    "edgecnn train --epochs 2 --output-dir /tmp/try",
    "edgecnn train --data ~/mnist.npz --seed 1",
))
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True, help="Training epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True, help="Images per step.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights and shuffling.")
@click.option("--h5", is_flag=True, help="Also write the legacy mnist_cnn.h5.")
@output_dir_option
@data_option
def train(epochs: int, batch_size: int, seed: int, h5: bool, output_dir: Path, data: Path | None) -> None:
    """Train the reference CNN on MNIST (mnist_cnn.keras), or on --data (<data>_cnn.keras: input
    shape and class count from the data); writes the model and train.json (full install)."""
    from edgecnn.model import TrainConfig, train_folder

    config = TrainConfig(epochs=epochs, batch_size=batch_size, seed=seed, verbose=1 if sys.stdout.isatty() else 2)
    result = train_folder(config, output_dir, data, h5=h5, echo=click.echo)
    click.echo(
        f"Test accuracy {result.test_accuracy:.2%} in {result.wall_seconds:.1f} s -> {result.model_path}"
    )


# --- export ---------------------------------------------------------------------------------
# Choices come from the export REGISTRY, so a new exporter row (e.g. ("c", "int8")) appears
# in --format / --quantize by itself; which pairs go together is edgecnn.export.targets' rule.

_QUANTIZE_CHOICES = sorted({p for _, p in _EXPORT_REGISTRY if p != "float32"})
OPSET_RANGE = (13, 18)  # 13: per-channel QDQ; 18: the newest tf2onnx 1.17 writes


@cli.command(epilog=examples(
    "edgecnn export                           # float32 + int8 of every format",
    "edgecnn export --format tflite --quantize float16",
    "edgecnn export --format onnx --opset 13 --output-dir /tmp/try",
))
@click.option(
    "--format", "fmt", type=click.Choice([*dict.fromkeys(f for f, _ in _EXPORT_REGISTRY), "all"]),
    default="all", show_default=True, help="Which file format(s) to write.",
)
@click.option(
    "--quantize", type=click.Choice(_QUANTIZE_CHOICES), is_flag=False, flag_value="int8", default=None,
    help="Bare --quantize: full-integer int8, calibrated (TFLite: int8 input/output too; "
    "ONNX: static, QOperator, float I/O). 'dynamic': int8 weights, float I/O. 'float16': half-size "
    "weights. 'int8_app' / 'float32_app' (TFLite): what MediaPipe Tasks and ML Kit take (RGB uint8 or float32 "
    "in, float32 out). Omitted: float32.",
)
@click.option("--calibration-samples", type=click.IntRange(min=1), default=500, show_default=True,
              help="Training images used to calibrate int8 ranges.")
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the calibration images.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=None, metavar="POINTS",
              help="int8: repair until agreement with Keras meets the int8 verify tolerance and accuracy drops at "
                   "most POINTS (more calibration, then the fewest layers float32; docs/int8.md). Omitted: as asked.")
@max_float_layers_option
@click.option("--opset", type=click.IntRange(*OPSET_RANGE), default=17, show_default=True, help="ONNX opset.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Trained .keras model, any Keras image classifier [default: the one train.json in "
                   "<output-dir> names, else <output-dir>/mnist_cnn.keras].")
@click.option("--author", default=None, help="Author in the TFLite Model Metadata [default: edgecnn].")
@output_dir_option
@data_option
@labels_option
@preprocess_option
@prepare_option
@unsafe_option
def export(fmt: str, quantize: str | None, calibration_samples: int, seed: int, max_drop: float | None,
           max_float_layers: int, opset: int,
           model_path: Path | None, author: str | None, output_dir: Path, data: Path | None,
           labels: tuple[str, ...] | None, preprocess, prepare: str | None, unsafe: bool) -> None:
    """Export the trained model to TFLite / ONNX / C (full install); updates manifest.json.

    Without --format, writes the standard set: float32 and int8 of every format.
    """
    from edgecnn.export import ExportOptions
    from edgecnn.export.folder import ExportRequest, export_folder
    from edgecnn.formatting import format_kib

    options = ExportOptions(calibration_samples=calibration_samples, seed=seed, opset=opset, data_path=data,
                            labels=labels, preprocessing=preprocess, prepare=prepare, author=author, max_drop=max_drop,
                            max_float_layers=max_float_layers)
    from edgecnn.export.accuracy import step_lines, watching

    with watching(lambda line: click.echo(f"  {line}")):  # --max-drop: each step as it is judged
        done = export_folder(ExportRequest(Workspace(output_dir), fmt, quantize, model_path, options, unsafe))
    for a in done.artifacts:  # the accuracy loop's verdict (--max-drop)
        if isinstance((a.extra.get("quantization") or {}).get("accuracy_control"), dict):
            click.echo(f"{a.path.name}: int8 under accuracy control")
            click.echo("\n".join(f"  {line}" for line in step_lines(a.extra["quantization"], table=False)))
    width = max(len(a.path.name) for a in done.artifacts)
    click.echo(f"{'file':<{width}}  {'precision':<9}  {'size':>11}  {'seconds':>7}")
    for a in done.artifacts:
        precision = (a.extra.get("quantization") or {}).get("label", a.precision)
        click.echo(f"{a.path.name:<{width}}  {precision:<9}  {format_kib(a.bytes, 1):>11}  {a.export_seconds:>7.2f}")
    click.echo(f"Exported {len(done.artifacts)} file(s) in {done.seconds:.1f} s -> {done.manifest}"
               " (each loaded and predicted a batch in its runtime)")


@cli.command(epilog=examples(
    "edgecnn run                              # the published figures (about 2-3 minutes)",
    "edgecnn run --quick --output-dir /tmp/try   # 2 epochs and a short benchmark",
    "edgecnn run --retrain --seed 1",
))
@output_dir_option
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True, help="Training epochs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds training and calibration.")
@click.option("--quick", is_flag=True, help="A first look: 2 epochs and a short benchmark.")
@click.option("--retrain", is_flag=True, help="Train even if a model with this configuration exists.")
@click.option("--platform", "platform_names", multiple=True, type=click.Choice(_PLATFORM_CHOICES),
              help="Also verify on a target: emulated Pi CPUs, TFLite Micro, Cortex-M firmware, the browser "
                   "(see `verify --platform`). Repeatable.")
@data_option
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Your own trained .keras image classifier: skip training, run export -> verify -> bench -> report.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=0.3, show_default=True, metavar="POINTS",
              help="int8 files that miss the int8 verify tolerance are repaired first (more calibration, then the "
                   "fewest layers float32; full integer only with --platform mcu/cortex-m*): docs/int8.md.")
@max_float_layers_option
@labels_option
@preprocess_option
@unsafe_option
def run(output_dir: Path, epochs: int, seed: int, quick: bool, retrain: bool,
        platform_names: tuple[str, ...], data: Path | None, model_path: Path | None, max_drop: float,
        max_float_layers: int,
        labels: tuple[str, ...] | None, preprocess, unsafe: bool) -> None:
    """The whole job (full install): train, export, verify, bench, report; one results table.

    Reuses a trained model when one with the same configuration and data exists; with
    --model, uses that model and trains nothing. Exits as verify does: 1 if an exported file
    FAILs verification, 3 if none fails but one is INCONCLUSIVE (too few test images), else 0.
    """
    from edgecnn.formatting import TERMINAL_WIDTH, wrap_notes
    from edgecnn.pipeline import RunConfig, run_pipeline
    from edgecnn.report import console_table

    config = RunConfig(output_dir=output_dir, epochs=epochs, seed=seed, quick=quick, retrain=retrain, data=data,
                       platforms=platform_names, model=model_path, labels=labels, preprocessing=preprocess,
                       unsafe=unsafe, max_drop=max_drop,
                       max_float_layers=max_float_layers)
    result = run_pipeline(config, echo=click.echo)
    total = sum(result.stage_seconds.values())
    click.echo(f"\nResults ({total:.0f} s in all; report: {result.report_paths[0]}, {result.report_paths[1]})\n")
    click.echo(console_table(result.rows))
    # The choice in a few lines; the GEMM-ceiling shares are in the report, and here with -v.
    verbose = click.get_current_context().find_root().params.get("verbose", 0) > 0
    advice = result.report_notes if verbose else result.advice
    if advice:
        click.echo("\nWhich file to ship (also in the report):")
        click.echo(wrap_notes(list(advice), TERMINAL_WIDTH))
    if result.verdict == "INCONCLUSIVE":  # exit 3, as verify: a too-small test set is not a pass
        from edgecnn.parity import EXIT_CODES

        raise UserError(f"verification INCONCLUSIVE: {result.failure} (see verify.json)", EXIT_CODES["INCONCLUSIVE"])
    if not result.passed:
        raise UserError("verification FAILED for at least one artifact (see verify.json)"
                        + "".join(f"; {error}" for error in result.errors[:1]))

