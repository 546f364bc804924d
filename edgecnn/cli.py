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
# The registries give the CLI its choices; all three are light imports (no numpy, no
# TensorFlow, no runtime), so `edgecnn --help` stays instant (a test checks it).
from edgecnn.bundle import TARGETS as BUNDLE_TARGETS
from edgecnn.errors import EdgeCnnError
from edgecnn.export import REGISTRY as _EXPORT_REGISTRY
from edgecnn.platforms.registry import CHOICES as _PLATFORM_CHOICES

DEFAULT_OUTPUT_DIR = Path("exports")

output_dir_option = click.option(
    "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_OUTPUT_DIR,
    show_default=True, help="Folder for models, manifest and reports.",
)
data_option = click.option(
    "--data", type=click.Path(path_type=Path), default=None,
    help="Images: a folder with one sub-folder per class (train/ + test/ inside it, or split 80/20 "
         "seeded), an .npz with x and y, or an MNIST IDX folder / mnist.npz; default: $EDGECNN_DATA, "
         "then the bundled MNIST.",
)


def _preprocess(ctx: click.Context, param: click.Parameter, value: str | None):
    """--preprocess text -> edgecnn.spec.Preprocessing (None when not given)."""
    if value is None:
        return None
    from edgecnn.spec import Preprocessing

    try:
        return Preprocessing.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


labels_option = click.option(
    "--labels", "labels_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Class names, one per line in output order [default: the data's class folders, else 0..K-1].",
)
preprocess_option = click.option(
    "--preprocess", callback=_preprocess, default=None, metavar="unit|symmetric|none|SCALE,OFFSET",
    help="What the model takes: unit x/255 (default), symmetric x/127.5-1, none (raw 0-255, e.g. the "
         "model has a Rescaling layer), or input = pixel*SCALE+OFFSET. RGB channel order.",
)
prepare_option = click.option(
    "--prepare", type=click.Choice(["mnist", "resize"]), default=None,
    help="How a photo becomes the input: mnist (invert, crop, centre a digit like MNIST) or resize "
         "(aspect kept, padded) [default: what the model's metadata says].",
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
    """Train the reference CNN on MNIST (mnist_cnn.keras), or on --data (<data>_cnn.keras: input
    shape and class count from the data); writes the model and train.json."""
    from edgecnn.data import load_data
    from edgecnn.model import TrainConfig, train as train_model

    dataset = load_data(data, seed=seed)
    config = TrainConfig(
        epochs=epochs, batch_size=batch_size, seed=seed, verbose=1 if sys.stdout.isatty() else 2
    )
    h, w, c = dataset.image_shape
    click.echo(f"Training on {len(dataset.x_train):,} images ({h}x{w}x{c}, {dataset.num_classes} classes) "
               f"from {dataset.source} ({epochs} epochs, seed {seed})")
    result = train_model(config, dataset, output_dir, h5=h5)
    click.echo(
        f"Test accuracy {result.test_accuracy:.2%} in {result.wall_seconds:.1f} s -> {result.model_path}"
    )


# --- export ------------------------------------------------------------------------------
# Choices come from the export REGISTRY, so a new exporter row (e.g. ("c", "int8")) appears
# in --format / --quantize and in their validation by itself.

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
              help="Trained .keras model, any Keras image classifier [default: the one train.json in "
                   "<output-dir> names, else <output-dir>/mnist_cnn.keras].")
