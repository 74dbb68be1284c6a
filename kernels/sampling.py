"""Drawing one scenario's inputs: counter-based uniforms, Gaussian copula, inverse CDFs.

Target-independent kernel arithmetic (see :mod:`kernels._target`).
"""

from __future__ import annotations

from kernels._target import kernel

COPULA_U_MIN = 2.0**-54  # smallest uniform of kernels.philox.uniform_from_words
COPULA_U_MAX = 1.0 - 2.0**-53  # largest


@kernel
def draw_uniforms(seed, scenario, keys, u):
    """Fill ``u`` [n_inputs] with the uniforms of ``scenario``: input i from Philox stream ``keys[i]``."""
    for i in range(u.shape[0]):
        u[i] = input_uniform(seed, scenario, keys[i])  # noqa: F821 (resolved by build)


@kernel
def apply_copula(u, corr_index, factor, z):
    """Correlate the uniforms of the inputs in ``corr_index`` with a Gaussian copula, in place.

    z_j = Φ⁻¹(u_j); y = F·z with F·Fᵀ the copula correlation; u_j ← Φ(y_j).
    ``z`` is scratch space of length ``len(corr_index)``.
    """
    k = corr_index.shape[0]
    for j in range(k):
        z[j] = ndtri(u[corr_index[j]])  # noqa: F821
    for j in range(k):
        acc = 0.0
        for col in range(k):
            acc += factor[j, col] * z[col]
        u[corr_index[j]] = clamp_unit(ndtr(acc))  # noqa: F821


@kernel
def clamp_unit(u):
    """Keep a copula uniform inside the generator's range [2⁻⁵⁴, 1 − 2⁻⁵³].

    Φ(y) rounds to 0 or 1 for |y| beyond ~8.3 (upper) and ~38 (lower), which would send
    an unbounded inverse CDF to ±inf; the direct draws never leave this range.
    """
    if u < COPULA_U_MIN:
        return COPULA_U_MIN
    if u > COPULA_U_MAX:
        return COPULA_U_MAX
    return u


@kernel
def sample_scenario(seed, scenario, kinds, params, keys, corr_index, factor, z, x):
    """Write the sampled inputs of ``scenario`` into ``x`` [n_inputs] (streams ``keys``)."""
    draw_uniforms(seed, scenario, keys, x)
    apply_copula(x, corr_index, factor, z)
    for i in range(x.shape[0]):
        x[i] = ppf(kinds[i], params[i], x[i])  # noqa: F821
