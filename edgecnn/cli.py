"""The ``edgecnn`` command line: parse, call the library, print.

Heavy libraries (TensorFlow, ONNX Runtime, LiteRT) are imported inside the command
that needs them, so ``edgecnn --help`` and ``--version`` return instantly.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from edgecnn import __version__
# The registries give the CLI its choices; all three are light imports (no numpy, no
# TensorFlow, no runtime), so `edgecnn --help` stays instant (a test checks it).
from edgecnn.bundle import TARGETS as BUNDLE_TARGETS
from edgecnn.errors import EdgeCnnError
from edgecnn.names import BUNDLE_DIR
from edgecnn.export import REGISTRY as _EXPORT_REGISTRY
from edgecnn.platforms.registry import CHOICES as _PLATFORM_CHOICES
from edgecnn.workspace import Workspace

DEFAULT_OUTPUT_DIR = Path("exports")

# Model files named on the command line (verify, bench); none: the manifest's.
artifacts_argument = click.argument("artifacts", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
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


def _labels(ctx: click.Context, param: click.Parameter, value: Path | None) -> tuple[str, ...] | None:
    """--labels FILE -> the class names it lists (None when not given); a bad file is a DataError."""
    if value is None:
        return None
    from edgecnn.data import read_labels_file

    return read_labels_file(value)


labels_option = click.option(
    "--labels", "labels", type=click.Path(dir_okay=False, path_type=Path), default=None, callback=_labels,
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
    help="Load .keras files that hold Python code (Lambda layers); loading runs that code, "
         "so only for files you trust.",
)


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
    "ONNX: static QDQ, float I/O). 'dynamic': int8 weights, float I/O. 'float16': half-size "
    "weights. 'int8_app' / 'float32_app' (TFLite): what MediaPipe Tasks and ML Kit take (RGB uint8 or float32 "
    "in, float32 out). Omitted: float32.",
)
@click.option("--calibration-samples", type=click.IntRange(min=1), default=500, show_default=True,
              help="Training images used to calibrate int8 ranges.")
@click.option("--seed", type=int, default=0, show_default=True, help="Picks the calibration images.")
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
def export(fmt: str, quantize: str | None, calibration_samples: int, seed: int, opset: int,
           model_path: Path | None, author: str | None, output_dir: Path, data: Path | None,
           labels: tuple[str, ...] | None, preprocess, prepare: str | None, unsafe: bool) -> None:
    """Export the trained model to TFLite / ONNX / C (full install); updates manifest.json.

    Without --format, writes the standard set: float32 and int8 of every format.
    """
    from edgecnn.export import ExportOptions
    from edgecnn.export.folder import ExportRequest, export_folder
    from edgecnn.formatting import format_kib

    options = ExportOptions(calibration_samples=calibration_samples, seed=seed, opset=opset, data_path=data,
                            labels=labels, preprocessing=preprocess, prepare=prepare, author=author)
    done = export_folder(ExportRequest(Workspace(output_dir), fmt, quantize, model_path, options, unsafe))
    width = max(len(a.path.name) for a in done.artifacts)
    click.echo(f"{'file':<{width}}  {'precision':<9}  {'size':>11}  {'seconds':>7}")
    for a in done.artifacts:
        click.echo(f"{a.path.name:<{width}}  {a.precision:<9}  {format_kib(a.bytes, 1):>11}  {a.export_seconds:>7.2f}")
    click.echo(f"Exported {len(done.artifacts)} file(s) in {done.seconds:.1f} s -> {done.manifest}"
               " (each loaded and predicted a batch in its runtime)")


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
@click.option("--warn-only", is_flag=True, help="Report failures but exit 0.")
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
              help="Test images for the --platform check.")
@unsafe_option
def verify(
    artifacts: tuple[Path, ...], output_dir: Path, model: Path | None, data: Path | None,
    max_abs_diff: float | None, min_agreement: float | None, max_accuracy_drop: float | None,
    warn_only: bool, debug_quant: bool, platform_names: tuple[str, ...], samples: int, unsafe: bool,
) -> None:
    """Prove every exported file predicts what Keras predicts (full install; the whole test set).

    With no ARTIFACTS, checks everything in <output-dir>/manifest.json; any .tflite or
    .onnx file can be named. Merges the results into verify.json (one entry per file; the
    others are kept) and redraws disagreements.png from the complete set. Exits 1 if any
    artifact fails (unless --warn-only).
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
            raise UserError(done.failure)
        click.echo(f"Warning: {done.failure} (--warn-only: exit 0)", err=True)


@cli.command(epilog=examples(
    "edgecnn predict digit.png                # exports/mnist_cnn_int8.tflite",
    "edgecnn predict --model exports/mnist_cnn_float32.onnx --top 3 a.png b.jpg",
    "edgecnn predict --json batch.npy > results.json",
))
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
    """Classify images (PNG/JPEG, any size) or .npy arrays; no TensorFlow needed.

    Photos are prepared as the model's metadata says: fitted to its input (aspect kept, padded,
    colour converted), or for MNIST-like digit models (the reference CNN) inverted, cropped and
    centred like MNIST; --prepare overrides. Prints `file label confidence` per input (`file[i]`
    for each row of an .npy batch). A bad input gives an `Error:` line; the others are still
    classified (exit 1).
    """
    import json

    from edgecnn.predict import classify

    done = classify(model_path, inputs, top, prepare=prepare)
    if as_json:
        click.echo(json.dumps(done.to_json(), indent=2))
    else:
        for line in done.lines():
            click.echo(line)
    if done.errors:  # one Error: line per bad input, exit 1
        raise UserError(done.errors)


