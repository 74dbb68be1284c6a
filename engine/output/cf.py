"""CF-1.10 encoding of dcproj's netCDF files: what a CF tool needs beyond the variables' attributes.

Two rules of CF 1.10 that xarray's and netCDF4's defaults break:

* **coordinate variables have no** ``_FillValue`` (§2.5.1: coordinates are never missing).
  xarray gives every floating-point variable ``_FillValue = NaN`` unless told otherwise;
  :func:`cf_encoding` tells it not to for coordinates.
* **a coordinate variable is numeric** (§1.3).  Labels such as region or component names are
  string-valued, so they are written the CF way for strings, as character arrays (§2.2),
  ``char region(region, region_strlen)`` with ``_Encoding = "utf-8"``: no longer a
  coordinate variable in CF's sense, but a label (§6.1).  xarray and netCDF4-python decode
  such a variable back to strings (xarray keeps ``region`` as the index of its dimension), so
  ``xarray.open_dataset(path).sel(region="china")`` works as before.

:func:`cf_encoding` is the ``encoding`` argument of :meth:`xarray.Dataset.to_netcdf` for files
written through xarray (summaries); :func:`write_coordinate` writes one coordinate into an open
:class:`netCDF4.Dataset` (the streamed full cube), and :func:`is_string_length_dim` tells the
character-length dimensions it creates from the dataset's own dimensions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STRLEN_SUFFIX", "cf_encoding", "write_coordinate", "is_string_length_dim", "char_array"]

#: suffix of the character-length dimension of a string variable: ``region`` -> ``region_strlen``
STRLEN_SUFFIX = "_strlen"


def is_string_length_dim(name: str) -> bool:
    """Whether dimension ``name`` is the character length of a string variable written here.

    Parameters
    ----------
    name
        A dimension name of a dcproj file.

    Returns
    -------
    bool
        True for ``<variable>_strlen`` dimensions, which hold no data of their own.
    """
    return name.endswith(STRLEN_SUFFIX)


def _is_string(values) -> bool:
    return np.asarray(values).dtype.kind in "OUS"


def cf_encoding(ds) -> dict[str, dict]:
    """Per-variable ``encoding`` for :meth:`xarray.Dataset.to_netcdf` that keeps a file CF-1.10 valid.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset about to be written.

    Returns
    -------
    dict
        Variable name -> encoding: ``_FillValue: None`` for every coordinate (and every
        ``bounds`` variable), and, for string-valued variables, storage as UTF-8 character
        arrays with a ``<name>_strlen`` dimension.  Variables that need nothing are left out.
    """
    bounds = {v.attrs["bounds"] for v in ds.variables.values() if "bounds" in v.attrs}
    out: dict[str, dict] = {}
    for name, var in ds.variables.items():
        enc = {}
        if name in ds.coords or name in bounds:
            enc["_FillValue"] = None
        if var.dtype.kind in "OUS":
            enc.update(dtype="S1", char_dim_name=f"{name}{STRLEN_SUFFIX}")
        if enc:
            out[str(name)] = enc
    return out


def char_array(values) -> np.ndarray:
    """UTF-8 character array [n, longest encoding] of the strings ``values`` (NUL padded).

    Parameters
    ----------
    values
        Sequence of strings.

    Returns
    -------
    numpy.ndarray
        ``S1`` array with at least one character per string, as CF §2.2 stores strings.
    """
    encoded = [str(v).encode("utf-8") for v in np.asarray(values, dtype=object).ravel()]
    width = max([1, *map(len, encoded)])
    return np.array(encoded, dtype=f"S{width}").view("S1").reshape(len(encoded), width)


def write_coordinate(nc, name: str, dim: str, values, attrs: dict) -> None:
    """Write one coordinate into an open :class:`netCDF4.Dataset` the CF way.

    Numeric values become a coordinate variable ``name(dim)`` without ``_FillValue``; strings
    become a UTF-8 character array ``name(dim, name_strlen)`` with ``_Encoding = "utf-8"``
    (read back as strings by netCDF4-python and xarray).

    Parameters
    ----------
    nc : netCDF4.Dataset
        Dataset open for writing, in define mode for new variables.
    name
        Variable name.
    dim
        Its (existing) dimension.
    values
        One value per element of ``dim``.
    attrs
        Attributes of the variable (``long_name``, ``units``, ...).
    """
    values = np.asarray(values)
    if _is_string(values):
        chars = char_array(values)
        strlen = f"{name}{STRLEN_SUFFIX}"
        nc.createDimension(strlen, chars.shape[1])
        var = nc.createVariable(name, "S1", (dim, strlen))
        var.set_auto_chartostring(False)
        var[:] = chars
        var.setncatts({**attrs, "_Encoding": "utf-8"})
        var.set_auto_chartostring(True)
        return
    var = nc.createVariable(name, values.dtype, (dim,), fill_value=False)
    var[:] = values
    var.setncatts(attrs)
