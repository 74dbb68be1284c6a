"""Figures of a run, in one style: fan chart, stacked medians by region or component, prior vs
posterior, storylines side by side, tornado.

Every function takes the run (full cube or summary file; :func:`tornado` takes a ranked table,
:func:`sensitivity_tornado` computes it from the run's scenarios or kept sample),
draws on a :class:`matplotlib.figure.Figure` made without pyplot (no GUI backend, no global
state: Agg renders it), labels the axes with the variable's ``units_label``, and returns the
figure; given ``path`` it also writes it, as PNG or SVG by the suffix, atomically
(:mod:`.files`).  :data:`PLOTS` is the registry ``kind -> function`` behind ``dcproj plot``.
Needs matplotlib (``pip install -e ".[plot]"``), imported only here.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from engine.analysis import answers
from engine.analysis.evidence import comparable, published_estimates
from engine.analysis.files import atomic_output, suffix_of
from engine.analysis.results import is_summary, kept_sample_view
from engine.errors import AnalysisError
from engine.output.variables import VARIABLES

__all__ = ["STYLE", "FORMATS", "PLOTS", "plot", "fan", "regions", "components", "posterior", "storylines", "tornado",
           "sensitivity_tornado", "save", "figure_bytes"]  # fmt: skip

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.dpi": 100,
    "savefig.bbox": "tight",
    "svg.fonttype": "path",  # self-contained SVG: glyphs as paths, no font files
    "svg.hashsalt": "dcproj",  # reproducible ids
}
MAIN, PRIOR = "#1f5f8b", "#9a9a9a"
PALETTE = ("#1f5f8b", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d96a3", "#2e4057", "#a05195")
FORMATS = {"png": {"dpi": 150}, "svg": {"metadata": {"Date": None}}}  # suffix -> savefig options
FAN_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
KIND_MARKER = {"measured": "o", "projected": "D"}


def _styled(func):
    """Run ``func`` under :data:`STYLE`, so every figure looks alike whatever the user's rcParams."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


