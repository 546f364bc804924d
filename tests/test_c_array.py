"""The int8 model as a C array for TensorFlow Lite Micro: compiles, and holds the .tflite bytes."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from edgecnn import runtime
from edgecnn.export import REGISTRY, ExportOptions
from edgecnn.export.c_array import write_c_array
from edgecnn.fileio import TMP_PREFIX
from edgecnn.tflm import builtin_ops, plan_arena



@pytest.fixture
def gxx() -> str:
    """g++, which `make test` / `make test-fast` install as root; missing, the test fails naming it.

    Not a skip: these are the only tests that the `c` exporter's output compiles, so a machine
    without the compiler must not pass them silently.
    """
    path = shutil.which("g++")
    if path is None:
        pytest.fail("g++ not found: the C array cannot be compiled (install it: apt-get install g++, "
                    "or run `make test-fast` as root)")
    return path

# Links against the generated pair, checks alignment, length and the "TFL3" identifier, and
# writes the array to stdout so that the test can compare it with the .tflite file byte for byte.
MAIN = r"""
#include <cstdint>
#include <cstdio>
#include <cstring>
#include "mnist_cnn_int8.h"
int main() {
  if (reinterpret_cast<std::uintptr_t>(g_mnist_cnn_int8) % 16 != 0) return 3;
  if (g_mnist_cnn_int8_len != EXPECTED_LEN) return 4;
  if (std::memcmp(g_mnist_cnn_int8 + 4, "TFL3", 4) != 0) return 5;
  std::fwrite(g_mnist_cnn_int8, 1, g_mnist_cnn_int8_len, stdout);
  return 0;
}
"""


def _embedded(cc_text: str) -> bytes:
    body = cc_text.split("{", 1)[1].split("}", 1)[0]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body))


def _compile_and_dump(gxx: str, folder, expected_len: int) -> bytes:
    (folder / "main.cc").write_text(MAIN)
    subprocess.run(
        [gxx, "-std=c++11", "-Wall", "-Werror", "-c", "mnist_cnn_int8.cc", "-o", "model.o"], cwd=folder, check=True
    )
    subprocess.run(
        [gxx, "-std=c++11", f"-DEXPECTED_LEN={expected_len}u", "main.cc", "model.o", "-o", "check"],
        cwd=folder, check=True,
    )
    return subprocess.run([folder / "check"], check=True, capture_output=True).stdout


def test_c_pair_from_tflite_compiles_and_embeds_the_same_bytes(gxx, tmp_path, exported_dir):
    data = (exported_dir / "mnist_cnn_int8.tflite").read_bytes()
    source, header = write_c_array(data, tmp_path, "mnist_cnn_int8")
    text = source.read_text()
    assert "alignas(16) const unsigned char g_mnist_cnn_int8[]" in text
    assert f"const unsigned int g_mnist_cnn_int8_len = {len(data)};" in text
    assert "extern const unsigned int g_mnist_cnn_int8_len;" in header.read_text()
    assert _embedded(text) == data
    assert _compile_and_dump(gxx, tmp_path, len(data)) == data
    assert list(tmp_path.rglob(f"{TMP_PREFIX}*")) == []  # atomic writes leave no temporary files


def test_registry_exporter_writes_a_working_c_pair(gxx, tmp_path, trained_model_path, exported_dir, mnist):
    from edgecnn.model import load_model

    target = REGISTRY[("c", "int8")]
    artifact = target.load()(load_model(trained_model_path), tmp_path, filename=target.filename, options=ExportOptions())
    assert artifact.path == tmp_path / "mnist_cnn_int8.cc" and artifact.format == "c" and artifact.precision == "int8"
    assert artifact.extra["header"] == "mnist_cnn_int8.h" and (tmp_path / "mnist_cnn_int8.h").is_file()
    assert artifact.bytes == artifact.path.stat().st_size
    assert artifact.inputs[0].dtype == "int8" and artifact.inputs[0].scale > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist_cnn_int8.cc", "mnist_cnn_int8.h"]
    data = _embedded(artifact.path.read_text())
    assert len(data) == artifact.extra["tflite_bytes"]
    assert _compile_and_dump(gxx, tmp_path, len(data)) == data
    # The embedded model is the int8 TFLite model: it predicts like the exported .tflite file.
    (tmp_path / "embedded.tflite").write_bytes(data)
    ours = runtime.load(tmp_path / "embedded.tflite").predict(mnist.x_test[:500])
    ref = runtime.load(exported_dir / "mnist_cnn_int8.tflite").predict(mnist.x_test[:500])
    assert (ours.argmax(1) == ref.argmax(1)).mean() >= 0.995


def test_tflm_ops_and_arena(exported_dir):
    from edgecnn.export.column_pairs import unpair_columns

    data = unpair_columns((exported_dir / "mnist_cnn_int8.tflite").read_bytes())  # what the MCU bundle embeds
    # In graph order, each once; int8 in and out: no QUANTIZE/DEQUANTIZE conversions.
    assert builtin_ops(data) == ["CONV_2D", "MAX_POOL_2D", "TANH", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    plan = plan_arena(data)
    # The largest activation is conv1's 26x26x6 int8 output; it lives together with the 13x13x6
    # MaxPool output (pooling runs before tanh), each padded to 16 bytes: 4064 + 1024.
    assert plan.largest_tensor == 26 * 26 * 6
    assert plan.activations == 4064 + 1024
    assert plan.recommended >= plan.activations + plan.persistent
    assert plan.recommended == 16384  # (5088 + 7712 persistent) x 1.25, rounded up to a KiB
    # Never more than a naive plan that gives every activation its own slot.
    assert plan.activations < sum(np.prod(s) for s in [(28, 28), (26, 26, 6), (26, 26, 6), (13, 13, 6),
                                                         (12, 12, 16), (12, 12, 16), (6, 6, 16), (576,)])


def test_cli_format_c_writes_a_compiling_pair(gxx, trained_model_path, exported_dir, mnist, tmp_path):
    from click.testing import CliRunner

    from edgecnn.cli import cli
    from edgecnn.manifest import read_manifest

    shutil.copy(trained_model_path, tmp_path / "mnist_cnn.keras")
    result = CliRunner().invoke(cli, ["export", "--format", "c", "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split()[:2] == ["mnist_cnn_int8.cc", "int8"]  # the table's one row
    (entry,) = read_manifest(tmp_path)["artifacts"]
    assert (entry["format"], entry["precision"], entry["path"]) == ("c", "int8", "mnist_cnn_int8.cc")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json", "mnist_cnn.keras", "mnist_cnn_int8.cc", "mnist_cnn_int8.h",
    ]
    data = _embedded((tmp_path / "mnist_cnn_int8.cc").read_text())
    assert _compile_and_dump(gxx, tmp_path, len(data)) == data
    # The array is the int8 TFLite model of the same Keras file: it predicts like the exported .tflite.
    (tmp_path / "embedded.tflite").write_bytes(data)
    ours = runtime.load(tmp_path / "embedded.tflite").predict(mnist.x_test[:500])
    ref = runtime.load(exported_dir / "mnist_cnn_int8.tflite").predict(mnist.x_test[:500])
    np.testing.assert_array_equal(ours.argmax(1), ref.argmax(1))
