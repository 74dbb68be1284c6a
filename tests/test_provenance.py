"""Provenance that cannot lie: the effective config is recorded, overrides are part of it, and a
resume refuses a run whose config, seed or code differ."""

from __future__ import annotations

import netCDF4
import pytest
import yaml

from engine import load_config, run, run_to_file
from engine.config import ConfigError, config_sha256, effective_text, parse_config
from engine.errors import ResumeError
from tests.conftest import DEFAULT_CONFIG


def _attrs(path):
    with netCDF4.Dataset(path) as nc:
        return {k: nc.getncattr(k) for k in nc.ncattrs()}


def test_effective_text_parses_back_to_the_same_config(default_config):
    again = parse_config(effective_text(default_config), "effective.yaml")
    assert again.model_dump() == default_config.model_dump()
    assert config_sha256(again) == config_sha256(default_config)


def test_a_config_changed_in_code_is_recorded_as_changed(default_config):
    years = default_config.years.model_copy(update={"end": 2031})
    changed = default_config.model_copy(update={"years": years})
    ds = run(changed, scenarios=20, seed=1)
    recorded = yaml.safe_load(ds.attrs["config"])
    assert recorded["years"]["end"] == 2031 and int(ds.year[-1]) == 2031
    assert ds.attrs["config_sha256"] == config_sha256(changed) != config_sha256(default_config)
    assert "changed in code" in ds.attrs["config_note"]
    assert ds.attrs["config_file_text"] == DEFAULT_CONFIG.read_text()  # the file as read, labelled as such


def test_overrides_are_validated_and_recorded(tmp_path):
    cfg = load_config(DEFAULT_CONFIG, overrides={"inputs.pue_ai.mode": 1.15, "years.end": 2040})
    assert cfg.inputs.pue_ai.mode == 1.15 and cfg.years.end == 2040
    path = run_to_file(cfg, tmp_path / "o.nc", scenarios=30, seed=2)
    attrs = _attrs(path)
    recorded = yaml.safe_load(attrs["config"])
    assert recorded["inputs"]["pue_ai"]["mode"] == 1.15 and recorded["years"]["end"] == 2040
    assert "inputs.pue_ai.mode=1.15" in attrs["config_overrides"] and "years.end=2040" in attrs["config_overrides"]
    assert "changed in code" not in attrs["config_note"]


@pytest.mark.parametrize(
    ("overrides", "expect"),
    [
        (["inputs.pue_ai.mood=1"], ["inputs.pue_ai.mood", "unknown key"]),
        (["years.end=1999"], ["years", "reversed"]),
        (["inputs.pue_ai.low=0.9"], ["inputs.pue_ai", "physical domain", "[1, inf)"]),
        (["years.end.x=1"], ["years.end is a value"]),
        (["correlations.9.rho=0.1"], ["correlations.9", "index 0..6"]),
        (["no_equals_sign"], ["expected KEY.PATH=VALUE"]),
    ],
)
def test_bad_overrides_name_the_key_and_the_expectation(overrides, expect):
    with pytest.raises(ConfigError) as info:
        load_config(DEFAULT_CONFIG, overrides=overrides)
    msg = str(info.value)
    assert all(e in msg for e in expect), msg


def test_a_list_item_and_a_whole_distribution_can_be_overridden():
    cfg = load_config(DEFAULT_CONFIG, overrides=["correlations.0.rho=0.2", "inputs.lifetime_shape={kind: fixed, value: 3.0, source: test}"])
    assert cfg.correlations[0].rho == 0.2
    assert cfg.inputs.lifetime_shape.kind == "fixed" and cfg.inputs.lifetime_shape.value == 3.0


def test_resume_refuses_another_config_and_other_code(default_config, tmp_path, monkeypatch):
    """The resume key holds the effective config's hash and the engine/kernels source hash."""
    from engine.execution.checkpoint import Sidecar
    from engine.execution.entry_points import _key
    from engine.execution.planning import plan_chunks

    class P:
        chunk_size = 100

    key = _key(default_config, 1, 1000, P, "float32", "numba", None, "zlib", 1)
    side = Sidecar(tmp_path / "r.nc")
    side.start(key)
    side.check(key)  # the same settings resume
    changed = default_config.model_copy(update={"seed": 5})
    with pytest.raises(ResumeError, match="config_sha256"):
        side.check(_key(changed, 1, 1000, P, "float32", "numba", None, "zlib", 1))
    import engine.execution.entry_points as run_mod

    monkeypatch.setattr(run_mod, "code_hash", lambda: "0" * 16)
    with pytest.raises(ResumeError, match="code"):
        side.check(_key(default_config, 1, 1000, P, "float32", "numba", None, "zlib", 1))
    assert plan_chunks(10, 4) == [(0, 4), (4, 4), (8, 2)]