@_styled
def save(fig: Figure, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``fig`` to ``path`` (PNG or SVG by its suffix) via a temporary file; never a partial file."""
    fmt = suffix_of(path, FORMATS)
    with atomic_output(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format=fmt, **FORMATS[fmt])
    return Path(path)


@_styled
def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """``fig`` rendered in memory as PNG or SVG bytes (for embedding in a report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, **FORMATS[fmt])
    return buf.getvalue()


def _finish(fig: Figure, path, overwrite: bool) -> Figure:
    if path is not None:
        save(fig, path, overwrite=overwrite)
    return fig


def _axes(figsize=(8, 4.8)):
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _ylabel(q: xr.DataArray, variable: str, boundary: str) -> str:
    return f"{variable.replace('_', ' ')}, {boundary} [{q.attrs.get('units_label', q.attrs.get('units', '?'))}]"


def _subtitle(ds: xr.Dataset) -> str:
    n = f"{int(ds.attrs['scenarios']):,} scenarios" if "scenarios" in ds.attrs else ""
    if not answers.is_weighted(ds):
        w = ""
    elif "storyline" in ds.dims:  # one effective sample size per storyline
        from engine.analysis.storylines import names, select

        w = ", weighted (n_eff " + " / ".join(f"{answers.n_effective(select(ds, n)):,.0f}" for n in names(ds)) + ")"
    else:
        w = f", weighted (n_eff = {answers.n_effective(ds):,.0f})"
    return f"config {ds.attrs.get('config_name', '?')}, {n}{w}, dcproj {ds.attrs.get('dcproj_version', '?')}"


def _bands(ax, q: xr.DataArray, color: str, label: str) -> None:
    """Median line with 50 % and 90 % bands from quantiles at :data:`FAN_LEVELS`."""
    years = q["year"].values
    p = {lvl: q.sel(quantile=lvl).values for lvl in FAN_LEVELS}
    ax.fill_between(years, p[0.05], p[0.95], color=color, alpha=0.18, linewidth=0, label=f"{label} 90 % interval")
    ax.fill_between(years, p[0.25], p[0.75], color=color, alpha=0.35, linewidth=0, label=f"{label} 50 % interval")
    ax.plot(years, p[0.5], color=color, linewidth=2, label=f"{label} median")


def _published(ax, ds, variable, boundary, table) -> None:
    """The global published estimates of ``boundary`` as markers, coloured by source."""
    rows = comparable(published_estimates() if table is None else table, ds, variable, boundary)
    handles = []
    for i, (source, group) in enumerate(rows.groupby("source", sort=True)):
        color = PALETTE[1 + i % (len(PALETTE) - 1)]
        for _, r in group.iterrows():
            lo = r["low"] if np.isfinite(r["low"]) else (r["value"] if np.isfinite(r["value"]) else r["high"])
            hi = r["high"] if np.isfinite(r["high"]) else (r["value"] if np.isfinite(r["value"]) else r["low"])
            ax.vlines(r["year"], lo, hi, color=color, linewidth=2.5)
            if np.isfinite(r["value"]):
                ax.plot(
                    r["year"], r["value"], KIND_MARKER.get(r["kind"], "s"), color=color, markeredgecolor="white", markersize=7
                )
        name = source if len(source) <= 60 else source[:58] + "…"
        handles.append(Line2D([], [], color=color, marker="s", linestyle="", label=f"{name} [{boundary}]"))
    if handles:
        kinds = [Line2D([], [], color="black", marker=m, linestyle="", label=k) for k, m in KIND_MARKER.items()]
        kinds.append(Line2D([], [], color="black", linewidth=2.5, label="published range (low-high)"))
        ax.figure.legend(handles=handles + kinds, loc="outside lower center", ncols=2, title="published estimates (global)")


@_styled
def fan(
    ds, path=None, *, boundary="dc_only", variable="electricity", region=None, published=True, table=None, overwrite=False
) -> Figure:
    """Fan chart of the total per year: median, 50 % and 90 % bands [the variable's units].

    Parameters
    ----------
    ds
        A full cube (weighted if it has a ``weight`` variable) or a summary file.
    boundary, variable, region
        What to total (``region=None``: global).
    published
        Mark the global published estimates of the same boundary and unit (:mod:`.evidence`);
        ``table`` replaces the repository's table.
    path, overwrite
        Also write the figure there (``.png`` or ``.svg``).
    """
    q = answers.total_quantiles(ds, FAN_LEVELS, variable, boundary, region=region)
    fig, ax = _axes((9, 6.4) if published and region is None else (8, 4.8))
    _bands(ax, q, MAIN, "dcproj")
    if published and region is None:
        _published(ax, ds, variable, boundary, table)
    ax.legend(loc="upper left")
    ax.set(xlabel="year", ylabel=_ylabel(q, variable, boundary), ylim=(0, None))
    ax.set_title(f"{variable.replace('_', ' ')} {boundary}, {region or 'global'}\n{_subtitle(ds)}")
    return _finish(fig, path, overwrite)


def _stacked(ds, by: str, path, boundary, variable, overwrite) -> Figure:
    med = answers.total_quantiles(ds, [0.5], variable, boundary, by=by).sel(quantile=0.5)
    total = answers.total_quantiles(ds, [0.5], variable, boundary).sel(quantile=0.5)
    fig, ax = _axes()
    parts = [str(p) for p in med[by].values]
    ax.stackplot(
        med["year"].values,
        *[med.sel({by: p}).values for p in parts],
        labels=[p.replace("_", " ") for p in parts],
        colors=(PALETTE * 2)[: len(parts)],
        alpha=0.85,
    )
    ax.plot(total["year"].values, total.values, "k--", linewidth=1.5, label="median of the total")
    ax.legend(loc="upper left", reverse=True)
    ax.set(xlabel="year", ylabel=_ylabel(med, variable, boundary), ylim=(0, None))
    ax.set_title(
        f"median {variable.replace('_', ' ')} by {by}, {boundary} (medians stacked; their sum is not the median of the total)\n"
        f"{_subtitle(ds)}",
        fontsize=10,
    )
    return _finish(fig, path, overwrite)


@_styled
def regions(ds, path=None, *, boundary="dc_only", variable="electricity", overwrite=False) -> Figure:
    """Stacked areas of the median per region [the variable's units], with the median of the total."""
    return _stacked(ds, "region", path, boundary, variable, overwrite)


@_styled
def components(ds, path=None, *, boundary="dc_only", variable="electricity", overwrite=False) -> Figure:
    """Stacked areas of the median per component of ``boundary`` [the variable's units]."""
    return _stacked(ds, "component", path, boundary, variable, overwrite)


@_styled
def posterior(ds, path=None, *, boundary="dc_only", variable="electricity", region=None, overwrite=False) -> Figure:
    """Prior (every scenario alike) vs posterior (weighted by ``weight``) fan chart [the variable's units].

    A full cube: both from its scenarios.  A weighted summary file: the posterior from its
    streaming (weighted) quantiles of every scenario, the prior from its kept scenarios without
    their weights (the legend gives their count).
    """
    view = kept_sample_view(ds) if is_summary(ds) else ds  # a summary without a kept sample: an error naming why
    if answers.weights(view) is None:
        raise AnalysisError("the file has no 'weight' variable: there is no posterior to compare with the prior")
    prior = answers.total_quantiles(view.drop_vars("weight"), FAN_LEVELS, variable, boundary, region=region)
    post = answers.total_quantiles(ds, FAN_LEVELS, variable, boundary, region=region)
    fig, ax = _axes()
    _bands(ax, prior, PRIOR, f"prior (the {view.sizes['scenario']:,} kept scenarios)" if view is not ds else "prior")
    _bands(ax, post, MAIN, "posterior")
    ax.legend(loc="upper left")
    ax.set(xlabel="year", ylabel=_ylabel(post, variable, boundary), ylim=(0, None))
    ax.set_title(f"prior vs posterior: {variable.replace('_', ' ')} {boundary}, {region or 'global'}\n{_subtitle(ds)}")
    return _finish(fig, path, overwrite)


@_styled
def storylines(ds, path=None, *, boundary="dc_only", variable="electricity", region=None, overwrite=False) -> Figure:
    """The storylines of a storylines file side by side: per storyline a panel with the median and
    the 90 % interval of the total per year [the variable's units]; the first storyline's median
    is repeated, dashed, in the other panels for reference.

    Parameters
    ----------
    ds
        A file with a ``storyline`` dim (``dcproj run --storylines``), full cube or summary.
    boundary, variable, region
        What to total (``region=None``: global).
    """
    from engine.analysis.storylines import names, select

    stories = names(ds)
    q = {n: answers.total_quantiles(select(ds, n), (0.05, 0.5, 0.95), variable, boundary, region=region) for n in stories}
    fig = Figure(figsize=(max(6.0, 3.2 * len(stories)), 4.6), layout="constrained")
    axes = fig.subplots(1, len(stories), sharey=True, squeeze=False)[0]
    first = q[stories[0]].sel(quantile=0.5)
    for i, (ax, n) in enumerate(zip(axes, stories, strict=True)):
        color, years = PALETTE[i % len(PALETTE)], q[n]["year"].values
        ax.fill_between(years, q[n].sel(quantile=0.05).values, q[n].sel(quantile=0.95).values, color=color, alpha=0.2,
                        linewidth=0, label="90 % interval")  # fmt: skip
        ax.plot(years, q[n].sel(quantile=0.5).values, color=color, linewidth=2, label=f"{n} median")
        if i:
            ax.plot(years, first.values, color="black", linewidth=1, linestyle="--", label=f"{stories[0]} median")
        ax.set(title=n, xlabel="year", ylim=(0, None))
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.legend(loc="upper left")
    axes[0].set_ylabel(_ylabel(first, variable, boundary))
    fig.suptitle(f"storylines: {variable.replace('_', ' ')} {boundary}, {region or 'global'} (same seed: common random numbers)\n"
                 f"{_subtitle(ds)}", fontsize=10)  # fmt: skip
    return _finish(fig, path, overwrite)


@_styled
def tornado(frame: pd.DataFrame, path=None, *, units: str = "", title: str = "sensitivity", sides=("low side", "high side"),
            overwrite=False) -> Figure:  # fmt: skip
    """Tornado chart of a ranked table (first row on top).

    Parameters
    ----------
    frame
        Columns ``input``, ``value``, ``low``, ``high``: per input, a bar from ``low`` to ``high``
        split at ``value`` (e.g. the output at the input's low and high ends around the
        baseline, or an index with its interval) [``units``].
    units
        The unit of the values, for the axis label.
    sides
        Legend labels of the two halves of a bar (left of ``value``, right of it).
    """
    missing = [c for c in ("input", "value", "low", "high") if c not in frame.columns]
    if missing:
        raise AnalysisError(f"a tornado needs the columns input, value, low, high; the table lacks {missing}")
    rows = frame.reset_index(drop=True)
    fig, ax = _axes((8, 0.9 + 0.35 * max(len(rows), 1)))
    y = np.arange(len(rows))[::-1]
    value, low, high = (rows[c].to_numpy(dtype=float) for c in ("value", "low", "high"))
    lo, hi = np.minimum(low, high), np.maximum(low, high)
    ax.barh(y, value - lo, left=lo, color=PALETTE[1], height=0.6, label=sides[0])
    ax.barh(y, hi - value, left=value, color=PALETTE[0], height=0.6, label=sides[1])
    ax.plot(value, y, "|", color="black", markersize=14, label="value")
    if len(rows) and np.allclose(value, value[0]):
        ax.axvline(value[0], color="black", linewidth=0.8)
    ax.set_yticks(y, [str(i) for i in rows["input"]])
    ax.set(xlabel=f"{title} [{units}]" if units else title, title=title)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right")
    return _finish(fig, path, overwrite)


@_styled
def sensitivity_tornado(ds, path=None, *, year=None, boundary="dc_only", variable="electricity", measure="spearman",
                        top: int = 15, bootstrap: int = 100, seed: int = 0, overwrite=False) -> Figure:  # fmt: skip
    """Tornado of the run's own sensitivity in ``year``: per input a bar from 0 to the measure (dimensionless),
    with its bootstrap 95 % interval as a whisker, the ``top`` inputs by |value|.

    Computed by :func:`engine.analysis.sensitivity.sensitivity` from the scenarios of a full cube or
    the kept sample of a summary file (weighted when the file has a ``weight`` variable).

    Parameters
    ----------
    year
        The year (required).
    measure
        ``spearman`` (signed rank correlation, the classic tornado), ``prcc``, ``first_order`` or ``delta``.
    bootstrap, seed
        Replicates and seed of the intervals.
    """
    from engine.analysis.estimators import MEASURES
    from engine.analysis.sensitivity import ranked_table, sensitivity

    if year is None:
        raise AnalysisError("a tornado shows one year: pass year= (dcproj plot --kind tornado --year 2030)")
    if measure not in MEASURES:
        raise AnalysisError(f"unknown sensitivity measure {measure!r}; expected one of {list(MEASURES)}")
    if variable not in VARIABLES:
        raise AnalysisError(f"unknown variable {variable!r}; expected one of {sorted(VARIABLES)}")
    has_boundary = "component" in VARIABLES[variable].dims
    sens = sensitivity(ds, year=year, boundary=boundary if has_boundary else None, variable=variable, measures=[measure],
                       bootstrap=bootstrap, seed=seed)  # fmt: skip
    ranked = ranked_table(sens, year, boundary if has_boundary else None, measure).head(top)
    v = ranked["value"].to_numpy(dtype=float)
    frame = pd.DataFrame({"input": ranked["input"], "value": 0.0, "low": np.minimum(v, 0.0), "high": np.maximum(v, 0.0)})
    where = f" {boundary}" if has_boundary else ""
    title = f"{MEASURES[measure].long_name} of {variable.replace('_', ' ')}{where} {year}"
    fig = tornado(frame, title=title, sides=("negative", "positive"))
    ax = fig.axes[0]
    for line in [ln for ln in ax.get_lines() if ln.get_label() == "value"]:  # every bar starts at 0: no value marks
        line.remove()
    y = np.arange(len(ranked))[::-1]
    err = np.vstack([v - ranked["low"].to_numpy(dtype=float), ranked["high"].to_numpy(dtype=float) - v])
    if np.isfinite(err).all():
        ax.errorbar(v, y, xerr=np.abs(err), fmt="none", ecolor="black", elinewidth=1, capsize=3, label="95 % bootstrap interval")
    ax.legend(loc="lower right")
    ax.set_title(f"{title}\n{_subtitle(ds)}", fontsize=10)
    return _finish(fig, path, overwrite)


PLOTS = {
    "fan": fan,
    "regions": regions,
    "components": components,
    "posterior": posterior,
    "storylines": storylines,
    "tornado": sensitivity_tornado,
}  # kind -> function(ds, path, **options)


def plot(ds, kind: str, path=None, **options) -> Figure:
    """Draw the figure ``kind`` (one of :data:`PLOTS`) of ``ds``; see each function for its options."""
    if kind not in PLOTS:
        raise AnalysisError(f"unknown plot kind {kind!r}; expected one of {sorted(PLOTS)} (a ranked table: plots.tornado(frame))")
    if kind != "storylines" and "storyline" in ds.dims:
        raise AnalysisError(
            f"a storylines file holds several runs: draw --kind storylines, or choose one with --storyline NAME "
            f"(in Python ds.sel(storyline=NAME)) for --kind {kind}; it holds {[str(n) for n in ds['storyline'].values]}"
        )
    return PLOTS[kind](ds, path, **options)
