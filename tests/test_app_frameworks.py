"""TFLite Model Metadata, the app variants and MediaPipe Tasks on the reference CNN (issue #22).

The RGB and grey models of the "your own model" tests are checked in tests/test_own_model.py.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

FILES = ("mnist_cnn_float32.tflite", "mnist_cnn_int8.tflite", "mnist_cnn_float32_app.tflite",
         "mnist_cnn_int8_app.tflite")


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory, trained_model_path) -> Path:
    """The two TFLite files and their two app variants of the session's reference CNN."""
    from edgecnn.export import APP, export_models

    out = tmp_path_factory.mktemp("app")
    export_models(trained_model_path, out, [("tflite", "float32"), ("tflite", "int8"), *APP])
    return out


def _without_standard_metadata(data: bytes) -> bytes:
    """The file as it was before issue #22: no TFLITE_METADATA entry, no appended zip."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    model.metadata = [m for m in model.metadata if m.name != b"TFLITE_METADATA"]
    builder = flatbuffers.Builder(len(data))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize("name", FILES)
def test_every_tflite_carries_the_standard_metadata(app_dir, name):
    from edgecnn.runtime import load
    from edgecnn.runtime.model_metadata import read_model_metadata

    data = (app_dir / name).read_bytes()
    record = read_model_metadata(data)
    spec = load(app_dir / name).spec
    assert record is not None and record.name == "mnist_cnn" and record.author == "edgecnn"
    assert record.min_parser_version == "1.0.0" and name.split("_", 2)[2].removesuffix(".tflite") in record.version
    assert record.labels == spec.labels == tuple(str(i) for i in range(10))
    assert record.output.label_file == "labels.txt" and record.output.content == "feature"
    assert zipfile.ZipFile(app_dir / name).namelist() == ["labels.txt"]
    app, pixels = "_app" in name, name.endswith("int8_app.tflite")
    assert (record.input.width, record.input.height) == (28, 28)
    assert record.input.color_space == ("RGB" if app else "GRAYSCALE")
    # x = pixel / 255 == (pixel - 0) / 255; the uint8 app input holds the pixels as they are.
    assert record.input.mean == (0.0,) and record.input.std == ((1.0,) if pixels else (255.0,))
    assert record.input.max == ((255.0,) if pixels else (1.0,)) and record.input.min == (0.0,)


def test_the_bytes_follow_the_schema_mediapipe_ships(app_dir):
    """The schema's own generated Python (in the mediapipe wheel) reads what edgecnn wrote."""
    pytest.importorskip("mediapipe")
    from mediapipe.tasks.metadata import metadata_schema_py_generated as schema

    from edgecnn.runtime.flatbuffer import read_metadata

    raw = read_metadata((app_dir / "mnist_cnn_float32_app.tflite").read_bytes(), "TFLITE_METADATA")
    assert schema.ModelMetadata.ModelMetadataBufferHasIdentifier(raw, 0)
    meta = schema.ModelMetadataT.InitFromPackedBuf(bytearray(raw), 0)
    image = meta.subgraphMetadata[0].inputTensorMetadata[0]
    assert meta.author == b"edgecnn" and image.content.contentPropertiesType == schema.ContentProperties.ImageProperties
    assert image.content.contentProperties.colorSpace == schema.ColorSpaceType.RGB
    assert image.content.contentProperties.defaultSize.width == 28
    norm = image.processUnits[0]
    assert norm.optionsType == schema.ProcessUnitOptions.NormalizationOptions
    assert list(norm.options.mean) == [0.0] and list(norm.options.std) == [255.0]
    labels = meta.subgraphMetadata[0].outputTensorMetadata[0].associatedFiles[0]
    assert labels.name == b"labels.txt" and labels.type == schema.AssociatedFileType.TENSOR_AXIS_LABELS


@pytest.mark.parametrize("name", FILES[:2])
def test_the_metadata_changes_nothing_the_interpreter_computes(app_dir, mnist, tmp_path, name):
    from edgecnn.runtime import load

    path = app_dir / name
    bare = tmp_path / name
    bare.write_bytes(_without_standard_metadata(path.read_bytes()))
    images = mnist.x_test[:2000]
    with_meta, without = load(path), load(bare)
    assert with_meta.spec == without.spec  # edgecnn's own metadata reads as before
    assert np.array_equal(with_meta.predict(images), without.predict(images))


