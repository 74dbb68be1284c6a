"""Outputs: the variable registry with CF metadata (:mod:`.variables`), provenance
(:mod:`.provenance`) and atomic netCDF writing (:mod:`.netcdf`).

Imports :mod:`engine.config`, :mod:`engine.inputs` and :mod:`engine.errors`; never the
execution layer.
"""
