"""Resumable runs: the ``<out>.partial/`` sidecar directory beside the destination file.

While a resumable run (``dcproj run``) works, its finished chunks live in the sidecar:

* full cube: ``cube.nc``, the netCDF file being written (chunks land at their scenario
  offsets in any order; the file is synced before a chunk is recorded as finished);
* summary: ``state.npz``, the merged statistics of the finished prefix of chunks;
* ``manifest.json``: what the run is (the *key*: config sha256, seed, scenarios, chunk size,
  dtype, backend, source hash of engine/ and kernels/, summary settings), which chunks are finished and, for
  a full cube, each finished chunk's checksum (:func:`engine.output.netcdf.chunk_digest`).

HDF5 files are not crash-safe: a process killed (SIGKILL, power loss) while writing can
leave ``cube.nc`` unreadable, or a finished chunk's bytes changed.  ``--resume`` therefore
reads every finished chunk back and checks it against its checksum: chunks that differ
are computed again, and a file that cannot be opened is started afresh (with a message);
either way the result equals an uninterrupted run's.  The destination file is never
touched before the run succeeds.

Files are replaced atomically (write, then ``os.replace``).  On success the result is moved
to the destination and the sidecar removed; on SIGINT/SIGTERM the sidecar stays and
``--resume`` continues from it; on any other error it is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from engine.errors import ResumeError

__all__ = ["Sidecar", "ResumeError"]

FORMAT = 1


class Sidecar:
    """The sidecar directory of destination ``out``."""

    def __init__(self, out: str | Path):
        out = Path(out)
        self.out = out
        self.dir = out.parent / f"{out.name}.partial"
        self.manifest_path = self.dir / "manifest.json"
        self.cube_path = self.dir / "cube.nc"
        self.state_path = self.dir / "state.npz"

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def read(self) -> dict:
        try:
            data = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise ResumeError(f"--resume: there is no unfinished run for {self.out} (no {self.manifest_path})") from None
        except (OSError, ValueError) as exc:
            raise ResumeError(f"--resume: {self.manifest_path} is unreadable ({exc}); remove {self.dir} and run again") from None
        if data.get("format") != FORMAT:
            raise ResumeError(
                f"--resume: {self.manifest_path} was written by another dcproj version; remove {self.dir} and run again"
            )
        return data

    def check(self, key: dict) -> dict:
        """Return the manifest if it was made for ``key``; else explain which settings differ."""
        data = self.read()
        old = data["key"]
        diff = [f"{k}: was {old.get(k)!r}, now {key.get(k)!r}" for k in sorted(set(old) | set(key)) if old.get(k) != key.get(k)]
        if diff:
            raise ResumeError(
                f"--resume: the unfinished run in {self.dir} was made with other settings ({'; '.join(diff)}); "
                f"rerun with the original settings, or remove {self.dir} to start afresh"
            )
        return data

    def start(self, key: dict) -> None:
        """Create the sidecar for a new run (replacing a stale one)."""
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir()
        self.write(key, [])

    def write(self, key: dict, finished: list[int], **extra) -> None:
        data = {
            "format": FORMAT,
            "key": key,
            "finished": sorted(finished),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        }
        tmp = self.dir / "manifest.json.tmp"
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.manifest_path)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