@output_dir_option
@data_option
@labels_option
@preprocess_option
@prepare_option
@unsafe_option
def export(fmt: str, quantize: str | None, calibration_samples: int, seed: int, opset: int,
           model_path: Path | None, output_dir: Path, data: Path | None, labels_file: Path | None,
           preprocess, prepare: str | None, unsafe: bool) -> None:
    """Export the trained model to TFLite / ONNX; writes the files and manifest.json.

    Without --format, writes the standard set: float32 and int8 of every format.
    """
    import time

    from edgecnn.errors import ModelError
    from edgecnn.model import default_model_path

    targets = export_targets(fmt, quantize)
    model_path = model_path or default_model_path(output_dir)
    if not model_path.is_file():  # checked before TensorFlow loads: the error is instant
        raise ModelError(f"{model_path}: model not found (run `edgecnn train` first)")
    labels = None
    if labels_file is not None:
        from edgecnn.data import read_labels_file

        labels = read_labels_file(labels_file)

    from edgecnn.export import ExportOptions, export_models

    options = ExportOptions(calibration_samples=calibration_samples, seed=seed, opset=opset, data_path=data,
                            labels=labels, preprocessing=preprocess, prepare=prepare)
    started = time.perf_counter()
    artifacts = export_models(model_path, output_dir, targets, options, unsafe=unsafe)
    width = max(len(a.path.name) for a in artifacts)
    click.echo(f"{'file':<{width}}  {'precision':<9}  {'size':>10}  {'seconds':>7}")
    for a in artifacts:
        click.echo(f"{a.path.name:<{width}}  {a.precision:<9}  {a.bytes / 1024:>7.1f} KB  {a.export_seconds:>7.2f}")
    click.echo(
        f"Exported {len(artifacts)} file(s) in {time.perf_counter() - started:.1f} s -> {output_dir / 'manifest.json'}"
        " (each loaded and predicted a batch in its runtime)"
    )


