"""Export: every format/precision, clean graphs, embedded metadata, manifest, atomicity, CLI."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn import runtime
from edgecnn.cli import cli
from edgecnn.export.targets import export_targets
from edgecnn.export import REGISTRY, STANDARD, export_models
from edgecnn.fileio import TMP_PREFIX
from edgecnn.manifest import load_artifacts, read_manifest


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tflite_graph(path):
    """(op names, {tensor name: type name}, I/O tensor names) read from the flatbuffer alone."""
    from ai_edge_litert import schema_py_generated as schema

    ops = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.ModelT.InitFromPackedBuf(path.read_bytes(), 0)
    sg = model.subgraphs[0]
    names = [ops[model.operatorCodes[op.opcodeIndex].builtinCode] for op in sg.operators]
    tensors = {t.name.decode(): types[t.type] for t in sg.tensors}
    io = ([sg.tensors[i].name.decode() for i in sg.inputs], [sg.tensors[i].name.decode() for i in sg.outputs])
    return names, tensors, io, model


@pytest.fixture(scope="module")
def keras_test_probs(trained_model_path, mnist):
    from edgecnn.model import keras_predict, load_model

    return keras_predict(load_model(trained_model_path), mnist.x_test)


@pytest.fixture(scope="module")
def extra_dir(tmp_path_factory, trained_model_path):
    """The two named extra modes (dynamic, float16 TFLite) exported on their own."""
    out = tmp_path_factory.mktemp("extra")
    export_models(trained_model_path, out, [("tflite", "dynamic"), ("tflite", "float16")])
    return out


# -- quality bars --------------------------------------------------------------------------
def test_int8_tflite_size_and_accuracy(exported_dir, mnist, keras_test_probs):
    f32, i8 = exported_dir / "mnist_cnn_float32.tflite", exported_dir / "mnist_cnn_int8.tflite"
    assert i8.stat().st_size <= 0.30 * f32.stat().st_size
    keras_acc = (keras_test_probs.argmax(1) == mnist.y_test).mean()
    int8_acc = (runtime.load(i8).predict(mnist.x_test).argmax(1) == mnist.y_test).mean()
    assert keras_acc > 0.95
    assert abs(int8_acc - keras_acc) <= 0.003, (int8_acc, keras_acc)


@pytest.mark.parametrize("name", ["mnist_cnn_float32.tflite", "mnist_cnn_float32.onnx"])
def test_float32_artifacts_match_keras(exported_dir, mnist, keras_test_probs, name):
    probs = runtime.load(exported_dir / name).predict(mnist.x_test)
    assert np.abs(probs - keras_test_probs).max() < 1e-5


def test_extra_modes(extra_dir, exported_dir, mnist, keras_test_probs):
    f32_size = (exported_dir / "mnist_cnn_float32.tflite").stat().st_size
    dyn, f16 = runtime.load(extra_dir / "mnist_cnn_dynamic.tflite"), runtime.load(extra_dir / "mnist_cnn_float16.tflite")
    assert dyn.input_spec.dtype == "float32" and f16.input_spec.dtype == "float32"  # float I/O, unlike int8
    assert dyn.path.stat().st_size <= 0.30 * f32_size
    assert 0.45 * f32_size <= f16.path.stat().st_size <= 0.55 * f32_size
    x = mnist.x_test[:2000]
    assert np.abs(f16.predict(x) - keras_test_probs[:2000]).max() < 2e-3
    assert (dyn.predict(x).argmax(1) == keras_test_probs[:2000].argmax(1)).mean() >= 0.99
    assert sorted(a.key for a in load_artifacts(extra_dir)) == ["tflite/dynamic", "tflite/float16"]


# -- clean graphs --------------------------------------------------------------------------
# MaxPool before tanh: the two commute (tanh is monotonic), and pooling first leaves a quarter
# of the values to tanh (measured faster in both TFLite and ONNX Runtime).
# The first convolution (one input channel) runs on column pairs: RESHAPE, CONV_2D, RESHAPE
# (edgecnn.export.column_pairs; the same outputs, faster in XNNPACK).
TFLITE_OPS = ["RESHAPE", "CONV_2D", "RESHAPE", "MAX_POOL_2D", "TANH", "CONV_2D", "MAX_POOL_2D", "TANH",
              "RESHAPE", "FULLY_CONNECTED", "TANH", "FULLY_CONNECTED", "SOFTMAX"]


@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_tflite_graph_is_clean(exported_dir, precision):
    ops, tensors, io, model = tflite_graph(exported_dir / f"mnist_cnn_{precision}.tflite")
    assert ops == TFLITE_OPS  # no VAR_HANDLE/READ_VARIABLE, no Shape/StridedSlice/Pack for Flatten
    assert io == (["image"], ["probabilities"])
    sg = model.subgraphs[0]
    assert sg.tensors[sg.inputs[0]].shapeSignature.tolist() == [-1, 28, 28, 1]
    assert sg.tensors[sg.outputs[0]].shapeSignature.tolist() == [-1, 10]
    signature = model.signatureDefs[0]
    assert [t.name for t in signature.inputs] == [b"image"] and [t.name for t in signature.outputs] == [b"probabilities"]
    # every buffer starts 16-byte aligned, as the converter wrote them
    from ai_edge_litert import schema_py_generated as schema

    raw = (exported_dir / f"mnist_cnn_{precision}.tflite").read_bytes()
    root = schema.Model.GetRootAs(raw, 0)
    for i in range(root.BuffersLength()):
        buf = root.Buffers(i)
        if buf.DataLength():
            assert buf.DataAsNumpy().ctypes.data % 16 == np.frombuffer(raw, np.uint8).ctypes.data % 16
    if precision == "int8":
        # full integer: int8 activations/weights, int32 biases and shape; nothing float anywhere
        assert set(tensors.values()) == {"INT8", "INT32"}


def test_onnx_graphs_are_clean(exported_dir):
    import onnx

    f32 = onnx.load(exported_dir / "mnist_cnn_float32.onnx")
    assert [n.op_type for n in f32.graph.node] == [
        "Reshape", "Conv", "MaxPool", "Tanh", "Conv", "MaxPool", "Tanh", "Reshape", "Gemm", "Tanh", "Gemm", "Softmax",
    ]  # no Transpose/Shape/Gather/Cast/Slice/Concat; pooling before the monotonic tanh
    i8 = onnx.load(exported_dir / "mnist_cnn_int8.onnx")
    compute = [n.op_type for n in i8.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    # the same network; the Gemms as ONNX Runtime's int8 QGemm (export/onnx_int8.py)
    assert compute == [{"Gemm": "QGemm"}.get(n.op_type, n.op_type) for n in f32.graph.node]
    for model in (f32, i8):
        (inp,), (out,) = model.graph.input, model.graph.output
        dims = lambda v: [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]  # noqa: E731
        assert inp.name == "image" and dims(inp) == ["batch", 28, 28, 1]
        assert out.name == "probabilities" and dims(out) == ["batch", 10]


# -- metadata inside the files ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite",
                                  "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx"])
def test_embedded_metadata(exported_dir, trained_model_path, tmp_path, name):
    from edgecnn.data import PREPROCESSING

    # a copy with a name that says nothing: precision must come from the file itself
    alone = tmp_path / ("model" + (exported_dir / name).suffix)
    shutil.copy(exported_dir / name, alone)
    predictor = runtime.load(alone)
    meta = predictor.metadata
    precision = name.split("_")[-1].split(".")[0]
    assert meta["precision"] == precision == predictor.precision
    assert meta["format"] == alone.suffix[1:]
    assert meta["labels"] == [str(d) for d in range(10)]
    assert meta["preprocessing"] == PREPROCESSING
    assert meta["source_sha256"] == sha256(trained_model_path)
    assert meta["edgecnn_version"]
    if precision == "int8":
        assert meta["calibration"] == {"samples": 500, "seed": 0}


def test_precision_from_metadata_not_name(extra_dir, tmp_path):
    alone = tmp_path / "x.tflite"
    shutil.copy(extra_dir / "mnist_cnn_dynamic.tflite", alone)
    assert runtime.load(alone).precision == "dynamic"  # float I/O: only the metadata can say so


def test_plain_readable_metadata(exported_dir):
    import onnx
    from ai_edge_litert import schema_py_generated as schema

    props = {p.key: p.value for p in onnx.load(exported_dir / "mnist_cnn_int8.onnx").metadata_props}
    assert props["labels"] == "0,1,2,3,4,5,6,7,8,9" and props["precision"] == "int8"
    assert json.loads(props["edgecnn"])["precision"] == "int8"
    model = schema.Model.GetRootAs((exported_dir / "mnist_cnn_int8.tflite").read_bytes(), 0)
    assert model.Description().startswith(b"edgecnn ") and b"int8" in model.Description()


# -- manifest ------------------------------------------------------------------------------
def test_manifest_contents(exported_dir, trained_model_path):
    manifest = read_manifest(exported_dir)
    assert manifest["labels"] == [str(d) for d in range(10)]
    assert manifest["preprocessing"]["formula"] == "x / 255.0"
    assert manifest["source_model"] == {"path": "mnist_cnn.keras", "sha256": sha256(trained_model_path)}
    assert {"tensorflow-cpu", "onnxruntime", "ai-edge-litert", "tf2onnx"} <= set(manifest["versions"]) or \
        {"tensorflow", "onnxruntime", "ai-edge-litert", "tf2onnx"} <= set(manifest["versions"])
    entries = {f"{e['format']}/{e['precision']}": e for e in manifest["artifacts"]}
    assert sorted(entries) == sorted("/".join(k) for k in STANDARD)
    for key, entry in entries.items():
        path = exported_dir / entry["path"]
        assert entry["path"] == REGISTRY[tuple(key.split("/"))].filename  # relative to the manifest
        assert entry["sha256"] == sha256(path) and entry["bytes"] == path.stat().st_size
        assert entry["source_sha256"] == manifest["source_model"]["sha256"]
        assert entry["export_seconds"] > 0
        (inp,), (out,) = entry["inputs"], entry["outputs"]
        assert (inp["name"], inp["shape"], out["name"], out["shape"]) == ("image", [-1, 28, 28, 1], "probabilities", [-1, 10])
        if entry["precision"] == "int8":
            assert entry["calibration"] == {"samples": 500, "seed": 0}
    i8 = entries["tflite/int8"]
    assert i8["inputs"][0]["dtype"] == "int8" and i8["outputs"][0]["dtype"] == "int8"
    assert i8["inputs"][0]["scale"] == pytest.approx(1 / 255) and i8["inputs"][0]["zero_point"] == -128
    assert i8["outputs"][0]["scale"] == pytest.approx(1 / 256) and i8["outputs"][0]["zero_point"] == -128
    assert "scale" not in entries["tflite/float32"]["inputs"][0]
    assert entries["onnx/float32"]["opset"] == 17


# -- determinism ---------------------------------------------------------------------------
@pytest.mark.slow
def test_exports_are_byte_identical(exported_dir, trained_model_path, tmp_path):
    """Same .keras + same seed -> the same bytes, even later in a process that already converted
    (tf2onnx and TF number what they invent with process-wide counters; the exporters renumber)."""
    export_models(trained_model_path, tmp_path, STANDARD)
    for key in STANDARD:
        name = REGISTRY[key].filename
        assert (tmp_path / name).read_bytes() == (exported_dir / name).read_bytes(), name


# -- atomicity -----------------------------------------------------------------------------
@pytest.fixture
def exported_copy(exported_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(exported_dir, out)
    return out


def test_failure_mid_export_keeps_previous_files_and_manifest(exported_copy, monkeypatch):
    import edgecnn.export.onnx as onnx_exporter

    before = {p.name: p.read_bytes() for p in exported_copy.iterdir() if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash in the ONNX int8 exporter")

    monkeypatch.setattr(onnx_exporter, "export_int8", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_models(exported_copy / "mnist_cnn.keras", exported_copy, [("tflite", "dynamic"), ("onnx", "int8")])
    assert (exported_copy / "mnist_cnn_int8.onnx").read_bytes() == before["mnist_cnn_int8.onnx"]
    # the manifest always describes the files on disk: the finished target is in, the others unchanged
    manifest = read_manifest(exported_copy)
    old = {e["path"]: e for e in json.loads(before["manifest.json"])["artifacts"]}
    for entry in manifest["artifacts"]:
        assert entry["sha256"] == sha256(exported_copy / entry["path"])
        if entry["path"] in old:
            assert entry == old[entry["path"]]
    assert sorted(e["precision"] for e in manifest["artifacts"] if e["format"] == "tflite") == ["dynamic", "float32", "int8"]
    assert list(exported_copy.rglob(f"{TMP_PREFIX}*")) == []  # no staging folder or temporary left


def test_failed_sanity_check_never_replaces_the_file(exported_copy, monkeypatch):
    import edgecnn.export.common as common
    from edgecnn.errors import ExportError

    before = (exported_copy / "mnist_cnn_float32.tflite").read_bytes()
    manifest_before = (exported_copy / "manifest.json").read_bytes()

    def broken(path):
        raise ExportError(f"{path.name}: exported model gives NaN")

    monkeypatch.setattr(common, "sanity_check", broken)
    with pytest.raises(ExportError, match="gives NaN"):
        export_models(exported_copy / "mnist_cnn.keras", exported_copy, [("tflite", "float32")])
    assert (exported_copy / "mnist_cnn_float32.tflite").read_bytes() == before
    assert (exported_copy / "manifest.json").read_bytes() == manifest_before
    assert list(exported_copy.rglob(f"{TMP_PREFIX}*")) == []  # no staging folder or temporary left


# -- CLI -----------------------------------------------------------------------------------
def test_cli_reexport_one_format_keeps_the_others(exported_copy):
    before = {e["path"]: e for e in read_manifest(exported_copy)["artifacts"]}
    result = CliRunner().invoke(cli, ["export", "--format", "tflite", "--quantize", "--output-dir", str(exported_copy)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("file"))
    assert lines[header].split() == ["file", "precision", "size", "seconds"]
    assert lines[header + 1].split()[:2] == ["mnist_cnn_int8.tflite", "int8"]
    after = {e["path"]: e for e in read_manifest(exported_copy)["artifacts"]}
    assert sorted(after) == sorted(before)
    for path in ("mnist_cnn_float32.tflite", "mnist_cnn_float32.onnx", "mnist_cnn_int8.onnx"):
        assert after[path] == before[path]
    assert after["mnist_cnn_int8.tflite"]["sha256"] == sha256(exported_copy / "mnist_cnn_int8.tflite")


@pytest.fixture
def model_only(trained_model_path, tmp_path):
    """An output folder holding only the session's trained model."""
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(trained_model_path, out / "mnist_cnn.keras")
    return out


