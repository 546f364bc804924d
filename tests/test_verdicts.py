"""Verdicts the test set can support (#20 point 4): 95 % intervals beside the point values, PASS /
FAIL / INCONCLUSIVE for the lossy precisions, reproductions for platform checks, exit codes 0/1/3."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgecnn.cli import cli
from edgecnn.parity import (DEFAULT_TOLERANCES, EXIT_CODES, agreement_statement, compare, compare_with_keras,
                            paired_difference_interval, reproduces, wilson_interval)

INT8 = DEFAULT_TOLERANCES["int8"]


def _one_hot(classes, k=10, confidence=0.91):
    p = np.full((len(classes), k), (1 - confidence) / (k - 1), np.float32)
    p[np.arange(len(classes)), classes] = confidence
    return p


def _set(n, disagree=0, keras_right_flipped=0, keras_wrong=None):
    """(file probs, Keras probs, labels) on n images: ``disagree`` images where both are wrong but
    differently (agreement moves, accuracy does not), ``keras_right_flipped`` where Keras was right
    and the file is not (both move). Keras is wrong on ``keras_wrong`` images (default n // 10 + disagree)."""
    labels = np.arange(n) % 10
    keras_top = labels.copy()
    wrong = n // 10 + disagree if keras_wrong is None else keras_wrong
    keras_top[:wrong] = (labels[:wrong] + 1) % 10
    top = keras_top.copy()
    top[:disagree] = (labels[:disagree] + 2) % 10
    flip = slice(wrong, wrong + keras_right_flipped)
    top[flip] = (labels[flip] + 3) % 10
    return _one_hot(top), _one_hot(keras_top), labels


# -- the intervals, against figures computed by hand ------------------------------------------------
def test_wilson_interval_matches_the_hand_computed_figures():
    # 41 of 42: p = 0.976190, z² = 3.841459; centre (p + z²/84) / (1 + z²/42) = 1.021922 / 1.091463 = 0.936286,
    # half-width 1.959964 · sqrt(p(1-p)/42 + z²/7056) / 1.091463 = 0.059498: 0.876788 to 0.995784.
    lo, hi = wilson_interval(41, 42)
    assert lo == pytest.approx(0.876788, abs=2e-6) and hi == pytest.approx(0.995784, abs=2e-6)
    # All right: the lower bound is n / (n + z²); 1000 / 1003.841459 = 0.996173.
    assert wilson_interval(1000, 1000) == (pytest.approx(0.996173, abs=1e-6), 1.0)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(3.841459 / 13.841459, abs=1e-6))
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_paired_difference_interval_is_newcombes_method_10():
    # Newcombe (Stat. Med. 1998;17:2635-2650), his example: 36 both, 12 first only, 2 second only, 0
    # neither; difference 0.2, method 10 (score, no continuity correction): 0.0569 to 0.3404.
    lo, hi = paired_difference_interval(36, 12, 2, 0)
    assert (round(lo, 4), round(hi, 4)) == (0.0569, 0.3404)
    # No discordant pairs at all: the difference is 0 and the interval still has width.
    lo, hi = paired_difference_interval(900, 0, 0, 100)
    assert lo < 0 < hi and hi < 0.005


# -- lossy files: PASS / FAIL / INCONCLUSIVE --------------------------------------------------------
def test_42_images_and_one_disagreement_is_inconclusive_in_one_line():
    probs, keras, labels = _set(42, disagree=1)
    r = compare(probs, keras, labels, "int8", INT8, float((keras.argmax(1) == labels).mean()))
    assert r.disagreements == 1 and r.accuracy_delta == 0.0
    assert r.verdict == "INCONCLUSIVE" and not r.passed
    assert r.reasons == ("not enough test images to establish 99.5 % agreement "
                         "(n = 42; 1 disagreement; 95 % interval 87.7–99.6 %)",)
    assert r.to_json()["status"] == "INCONCLUSIVE"
    assert r.agreement_interval == pytest.approx((0.876788, 0.995784), abs=2e-6)


