"""Options and argument types several commands share, with their click callbacks."""

from __future__ import annotations

from pathlib import Path

import click

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
# export and run: the accuracy loop's budget (export.accuracy.DEFAULT_MAX_FLOAT_LAYERS; a literal here, so
# that the CLI's import does not load numpy).
max_float_layers_option = click.option(
    "--max-float-layers", type=click.IntRange(min=0), default=16, show_default=True, metavar="N",
    help="With --max-drop: the most layers the int8 repair may keep float32 (0: only the cheap levers).",
)
# For every command that loads a .keras file: pass it on as edgecnn.model.load_model(path, unsafe=unsafe).
unsafe_option = click.option(
    "--unsafe", is_flag=True, default=False,
    help="Load .keras files that hold Python code (Lambda layers); loading runs that code, "
         "so only for files you trust.",
)



def int_list(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    """'1,32,256' -> (1, 32, 256); anything else is a usage error."""
    try:
        out = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        out = ()
    if not out or min(out) < 1:
        raise click.BadParameter(f"{value!r}: expected positive integers separated by commas")
    return tuple(dict.fromkeys(out))

