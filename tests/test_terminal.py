"""Quiet, clear terminal (#15): native noise filtered, one-line errors, --help examples, 100-column tables.

Fast tests here; the end-to-end `run --quick` / `bench` checks are in test_results_merge.py (slow).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgecnn import quiet
from edgecnn.cli import cli

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The lines #15 names, verbatim as the libraries print them (not built from edgecnn.quiet's patterns).
NOISE_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795851427.025575    8971 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders. "
    "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    "fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
)
# What the noise looks like, for scanning captured output.
NOISE_RE = re.compile(r"absl::InitializeLog|oneDNN custom operations|fully_quantize: |XNNPACK delegate for CPU"
                      r"|^[IW]\d{4} \d\d:\d\d:\d\d", re.M)


def edgecnn(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The real console entry point in a fresh process (the fd-2 filter is only installed there)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # conftest sets it; a user's shell does not
    return subprocess.run([sys.executable, "-m", "edgecnn", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


@pytest.mark.parametrize("line", NOISE_LINES)
def test_every_noise_line_of_the_issue_is_filtered(line):
    assert quiet.filter_line(line + "\n", set()) is None


def test_other_lines_pass_and_a_warning_that_matters_is_said_once_in_edgecnns_words():
    seen: set[str] = set()
    assert quiet.filter_line("Error: something real\n", seen) == "Error: something real\n"
    assert quiet.filter_line("E0000 00:00:1.0 1 x.cc:1] a real native error\n", seen) is not None
    raw = "W0000 converter: Statistics for quantized inputs were expected, but not specified; continuing anyway."
    first = quiet.filter_line(raw, seen)
    assert first.startswith("edgecnn: warning: int8 calibration was incomplete")
    assert quiet.filter_line(raw, seen) is None  # once


def test_predict_prints_no_native_noise_but_v_shows_it(exported_dir):
    model = str(exported_dir / "mnist_cnn_int8.tflite")
    quiet_run = edgecnn("predict", "--model", model, str(FIXTURES / "digit_7.png"))
    assert quiet_run.returncode == 0, quiet_run.stderr
    assert re.fullmatch(r"\S*digit_7\.png 7 0\.\d{4}\n", quiet_run.stdout), quiet_run.stdout
    assert not NOISE_RE.search(quiet_run.stdout + quiet_run.stderr), quiet_run.stderr
    assert quiet_run.stderr == ""
    # -v keeps LiteRT's own lines: proof that the filter, not luck, hides them.
    loud = edgecnn("-v", "predict", "--model", model, str(FIXTURES / "digit_7.png"))
    assert loud.returncode == 0 and "XNNPACK delegate for CPU" in loud.stderr


def test_bundled_classify_py_is_quiet_unless_v(exported_dir, tmp_path):
    out = CliRunner().invoke(cli, ["bundle", "--output-dir", str(exported_dir), "--target", "pi"])
    assert out.exit_code == 0, out.output
    script = exported_dir / "bundle" / "pi" / "classify.py"
    args = [sys.executable, str(script), "--model", str(exported_dir / "mnist_cnn_int8.tflite"),
            str(FIXTURES / "digit_7.png")]
    quiet_run = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert quiet_run.returncode == 0, quiet_run.stderr
    assert re.search(r"\b7\b", quiet_run.stdout), quiet_run.stdout
    assert "XNNPACK" not in quiet_run.stderr, quiet_run.stderr
    loud = subprocess.run([*args, "-v"], capture_output=True, text=True, timeout=120)
    assert "XNNPACK delegate for CPU" in loud.stderr


def test_user_errors_are_one_error_line_with_the_exit_code(tmp_path):
    result = edgecnn("predict", "--model", str(tmp_path / "nope.tflite"), str(FIXTURES / "digit_7.png"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Error: {tmp_path / 'nope.tflite'}: file not found"]


def test_a_missing_full_install_module_is_one_line_saying_what_to_install(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] == "tensorflow" else real(name, *a))
    for command in ("export", "train", "verify", "run"):
        result = CliRunner().invoke(cli, [command, "--output-dir", str(tmp_path)])
        assert result.exit_code == 1, (command, result.output)
        assert result.stderr.splitlines() == [
            f"Error: `edgecnn {command}` needs tensorflow, which the base install leaves out (it is "
            'TensorFlow-free); install the full set: pip install ".[full]" in the clone (pip install "edgecnn[full]" '
            'once published)'
        ], command


def test_help_has_whole_descriptions_and_real_examples():
    top = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    assert top.exit_code == 0
    commands = top.output.split("Commands:")[1].split("Examples:")[0]
    assert "..." not in commands and "…" not in commands
    # The first line of each command's docstring appears whole (re-wrapped) in the list.
    for name, command in cli.commands.items():
        first = command.help.split("\n")[0].strip()
        assert " ".join(first.split()) in " ".join(commands.split()), name
    for name in cli.commands:
        text = CliRunner().invoke(cli, [name, "--help"]).output
        examples = [line.strip() for line in text.split("Examples:")[-1].splitlines() if line.strip()]
        assert "Examples:" in text and 2 <= len(examples) <= 3, (name, examples)
        assert all(line.startswith(f"edgecnn {name}") for line in examples), (name, examples)


def test_run_table_fits_100_columns_and_uses_kib():
    from edgecnn.report import console_table

    row = {"format": "tflite", "precision": "float16", "size": "1,803 KiB", "accuracy": "99.25 %",
           "agreement": "(baseline)", "verdict": "PASS", "p50_b1": "12,345", "ips_b256": "1,234,567",
           "speedup": "1,234×"}
    lines = console_table([row, row]).splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert "1,803 KiB" in lines[2]


def test_one_unit_kib():
    from edgecnn.formatting import format_kib

    assert format_kib(163_568) == "160 KiB"
    assert format_kib(163_568, 1) == "159.7 KiB"
    assert format_kib(1_845_000) == "1,802 KiB"


def test_a_library_warning_that_matters_is_said_once_in_edgecnns_words(capsys, monkeypatch):
    import warnings

    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored after the test
    quiet.quiet_python_warnings()
    monkeypatch.setattr(quiet, "_warned", set())
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        for _ in range(3):
            warnings.warn("Statistics for quantized inputs were expected, but not specified; continuing anyway.",
                          UserWarning)
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "edgecnn: warning: int8 calibration was incomplete (some ranges were not measured); check the int8 "
        "file with `edgecnn verify`; `-v` shows the converter's own message"
    ]


class _Tty:
    def __init__(self, tty: bool):
        self.text, self.tty = [], tty

    def isatty(self):
        return self.tty

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


def test_the_status_line_ticks_on_a_terminal_and_stays_out_of_a_log():
    import time

    from edgecnn.progress import CLEAR, Ticker

    tty = _Tty(True)
    with Ticker("bench", stream=tty, interval=0.05) as ticker:
        ticker.echo("    [1/2] threads 1, batch 1")
        time.sleep(0.3)
    out = "".join(tty.text)
    assert out.count("… bench: ") >= 3, out  # redrawn every interval
    assert "(last: [1/2] threads 1, batch 1)" in out
    assert out.endswith(CLEAR)  # the status line is gone when the stage ends
    log = _Tty(False)
    with Ticker("bench", stream=log, interval=0.05) as ticker:
        ticker.echo("plain line")
        time.sleep(0.2)
    assert "".join(log.text) == "plain line\n"


def test_wrapped_notes_never_leave_a_lone_word_on_the_last_line():
    from edgecnn.formatting import wrap_notes

    # 95 characters of words, then one more: at 100 columns the last word would sit alone.
    note = "int8: " + " ".join(["abcdefgh"] * 10) + " tail-word"
    plain = __import__("textwrap").wrap(note, width=100, initial_indent="- ", subsequent_indent="  ")
    assert len(plain[-1].split()) == 1  # the case the rule is for
    lines = wrap_notes([note], 100).splitlines()
    assert len(lines) == 2 and len(lines[-1].split()) >= 2 and max(map(len, lines)) <= 100
    assert " ".join(line.strip() for line in lines) == "- " + note
