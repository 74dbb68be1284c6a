"""Streaming statistics of a run, flox-style: a chunk's partial (:mod:`.state`), an exact
in-order combine, and a finalize that labels the result (:mod:`.labels`).

:mod:`.spec` says what is summarised (cells, groups, thresholds, quantile levels);
:mod:`.quantiles` reads quantiles back from the histograms.  Imports :mod:`engine.output.variables`
and the kernels; never the execution layer.
"""

from engine.stats.spec import MOMENT_BLOCK, SUMMARY_QUANTILES, SummarySpec, ThresholdSpec, build_summary_spec, parse_threshold
from engine.stats.state import ChunkSummary, SummaryState

__all__ = [
    "MOMENT_BLOCK",
    "SUMMARY_QUANTILES",
    "ChunkSummary",
    "SummarySpec",
    "SummaryState",
    "ThresholdSpec",
    "build_summary_spec",
    "parse_threshold",
]
