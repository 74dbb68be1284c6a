"""One scenario by hand: an independent plain-Python evaluation of the model against the kernels.

:func:`hand_model` is written from the equations of README "The model" (and the units of the
``kernels/model.py`` docstrings) with plain floats, loops and ``**``; it calls nothing from
``kernels`` or ``engine``.  The numba kernel (``kernels.model.project_scenario``, reached through
``get_backend("numba").project``) evaluates the same hand-built input row; every output
element of every year (2022-2030) must agree.  The input values are round numbers, and a few
results are also spelled out as literals a reader can check with a pocket calculator.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from engine.backends import get_backend
from engine.config import parse_config
from engine.inputs.layout import build_layout
from engine.output.variables import empty_arrays

from .conftest import DEFAULT_CONFIG

REGIONS = ("north", "south")
LAST_YEAR = 2030
COMPONENTS = ("accelerated_servers", "conventional_servers", "storage", "network", "infrastructure", "crypto")

# Round input values (units as in engine/inputs/registry.py).  Regional weights are raw
# weights: the model normalises them (accelerators 3:1 -> 0.75/0.25, conventional 3:2 ->
# 0.6/0.4, crypto 1:3 -> 0.25/0.75).
GLOBAL = {
    "total_2022": 500.0,  # TWh incl. crypto
    "crypto_2022": 100.0,  # TWh
    "crypto_growth_to_2026": 0.10,  # 1/yr, 2023..2026
    "crypto_growth_after_2026": -0.05,  # 1/yr, 2027..
    "shipments_2022": 2.0,  # M GPUs
    "shipments_2023": 4.0,  # M GPUs
    "shipments_growth_initial": 1.0,  # g0, growth into 2024
    "shipments_growth_longrun": 0.1,  # g_inf
    "shipments_growth_decay": 2.0,  # tau [yr]
    "shipments_shock_sd": 0.1,  # sigma of the yearly log shock
    "custom_accelerator_factor": 1.25,
    "preexisting_stock": 4.0,  # M in service on 1 Jan 2022
    "preexisting_age": 2.0,  # yr, their mean age then
    "preexisting_power": 300.0,  # W
    "lifetime_mean": 4.0,  # yr
    "lifetime_shape": 2.0,  # Weibull k
    "power_2022": 400.0,  # W, vintages <= 2022
    "power_2023": 700.0,  # W, vintages 2023-2024
    "power_2025": 1000.0,  # W, vintage 2025 ...
    "power_growth": 0.05,  # ... rising 5 %/vintage after
    "server_overhead": 1.5,
    "inference_share_2023": 0.6,
    "inference_share_2030": 0.9,
    "utilisation_inference": 0.4,
    "utilisation_training": 0.8,
    "storage_share_2022": 0.2,
    "network_share_2022": 0.1,
    "server_growth": 0.02,
    "storage_growth": 0.05,
    "network_growth": 0.04,
    "pue_floor": 1.2,
    "pue_convergence": 0.1,
    "pue_ai": 1.1,
    "wue": 1.0,  # L/kWh of IT
    "water_intensity_generation": 4.0,  # L/kWh
    "carbon_intensity_decline": 0.03,  # 1/yr
    "supply_power_2025": 500.0,  # GW of accelerator TDP shippable in 2025 ... (far above demand: no cap binds)
    "supply_growth": 0.2,  # ... growing 20 %/yr
    "buildout_power_2025": 800.0,  # GW of facility power built in 2025 ...
    "buildout_growth": 0.1,  # ... growing 10 %/yr
}
CAPS = ("supply_power_2025", "supply_growth", "buildout_power_2025", "buildout_growth")
# the caps bind against a demand of ~22 M in 2026: the build-out in 2026 (7.5 GW / (1050 W x 1.5 x 1.1) + ~3.3 M
# units' halls freed by retirements = ~7.6 M < the supply's 9 GW / 1050 W = 8.6 M), the supply from 2027 (flat at
# 9 GW while the build-out grows 50 %/yr)
CAPPED = {**GLOBAL, "supply_power_2025": 9.0, "supply_growth": 0.0, "buildout_power_2025": 5.0, "buildout_growth": 0.5}
REGIONAL = {
    "accelerator_share": {"north": 3.0, "south": 1.0},
    "conventional_share_2022": {"north": 3.0, "south": 2.0},
    "crypto_share": {"north": 1.0, "south": 3.0},
    "pue_2022": {"north": 1.5, "south": 1.8},
    "carbon_intensity_2022": {"north": 400.0, "south": 600.0},  # g/kWh
}
SHOCKS = {2024: 0.5, 2025: -1.0, 2026: 0.0, 2027: 1.5, 2028: -0.5, 2029: 0.25, 2030: 2.0}


# --------------------------------------------------------------------------- the hand model
def hand_model(v: dict, w: dict, z: dict, regions=REGIONS, last_year=LAST_YEAR) -> dict:
    """The model of README "The model", items 1-9, in plain Python.

    Returns nested lists: ``electricity[year][region][component]`` [TWh], ``carbon`` [Mt],
    ``water[year][region][component][onsite/offsite]`` [GL], ``installed[year][region]`` [M].
    """
    years = list(range(2022, last_year + 1))
    hours = 8760.0

    # 2. installed base: Weibull survival with mean life L and shape k: scale = L / Gamma(1 + 1/k)
    k = v["lifetime_shape"]
    scale = v["lifetime_mean"] / math.gamma(1 + 1 / k)

    def survival(age):
        return 1.0 if age <= 0 else math.exp(-((age / scale) ** k))

    def power(vintage):  # 3. rated power by vintage [W]
        if vintage <= 2022:
            return v["power_2022"]
        if vintage <= 2024:
            return v["power_2023"]
        return v["power_2025"] * (1 + v["power_growth"]) ** (vintage - 2025)

    # 1. shipments [M]: known 2022/2023 counts x custom multiplier, then the growth law (demand);
    # from 2026 the deployments are the demand or the tighter of two caps [GW] / power per unit:
    # chip supply, and facility power built plus the halls freed by retirements (refitted)
    demand = {
        2022: v["shipments_2022"] * v["custom_accelerator_factor"],
        2023: v["shipments_2023"] * v["custom_accelerator_factor"],
    }
    ship = dict(demand)
    for t in years:
        if t >= 2024:
            g = v["shipments_growth_longrun"] + (v["shipments_growth_initial"] - v["shipments_growth_longrun"]) * math.exp(
                -(t - 2024) / v["shipments_growth_decay"]
            )
            sd = v["shipments_shock_sd"]
            demand[t] = demand[t - 1] * (1 + g) * math.exp(sd * z[t] - sd**2 / 2)
            ship[t] = demand[t]
        if t >= 2026:
            supply_gw = v["supply_power_2025"] * (1 + v["supply_growth"]) ** (t - 2025)
            built_gw = v["buildout_power_2025"] * (1 + v["buildout_growth"]) ** (t - 2025)
            retired_gw = sum(ship[u] * power(u) * (survival(t - u - 0.5) - survival(t - u + 0.5)) for u in range(2022, t)) / 1000
            facility_w = power(t) * v["server_overhead"] * v["pue_ai"]
            caps = (supply_gw * 1000 / power(t), built_gw * 1000 / facility_w + retired_gw * 1000 / power(t))
            ship[t] = min(demand[t], *caps)

    def in_service(t, vintage):  # half a year of service in the year of shipment, then R(t - v)
        return 0.5 if t == vintage else survival(t - vintage)

    def preexisting(t):  # stock of 1 Jan 2022 at mean age a, seen at mid-year t: R(a + t - 2022 + 0.5) / R(a)
        a = v["preexisting_age"]
        return v["preexisting_stock"] * survival(a + (t - 2022) + 0.5) / survival(a)

    # 3. the workload mix
    def inference_share(t):
        s23, s30 = v["inference_share_2023"], v["inference_share_2030"]
        if t <= 2023:
            return s23
        if t >= 2030:
            return s30
        return s23 + (s30 - s23) * (t - 2023) / 7

    # 9. regional weights, normalised
    def normalised(key):
        total = sum(w[key][r] for r in regions)
        return {r: w[key][r] / total for r in regions}

    acc_w, conv_w, crypto_w = normalised("accelerator_share"), normalised("conventional_share_2022"), normalised("crypto_share")
    pue22 = w["pue_2022"]

    out = {"electricity": [], "carbon": [], "water": [], "installed": []}
    conventional = None
    for t in years:
        n = t - 2022
        # accelerated servers: old sites (pre-2022 stock and vintages <= 2022), new AI sites (>= 2023)
        old_units_watts = preexisting(t) * v["preexisting_power"]
        new_units_watts = 0.0
        units = preexisting(t)
        for vintage in range(2022, t + 1):
            count = ship[vintage] * in_service(t, vintage)
            units += count
            if vintage < 2023:
                old_units_watts += count * power(vintage)
            else:
                new_units_watts += count * power(vintage)
        s = inference_share(t)
        u_bar = s * v["utilisation_inference"] + (1 - s) * v["utilisation_training"]
        to_twh = v["server_overhead"] * u_bar * hours * 1e-6  # M units x W x h = 1e6 Wh = 1e-6 TWh
        e_old, e_new = old_units_watts * to_twh, new_units_watts * to_twh

        # 4. conventional IT: the 2022 residual of the anchor (accelerators and conventional IT with their PUE)
        if conventional is None:
            acc_with_overhead = sum(acc_w[r] * (pue22[r] * e_old + v["pue_ai"] * e_new) for r in regions)
            pue_weight = sum(conv_w[r] * pue22[r] for r in regions)
            conventional = max(0.0, v["total_2022"] - v["crypto_2022"] - acc_with_overhead) / pue_weight
        servers = conventional * (1 - v["storage_share_2022"] - v["network_share_2022"]) * (1 + v["server_growth"]) ** n
        storage = conventional * v["storage_share_2022"] * (1 + v["storage_growth"]) ** n
        network = conventional * v["network_share_2022"] * (1 + v["network_growth"]) ** n

        # 6. crypto: two growth phases split at 2026
        crypto = v["crypto_2022"]
        for y in range(2023, t + 1):
            crypto *= 1 + (v["crypto_growth_to_2026"] if y <= 2026 else v["crypto_growth_after_2026"])

        e_year, c_year, w_year, n_year = [], [], [], []
        for r in regions:
            # 5. fleet PUE converging to the floor; accelerators of vintages >= 2023 at PUE_ai
            pue = max(1.0, v["pue_floor"] + (pue22[r] - v["pue_floor"]) * (1 - v["pue_convergence"]) ** n)
            acc = acc_w[r] * (e_old + e_new)
            srv, sto, net = conv_w[r] * servers, conv_w[r] * storage, conv_w[r] * network
            infra = (pue - 1) * (acc_w[r] * e_old + srv + sto + net) + (v["pue_ai"] - 1) * acc_w[r] * e_new
            cry = crypto_w[r] * crypto
            energy = [acc, srv, sto, net, infra, cry]
            # 7. carbon: TWh x g/kWh / 1000 = Mt, intensity declining
            ci = w["carbon_intensity_2022"][r] * (1 - v["carbon_intensity_decline"]) ** n
            # 8. water: on-site WUE x IT electricity (IT components only), off-site generation x all
            it = [True, True, True, True, False, False]
            e_year.append(energy)
            c_year.append([e * ci / 1000 for e in energy])
            w_year.append(
                [
                    [e * v["wue"] if is_it else 0.0, e * v["water_intensity_generation"]]
                    for e, is_it in zip(energy, it, strict=True)
                ]
            )
            n_year.append(acc_w[r] * units)
        out["electricity"].append(e_year)
        out["carbon"].append(c_year)
        out["water"].append(w_year)
        out["installed"].append(n_year)
    return out


# --------------------------------------------------------------------------- the kernel side
@pytest.fixture(scope="module")
def layout():
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["regions"] = list(REGIONS)
    data["years"] = {"start": 2022, "end": LAST_YEAR}
    data.pop("observations")  # they name the default's regions
    for per_region in data["regional_inputs"].values():
        template = dict(per_region)
        per_region.clear()
        per_region.update(north=template["united_states"], south=template["europe"])
    return build_layout(parse_config(yaml.safe_dump(data), "hand.yaml"))


def _row(layout, v, w, z) -> np.ndarray:
    """The input row in the layout's column order, by name (``pue_2022.north``, ``shipments_shock.2024``)."""
    values = dict(v)
    values.update({f"{key}.{r}": w[key][r] for key in w for r in REGIONS})
    values.update({f"shipments_shock.{year}": z[year] for year in z})
    assert set(values) == set(layout.names), set(values) ^ set(layout.names)
    return np.array([[values[name] for name in layout.names]], dtype=np.float64)


