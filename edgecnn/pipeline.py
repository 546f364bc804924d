"""``edgecnn run``: train -> export -> verify -> bench -> report, reusing what is still valid.

With ``--model my.keras`` (and usually ``--data DIR``) training is skipped: the user's own
image classifier goes through export -> verify -> bench -> report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecnn import fileio, names
from edgecnn.progress import Ticker, ticking_echo
from edgecnn.bench.config import BenchConfig
from edgecnn.model import MODEL_FILENAME, TRAIN_JSON, TrainConfig
from edgecnn.stagechild import StageCrashed, in_child
from edgecnn.workspace import Workspace

if TYPE_CHECKING:
    from edgecnn.data import Dataset
    from edgecnn.spec import Preprocessing
    from edgecnn.verify import VerifyReport, VerifyRun

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """One ``edgecnn run``; ``quick`` trades the published figures for a first look in seconds."""

    output_dir: Path = Path("exports")
    epochs: int = 12  # the published recipe
    seed: int = 0
    quick: bool = False  # 2 epochs and a short benchmark
    retrain: bool = False  # train even when a matching model exists
    data: Path | None = None  # data location (None: $EDGECNN_DATA, then the bundled MNIST)
    platforms: tuple[str, ...] = ()  # also check on emulated Raspberry Pi CPUs (e.g. ("pi",)); needs root + qemu
    model: Path | None = None  # the user's own .keras model: no training
    labels: tuple[str, ...] | None = None  # --labels FILE
    preprocessing: Preprocessing | None = None  # --preprocess (None: the model's declared or unit)
    unsafe: bool = False  # load a .keras model holding Python code (trusted files only)
    # int8 under accuracy control (export.accuracy): the int8 verify tolerance's drop, so that an int8 file
    # that would FAIL verify is repaired first (a file that already meets it is the one export writes).
    max_drop: float | None = 0.3
    max_float_layers: int = 16  # the int8 repair's budget (export.accuracy.DEFAULT_MAX_FLOAT_LAYERS)

    @property
    def train_config(self) -> TrainConfig:
        import sys

        # A terminal gets Keras' progress bar (live every step); a log gets one line per epoch.
        return TrainConfig(epochs=2 if self.quick else self.epochs, seed=self.seed,
                           verbose=1 if sys.stdout.isatty() else 2)


@dataclass
class StageLog:
    """Wall time per stage, reported as it goes through ``echo``; on a terminal a status line
    ticks every 2 s inside each stage (edgecnn.progress), so no stage is silent for long."""

    echo: Callable[[str], None]
    seconds: dict[str, float] = field(default_factory=dict)
    ticker: Ticker | None = None

    def say(self, message: str) -> None:
        """Print a line inside a stage (through the status line when one is ticking)."""
        ticking_echo(self.ticker, self.echo)(message)

    @contextmanager
    def stage(self, name: str, what: str, tick: bool = True) -> Iterator[None]:
        self.echo(f"[{len(self.seconds) + 1}] {name}: {what}")
        start = time.perf_counter()
        with Ticker(name, enabled=None if tick else False) as self.ticker:
            yield
        self.ticker = None
        self.seconds[name] = time.perf_counter() - start
        self.echo(f"    {name} done in {self.seconds[name]:.1f} s")


def reusable_model(out_dir: Path, config: TrainConfig, data_checksums: dict[str, str],
                   model_filename: str = MODEL_FILENAME) -> dict[str, Any] | None:
    """The train.json record of a model trained with this configuration and data, if still on disk."""
    record_path, model_path = Path(out_dir) / TRAIN_JSON, Path(out_dir) / model_filename
    if not (record_path.is_file() and model_path.is_file()):
        return None
    record = fileio.read_json_or_none(record_path)  # an unreadable record only means we train again
    if not isinstance(record, dict):
        return None
    if record.get("model", MODEL_FILENAME) != model_filename or record.get("config_key") != config.key(data_checksums):
        return None
    if record.get("model_sha256") != fileio.sha256_file(model_path):
        log.info("%s changed since training; training again", model_path)
        return None
    return record


@dataclass(frozen=True)
class RunResult:
    """What ``run_pipeline`` produced: the summary rows, whether parity held, and stage times."""

    rows: list[dict[str, str]]
    passed: bool
    retrained: bool
    stage_seconds: dict[str, float]
    report_paths: tuple[Path, Path]
    advice: tuple[str, ...] = ()  # "which file to ship" for the terminal: the choice in ~8 notes
    report_notes: tuple[str, ...] = ()  # the same plus each bulk row's share of the GEMM ceiling (report, -v)
    errors: tuple[str, ...] = ()  # platform checks that could not finish (e.g. a native crash), one line each
    verdict: str = "PASS"  # verify's: PASS, FAIL or INCONCLUSIVE (the exit status follows parity.EXIT_CODES)
    failure: str | None = None  # verify's one line when the verdict is not PASS


def run_bench_config(quick: bool, cores: int | None = None, test_images: int | None = None,
                     image_shape: tuple[int, ...] | None = None) -> BenchConfig:
    """The bench configuration of a run: the defaults, or a short benchmark for --quick; one and
    two threads on a machine with two cores or more.

    ``test_images``: a small data set caps the batch sizes at its test-set size.
    """
    import os
    from dataclasses import replace

    config = BenchConfig()
    two = (cores or os.cpu_count() or 1) >= 2
    if two:
        # Two thread counts double the configurations; half a second each keeps the run's timed budget
        # (and `make run` near two minutes) while the medians still rest on thousands of calls at batch 1.
        config = replace(config, seconds=0.5, warmup_seconds=0.25)
    if quick:
        # A first look: two batch sizes, a fraction of a second each, no cold starts.
        config = replace(config, batch_sizes=(1, 256), seconds=0.2, warmup_seconds=0.1, cold_start=False)
    if test_images is not None and test_images < 256:
        sizes = (1, 256) if quick else (1, 32, 256)
        config = replace(config, batch_sizes=tuple(dict.fromkeys(min(b, max(1, test_images)) for b in sizes)))
    if image_shape is not None:
        # Large images cap the batch as verify does (edgecnn.data.stream): MobileNetV2 at 224x224x3 and
        # batch 200 took main's `run` past 20 GiB (killed); 27 photos keep the input at 16 MiB.
        from edgecnn.data.stream import batch_size_for

        config = replace(config, batch_sizes=tuple(dict.fromkeys(batch_size_for(image_shape, b)
                                                                 for b in config.batch_sizes)))
    return replace(config, threads=(1, 2)) if two else config


def _indented(echo: Callable[[str], None]) -> Callable[[str], None]:
    """``echo`` for a command's own lines inside a run stage: every line indented under the stage."""
    return lambda text: echo("\n".join(f"    {line}" if line else line for line in str(text).splitlines()))