def test_1000_of_1000_passes_and_a_few_hundred_do_not_prove_99_5():
    probs, keras, labels = _set(1000)
    ok = compare(probs, keras, labels, "int8", INT8, float((keras.argmax(1) == labels).mean()))
    assert ok.verdict == "PASS" and ok.passed and ok.reasons == ()
    assert ok.agreement_interval[0] == pytest.approx(0.996173, abs=1e-6)  # >= 0.995: established
    few = compare(probs[:300], keras[:300], labels[:300], "int8", INT8, None)
    assert few.verdict == "INCONCLUSIVE" and few.reasons[0].startswith(
        "not enough test images to establish 99.5 % agreement (n = 300; 0 disagreements; 95 % interval 98.7–100.0 %)")


def test_one_disagreement_fails_only_where_the_interval_establishes_it():
    """n = 20: 19/20 has its upper bound 99.1 % < 99.5 %: FAIL. n = 42: 99.6 %, INCONCLUSIVE.
    n = 1,300: the lower bound 99.57 % >= 99.5 %: PASS."""
    verdicts = {}
    for n in (20, 42, 1300):
        probs, keras, labels = _set(n, disagree=1)
        verdicts[n] = compare(probs, keras, labels, "int8", INT8, None)
    assert verdicts[20].verdict == "FAIL"
    assert verdicts[20].reasons == ("agreement 95.00% < 99.50% (95 % interval 76.4–99.1 %)",)
    assert verdicts[42].verdict == "INCONCLUSIVE" and verdicts[1300].verdict == "PASS"
    # The boundary sits where the upper bound crosses 99.5 %: the last n that FAILs on one image.
    last_fail = max(n for n in range(2, 100) if wilson_interval(n - 1, n)[1] < 0.995)
    assert 20 <= last_fail < 42
    for n, expected in ((last_fail, "FAIL"), (last_fail + 1, "INCONCLUSIVE")):
        probs, keras, labels = _set(n, disagree=1)
        assert compare(probs, keras, labels, "int8", INT8, None).verdict == expected, n


def test_an_accuracy_drop_fails_only_when_its_interval_is_above_the_tolerance():
    n = 10_000
    for flipped, expected in ((30, "PASS"), (40, "INCONCLUSIVE"), (80, "FAIL")):
        probs, keras, labels = _set(n, keras_right_flipped=flipped)
        keras_acc = float((keras.argmax(1) == labels).mean())
        r = compare(probs, keras, labels, "int8", INT8, keras_acc)
        assert r.accuracy_drop == pytest.approx(flipped / 100) and r.verdict == expected, (flipped, r.reasons)
        lo, hi = r.accuracy_drop_interval
        assert lo < flipped / 100 < hi
    # 80 images: agreement 99.20 % (upper bound 99.36 % < 99.5 %) and drop 0.80 points (interval above 0.3).
    assert r.reasons[0] == "agreement 99.20% < 99.50% (95 % interval 99.0–99.4 %)"
    assert r.reasons[1].startswith("accuracy drop 0.80 points > 0.3 (95 % interval 0.6")
    probs, keras, labels = _set(n, keras_right_flipped=40)
    r = compare(probs, keras, labels, "int8", INT8, float((keras.argmax(1) == labels).mean()))
    assert r.reasons[-1].startswith("not enough test images to establish an accuracy drop of at most 0.3 points "
                                    "(n = 10,000; drop 0.40 points; 95 % interval 0.2")


def test_a_tolerance_built_by_hand_keeps_the_point_rules():
    """by_interval is verify's (the lossy defaults'); a stop rule on a few hundred held-out images (the int8
    accuracy loop's) builds its own Tolerance and keeps point values: 500/500 could never establish 99.5 %."""
    from edgecnn.parity import Tolerance

    assert INT8.by_interval and "by_interval" not in INT8.to_json()
    probs, keras, labels = _set(500)
    point = compare(probs, keras, labels, "int8", Tolerance(min_agreement=0.995, max_accuracy_drop=0.3), None)
    assert point.verdict == "PASS" and point.judged_by == "point values"
    assert compare(probs, keras, labels, "int8", INT8, None).verdict == "INCONCLUSIVE"


