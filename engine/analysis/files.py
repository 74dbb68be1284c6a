"""Writing the analysis layer's files (figures, reports, exports) without ever leaving a partial one.

:func:`atomic_output` refuses an existing file unless ``overwrite`` (the rules of
:func:`engine.output.guard.check_destination`), hands out a temporary file beside the
destination and moves it into place (:func:`engine.output.guard.place`) only when the writer
finished; on any error the temporary file is removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from engine.errors import AnalysisError, OutputError
from engine.output.guard import check_destination, place

__all__ = ["atomic_output", "suffix_of"]


@contextlib.contextmanager
def atomic_output(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it to ``path``, else delete it.

    Raises
    ------
    OutputError
        If ``path`` exists and ``overwrite`` is false, is a directory, or its folder is missing.
    """
    dest = check_destination(path, overwrite=overwrite)
    if not dest.parent.exists():
        raise OutputError(f"{dest}: the folder {dest.parent} does not exist")
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        place(tmp, dest, overwrite=overwrite)
    finally:
        tmp.unlink(missing_ok=True)


def suffix_of(path: str | Path, allowed) -> str:
    """The lower-case suffix of ``path`` without its dot, checked against ``allowed``."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in allowed:
        raise AnalysisError(f"{path}: cannot tell the format from the suffix {suffix!r}; expected one of {sorted(allowed)}")
    return suffix