def run_pipeline(config: RunConfig, echo: Callable[[str], None] = print) -> RunResult:
    """``edgecnn run``: train (or reuse, or take ``config.model``) -> export the four standard
    artifacts -> verify -> bench -> report, each stage through its command's library function.

    Args:
        config: the run's recipe (output folder, epochs, seed, quick, retrain, model, data).
        echo: receives each stage's heading and the commands' own lines, indented.

    Returns:
        The summary rows, whether every parity check passed, whether it trained, the stage
        times and the report's two files.
    """
    from edgecnn import report
    from edgecnn.errors import ModelError, require_full

    require_full("`edgecnn run`", ("tensorflow", "keras", "tf2onnx", "onnx", "matplotlib"))
    if config.model is not None and not Path(config.model).is_file():
        raise ModelError(f"{config.model}: model not found")
    workspace = Workspace(Path(config.output_dir)).ensure()
    stages = StageLog(echo)
    # TensorFlow never loads here: each stage that needs it runs in a child (edgecnn.stagechild).
    config, data = _data_stage(stages, config, workspace)
    record = None
    try:
        model_path, record, retrained = _train_stage(stages, config, workspace, data)
        _export_stage(stages, config, workspace, model_path, data)
        verified = _verify_stage(stages, config, workspace, model_path, data)
    except StageCrashed:  # one Error: line; what the stages before it wrote is still reported
        _report_stage(stages, config, workspace, record, None, data)
        raise
    _bench_stage(stages, config, workspace, data)
    paths, advice, notes = _report_stage(stages, config, workspace, record, verified.report, data)
    from edgecnn.platforms.check import platform_errors

    errors = tuple(platform_errors(verified.platforms))
    rows = report.summary_rows(workspace.root)
    return RunResult(rows, verified.failure is None, retrained, dict(stages.seconds), paths, advice, notes, errors,
                     verified.verdict, verified.failure)


def _data_stage(stages: StageLog, config: RunConfig, workspace: Workspace) -> tuple[RunConfig, Dataset]:
    """Load the data (--data, else what an earlier export here recorded, else MNIST), sized for --model.

    Returns the config with the data path chosen, and the data.
    """
    from edgecnn.data import load_data
    from edgecnn.datasource import choose_data

    echo = stages.say  # lines inside a stage share the terminal with its status line
    choice = choose_data(workspace.root, config.data)  # --data, else what an earlier export here recorded
    if choice.path is not None and config.data is None:
        config = replace(config, data=choice.path)
    with stages.stage("data", "loading the data" if config.data else "loading MNIST"):
        # --model's input shape sizes the images; reading it takes Keras, so a child reads it.
        shape = None if config.model is None else in_child("data", _model_shape, config.model, config.unsafe, say=echo)
        echo(f"    {choice.note}")
        data = load_data(config.data, shape, config.seed)
        echo(f"    {len(data.x_train):,} training and {len(data.x_test):,} test images from {data.source}")
    return config, data