def _opset(model) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


@pytest.mark.parametrize("opset", [13, 18])
def test_cli_opset_is_written_into_the_file(model_only, exported_dir, mnist, opset):
    import onnx

    for extra in ([], ["--quantize"]):  # float32, then int8 (QDQ)
        result = CliRunner().invoke(cli, ["export", "--format", "onnx", *extra, "--opset", str(opset),
                                          "--output-dir", str(model_only)])
        assert result.exit_code == 0, result.output
    entries = {e["precision"]: e for e in read_manifest(model_only)["artifacts"]}
    assert sorted(entries) == ["float32", "int8"]
    for precision, entry in entries.items():
        path = model_only / entry["path"]
        assert _opset(onnx.load(path)) == opset and entry["opset"] == opset, precision
        assert runtime.load(path).metadata["opset"] == opset
        # Same graph, same numbers as the standard opset-17 file.
        ours = runtime.load(path).predict(mnist.x_test[:500])
        standard = runtime.load(exported_dir / entry["path"]).predict(mnist.x_test[:500])
        assert _opset(onnx.load(exported_dir / entry["path"])) == 17
        np.testing.assert_allclose(ours, standard, atol=1e-6 if precision == "float32" else 0.02)


def test_cli_calibration_samples_are_recorded_and_used(model_only, exported_dir, mnist):
    args = ["export", "--quantize", "--calibration-samples", "50", "--output-dir", str(model_only)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    entries = {e["path"]: e for e in read_manifest(model_only)["artifacts"]}
    assert sorted(entries) == ["mnist_cnn_int8.cc", "mnist_cnn_int8.onnx", "mnist_cnn_int8.tflite"]
    assert entries.pop("mnist_cnn_int8.cc")["calibration"] == {"samples": 50, "seed": 0}  # the C array too
    for name, entry in entries.items():
        assert entry["calibration"] == {"samples": 50, "seed": 0}, name
        assert runtime.load(model_only / name).metadata["calibration"] == {"samples": 50, "seed": 0}, name
        # Used, not only recorded: 50 instead of 500 calibration images (same seed) give other
        # ranges, so other int8 probabilities than the standard export of the same model (the
        # bytes alone would differ anyway: the metadata records the count).
        standard = exported_dir / name
        assert runtime.load(standard).metadata["calibration"] == {"samples": 500, "seed": 0}
        ours = runtime.load(model_only / name).predict(mnist.x_test[:1000])
        theirs = runtime.load(standard).predict(mnist.x_test[:1000])
        assert not np.array_equal(ours, theirs), name
        assert (ours.argmax(1) == theirs.argmax(1)).mean() >= 0.98, name  # still a working int8 model


def test_cli_missing_model_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["export", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {tmp_path / 'mnist_cnn.keras'}: model not found (run `edgecnn train` first)"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "onnx", "--quantize", "float16"], "--format onnx does not support --quantize float16"),
        (["--format", "onnx", "--quantize", "dynamic"], "--format onnx does not support --quantize dynamic"),
        (["--quantize", "int4"], "Invalid value for '--quantize'"),
        (["--format", "pt"], "Invalid value for '--format'"),
        (["--opset", "9"], "Invalid value for '--opset'"),
        (["--calibration-samples", "0"], "Invalid value for '--calibration-samples'"),
    ],
)
def test_cli_bad_combinations_are_usage_errors(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["export", *args, "--output-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_quantize_flag_forms():
    from edgecnn.cli import export as export_command

    parse = lambda *a: export_command.make_context("export", list(a)).params["quantize"]  # noqa: E731
    assert parse("--quantize") == "int8"  # bare --quantize always means full-integer int8
    assert parse("--quantize", "--format", "tflite") == "int8"
    assert parse("--quantize", "dynamic") == "dynamic"
    assert parse() is None
    assert export_targets("tflite", None) == [("tflite", "float32")]
    assert export_targets("tflite", "int8") == [("tflite", "int8")]
    assert export_targets("onnx", "int8") == [("onnx", "int8")]
    assert export_targets("tflite", "float16") == [("tflite", "float16")]
    standard = [k for k in REGISTRY if k[1] in ("float32", "int8")]
    assert export_targets("all", None) == standard and set(STANDARD) <= set(standard)
    assert export_targets("all", "int8") == [k for k in REGISTRY if k[1] == "int8"]
    assert export_targets("all", "dynamic") == [("tflite", "dynamic")]