def _kernel(layout, v, w, z) -> dict:
    out = empty_arrays(layout, 1, np.float64)
    get_backend("numba").project(layout, _row(layout, v, w, z), out)
    return out


CASES = {
    "anchored": GLOBAL,
    # the anchor (110 TWh) is below crypto (100) + accelerated servers with their PUE (~18): residual clipped at 0
    "clipped": {**GLOBAL, "total_2022": 110.0},
    "capped": CAPPED,
}


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_equals_hand_model_in_every_year_region_and_component(layout, case):
    """Every output element (electricity, carbon, on-/off-site water, installed accelerators) of
    2022-2030 equals the independent hand evaluation, to rounding (rtol 1e-12)."""
    v = CASES[case]
    hand = hand_model(v, REGIONAL, SHOCKS)
    got = _kernel(layout, v, REGIONAL, SHOCKS)
    np.testing.assert_allclose(got["electricity"][0], np.array(hand["electricity"]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got["carbon"][0], np.array(hand["carbon"]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got["water"][0], np.array(hand["water"]), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(got["installed_accelerators"][0], np.array(hand["installed"]), rtol=1e-12, atol=1e-300)
    # the comparison covers growth years with shocks, several power eras and converging PUE
    assert got["electricity"].shape[1] == LAST_YEAR - 2022 + 1


def test_hand_model_closes_the_anchor_and_the_clip_shows():
    """The hand model itself: 2022 total = 500 TWh (the anchor) when the residual is positive;
    with a 110 TWh anchor the conventional components are 0 and the total overshoots it."""
    e = np.array(hand_model(GLOBAL, REGIONAL, SHOCKS)["electricity"])
    assert e[0].sum() == pytest.approx(500.0, rel=1e-13)
    clipped = np.array(hand_model(CASES["clipped"], REGIONAL, SHOCKS)["electricity"])
    assert (clipped[:, :, 1:4] == 0).all()
    assert clipped[0].sum() > 110.0


@pytest.mark.parametrize("year", [2022, 2026, 2030])
def test_pocket_calculator_values(layout, year):
    """Literal values a reader can check by hand, from the kernel (not the hand model).

    Crypto: 100 TWh in 2022, x1.1 per year to 2026 (146.41), x0.95 per year after; north gets
    1/4, south 3/4.  Carbon of north's crypto: TWh x 400 g/kWh x 0.97^n / 1000.  Off-site
    water of south's crypto: TWh x 4 L/kWh.  Shipments: 2.0 M x 1.25 = 2.5 M in 2022.
    """
    got = _kernel(layout, GLOBAL, REGIONAL, SHOCKS)
    i, c = year - 2022, COMPONENTS.index("crypto")
    crypto = {2022: 100.0, 2026: 146.41, 2030: 146.41 * 0.95**4}[year]
    assert got["electricity"][0, i, 0, c] == pytest.approx(0.25 * crypto, rel=1e-12)
    assert got["electricity"][0, i, 1, c] == pytest.approx(0.75 * crypto, rel=1e-12)
    assert got["carbon"][0, i, 0, c] == pytest.approx(0.25 * crypto * 400 * 0.97**i / 1000, rel=1e-12)
    assert got["water"][0, i, 1, c, 1] == pytest.approx(0.75 * crypto * 4.0, rel=1e-12)
    assert got["water"][0, i, :, c, 0].tolist() == [0.0, 0.0]  # no on-site water for crypto
    if year == 2022:
        # 2022 fleet: pre-2022 stock 4 M x R(2.5)/R(2) (Weibull k = 2, scale 4/Gamma(1.5)) + half of 2.5 M shipped
        scale = 4.0 / (math.sqrt(math.pi) / 2)
        pre = 4.0 * math.exp(-((2.5 / scale) ** 2)) / math.exp(-((2.0 / scale) ** 2))
        assert got["installed_accelerators"][0, 0].sum() == pytest.approx(pre + 1.25, rel=1e-12)
        # ... at ubar = 0.6 x 0.4 + 0.4 x 0.8 = 0.56, k_srv 1.5, 8760 h: (pre x 300 W + 1.25 x 400 W) x 1.5 x 0.56 x 8760e-6
        acc = (pre * 300.0 + 1.25 * 400.0) * 1.5 * 0.56 * 8760e-6
        assert got["electricity"][0, 0, :, 0].sum() == pytest.approx(acc, rel=1e-12)
        assert got["electricity"][0, 0].sum() == pytest.approx(500.0, rel=1e-12)  # the anchor


def test_every_input_moves_the_outputs_and_the_hand_model_follows(layout):
    """Control of the comparison's reach: nudging any one input (+0.01, plain additive) changes
    the kernel's outputs, and the hand model, nudged the same way, still agrees to 1e-12.
    An input the kernel ignored, or used differently from README's equations, fails here."""
    bases = {False: _kernel(layout, GLOBAL, REGIONAL, SHOCKS), True: _kernel(layout, CAPPED, REGIONAL, SHOCKS)}
    for name in layout.names:
        capped = name in CAPS  # a cap moves the outputs only where it binds; every other input where none does
        base = bases[capped]
        v, w, z = dict(CAPPED if capped else GLOBAL), {k: dict(d) for k, d in REGIONAL.items()}, dict(SHOCKS)
        key, _, label = name.partition(".")
        if key == "shipments_shock":
            z[int(label)] += 0.01
        elif label:
            w[key][label] += 0.01
        else:
            v[key] += 0.01
        got, hand = _kernel(layout, v, w, z), hand_model(v, w, z)
        assert (
            not np.array_equal(got["electricity"], base["electricity"])
            or not np.array_equal(got["water"], base["water"])
            or not np.array_equal(got["carbon"], base["carbon"])
        ), f"{name} does not move any output"
        for kernel_name, hand_name in [
            ("electricity", "electricity"),
            ("carbon", "carbon"),
            ("water", "water"),
            ("installed_accelerators", "installed"),
        ]:
            np.testing.assert_allclose(
                got[kernel_name][0], np.array(hand[hand_name]), rtol=1e-12, atol=1e-300, err_msg=f"{name}: {kernel_name}"
            )
