"""The command line (click): a thin face over :mod:`engine`; ``dcproj = engine.cli:main``."""

from engine.cli.main import main

__all__ = ["main"]
