"""Parity of every exported file against the Keras model: numbers and decisions.

Each artifact runs the full test set (MNIST's, or the ``--data`` one) in its own runtime (LiteRT for ``.tflite``,
ONNX Runtime for ``.onnx``, through :mod:`edgecnn.runtime`); its probabilities are
compared with Keras' by :func:`compare`, a pure function on arrays that another
process (e.g. the same runtime under an emulated Raspberry Pi) can reuse as is.

Importing this module is TF-free: TensorFlow/Keras are imported only by
:func:`keras_reference` and the int8 layer diagnosis (:mod:`edgecnn.quantdebug`).

One module per job: ``reference`` (Keras' probabilities, a file's in its runtime), ``check``
(every file against Keras: :func:`verify`, :func:`check_artifact`), ``report`` (the rows and
their verify.json shape) and ``folder`` (the command: :class:`VerifyRequest` -> :func:`verify_folder`).
"""

from edgecnn.parity import DEFAULT_TOLERANCES, ParityResult, Tolerance, compare, override_tolerances
from edgecnn.verify.check import VerifyOptions, check_artifact, verify
from edgecnn.verify.folder import VerifyRequest, VerifyRun, verify_folder
from edgecnn.verify.reference import artifact_spec, evaluate, file_probabilities, keras_reference
from edgecnn.verify.report import ArtifactCheck, VerifyReport
from edgecnn.verify_results import format_quant_debug, format_table, merge_results, write_report

__all__ = ["DEFAULT_TOLERANCES", "ArtifactCheck", "ParityResult", "Tolerance", "VerifyOptions", "VerifyReport",
           "VerifyRequest", "VerifyRun", "artifact_spec", "check_artifact", "compare", "evaluate",
           "file_probabilities", "format_quant_debug", "format_table", "keras_reference", "merge_results",
           "override_tolerances", "verify", "verify_folder", "write_report"]
