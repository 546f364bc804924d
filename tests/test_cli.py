"""The CLI through click's CliRunner, and its start-up hygiene in a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from edgecnn import __version__
from edgecnn.cli import cli


def test_help_and_version_do_not_import_tensorflow():
    code = (
        "import sys; from edgecnn.cli import cli\n"
        "for args in (['--help'], ['--version'], ['train', '--help']):\n"
        "    try: cli(args, prog_name='edgecnn')\n"
        "    except SystemExit as e: assert e.code == 0, e.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'onnxruntime', 'tf2onnx', 'numpy', 'tempfile') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "edgecnn", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and __version__ in out.stdout


def test_bad_option_is_usage_error():
    result = CliRunner().invoke(cli, ["train", "--epochs", "zero"])
    assert result.exit_code == 2 and "Invalid value for '--epochs'" in result.output
    assert CliRunner().invoke(cli, ["no-such-command"]).exit_code == 2


def test_bad_data_path_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--data", str(tmp_path / "nope"), "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'nope'}: no such file or folder"


def test_train_command_writes_model_and_record(tmp_path, mnist):
    import numpy as np

    npz = tmp_path / "small.npz"
    np.savez(npz, x_train=mnist.x_train[:2560], y_train=mnist.y_train[:2560],
             x_test=mnist.x_test[:1000], y_test=mnist.y_test[:1000])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["train", "--epochs", "2", "--seed", "1", "--data", str(npz), "--output-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Test accuracy" in result.output
    record = json.loads((out / "train.json").read_text())
    assert record["epochs"] == 2 and record["seed"] == 1
    assert record["test_accuracy"] > 0.8  # 2,560 images, 2 epochs
    assert (out / "mnist_cnn.keras").stat().st_size > 100_000


def test_the_int8_repair_budget_reaches_export_and_run(monkeypatch, tmp_path):
    """--max-float-layers N is the accuracy loop's budget in export's options and run's config."""
    from edgecnn import pipeline
    from edgecnn.export import folder

    seen = {}

    def fake_export(request):
        seen["export"] = request.options
        raise SystemExit(0)

    def fake_run(config, echo):
        seen["run"] = config
        raise SystemExit(0)

    monkeypatch.setattr(folder, "export_folder", fake_export)
    monkeypatch.setattr(pipeline, "run_pipeline", fake_run)
    CliRunner().invoke(cli, ["export", "--quantize", "int8", "--max-drop", "0.5", "--max-float-layers", "3",
                             "--output-dir", str(tmp_path)])
    CliRunner().invoke(cli, ["run", "--max-float-layers", "0", "--output-dir", str(tmp_path)])
    assert (seen["export"].max_drop, seen["export"].max_float_layers) == (0.5, 3)
    assert (seen["run"].max_drop, seen["run"].max_float_layers) == (0.3, 0)
    bad = CliRunner().invoke(cli, ["export", "--max-float-layers", "-1", "--output-dir", str(tmp_path)])
    assert bad.exit_code == 2 and "--max-float-layers" in bad.output
