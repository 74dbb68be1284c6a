"""Guarding the user's files: no output replaced without ``--overwrite``, one run per output at a
time, the finished file placed atomically, and a full disk reported as such.

* :func:`check_destination` refuses, before any work, an existing ``--out`` (unless
  ``overwrite``), a directory, and an ``--out`` that is one of the run's own inputs (the config);
* :class:`OutputLock` holds an exclusive ``flock`` on ``<dir>/.<name>.lock`` for the whole run,
  so a second run on the same ``--out`` stops at once with a clear message (the kernel releases
  the lock when a process dies, even by SIGKILL, so a lock is never stale);
* :func:`place` moves the finished temporary file into place: without ``overwrite`` by a hard
  link that fails if the destination appeared meanwhile (never a mix of two runs), with it by
  an atomic ``os.replace``;
* :func:`full_disk` turns the errors HDF5 and the OS give for a full file system into an
  :class:`~engine.errors.OutputError` naming the path and the free space.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path

from engine.errors import OutputError

__all__ = ["check_destination", "OutputLock", "place", "full_disk", "human_bytes"]

FULL_BELOW = 32 * 2**20  # a write error with less free space than this is reported as a full disk


def human_bytes(n: float) -> str:
    """``n`` bytes in readable decimal units: 512 B, 3.4 kB, 12 MB, 4.9 GB, 1.2 TB."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:,.{1 if n / size < 100 else 0}f} {unit}"
    return f"{n:,.0f} B"


def check_destination(path: str | Path, *, overwrite: bool, protected=()) -> Path:
    """Refuse an ``--out`` that exists (unless ``overwrite``) or is one of ``protected`` (the run's inputs)."""
    p = Path(path)
    for other in protected:
        if other is not None and p.exists() and Path(other).exists() and os.path.samefile(p, other):
            raise OutputError(f"{p}: --out points at {other}, an input of this run; choose another output file")
    if p.exists() and p.is_dir():
        raise OutputError(f"{p}: is a directory; expected a file name such as runs/default.nc")
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: the file exists; add --overwrite to replace it (overwrite=True in Python), or choose another --out")
    return p


class OutputLock:
    """An exclusive lock on output ``path`` for the duration of a run (a context manager)."""

    def __init__(self, path: str | Path):
        p = Path(path)
        self.path = p
        self.lock_path = p.parent / f".{p.name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(
                    f"{self.path}: another dcproj run (pid {holder}) is writing this file; wait for it to finish, "
                    "or choose another --out"
                ) from None
            try:  # the lock file may have been removed by its last holder after we opened it: retry
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> bool:
        if self._fd is not None:
            try:
                os.unlink(self.lock_path)  # while holding the lock: a waiting opener sees the inode change
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
        return False


def place(tmp: Path, path: Path, *, overwrite: bool) -> Path:
    """Move the finished ``tmp`` to ``path``: atomically replacing it if ``overwrite``, else only if absent."""
    if overwrite:
        os.replace(tmp, path)
        return path
    try:
        os.link(tmp, path)
    except FileExistsError:
        os.unlink(tmp)
        raise OutputError(
            f"{path}: the file appeared while this run was working (another program wrote it); it was left as it "
            "is and this run's result was discarded: rerun with --overwrite to replace it"
        ) from None
    except OSError as exc:  # a file system without hard links: check, then rename
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():
            os.unlink(tmp)
            raise OutputError(f"{path}: the file appeared while this run was working; rerun with --overwrite to replace it") from None
        os.replace(tmp, path)
        return path
    os.unlink(tmp)
    return path


def full_disk(exc: BaseException, path: Path, tmp: Path) -> OutputError | None:
    """An :class:`OutputError` for ``exc`` if it came from a full file system (else ``None``)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        full = True
    elif isinstance(exc, OSError | RuntimeError):
        try:
            full = shutil.disk_usage(tmp.parent).free < FULL_BELOW
        except OSError:
            full = False
    else:
        full = False
    if not full:
        return None
    free = shutil.disk_usage(tmp.parent).free
    return OutputError(
        f"{path}: the file system of {tmp.parent} is full ({human_bytes(free)} free) while writing {tmp.name}; "
        f"nothing was written to {path} (the partial file was removed). Free some space or choose another --out"
    )
