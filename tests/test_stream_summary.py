"""Streaming summaries: histogram bins, quantile accuracy, exact moments, chunk/thread invariance,
the summary file, non-finite chunks and memory planning (all in this process; dask in
test_distributed.py)."""

from __future__ import annotations

import struct

import numba
import numpy as np
import pytest
import xarray as xr
import yaml

from engine import load_config, run, run_to_file
from engine.analysis.results import exceedance, summarise
from engine.backends import BACKENDS, register
from engine.backends.base import backend_class
from engine.errors import NonFiniteError, RunError
from engine.execution.planning import bytes_per_scenario, plan_run
from engine.inputs.layout import build_layout
from engine.output.variables import BOUNDARIES, VARIABLES, empty_arrays
from engine.stats.quantiles import estimate_quantiles
from engine.stats.spec import MOMENT_BLOCK as BLOCK
from engine.stats.spec import SUMMARY_QUANTILES as QUANTILES
from engine.stats.spec import build_summary_spec, parse_threshold
from engine.stats.state import SummaryState
from kernels import cpu_merge
from kernels import cpu_summary as cs
from kernels import summary as ks
from kernels.columns import COMPONENTS
from tests.conftest import DEFAULT_CONFIG

N = 3 * BLOCK + 1234  # a ragged last block
BOUNDARIES_IDX = {b: [COMPONENTS.index(c) for c in comps] for b, comps in BOUNDARIES.items()}


