"""Atomic, chunk-by-chunk netCDF4 output.

A cube is written to a hidden temporary file beside the destination and renamed over it
only when complete (``os.replace`` is atomic on POSIX within one file system).  A failed or
interrupted run removes its temporary file and never touches an existing destination.
A resumable run (:mod:`engine.execution.checkpoint`) names its own temporary file inside the sidecar
directory, reopens it to continue, and :meth:`CubeWriter.detach` keeps it on interruption.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import netCDF4
import numba
import numpy as np

from engine.errors import OutputError, PartialCubeDamaged
from engine.output.guard import full_disk, place
from engine.output.cf import cf_encoding, is_string_length_dim, write_coordinate

__all__ = ["OutputError", "PartialCubeDamaged", "CubeWriter", "check_writable", "chunk_digest", "write_dataset"]


COMPRESSIONS = {
    "blosc_lz4": lambda level: {"compression": "blosc_lz4", "complevel": level, "blosc_shuffle": 1},
    "zstd": lambda level: {"compression": "zstd", "complevel": level, "shuffle": True},
    "zlib": lambda level: {"compression": "zlib", "complevel": level, "shuffle": True},
    "none": lambda level: {},
}


def chunk_digest(arrays: dict[str, np.ndarray]) -> str:
    """A checksum of a chunk's arrays (names, shapes, dtypes and bytes), as 32 hex digits.

    Fletcher-style sums over the 64-bit words of each array (~7 GB/s measured), enough to tell a
    chunk read back from a partial cube from the one that was written.
    """
    parts = []
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        raw = a.reshape(-1).view(np.uint8)
        pad = (-raw.size) % 8
        if pad:
            raw = np.concatenate([raw, np.zeros(pad, np.uint8)])
        s1, s2 = _fletcher64(raw.view(np.uint64))
        parts.append(f"{name}:{a.dtype.str}:{a.shape}:{s1:016x}{s2:016x}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


@numba.njit(cache=True)
def _fletcher64(words):
    a = np.uint64(0)
    b = np.uint64(0)
    for w in words:
        a += w
        b += a
    return a, b


def check_writable(path: str | Path) -> Path:
    """Fail early, before any computation, if ``path`` cannot be created."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.exists() and p.is_dir():
        raise OutputError(f"{p}: is a directory; expected a file name such as runs/default.nc")
    if not parent.exists():
        raise OutputError(f"{p}: directory {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{p}: directory {parent} is not writable")
    return p


