"""Never silent for long: a status line that ticks while a stage works (stdlib only).

On a terminal, :class:`Ticker` redraws one line every ``interval`` seconds (default 2 s) with
what is running, for how long, and the last thing it reported (``what`` / ``last``), so a
stage whose library call takes 15 s still shows it is alive. Every ordinary line goes through
:meth:`Ticker.echo`, which clears the status line first, so the two never mix. When the
stream is not a terminal (CI logs, pipes) the ticker draws nothing: the plain lines remain.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

CLEAR = "\r\x1b[K"


class Ticker:
    """A status line for one long step; use as a context manager around the step."""

    def __init__(self, what: str, stream: TextIO | None = None, interval: float = 2.0,
                 enabled: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.what = what
        self.last = ""
        self.interval = interval
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = isatty() if enabled is None else enabled
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.perf_counter()
        self._drawn = False

    def status(self) -> str:
        elapsed = time.perf_counter() - self._started
        text = f"    … {self.what}: {elapsed:.0f} s"
        return text + (f" (last: {self.last})" if self.last else "")

    def _draw(self) -> None:
        with self._lock:
            self.stream.write(CLEAR + self.status()[:99])
            self.stream.flush()
            self._drawn = True

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def echo(self, message: str) -> None:
        """Print one line (clearing the status line first); it also becomes the status' "last"."""
        with self._lock:
            if self._drawn:
                self.stream.write(CLEAR)
                self._drawn = False
            self.stream.write(message + "\n")
            self.stream.flush()
            self.last = message.strip()[:60]

    def __enter__(self) -> Ticker:
        self._started = time.perf_counter()
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="edgecnn-ticker", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        with self._lock:
            if self._drawn:
                self.stream.write(CLEAR)
                self.stream.flush()
                self._drawn = False


def ticking_echo(ticker: Ticker | None, echo: Callable[[str], None]) -> Callable[[str], None]:
    """``echo`` that goes through ``ticker`` when there is one (so lines and the status line never mix)."""
    return ticker.echo if ticker is not None and ticker.enabled else echo
