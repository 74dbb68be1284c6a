"""The cube stores the raw regional weights (``inputs``) and the normalised shares the model uses
(``effective_inputs``): the latter sum to one per scenario and are the shares the outputs follow."""

from __future__ import annotations

import numpy as np


def test_effective_shares_are_the_normalised_raw_draws(small_run):
    ds = small_run
    regions = list(ds.region.values)
    for key in ("accelerator_share", "conventional_share_2022", "crypto_share"):
        names = [f"{key}.{r}" for r in regions]
        raw = ds.inputs.sel(input=names).values
        eff = ds.effective_inputs.sel(effective_input=names).values
        np.testing.assert_allclose(eff.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(eff, raw / raw.sum(axis=1, keepdims=True), rtol=1e-12)
        assert not np.allclose(raw.sum(axis=1), 1.0)  # the raw draws are not shares: the check above is not trivial


def test_the_model_uses_the_effective_shares(small_run):
    """Independent of how they were computed: installed accelerators are split by the effective
    accelerator share, crypto electricity by the effective crypto share (float64 cube)."""
    ds = small_run
    regions = list(ds.region.values)
    acc = ds.installed_accelerators.values  # scenario, year, region
    eff_acc = ds.effective_inputs.sel(effective_input=[f"accelerator_share.{r}" for r in regions]).values
    np.testing.assert_allclose(acc / acc.sum(axis=2, keepdims=True), np.broadcast_to(eff_acc[:, None, :], acc.shape), rtol=1e-9)
    crypto = ds.electricity.sel(component="crypto").values
    eff_crypto = ds.effective_inputs.sel(effective_input=[f"crypto_share.{r}" for r in regions]).values
    np.testing.assert_allclose(crypto / crypto.sum(axis=2, keepdims=True), np.broadcast_to(eff_crypto[:, None, :], crypto.shape), rtol=1e-9)
    raw_acc = ds.inputs.sel(input=[f"accelerator_share.{r}" for r in regions]).values
    assert np.abs(acc[:, 3] / acc[:, 3].sum(axis=1, keepdims=True) - raw_acc).max() > 1e-3  # the raw draws are not what it used
