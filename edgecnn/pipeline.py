"""``edgecnn run``: train -> export -> verify -> bench -> report, reusing what is still valid."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn import fileio
from edgecnn.model import MODEL_FILENAME, TRAIN_JSON, TrainConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """One ``edgecnn run``; ``quick`` trades the published figures for a first look in seconds."""

    output_dir: Path = Path("exports")
    epochs: int = 12  # the published recipe
    seed: int = 0
    quick: bool = False  # 2 epochs and a short benchmark
    retrain: bool = False  # train even when a matching model exists
    data: Path | None = None  # MNIST location (None: $EDGECNN_DATA, then the bundled copy)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig(epochs=2 if self.quick else self.epochs, seed=self.seed)


@dataclass
class StageLog:
    """Wall time per stage, reported as it goes through ``echo``."""

    echo: Callable[[str], None]
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, what: str) -> Iterator[None]:
        self.echo(f"[{len(self.seconds) + 1}] {name}: {what}")
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start
        self.echo(f"    {name} done in {self.seconds[name]:.1f} s")


def reusable_model(out_dir: Path, config: TrainConfig, data_checksums: dict[str, str]) -> dict[str, Any] | None:
    """The train.json record of a model trained with this configuration and data, if still on disk."""
    record_path, model_path = Path(out_dir) / TRAIN_JSON, Path(out_dir) / MODEL_FILENAME
    if not (record_path.is_file() and model_path.is_file()):
        return None
    try:
        record = fileio.read_json(record_path)
    except Exception:  # an unreadable record only means we train again
        return None
    if record.get("config_key") != config.key(data_checksums):
        return None
    if record.get("model_sha256") != fileio.sha256_file(model_path):
        log.info("%s changed since training; training again", model_path)
        return None
    return record
