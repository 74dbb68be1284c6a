"""Property tests (hypothesis) of whole runs on random configs, and of the validator on broken ones.

* Random **valid** configs are built by perturbing ``configs/default.yaml``: every input gets
  a random kind with parameters drawn inside a "physical box" (its default range widened by
  half its width on each side, cut to the input's physical domain from
  ``engine.inputs.registry.INPUTS``), random regions (1-4, random names), random horizon
  (2022-2060) and random rank correlations.  Small runs (64-256 scenarios) of them must keep
  the invariants of the model: energies >= 0, infrastructure between (min PUE - 1) and
  (max PUE - 1) times IT, incl_crypto >= dc_only, totals = sums of their parts, the 2022
  anchor (or a reported clip), carbon and water intensities.
* **More shipments never give less accelerator energy**: the same config with a larger
  shipments_2022 / shipments_2023 / custom factor or faster growth, same seed, compared
  scenario by scenario.  Only accelerator quantities are compared: the 2022 anchor makes
  conventional IT the residual, so more accelerators in 2022 mean *less* conventional IT
  (checked) and total electricity need not rise in later years.
* Random **mutations** of the default config (dropped keys, wrong types, out-of-domain values,
  reversed bounds, unknown keys, bad regions, bad correlations, overrides) either validate or
  raise ``ConfigError``, never anything else; a mutant that validates runs or fails with a
  ``UserError``.
* Bugs this suite found (all fixed), each with its own test below.

The box keeps regional weights >= 1e-3 and the pre-2022 stock's mean age below ~2 mean lives,
and untruncated lognormals only on inputs whose domain includes 0: outside that the code has
the cases below, each tested on its own.  Shrinking is off for the two tests that run
configs (each example costs about a second; a failure prints the unshrunk example).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine import run
from engine.analysis.results import total
from engine.config import effective_text, parse_config
from engine.config.domains import U_MIN
from engine.errors import ConfigError, UserError
from engine.inputs.layout import build_layout
from engine.inputs.registry import INPUTS
from kernels import model as m

from .conftest import DEFAULT_CONFIG

DEFAULT = yaml.safe_load(DEFAULT_CONFIG.read_text())
# The invariants here are of the unconstrained model: no observations (they name the default's regions
# and years), and deployment caps far out of reach (a binding cap makes more demand give equal, not more,
# deployments; the caps have their own tests in test_constraints.py and test_hand_scenario.py).
DEFAULT.pop("observations")
for _cap in ("supply_power_2025", "buildout_power_2025"):
    DEFAULT["inputs"][_cap] = {"kind": "fixed", "value": 1.0e6, "source": "test: a cap out of reach"}
DEFAULT_REGIONS = DEFAULT["regions"]
COMPONENTS = ["accelerated_servers", "conventional_servers", "storage", "network", "infrastructure", "crypto"]
IT = ["accelerated_servers", "conventional_servers", "storage", "network"]
CONVENTIONAL = ["conventional_servers", "storage", "network"]
WEIGHTS = ("accelerator_share", "conventional_share_2022", "crypto_share")
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NO_SHRINK = dict(SETTINGS, phases=[Phase.explicit, Phase.reuse, Phase.generate])


# --------------------------------------------------------------------------- valid configs
def _default_range(dist: dict) -> tuple[float, float]:
    """Range the default distribution draws in (normal: +-8.3 sd, as the generator's extremes)."""
    kind = dist["kind"]
    if kind == "fixed":
        v = dist["value"]
        return v - 0.25 * abs(v), v + 0.25 * abs(v)
    if kind == "normal":
        return dist["mean"] - 8.3 * dist["sd"], dist["mean"] + 8.3 * dist["sd"]
    return dist["low"], dist["high"]


def physical_box(key: str, dist: dict) -> tuple[float, float]:
    """The default's range widened by half its width each side, cut to the physical domain."""
    lo, hi = _default_range(dist)
    w = hi - lo
    a, b = lo - 0.5 * w, hi + 0.5 * w
    dom = INPUTS[key].domain
    if math.isfinite(dom.low):
        a = max(a, dom.low + (1e-3 * max(1.0, abs(dom.low)) if dom.low_open else 0.0))
    if math.isfinite(dom.high):
        b = min(b, dom.high - (1e-3 if dom.high_open else 0.0))
    if key in WEIGHTS:
        a = max(a, 1e-3)  # all-zero weights: see test_regional_weights_summing_to_zero_*
    return a, b


FRACTION = st.integers(0, 1000).map(lambda i: i / 1000)


@st.composite
def distribution(draw, key: str, template: dict, correlated: bool) -> dict:
    """A random distribution of input ``key`` whose every possible draw lies in its physical box."""
    a, b = physical_box(key, template)
    low = a + (b - a) * 0.9 * draw(FRACTION)
    high = low + (b - low) * (0.05 + 0.95 * draw(FRACTION))
    mid = low + (high - low) * draw(FRACTION)
    kinds = ["uniform", "triangular", "pert", "beta", "normal_truncated", "normal", "percentile_normal"]
    if not correlated:
        kinds.append("fixed")  # a constant cannot be correlated
    if low > 0:
        kinds.append("lognormal_truncated")
        dom = INPUTS[key].domain
        if dom.low == 0 and not dom.low_open:  # elsewhere rejected: test_a_lognormal_that_cannot_draw_*
            kinds += ["lognormal", "percentile_lognormal"]
    kind = draw(st.sampled_from(kinds))
    src = {"source": "hypothesis"}
    # unbounded kinds: 9 sd inside the box (the generator's extreme uniforms reach ~8.3 sd)
    sd = min(mid - a, b - mid) / 9.0
    lsd = min(math.log(mid / a), math.log(b / mid)) / 9.0 if a > 0 and mid > a else 0.0
    if kind == "fixed":
        return {"kind": "fixed", "value": mid, **src}
    if kind == "uniform":
        return {"kind": "uniform", "low": low, "high": high, **src}
    if kind == "triangular":
        return {"kind": "triangular", "low": low, "mode": mid, "high": high, **src}
    if kind == "pert":
        return {"kind": "pert", "low": low, "mode": mid, "high": high, "lamb": 0.5 + 9.5 * draw(FRACTION), **src}
    if kind == "beta":
        return {
            "kind": "beta",
            "alpha": 0.5 + 4.5 * draw(FRACTION),
            "beta": 0.5 + 4.5 * draw(FRACTION),
            "low": low,
            "high": high,
            **src,
        }
    if kind == "normal_truncated":
        return {"kind": "normal", "mean": mid, "sd": (high - low) * (0.1 + draw(FRACTION)), "lower": low, "upper": high, **src}
    if kind == "lognormal_truncated":
        return {"kind": "lognormal", "median": mid, "sigma": 0.05 + draw(FRACTION), "lower": low, "upper": high, **src}
    if kind == "normal" and sd > 0:
        return {"kind": "normal", "mean": mid, "sd": sd, **src}
    if kind == "percentile_normal" and sd > 0:
        return {"kind": "percentile", "low": mid - 1.645 * sd, "high": mid + 1.645 * sd, "shape": "normal", **src}
    if kind == "lognormal" and lsd > 0:
        return {"kind": "lognormal", "median": mid, "sigma": lsd, **src}
    if kind == "percentile_lognormal" and lsd > 0:
        return {"kind": "percentile", "low": mid * math.exp(-1.645 * lsd), "high": mid * math.exp(1.645 * lsd), **src}
    return {"kind": "uniform", "low": low, "high": high, **src}  # degenerate box for an unbounded kind


REGION_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


@st.composite
def valid_configs(draw, max_regions: int = 4) -> dict:
    """A config mapping, perturbed from the default, that the validator must accept."""
    d = copy.deepcopy(DEFAULT)
    names = draw(st.lists(REGION_NAME, min_size=1, max_size=max_regions, unique=True))
    templates = {r: draw(st.sampled_from(DEFAULT_REGIONS)) for r in names}
    d["regions"] = names
    d["years"] = {"start": 2022, "end": draw(st.integers(2022, 2060))}
    correlations = []
    for c in DEFAULT["correlations"]:
        if draw(st.booleans()) or draw(st.booleans()):
            correlations.append({**c, "rho": round(-0.6 + 1.2 * draw(FRACTION), 3)})
    if draw(st.booleans()):  # a regional pair, its own component of the copula graph (always PSD)
        r = names[0]
        correlations.append({"between": [f"pue_2022.{r}", f"carbon_intensity_2022.{r}"], "rho": -0.3, "source": "hypothesis"})
    d["correlations"] = correlations
    correlated = {n for c in correlations for n in c["between"]}
    for key, template in DEFAULT["inputs"].items():
        d["inputs"][key] = draw(distribution(key, template, key in correlated))
    for key, per_region in DEFAULT["regional_inputs"].items():
        d["regional_inputs"][key] = {
            r: draw(distribution(key, per_region[templates[r]], f"{key}.{r}" in correlated)) for r in names
        }
    return d


def _parse(d: dict):
    return parse_config(yaml.safe_dump(d, sort_keys=False), "hypothesis.yaml")


def _col(ds, name):
    return ds.inputs.sel(input=name).values


def _regional(ds, key):
    """[scenario, region] raw draws of regional input ``key``."""
    return np.stack([_col(ds, f"{key}.{r}") for r in ds.region.values], axis=1)


# --------------------------------------------------------------------------- invariants
@settings(max_examples=12, **NO_SHRINK)
@given(d=valid_configs(), n=st.sampled_from([64, 128, 256]), seed=st.integers(0, 2**63))
def test_random_valid_configs_keep_the_invariants(d, n, seed):
    """On random valid configs: the validator accepts them, and the run keeps every invariant.

    Non-negative and finite outputs; infrastructure within [(m - 1) IT, (M - 1) IT] with m/M the
    least/largest of PUE_floor, PUE_2022,r and PUE_ai, and exactly (PUE_2022,r - 1) IT in 2022;
    incl_crypto - dc_only = crypto >= 0 and ``total`` equal to sums computed here for both
    boundaries, by region and by component; the 2022 total equals the sampled anchor unless
    crypto + accelerated servers with their PUE exceed it (then conventional IT is 0 and the
    run's clip count says so); carbon = electricity x CI_r,2022 (1 - decline)^t / 1000; on-site
    water = WUE x IT (0 for infrastructure and crypto), off-site = generation intensity x all;
    installed accelerators split by the normalised accelerator weights.
    """
    cfg = _parse(d)
    ds = run(cfg, scenarios=n, seed=seed, dtype="float64")
    years = np.arange(2022, d["years"]["end"] + 1)
    assert ds.year.values.tolist() == years.tolist() and ds.region.values.tolist() == d["regions"]
    for name in ("electricity", "carbon", "water", "installed_accelerators"):
        v = ds[name].values
        assert np.isfinite(v).all() and (v >= 0).all(), name

    e = ds.electricity
    comp = {c: e.sel(component=c).values for c in COMPONENTS}  # [scenario, year, region]
    it = sum(comp[c] for c in IT)
    pue22 = _regional(ds, "pue_2022")[:, None, :]
    floor, pue_ai = _col(ds, "pue_floor")[:, None, None], _col(ds, "pue_ai")[:, None, None]
    lo = np.minimum(np.minimum(floor, pue22), pue_ai)
    hi = np.maximum(np.maximum(floor, pue22), pue_ai)
    infra = comp["infrastructure"]
    slack = 1e-12 * it + 1e-300
    assert (infra >= (lo - 1) * it - slack).all() and (infra <= (hi - 1) * it + slack).all()
    np.testing.assert_allclose(infra[:, 0], (pue22[:, 0] - 1) * it[:, 0], rtol=1e-12, atol=1e-300)

    # boundaries and totals, summed here from the cube's own array
    for var in ("electricity", "carbon", "water"):
        arr = ds[var].values
        if var == "water":
            arr = arr.sum(axis=-1)
        crypto_part = arr[:, :, :, COMPONENTS.index("crypto")].sum(axis=2)
        incl = arr.sum(axis=(2, 3))
        dc = incl - crypto_part
        t_incl, t_dc = total(ds, var, "incl_crypto").values, total(ds, var, "dc_only").values
        np.testing.assert_allclose(t_incl, incl, rtol=1e-12, atol=1e-300, err_msg=var)
        np.testing.assert_allclose(t_dc, dc, rtol=1e-12, atol=1e-9 * incl.max(), err_msg=var)
        assert (t_incl >= t_dc).all(), var
        np.testing.assert_allclose(total(ds, var, "incl_crypto", by="region").sum("region").values, t_incl, rtol=1e-12)
        np.testing.assert_allclose(total(ds, var, "dc_only", by="component").sum("component").values, t_dc, rtol=1e-12)
    np.testing.assert_allclose(
        total(ds, "installed_accelerators").values, ds.installed_accelerators.values.sum(axis=2), rtol=1e-12
    )

    # the 2022 anchor, or the clip of the residual
    anchor, crypto22 = _col(ds, "total_2022"), _col(ds, "crypto_2022")
    acc_with_pue = (pue22[:, 0] * comp["accelerated_servers"][:, 0]).sum(axis=1)
    margin = anchor - crypto22 - acc_with_pue
    conv22 = sum(comp[c][:, 0] for c in CONVENTIONAL).sum(axis=1)
    total22 = e.values[:, 0].sum(axis=(1, 2))
    clear = np.abs(margin) > 1e-9 * anchor  # leave out residuals within rounding of 0
    clipped, zero = margin < 0, conv22 == 0
    assert (zero[clear] == clipped[clear]).all()
    np.testing.assert_allclose(total22[clear & ~clipped], anchor[clear & ~clipped], rtol=1e-11)
    assert (total22[clear & clipped] > anchor[clear & clipped]).all()
    assert ds.attrs["clipped_conventional_it_2022"] == int(zero.sum())

    # carbon and water intensities
    ci = (
        _regional(ds, "carbon_intensity_2022")[:, None, :]
        * (1 - _col(ds, "carbon_intensity_decline")[:, None, None]) ** (years - 2022)[None, :, None]
    )
    np.testing.assert_allclose(ds.carbon.values, e.values * ci[..., None] / 1000, rtol=1e-10, atol=1e-300)
    onsite = ds.water.sel(water_source="onsite")
    np.testing.assert_allclose(
        onsite.sel(component=IT).values,
        e.sel(component=IT).values * _col(ds, "wue")[:, None, None, None],
        rtol=1e-12,
        atol=1e-300,
    )
    assert (onsite.sel(component=["infrastructure", "crypto"]).values == 0).all()
    wi = _col(ds, "water_intensity_generation")[:, None, None, None]
    np.testing.assert_allclose(ds.water.sel(water_source="offsite").values, e.values * wi, rtol=1e-12, atol=1e-300)

    # regional split of the fleet: raw weights normalised per scenario
    w = _regional(ds, "accelerator_share")
    share = w / w.sum(axis=1, keepdims=True)
    fleet = ds.installed_accelerators.values
    np.testing.assert_allclose(fleet, fleet.sum(axis=2, keepdims=True) * share[:, None, :], rtol=1e-12, atol=1e-300)
    eff = ds.effective_inputs.sel(effective_input=[f"accelerator_share.{r}" for r in d["regions"]]).values
    np.testing.assert_allclose(eff, share, rtol=1e-14)


# --------------------------------------------------------------------------- monotone in shipments
SCALED = ("shipments_2022", "shipments_2023", "custom_accelerator_factor")  # x factor
SHIFTED = ("shipments_growth_initial", "shipments_growth_longrun")  # + delta
FIRST_AFFECTED = {"shipments_2022": 2022, "custom_accelerator_factor": 2022, "shipments_2023": 2023,
                  "shipments_growth_initial": 2024, "shipments_growth_longrun": 2025}  # fmt: skip


def scaled(dist: dict, factor: float) -> dict:
    """``dist`` of X -> the same kind's distribution of factor * X (every quantile x factor)."""
    out = dict(dist)
    for k in ("value", "low", "mode", "high", "mean", "sd", "lower", "upper", "median"):
        if k in out:
            out[k] = out[k] * factor
    if "mu" in out:
        out["mu"] = out["mu"] + math.log(factor)
    return out


def _is_lognormal(dist: dict) -> bool:
    return dist["kind"] == "lognormal" or (dist["kind"] == "percentile" and dist.get("shape", "lognormal") == "lognormal")


def shifted(dist: dict, delta: float) -> dict:
    """``dist`` of X -> the same kind's distribution of X + delta (location families only)."""
    assert not _is_lognormal(dist), dist  # not a location family
    out = dict(dist)
    for k in ("value", "low", "mode", "high", "mean", "lower", "upper"):
        if k in out:
            out[k] = out[k] + delta
    return out


@settings(max_examples=10, **NO_SHRINK)
@given(
    d=valid_configs(max_regions=3),
    which=st.sampled_from(SCALED + SHIFTED),
    factor=st.floats(1.01, 3.0),
    delta=st.floats(0.01, 0.5),
    n=st.sampled_from([64, 128]),
    seed=st.integers(0, 2**63),
)
def test_more_shipments_never_give_less_accelerator_energy(d, which, factor, delta, n, seed):
    """Same seed, one shipment input raised (every quantile: x factor, or + delta for growth rates
    unless their distribution is a lognormal, which is raised x factor): per scenario, year and region
    accelerated-server electricity and installed accelerators do not fall; they are unchanged
    before the first year the input acts on (bit for bit for the growth inputs in 2022-2023)
    and the fleet is strictly larger in that year.  All other inputs draw the same numbers.
    Total electricity is *not* compared: with the 2022 anchor, conventional IT is the residual
    and falls when 2022 accelerator energy rises (checked), so later totals can go either way."""
    up = copy.deepcopy(d)
    dist = d["inputs"][which]
    up["inputs"][which] = scaled(dist, factor) if which in SCALED or _is_lognormal(dist) else shifted(dist, delta)
    a = run(_parse(d), scenarios=n, seed=seed, dtype="float64")
    b = run(_parse(up), scenarios=n, seed=seed, dtype="float64")

    others = [x for x in a.input.values if x != which]
    np.testing.assert_array_equal(a.inputs.sel(input=others).values, b.inputs.sel(input=others).values)
    assert (_col(b, which) > _col(a, which)).all()

    acc_a = a.electricity.sel(component="accelerated_servers").values
    acc_b = b.electricity.sel(component="accelerated_servers").values
    fleet_a, fleet_b = a.installed_accelerators.values, b.installed_accelerators.values
    assert (acc_b >= acc_a * (1 - 1e-12)).all()
    assert (fleet_b >= fleet_a * (1 - 1e-12)).all()
    first = FIRST_AFFECTED[which] - 2022
    if first < a.sizes["year"]:
        assert (fleet_b[:, first].sum(axis=1) > fleet_a[:, first].sum(axis=1)).all()
    if which in SHIFTED:  # 2022/2023 shipments are data, untouched by the growth law
        np.testing.assert_array_equal(acc_b[:, :2], acc_a[:, :2])
        np.testing.assert_array_equal(fleet_b[:, :2], fleet_a[:, :2])
        if which == "shipments_growth_longrun":  # g(2024) = g0: the long-run rate acts from 2025
            np.testing.assert_allclose(fleet_b[:, :3], fleet_a[:, :3], rtol=1e-14)

    # the coupling through the anchor: conventional IT of 2022 falls (or stays) as accelerators rise
    conv_a = a.electricity.sel(year=2022, component=CONVENTIONAL).values.sum(axis=(1, 2))
    conv_b = b.electricity.sel(year=2022, component=CONVENTIONAL).values.sum(axis=(1, 2))
    assert (conv_b <= conv_a * (1 + 1e-12) + 1e-12).all()


def test_more_2022_shipments_lower_later_totals_through_the_anchor():
    """Why the test above compares accelerator quantities only: with 1.5x the 2022 shipments
    (default config, same seed) the 2022 total is unchanged (the anchor), conventional IT is
    smaller, and by 2030 the total is *lower* in most scenarios (the extra 2022 vintage has
    largely retired while the conventional IT it displaced would have grown).  A model whose
    conventional IT did not absorb the accelerators would fail this."""
    d = copy.deepcopy(DEFAULT)
    d["years"]["end"] = 2030
    up = copy.deepcopy(d)
    up["inputs"]["shipments_2022"] = scaled(d["inputs"]["shipments_2022"], 1.5)
    a = run(_parse(d), scenarios=500, seed=3, dtype="float64")
    b = run(_parse(up), scenarios=500, seed=3, dtype="float64")
    ta, tb = total(a, "electricity", "dc_only"), total(b, "electricity", "dc_only")
    np.testing.assert_allclose(tb.sel(year=2022), ta.sel(year=2022), rtol=1e-12)
    assert (
        b.electricity.sel(year=2022, component="accelerated_servers")
        > a.electricity.sel(year=2022, component="accelerated_servers")
    ).all()
    assert float((tb.sel(year=2030) < ta.sel(year=2030)).mean()) > 0.9


# --------------------------------------------------------------------------- mutations
WRONG = [
    None,
    True,
    "text",
    "",
    [],
    {},
    [1, 2],
    {"x": 1},
    -1,
    0,
    1.5,
    1e308,
    float("nan"),
    float("inf"),
    -float("inf"),
    10**30,
    "1e3",
]


def _paths(node, prefix=()):
    """Every (path, value) below ``node`` (mapping keys and list indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        yield prefix + (k,), v
        yield from _paths(v, prefix + (k,))


def _parent(d, path):
    node = d
    for p in path[:-1]:
        node = node[p]
    return node


def _distributions(d):
    """Paths of every distribution mapping in ``d`` (global and regional)."""
    return [p for p, v in _paths(d) if isinstance(v, dict) and "kind" in v]


def _pick(draw, items):
    """One of ``items`` (a previous mutation may have left none: then a ValueError, caught)."""
    if not items:
        raise ValueError("nothing left to mutate")
    return draw(st.sampled_from(items))


def _mut_drop_key(draw, d):
    path = _pick(draw, [p for p, _ in _paths(d) if isinstance(_parent(d, p), dict)])
    del _parent(d, path)[path[-1]]


def _mut_wrong_type(draw, d):
    path = _pick(draw, [p for p, _ in _paths(d)])
    _parent(d, path)[path[-1]] = copy.deepcopy(draw(st.sampled_from(WRONG)))


def _mut_out_of_domain(draw, d):
    path = _pick(draw, [p for p in _distributions(d) if p[0] in ("inputs", "regional_inputs") and len(p) in (2, 3)])
    key = path[1]
    dom = INPUTS[key].domain if key in INPUTS else None
    if dom is None:
        return
    bad = []
    if math.isfinite(dom.low):
        bad += [dom.low - 0.5, dom.low - 1e-9] + ([dom.low] if dom.low_open else [])
    if math.isfinite(dom.high):
        bad += [dom.high + 1e-9, dom.high + 0.5] + ([dom.high] if dom.high_open else [])
    x = draw(st.sampled_from(bad))
    form = draw(st.sampled_from(["fixed", "uniform", "normal"]))
    new = {
        "fixed": {"kind": "fixed", "value": x},
        "uniform": {"kind": "uniform", "low": min(x, x - 1), "high": max(x, x + 1)},
        "normal": {"kind": "normal", "mean": x, "sd": 0.1},
    }[form]
    _parent(d, path)[path[-1]] = {**new, "source": "mutant"}


def _mut_reverse_bounds(draw, d):
    candidates = [p for p in _distributions(d) if {"low", "high"} <= set(_parent(d, p)[p[-1]])]
    candidates.append(("years",))
    path = draw(st.sampled_from(candidates))
    node = _parent(d, path)[path[-1]]
    if path == ("years",):
        node["start"], node["end"] = node.get("end", 2035), node.get("start", 2022)
    else:
        node["low"], node["high"] = node["high"], node["low"]


def _mut_unknown_key(draw, d):
    maps = [()] + [p for p, v in _paths(d) if isinstance(v, dict)]
    path = draw(st.sampled_from(maps))
    node = d if path == () else _parent(d, path)[path[-1]]
    node[draw(st.sampled_from(["colour", "Regions", "lambda", "inputs_", 7, "rho"]))] = draw(st.sampled_from([1, "x", [1]]))


def _mut_bad_region(draw, d):
    how = draw(
        st.sampled_from(
            ["upper", "duplicate", "empty", "drop_from_list", "add_to_list", "rename_one", "hyphen", "digit", "string"]
        )
    )
    regions = d.get("regions")
    if not isinstance(regions, list) or not regions:
        d["regions"] = ["Europe"]
        return
    r = draw(st.sampled_from(regions))
    if how == "upper":
        regions.append("Mars")
    elif how == "duplicate":
        regions.append(r)
    elif how == "empty":
        d["regions"] = []
    elif how == "drop_from_list":
        regions.remove(r)
    elif how == "add_to_list":
        regions.append("antarctica")
    elif how == "rename_one":
        per_region = d.get("regional_inputs", {}).get("pue_2022")
        if isinstance(per_region, dict) and r in per_region:
            per_region["atlantis"] = per_region.pop(r)
    elif how == "hyphen":
        regions.append("north-america")
    elif how == "digit":
        regions.append("9lives")
    else:
        d["regions"] = ",".join(str(x) for x in regions)


def _mut_bad_correlation(draw, d):
    how = draw(
        st.sampled_from(
            [
                "unknown",
                "rho_big",
                "rho_nan",
                "self",
                "duplicate",
                "fixed",
                "not_psd",
                "one_name",
                "three_names",
                "bad_region",
                "shock_beyond",
            ]
        )
    )
    corr = d.setdefault("correlations", [])
    if not isinstance(corr, list):
        d["correlations"] = corr = []
    src = {"source": "mutant"}
    new = {
        "unknown": [{"between": ["pue_ai", "moon_phase"], "rho": 0.2, **src}],
        "rho_big": [{"between": ["pue_ai", "wue"], "rho": draw(st.sampled_from([1.5, -2.0, 10**9])), **src}],
        "rho_nan": [{"between": ["pue_ai", "wue"], "rho": float("nan"), **src}],
        "self": [{"between": ["pue_ai", "pue_ai"], "rho": 0.2, **src}],
        "duplicate": [{"between": ["wue", "pue_floor"], "rho": -0.1, **src}],  # the default has (pue_floor, wue)
        "fixed": [{"between": ["shipments_2022", "pue_ai"], "rho": 0.2, **src}],
        "not_psd": [
            {"between": ["total_2022", "crypto_2022"], "rho": 0.9, **src},
            {"between": ["total_2022", "server_growth"], "rho": 0.9, **src},
            {"between": ["crypto_2022", "server_growth"], "rho": -0.9, **src},
        ],
        "one_name": [{"between": ["pue_ai"], "rho": 0.2, **src}],
        "three_names": [{"between": ["pue_ai", "wue", "total_2022"], "rho": 0.2, **src}],
        "bad_region": [{"between": ["pue_2022.atlantis", "pue_ai"], "rho": 0.2, **src}],
        "shock_beyond": [{"between": ["shipments_shock.2099", "pue_ai"], "rho": 0.2, **src}],
    }[how]
    corr.extend(new)


MUTATIONS = [
    _mut_drop_key,
    _mut_wrong_type,
    _mut_out_of_domain,
    _mut_reverse_bounds,
    _mut_unknown_key,
    _mut_bad_region,
    _mut_bad_correlation,
]


@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_mutated_configs_validate_or_raise_config_error(data):
    """1-3 random mutations of the default config (optionally as --set overrides): parse_config
    returns a Config or raises ConfigError, nothing else; a mutant that validates serialises,
    builds its layout and runs 8 scenarios, or stops with a UserError."""
    d = copy.deepcopy(DEFAULT)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        mutate = data.draw(st.sampled_from(MUTATIONS), label="mutation")
        try:
            mutate(data.draw, d)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            pass  # an earlier mutation removed what this one needed: the config stays mutated
    overrides = {}
    if data.draw(st.booleans(), label="as override"):
        paths = [".".join(str(p) for p in path) for path, _ in _paths(DEFAULT)]
        key = data.draw(st.sampled_from(paths + ["inputs.pue_ai.mode.deeper", "regions.7", "years.end", "correlations.x.rho"]))
        overrides = {key: copy.deepcopy(data.draw(st.sampled_from(WRONG + [1.15, 2040, "pert"])))}
    text = yaml.safe_dump(d, sort_keys=False)
    try:
        cfg = parse_config(text, "mutant.yaml", overrides=overrides)
    except ConfigError:
        return
    effective_text(cfg)
    build_layout(cfg)
    try:
        run(cfg, scenarios=8, seed=1)
    except UserError:
        pass


def test_the_mutation_test_reaches_both_outcomes():
    """Control: the mutation machinery is not vacuous: a known-bad mutant raises ConfigError
    and an unmutated copy validates."""
    d = copy.deepcopy(DEFAULT)
    d["inputs"]["pue_ai"]["low"], d["inputs"]["pue_ai"]["high"] = 1.3, 1.1
    with pytest.raises(ConfigError, match="pue_ai"):
        _parse(d)
    assert _parse(copy.deepcopy(DEFAULT)).regions == DEFAULT_REGIONS


# --------------------------------------------------------------------------- bugs found here (fixed)
def _fixed(value):
    return {"kind": "fixed", "value": value, "source": "test"}


@pytest.mark.parametrize(
    "key, dist",
    [
        ("shipments_2022", {"kind": "lognormal", "median": 2.67, "sigma": 0.1}),  # draws >= 2.67 e^-0.83 = 1.16
        ("lifetime_mean", {"kind": "percentile", "low": 3.0, "high": 6.0}),  # the kind's default shape
        ("pue_ai", {"kind": "lognormal", "median": 1.2, "sigma": 0.01}),  # draws >= 1.2 e^-0.083 = 1.10
    ],
    ids=["lognormal-count", "percentile-lifetime", "lognormal-pue"],
)
def test_a_lognormal_that_cannot_draw_outside_the_domain_is_accepted(key, dist):
    """A lognormal whose smallest possible draw (at the generator's smallest uniform) lies inside
    the input's domain is accepted, like any other distribution that stays inside it."""
    d = copy.deepcopy(DEFAULT)
    d["inputs"][key] = {**dist, "source": "test"}
    d["correlations"] = [c for c in d["correlations"] if key not in c["between"]]
    cfg = _parse(d)
    assert cfg.distribution(key).ppf_numpy(U_MIN) > INPUTS[key].domain.low


def _old_stock_config(age=7.0, life=3.0, shape=10.0):
    d = copy.deepcopy(DEFAULT)
    d["inputs"].update(preexisting_age=_fixed(age), lifetime_mean=_fixed(life), lifetime_shape=_fixed(shape))
    d["correlations"] = [c for c in d["correlations"] if "lifetime_mean" not in c["between"]]
    return d


def test_an_old_preexisting_stock_retires_instead_of_giving_nan():
    """A valid config whose pre-2022 stock is old for its lifetime (mean age 7 yr, mean life
    3 yr, Weibull shape 10) must run: the old stock has retired, it is not NaN."""
    cfg = _parse(_old_stock_config())
    ds = run(cfg, scenarios=16, seed=1, dtype="float64")
    assert np.isfinite(ds.electricity.values).all()
    # the conditional survival R(7.5)/R(7) is ~exp(-2900): the 2022 fleet is the 2022 shipments alone
    ship22 = _col(ds, "shipments_2022") * _col(ds, "custom_accelerator_factor")
    np.testing.assert_allclose(ds.installed_accelerators.sel(year=2022).sum("region"), 0.5 * ship22, rtol=1e-9)


def test_old_preexisting_stock_just_inside_the_underflow_runs():
    """Control for the test above: mean age 6 yr with the same lives still runs (R(6) ~ 1e-272 is
    a normal float) and its old stock is gone (R(6.5)/R(6) ~ e^-766 of 4 M units rounds to 0)."""
    ds = run(_parse(_old_stock_config(age=6.0)), scenarios=16, seed=1, dtype="float64")
    ship22 = _col(ds, "shipments_2022") * _col(ds, "custom_accelerator_factor")
    np.testing.assert_allclose(ds.installed_accelerators.sel(year=2022).sum("region"), 0.5 * ship22, rtol=1e-9)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("key", WEIGHTS)
def test_regional_weights_summing_to_zero_are_rejected_or_run(key):
    """A config whose regional weights of one kind are all zero is either rejected by the
    validator (ConfigError) or runs to finite outputs; it must not validate and then fail."""
    d = copy.deepcopy(DEFAULT)
    d["regional_inputs"][key] = {r: _fixed(0.0) for r in DEFAULT_REGIONS}
    try:
        cfg = _parse(d)
    except ConfigError:
        return
    ds = run(cfg, scenarios=8, seed=1, dtype="float64")
    assert np.isfinite(ds.electricity.values).all()


def test_a_tiny_weibull_shape_is_rejected_or_runs():
    """lifetime_shape = 0.005 (inside the registry's domain (0, inf)) is either rejected or runs."""
    d = copy.deepcopy(DEFAULT)
    d["inputs"]["lifetime_shape"] = _fixed(0.005)
    try:
        cfg = _parse(d)
    except ConfigError:
        return
    ds = run(cfg, scenarios=8, seed=1, dtype="float64")
    assert np.isfinite(ds.electricity.values).all()


def test_preexisting_in_service_survives_the_underflow():
    """The kernel equation itself: stock 4 M at mean age 7 yr, mean life 3 yr, shape 10, seen in
    2022 (age 7.5): 4 exp((7/scale)^10 - (7.5/scale)^10) = 4 e^-2900, i.e. 0.0, not NaN.  (At mean
    age 6, where R(6) ~ 1e-272 is still a normal float, it already gives 0.0.)"""
    from kernels import survival

    scale = survival.weibull_scale(3.0, 10.0)
    expected = 4.0 * math.exp((7.0 / scale) ** 10 - (7.5 / scale) ** 10)
    assert survival.preexisting_in_service(4.0, 6.0, 0.0, scale, 10.0) == 0.0
    got = survival.preexisting_in_service(4.0, 7.0, 0.0, scale, 10.0)
    assert got == pytest.approx(expected, abs=1e-300)
