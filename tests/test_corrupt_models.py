"""Hostile and mistaken model files: each one a one-line ModelError, never a crash.

Every load here runs in a child process: if a check ever regresses, LiteRT's SIGSEGV
fails one test instead of taking pytest down.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

# Loads each file given on the command line and prints {name: "OK" | "<ErrorType>: <message>"}.
_LOADER = """
import json, sys
import numpy as np
from edgecnn import runtime
from edgecnn.errors import EdgeCnnError
out = {}
for path in sys.argv[1:]:
    try:
        probs = runtime.load(path).predict(np.zeros((1, 28, 28), np.uint8))
        out[path] = "OK %s" % (probs.shape,)
    except EdgeCnnError as exc:
        out[path] = "%s: %s" % (type(exc).__name__, exc)
print(json.dumps(out))
"""


def load_in_child(paths: list[Path]) -> dict[str, str]:
    proc = subprocess.run(
        [sys.executable, "-c", _LOADER, *map(str, paths)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"child died with {proc.returncode}: {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _craft_tflite(source: bytes, edit) -> bytes:
    """Unpack a TFLite model with LiteRT's schema bindings, edit it, pack it again."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(source, 0)
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _set(obj, attr, value):
    setattr(obj, attr, value)


# Flatbuffers that LiteRT's verifier accepts. "subgraphs absent" was found by the fuzzer
# (a two-byte overwrite of the root vtable) and crashes LiteRT 2.3 with SIGSEGV.
CRAFTED = {
    "subgraphs_absent": (lambda m: _set(m, "subgraphs", None), "holds no subgraph"),
    "op_input_out_of_range": (lambda m: _set(m.subgraphs[0].operators[0], "inputs", [999, 10, 11]),
                              "operator 0 of subgraph 0 inputs name tensor 999 of"),
    "tensor_buffer_out_of_range": (lambda m: _set(m.subgraphs[0].tensors[5], "buffer", 777), "names buffer 777 of"),
    "opcode_out_of_range": (lambda m: _set(m.subgraphs[0].operators[2], "opcodeIndex", 55), "uses operator code 55"),
    "weights_too_short": (lambda m: _set(m.buffers[m.subgraphs[0].tensors[5].buffer], "data",
                                         np.zeros(8, np.uint8)), "its buffer holds 8"),
    "signature_subgraph": (lambda m: _set(m.signatureDefs[0], "subgraphIndex", 3), "names subgraph 3 of 1"),
    "graph_inputs_absent": (lambda m: _set(m.subgraphs[0], "inputs", None), "has no inputs or no outputs"),
    "unknown_builtin": (lambda m: (_set(m.operatorCodes[0], "builtinCode", 1000),
                                   _set(m.operatorCodes[0], "deprecatedBuiltinCode", 127)), "unknown builtin 1000"),
    "negative_dim": (lambda m: _set(m.subgraphs[0].tensors[12], "shape", [1, -5, 26, 6]), "invalid shape [1, -5, 26, 6]"),
    "operators_absent": (lambda m: _set(m.subgraphs[0], "operators", None), "inference failed"),
}


def test_crafted_tflite_files_are_model_errors(exported_dir, tmp_path):
    source = (exported_dir / "mnist_cnn_float32.tflite").read_bytes()
    paths = {}
    for name, (edit, _) in CRAFTED.items():
        paths[name] = tmp_path / f"{name}.tflite"
        paths[name].write_bytes(_craft_tflite(source, edit))
    results = load_in_child(list(paths.values()))
    for name, (_, expected) in CRAFTED.items():
        message = results[str(paths[name])]
        assert message.startswith(f"ModelError: {paths[name]}: "), (name, message)
        assert expected in message, (name, message)
    # The crafting itself is faithful: an unedited round trip still loads and predicts.
    (tmp_path / "roundtrip.tflite").write_bytes(_craft_tflite(source, lambda m: None))
    assert load_in_child([tmp_path / "roundtrip.tflite"])[str(tmp_path / "roundtrip.tflite")] == "OK (1, 10)"


