"""``python -m edgecnn`` runs the CLI."""

from edgecnn.cli import main

if __name__ == "__main__":
    main()