@cli.command(epilog=examples(
    "edgecnn inspect exports/mnist_cnn_int8_app.tflite",
    "edgecnn inspect --json model.tflite > model.json",
))
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.argument("model_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
def inspect(model_path: Path, as_json: bool) -> None:
    """Show what a .tflite/.onnx file carries and which app frameworks take it; no TensorFlow needed.

    Inputs and outputs (dtype, shape, quantization), edgecnn's metadata and the standard TFLite
    Model Metadata (normalization, colour space, labels), the ops and XNNPACK's share, and for
    MediaPipe Tasks, ML Kit, Android Studio, LiteRT, TFLite Micro and ONNX Runtime: yes or no, and why.
    """
    import json

    from edgecnn.inspection import format_inspection, inspect_model

    found = inspect_model(model_path)
    click.echo(json.dumps(found.to_json(), indent=2) if as_json else format_inspection(found))


@cli.command(epilog=examples(
    "edgecnn bundle                           # exports/bundle/: pi, android, mcu (web: --target web)",
    "edgecnn bundle --target pi               # exports/bundle/pi: classify.py, README.md, the .tflite files",
    "edgecnn bundle --output-dir /tmp/try --target android   # /tmp/try/bundle/android: README.md, labels.txt",
))
@output_dir_option
@click.option(
    "--target", type=click.Choice(["all", *BUNDLE_TARGETS]), default="all", show_default=True,
    help="Which folder to write under <output-dir>/bundle/ (all: every target but web, which needs npm).",
)
def bundle(output_dir: Path, target: str) -> None:
    """Write ready-to-copy folders for a Raspberry Pi, Android/iOS, microcontrollers and the web."""
    from edgecnn.bundle import build_bundles

    for name, files in build_bundles(output_dir, target).items():
        folder = output_dir / BUNDLE_DIR / name
        # Paths inside the folder, once each: the web bundle has an index.js in two runtime folders.
        listed = dict.fromkeys(f.relative_to(folder).as_posix() if f.is_relative_to(folder) else str(f) for f in files)
        click.echo(f"{name}: {folder} ({', '.join(listed)})")


@cli.command(epilog=examples(
    "edgecnn serve                            # exports/bundle/web on http://127.0.0.1:8000",
    "edgecnn serve --port 8080 /tmp/try/bundle/web",
))
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port on 127.0.0.1 (0: any free port).")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def serve(port: int, directory: Path | None) -> None:
    """Serve a web bundle on 127.0.0.1 [default DIRECTORY: exports/bundle/web].

    With the MIME types and cross-origin isolation headers ONNX Runtime Web needs.
    """
    from edgecnn.web.serve import serve_forever

    serve_forever(directory or DEFAULT_OUTPUT_DIR / "bundle" / "web", port, echo=click.echo)


def _int_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """'1,32,256' -> (1, 32, 256); anything else is a usage error."""
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise click.BadParameter(f"{value!r}: expected positive integers separated by commas")
    return tuple(dict.fromkeys(out))


@cli.command(epilog=examples(
    "edgecnn bench                            # every exported file + the Keras baseline",
    "edgecnn bench --batch-sizes 1,32 --threads 1,2 exports/mnist_cnn_int8.tflite",
    "edgecnn bench --no-keras --no-cold-start --seconds 0.5   # quick, TensorFlow-free",
))
@artifacts_argument
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
    done = bench_folder(BenchRequest(Workspace(output_dir), artifacts, data, config),
                        progress=lambda msg: click.echo(f"  {msg}", err=True))
    for note in done.notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(format_table(done.result))
    click.echo(f"\nWrote {', '.join(str(p) for p in done.written.values())}")


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
@labels_option
@preprocess_option
@unsafe_option
def run(output_dir: Path, epochs: int, seed: int, quick: bool, retrain: bool,
        platform_names: tuple[str, ...], data: Path | None, model_path: Path | None, labels: tuple[str, ...] | None,
        preprocess, unsafe: bool) -> None:
    """The whole job (full install): train, export, verify, bench, report; one results table.

    Reuses a trained model when one with the same configuration and data exists; with
    --model, uses that model and trains nothing. Exits 1 if any exported file fails verification.
    """
    from edgecnn.formatting import TERMINAL_WIDTH, wrap_notes
    from edgecnn.pipeline import RunConfig, run_pipeline
    from edgecnn.report import console_table

    config = RunConfig(output_dir=output_dir, epochs=epochs, seed=seed, quick=quick, retrain=retrain, data=data,
                       platforms=platform_names, model=model_path, labels=labels, preprocessing=preprocess,
                       unsafe=unsafe)
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
    if not result.passed:
        raise UserError("verification FAILED for at least one artifact (see verify.json)"
                        + "".join(f"; {error}" for error in result.errors[:1]))


def main() -> None:
    """Console-script entry point: native log lines are filtered at fd 2 (see edgecnn.quiet)."""
    global _FILTER_NATIVE_STDERR
    _FILTER_NATIVE_STDERR = True
    cli(prog_name="edgecnn")
