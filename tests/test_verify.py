"""`edgecnn verify`: parity of the four standard artifacts, broken and corrupt files, outputs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.cli import cli
from edgecnn.errors import InputError
from edgecnn.fileio import TMP_PREFIX
from edgecnn.parity import DEFAULT_TOLERANCES, Tolerance, compare, override_tolerances


def _verify(*args):
    # click >= 8.2: result.output holds stdout and stderr interleaved, result.stderr stderr alone.
    return CliRunner().invoke(cli, ["verify", *map(str, args)])


@pytest.fixture(scope="module")
def verified(exported_dir, tmp_path_factory):
    """A copy of the exported folder after one `edgecnn verify` run: (folder, result, verify.json)."""
    out = tmp_path_factory.mktemp("verified")
    shutil.copytree(exported_dir, out, dirs_exist_ok=True)
    result = _verify("--output-dir", out)
    return out, result, json.loads((out / "verify.json").read_text())


@pytest.fixture(scope="module")
def broken_dir(exported_dir, tmp_path_factory, mnist):
    """Two deliberately broken artifacts built from the session model, and a corrupt file."""
    import tensorflow as tf

    from edgecnn.export import ExportOptions
    from edgecnn.export.tflite import export_float32
    from edgecnn.model import load_model

    out = tmp_path_factory.mktemp("broken")
    shutil.copy(exported_dir / "mnist_cnn.keras", out)

    # A float model whose dense kernel drifted: the kind of bug a bad weight copy makes.
    model = load_model(out / "mnist_cnn.keras")
    kernel, bias = model.get_layer("dense").get_weights()
    kernel = kernel + np.random.default_rng(0).normal(0.0, 0.05, kernel.shape).astype(np.float32)
    model.get_layer("dense").set_weights([kernel, bias])
    export_float32(model, out, filename="perturbed_float32.tflite", options=ExportOptions())

    # An int8 model calibrated on blank images: every activation range is far too narrow.
    model = load_model(out / "mnist_cnn.keras")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.zeros((1, 28, 28, 1), np.float32)] for _ in range(20))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    (out / "blank_int8.tflite").write_bytes(converter.convert())

    (out / "corrupt.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 4)
    return out


# -- the pure comparison on synthetic arrays ---------------------------------------------


def _synthetic(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 10)) * 4
    keras = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = keras.argmax(1).copy()
    labels[:300] = (labels[:300] + 1) % 10  # Keras is right on 97 %
    return keras.astype(np.float32), labels


def test_compare_identical_and_tiny_noise_pass():
    keras, labels = _synthetic()
    keras_acc = float((keras.argmax(1) == labels).mean())
    assert keras_acc == pytest.approx(0.97)
    same = compare(keras, keras, labels, "float32", DEFAULT_TOLERANCES["float32"], keras_acc)
    assert same.passed and same.reasons == () and same.agreement == 1.0 and same.disagreements == 0
    assert same.max_abs_diff == 0.0 and same.accuracy == pytest.approx(0.97) and same.accuracy_delta == 0.0

    noisy = keras + np.float32(5e-5) * np.sign(np.random.default_rng(1).normal(size=keras.shape)).astype(np.float32)
    r = compare(noisy, keras, labels, "float32", DEFAULT_TOLERANCES["float32"], keras_acc)
    assert r.max_abs_diff == pytest.approx(5e-5, rel=1e-3) and r.mean_abs_diff == pytest.approx(5e-5, rel=1e-3)
    assert r.agreement >= 0.9999 and r.passed
    assert json.loads(json.dumps(r.to_json()))["tolerance"] == {
        "max_abs_diff": 1e-4, "min_agreement": 0.9999, "max_accuracy_drop": None,
    }


def test_compare_counts_disagreements_and_accuracy_drop():
    keras, labels = _synthetic()
    keras_acc = float((keras.argmax(1) == labels).mean())
    probs = keras.copy()
    # 40 images where Keras was right now predict the next digit: agreement 99.6 %, accuracy -0.4 points.
    idx = np.arange(300, 340)
    probs[idx] = np.roll(keras[idx], 1, axis=1)
    assert (probs[idx].argmax(1) != keras[idx].argmax(1)).all()

    r = compare(probs, keras, labels, "int8", DEFAULT_TOLERANCES["int8"], keras_acc)
    assert r.disagreements == 40 and r.agreement == pytest.approx(0.996)
    assert r.accuracy_delta == pytest.approx(-0.4)
    # #20 point 4: 10,000 images cannot tell 99.6 % from 99.5 %, nor a 0.40-point drop from 0.3.
    assert not r.passed and r.verdict == "INCONCLUSIVE" and r.reasons == (
        "not enough test images to establish 99.5 % agreement (n = 10,000; 40 disagreements; "
        "95 % interval 99.46–99.71 %)",
        "not enough test images to establish an accuracy drop of at most 0.3 points (n = 10,000; drop 0.40 points; "
        "95 % interval 0.28–0.53 points)")

    looser = override_tolerances(DEFAULT_TOLERANCES, max_accuracy_drop=0.5, min_agreement=0.99)
    assert compare(probs, keras, labels, "int8", looser["int8"], keras_acc).passed
    r32 = compare(probs, keras, labels, "float32", DEFAULT_TOLERANCES["float32"], keras_acc)
    assert not r32.passed and len(r32.reasons) == 2  # max |Δ| and agreement, not accuracy
    assert r32.reasons[1] == "agreement 99.60% < 99.99%"


def _at_and_past(bound: str, tolerance: Tolerance, n: int = 10_000, counts: tuple[int, int] | None = None):
    """(probabilities exactly at ``tolerance``'s ``bound``, one step past it, keras, labels, keras accuracy).

    One step: the next float for max |Δ|; one more image for agreement and the accuracy drop
    (the finest step on n images). The other bounds stay met in both. ``counts``: the two
    numbers of changed images instead (agreement and drop only).
    """
    keras, labels = _synthetic(n)
    top = keras.argmax(1)
    keras_wrong = np.flatnonzero(top != labels)  # Keras is wrong on the first 300 images
    keras_right = np.flatnonzero(top == labels)
    keras_acc = float((top == labels).mean())
    if bound == "max_abs_diff":
        other = (top[0] + 1) % 10
        keras = keras.astype(np.float64)
        keras[0, other] = 0.0  # so that p - k is exactly the number put into p
        at, past = keras.copy(), keras.copy()
        at[0, other] = tolerance.max_abs_diff
        past[0, other] = np.nextafter(tolerance.max_abs_diff, 1.0)
        return at, past, keras, labels, keras_acc
    if bound == "min_agreement":
        # Near ties (0.5 ± 1e-6 between Keras' wrong class and another wrong one) that the artifact
        # resolves the other way: top-1 changes, probabilities move by 2e-6, accuracy does not move.
        k = round((1 - tolerance.min_agreement) * n)
        first, second = counts or (k, k + 1)
        keras = keras.astype(np.float64)
        tie = {}
        for i in keras_wrong[: second]:
            tie[i] = next(c for c in range(10) if c not in (top[i], labels[i]))
            keras[i] = 0.0
            keras[i, top[i]], keras[i, tie[i]] = 0.5 + 1e-6, 0.5 - 1e-6
        out = []
        for count in (first, second):
            probs = keras.copy()
            for i in keras_wrong[:count]:
                probs[i, [top[i], tie[i]]] = probs[i, [tie[i], top[i]]]
            out.append(probs)
        return out[0], out[1], keras, labels, keras_acc
    assert bound == "max_accuracy_drop", bound  # in points: 100 / n points per image
    # Keras' right answers turned into the next digit: each image costs 100 / n points.
    k = round(tolerance.max_accuracy_drop * n / 100)
    out = []
    for count in counts or (k, k + 1):
        probs = keras.copy()
        for i in keras_right[:count]:
            probs[i] = np.roll(keras[i], 1)
        out.append(probs)
    return out[0], out[1], keras, labels, keras_acc


BOUNDS = [(precision, bound) for precision, tol in DEFAULT_TOLERANCES.items()
          for bound in ("max_abs_diff", "min_agreement", "max_accuracy_drop") if getattr(tol, bound) is not None]
FLOAT_BOUNDS = [(p, b) for p, b in BOUNDS if not DEFAULT_TOLERANCES[p].lossy]
LOSSY_BOUNDS = [(p, b) for p, b in BOUNDS if DEFAULT_TOLERANCES[p].lossy]


@pytest.mark.parametrize("precision, bound", FLOAT_BOUNDS, ids=[f"{p}-{b}" for p, b in FLOAT_BOUNDS])
def test_exactly_at_the_tolerance_passes_and_one_step_past_fails(precision, bound):
    """Float files reproduce Keras on every image: their point rules decide, to the last step."""
    tolerance = DEFAULT_TOLERANCES[precision]
    at, past, keras, labels, keras_acc = _at_and_past(bound, tolerance)
    ok = compare(at, keras, labels, precision, tolerance, keras_acc)
    assert ok.passed and ok.reasons == (), (bound, ok)
    assert {"max_abs_diff": ok.max_abs_diff, "min_agreement": ok.agreement,
            "max_accuracy_drop": -ok.accuracy_delta}[bound] == pytest.approx(getattr(tolerance, bound), rel=1e-12)
    bad = compare(past, keras, labels, precision, tolerance, keras_acc)
    expected = {"max_abs_diff": "max |Δ|", "min_agreement": "agreement", "max_accuracy_drop": "accuracy drop"}[bound]
    assert not bad.passed and len(bad.reasons) == 1 and bad.reasons[0].startswith(expected), (bound, bad.reasons)


def _wilson_edges(minimum: float, n: int) -> tuple[int, int]:
    """(the most disagreements whose Wilson lower bound still meets ``minimum``, the fewest whose
    upper bound is below it) on n images."""
    from edgecnn.parity import wilson_interval

    most_pass = max(k for k in range(n) if wilson_interval(n - k, n)[0] >= minimum)
    fewest_fail = min(k for k in range(n) if wilson_interval(n - k, n)[1] < minimum)
    return most_pass, fewest_fail


@pytest.mark.parametrize("precision, bound", LOSSY_BOUNDS, ids=[f"{p}-{b}" for p, b in LOSSY_BOUNDS])
def test_a_lossy_tolerance_passes_and_fails_only_where_the_interval_settles_it(precision, bound):
    """int8/dynamic on 10,000 images (#20 point 4): PASS while the interval shows the tolerance holds,
    FAIL once it shows it does not, INCONCLUSIVE one image either side of those edges."""
    tolerance = DEFAULT_TOLERANCES[precision]
    if bound == "min_agreement":
        most_pass, fewest_fail = _wilson_edges(tolerance.min_agreement, 10_000)
        # By hand: k = 36 gives p = 0.9964, Wilson lower 0.995020; k = 37 lower 0.994904; k = 63 upper
        # 0.995072; k = 64 upper 0.994984. The edges at n = 10,000: 99.64 % passes, 99.36 % fails.
        assert (most_pass, fewest_fail) == (36, 64)
        edges = [((most_pass, most_pass + 1), ("PASS", "INCONCLUSIVE")),
                 ((fewest_fail - 1, fewest_fail), ("INCONCLUSIVE", "FAIL"))]
    else:  # the point drop decides PASS (exactly at 0.3 points passes), its interval FAIL
        # By hand (Newcombe's method 10, 9,700 of 10,000 right for Keras, 43 of them wrong for the file):
        # p1 - l1 = 0.003540, u2 - p2 = 0.003392, phi = 0.9331: lower bound 0.0043 - 0.00128 = 0.302 points.
        edges = [((30, 31), ("PASS", "INCONCLUSIVE")), ((42, 43), ("INCONCLUSIVE", "FAIL"))]
    for counts, verdicts in edges:
        first, second, keras, labels, keras_acc = _at_and_past(bound, tolerance, counts=counts)
        got = tuple(compare(p, keras, labels, precision, tolerance, keras_acc) for p in (first, second))
        assert tuple(r.verdict for r in got) == verdicts, (counts, [r.reasons for r in got])
        for r in got:
            expected = {"PASS": "", "INCONCLUSIVE": "not enough test images to establish ",
                        "FAIL": {"min_agreement": "agreement", "max_accuracy_drop": "accuracy drop"}[bound]}[r.verdict]
            assert all(reason.startswith(expected) for reason in r.reasons) and bool(r.reasons) == bool(expected)


def test_every_precision_has_a_boundary_test():
    assert {p for p, _ in BOUNDS} == set(DEFAULT_TOLERANCES) == {
        "float32", "float16", "int8", "dynamic", "float32_app", "int8_app"}
    assert len(BOUNDS) == 12  # two checked bounds per precision
    # The app variants (RGB in, the same core) are judged exactly as the files they wrap.
    assert DEFAULT_TOLERANCES["int8_app"] == DEFAULT_TOLERANCES["int8"]
    assert DEFAULT_TOLERANCES["float32_app"] == DEFAULT_TOLERANCES["float32"]


def test_compare_rejects_nan_and_bad_shapes():
    keras, labels = _synthetic(100)
    bad = keras.copy()
    bad[3, 4] = np.nan
    r = compare(bad, keras, labels, "float16", DEFAULT_TOLERANCES["float16"], 0.97)
    assert not r.passed and "probabilities hold NaN or inf" in r.reasons
    with pytest.raises(InputError, match="must both be"):
        compare(keras[:, :9], keras, labels, "float32", Tolerance(), 0.97)
    with pytest.raises(InputError, match="labels"):
        compare(keras, keras, labels[:5], "float32", Tolerance(), 0.97)


def test_override_applies_only_where_the_default_checks():
    table = override_tolerances(DEFAULT_TOLERANCES, max_abs_diff=1e-3, min_agreement=0.98, max_accuracy_drop=1.0)
    assert table["float32"] == Tolerance(max_abs_diff=1e-3, min_agreement=0.98)
    assert table["float16"] == Tolerance(max_abs_diff=1e-3, min_agreement=0.98)
    # the lossy defaults stay judged by their 95 % intervals (#20 point 4)
    assert table["int8"] == table["dynamic"] == Tolerance(min_agreement=0.98, max_accuracy_drop=1.0, by_interval=True)
    assert DEFAULT_TOLERANCES["float32"].max_abs_diff == 1e-4  # the defaults are untouched


# -- the four standard artifacts --------------------------------------------------------


def test_standard_artifacts_pass_on_the_full_test_set(verified):
    out, result, report = verified
    assert result.exit_code == 0, result.output
    assert "4 of 4 artifacts pass" in result.output
    rows = {row["path"]: row for row in report["artifacts"]}
    assert sorted(rows) == [
        "mnist_cnn_float32.onnx", "mnist_cnn_float32.tflite", "mnist_cnn_int8.onnx", "mnist_cnn_int8.tflite",
    ]
    assert report["data"]["samples"] == 10_000 and report["passed"] is True
    assert 0.95 < report["keras_accuracy"] < 0.99
    assert report["model"]["sha256"] == json.loads((out / "train.json").read_text())["model_sha256"]
    assert report["tolerances"]["int8"] == {"max_abs_diff": None, "min_agreement": 0.995, "max_accuracy_drop": 0.3}
    assert report["platforms"] == {}
    for path, row in rows.items():
        assert row["passed"] is True and row["reason"] == "" and row["samples"] == 10_000, path
        assert row["agreement"] >= 0.995 and row["disagreements"] == len(row["disagreement_indices"])
        if row["precision"] == "float32":
            assert row["max_abs_diff"] < 1e-5 and row["mean_abs_diff"] < 1e-7, path
            assert row["agreement"] == 1.0 and row["accuracy_delta"] == 0.0, path
        else:
            assert row["precision"] == "int8"
            assert 1e-3 < row["max_abs_diff"] < 0.5 and abs(row["accuracy_delta"]) <= 0.3, path
        assert row["accuracy"] == pytest.approx(report["keras_accuracy"] + row["accuracy_delta"] / 100)


def test_png_is_written_and_readable(verified):
    from PIL import Image

    out, _, report = verified
    png = out / "disagreements.png"
    with Image.open(png) as img:
        img.load()
        width, height = img.size
    assert img.format == "PNG" and width > 500 and height > 100
    # One block per artifact with disagreements: taller than the "no disagreements" note.
    if any(row["disagreements"] for row in report["artifacts"]):
        assert height > 200
    assert list(out.rglob(f"{TMP_PREFIX}*")) == []  # atomic writes leave no temporary files


def test_debug_quant_on_the_standard_int8_model(exported_dir, mnist):
    from edgecnn.quantdebug import debug_tflite_int8, format_layers

    table = debug_tflite_int8(
        exported_dir / "mnist_cnn_int8.tflite", exported_dir / "mnist_cnn.keras", mnist.x_test[:500]
    )
    layers = table["layers"]
    assert table["samples"] == 500
    assert [x["op"] for x in layers][:3] == ["CONV_2D", "MAX_POOL_2D", "TANH"] and layers[-1]["op"] == "SOFTMAX"
    assert [x["layer"] for x in layers][:3] == ["conv1", "pool1", "conv1"] and layers[-1]["layer"] == "probabilities"
    for layer in layers:  # a well-calibrated model: rounding error only, small accumulated error
        assert 0.1 < layer["own_rmse_steps"] < 0.5 and not layer["flag"], layer
        assert layer["rel_error"] < 0.05, layer
    assert "conv1" in format_layers(table) and "check calibration" not in format_layers(table)


# -- broken and corrupt artifacts -------------------------------------------------------


@pytest.mark.slow
def test_broken_and_corrupt_artifacts_fail(broken_dir):
    result = _verify(
        broken_dir / "perturbed_float32.tflite", broken_dir / "blank_int8.tflite", broken_dir / "corrupt.tflite",
        broken_dir / "missing.onnx", "--output-dir", broken_dir, "--debug-quant",
    )
    assert result.exit_code == 1, result.output
    assert "0 of 4 artifacts pass" in result.output
    report = json.loads((broken_dir / "verify.json").read_text())
    rows = {row["path"]: row for row in report["artifacts"]}
    assert report["passed"] is False

    perturbed = rows["perturbed_float32.tflite"]
    assert perturbed["precision"] == "float32" and perturbed["passed"] is False
    assert perturbed["max_abs_diff"] > 1e-2 and perturbed["reason"].startswith("max |Δ|")

    blank = rows["blank_int8.tflite"]
    assert blank["precision"] == "int8" and blank["passed"] is False
    assert blank["agreement"] < 0.9 and "agreement" in blank["reason"] and "accuracy drop" in blank["reason"]
    # The diagnosis points at the first conv: its range, calibrated on blank images, clips real inputs.
    first = blank["quant_debug"]["layers"][0]
    assert first["layer"] == "conv1" and first["flag"] and first["clipped"] > 0.2
    assert "check calibration" in result.output

    corrupt = rows["corrupt.tflite"]
    assert corrupt["passed"] is False and corrupt["accuracy"] is None
    assert "corrupt.tflite: not a TFLite model: no TFL3 identifier" in corrupt["reason"]
    assert rows["missing.onnx"]["reason"].endswith("missing.onnx: file not found")

    with __import__("PIL").Image.open(broken_dir / "disagreements.png") as img:
        assert img.size[1] > 300  # two blocks: the perturbed and the blank-calibrated model


@pytest.mark.slow
def test_warn_only_reports_but_exits_zero(broken_dir):
    result = _verify(broken_dir / "corrupt.tflite", "--output-dir", broken_dir, "--warn-only")
    assert result.exit_code == 0, result.output
    assert "FAIL: " in result.output and "--warn-only: exit 0" in result.stderr
    report = json.loads((broken_dir / "verify.json").read_text())
    # verify.json is merged per artifact (#16): the earlier entries stay, this one is a failure.
    rows = {row["path"]: row for row in report["artifacts"]}
    assert rows["corrupt.tflite"]["passed"] is False and report["passed"] is False


@pytest.mark.slow
def test_tolerance_override_turns_a_failure_into_a_pass(broken_dir):
    result = _verify(broken_dir / "perturbed_float32.tflite", "--output-dir", broken_dir,
                     "--max-abs-diff", "1", "--min-agreement", "50")
    assert result.exit_code == 0, result.output
    report = json.loads((broken_dir / "verify.json").read_text())
    assert report["tolerances"]["float32"] == {"max_abs_diff": 1.0, "min_agreement": 0.5, "max_accuracy_drop": None}
    assert {row["path"]: row for row in report["artifacts"]}["perturbed_float32.tflite"]["passed"] is True


def test_no_artifacts_is_one_error_line(tmp_path):
    result = CliRunner().invoke(cli, ["verify", "--output-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no artifacts to verify" in result.output and "manifest.json" in result.output


def test_verify_module_and_help_do_not_import_tensorflow():
    # compare()/evaluate() must run where only numpy and a runtime exist (an emulated Raspberry Pi).
    code = (
        "import sys; import edgecnn.verify; from edgecnn.cli import cli\n"
        "try: cli(['verify', '--help'], prog_name='edgecnn')\n"
        "except SystemExit as e: assert e.code == 0, e.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'onnxruntime', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_missing_model_is_one_error_line(exported_dir, tmp_path):
    result = CliRunner().invoke(cli, [
        "verify", str(exported_dir / "mnist_cnn_int8.onnx"), "--model", str(tmp_path / "nope.keras"),
        "--output-dir", str(tmp_path),
    ])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last == f"Error: {tmp_path / 'nope.keras'}: model not found (run `edgecnn train` first)"
    assert not (tmp_path / "verify.json").exists()
