"""Training speed: `edgecnn train`'s code path vs a plain Keras script on the same arrays.

Each side runs in its own fresh Python process (so each pays its own TensorFlow start-up),
alternating, and times everything from "arrays in memory" to "model trained and
evaluated". Prints both wall times (medians), their ratio and both test accuracies.

    .venv/bin/python benchmarks/train_speed.py [--epochs 12] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PLAIN = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras import layers
from edgecnn.data import load_mnist
d = load_mnist()
epochs = int(sys.argv[1])
start = time.perf_counter()
x_train = d.x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
x_test = d.x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
y_train = keras.utils.to_categorical(d.y_train, 10)
y_test = keras.utils.to_categorical(d.y_test, 10)
keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(6, (3, 3), activation="tanh"), layers.MaxPooling2D((2, 2)),
    layers.Conv2D(16, (2, 2), activation="tanh"), layers.MaxPooling2D((2, 2)),
    layers.Flatten(), layers.Dense(256, activation="tanh"), layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95),
              loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=128, epochs=epochs, verbose=0, validation_data=(x_test, y_test))
acc = model.evaluate(x_test, y_test, verbose=0)[1]
print(json.dumps({"wall": time.perf_counter() - start, "accuracy": acc}))
"""

EDGECNN = r"""
import json, os, sys, tempfile, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras  # imported before the clock starts, as in the plain script
from edgecnn.data import load_mnist
from edgecnn.model import TrainConfig, train
d = load_mnist()
epochs = int(sys.argv[1])
with tempfile.TemporaryDirectory() as out:
    start = time.perf_counter()
    result = train(TrainConfig(epochs=epochs, verbose=0), d, out)
    print(json.dumps({"wall": time.perf_counter() - start, "accuracy": result.test_accuracy}))
"""


def run(code: str, epochs: int) -> dict:
    out = subprocess.run([sys.executable, "-c", code, str(epochs)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"plain": [], "edgecnn": []}
    for i in range(args.repeats):
        # Alternate the order so drift of a shared machine hits both alike.
        order = [("plain", PLAIN), ("edgecnn", EDGECNN)]
        for name, code in order if i % 2 == 0 else order[::-1]:
            results[name].append(run(code, args.epochs))
            print(f"  {name:8s} run {i + 1}: {results[name][-1]['wall']:.1f} s, "
                  f"accuracy {results[name][-1]['accuracy']:.4f}", flush=True)
    plain = statistics.median(r["wall"] for r in results["plain"])
    mine = statistics.median(r["wall"] for r in results["edgecnn"])
    print(f"plain Keras script : {plain:6.1f} s  accuracy {results['plain'][-1]['accuracy']:.4f}")
    print(f"edgecnn train      : {mine:6.1f} s  accuracy {results['edgecnn'][-1]['accuracy']:.4f}")
    print(f"ratio edgecnn/plain: {mine / plain:.3f}  (goal <= 1.0; {args.epochs} epochs, median of {args.repeats})")


if __name__ == "__main__":
    main()
