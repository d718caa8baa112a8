"""``python -m streamforge`` runs the same CLI as the ``streamforge`` script."""

from __future__ import annotations

from streamforge.cli import main

if __name__ == "__main__":
    main()
