"""The names of the files edgecnn writes into an output folder, in one place (stdlib only).

The model's own files are named from the model (``edgecnn.model.MODEL_FILENAME``, the export
registry's ``<name>_<precision>.<ext>``); everything else a command writes is named here.
"""

from __future__ import annotations

# The reference CNN's model file: what `train` writes without --data, and the default elsewhere.
REFERENCE_MODEL = "mnist_cnn.keras"
MANIFEST = "manifest.json"  # export: the artifacts and what a device needs to know
TRAIN_JSON = "train.json"  # train: configuration, history, accuracy
VERIFY_JSON = "verify.json"  # verify: parity per artifact (merged, keyed by path)
DISAGREEMENTS_PNG = "disagreements.png"  # verify: images where an artifact and Keras disagree
BENCH_JSON = "bench.json"  # bench: timings per file x runtime x batch x threads
BENCH_CSV = "bench.csv"
BENCH_MD = "bench.md"
BENCH_PNG = "bench.png"
TRAINING_PNG = "training.png"  # report: loss/accuracy per epoch
CONFUSION_PNG = "confusion.png"  # report: confusion matrix of the int8 TFLite model
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
BUNDLE_DIR = "bundle"  # bundle: <output-dir>/bundle/<target>/
MODELS_JSON = "models.json"  # bundle --target web: the models the page offers
