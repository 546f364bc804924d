"""Commands that use exported files: predict, inspect, bundle, and serve (a web bundle)."""

from __future__ import annotations

from pathlib import Path

import click

# A light import (no numpy, no TensorFlow), so `edgecnn --help` stays instant (a test checks it).
from edgecnn.bundle import TARGETS as BUNDLE_TARGETS
from edgecnn.names import BUNDLE_DIR
from edgecnn.cli.group import UserError, cli, examples
from edgecnn.cli.options import DEFAULT_OUTPUT_DIR, output_dir_option, prepare_option


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