def test_the_int8_app_variant_computes_the_int8_file_bit_for_bit(app_dir, mnist):
    """uint8 pixels -> QUANTIZE -> the same int8 core -> DEQUANTIZE: the int8 file's probabilities exactly;
    the grey conversion of R = G = B gives the grey picture back."""
    from edgecnn.runtime import load

    images = mnist.x_test
    int8, app = load(app_dir / "mnist_cnn_int8.tflite"), load(app_dir / "mnist_cnn_int8_app.tflite")
    assert app.input_spec.dtype == "uint8" and (app.input_spec.scale, app.input_spec.zero_point) == (
        int8.input_spec.scale, 0)
    assert app.output_spec.dtype == "float32" and app.input_shape == (28, 28, 3)
    assert app.spec == int8.spec and app.spec.input_shape == (28, 28, 1)  # the model's record: grey 28x28
    assert np.array_equal(app.predict(images), int8.predict(images))
    rgb = np.repeat(images[:200, ..., None], 3, axis=-1)
    assert np.array_equal(app.predict(rgb), int8.predict(images[:200]))
    f32, f32_app = load(app_dir / "mnist_cnn_float32.tflite"), load(app_dir / "mnist_cnn_float32_app.tflite")
    assert np.abs(f32_app.predict(images) - f32.predict(images)).max() < 1e-6
    assert app.metadata["app"]["added_ops"] == ["DEQUANTIZE", "CONV_2D", "QUANTIZE", "DEQUANTIZE"]


def test_the_manifest_names_the_app_files(app_dir):
    from edgecnn.manifest import read_manifest

    entries = {e["path"]: e for e in read_manifest(app_dir)["artifacts"]}
    assert entries["mnist_cnn_int8_app.tflite"]["precision"] == "int8_app"
    assert entries["mnist_cnn_int8_app.tflite"]["app"]["input"] == "uint8"
    assert entries["mnist_cnn_float32_app.tflite"]["app"]["rgb_to_grey"] is True
    assert entries["mnist_cnn_int8_app.tflite"]["inputs"][0]["shape"] == [-1, 28, 28, 3]


@pytest.mark.mediapipe
def test_verify_platform_mediapipe(app_dir, trained_model_path):
    """MediaPipe refuses the plain files with its own words and runs the app variants at verify's tolerances."""
    pytest.importorskip("mediapipe")
    from edgecnn.verify import VerifyRequest, verify_folder
    from edgecnn.workspace import Workspace

    request = VerifyRequest(Workspace(app_dir), model=trained_model_path, platforms=("mediapipe",), samples=300)
    run = verify_folder(request, echo=lambda _: None)
    section = run.platforms["mediapipe"]
    rows = section["artifacts"]
    assert section["passed"] and section["samples"] == 300 and run.failure is None
    int8 = rows["mnist_cnn_int8.tflite"]
    assert int8["status"] == "REFUSED" and "got INT8" in int8["refused"]
    assert rows["mnist_cnn_float32.tflite"]["status"] == "REFUSED"
    from edgecnn.inspection import inspect_model

    for name, row in rows.items():  # `edgecnn inspect` says beforehand what MediaPipe then does
        assert inspect_model(app_dir / name).verdict("MediaPipe Tasks").accepts == (row["status"] != "REFUSED"), name
    for name in FILES[2:]:
        row = rows[name]
        assert row["status"] == "PASS" and row["category_names"]["from_file"], row
        assert row["category_names"]["names"] == [str(i) for i in range(10)]
        if "float32" in name:  # a float file reproduces Keras on every image
            assert row["agreement"] >= 0.9999 and row["judged_against"] == "Keras"
        else:  # int8 (#20 point 4): 300 images cannot establish 99.5 %; MediaPipe must reproduce the same file here
            assert row["judged_against"].startswith("the same file in edgecnn's runtime") and row["vs_host"]["passed"]
            assert row["vs_host"]["max_abs_diff"] <= 0.05 and row["keras_status"] == "INCONCLUSIVE", row
    assert rows["mnist_cnn_float32_app.tflite"]["max_abs_diff"] < 1e-4