def test_float_files_keep_their_point_rules_and_carry_the_interval():
    probs, keras, labels = _set(42)
    r = compare(keras, keras, labels, "float32", DEFAULT_TOLERANCES["float32"], None)
    assert r.verdict == "PASS" and r.judged_by == "point values on every image"
    assert r.agreement_interval == (pytest.approx(42 / (42 + 3.841459), abs=1e-6), 1.0)


def test_the_inconclusive_line_says_how_many_more_images_there_are():
    assert agreement_statement(300, 1, 0.995, available=10_000) == (
        "not enough test images to establish 99.5 % agreement (n = 300; 1 disagreement; 95 % interval 98.1–99.9 %)"
        "; 9,700 more test images available: --samples 10000")
    assert agreement_statement(300, 1, 0.995, available=300).endswith("%)")
    assert EXIT_CODES == {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 3}


# -- platform checks: a reproduction of the same file's host output ---------------------------------
def test_a_lossy_file_on_a_platform_is_judged_against_its_host_output():
    probs, keras, labels = _set(300, disagree=2)
    entry = compare_with_keras(probs, keras, labels, "int8", host_probs=probs + 0.004, host="LiteRT here")
    assert entry["status"] == "PASS" and entry["passed"] and entry["judged_against"] == "LiteRT here (the same file)"
    assert entry["vs_host"]["max_abs_diff"] == pytest.approx(0.004, abs=1e-6)
    assert entry["vs_host"]["differing_images"] == 0
    assert entry["keras_status"] == "INCONCLUSIVE"  # 298/300 cannot show 99.5 %: information only
    assert entry["agreement"] == pytest.approx(298 / 300) and entry["agreement_interval"][1] < 1.0
    # One image whose top-1 moves (not a near-tie in the host output): FAIL, whatever Keras says.
    moved = probs.copy()
    moved[100] = _one_hot([(labels[100] + 5) % 10])[0]
    bad = compare_with_keras(moved, keras, labels, "int8", host_probs=probs, host="LiteRT here")
    assert bad["status"] == "FAIL" and bad["reasons"] == [
        "top-1 differs from LiteRT here on 1 of 300 images that were no near-tie",
        "max |Δ| against LiteRT here 9.00e-01 > 0.05"]
    # A near-tie of the host output (top two 0.04 apart) resolved the other way by a 0.03 difference: reproduced.
    tie_host = _one_hot(labels)
    tie_host[7, :] = 0.0
    tie_host[7, [labels[7], (labels[7] + 1) % 10]] = 0.52, 0.48
    device = tie_host.copy()
    device[7, [labels[7], (labels[7] + 1) % 10]] = 0.49, 0.51
    tie = reproduces(device, tie_host)
    assert tie["passed"] and tie["differing_images"] == 1 and tie["near_ties"] == 1 and tie["agreement"] == 299 / 300
    # A float file is still held to Keras on every image.
    f32 = compare_with_keras(keras + 2e-4, keras, labels, "float32", host_probs=keras + 2e-4)
    assert f32["status"] == "FAIL" and f32["judged_against"] == "Keras" and f32["vs_host"]["passed"]


def test_reproduction_allows_no_large_difference():
    host = _one_hot(np.arange(50) % 10)
    assert reproduces(host + 0.049, host)["passed"]
    far = reproduces(host + 0.06, host, "TFLM")
    assert not far["passed"] and far["reasons"] == ["max |Δ| against TFLM 6.00e-02 > 0.05"]


