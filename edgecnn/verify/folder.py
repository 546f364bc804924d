"""The ``edgecnn verify`` command as a library call: a request in, the report and files written out."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn.artifact import Artifact
from edgecnn.data import Dataset
from edgecnn.errors import ModelError
from edgecnn.parity import Tolerance
from edgecnn.platforms.check import check_verified, format_platforms
from edgecnn.verify.check import VerifyOptions, verify
from edgecnn.verify.reference import artifact_spec
from edgecnn.verify.report import VerifyReport
from edgecnn.verify_results import format_quant_debug, format_table, write_report
from edgecnn.workspace import Workspace


@dataclass
class VerifyRun:
    """What :func:`verify_folder` did: the report, platform sections, files written and the verdict."""

    report: VerifyReport
    platforms: dict[str, Any] | None
    written: tuple[Path, Path]
    warnings: list[str]

    @property
    def failure(self) -> str | None:
        """One line saying what failed or could not be judged, or None when everything passed."""
        from edgecnn.verify_results import failure_line

        return failure_line(self.report, self.platforms)

    @property
    def verdict(self) -> str:
        """PASS, FAIL or INCONCLUSIVE over the files and the platform sections."""
        from edgecnn.verify_results import run_verdict

        return run_verdict(self.report, self.platforms)

    @property
    def exit_code(self) -> int:
        """verify's exit status: 0 PASS, 1 FAIL, 3 INCONCLUSIVE (parity.EXIT_CODES)."""
        from edgecnn.parity import EXIT_CODES

        return EXIT_CODES[self.verdict]


@dataclass(frozen=True)
class VerifyRequest:
    """What ``edgecnn verify`` checks, against what, on which images."""

    workspace: Workspace
    artifacts: tuple[Path, ...] = ()  # none: the runnable files the manifest lists
    model: Path | None = None  # the Keras reference (None: the folder's model)
    data: Path | None = None  # test images (None: $EDGECNN_DATA, then the bundled MNIST)
    tolerances: Mapping[str, Tolerance] | None = None  # None: DEFAULT_TOLERANCES
    options: VerifyOptions = VerifyOptions()
    platforms: tuple[str, ...] = ()  # also check on these targets (edgecnn.platforms registry names)
    samples: int = 1000  # test images for the platform checks
    dataset: Dataset | None = field(default=None, compare=False, repr=False)  # already loaded (run)


def verify_folder(request: VerifyRequest, echo: Callable[[str], None] = print) -> VerifyRun:
    """``edgecnn verify``: check the files against Keras (and on platforms), merge into verify.json.

    Args:
        request: the files (default: the manifest's), the reference model, data and tolerances.
        echo: receives the progress and the tables.

    Returns:
        The report, the platform sections, the files written and warnings; the caller decides
        the exit status from :attr:`VerifyRun.failure`.

    Raises:
        ModelError: nothing to verify (the message says whether the manifest is missing or empty).
    """
    from edgecnn.data import load_data
    from edgecnn.datasource import changed_since_export, choose_data

    workspace = request.workspace
    model = Path(request.model) if request.model else workspace.default_model()
    targets: list[Path | Artifact] = list(request.artifacts) or list(workspace.artifacts(runnable_only=True))
    if not targets:
        raise ModelError(f"no artifacts to verify: {workspace.describe_missing_manifest()} "
                         "(run `edgecnn export`, or name .tflite/.onnx files)")
    spec = artifact_spec(targets)  # the files say what data fits them (shape, classes)
    if request.dataset is not None:  # run: already loaded (and chosen) by the caller
        data, warnings = request.dataset, []
    else:
        choice = choose_data(workspace.root, request.data, spec)  # --data, else the one recorded at export
        echo(choice.note)
        data = load_data(choice.path, spec.input_shape if spec is not None else None)
        warnings = [w for w in [changed_since_export(data, choice)] if w]
    echo(f"Verifying {len(targets)} artifact(s) against {model} on {len(data.x_test):,} test images")
    from edgecnn.verify_results import split_note

    note = split_note(data)  # a seeded share of data without its own split: say which
    if note:
        echo(note)
    report = verify(model, targets, data, request.tolerances, request.options, spec=spec)
    source = workspace.manifest().get("source_model", {}).get("sha256") if not request.artifacts else None
    if source and report.ran_keras and source != report.model_sha256:
        warnings.append(f"the manifest's artifacts were exported from another model (sha256 {source[:12]}…)")
    echo(format_table(report, root=workspace.root))
    for row in report.rows:
        if row.quant_debug is not None:
            echo(f"\nint8 layer diagnosis of {row.path.name}:")
            echo(format_quant_debug(row.quant_debug))
    if request.options.debug_quant and not any(row.quant_debug is not None for row in report.rows):
        echo("\n--debug-quant: no loadable TFLite int8 artifact among those verified")
    platforms = None
    if request.platforms and report.ran_keras:
        platforms = check_verified(request.platforms, report, data, request.samples, request.tolerances, echo=echo)
        echo(format_platforms(platforms))
    written = write_report(report, workspace.root, data.x_test, request.options.max_images, platforms)
    return VerifyRun(report, platforms, written, warnings)