@pytest.fixture(scope="module")
def mistaken_files(exported_dir, tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """Files of the wrong kind under a model's name: {case: (path, expected message after '<path>: ')}."""
    d = tmp_path_factory.mktemp("mistaken")
    tfl = (exported_dir / "mnist_cnn_float32.tflite").read_bytes()
    onx = (exported_dir / "mnist_cnn_float32.onnx").read_bytes()
    keras_bytes = (exported_dir / "mnist_cnn.keras").read_bytes()
    rng = np.random.default_rng(0)
    cases = {
        "empty.tflite": (b"", "empty file"),
        "empty.onnx": (b"", "empty file"),
        "random.tflite": (rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(), "not a TFLite model: no TFL3 identifier"),
        "random.onnx": (rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes(), "not a loadable ONNX model (Protobuf parsing failed.)"),
        "onnx_named.tflite": (onx, "not a TFLite model: no TFL3 identifier (it looks like ONNX: rename it to .onnx)"),
        "tflite_named.onnx": (tfl, "is a TFLite model, not ONNX (rename it to .tflite)"),
        "keras_named.tflite": (keras_bytes, "is a zip archive (a .keras model?), not a .tflite model"),
        "keras_named.onnx": (keras_bytes, "is a zip archive (a .keras model?), not a .onnx model"),
        "half.tflite": (tfl[: len(tfl) // 2], "not a valid TFLite model (malformed flatbuffer"),
        "half.onnx": (onx[: len(onx) // 2], "not a loadable ONNX model (Protobuf parsing failed.)"),
    }
    out = {}
    for name, (data, message) in cases.items():
        (d / name).write_bytes(data)
        out[name] = (d / name, message)
    return out


def test_mistaken_files_say_what_they_are(mistaken_files):
    results = load_in_child([path for path, _ in mistaken_files.values()])
    for name, (path, expected) in mistaken_files.items():
        assert results[str(path)].startswith(f"ModelError: {path}: {expected}"), (name, results[str(path)])


@pytest.fixture(scope="module")
def other_shape_models(tmp_path_factory) -> list[Path]:
    """Valid models of another shape: a 32x32x3-input Keras CNN as TFLite and ONNX."""
    import keras
    import tensorflow as tf
    from keras import layers

    from edgecnn.export.tflite import _convert

    d = tmp_path_factory.mktemp("other")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3), layers.Flatten(),
                              layers.Dense(10, activation="softmax")])
    (d / "rgb32.tflite").write_bytes(_convert(model, False, None))
    import tf2onnx

    spec = (tf.TensorSpec((None, 32, 32, 3), tf.float32, name="image"),)
    proto, _ = tf2onnx.convert.from_function(
        tf.function(lambda image: {"probabilities": model(image)}, input_signature=spec), input_signature=spec, opset=17
    )
    (d / "rgb32.onnx").write_bytes(proto.SerializeToString())
    # Not an image classifier: a flat (N, 16) input.
    flat = keras.Sequential([keras.Input((16,)), layers.Dense(3, activation="softmax")])
    (d / "flat.tflite").write_bytes(_convert(flat, False, None))
    return [d / "rgb32.tflite", d / "rgb32.onnx", d / "flat.tflite"]


def test_model_of_another_shape_loads_and_refuses_wrong_images(other_shape_models):
    """Any image classifier loads (issue #12); images of another size are an InputError naming the
    model's shape; a model that is not an image classifier is refused, saying what is accepted."""
    results = load_in_child(other_shape_models)
    for path in other_shape_models[:2]:
        assert results[str(path)] == (f"InputError: input shape (1, 28, 28) not supported; "
                                      "expected (32, 32, 3) or (N, 32, 32, 3)")
    flat = other_shape_models[2]
    assert results[str(flat)] == (f"ModelError: {flat}: input is [-1, 16], "
                                  "expected an image [N, H, W, C] with C 1 or 3")


def test_nan_weights_are_a_model_error_at_predict(exported_dir, tmp_path):
    """A file whose float weights were overwritten with 0xFF (NaN) is refused when loaded."""
    source = (exported_dir / "mnist_cnn_float32.tflite").read_bytes()

    def nan_weights(m):
        buf = m.buffers[m.subgraphs[0].tensors[m.subgraphs[0].operators[0].inputs[1]].buffer]
        buf.data = np.full(len(buf.data), 0xFF, np.uint8)

    path = tmp_path / "nan.tflite"
    path.write_bytes(_craft_tflite(source, nan_weights))
    outcome = load_in_child([path])[str(path)]
    assert outcome.startswith(f"ModelError: {path}: not a valid TFLite model (") and "holds NaN or inf weights" in outcome


def test_tflite_check_accepts_the_standard_exports(exported_dir):
    from edgecnn.runtime.tflite_check import check_tflite

    for name in ("mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite"):
        check_tflite((exported_dir / name).read_bytes())  # raises on any finding


# Files that the pre-load checks refuse (identifier, size, zip signature) before any runtime
# parses them: safe to hand to the real commands in this process.
REFUSED_BEFORE_PARSING = ["empty.tflite", "tflite_named.onnx", "onnx_named.tflite", "keras_named.tflite"]


@pytest.mark.parametrize("name", REFUSED_BEFORE_PARSING)
def test_predict_on_a_mistaken_model_is_one_error_line(mistaken_files, tmp_path, name):
    from edgecnn.cli import cli

    path, expected = mistaken_files[name]
    image = tmp_path / "x.npy"
    np.save(image, np.zeros((28, 28), np.uint8))
    result = CliRunner().invoke(cli, ["predict", "--model", str(path), str(image)])
    assert result.exit_code == 1
    assert result.output == f"Error: {path}: {expected}\n"


@pytest.mark.parametrize("name", REFUSED_BEFORE_PARSING)
def test_bench_on_a_mistaken_model_is_one_error_line(mistaken_files, tmp_path, name):
    from edgecnn.cli import cli

    path, expected = mistaken_files[name]
    result = CliRunner().invoke(cli, ["bench", str(path), "--output-dir", str(tmp_path), "--no-cold-start"])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {path}: {expected}"] and "Traceback" not in result.output


def test_verify_fails_each_mistaken_model_with_its_reason(mistaken_files, exported_dir, tmp_path):
    from edgecnn.cli import cli

    names = REFUSED_BEFORE_PARSING
    paths = [str(mistaken_files[name][0]) for name in names]
    result = CliRunner().invoke(cli, ["verify", *paths, "--model", str(exported_dir / "mnist_cnn.keras"),
                                      "--output-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert f"0 of {len(names)} artifacts pass" in result.output and "Traceback" not in result.output
    rows = {row["path"]: row for row in json.loads((tmp_path / "verify.json").read_text())["artifacts"]}
    for name in names:
        path, expected = mistaken_files[name]
        (row,) = [row for key, row in rows.items() if key.endswith(name)]
        assert row["passed"] is False and row["reason"].endswith(f"{path}: {expected}"), (name, row)
