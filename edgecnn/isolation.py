"""Native code that can crash on a legal file runs in a child process; a crash becomes one error.

The TFLM interpreter dies with SIGSEGV on a model it cannot fit (measured: PyPI tflite-micro,
an int8 model at a 100 B arena prints ``Failed to allocate tail memory`` and segfaults; at
600 B it raises a clean ``RuntimeError``). A :class:`Child` is one ``python -m
edgecnn.isolation`` process that runs ``module:function`` calls on request (pickled frames on
its stdin and a private copy of its stdout); when it dies, the call raises
:class:`NativeCrash` naming the file, the step, the signal and, where the native library
printed it, the op, and the next call starts a fresh child. Stdlib only.

:func:`run_spawned` is the other half: one call in a fresh ``multiprocessing`` spawn child, for
work that needs a clean interpreter rather than protection from a crash (``run``'s bench: training
has sized TensorFlow's thread pools in the parent; the Keras baseline: TensorFlow must never load
into the timing process). Its child sends progress lines back as it goes; its exception is
re-raised here; its death is one :class:`ChildDied` naming the signal.

Why two mechanisms, not one: a :class:`Child` serves many calls in one process (verify runs every
file in it; a crash costs a fresh one), needs the dead child's stderr to name the op TFLM died
at, and a per-call timeout for a hang; a spawn child is one call with a progress channel. Both
name a death with :func:`signal_name`.
"""

from __future__ import annotations

import importlib
import os
import pickle
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Callable
from typing import IO, Any

from edgecnn.errors import EdgeCnnError, PlatformError

# TFLM names the node it was on in its error lines ("Node CONV_2D (number 3) failed to invoke").
_OP_LINE = re.compile(r"Node (\w+) \(number (\d+)")
ISOLATED_ENV = "EDGECNN_ISOLATED_CHILD"  # set in a child: its fd 2 is kept for the parent to read


class NativeCrash(PlatformError):
    """A child running native code died (signal or exit) or hung; one line for the user."""

    def __init__(self, file: str, step: str, signal_name: str, op: str | None = None, detail: str = ""):
        self.file, self.step, self.signal_name, self.op, self.detail = file, step, signal_name, op, detail
        where = f" at op {op}" if op else ""
        said = f"; last native message: {detail}" if detail else ""
        super().__init__(f"{file}: {step} crashed with {signal_name}{where} (isolated in a child process){said}")

    def __reduce__(self):
        return NativeCrash, (self.file, self.step, self.signal_name, self.op, self.detail)


