"""Stable random keys: an input's draws depend on its name, the seed and the scenario only, so
adding or removing regions or inputs, or extending the horizon, leaves every other input's
draws bit-identical (common random numbers across configs)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from engine import run
from engine.config import ConfigError, effective_text, parse_config
from engine.inputs.registry import input_keys, stable_key


def _with(config, mutate):
    data = yaml.safe_load(effective_text(config))
    mutate(data)
    return parse_config(yaml.safe_dump(data), "mutated.yaml")


def _add_region(data):
    data["regions"].append("africa")
    for key, per_region in data["regional_inputs"].items():
        per_region["africa"] = dict(per_region["europe"])


def _draws(config, n=300, seed=11):
    ds = run(config, scenarios=n, seed=seed)
    return ds.inputs


def _uncorrelated(config, names):
    corr = {n for c in config.correlations for n in c.between}
    return [n for n in names if n not in corr]


@pytest.mark.parametrize("change", ["add a region", "extend the horizon", "drop a correlation"])
def test_other_inputs_keep_their_draws_bit_for_bit(default_config, change):
    mutate = {
        "add a region": _add_region,
        "extend the horizon": lambda d: d["years"].update(end=2045),
        "drop a correlation": lambda d: d["correlations"].pop(),
    }[change]
    other = _with(default_config, mutate)
    a, b = _draws(default_config), _draws(other)
    common = [n for n in a.input.values if n in set(b.input.values)]
    # draws of inputs outside the copula are the same numbers; correlated ones mix their partners' draws
    same = _uncorrelated(other, _uncorrelated(default_config, common))
    assert len(same) > 40
    np.testing.assert_array_equal(a.sel(input=same).values, b.sel(input=same).values)
    if change == "add a region":
        assert "pue_2022.africa" in set(b.input.values)
    if change == "extend the horizon":
        assert "shipments_shock.2045" in set(b.input.values) and "shipments_shock.2035" in common


def test_the_check_can_fail_keys_by_position_would_move(default_config):
    """Control: the stream ids really are per name; a column's id does not follow its position."""
    other = _with(default_config, _add_region)
    from engine.inputs.layout import build_layout

    la, lb = build_layout(default_config), build_layout(other)
    moved = [n for n in la.names if la.names.index(n) != lb.names.index(n)]
    assert moved  # the new region shifts later columns...
    for n in moved:  # ...and their keys go with their names
        assert la.keys[la.names.index(n)] == lb.keys[lb.names.index(n)] == stable_key(n)


def test_stable_key_is_the_sha256_prefix():
    import hashlib

    assert stable_key("pue_ai") == int.from_bytes(hashlib.sha256(b"pue_ai").digest()[:4], "little")
    assert stable_key("pue_2022.europe") != stable_key("pue_2022.china")


def test_a_key_collision_is_refused(monkeypatch):
    import engine.inputs.registry as reg

    monkeypatch.setattr(reg, "stable_key", lambda name: 7)
    with pytest.raises(ConfigError, match="share the random key"):
        input_keys(["a", "b"])
