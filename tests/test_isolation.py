"""Native crashes are isolated (issue #21, point 1): a child process dies, the caller gets one error line.

The crash is real: PyPI tflite-micro segfaults when handed an arena far below what a model needs
(measured: 100 B), so the host check forced onto such an arena must fail that file in one line
while verify.json, the other files' rows and the exit status 1 still come out.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.isolation import Child, ChildDied, NativeCrash, call_isolated, run_spawned


def test_a_child_that_aborts_is_one_error_naming_file_step_and_signal():
    with pytest.raises(NativeCrash) as info:
        call_isolated("os:abort", file="model.tflite", step="the test step")
    message = str(info.value)
    assert message.startswith("model.tflite: the test step crashed with SIGABRT")
    assert "\n" not in message and info.value.signal_name == "SIGABRT"


def test_the_child_is_replaced_after_a_crash_and_returns_values_and_exceptions():
    with Child() as child:
        assert child.call("math:gcd", 12, 18, file="f", step="s") == 6
        with pytest.raises(NativeCrash, match="SIGABRT"):
            child.call("os:abort", file="f", step="s")
        assert child.call("math:gcd", 7, 21, file="f", step="s") == 7  # a fresh child
        with pytest.raises(ValueError, match="math domain error"):
            child.call("math:sqrt", -1.0, file="f", step="s")


def test_a_hang_is_killed_and_named():
    with Child(timeout=2) as child, pytest.raises(NativeCrash, match="a hang"):
        child.call("time:sleep", 60, file="f", step="s")


def _say_two_lines_then(ending, send):
    """A spawned child (module level: spawn pickles it by name) that reports twice, then ends as told."""
    import os
    import signal

    from edgecnn.errors import ModelError

    send("one")
    send("two")
    if ending == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if ending == "error":
        raise ModelError("bad.tflite: not a TFLite model")
    return {"rows": [1, 2]}


def test_run_spawned_forwards_progress_and_returns_raises_or_names_the_signal():
    from edgecnn.errors import ModelError

    seen = []
    assert run_spawned(_say_two_lines_then, "value", progress=seen.append) == {"rows": [1, 2]}
    assert seen == ["one", "two"]
    with pytest.raises(ModelError, match=r"^bad.tflite: not a TFLite model$"):  # the child's type and text
        run_spawned(_say_two_lines_then, "error", progress=lambda line: None)
    seen.clear()
    with pytest.raises(ChildDied) as info:
        run_spawned(_say_two_lines_then, "crash", progress=seen.append)
    assert seen == ["one", "two"] and info.value.how == "killed by SIGSEGV"
    assert str(info.value) == "the child process ended without a result (killed by SIGSEGV)"


def _int8(exported_dir):
    pytest.importorskip("tflite_micro")
    return exported_dir / "mnist_cnn_int8.tflite"


def test_tflm_segfault_at_a_hopeless_arena_is_an_error_and_bisection_never_goes_there(exported_dir):
    from edgecnn.mcu.host import arena_lower_bound, isolated_outputs, smallest_arena

    path = _int8(exported_dir)
    probe = np.zeros((1, 28, 28, 1), np.int8)
    with pytest.raises(NativeCrash) as info:
        isolated_outputs(path, probe, arena_size=100)
    assert info.value.signal_name == "SIGSEGV" and "mnist_cnn_int8.tflite" in str(info.value)
    assert "Failed to allocate" in info.value.detail  # TFLM's last words, read from the child's stderr
    # The flatbuffer's lower bound: the biggest op (the first conv: 28x28 int8 in, 26x26x6 out) at least.
    lower = arena_lower_bound(path)
    assert lower >= 784 + 26 * 26 * 6
    tried = []
    arena, _ = smallest_arena(path, probe, fits=lambda n: tried.append(n) or n >= 9000, lower=lower)
    assert arena == 9000 and min(tried) >= lower


def test_verify_platform_mcu_crash_is_one_error_line_and_everything_else_is_written(exported_dir, tmp_path,
                                                                                    monkeypatch):
    from edgecnn.cli import cli
    from edgecnn.mcu import host

    _int8(exported_dir)
    out = tmp_path / "exports"
    shutil.copytree(exported_dir, out)
    monkeypatch.setattr(host, "HOST_ARENA", 100)  # the child gets a hopeless arena: a real SIGSEGV
    result = CliRunner().invoke(cli, ["verify", "--output-dir", str(out), "--platform", "mcu", "--samples", "20"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert "mnist_cnn_int8.tflite: the TFLM host interpreter (100 B arena) crashed with SIGSEGV" in errors[0]
    report = json.loads((out / "verify.json").read_text())
    assert len(report["artifacts"]) == 4 and all(a["passed"] and a["sha256"] for a in report["artifacts"])
    entry = report["platforms"]["mcu"]["artifacts"]["mnist_cnn_int8.tflite"]
    assert entry["status"] == "ERROR" and "SIGSEGV" in entry["error"]
    assert not report["platforms"]["mcu"]["passed"]
