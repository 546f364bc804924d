"""The ``edgecnn`` command line: parse, call the library, print.

Heavy libraries (TensorFlow, ONNX Runtime, LiteRT) are imported inside the command
that needs them, so ``edgecnn --help`` and ``--version`` return instantly.

One module per job: ``group`` (the click group and the one ``Error:`` exit path), ``options``
(options several commands share), and the commands by concept: ``make`` (train, export, run),
``check`` (verify, bench), ``deploy`` (predict, inspect, bundle, serve).
"""

from edgecnn.cli.group import EdgeCnnGroup, UserError, cli, examples, main
from edgecnn.cli.options import DEFAULT_OUTPUT_DIR
# Importing the command modules registers their commands on `cli`.
from edgecnn.cli.make import export, run, train
from edgecnn.cli.check import bench, verify
from edgecnn.cli.deploy import bundle, inspect, predict, serve

__all__ = ["DEFAULT_OUTPUT_DIR", "EdgeCnnGroup", "UserError", "bench", "bundle", "cli", "examples", "export",
           "inspect", "main", "predict", "run", "serve", "train", "verify"]