# -- the CLI: exit 3 for INCONCLUSIVE, 0 with --warn-only; the seeded split in the header ---------
def test_verify_exits_3_when_the_test_set_is_too_small(exported_dir, mnist, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(exported_dir, out)
    small = tmp_path / "small.npz"
    # 200 labelled images without a split of their own: verify takes its seeded 20 % (40 images).
    np.savez(small, x=mnist.x_test[:200], y=mnist.y_test[:200])
    int8 = str(out / "mnist_cnn_int8.tflite")
    result = CliRunner().invoke(cli, ["verify", int8, "--output-dir", str(out), "--data", str(small)])
    assert result.exit_code == 3, result.output + result.stderr
    assert "test split: 40 of 200 images, 20 % seeded; give x_train/x_test in the .npz to choose" in result.output
    assert "mnist_cnn_int8.tflite: INCONCLUSIVE: not enough test images to establish 99.5 % agreement (n = 40;" \
        in result.output
    assert result.stderr.startswith("Error: 1 of 1 artifact(s) INCONCLUSIVE: not enough test images")
    entry = json.loads((out / "verify.json").read_text())["artifacts"]
    (row,) = [e for e in entry if e["path"].endswith("mnist_cnn_int8.tflite")]
    assert row["status"] == "INCONCLUSIVE" and row["passed"] is False and len(row["agreement_interval"]) == 2
    warn = CliRunner().invoke(cli, ["verify", int8, "--output-dir", str(out), "--data", str(small),
                                                    "--warn-only"])
    assert warn.exit_code == 0 and "INCONCLUSIVE" in warn.stderr and "--warn-only: exit 0" in warn.stderr


def test_the_report_shows_the_interval_and_the_inconclusive_line(tmp_path):
    from edgecnn import report

    probs, keras, labels = _set(42, disagree=1)
    row = compare(probs, keras, labels, "int8", INT8, float((keras.argmax(1) == labels).mean())).to_json()
    entry = {**row, "path": "m_int8.tflite", "format": "tflite", "reason": "; ".join(row["reasons"])}
    (tmp_path / "verify.json").write_text(json.dumps({"artifacts": [entry], "keras_accuracy": 0.9}))
    (tmp_path / "manifest.json").write_text(json.dumps({"artifacts": [
        {"path": "m_int8.tflite", "format": "tflite", "precision": "int8", "bytes": 1000}]}))
    (cells,) = report.summary_rows(tmp_path)
    assert cells["verdict"] == "INCONCLUSIVE" and cells["agreement"] == "97.62 %"
    assert "97.62 % (87.7–99.6 %)" in report.markdown_table([cells])
    lines = report.verdict_lines(tmp_path)
    # No discordant pairs, 37 of 42 right for both: Wilson 75.0–94.8 % each, phi = 1, so the interval is
    # ±(0.13096 - 0.06710) = ±6.4 points (by hand).
    assert lines[1] == ("- m_int8.tflite: INCONCLUSIVE; accuracy drop 0.00 points (95 % interval −6.4–6.4 points); "
                        "not enough test images to establish 99.5 % agreement (n = 42; 1 disagreement; "
                        "95 % interval 87.7–99.6 %)")


def test_the_int8_loop_says_when_its_judge_images_cannot_establish_the_agreement():
    """The loop stops on the point value; its statement says when the judge set is too small to show it
    (the MobileNetV2 test model on a machine without VNNI: 99.8 % on 500 judge images, 99.4 % on the test split)."""
    from types import SimpleNamespace

    from edgecnn.export.accuracy import Control, Step, _statement

    def statement(agreement: float, n: int) -> str:
        step = Step("Percentile calibration", agreement, 0.99, 0.0, 525_000, 600.0, passed=True)
        run = SimpleNamespace(steps=[step], control=Control(0.3, 0.995), floor=None,
                              judge=SimpleNamespace(images=np.zeros((n, 1))))
        return _statement(run, 0)

    few = statement(0.998, 500)
    assert few.startswith("int8 meets agreement >= 99.50%, drop <= 0.3 points at step 0: agreement 99.80%")
    assert few.endswith("; 500 judge images cannot establish it (95 % interval 98.9–100.0 %): "
                        "verify's verdict on the test split decides")
    # 2,000 without a miss: >= 99.81 %, established
    assert statement(1.0, 2000).endswith("agreement 100.00%, drop 0.00 points (int8)")
    # 700 without a miss: 99.45 % at the least, which one decimal would print as the tolerance itself
    assert statement(1.0, 700).endswith("(95 % interval 99.45–100.00 %): "
                                        "verify's verdict on the test split decides")
