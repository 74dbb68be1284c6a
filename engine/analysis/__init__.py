"""Reading results: totals, quantiles and exceedance probabilities of full cubes and summary
files alike (:mod:`.results`).  The home of sensitivity, storylines, plots, reports and export.

Imports :mod:`engine.output.variables`, :mod:`engine.stats` and :mod:`engine.errors`; never
the execution layer.
"""

from engine.analysis.results import TABLE_QUANTILES, exceedance, is_summary, summarise, total

__all__ = ["TABLE_QUANTILES", "exceedance", "is_summary", "summarise", "total"]
