"""Conditioning on observations: importance weights from the observations' likelihoods.

A config's ``observations`` (:mod:`engine.config.observations`) are compiled into kernel
tables (:mod:`.tables`); every run path computes each scenario's log-likelihood and its
quantised weight inside the run (:mod:`kernels.likelihood`), and the run's diagnostics
(Kish's effective sample size, the PSIS Pareto k̂ from ArviZ) are in :mod:`.diagnostics`.
"""

from engine.conditioning.diagnostics import WeightDiagnostics, diagnose
from engine.conditioning.tables import ObservationTables, build_tables, no_observations

__all__ = ["ObservationTables", "build_tables", "no_observations", "WeightDiagnostics", "diagnose"]