def signal_name(returncode: int) -> str:
    """``SIGSEGV`` for -11, ``exit 3`` for 3."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


def _write_frame(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj)
    os.write(fd, struct.pack("<Q", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int, deadline: float | None = None) -> tuple[bool, Any]:
    """(True, object) or (False, None) at end of file."""
    head = _read_exact(fd, 8, deadline)
    if head is None:
        return False, None
    body = _read_exact(fd, struct.unpack("<Q", head)[0], deadline)
    return (False, None) if body is None else (True, pickle.loads(body))


class Child:
    """A child Python process that runs ``module:function`` calls; use as a context manager.

    Args:
        timeout: seconds one call may take before the child is killed (a hang is a crash too).
    """

    def __init__(self, timeout: float = 900.0):
        self.timeout = timeout
        self._proc: subprocess.Popen | None = None
        self._err: IO[bytes] | None = None

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> subprocess.Popen:
        # stderr to a file: native libraries log freely, and a full pipe would stall the child.
        self._err = tempfile.TemporaryFile()  # lives as long as the child
        env = {**os.environ, ISOLATED_ENV: "1", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._proc = subprocess.Popen([sys.executable, "-m", "edgecnn.isolation"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=self._err, env=env)
        return self._proc

    def call(self, function: str, *args: Any, file: str, step: str) -> Any:
        """Run ``function`` ("package.module:name") with ``args`` in the child and return its result.

        Args:
            function: what to call, importable in a fresh interpreter.
            file: the file the call works on (named in a crash).
            step: what the call does, e.g. "the TFLM host check" (named in a crash).

        Returns:
            The function's return value; its exception is re-raised here.
        """
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        assert proc.stdin is not None and proc.stdout is not None  # both are pipes
        try:
            _write_frame(proc.stdin.fileno(), (function, args))
            ok, reply = _read_frame(proc.stdout.fileno(), time.monotonic() + self.timeout)
        except TimeoutError:
            proc.kill()
            self._reap()
            raise NativeCrash(file, step, f"a hang (no answer in {self.timeout:.0f} s)") from None
        except BrokenPipeError:
            ok, reply = False, None
        if not ok:
            proc.wait()
            name = signal_name(proc.returncode)
            op, detail = self._last_words()
            self._reap()
            raise NativeCrash(file, step, name, op, detail)
        status, value = reply
        if status == "error":
            raise value
        return value

    def _last_words(self) -> tuple[str | None, str]:
        """(op named by the native library, its last stderr line) from the dead child's stderr."""
        if self._err is None:
            return None, ""
        self._err.seek(0)
        lines = [line for line in self._err.read().decode(errors="replace").splitlines() if line.strip()]
        ops = [m.group(1) for line in lines for m in [_OP_LINE.search(line)] if m]
        return (ops[-1] if ops else None), (lines[-1].strip()[:160] if lines else "")

    def _reap(self) -> None:
        if self._proc is not None:
            for stream in (self._proc.stdin, self._proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            self._proc.wait()
        if self._err is not None:
            self._err.close()
        self._proc, self._err = None, None

    def close(self) -> None:
        """End the child (it exits when its stdin closes)."""
        self._reap()


def call_isolated(function: str, *args: Any, file: str | Path, step: str, timeout: float = 900.0) -> Any:
    """One call in a fresh child: :meth:`Child.call` without keeping the process."""
    with Child(timeout) as child:
        return child.call(function, *args, file=Path(file).name, step=step)


class ChildDied(EdgeCnnError):
    """A :func:`run_spawned` child ended without a result; ``how`` is "killed by SIGSEGV" or "exit 1"."""

    def __init__(self, how: str):
        self.how = how
        super().__init__(f"the child process ended without a result ({how})")

    def __reduce__(self):
        return ChildDied, (self.how,)


def run_spawned(target: Callable[..., Any], *args: Any, progress: Callable[[str], None] | None = None,
                name: str = "edgecnn-child") -> Any:
    """``target(*args)`` in a fresh spawned interpreter; with ``progress``, ``target(*args, send)``.

    Args:
        target: a module-level function (spawn pickles it by name).
        progress: receives each line the child's ``send(line)`` passes, as it comes.
        name: the child's process name.

    Returns:
        ``target``'s return value.

    Raises:
        ChildDied: the child ended without a result (a signal, or an exit before it answered).
        The child's own exception, same type and message (an unpicklable one as EdgeCnnError).
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_spawned_main, args=(target, args, progress is not None, child), name=name)
    proc.start()
    child.close()
    outcome = None
    try:
        while True:
            try:
                message = parent.recv()
            except EOFError:  # the child is gone: finished, or crashed before it could say so
                break
            if message[0] == "progress" and progress is not None:
                progress(message[1])
            elif message[0] != "progress":
                outcome = message
    finally:
        proc.join()
    if outcome is not None and outcome[0] == "done":
        return outcome[1]
    if outcome is not None:
        raise outcome[1]
    code = proc.exitcode
    raise ChildDied(f"killed by {signal_name(code)}" if code is not None and code < 0 else f"exit {code}")


def _spawned_main(target: Callable[..., Any], args: tuple[Any, ...], with_progress: bool, conn) -> None:
    """In the spawned child: send ("progress", line)… then ("done", value) or ("error", exception)."""
    try:
        extra = (lambda line: conn.send(("progress", line)),) if with_progress else ()
        conn.send(("done", target(*args, *extra)))
    except BaseException as exc:  # noqa: BLE001 - a bug too: its type and text reach the parent, which raises
        conn.send(("error", _picklable(exc)))
    finally:
        conn.close()


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else an EdgeCnnError with its text (and type, for a non-edgecnn one)."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any failure to pickle or rebuild means: send its text instead
        return EdgeCnnError(str(exc) if isinstance(exc, EdgeCnnError) else f"{type(exc).__name__}: {exc}")


def _serve() -> None:
    """The child's loop: read (function, args), call, reply (ok/error, value), until stdin closes."""
    replies = os.dup(1)
    os.dup2(2, 1)  # native code printing to fd 1 must not corrupt the reply channel
    while True:
        ok, request = _read_frame(0)
        if not ok:
            return
        function, args = request
        module, _, name = function.partition(":")
        try:
            reply = ("ok", getattr(importlib.import_module(module), name)(*args))
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which re-raises it
            reply = ("error", exc)
        try:
            _write_frame(replies, reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            _write_frame(replies, ("error", PlatformError(f"{type(reply[1]).__name__}: {reply[1]}")))


if __name__ == "__main__":
    _serve()
