"""Keep the native libraries' start-up chatter off the terminal (stdlib only, no heavy imports).

TensorFlow, its converter, absl and LiteRT's XNNPACK delegate write log lines from C++
straight to file descriptor 2, below Python: ``sys.stderr`` redirection and the logging
module never see them, and ``TF_CPP_MIN_LOG_LEVEL`` silences only part of them
(``WARNING: All log messages before absl::InitializeLog()``, the converter's
``fully_quantize: 0, ...`` and ``INFO: Created TensorFlow Lite XNNPACK delegate`` still print).

:func:`install` therefore works at the descriptor level, once per process, before any
native library loads:

1. it sets the environment variables the libraries read at load time
   (``TF_CPP_MIN_LOG_LEVEL=3``, ``GRPC_VERBOSITY``, ``GLOG_minloglevel``);
2. it points fd 2 at a pipe; a daemon thread reads the pipe line by line, drops the lines
   :func:`is_noise` recognises, turns the few that matter into one edgecnn line each
   (:data:`TRANSLATIONS`, printed once), and copies every other line to the real stderr;
3. Python's own ``sys.stderr`` (click's ``Error:`` lines, warnings, tracebacks) is re-opened on a
   duplicate of the original fd 2, so it is neither delayed nor filtered;
4. at exit the original fd 2 is restored and the thread drains the pipe.

``edgecnn -v`` (or ``EDGECNN_NATIVE_LOGS=1``) skips all of it and shows the libraries' own logs.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# Lines from native code that say nothing a user can act on.
NOISE_PATTERNS = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] ",  # glog/absl INFO and WARNING lines (oneDNN notes, converter chatter)
    r".*oneDNN custom operations are on",
    r".*This TensorFlow binary is optimized to use available CPU instructions",
    r"To enable the following instructions: .* rebuild TensorFlow",
    r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.",
    r"INFO: Initialized TensorFlow Lite runtime\.",
    r"fully_quantize: \d+, inference_type: \d+, input_inference_type: \S+, output_inference_type: \S+",
    r"Estimated count of arithmetic ops: ",
    r"Summary on the non-converted ops:",
    r"\s*\* Accepted dialects: ",
    r"\s*\* Non-Converted Ops: ",
    r"\s*- arith\.constant: ",
    r"\s*- tfl\.",
    r"\s*- tf\.",
    r"\s*- mhlo\.",
    r"\s*- stablehlo\.",
    r"TensorFlow Lite.*XNNPACK.*delegate.*will be applied",
)
_NOISE = re.compile("|".join(f"(?:{p})" for p in NOISE_PATTERNS))

# Native lines that do matter, said once in edgecnn's words.
TRANSLATIONS = (
    (re.compile(r"(?:failed to delegate|not supported by XNNPACK|XNNPACK delegate failed)", re.I),
     "edgecnn: warning: part of the model runs outside the XNNPACK delegate (slower on this CPU); "
     "`-v` shows LiteRT's own message"),
    (re.compile(r"(?:Statistics for quantized inputs were expected|calibrat\w* .*(?:fail|missing))", re.I),
     "edgecnn: warning: int8 calibration was incomplete (some ranges were not measured); "
     "check the int8 file with `edgecnn verify`; `-v` shows the converter's own message"),
)

_installed = False
_warned: set[str] = set()

# Python-level warnings of the libraries that are noise for a user (they read as edgecnn bugs).
_NOISY_WARNING_MODULES = ("tensorflow", "keras", "tf2onnx", "onnx", "google", "absl", "numpy")


def quiet_python_warnings() -> None:
    """Route Python ``warnings`` through :data:`TRANSLATIONS` (once, in edgecnn's words); drop the
    libraries' deprecation chatter; leave every other warning as Python shows it."""
    import warnings

    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        for pattern, said in TRANSLATIONS:
            if pattern.search(text):
                if said not in _warned:
                    _warned.add(said)
                    print(said, file=sys.stderr)
                return
        if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)) or any(
                f"{os.sep}{name}{os.sep}" in str(filename) for name in _NOISY_WARNING_MODULES):
            return
        original(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def is_noise(line: str) -> bool:
    """True for a native log line that :func:`install` keeps off the terminal."""
    return bool(_NOISE.match(line.rstrip("\r\n")))


def set_library_env() -> None:
    """Environment variables the native libraries read when they load (harmless if already loaded)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


def filter_line(line: str, seen: set[str]) -> str | None:
    """What to print for one native stderr line: the line, an edgecnn warning (once) or nothing."""
    for pattern, message in TRANSLATIONS:
        if pattern.search(line):
            if message in seen:
                return None
            seen.add(message)
            return message + "\n"
    return None if is_noise(line) else line


def install(verbose: int = 0) -> bool:
    """Filter native writes to fd 2 for the rest of the process; False when left alone.

    Idempotent. Does nothing with ``verbose`` > 0, with ``EDGECNN_NATIVE_LOGS=1``, or when
    fd 2 cannot be duplicated (e.g. closed).
    """
    global _installed
    if verbose > 0 or os.environ.get("EDGECNN_NATIVE_LOGS") == "1":
        return False
    set_library_env()
    if _installed:
        return True
    quiet_python_warnings()
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_fd, write_fd = os.pipe()
    except (OSError, ValueError, AttributeError):
        return False
    # Python's stderr writes straight to the real descriptor (unfiltered, undelayed).
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = open(real, "w", buffering=1, encoding=encoding, errors="backslashreplace", closefd=False)
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump() -> None:
        seen: set[str] = set()
        with open(read_fd, "rb", closefd=True) as pipe:
            for raw in pipe:
                out = filter_line(raw.decode("utf-8", "replace"), seen)
                if out:
                    try:
                        os.write(real, out.encode("utf-8", "replace"))
                    except OSError:
                        pass

    thread = threading.Thread(target=pump, name="edgecnn-stderr-filter", daemon=True)
    thread.start()

    def restore() -> None:
        try:
            sys.stderr.flush()
            os.dup2(real, 2)  # closes the pipe's last write end we hold: the thread sees EOF
        except (OSError, ValueError):
            return
        thread.join(timeout=2.0)

    atexit.register(restore)
    _installed = True
    return True
