"""One Predictor per runtime shared by 8 threads: every answer equals the single-threaded one."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edgecnn import runtime

THREADS = 8
CALLS_PER_THREAD = 1000  # 8 x 1,000 = 8,000 predictions per artifact, 32,000 in all
DEADLINE_S = 60.0  # a bound, not a speed goal: a stuck lock fails the test instead of hanging CI


# 8,000 predictions per artifact (1-2 s each on a busy machine): one TFLite and one ONNX file in the
# fast run (test_predict has a lighter thread test of three), all four in CI.
@pytest.mark.parametrize("name", [
    pytest.param("mnist_cnn_float32.tflite", marks=pytest.mark.slow), "mnist_cnn_int8.tflite",
    pytest.param("mnist_cnn_float32.onnx", marks=pytest.mark.slow), "mnist_cnn_int8.onnx",
])
def test_threads_share_a_predictor_without_changing_results(exported_dir, mnist, name):
    predictor = runtime.load(exported_dir / name)
    # Batches of 1, 3 and 8: a TFLite predictor resizes its input between calls, under its lock.
    sizes = (1, 3, 8)
    batches = [mnist.x_test[i * 8: i * 8 + sizes[i % 3]] for i in range(48)]
    expected = [predictor.predict(batch) for batch in batches]
    assert expected[0].shape == (1, 10) and expected[2].shape == (8, 10)

    done = [0] * THREADS
    problems: list[str] = []
    stop_at = time.monotonic() + DEADLINE_S

    def worker(t: int) -> None:
        rng = np.random.default_rng(t)
        try:
            for _ in range(CALLS_PER_THREAD):
                if time.monotonic() > stop_at:
                    return
                i = int(rng.integers(len(batches)))
                got = predictor.predict(batches[i])
                if not np.array_equal(got, expected[i]):
                    problems.append(f"thread {t}, batch {i}: max diff {np.abs(got - expected[i]).max()}")
                done[t] += 1
        except Exception as exc:  # reported below: an exception in a thread must fail the test
            problems.append(f"thread {t}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S + 10)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    assert problems == []
    assert sum(done) == THREADS * CALLS_PER_THREAD, f"only {sum(done)} predictions before the deadline"
