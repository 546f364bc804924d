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


@cli.command()
@click.argument("artifacts", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@output_dir_option
@click.option(
    "--model", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Keras reference model  [default: <output-dir>/mnist_cnn.keras]",
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
def verify(
    artifacts: tuple[Path, ...], output_dir: Path, model: Path | None, data: Path | None,
    max_abs_diff: float | None, min_agreement: float | None, max_accuracy_drop: float | None,
    warn_only: bool, debug_quant: bool,
) -> None:
    """Prove every exported file predicts what Keras predicts (full 10k test set).

    With no ARTIFACTS, checks everything in <output-dir>/manifest.json; any .tflite or
    .onnx file can be named. Writes verify.json and disagreements.png into
    <output-dir>; exits 1 if any artifact fails (unless --warn-only).
    """
    from edgecnn import verify as verify_lib
    from edgecnn.data import load_mnist
    from edgecnn.manifest import load_artifacts, read_manifest

    model = model or output_dir / "mnist_cnn.keras"
    targets = list(artifacts) or load_artifacts(output_dir)
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
    mnist = load_mnist(data)
    options = verify_lib.VerifyOptions(debug_quant=debug_quant)
    click.echo(f"Verifying {len(targets)} artifact(s) against {model} on {len(mnist.x_test):,} test images")
    report = verify_lib.verify(model, targets, mnist, tolerances, options)
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
    json_path, png_path = verify_lib.write_report(report, output_dir, mnist.x_test, options.max_images)
    click.echo(f"Wrote {json_path} and {png_path}")
    if not report.passed:
        failed = sum(not row.passed for row in report.rows)
        message = f"{failed} of {len(report.rows)} artifact(s) FAILED parity with Keras"
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
@click.option("--top", type=click.IntRange(1, 10), default=1, show_default=True, help="Show the K most likely digits.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
def predict(model_path: Path, top: int, as_json: bool, inputs: tuple[Path, ...]) -> None:
    """Classify digit images (PNG/JPEG, any size or polarity) or .npy arrays without TensorFlow.

    Prints `file digit confidence` per input (`file[i]` for each row of an .npy batch).
    A bad input gives an `Error:` line; the others are still classified (exit 1).
    """
    import json

    import numpy as np

    from edgecnn import runtime
    from edgecnn.images import load_input

    predictor = runtime.load(model_path)
    labels = predictor.labels
    results, failed = [], 0
    for path in inputs:
        try:
            arr = load_input(path)
            probs = predictor.predict(arr)
        except ValueError as exc:  # InputError: a bad file; report it and go on with the others
            message = str(exc) if str(exc).startswith(str(path)) else f"{path}: {exc}"
            click.echo(f"Error: {message}", err=True)
            failed += 1
            continue
        single = arr.ndim == 2  # one (28, 28) image; batches are named file[i]
        for i, p in enumerate(probs):
            order = np.argsort(-p, kind="stable")[:top]
            results.append({
                "input": str(path) if single else f"{path}[{i}]",
                "digit": labels[order[0]],
                "confidence": round(float(p[order[0]]), 6),
                "top": [{"digit": labels[k], "probability": round(float(p[k]), 6)} for k in order],
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


from edgecnn.bundle import TARGETS as BUNDLE_TARGETS  # noqa: E402  (light: no numpy, no runtime)


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