def _model_shape(model: Path, unsafe: bool, say: Callable[[str], None]) -> tuple[int, int, int]:
    """(In the data stage's child) the input shape of the user's Keras image classifier."""
    from edgecnn.model import image_classifier_shapes, load_model

    return image_classifier_shapes(load_model(model, unsafe=unsafe), str(model))[0]


def _train_stage(stages: StageLog, config: RunConfig, workspace: Workspace,
                 data: Dataset) -> tuple[Path, dict[str, Any] | None, bool]:
    """Train (in a child), reuse a model trained with this configuration and data, or take --model.

    Returns (the model's path, its train.json record or None for --model, whether it trained).
    """
    from edgecnn.model import data_model_name

    echo, out = stages.say, workspace.root
    if config.model is not None:
        with stages.stage("train", "skipped: your own model"):
            echo(f"    using {config.model} (no training)")
        return Path(config.model), None, False
    train_config = config.train_config
    name = data_model_name(data)
    model_filename = MODEL_FILENAME if name == MODEL_FILENAME.rsplit(".", 1)[0] else f"{name}.keras"
    record = None if config.retrain else reusable_model(out, train_config, data.checksums, model_filename)
    model_path = out / model_filename
    retrained = record is None
    # Keras draws its own live progress bar on a terminal: no status line over it.
    with stages.stage("train", f"{train_config.epochs} epochs, seed {train_config.seed}",
                      tick=train_config.verbose != 1 or not retrained):
        if record is not None:
            echo(f"    reusing {model_path} (same configuration and data; --retrain to train again)")
        else:
            record, model_path = in_child("train", _train, train_config, data, out, say=echo)
        echo(f"    test accuracy {record['test_accuracy']:.2%}")
    return model_path, record, retrained


def _train(train_config: TrainConfig, data: Dataset, out: Path,
           say: Callable[[str], None]) -> tuple[dict[str, Any], Path]:
    """(In the train stage's child) train and save; (the train.json record, the model's path)."""
    from edgecnn.model import train

    result = train(train_config, data, out)
    return result.record, result.model_path


def _export_stage(stages: StageLog, config: RunConfig, workspace: Workspace, model_path: Path,
                  data: Dataset) -> None:
    """The standard files (and the app variants when --platform mediapipe checks them), in a child."""
    from edgecnn.export import APP, STANDARD
    from edgecnn.platforms.registry import resolve

    with stages.stage("export", "TFLite float32 + int8, ONNX float32 + int8"):
        # --platform mediapipe checks the files an app framework takes: the app variants (export/app.py).
        apps = APP if any(p.kind == "mediapipe" for p in resolve(config.platforms)) else []
        in_child("export", _export, config, workspace, model_path, data, STANDARD + apps, say=stages.say)


def _export(config: RunConfig, workspace: Workspace, model_path: Path, data: Dataset, keys: list[tuple[str, str]],
            say: Callable[[str], None]) -> None:
    """(In the export stage's child) export ``keys``; a line per file (and the int8 loop's steps, if it repaired)."""
    from edgecnn.export import ExportOptions, export_models
    from edgecnn.platforms.registry import resolve

    kinds = {p.kind for p in resolve(config.platforms)}
    # A microcontroller target needs every layer int8: only the full-integer levers there.
    options = ExportOptions(seed=config.seed, data_path=config.data, labels=config.labels,
                            preprocessing=config.preprocessing, dataset=data, max_drop=config.max_drop,
                            max_float_layers=config.max_float_layers,
                            full_integer=bool(kinds & {"tflm", "cortex-m"}))
    from edgecnn.export.accuracy import step_lines, watching

    with watching(lambda line: say(f"    {line}")):  # the int8 loop's steps as they are judged
        artifacts = export_models(model_path, workspace.root, keys, options, unsafe=config.unsafe)
    for artifact in artifacts:
        say(f"    {artifact.path.name:28s} {artifact.bytes / 1024:7.0f} KiB")
        control = (artifact.extra.get("quantization") or {}).get("accuracy_control") or {}
        if len(control.get("steps", [])) > 1:  # the loop repaired it: the judge and its verdict
            for line in step_lines(artifact.extra["quantization"], table=False):
                say(f"      {line}")


