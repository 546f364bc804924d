"""One output folder: its file names, its manifest and its result files, read in one place.

Every command works in a folder (``--output-dir``, default ``exports/``). A :class:`Workspace`
is that folder as an object, built once by the CLI (or by a Python caller) and handed to the
library: where each file lives (the names come from :mod:`edgecnn.names`), what the manifest
lists, and the result files (``train.json``, ``verify.json``, ``bench.json``) read the one
way they are read everywhere — a missing or unreadable record means "none", never a crash.

TF-free and light: the base install's commands use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecnn import names

if TYPE_CHECKING:
    from edgecnn.artifact import Artifact


@dataclass(frozen=True)
class Workspace:
    """An output folder (it need not exist yet: :meth:`ensure` creates it)."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def ensure(self) -> Workspace:
        """Create the folder if missing; returns itself."""
        from edgecnn.fileio import ensure_dir

        ensure_dir(self.root)
        return self

    def path(self, name: str) -> Path:
        """The file ``name`` (one of :mod:`edgecnn.names`) in this folder."""
        return self.root / name

    # -- the files every command shares ---------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path(names.MANIFEST)

    @property
    def verify_json(self) -> Path:
        return self.path(names.VERIFY_JSON)

    @property
    def bench_json(self) -> Path:
        return self.path(names.BENCH_JSON)

    @property
    def train_json(self) -> Path:
        return self.path(names.TRAIN_JSON)

    # -- reading ---------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest (an empty skeleton when there is none); a corrupt one is an OutputError."""
        from edgecnn.manifest import read_manifest

        return read_manifest(self.root)

    def has_manifest(self) -> bool:
        return self.manifest_path.is_file()

    def artifacts(self, runnable_only: bool = False) -> list[Artifact]:
        """What the manifest lists; ``runnable_only`` keeps what a runtime loads (TFLite, ONNX)."""
        from edgecnn.manifest import load_artifacts

        return load_artifacts(self.root, runnable_only=runnable_only)

    def record(self, name: str) -> dict[str, Any] | None:
        """A result file (``train.json``, ``verify.json``, ``bench.json`` …) as a dict, or None when
        it is absent, unreadable or not a JSON object."""
        from edgecnn.fileio import read_json_or_none

        obj = read_json_or_none(self.path(name))
        return obj if isinstance(obj, dict) else None

    def default_model(self) -> Path:
        """The Keras model of this folder: the one train.json names, else the manifest's source,
        else the reference ``mnist_cnn.keras`` (which may not exist)."""
        for record, keys in ((names.TRAIN_JSON, ("model",)), (names.MANIFEST, ("source_model", "path"))):
            obj: Any = self.record(record)
            for key in keys:
                obj = obj.get(key) if isinstance(obj, dict) else None
            if isinstance(obj, str) and obj.endswith((".keras", ".h5")):
                candidate = self.root / obj
                if candidate.is_file():
                    return candidate
        return self.root / names.REFERENCE_MODEL

    def describe_missing_manifest(self) -> str:
        """How to say that there is nothing to work on here."""
        if not self.root.is_dir():
            return f"{self.root} does not exist"
        if not self.has_manifest():
            return f"{self.manifest_path} is missing"
        return f"{self.manifest_path} lists none"
