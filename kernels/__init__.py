"""numba kernels of dcproj: RNG, inverse CDFs, the model equations and their CPU/GPU drivers.

Importing :mod:`kernels.cpu` compiles (or loads from cache) the CPU kernels.  Unless
``NUMBA_CACHE_DIR`` is set, compiled code is cached under ``~/.cache/dcproj/numba/<hash>``,
where the hash covers every kernel source file: numba itself only checks the timestamp of
the file that holds the entry point, which would miss edits to the equations it calls.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _source_hash() -> str:
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _configure_cache() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    import numba

    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dcproj" / "numba"
    numba.config.CACHE_DIR = str(root / _source_hash())


_configure_cache()
