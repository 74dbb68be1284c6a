"""The Gaussian copula of a config: Spearman ρ → Pearson, the PSD check, the factor.

Rank correlations ρ_s between inputs become normal-copula correlations 2·sin(π·ρ_s/6)
(exact for a Gaussian copula); the matrix must be positive semi-definite, and the kernels
take a factor F with F·Fᵀ = R.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["correlation_matrix", "copula_factor", "pearson_from_spearman"]


def pearson_from_spearman(rho: float) -> float:
    """The normal-copula (Pearson) correlation 2·sin(π·ρ_s/6) of Spearman ``rho``."""
    return 2.0 * math.sin(math.pi * rho / 6.0)


def correlation_matrix(config) -> tuple[list[str], np.ndarray]:
    """The Pearson correlation matrix of the copula over the correlated inputs of ``config``.

    Raises ``ValueError`` naming the inputs when a name is unknown, an input is ``fixed``
    (a constant cannot be correlated), a pair repeats, or the matrix is not positive
    semi-definite.
    """
    known = set(config.input_names())
    names: list[str] = []
    seen: set[frozenset] = set()
    for k, c in enumerate(config.correlations):
        a, b = c.between
        for n in (a, b):
            if n not in known:
                raise ValueError(f"correlations[{k}]: unknown input {n!r}; expected one of the inputs (e.g. 'pue_ai', 'pue_2022.china')")
            if not n.startswith("shipments_shock.") and config.distribution(n).kind == "fixed":
                raise ValueError(f"correlations[{k}]: input {n!r} is fixed (a constant); only uncertain inputs can be correlated")
        if a == b:
            raise ValueError(f"correlations[{k}]: an input cannot be correlated with itself ({a!r})")
        if frozenset((a, b)) in seen:
            raise ValueError(f"correlations[{k}]: the pair ({a}, {b}) is given twice")
        seen.add(frozenset((a, b)))
        names += [n for n in (a, b) if n not in names]
    r = np.eye(len(names))
    for c in config.correlations:
        i, j = names.index(c.between[0]), names.index(c.between[1])
        r[i, j] = r[j, i] = pearson_from_spearman(c.rho)
    if names:
        w, v = np.linalg.eigh(r)
        if w[0] < -1e-10:
            weights = np.abs(v[:, 0])
            culprits = [names[i] for i in np.argsort(-weights) if weights[i] > 0.2]
            raise ValueError(
                "correlations: the rank correlations among "
                + ", ".join(culprits)
                + f" cannot hold together (the correlation matrix is not positive semi-definite; "
                f"smallest eigenvalue {w[0]:.3g}); weaken or remove one of them"
            )
    return names, r


def copula_factor(r: np.ndarray) -> np.ndarray:
    """A factor F with F·Fᵀ = r (Cholesky; eigen-decomposition if r is singular)."""
    try:
        return np.linalg.cholesky(r)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(r)
        return v * np.sqrt(np.clip(w, 0.0, None))
