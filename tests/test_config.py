"""Config schema: every bad input gets an error naming the file, the key path and the expectation."""

from __future__ import annotations

import copy

import pytest
import yaml

from engine.config import ConfigError, load_config, parse_config


def _mutated(text: str, mutate) -> str:
    data = yaml.safe_load(text)
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


def _error(text: str, path: str = "my.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path)
    return str(info.value)


def test_default_config_is_valid_and_fully_sourced(default_config):
    from engine.inputs.layout import build_layout

    layout = build_layout(default_config)
    assert all(s.strip() for s in layout.sources)
    assert layout.n_inputs == len(layout.names) == len(set(layout.names))


def test_unknown_key_is_rejected_with_its_path(default_text):
    msg = _error(_mutated(default_text, lambda d: d["inputs"]["pue_ai"].update(mdoe=1.2)))
    assert "my.yaml" in msg and "inputs.pue_ai.mdoe" in msg and "unknown key" in msg


def test_unknown_input_name_is_rejected(default_text):
    msg = _error(_mutated(default_text, lambda d: d["inputs"].update(gpu_magic={"kind": "fixed", "value": 1, "source": "x"})))
    assert "inputs.gpu_magic" in msg and "unknown key" in msg


def test_missing_input_is_reported(default_text):
    msg = _error(_mutated(default_text, lambda d: d["inputs"].pop("pue_ai")))
    assert "inputs.pue_ai" in msg and "missing" in msg


def test_wrong_type_is_reported(default_text):
    msg = _error(_mutated(default_text, lambda d: d["inputs"]["lifetime_mean"].update(low="three")))
    assert "inputs.lifetime_mean.low" in msg and "number" in msg


def test_negative_scale_is_rejected(default_text):
    msg = _error(_mutated(default_text, lambda d: d["inputs"].update(total_2022={"kind": "normal", "mean": 460, "sd": -9, "source": "x"})))
    assert "inputs.total_2022" in msg and "sd" in msg


def test_lower_above_upper_is_rejected(default_text):
    msg = _error(_mutated(default_text, lambda d: d["inputs"].update(lifetime_mean={"kind": "uniform", "low": 6, "high": 3, "source": "x"})))
    assert "inputs.lifetime_mean" in msg and "low" in msg


def test_mode_outside_bounds_is_rejected(default_text):
    msg = _error(_mutated(default_text, lambda d: d["inputs"]["pue_ai"].update(mode=1.5)))
    assert "inputs.pue_ai" in msg and "mode" in msg


def test_impossible_correlations_name_the_inputs(default_text):
    def bad(d):
        d["correlations"] = [
            {"between": ["pue_ai", "wue"], "rho": 0.95, "source": "x"},
            {"between": ["wue", "pue_floor"], "rho": 0.95, "source": "x"},
            {"between": ["pue_ai", "pue_floor"], "rho": -0.95, "source": "x"},
        ]

    msg = _error(_mutated(default_text, bad))
    assert "correlations" in msg and "positive semi-definite" in msg
    for name in ("pue_ai", "wue", "pue_floor"):
        assert name in msg


def test_correlation_with_unknown_input_and_out_of_range_rho(default_text):
    msg = _error(_mutated(default_text, lambda d: d["correlations"].append({"between": ["pue_ai", "nope"], "rho": 0.1, "source": "x"})))
    assert "nope" in msg
    msg = _error(_mutated(default_text, lambda d: d["correlations"].append({"between": ["pue_ai", "wue"], "rho": 1.5, "source": "x"})))
    assert "correlations[7].rho" in msg


def test_empty_region_list_is_rejected(default_text):
    msg = _error(_mutated(default_text, lambda d: d.update(regions=[])))
    assert "regions" in msg and "at least 1" in msg


def test_regional_inputs_must_match_regions(default_text):
    msg = _error(_mutated(default_text, lambda d: d["regions"].append("india")))
    assert "regional_inputs.accelerator_share" in msg and "india" in msg


def test_reversed_years_are_rejected(default_text):
    msg = _error(_mutated(default_text, lambda d: d.update(years={"start": 2022, "end": 2020})))
    assert "years" in msg and "reversed" in msg


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(evil)


def test_toml_config_equals_yaml_config(tmp_path, default_text, default_config):
    import tomli_w
    data = yaml.safe_load(default_text)
    path = tmp_path / "default.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    assert load_config(path).model_dump() == default_config.model_dump()


def test_percentile_inputs_are_accepted(default_text):
    text = _mutated(default_text, lambda d: d["inputs"].update(crypto_2022={"kind": "percentile", "low": 95, "high": 130, "source": "x"}))
    cfg = parse_config(text, "p.yaml")
    assert cfg.inputs.crypto_2022.kind == "percentile"


def test_config_roundtrip_is_immutable(default_config):
    with pytest.raises(Exception):
        default_config.seed = 3  # frozen: a run cannot silently change its config
    assert copy.deepcopy(default_config) == default_config


def test_effective_text_is_pyyamls_own_text_whichever_emitter_writes_it(default_config):
    """libyaml's emitter (used when PyYAML has it) must write the text PyYAML's own emitter writes:
    the config hash of every file (and what a resumed run compares) is taken of this text."""
    from engine.config.loading import effective_text
    from engine.execution.storylines import load_storylines, storyline_configs

    _, stories = storyline_configs("configs/default.yaml", load_storylines("configs/storylines"))
    odd = default_config.model_copy(update={"description": "Ünïcode – “quotes”: #no-comment, yes/no, 1e3, 'single', long " * 4})
    for cfg in [default_config, odd, *stories]:
        data = cfg.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert effective_text(cfg) == yaml.dump(data, Dumper=yaml.SafeDumper, sort_keys=False, allow_unicode=True)
    assert yaml.safe_load(effective_text(odd))["description"] == odd.description