def _bits(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", x))[0]


@pytest.fixture(scope="module")
def summary_ds(default_config):
    # the unweighted machinery (prior=True) against unweighted references; the weighted
    # summaries have the same checks against weighted references in tests/test_conditioning.py
    return run(
        default_config,
        scenarios=N,
        seed=11,
        summary=True,
        thresholds=["2030>1000", "carbon/dc_only:2027>250"],
        chunk_size=2 * BLOCK,
        prior=True,
    )


@pytest.fixture(scope="module")
def full_ds(default_config):
    return run(default_config, scenarios=N, seed=11, dtype="float64", prior=True)


# -- histogram bins ------------------------------------------------------------------------------


def test_bits_and_frexp_bins_agree_and_are_log_spaced():
    rng = np.random.default_rng(0)
    edges = [ks.hist_lower_edge(b) for b in range(1, ks.HIST_BINS - 1)]
    xs = np.concatenate(
        [
            rng.lognormal(0.0, 6.0, 20_000),
            edges,
            np.nextafter(edges, 0),
            [
                0.0,
                -1.0,
                -0.0,
                1e-300,
                2.0**ks.HIST_EXP_LO,
                np.nextafter(2.0**ks.HIST_EXP_LO, 0),
                2.0**ks.HIST_EXP_HI,
                np.nextafter(2.0**ks.HIST_EXP_HI, 0),
                1e30,
            ],
        ]
    )
    for x in xs:
        assert cs.hist_bin(x) == ks.hist_bin(x) == ks.hist_bin_bits(_bits(x)), x
    assert ks.hist_bin(0.0) == ks.hist_bin(-5.0) == 0 and ks.hist_bin(1e30) == ks.HIST_BINS - 1
    e = np.array(edges)
    assert np.all(np.diff(e) > 0)
    assert (np.diff(e) / e[:-1]).max() <= 2.0**-ks.HIST_SUB_BITS  # width <= 0.196 % of the lower edge
    for b in (1, 777, ks.HIST_BINS - 2):  # each edge is in its own bin
        assert ks.hist_bin(ks.hist_lower_edge(b)) == b


def _accumulate(values: np.ndarray, block: int = BLOCK):
    """Run the CPU accumulator over one cell of synthetic values (as electricity element 0)."""
    n = values.shape[0]
    cell_var = np.zeros(1, np.int64)
    cell_ptr = np.array([0, 1], np.int64)
    term_idx = np.zeros(1, np.int64)
    thr_ptr = np.array([0, 1], np.int64)
    thr_value = np.array([np.median(values)])
    hist = np.zeros((1, ks.HIST_BINS), np.int64)
    thr = np.zeros(1, np.int64)
    vmin, vmax = np.full(1, np.inf), np.full(1, -np.inf)
    bad = np.full(1, np.iinfo(np.int64).max)
    scratch = cs.new_scratch(1, 1, block).arrays()
    n_blocks = -(-n // block)
    bmean, bm2, block_n = np.empty((n_blocks, 1)), np.empty((n_blocks, 1)), np.empty(n_blocks)
    for b in range(n_blocks):
        v = values[b * block : (b + 1) * block].reshape(-1, 1).copy()
        dummy = np.zeros((v.shape[0], 1))
        cs.accumulate_block(
            v, dummy, dummy, dummy, b * block, False, cell_var, cell_ptr, term_idx, thr_ptr, thr_value,
            *scratch, hist, thr, bmean[b], bm2[b], vmin, vmax, bad, numba.get_num_threads(),
        )  # fmt: skip
        block_n[b] = v.shape[0]
    mom = np.zeros(1), np.zeros(1), np.zeros(1)
    cpu_merge.fold_moments(*mom, block_n, bmean, bm2)
    return hist[0], vmin[0], vmax[0], mom, thr[0], bad[0]


@pytest.mark.parametrize("dist", ["lognormal", "uniform", "with_zeros", "heavy_tail", "constant"])
def test_quantiles_within_0_2_percent_of_exact_at_1e6(dist):
    rng = np.random.default_rng(1)
    n = 1_000_000
    values = {
        "lognormal": lambda: rng.lognormal(6.0, 0.8, n),
        "uniform": lambda: rng.uniform(400.0, 1200.0, n),
        "with_zeros": lambda: np.where(rng.random(n) < 0.3, 0.0, rng.gamma(2.0, 50.0, n)),
        "heavy_tail": lambda: 10.0 * rng.pareto(1.5, n) + 1e-3,
        "constant": lambda: np.full(n, 123.456),
    }[dist]()
    hist, vmin, vmax, (cnt, mean, m2), thr, bad = _accumulate(values)
    lo = ks.hist_bin(vmin)
    q = np.linspace(0.0, 1.0, 201)
    est = estimate_quantiles(hist[lo : ks.hist_bin(vmax) + 1], lo, vmin, vmax, q)
    exact = np.quantile(values, q)
    tol = 2e-3 * np.abs(exact) + 2.0**ks.HIST_EXP_LO  # relative, or absolute below the histogram's range
    assert np.all(np.abs(est - exact) <= tol), np.max(np.abs(est - exact) / np.maximum(exact, 1e-300))
    assert (vmin, vmax) == (values.min(), values.max())
    assert cnt[0] == n and hist.sum() == n and bad == np.iinfo(np.int64).max
    assert mean[0] == pytest.approx(values.mean(), rel=1e-12, abs=1e-12)
    assert m2[0] / (n - 1) == pytest.approx(values.var(ddof=1), rel=1e-10, abs=1e-12)
    assert thr == int((values > np.median(values)).sum())


# -- the summary of a real run --------------------------------------------------------------------


def _exact_total(full, variable, boundary, by=None):
    da = full[variable]
    if "component" in da.dims:
        da = da.sel(component=BOUNDARIES[boundary])
    keep = {"scenario", "year"} | ({by} if by else set())
    return da.sum([d for d in da.dims if d not in keep])


def test_summary_quantiles_moments_min_max_match_the_full_cube(summary_ds, full_ds):
    q = list(QUANTILES)
    checks = [
        ("electricity", full_ds.electricity),
        ("carbon", full_ds.carbon),
        ("water", full_ds.water),
        ("installed_accelerators", full_ds.installed_accelerators),
    ]
    for b in BOUNDARIES:
        for v in ("electricity", "carbon", "water"):
            checks.append((f"{v}_total", _exact_total(full_ds, v, b).expand_dims(boundary=[b])))
            checks.append((f"{v}_by_region", _exact_total(full_ds, v, b, "region").expand_dims(boundary=[b])))
    checks.append(("electricity_by_component", full_ds.electricity.sum("region")))
    checks.append(("water_by_component", full_ds.water.sum(["region", "water_source"])))
    checks.append(("installed_accelerators_total", full_ds.installed_accelerators.sum("region")))
    for name, exact in checks:
        sel = {"boundary": exact.boundary.values} if "boundary" in exact.dims else {}
        got = summary_ds[f"{name}_quantile"].sel(sel).transpose("quantile", *[d for d in exact.dims if d != "scenario"])
        ref = exact.quantile(q, "scenario").transpose("quantile", *[d for d in exact.dims if d != "scenario"])
        err = np.abs(got.values - ref.values) - 2e-3 * np.abs(ref.values) - 2.0**ks.HIST_EXP_LO
        assert np.all(err <= 0), (name, float(np.max(err)))
        for stat, fn in (("mean", lambda a: a.mean("scenario")), ("variance", lambda a: a.var("scenario", ddof=1))):
            ours = summary_ds[f"{name}_{stat}"].sel(sel).transpose(*got.dims[1:])
            np.testing.assert_allclose(
                ours.values, fn(exact).transpose(*got.dims[1:]).values, rtol=1e-11, atol=1e-12, err_msg=f"{name} {stat}"
            )
        np.testing.assert_allclose(
            summary_ds[f"{name}_min"].sel(sel).transpose(*got.dims[1:]).values,
            exact.min("scenario").transpose(*got.dims[1:]).values,
            rtol=1e-14,
            atol=0,
        )
        np.testing.assert_allclose(
            summary_ds[f"{name}_max"].sel(sel).transpose(*got.dims[1:]).values,
            exact.max("scenario").transpose(*got.dims[1:]).values,
            rtol=1e-14,
            atol=0,
        )
    assert int(summary_ds["count"]) == N


def test_exceedance_probabilities_are_exact(summary_ds, full_ds):
    tot = _exact_total(full_ds, "electricity", "incl_crypto").sel(year=2030)
    carbon = _exact_total(full_ds, "carbon", "dc_only").sel(year=2027)
    p = summary_ds.exceedance_probability.values
    assert p[0] == float((tot > 1000).mean()) and p[1] == float((carbon > 250).mean())
    assert list(summary_ds.threshold_label.values) == [
        "P(electricity incl_crypto 2030 > 1000 TWh)",
        "P(carbon dc_only 2027 > 250 Mt CO2)",
    ]
    frame = exceedance(full_ds, ["2030>1000"])
    assert frame["probability"].iloc[0] == p[0]


@pytest.mark.parametrize("chunk_size", [BLOCK, 3 * BLOCK])
def test_summary_is_bit_identical_whatever_the_chunk_size_and_threads(default_config, summary_ds, chunk_size):
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1 if chunk_size == BLOCK else threads)
        other = run(
            default_config,
            scenarios=N,
            seed=11,
            summary=True,
            thresholds=["2030>1000", "carbon/dc_only:2027>250"],
            chunk_size=chunk_size,
            prior=True,
        )
    finally:
        numba.set_num_threads(threads)
    for name in summary_ds.data_vars:
        np.testing.assert_array_equal(other[name].values, summary_ds[name].values, err_msg=name)


def test_summary_file_layout_provenance_and_cli_reader(tmp_path, default_config, default_text, full_ds):
    path = run_to_file(
        default_config, tmp_path / "s.nc", scenarios=N, seed=11, summary=True, thresholds=["2030>1000"], command="pytest",
        prior=True,
    )
    with xr.open_dataset(path) as ds:
        assert ds.attrs["dcproj_kind"] == "summary" and ds.attrs["seed"] == "11" and ds.attrs["scenarios"] == N
        assert ds.attrs["config_file_text"] == default_text and ds.attrs["command"] == "pytest" and "TechInsights" in ds.attrs["sources"]
        assert ds.electricity_quantile.dims == ("quantile", "year", "region", "component")
        assert ds.electricity_total_quantile.dims == ("quantile", "boundary", "year")
        assert ds.water_quantile.dims == ("quantile", "year", "region", "component", "water_source")
        assert list(ds.boundary.values) == list(BOUNDARIES) and np.allclose(ds["quantile"].values, QUANTILES)
        for name, var in ds.data_vars.items():
            assert var.attrs.get("units") and var.attrs.get("long_name"), name
        assert ds.electricity_mean.attrs["units"] == VARIABLES["electricity"].units
        frame = summarise(ds, "electricity", "dc_only", "region", 2026)
        exact = _exact_total(full_ds, "electricity", "dc_only", "region").sel(year=2026)
        np.testing.assert_allclose(frame["p50"].values, exact.median("scenario").values, rtol=2e-3)
        np.testing.assert_allclose(frame["mean"].values, exact.mean("scenario").values, rtol=1e-12)
        assert list(summarise(ds, by="component").index.names) == ["year", "component"]
        with pytest.raises(ValueError, match="holds no exceedance probability"):
            exceedance(ds, ["2031>5"])
    from click.testing import CliRunner

    from engine.cli import main

    res = CliRunner().invoke(main, ["summary", str(path), "--boundary", "dc_only", "--year", "2030"])
    assert res.exit_code == 0, res.output
    assert f"summary of {N} scenarios" in " ".join(res.output.split())
    assert "p50" in res.output and "TWh" in res.output
    assert "P(electricity incl_crypto" not in res.output  # the stored probabilities follow --boundary
    res = CliRunner().invoke(main, ["summary", str(path), "--year", "2030"])
    assert "P(electricity incl_crypto 2030 > 1000 TWh) = " in res.output


def test_config_thresholds_and_bad_thresholds(tmp_path, default_text):
    data = yaml.safe_load(default_text)
    data["thresholds"] = [{"variable": "electricity", "boundary": "dc_only", "year": 2030, "value": 900}]
    path = tmp_path / "thr.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_config(path)
    spec = build_summary_spec(cfg, build_layout(cfg), [parse_threshold("installed_accelerators:2035>50")])
    assert [t.label() for t in spec.thresholds] == ["P(electricity dc_only 2030 > 900)", "P(installed_accelerators 2035 > 50)"]
    for bad, match in [
        ("2050>1", "outside the run's years"),
        ("steel:2030>1", "unknown variable"),
        ("2030=1", "expected"),
        ("electricity/everything:2030>1", "unknown boundary"),
    ]:
        with pytest.raises(ValueError, match=match):
            build_summary_spec(cfg, build_layout(cfg), [parse_threshold(bad)])


# -- non-finite values ---------------------------------------------------------------------------


@pytest.fixture
def nan_backend():
    """The numba backend with a NaN planted in the carbon of scenario 5000."""
    base = backend_class("numba")

    from engine.backends.host_summary import array_block, summarise_on_host

    @register("nan_test")
    class NanBackend(base):
        project_checked = None  # the generic path: project, then check the arrays (the fused check: test_project_checked.py)

        def summarise_chunk(self, layout, spec, seed, start, count):  # summaries from the (poisoned) projected arrays
            return summarise_on_host(self, layout, spec, seed, start, count, array_block, needs_buffer=True)

        def project(self, layout, x, out):
            super().project(layout, x, out)
            for s in range(x.shape[0]):  # scenario 5000, recognised by its inputs
                if np.array_equal(x[s], self._target):
                    out["carbon"][s, 3, 1, 2] = np.nan

    layout = build_layout(load_config(DEFAULT_CONFIG))
    NanBackend._target = backend_class("numba")().sample(layout, 2, 5000, 1)[0]
    yield "nan_test"
    BACKENDS.pop("nan_test")


@pytest.mark.parametrize("summary", [False, True])
def test_a_non_finite_chunk_fails_naming_the_scenarios_and_inputs(default_config, nan_backend, summary, tmp_path):
    with pytest.raises(NonFiniteError) as info:
        run_to_file(
            default_config, tmp_path / "x.nc", scenarios=3 * BLOCK, seed=2, backend=nan_backend, summary=summary, chunk_size=BLOCK
        )
    msg = str(info.value)
    assert "scenario 5000" in msg and "chunk of scenarios 4096..8191" in msg
    assert "carbon" in msg and "total_2022=" in msg and "pue_ai=" in msg
    assert not list(tmp_path.iterdir())


# -- memory planning -----------------------------------------------------------------------------


def test_chunks_are_planned_within_the_memory_budget(default_config):
    layout = build_layout(default_config)
    per = bytes_per_scenario(layout, np.float32)
    for scenarios in (10**6, 10**9):
        for parallel, processes in ((1, 1), (2, 2), (16, 16)):
            limit = 2**30 + processes * 400 * 2**20
            plan = plan_run(
                layout, scenarios, np.float32, summary=False, memory_limit=limit, parallel=parallel, processes=processes
            )
            assert plan.peak_bytes <= limit
            assert plan.chunk_size * per * (2 * parallel + 2) <= limit
            assert sum(c for _, c in plan.chunks) == scenarios
    small = plan_run(layout, 10**9, np.float32, summary=True, memory_limit=2 * 2**30, parallel=2, processes=2)
    big = plan_run(layout, 10**12, np.float32, summary=True, memory_limit=2 * 2**30, parallel=2, processes=2)
    assert small.peak_bytes == big.peak_bytes <= 2 * 2**30  # summaries: memory does not grow with the scenarios
    assert all(s % BLOCK == 0 for s, _ in big.chunks[:3])
    with pytest.raises(RunError, match="memory-limit"):
        plan_run(layout, 10**6, np.float32, summary=False, memory_limit=100 * 2**20)
    with pytest.raises(RunError, match="memory-limit"):
        plan_run(layout, 10**6, np.float32, summary=True, memory_limit=300 * 2**20, parallel=8, processes=8)


def test_summary_state_checkpoint_round_trip(tmp_path, default_config):
    from engine.execution.tasks import ChunkJob, compute_chunk

    layout = build_layout(default_config)
    spec = build_summary_spec(default_config, layout, [parse_threshold("2030>1000")])
    job = ChunkJob(layout, 4, "numba", "float64", spec)
    state = SummaryState(spec)
    state.add(compute_chunk(job, 0, BLOCK))
    state.save(tmp_path / "state.npz")
    back = SummaryState.load(spec, tmp_path / "state.npz")
    assert back.done == BLOCK and np.array_equal(back.hist, state.hist)
    for name in ("n", "mean", "m2", "vmin", "vmax", "thr_count"):
        np.testing.assert_array_equal(getattr(back, name), getattr(state, name))


@pytest.mark.slow
def test_model_quantiles_within_0_2_percent_at_1e6_scenarios(tmp_path, default_text):
    """10^6 scenarios of a smaller config (2 regions, 2022-2028): every total and cell of
    electricity against exact quantiles of the same scenarios, computed from the cube in slabs."""
    data = yaml.safe_load(default_text)
    regions = ["united_states", "europe"]
    data["regions"] = regions
    data["years"] = {"start": 2022, "end": 2028}
    for key, entries in data["regional_inputs"].items():
        data["regional_inputs"][key] = {r: entries[r] for r in regions}
    data.pop("observations")  # unweighted quantiles here; weighted ones: tests/test_conditioning.py
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = load_config(path)
    n = 1_000_000
    ds = run(cfg, scenarios=n, seed=5, summary=True)
    totals, cells = [], []
    from engine.execution.tasks import ChunkJob, compute_chunk

    for start in range(0, n, 200_000):  # the exact reference, 2e5 scenarios at a time
        part = compute_chunk(ChunkJob(build_layout(cfg), 5, "numba", "float64"), start, 200_000)["electricity"]
        totals.append(np.stack([part[..., BOUNDARIES_IDX[b]].sum(axis=(2, 3)) for b in BOUNDARIES], axis=1))
        cells.append(part[:, [3, 6], 0])  # every component of the first region in 2025 and 2028
    totals = np.concatenate(totals)
    exact = np.quantile(totals, QUANTILES, axis=0)
    got = ds.electricity_total_quantile.values
    assert np.all(np.abs(got - exact) <= 2e-3 * exact), np.max(np.abs(got / exact - 1))
    cells = np.concatenate(cells)
    exact_cells = np.quantile(cells, QUANTILES, axis=0)
    got_cells = ds.electricity_quantile.values[:, [3, 6], 0]
    assert np.all(np.abs(got_cells - exact_cells) <= 2e-3 * exact_cells + 2.0**ks.HIST_EXP_LO)


@pytest.mark.parametrize("weighted", [False, True], ids=["prior", "weighted"])
@pytest.mark.parametrize("count", [BLOCK, 1000])  # whole sub-blocks, and a short last one (1000 = 31 x 32 + 8)
def test_fused_summary_path_equals_the_arrays_path_bit_for_bit(default_config, count, weighted):
    """kernels.cpu_summary.summarise_block (sample + model + likelihood + statistics per
    sub-block, the model writing into the tile) gives the same bits as accumulate_block fed
    with the numba backend's projected arrays (and, conditioned, the weights that
    kernels.cpu_likelihood.scenario_weights computes from them), with 1 or 2 threads."""
    from engine.backends import get_backend
    from kernels.cpu_likelihood import scenario_weights

    layout = build_layout(default_config)
    thresholds = [parse_threshold("2030>900"), parse_threshold("carbon:2026>250")]
    spec = build_summary_spec(default_config, layout, thresholds, prior=not weighted)
    assert spec.observations.weighted is weighted
    k, n_thr = spec.n_cells, spec.thr_value.shape[0]
    tables = (spec.cell_var, spec.cell_ptr, spec.term_idx, spec.thr_ptr, spec.thr_value)
    first = 7 * BLOCK

    def stats():
        return (np.zeros((k, ks.HIST_BINS), np.int64 if weighted else np.int32), np.zeros(n_thr, np.int64), np.empty(k),
                np.empty(k), np.full(k, np.inf), np.full(k, -np.inf), np.full(k, np.iinfo(np.int64).max))  # fmt: skip

    be = get_backend("numba")
    x = be.sample(layout, 11, first, count)
    out = empty_arrays(layout, count, np.float64)
    be.project(layout, x, out)
    e, c, w, a = (out[v].reshape(count, -1) for v in ("electricity", "carbon", "water", "installed_accelerators"))
    ref = stats()
    scratch = cs.new_scratch(k, n_thr, count).arrays()
    if weighted:
        scenario_weights(x, e, c, w, a, layout.n_regions, layout.n_years, spec.cell_var, spec.cell_ptr, spec.term_idx,
                         *spec.observations.arrays(), np.empty(count), scratch[7])  # fmt: skip
        assert 0 < scratch[7][:count].sum() < count * 2**32  # real weights, neither all zero nor all one
    cs.accumulate_block(e, c, w, a, first, weighted, *tables, *scratch, *ref, 2)
    total = scratch[7][:count].sum() if weighted else count
    assert ref[0].sum() == k * total and ref[1].sum() > 0  # every value counted (with its weight); thresholds crossed
    for threads in (1, 2):
        got = stats()
        cs.summarise_block(np.uint64(11), np.int64(first), count, layout.kinds, layout.params, layout.keys, layout.corr_index,
                           layout.corr_factor, layout.n_regions, layout.n_years, *tables, spec.element_offsets(),
                           *spec.observations.arrays(), *cs.new_scratch(k, n_thr, count).arrays(), *got, threads)  # fmt: skip
        for r, g in zip(ref, got, strict=True):
            np.testing.assert_array_equal(g, r)
    # and the block moments are those of the values (numpy, independently): cell 0 is electricity element 0
    v = e[:, 0]
    wt = scratch[7][:count] / 2.0**32 if weighted else np.ones(count)
    mean = np.sum(wt * v) / np.sum(wt)
    np.testing.assert_allclose(ref[2][0], mean, rtol=1e-12)
    np.testing.assert_allclose(ref[3][0], np.sum(wt * (v - mean) ** 2), rtol=1e-9)