class CubeWriter:
    """Stream labelled arrays into a netCDF4 file, scenario slab by scenario slab.

    Parameters
    ----------
    path
        Destination file.
    dims
        Dimension name → length.
    coords
        Coordinate name → (dim, values, attrs); string values become variable-length strings.
    variables
        Variable name → (dims, numpy dtype, attrs).
    attrs
        Global attributes.
    compression
        ``"blosc_lz4"`` (default: fast, ~15 % smaller for this data), ``"zstd"``, ``"zlib"``
        (readable by every netCDF tool, ~8x slower to write) or ``"none"``.  The blosc and
        zstd filters ship with the netCDF4 Python wheels; tools built without HDF5 filter
        plugins need ``"zlib"``.
    level
        Compression level.
    tmp
        The temporary file (default: a hidden ``.<name>.<random>.part`` beside ``path``).
    reopen
        Continue writing an existing ``tmp`` made with the same ``dims`` (a resumed run);
        its attributes are replaced by ``attrs``.
    overwrite
        Whether :meth:`commit` may replace an existing ``path`` (else it refuses, see
        :func:`engine.output.guard.place`).
    """

    def __init__(
        self,
        path,
        dims: dict,
        coords: dict,
        variables: dict,
        attrs: dict,
        compression: str = "blosc_lz4",
        level: int = 1,
        *,
        tmp: str | Path | None = None,
        reopen: bool = False,
        overwrite: bool = False,
    ):
        if compression not in COMPRESSIONS:
            raise OutputError(f"compression {compression!r}: expected one of {list(COMPRESSIONS)}")
        self.path = check_writable(path)
        self.overwrite = overwrite
        self.tmp = Path(tmp) if tmp is not None else self.path.parent / f".{self.path.name}.{uuid.uuid4().hex[:8]}.part"
        if reopen:
            try:
                self._nc = netCDF4.Dataset(self.tmp, "a")
            except (OSError, RuntimeError) as exc:
                raise PartialCubeDamaged(f"{self.tmp}: the partial cube cannot be opened ({exc})") from None
            found = {name: len(d) for name, d in self._nc.dimensions.items() if not is_string_length_dim(name)}
            if found != dims or set(self._nc.variables) < set(variables):
                self._nc.close()
                raise OutputError(f"{self.tmp}: the partial cube does not match this run (dims {found}, expected {dims})")
            self.set_attrs(attrs)
            return
        self._nc = netCDF4.Dataset(self.tmp, "w", format="NETCDF4")
        try:
            self._define(dims, coords, variables, attrs, COMPRESSIONS[compression](level))
        except BaseException as exc:
            self.abort()
            self._raise_if_full(exc)
            raise

    def _define(self, dims, coords, variables, attrs, compression):
        nc = self._nc
        for name, size in dims.items():
            nc.createDimension(name, size)
        for name, (dim, values, vattrs) in coords.items():
            write_coordinate(nc, name, dim, values, vattrs)
        for name, (vdims, dtype, vattrs) in variables.items():
            shape = [dims[d] for d in vdims]
            per_scenario = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
            chunk0 = max(1, min(shape[0], (1 << 22) // max(per_scenario, 1)))
            if vdims[0] != "scenario":  # a few numbers (exceedance counts): contiguous, uncompressed
                var = nc.createVariable(name, dtype, vdims, fill_value=False)
            elif len(vdims) == 1:  # one number per scenario (weights): noise-like doubles that blosc refuses as incompressible
                var = nc.createVariable(name, dtype, vdims, chunksizes=[chunk0], fill_value=False)
            else:
                var = nc.createVariable(name, dtype, vdims, chunksizes=[chunk0, *shape[1:]], fill_value=False, **compression)
            var.setncatts(vattrs)
        nc.setncatts(attrs)

    def _raise_if_full(self, exc: BaseException) -> None:
        err = full_disk(exc, self.path, self.tmp)
        if err is not None:
            raise err from None

    def write(self, offset: int, arrays: dict[str, np.ndarray]) -> None:
        """Write ``arrays`` (each with leading scenario axis) at scenario position ``offset``.

        A full file system raises :class:`~engine.errors.OutputError` naming the path.
        """
        try:
            for name, values in arrays.items():
                self._nc.variables[name][offset : offset + values.shape[0]] = values
        except (OSError, RuntimeError) as exc:
            self._raise_if_full(exc)
            raise

    def write_whole(self, name: str, values) -> None:
        """Write variable ``name`` whole (a variable without the scenario dimension)."""
        self._nc.variables[name][...] = values

    def read(self, offset: int, count: int, names) -> dict[str, np.ndarray]:
        """Read back variables ``names`` over scenarios ``offset .. offset+count-1`` (as written)."""
        out = {}
        try:
            for name in names:
                var = self._nc.variables[name]
                var.set_auto_maskandscale(False)
                out[name] = np.asarray(var[offset : offset + count])
        except (OSError, RuntimeError, IndexError, KeyError, ValueError) as exc:
            raise PartialCubeDamaged(f"{self.tmp}: scenarios {offset}..{offset + count - 1} cannot be read ({exc})") from None
        return out

    def set_attrs(self, attrs: dict) -> None:
        self._nc.setncatts(attrs)

    def sync(self) -> None:
        """Flush what was written so far to disk (before recording a chunk as finished)."""
        try:
            self._nc.sync()
        except (OSError, RuntimeError) as exc:
            self._raise_if_full(exc)
            raise

    def detach(self) -> Path:
        """Close the temporary file and keep it (an interrupted resumable run); returns its path."""
        if self._nc.isopen():
            self._nc.close()
        return self.tmp

    def commit(self) -> Path:
        """Close and move the finished file into place (:func:`engine.output.guard.place`)."""
        try:
            self._nc.close()
        except (OSError, RuntimeError) as exc:
            self.tmp.unlink(missing_ok=True)
            self._raise_if_full(exc)
            raise
        return place(self.tmp, self.path, overwrite=self.overwrite)

    def abort(self) -> None:
        """Discard the temporary file; the destination is untouched.  Never raises for a file that
        cannot be closed cleanly (a full disk, a filter error): it is removed all the same."""
        try:
            if self._nc.isopen():
                self._nc.close()
        except (OSError, RuntimeError):
            pass
        finally:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


def write_dataset(ds, path: str | Path, *, overwrite: bool = False, encoding: dict | None = None) -> Path:
    """Write a small labelled Dataset (a summary) to netCDF4 atomically: a temporary file, then
    :func:`engine.output.guard.place`.  A full file system raises :class:`~engine.errors.OutputError`."""
    p = check_writable(path)
    tmp = p.parent / f".{p.name}.{uuid.uuid4().hex[:8]}.part"
    try:
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding={**cf_encoding(ds), **(encoding or {})})
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        err = full_disk(exc, p, tmp)
        if err is not None:
            raise err from None
        raise
    return place(tmp, p, overwrite=overwrite)
