"""Commands that check exported files: verify (parity with Keras) and bench (speed, memory)."""

from __future__ import annotations

from pathlib import Path

import click

# A light import (no numpy, no TensorFlow), so `edgecnn --help` stays instant (a test checks it).
from edgecnn.platforms.registry import CHOICES as _PLATFORM_CHOICES
from edgecnn.cli.group import UserError, cli, examples
from edgecnn.cli.options import artifacts_argument, data_option, int_list, output_dir_option, unsafe_option
from edgecnn.workspace import Workspace


@cli.command(epilog=examples(
    "edgecnn verify                           # every file in exports/manifest.json",
    "edgecnn verify exports/mnist_cnn_int8.tflite --debug-quant",
    "edgecnn verify --platform pi --samples 500   # also on emulated Pi 4 and Pi 5 CPUs (root)",
))
@artifacts_argument
@output_dir_option
@click.option(
    "--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Keras reference model  [default: the manifest's source model, else <output-dir>/mnist_cnn.keras]",
)
@data_option
@click.option("--max-abs-diff", type=click.FloatRange(min=0), default=None,
              help="Override max |Δ| of the probabilities (float32/float16; defaults 1e-4 / 1e-2).")
@click.option("--min-agreement", type=click.FloatRange(0, 100), default=None,
              help="Override the top-1 agreement with Keras, in percent (every precision; defaults 99.99 / 99.5).")
@click.option("--max-accuracy-drop", type=click.FloatRange(min=0), default=None,
              help="Override the accuracy drop vs Keras, in points (int8/dynamic; default 0.3).")
@click.option("--warn-only", is_flag=True, help="Report FAIL and INCONCLUSIVE verdicts but exit 0 (else 1 and 3).")
@click.option("--debug-quant", is_flag=True, help="Per-layer int8 error table for TFLite int8 artifacts.")
@click.option(
    "--platform", "platform_names", multiple=True, type=click.Choice(_PLATFORM_CHOICES),
    help="Also run the files on a target: the Pi bundle's classify.py on an emulated Raspberry Pi CPU "
         "(pi4: Cortex-A72, pi5: Cortex-A76, pi: both; needs root and qemu), the int8 TFLite in the "
         "TFLite Micro interpreter (mcu) or as Cortex-M firmware in QEMU (cortex-m4, cortex-m7; needs "
         "arm-none-eabi-gcc and qemu-system-arm), or the web bundle in headless Chromium (browser; needs "
         "chromium and playwright). Repeatable.",
)
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images for the --platform check (verify itself runs the whole test split).")
@unsafe_option
def verify(
    artifacts: tuple[Path, ...], output_dir: Path, model: Path | None, data: Path | None,
    max_abs_diff: float | None, min_agreement: float | None, max_accuracy_drop: float | None,
    warn_only: bool, debug_quant: bool, platform_names: tuple[str, ...], samples: int, unsafe: bool,
) -> None:
    """Prove every exported file predicts what Keras predicts (full install; the whole test set).

    With no ARTIFACTS, checks everything in <output-dir>/manifest.json; any .tflite or
    .onnx file can be named. Merges the results into verify.json (one entry per file; the
    others are kept) and redraws disagreements.png from the complete set. int8/dynamic files
    are judged by 95 % intervals: exit 0 when every file PASSes, 1 when one FAILs, 3 when none
    fails but the test set is too small to show a tolerance either way (INCONCLUSIVE); with
    --warn-only, 0 (docs/verify.md).
    """
    from edgecnn.errors import require_full

    require_full("`edgecnn verify`", ("tensorflow", "keras", "matplotlib"))
    from edgecnn import verify as verify_lib

    tolerances = verify_lib.override_tolerances(
        verify_lib.DEFAULT_TOLERANCES, max_abs_diff=max_abs_diff,
        min_agreement=None if min_agreement is None else min_agreement / 100.0,
        max_accuracy_drop=max_accuracy_drop,
    )
    options = verify_lib.VerifyOptions(debug_quant=debug_quant, unsafe=unsafe)
    request = verify_lib.VerifyRequest(Workspace(output_dir), artifacts, model, data, tolerances, options,
                                       platform_names, samples)
    done = verify_lib.verify_folder(request, echo=click.echo)
    for warning in done.warnings:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"Wrote {done.written[0]} and {done.written[1]}")
    if done.failure:
        if not warn_only:
            raise UserError(done.failure, done.exit_code)
        click.echo(f"Warning: {done.failure} (--warn-only: exit 0)", err=True)


@cli.command(epilog=examples(
    "edgecnn bench                            # every exported file + the Keras baseline",
    "edgecnn bench --batch-sizes 1,32 --threads 1,2 exports/mnist_cnn_int8.tflite",
    "edgecnn bench --no-keras --no-cold-start --seconds 0.5   # quick, TensorFlow-free",
))
@artifacts_argument
@output_dir_option
@data_option
@click.option("--batch-sizes", default="1,32,256", show_default=True, callback=int_list,
              help="Batch sizes, comma-separated.")
@click.option("--threads", default="1", show_default=True, callback=int_list,
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
@click.option("--remeasure-ceiling", "ceiling", flag_value="remeasure",
              help="Measure this machine's GEMM and memory limits again instead of using the cached figures.")
@click.option("--no-ceiling", "ceiling", flag_value="off", help="Skip the machine's limits (no GMAC/s share).")
@unsafe_option
def bench(artifacts: tuple[Path, ...], output_dir: Path, data: Path | None, batch_sizes: tuple[int, ...],
          threads: tuple[int, ...], seconds: float | None, runs: int | None, warmup: float | None,
          xnnpack: str, no_keras: bool, no_cold_start: bool, ceiling: str | None, unsafe: bool) -> None:
    """Latency, throughput, cold start and memory of model files on the CPU runtimes.

    With no ARTIFACT: every artifact in the manifest plus the folder's Keras model as the
    baseline, timed in its own process (skipped, with a note, on the TensorFlow-free base
    install). Writes bench.json, bench.csv, bench.md and bench.png into OUTPUT_DIR, with the
    machine's load beside every figure. Each row also says the GMAC/s reached and its share of
    this machine's GEMM ceiling (measured when the machine is quiet and cached, measured again
    when a run finds it implausible; --remeasure-ceiling measures again).
    """
    from edgecnn.bench import BenchConfig, with_options
    from edgecnn.bench.folder import BenchRequest, bench_folder
    from edgecnn.bench.report import format_table

    if seconds is not None and runs is not None:
        raise click.UsageError("give --seconds or --runs, not both")
    config = with_options(
        BenchConfig(), batch_sizes=batch_sizes, threads=threads, seconds=seconds, runs=runs,
        warmup_seconds=warmup, xnnpack={"on": (True,), "off": (False,), "both": (True, False)}[xnnpack],
        keras=not no_keras, cold_start=not no_cold_start, unsafe=unsafe, ceiling=ceiling,
    )
    done = bench_folder(BenchRequest(Workspace(output_dir), artifacts, data, config, isolated=True),
                        progress=lambda msg: click.echo(f"  {msg}", err=True))
    for note in done.notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(format_table(done.result))
    click.echo(f"\nWrote {', '.join(str(p) for p in done.written.values())}")
