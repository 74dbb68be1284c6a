"""Running a projection: planning (:mod:`.planning`), chunk tasks (:mod:`.tasks`), executors
(:mod:`.executors`, :mod:`.clusters`), sinks (:mod:`.sinks`), checkpoint/resume
(:mod:`.checkpoint`), progress (:mod:`.progress`) and the entry points (:mod:`.entry_points`).

The only package that imports dask; :mod:`engine.analysis` never imports this one.
"""

from engine.execution.entry_points import run, run_to_file

__all__ = ["run", "run_to_file"]