@cli.command()
@click.argument("artifacts", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
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
@click.option("--warn-only", is_flag=True, help="Report failures but exit 0.")
@click.option("--debug-quant", is_flag=True, help="Per-layer int8 error table for TFLite int8 artifacts.")
@click.option(
    "--platform", "platform_names", multiple=True, type=click.Choice(_PLATFORM_CHOICES),
    help="Also run the Pi bundle's classify.py on an emulated Raspberry Pi CPU (pi4: Cortex-A72, "
         "pi5: Cortex-A76, pi: both; needs root and qemu). Repeatable.",
)
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Test images for the --platform check.")
@unsafe_option
def verify(
    artifacts: tuple[Path, ...], output_dir: Path, model: Path | None, data: Path | None,
    max_abs_diff: float | None, min_agreement: float | None, max_accuracy_drop: float | None,
    warn_only: bool, debug_quant: bool, platform_names: tuple[str, ...], samples: int, unsafe: bool,
) -> None:
    """Prove every exported file predicts what Keras predicts (the whole test set).

    With no ARTIFACTS, checks everything in <output-dir>/manifest.json; any .tflite or
    .onnx file can be named. Writes verify.json and disagreements.png into
    <output-dir>; exits 1 if any artifact fails (unless --warn-only).
    """
    from edgecnn import verify as verify_lib
    from edgecnn.data import load_data
    from edgecnn.manifest import load_artifacts, read_manifest
    from edgecnn.model import default_model_path

    model = model or default_model_path(output_dir)
    targets = list(artifacts) or load_artifacts(output_dir, runnable_only=True)
    if not targets:
        raise click.ClickException(
            f"no artifacts to verify: {output_dir / 'manifest.json'} lists none "
            "(run `edgecnn export`, or name .tflite/.onnx files)"
        )
    tolerances = verify_lib.override_tolerances(
        verify_lib.DEFAULT_TOLERANCES, max_abs_diff=max_abs_diff,
        min_agreement=None if min_agreement is None else min_agreement / 100.0,
        max_accuracy_drop=max_accuracy_drop,
    )
    spec = verify_lib.artifact_spec(targets)
    mnist = load_data(data, spec.input_shape if spec is not None else None)
    options = verify_lib.VerifyOptions(debug_quant=debug_quant, unsafe=unsafe)
    click.echo(f"Verifying {len(targets)} artifact(s) against {model} on {len(mnist.x_test):,} test images")
    report = verify_lib.verify(model, targets, mnist, tolerances, options, spec=spec)
    source = read_manifest(output_dir).get("source_model", {}).get("sha256") if not artifacts else None
    if source and source != report.model_sha256:
        click.echo(f"Warning: the manifest's artifacts were exported from another model (sha256 {source[:12]}…)",
                   err=True)
    click.echo(verify_lib.format_table(report, root=output_dir))
    for row in report.rows:
        if row.quant_debug is not None:
            click.echo(f"\nint8 layer diagnosis of {row.path.name}:")
            click.echo(verify_lib.format_quant_debug(row.quant_debug))
    if debug_quant and not any(row.quant_debug is not None for row in report.rows):
        click.echo("\n--debug-quant: no loadable TFLite int8 artifact among those verified")
    platforms = None
    if platform_names:
        from edgecnn.platforms import check_verified, format_platforms

        platforms = check_verified(platform_names, report, mnist, samples, tolerances, echo=click.echo)
        click.echo(format_platforms(platforms))
    json_path, png_path = verify_lib.write_report(report, output_dir, mnist.x_test, options.max_images, platforms)
    click.echo(f"Wrote {json_path} and {png_path}")
    failed_platforms = [key for key, section in (platforms or {}).items() if not section["passed"]]
    if not report.passed or failed_platforms:
        failed = sum(not row.passed for row in report.rows)
        message = f"{failed} of {len(report.rows)} artifact(s) FAILED parity with Keras"
        if failed_platforms:
            message += f"; FAILED on {', '.join(failed_platforms)}"
        if warn_only:
            click.echo(f"Warning: {message} (--warn-only: exit 0)", err=True)
        else:
            click.echo(f"Error: {message}", err=True)
            sys.exit(1)


@cli.command()
@click.option(
    "--model", "model_path", type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT_DIR / "mnist_cnn_int8.tflite", show_default=True,
    help="A .tflite or .onnx file exported by edgecnn.",
)
@click.option("--top", type=click.IntRange(min=1), default=1, show_default=True, help="Show the K most likely classes.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@prepare_option
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
def predict(model_path: Path, top: int, as_json: bool, prepare: str | None, inputs: tuple[Path, ...]) -> None:
    """Classify images (PNG/JPEG, any size) or .npy arrays without TensorFlow.

    Photos are prepared as the model's metadata says: fitted to its input (aspect kept, padded,
    colour converted), or for MNIST-like digit models (the reference CNN) inverted, cropped and
    centred like MNIST; --prepare overrides. Prints `file label confidence` per input (`file[i]`
    for each row of an .npy batch). A bad input gives an `Error:` line; the others are still
    classified (exit 1).
    """
    import json

    import numpy as np

    from edgecnn import runtime
    from edgecnn.images import load_input

    predictor = runtime.load(model_path)
    labels = predictor.labels
    spec = predictor.spec
    how = prepare or spec.preprocessing.prepare
    top = min(top, spec.num_classes)
    results, failed = [], 0
    for path in inputs:
        try:
            arr = load_input(path, spec.input_shape, how)
            probs = predictor.predict(arr)
        except ValueError as exc:  # InputError: a bad file; report it and go on with the others
            message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
            click.echo(f"Error: {message}", err=True)
            failed += 1
            continue
        # one image (H, W) or (H, W, C); batches are named file[i]
        single = arr.ndim == 2 or (spec.channels > 1 and arr.shape == tuple(spec.input_shape))
        for i, p in enumerate(probs):
            order = np.argsort(-p, kind="stable")[:top]
            results.append({
                "input": str(path) if single else f"{path}[{i}]",
                "digit": labels[order[0]],  # the class label ("digit": the name from the MNIST days)
                "label": labels[order[0]],
                "confidence": round(float(p[order[0]]), 6),
                "top": [{"digit": labels[k], "label": labels[k], "probability": round(float(p[k]), 6)}
                        for k in order],
            })
    if as_json:
        doc = {"model": str(model_path), "precision": predictor.precision, "results": results, "errors": failed}
        click.echo(json.dumps(doc, indent=2))
    else:
        for r in results:
            extra = "".join(f" {t['digit']} {t['probability']:.4f}" for t in r["top"][1:])
            click.echo(f"{r['input']} {r['digit']} {r['confidence']:.4f}{extra}")
    if failed:
        raise SystemExit(1)


@cli.command()
@output_dir_option
@click.option(
    "--target", type=click.Choice(["all", *BUNDLE_TARGETS]), default="all", show_default=True,
    help="Which folder to write under <output-dir>/bundle/.",
)
def bundle(output_dir: Path, target: str) -> None:
    """Write ready-to-copy folders for a Raspberry Pi, Android/iOS and TensorFlow Lite Micro."""
    from edgecnn.bundle import build_bundles

    names = list(BUNDLE_TARGETS) if target == "all" else [target]
    for name, files in build_bundles(output_dir, names).items():
        click.echo(f"{name}: {files[0].parent} ({', '.join(f.name for f in files)})")


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
@unsafe_option
def bench(artifacts: tuple[Path, ...], output_dir: Path, data: Path | None, batch_sizes: tuple[int, ...],
          threads: tuple[int, ...], seconds: float | None, runs: int | None, warmup: float | None,
          xnnpack: str, no_keras: bool, no_cold_start: bool, unsafe: bool) -> None:
    """Latency, throughput, cold start and memory of models on the CPU runtimes.

    With no ARTIFACT: every artifact in the manifest plus OUTPUT_DIR/mnist_cnn.keras as the
    baseline. Writes bench.json, bench.csv, bench.md and bench.png into OUTPUT_DIR.
    """
    from edgecnn.bench import BenchConfig, check_model_path, default_paths, run_bench, with_options
    from edgecnn.bench_report import format_table, write_outputs
    from edgecnn.data import load_data
    from edgecnn.verify import artifact_spec

    if seconds is not None and runs is not None:
        raise click.UsageError("give --seconds or --runs, not both")
    paths = [check_model_path(p) for p in artifacts] if artifacts else default_paths(output_dir, not no_keras)
    config = with_options(
        BenchConfig(), batch_sizes=batch_sizes, threads=threads, seconds=seconds, runs=runs,
        warmup_seconds=warmup, xnnpack={"on": (True,), "off": (False,), "both": (True, False)}[xnnpack],
        keras=not no_keras, cold_start=not no_cold_start, unsafe=unsafe,
    )
    spec = artifact_spec([p for p in paths if p.suffix in (".tflite", ".onnx")])
    images = load_data(data, spec.input_shape if spec is not None else None).x_test
    click.echo(f"Benchmarking {len(paths)} model(s): batch {','.join(map(str, batch_sizes))}, "
               f"threads {','.join(map(str, threads))}", err=True)
    result = run_bench(paths, config, images, out_dir=output_dir, progress=lambda msg: click.echo(f"  {msg}", err=True))
    written = write_outputs(result, output_dir)
    click.echo(format_table(result))
    click.echo(f"\nWrote {', '.join(str(p) for p in written.values())}")


@cli.command()
@output_dir_option
@click.option("--epochs", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quick", is_flag=True, help="A first look: 2 epochs and a short benchmark.")
@click.option("--retrain", is_flag=True, help="Train even if a model with this configuration exists.")
@click.option("--platform", "platform_names", multiple=True, type=click.Choice(_PLATFORM_CHOICES),
              help="Also verify on emulated Raspberry Pi CPUs (see `verify --platform`).")
@data_option
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Your own trained .keras image classifier: skip training, run export -> verify -> bench -> report.")
@labels_option
@preprocess_option
@unsafe_option
def run(output_dir: Path, epochs: int, seed: int, quick: bool, retrain: bool,
        platform_names: tuple[str, ...], data: Path | None, model_path: Path | None, labels_file: Path | None,
        preprocess, unsafe: bool) -> None:
    """The whole job: train -> export -> verify -> bench -> report, with one results table.

    Reuses a trained model when one with the same configuration and data exists; with
    --model, uses that model and trains nothing. Exits 1 if any exported file fails verification.
    """
    from edgecnn.pipeline import RunConfig, run_pipeline
    from edgecnn.report import console_table

    labels = None
    if labels_file is not None:
        from edgecnn.data import read_labels_file

        labels = read_labels_file(labels_file)
    if model_path is not None and not model_path.is_file():
        from edgecnn.errors import ModelError

        raise ModelError(f"{model_path}: model not found")
    config = RunConfig(output_dir=output_dir, epochs=epochs, seed=seed, quick=quick, retrain=retrain, data=data,
                       platforms=platform_names, model=model_path, labels=labels, preprocessing=preprocess,
                       unsafe=unsafe)
    result = run_pipeline(config, echo=click.echo)
    total = sum(result.stage_seconds.values())
    click.echo(f"\nResults ({total:.0f} s in all; report: {result.report_paths[0]}, {result.report_paths[1]})\n")
    click.echo(console_table(result.rows))
    if not result.passed:
        click.echo("Error: verification FAILED for at least one artifact (see verify.json)", err=True)
        sys.exit(1)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="edgecnn")