@pytest.mark.mediapipe
def test_the_category_names_are_the_files_own(app_dir, mnist, tmp_path):
    """MediaPipe names categories from the file's label zip: other labels there, other names back, and the
    check fails on the names alone; without the zip MediaPipe refuses the file."""
    pytest.importorskip("mediapipe")
    from edgecnn.export.model_metadata import with_label_file
    from edgecnn.platforms.mediapipe import check_file, rgb_pictures
    from edgecnn.runtime import load

    source = app_dir / "mnist_cnn_int8_app.tflite"
    data = source.read_bytes()
    start = min(info.header_offset for info in zipfile.ZipFile(source).infolist())
    images = mnist.x_test[:50]
    keras = load(source).predict(images)  # stands in for Keras: exactly the file's decisions
    relabelled = tmp_path / "relabelled.tflite"
    relabelled.write_bytes(with_label_file(data[:start], tuple("abcdefghij")))
    # An int8 file must reproduce its own output here (#20 point 4): ``keras`` is exactly that.
    row = check_file(relabelled, rgb_pictures(images), keras, mnist.y_test[:50], "int8_app", None, host_probs=keras)
    assert row["agreement"] == 1.0 and row["category_names"]["names"] == list("abcdefghij")
    assert not row["category_names"]["from_file"] and row["status"] == "FAIL"  # the file says 0-9 elsewhere
    row = check_file(source, rgb_pictures(images), keras, mnist.y_test[:50], "int8_app", None, host_probs=keras)
    assert row["status"] == "PASS" and row["max_abs_diff"] == 0.0 and row["vs_host"]["max_abs_diff"] == 0.0
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[:start])
    row = check_file(cut, rgb_pictures(images), keras, mnist.y_test[:50], "int8_app", None)
    assert row["status"] == "REFUSED" and "labels.txt" in row["refused"]


