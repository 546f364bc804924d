"""The browser as an edge target: a self-contained web page that runs the exported ONNX files.

- :mod:`edgecnn.web.npm`: the one pinned ONNX Runtime Web package, fetched with ``npm pack`` into a cache.
- :mod:`edgecnn.web.bundle`: ``edgecnn bundle --target web`` (page + app JS + models + runtime files).
- :mod:`edgecnn.web.serve`: ``edgecnn serve``, a tiny 127.0.0.1 server with the right MIME types and headers.
- ``static/``: the page itself (package data, copied as files).

The browser check (``verify --platform browser``) lives in :mod:`edgecnn.platforms.browser`.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
# The page's own files, copied verbatim into the bundle.
STATIC_FILES = ("index.html", "app.js", "edgecnn.js", "style.css")
