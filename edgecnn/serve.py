"""``python -m edgecnn.serve [--port 8000] [DIR]``: the same as ``edgecnn serve`` (see edgecnn.web.serve)."""

from edgecnn.web.serve import main

if __name__ == "__main__":
    main()
