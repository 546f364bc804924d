"""``edgecnn serve [--port 8000] [DIR]``: serve a web bundle on 127.0.0.1 (stdlib only).

The right MIME types (``.mjs`` as JavaScript, ``.wasm`` as ``application/wasm``, ``.onnx``
as bytes) and the cross-origin isolation headers (COOP ``same-origin``, COEP
``require-corp``) that let ONNX Runtime Web use more than one WebAssembly thread. Only
127.0.0.1 is bound: this is for trying a bundle, not for hosting it.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgecnn.errors import InputError

HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".tflite": "application/octet-stream",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


class BundleHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with edgecnn's MIME table and headers; quiet unless ``verbose``."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    verbose = False

    def end_headers(self) -> None:
        for name, value in HEADERS.items():
            self.send_header(name, value)
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # `format`: the base class's name
        if self.verbose:
            super().log_message(format, *args)


def make_server(directory: Path, port: int = DEFAULT_PORT, verbose: bool = False) -> http.server.ThreadingHTTPServer:
    """A server for ``directory`` on 127.0.0.1:``port`` (0: any free port), not yet serving."""
    directory = Path(directory)
    if not (directory / "index.html").is_file():
        raise InputError(f"{directory}: no index.html here; build one with `edgecnn bundle --target web`")
    handler = functools.partial(type("Handler", (BundleHandler,), {"verbose": verbose}), directory=str(directory))
    try:
        server = http.server.ThreadingHTTPServer((HOST, port), handler)
    except OSError as exc:
        raise InputError(f"cannot listen on {HOST}:{port} ({exc.strerror or exc}); try another --port") from exc
    server.daemon_threads = True
    return server


@contextmanager
def serving(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve ``directory`` in a background thread; yields the base URL (``http://127.0.0.1:PORT/``)."""
    server = make_server(directory, port)
    thread = threading.Thread(target=server.serve_forever, name="edgecnn-serve", daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def serve_forever(directory: Path, port: int = DEFAULT_PORT, echo=print) -> None:
    """``edgecnn serve``: serve ``directory`` on 127.0.0.1 until Ctrl-C.

    Args:
        directory: the web bundle folder.
        port: the port on 127.0.0.1.
        echo: receives the address line.
    """
    server = make_server(directory, port, verbose=True)
    echo(f"Serving {Path(directory).resolve()} on http://{HOST}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:  # python -m edgecnn.serve
    parser = argparse.ArgumentParser(prog="python -m edgecnn.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("directory", nargs="?", default="exports/bundle/web")
    args = parser.parse_args(argv)
    try:
        serve_forever(Path(args.directory), args.port)
    except InputError as exc:
        parser.exit(1, f"Error: {exc}\n")


if __name__ == "__main__":
    main()