def _verify_stage(stages: StageLog, config: RunConfig, workspace: Workspace, model_path: Path,
                  data: Dataset) -> VerifyRun:
    """``verify_folder`` on the data already loaded, in a child; its warnings as indented lines."""
    from edgecnn.parity import DEFAULT_TOLERANCES

    echo = stages.say
    with stages.stage("verify", f"parity with Keras on all {len(data.x_test):,} test images"):
        # The tolerances are this process's (a spawned child would read the module's defaults afresh).
        verified = in_child("verify", _verify, config, workspace, model_path, data, dict(DEFAULT_TOLERANCES),
                            say=echo)
        for warning in verified.warnings:
            echo(f"    Warning: {warning}")
    return verified


def _verify(config: RunConfig, workspace: Workspace, model_path: Path, data: Dataset,
            tolerances: dict[str, Any], say: Callable[[str], None]) -> VerifyRun:
    """(In the verify stage's child) ``verify_folder`` with the run's tolerances."""
    from edgecnn import verify as verify_lib

    request = verify_lib.VerifyRequest(
        workspace, model=model_path, options=verify_lib.VerifyOptions(unsafe=config.unsafe),
        platforms=config.platforms, dataset=data, tolerances=tolerances,
    )
    return verify_lib.verify_folder(request, echo=_indented(say))


def _bench_stage(stages: StageLog, config: RunConfig, workspace: Workspace, data: Dataset) -> None:
    """``bench_folder`` in a fresh spawned process (training has sized TensorFlow's thread pools here)."""
    from edgecnn.bench.folder import BenchRequest, bench_folder

    with stages.stage("bench", "latency and throughput (interleaved, medians)"):
        bench_request = BenchRequest(workspace, data=config.data, fresh_process=True,
                                     config=run_bench_config(config.quick, test_images=len(data.x_test),
                                                             image_shape=data.image_shape))
        bench_folder(bench_request, progress=_indented(stages.say))


def _report_stage(stages: StageLog, config: RunConfig, workspace: Workspace, record: dict[str, Any] | None,
                  checked: VerifyReport | None,
                  data: Dataset) -> tuple[tuple[Path, Path], tuple[str, ...], tuple[str, ...]]:
    """The pictures and report.md/html (``checked`` None: verify did not finish).

    Returns (the report's paths, the terminal's advice, the report's notes)."""
    from edgecnn import report
    from edgecnn.env import library_versions, machine_info

    out = workspace.root
    with stages.stage("report", "report.md, report.html and pictures"):
        if record is not None:
            report.plot_training(record, out / names.TRAINING_PNG)
        rows = checked.rows if checked is not None else []
        int8 = next((row for row in rows if row.format == "tflite" and row.precision == "int8"
                     and row.predictions is not None), None)
        if (int8 is not None and int8.predictions is not None and data.y_test is not None
                and int8.parity is not None and int8.parity.accuracy is not None):
            report.plot_confusion(data.y_test, int8.predictions, out / names.CONFUSION_PNG,
                                  f"int8 TFLite: {int8.parity.accuracy:.2%} on the test set",
                                  labels=checked.class_names if checked is not None else None)
        advice, notes = tuple(report.ship_advice(out, verbose=False)), tuple(report.ship_advice(out))
        paths = report.write_report(out, report.ReportInputs(
            commands=_commands(config, out), stage_seconds=dict(stages.seconds), machine=machine_info(),
            versions=library_versions(), notes=notes,
        ))
    return paths, advice, notes


def _commands(config: RunConfig, out: Path) -> tuple[str, ...]:
    """The report's "how to reproduce": this run's command, then the same steps one command each."""
    data_arg = f" --data {config.data}" if config.data else ""
    if config.model is not None:
        return (
            f"edgecnn run --model {config.model}{data_arg} --output-dir {out}",
            f"# or, step by step (output folder {out}):",
            f"edgecnn export --model {config.model}{data_arg} --format all --output-dir {out}",
            f"edgecnn verify{data_arg} --output-dir {out}",
            f"edgecnn bench{data_arg} --output-dir {out}",
        )
    return (
        ("make run" if not config.quick else "make setup && .venv/bin/edgecnn run --quick")
        if not config.data else f"edgecnn run{data_arg}" + (" --quick" if config.quick else ""),
        f"# or, step by step (output folder {out}):",
        f"edgecnn train --epochs {config.train_config.epochs} --seed {config.seed}{data_arg} --output-dir {out}",
        f"edgecnn export --format all{data_arg} --output-dir {out}",
        f"edgecnn verify{data_arg} --output-dir {out}",
        f"edgecnn bench{data_arg} --output-dir {out}",
    )