def test_bundle_derives_exactly_the_exported_app_files_without_tensorflow(app_dir):
    """`bundle` makes the app variants from the plain files when they were not exported: the same bytes."""
    from edgecnn.export.app import app_variant

    import subprocess
    import sys

    for core in ("int8", "float32"):
        derived, meta = app_variant((app_dir / f"mnist_cnn_{core}.tflite").read_bytes())
        assert derived == (app_dir / f"mnist_cnn_{core}_app.tflite").read_bytes() and meta["precision"] == f"{core}_app"
    code = ("import sys; from pathlib import Path; from edgecnn.export.app import app_variant; "
            "app_variant(Path(sys.argv[1]).read_bytes()); "
            "assert not {'tensorflow', 'keras'} & set(sys.modules), 'imported TensorFlow'")
    done = subprocess.run([sys.executable, "-c", code, str(app_dir / "mnist_cnn_int8.tflite")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.mediapipe
def test_the_android_readme_names_one_file_and_says_what_its_metadata_says(app_dir, trained_model_path, mnist):
    """The snippets cannot be compiled here: the file they name exists, its metadata says what the text says,
    and MediaPipe's ImageClassifier passes on exactly that file."""
    import re

    pytest.importorskip("mediapipe")
    from edgecnn.bundle import build_bundles
    from edgecnn.platforms.mediapipe import check_file, rgb_pictures
    from edgecnn.runtime import load
    from edgecnn.runtime.model_metadata import read_model_metadata
    from edgecnn.verify import keras_reference

    android = build_bundles(app_dir, ["android"])["android"][0].parent
    readme = (android / "README.md").read_text()
    named = (set(re.findall(r'(?:setModelAssetPath|setAssetFilePath|loadMappedFile\(context,) ?\(?"([^"]+)"', readme))
             | {f"{stem}.tflite" for stem in re.findall(r'forResource: "([^"]+)", ofType: "tflite"', readme)})
    assert named == {"mnist_cnn_int8_app.tflite"}
    assert len(re.findall(r'forResource: "mnist_cnn_int8_app", ofType: "tflite"', readme)) == 2  # MediaPipe + ML Kit
    path = android / "mnist_cnn_int8_app.tflite"
    assert path.read_bytes() == (app_dir / path.name).read_bytes()
    record, predictor = read_model_metadata(path.read_bytes()), load(path)
    said = re.search(r"input `image`: (\w+) `\[1, (\d+), (\d+), 3\]`, (\w+), (\d+)x(\d+) pixels; "
                     r"normalization mean (\S+), std ([\d.]+)", readme)
    assert said is not None, readme
    assert said[1] == predictor.input_spec.dtype == "uint8" and said[4] == record.input.color_space == "RGB"
    assert (int(said[2]), int(said[3])) == (record.input.height, record.input.width) == (28, 28)
    assert (float(said[7]), float(said[8])) == (record.input.mean[0], record.input.std[0])
    assert f"float32 `[1, {len(record.labels)}]`" in readme and ", ".join(record.labels) in readme
    images = mnist.x_test[:300]
    keras = keras_reference(trained_model_path, images, spec=predictor.spec)
    # As `verify --platform mediapipe` judges it: a reproduction of the same file here; Keras beside it
    # (300 images can never establish 99.5 %, #20 point 4: INCONCLUSIVE against Keras).
    row = check_file(path, rgb_pictures(images), keras, mnist.y_test[:300], predictor.precision, None,
                     host_probs=predictor.predict(images))
    assert row["status"] == "PASS" and row["category_names"]["from_file"] and row["vs_host"]["passed"]
    assert row["keras_status"] == "INCONCLUSIVE", row


def test_inspect_says_what_the_file_carries_and_who_takes_it_without_tensorflow(app_dir):
    import json
    import subprocess
    import sys

    code = ("import sys, json; from click.testing import CliRunner; from edgecnn.cli import cli; "
            "r = [CliRunner().invoke(cli, ['inspect', '--json', p]) for p in sys.argv[1:]]; "
            "print(json.dumps([x.output for x in r])); "
            "assert not {'tensorflow', 'keras'} & set(sys.modules), 'imported TensorFlow'")
    done = subprocess.run([sys.executable, "-c", code, *(str(app_dir / n) for n in FILES)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found = {name: json.loads(out) for name, out in zip(FILES, json.loads(done.stdout.splitlines()[-1]))}
    int8, app = found["mnist_cnn_int8.tflite"], found["mnist_cnn_int8_app.tflite"]
    assert int8["inputs"][0]["dtype"] == "int8" and int8["inputs"][0]["zero_point"] == -128
    assert app["inputs"][0] == {"name": "image", "shape": [-1, 28, 28, 3], "dtype": "uint8",
                                "scale": int8["inputs"][0]["scale"], "zero_point": 0}
    assert app["model_metadata"]["input"]["color_space"] == "RGB" and app["model_metadata"]["labels"][3] == "3"
    assert app["edgecnn_metadata"]["precision"] == "int8_app" and app["model"]["input_shape"] == [28, 28, 1]
    assert app["ops"][:3] == ["DEQUANTIZE", "CONV_2D", "QUANTIZE"] and app["delegation"]["nodes"] >= len(app["ops"])
    mediapipe = {name: f["frameworks"]["MediaPipe Tasks"] for name, f in found.items()}
    assert [name for name, v in mediapipe.items() if v["accepts"]] == list(FILES[2:])
    assert "input is int8" in mediapipe["mnist_cnn_int8.tflite"]["reason"]
    assert "[-1, 28, 28, 1]" in mediapipe["mnist_cnn_float32.tflite"]["reason"]
    assert int8["frameworks"]["TFLite Micro"]["accepts"] and not int8["frameworks"]["ONNX Runtime"]["accepts"]


def test_inspect_of_a_missing_file_is_one_error_line(tmp_path):
    from click.testing import CliRunner

    from edgecnn.cli import cli

    result = CliRunner().invoke(cli, ["inspect", str(tmp_path / "nope.tflite")])
    assert result.exit_code == 1 and result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'nope.tflite'}: file not found"]


@pytest.mark.slow
@pytest.mark.mediapipe
def test_run_platform_mediapipe_exports_the_app_files_and_reports_them(trained_dir, tmp_path):
    import json
    import shutil

    from click.testing import CliRunner

    from edgecnn.cli import cli

    pytest.importorskip("mediapipe")
    out = tmp_path / "exports"
    shutil.copytree(trained_dir, out)  # `run --quick` reuses the session's model
    result = CliRunner().invoke(cli, ["run", "--quick", "--platform", "mediapipe", "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    verify = json.loads((out / "verify.json").read_text())
    section = verify["platforms"]["mediapipe"]
    assert section["passed"] and section["kind"] == "mediapipe"
    assert {name for name, row in section["artifacts"].items() if row["status"] == "PASS"} == set(FILES[2:])
    assert {row["path"] for row in verify["artifacts"]} >= set(FILES)
    md = (out / "report.md").read_text()
    part = md.split("## In the app frameworks (MediaPipe Tasks)")[1].split("\n## ")[0]
    assert "| mnist_cnn_int8_app.tflite |" in part and "| yes | PASS |" in part
    assert "refused: Type mismatch for input tensor image" in part


def test_the_author_is_edgecnn_unless_given(trained_model_path, tmp_path):
    from edgecnn.export import ExportOptions, export_models
    from edgecnn.export.app import app_variant
    from edgecnn.runtime.model_metadata import read_model_metadata

    (artifact,) = export_models(trained_model_path, tmp_path, [("tflite", "float32")], ExportOptions(author="Ada L."))
    data = artifact.path.read_bytes()
    assert read_model_metadata(data).author == "Ada L."
    assert read_model_metadata(app_variant(data)[0]).author == "Ada L."  # the app variant keeps it
