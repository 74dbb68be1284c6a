"""Partial summaries of chunks and their in-order merge; the checkpoint of a summary run.

Histograms and exceedance counts are integers and add exactly; min and max are
order-independent; block moments (count, mean, M2) are folded block by block in scenario
order (Chan et al.), and chunks start on a :data:`~engine.stats.spec.MOMENT_BLOCK` boundary,
so the merged state is bit-identical whatever the chunk size or the number of workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.stats.quantiles import Z95, ragged_estimates
from engine.stats.spec import SummarySpec
from kernels import summary as ks

__all__ = ["ChunkSummary", "SummaryState"]


@dataclass
class ChunkSummary:
    """The statistics of one chunk (``start`` a multiple of :data:`~engine.stats.spec.MOMENT_BLOCK`)."""

    start: int
    count: int
    hist_lo: np.ndarray  # int64[cells]: first stored bin per cell
    hist_len: np.ndarray  # int64[cells]: stored bins per cell
    hist_counts: np.ndarray  # int32[sum(hist_len)]: the bins, cell after cell (a chunk holds < 2**31 scenarios)
    block_n: np.ndarray  # float64[blocks]
    bmean: np.ndarray  # float64[blocks, cells]
    bm2: np.ndarray  # float64[blocks, cells]
    vmin: np.ndarray  # float64[cells]
    vmax: np.ndarray  # float64[cells]
    thr_count: np.ndarray  # int64[thresholds], in spec.thr_value order (Σ quantised weights when weighted)
    sample: dict | None = None  # the chunk's kept scenarios (engine.stats.sample), if any
    block_w1: np.ndarray | None = None  # int64[blocks]: Σ quantised weights (units of 2^-32; counts when unweighted)
    block_w2: np.ndarray | None = None  # float64[blocks]: Σ w² (w in [0, 1]; counts when unweighted)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in vars(self).values() if isinstance(a, np.ndarray))


@dataclass
class SummaryState:
    """Chunks merged so far (a prefix of the plan, in order); the basis of the summary and of resume."""

    spec: SummarySpec
    done: int = 0  # scenarios merged (the next chunk must start here)
    hist: np.ndarray = field(default=None)  # int64[cells, HIST_BINS] (pages touched only where used)
    n: np.ndarray = field(default=None)
    mean: np.ndarray = field(default=None)
    m2: np.ndarray = field(default=None)
    vmin: np.ndarray = field(default=None)
    vmax: np.ndarray = field(default=None)
    thr_count: np.ndarray = field(default=None)
    sample: dict = field(default_factory=dict)  # name -> list of the kept scenarios' arrays, in scenario order
    weight_units: int = 0  # Σ quantised weights (units of 2^-32), or the scenario count when unweighted
    weight_sq: float = 0.0  # Σ w² folded block by block in order (the scenario count when unweighted)
    zero_weights: int = 0  # scenarios of weight 0 (weighted runs)

    def __post_init__(self):
        k = self.spec.n_cells
        if self.hist is None:
            self.hist = np.zeros((k, ks.HIST_BINS), dtype=np.int64)
            self.n = np.zeros(k)
            self.mean = np.zeros(k)
            self.m2 = np.zeros(k)
            self.vmin = np.full(k, np.inf)
            self.vmax = np.full(k, -np.inf)
            self.thr_count = np.zeros(self.spec.thr_value.shape[0], dtype=np.int64)

    def add(self, part: ChunkSummary) -> None:
        """Merge the next chunk; chunks must arrive in scenario order (the caller buffers)."""
        from kernels.cpu_merge import add_ragged, fold_moments

        if part.start != self.done:
            raise RuntimeError(f"summary chunks out of order: expected scenario {self.done}, got {part.start}")
        add_ragged(self.hist, part.hist_lo, part.hist_len, part.hist_counts)
        fold_moments(self.n, self.mean, self.m2, part.block_n, part.bmean, part.bm2)
        np.minimum(self.vmin, part.vmin, out=self.vmin)
        np.maximum(self.vmax, part.vmax, out=self.vmax)
        self.thr_count += part.thr_count
        w1 = part.block_w1 if part.block_w1 is not None else part.block_n.astype(np.int64)
        w2 = part.block_w2 if part.block_w2 is not None else part.block_n
        self.weight_units += int(w1.sum())
        for v in w2:  # in block order: the same bits whatever the chunking
            self.weight_sq += float(v)
        if part.sample is not None:
            for name, values in part.sample.items():
                self.sample.setdefault(name, []).append(values)
        self.done += part.count

    # -- checkpoint ----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the state atomically to ``path`` (.npz, histograms stored over occupied bins only)."""
        from kernels.cpu_merge import ragged_bins

        lo, ln, counts = ragged_bins(self.hist, self.vmin, self.vmax)
        tmp = Path(path).with_suffix(".tmp.npz")
        np.savez(
            tmp,
            done=np.int64(self.done),
            n=self.n,
            mean=self.mean,
            m2=self.m2,
            vmin=self.vmin,
            vmax=self.vmax,
            thr_count=self.thr_count,
            weight_units=np.int64(self.weight_units),
            weight_sq=np.float64(self.weight_sq),
            hist_lo=lo,
            hist_len=ln,
            hist_counts=counts,
            **{f"sample__{k}": np.concatenate(v) for k, v in self.sample.items()},
        )
        os.replace(tmp, path)

    @classmethod
    def load(cls, spec: SummarySpec, path: Path) -> SummaryState:
        from kernels.cpu_merge import add_ragged

        with np.load(path) as f:
            st = cls(spec)
            st.done = int(f["done"])
            st.weight_units = int(f["weight_units"])
            st.weight_sq = float(f["weight_sq"])
            for name in ("n", "mean", "m2", "vmin", "vmax", "thr_count"):
                getattr(st, name)[...] = f[name]
            add_ragged(st.hist, f["hist_lo"], f["hist_len"], f["hist_counts"])
            st.sample = {k.removeprefix("sample__"): [f[k]] for k in f.files if k.startswith("sample__")}
        return st

    # -- finalize ------------------------------------------------------------------------

    def quantiles(self, levels=None) -> np.ndarray:
        """float64[cells, quantiles] read from the histograms, at ``levels`` (default: the spec's)."""
        from kernels.cpu_merge import ragged_bins

        q = np.array(self.spec.quantiles if levels is None else levels, dtype=np.float64)
        lo, ln, counts = ragged_bins(self.hist, self.vmin, self.vmax)
        return ragged_estimates(lo, ln, counts, self.vmin, self.vmax, q, self.weighted)

    def variance(self) -> np.ndarray:
        """float64[cells]: the unbiased variance over scenarios [the cell's units squared].

        Unweighted: ``m2 / (n - 1)``.  Weighted (reliability weights, whose scale means nothing):
        ``m2 / Σw · n_eff / (n_eff - 1)`` with Kish's ``n_eff``, which is ``m2 / (Σw - Σw²/Σw)``.
        """
        with np.errstate(invalid="ignore", divide="ignore"):
            if not self.weighted:
                return np.where(self.n > 1, self.m2 / (self.n - 1.0), np.nan)
            ess = self.ess
            return np.where((self.n > 0) & (ess > 1), self.m2 / self.n * ess / (ess - 1.0), np.nan)

    def quantile_standard_errors(self) -> np.ndarray:
        """float64[cells, quantiles]: the Monte Carlo standard error of :meth:`quantiles`.

        Order statistics, distribution-free: the quantiles at levels ``p ± 1.96 sqrt(p (1 - p) /
        n_eff)`` bound a 95 % interval of the ``p`` quantile; half its width over 1.96 is the
        error [the variable's units], with Kish's ``n_eff`` when weighted (:attr:`ess`).  The
        same rule as :func:`engine.analysis.answers.quantile_standard_error` on full cubes.
        """
        p = np.array(self.spec.quantiles, dtype=np.float64)
        s = Z95 * np.sqrt(p * (1.0 - p) / max(self.ess, 1.0))
        hi, lo = self.quantiles(np.clip(p + s, 0.0, 1.0)), self.quantiles(np.clip(p - s, 0.0, 1.0))
        return (hi - lo) / (2.0 * Z95)

    def diagnostics(self):
        """The weights' ESS and Pareto k̂ (k̂ from the kept sample's log-likelihoods; NaN without one)."""
        from engine.conditioning.diagnostics import diagnose

        ll = np.concatenate(self.sample["log_likelihood"]) if "log_likelihood" in self.sample else np.zeros(0)
        basis = f"the kept sample of {ll.size:,} scenarios (the first by index)" if ll.size else "none: no kept sample"
        zero = int((np.concatenate(self.sample["weight"]) == 0).sum()) if "weight" in self.sample else 0
        return diagnose(self.done, self.weight_units, self.weight_sq, ll, basis, zero)

    @property
    def weighted(self) -> bool:
        return self.spec.observations.weighted

    @property
    def weight_total(self) -> int:
        """The denominator of exceedance fractions: Σ quantised weights, or the scenario count."""
        return self.weight_units if self.weighted else self.done

    @property
    def ess(self) -> float:
        """Kish's effective sample size [scenarios] (the scenario count when unweighted)."""
        if not self.weighted:
            return float(self.done)
        from kernels.likelihood import WEIGHT_SCALE

        return (self.weight_units / WEIGHT_SCALE) ** 2 / self.weight_sq if self.weight_sq > 0 else 0.0
