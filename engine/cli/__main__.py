"""``python -m engine.cli``: the same as the ``dcproj`` command."""

from engine.cli.main import main

main()
