"""Survival of installed accelerators: Weibull retirement of each vintage and of the pre-base stock.

Target-independent kernel arithmetic (see :mod:`kernels._target`), called by
:mod:`kernels.model` and :mod:`kernels.vintages`.  Ages and lives in years; fractions dimensionless.
"""

from __future__ import annotations

import math

import numpy as np

from kernels._target import kernel
from kernels.elementary import vec_exp, vec_pow

#: [-] the in-service fraction of a vintage in its first year (age 0): shipments arrive evenly
#: through the year, so on average a new accelerator serves half of it.
FIRST_YEAR_IN_SERVICE = 0.5
TABULATED_AGES = 128  # [yr] ages 0 .. 127 in the tables below; a horizon of 2100 needs 79
# ln(age) at the ages whose survival every scenario evaluates (whole years for the in-service
# fractions, k + 1/2 for the retirements): the tables spare the model one logarithm per age,
# 2 per projected year.  ln(0) = -inf gives a survival of exactly 1.
LOG_WHOLE_AGES = np.array([-math.inf] + [math.log(k) for k in range(1, TABULATED_AGES)])
LOG_HALF_AGES = np.array([math.log(k + 0.5) for k in range(TABULATED_AGES)])


@kernel
def weibull_scale(mean_life, shape):
    """Weibull scale λ [yr] giving mean life ``mean_life`` [yr] for shape k: mean/Γ(1 + 1/k)."""
    return mean_life / math.gamma(1.0 + 1.0 / shape)


@kernel
def weibull_survival(age, scale, shape):
    """Fraction of a vintage still in service at ``age`` [yr]: exp(−(age/λ)^k); 1 for age ≤ 0."""
    if age <= 0.0:
        return 1.0
    return vec_exp(-vec_pow(age / scale, shape))


@kernel
def survival_at_log_age(log_age, log_scale, shape):
    """:func:`weibull_survival` [-] from ``log_age`` = ln(age) and ``log_scale`` = ln(λ):
    exp(−e^{k·(ln age − ln λ)}), the same value without a logarithm when ln(age) is tabulated
    (:data:`LOG_WHOLE_AGES`, :data:`LOG_HALF_AGES`); 1 for ``log_age`` = −inf (age 0)."""
    return vec_exp(-vec_exp(shape * (log_age - log_scale)))


@kernel
def in_service_fraction(age, scale, shape):
    """Year-average in-service fraction of a vintage ``age`` = t − v whole years old [-].

    Shipments arrive evenly through their year, so a vintage serves half of its first year
    (age 0); from then on its mid-year age is ``age`` and the Weibull survival applies.
    """
    if age < 0.5:
        return FIRST_YEAR_IN_SERVICE
    return weibull_survival(age, scale, shape)


@kernel
def preexisting_in_service(stock, mean_age, years_since_base, scale, shape):
    """Year-average count [M] of the accelerators already installed at the start of BASE_YEAR.

    ``stock`` [M] were in service on 1 January of BASE_YEAR at mean age ``mean_age`` [yr];
    they retire along the same Weibull curve, conditioned on having survived to ``mean_age``:
    R(age)/R(mean_age) = exp((mean_age/λ)^k − (age/λ)^k), computed in that form so that an old
    stock (both survivals below the smallest float) retires to 0 instead of 0/0.
    """
    return preexisting_in_service_at(stock, mean_age, stock_hazard(mean_age, scale, shape), years_since_base, scale, shape)


@kernel
def stock_hazard(mean_age, scale, shape):
    """(mean_age/λ)^k [-], the cumulative hazard of the pre-base stock at its mean age (0 if new)."""
    if mean_age <= 0.0:
        return 0.0
    return vec_pow(mean_age / scale, shape)


@kernel
def preexisting_in_service_at(stock, mean_age, hazard, years_since_base, scale, shape):
    """:func:`preexisting_in_service` given ``hazard`` = :func:`stock_hazard` (the same every year
    of a scenario, so the model computes that power once instead of once per year)."""
    age = mean_age + years_since_base + 0.5
    # One expression for both cases, so that a loop over years vectorises without evaluating
    # two: a new stock (mean_age ≤ 0) has hazard 0, and exp(0 − (age/λ)^k) is weibull_survival
    # (1 for age ≤ 0, as there).
    return stock * vec_exp(hazard - vec_pow(max(age, 0.0) / scale, shape))
