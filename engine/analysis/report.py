"""``report(ds, path)``: one self-contained HTML page answering the analysts' first questions.

The page holds its figures as base64 PNG (``data:`` URIs) and its style inline: it loads
nothing, from the network or from disk.  Sections, in order (:data:`SECTIONS`, a registry of
``id -> builder``; a builder returning ``None`` leaves its section out):

* headline numbers with their Monte Carlo error: median and 90 % interval of the ``dc_only``
  and ``incl_crypto`` electricity totals for 2024, 2026, 2030, 2035 (the years present), and
  P(2030 > 1000 TWh) with its standard error;
* the fan charts (with published estimates), and prior vs posterior when weighted;
* published estimates beside the run (:func:`engine.analysis.evidence.compare`);
* optional slots, clearly marked: ``sensitivity`` (a ranked table: input, value, low, high) and
  ``storylines`` (a table; a storylines file, with a ``storyline`` dim, fills it itself: the
  storylines side by side, figure and table, with their descriptions, sources and overrides,
  while the other sections show its first storyline);
* assumptions with their sources (the ``input_source`` coordinate, else the ``sources`` attribute);
* provenance: version, config, seed, command, created, code hash, the config text.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from engine.analysis import answers
from engine.analysis.evidence import UNIT_VARIABLE, compare, published_estimates
from engine.analysis.files import atomic_output
from engine.analysis.results import is_summary, kept_sample_view
from engine.analysis.weighted import quantile_over
from engine.errors import AnalysisError
from engine.output.variables import BOUNDARIES

__all__ = ["SECTIONS", "HEADLINE_YEARS", "report", "render"]

HEADLINE_YEARS = (2024, 2026, 2030, 2035)
HEADLINE_LEVELS = (0.05, 0.5, 0.95)
EVENT = (2030, 1000.0)  # P(total in 2030 > 1000 TWh)
PROVENANCE = (
    "dcproj_version",
    "dcproj_kind",
    "config_name",
    "config_path",
    "config_sha256",
    "seed",
    "scenarios",
    "backend",
    "command",
    "created",
    "dcproj_code_sha256",
)
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1d;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #1f5f8b;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}
th{background:#eef3f7;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.inside{color:#1b7a3a;font-weight:600}.below,.above{color:#b3261e;font-weight:600}
.slot{border:2px dashed #9aa;padding:.2em 1em;background:#fafafa}.muted{color:#666;font-size:.9em}
img{max-width:100%;height:auto}pre{background:#f4f4f4;padding:.8em;overflow-x:auto;font-size:.8em}
"""


@dataclass
class _Context:
    ds: xr.Dataset
    sensitivity: pd.DataFrame | None
    storylines: pd.DataFrame | None
    table: pd.DataFrame | None
    years: list[int]
    stories: xr.Dataset | None = None  # the whole storylines file (ds is then its first storyline)


def _e(x) -> str:
    return html.escape(str(x))


def _n(x: float) -> str:
    """A number for people: thousands separators, about three significant figures."""
    if not np.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


def _se(x: float) -> str:
    """A Monte Carlo error: two significant figures (whole numbers from 100 up)."""
    if not np.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{float(f'{x:.2g}'):,g}"


def _table(header, rows, numeric=()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _png(fig, alt: str) -> str:
    from engine.analysis.plots import figure_bytes

    data = base64.b64encode(figure_bytes(fig, "png")).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _headline(ctx: _Context) -> str:
    ds, rows = ctx.ds, []
    for boundary in ("dc_only", "incl_crypto"):
        q = answers.total_quantiles(ds, HEADLINE_LEVELS, "electricity", boundary, years=ctx.years)
        se = answers.quantile_standard_error(ds, HEADLINE_LEVELS, "electricity", boundary, years=ctx.years)
        for y in ctx.years:
            (p5, p50, p95), (s5, s50, s95) = q.sel(year=y).values, se.sel(year=y).values
            rows.append([_e(boundary), str(y), f"{_n(p50)} ± {_se(s50)}", f"{_n(p5)} ± {_se(s5)}", f"{_n(p95)} ± {_se(s95)}"])
    out = [_table(["boundary", "year", "median [TWh]", "5 % [TWh]", "95 % [TWh]"], rows, numeric=(2, 3, 4))]
    year, value = EVENT
    events = []
    for boundary in ("dc_only", "incl_crypto"):
        try:
            ex = answers.exceedance(ds, value, year, boundary)
            events.append(f"<li><b>{_e(ex.event)} = {ex.probability:.3f} ± {ex.standard_error:.3f}</b></li>")
        except AnalysisError as exc:
            events.append(f"<li>P(electricity {boundary} {year} &gt; {value:g} TWh): not available ({_e(exc)})</li>")
    out.append("<ul>" + "".join(events) + "</ul>")
    out.append(f'<p class="muted">± is the Monte Carlo standard error ({_mc_method(ds)}). {_weights_note(ds)}</p>')
    return "".join(out)


def _mc_method(ds) -> str:
    if ds.attrs.get("dcproj_kind") == "summary":
        return (
            "summary file: slope of the stored quantile function times √(p(1−p)/n); the histogram's own "
            "≤ 0.2 % relative error comes on top; probabilities √(p(1−p)/n)"
        )
    return "quantiles: distribution-free order-statistic interval / 1.96; probabilities: √(p(1−p)/n_eff)"


def _weights_note(ds) -> str:
    if "storyline" in ds.dims:
        return "Storylines: each storyline's statistics carry its own weights and effective sample size."
    if not answers.is_weighted(ds):
        return f"Every scenario weighs the same (n = {answers.n_effective(ds):,.0f})."
    of = int(ds["count"]) if is_summary(ds) else ds.sizes["scenario"]
    return (
        "Scenarios are weighted by the likelihood of the observations (the file's weights): Kish effective "
        f"sample size n_eff = {answers.n_effective(ds):,.0f} of {of:,} scenarios."
    )


def _fan(ctx: _Context) -> str:
    from engine.analysis.plots import fan

    parts = []
    for boundary in ("dc_only", "incl_crypto"):
        fig = fan(ctx.ds, boundary=boundary, table=ctx.table, published=ctx.table is not None)
        parts.append(_png(fig, f"fan chart of electricity, {boundary}"))
    return (
        "<p>Median, 50 % and 90 % intervals per year; published global estimates of the same boundary as markers.</p>"
        + "".join(parts)
    )


def _posterior(ctx: _Context) -> str | None:
    if not answers.is_weighted(ctx.ds) or "storyline" in ctx.ds.dims or (is_summary(ctx.ds) and "sample_weight" not in ctx.ds):
        return None
    from engine.analysis.plots import posterior

    return _png(posterior(ctx.ds, boundary="dc_only"), "prior vs posterior fan chart") + f"<p>{_weights_note(ctx.ds)}</p>"


def _span(low: float, high: float) -> str:
    """A published range: ``low–high``, ``≥ low``, ``≤ high`` or nothing."""
    ends = (np.isfinite(low), np.isfinite(high))
    return {(True, True): f"{_n(low)}–{_n(high)}", (True, False): f"≥ {_n(low)}", (False, True): f"≤ {_n(high)}"}.get(ends, "")


def _published(ctx: _Context) -> str:
    if ctx.table is None:
        return "<p>The table of published estimates (configs/evidence/published_estimates.csv) was not found.</p>"
    cmp = compare(ctx.ds, ctx.table)
    rows = []
    for _, r in cmp.iterrows():
        span = _span(r["low"], r["high"])
        pub = (_n(r["value"]) + (f" ({span})" if span else "")) if np.isfinite(r["value"]) else span
        rows.append(
            [
                _e(r["id"]),
                _e(r["source"]),
                _e(r["scenario"] or r["kind"]),
                _e(r["boundary"]),
                str(r["year"]),
                f"{pub} {_e(r['unit'])}",
                _n(r["p50"]),
                f"{_n(r['p5'])}–{_n(r['p95'])}",
                f'<span class="{r["verdict"]}">{r["verdict"]}</span>',
            ]
        )
    note = (
        "<p>Global rows of the table in a year the run covers, in a boundary the run projects (dc_only, incl_crypto) "
        f"and a unit it projects ({', '.join(UNIT_VARIABLE)}). Verdict: the published value lies inside, below or above the "
        "run's 90 % interval; a published range with no central value is <i>inside</i> when it overlaps it.</p>"
    )
    left = len(ctx.table) - len(cmp)
    header = ["id", "source", "case", "boundary", "year", "published", "run median", "run 90 %", "verdict"]
    return (
        note
        + _table(header, rows, numeric=(5, 6, 7))
        + f'<p class="muted">{left} other rows (regional, other boundaries or units, other years) are not compared.</p>'
    )


def _slot(name: str, how: str) -> str:
    return f'<div class="slot"><!-- dcproj:slot {name} --><p class="muted">Optional section, not included: {how}</p></div>'


def _sensitivity(ctx: _Context) -> str:
    if ctx.sensitivity is None:
        return _slot("sensitivity", "<code>dcproj report RUN.nc --sensitivity FILE</code> (the .csv or .nc of <code>dcproj sensitivity</code>; in Python "
                     "<code>sensitivity=</code> a ranked table, columns input, value, low, high).")
    from engine.analysis.plots import tornado

    fig = tornado(ctx.sensitivity, title="sensitivity")
    return (
        '<div class="slot"><!-- dcproj:slot sensitivity -->'
        + _png(fig, "tornado chart")
        + ctx.sensitivity.to_html(index=False, escape=True)
        + "</div>"
    )


def _stories(ctx: _Context) -> str:
    """The storylines of a storylines file side by side: a figure, the headline years' numbers, what each assumes."""
    from engine.analysis.plots import storylines as figure
    from engine.analysis.storylines import compare, described

    ds, parts = ctx.stories, []
    parts.append(_png(figure(ds, boundary="dc_only"), "storylines side by side"))
    frame = compare(ds, "electricity", "dc_only").loc[ctx.years]
    names = list(dict.fromkeys(frame.columns.get_level_values(0)))
    def cell(y, n):
        return f"{_n(frame.loc[y, (n, 'p50')])} ({_n(frame.loc[y, (n, 'p5')])}–{_n(frame.loc[y, (n, 'p95')])})"

    rows = [[str(y), *[cell(y, n) for n in names]] for y in ctx.years]
    parts.append(_table(["year", *[f"{n}: median (5–95 %) [TWh]" for n in names]], rows, numeric=tuple(range(1, len(names) + 1))))
    info = [[_e(r["storyline"]), _e(r["description"]), "<br>".join(_e(x) for x in r["sources"].splitlines()),
             "<br>".join(_e(x) for x in r["overrides"].split("; "))] for _, r in described(ds).iterrows()]  # fmt: skip
    parts.append(_table(["storyline", "description", "sources", "overrides"], info))
    note = (
        f"<p>Electricity, dc_only, global. Every storyline is the config with its overrides, run with the same seed "
        f"(common random numbers); the other sections of this page show the first storyline, {_e(names[0])}.</p>"
    )
    return '<div class="slot"><!-- dcproj:slot storylines -->' + note + "".join(parts) + "</div>"


def _storylines(ctx: _Context) -> str:
    if ctx.stories is not None and ctx.storylines is None:
        return _stories(ctx)
    if ctx.storylines is None:
        return _slot("storylines", "report a storylines file (<code>dcproj run --storylines</code>), or <code>--storylines FILE</code> (a CSV table; in Python "
                     "<code>storylines=</code>).")
    return '<div class="slot"><!-- dcproj:slot storylines -->' + ctx.storylines.to_html(index=False, escape=True) + "</div>"


def _assumptions(ctx: _Context) -> str:
    ds = ctx.ds
    if "input_source" in ds.coords:
        view = kept_sample_view(ds) if is_summary(ds) and "sample_inputs" in ds else ds  # a summary: its kept scenarios
        x = view["inputs"] if "inputs" in view else None
        q = quantile_over(x, answers.weights(view), HEADLINE_LEVELS) if x is not None else None
        rows = []
        for i, name in enumerate(ds["input"].values):
            qs = [_n(v) for v in q.isel(input=i).values] if q is not None else ["–"] * 3
            rows.append(
                [
                    _e(name),
                    _e(ds["input_long_name"].values[i]),
                    _e(ds["input_units"].values[i]),
                    *qs,
                    _e(ds["input_source"].values[i]),
                ]
            )
        how = "weighted by the observations' likelihood (the posterior)" if answers.is_weighted(ds) else "every scenario alike"
        if view is not ds:
            how += f", from the {view.sizes['scenario']:,} kept scenarios"
        note = f'<p class="muted">5 %, median, 95 %: quantiles of the raw draws over the scenarios, {how}.</p>'
        return note + _table(["input", "description", "units", "5 %", "median", "95 %", "source"], rows, numeric=(3, 4, 5))
    lines = [ln.partition(": ") for ln in str(ds.attrs.get("sources", "")).splitlines() if ln.strip()]
    if not lines:
        return "<p>The file records no sources.</p>"
    return _table(["input", "source"], [[_e(k), _e(v)] for k, _, v in lines])


def _provenance(ctx: _Context) -> str:
    ds = ctx.ds
    rows = [[_e(k), f"<code>{_e(ds.attrs[k])}</code>"] for k in PROVENANCE if k in ds.attrs]
    text = ds.attrs.get("config_file_text") or ds.attrs.get("config")
    cfg = f"<details><summary>config text</summary><pre>{_e(text)}</pre></details>" if text else ""
    return _table(["attribute", "value"], rows) + cfg


SECTIONS = {  # id -> (title, builder(ctx) -> HTML or None)
    "headline": ("Headline numbers", _headline),
    "projection": ("Projection", _fan),
    "posterior": ("Prior vs posterior", _posterior),
    "published": ("Comparison with published estimates", _published),
    "sensitivity": ("Sensitivity (optional)", _sensitivity),
    "storylines": ("Storylines (optional)", _storylines),
    "assumptions": ("Assumptions and their sources", _assumptions),
    "provenance": ("Provenance", _provenance),
}


def _years(ds, years) -> list[int]:
    if years is not None:
        return answers.check_years(ds, years)
    have = [int(y) for y in ds["year"].values]
    return [y for y in HEADLINE_YEARS if y in have] or sorted({have[0], have[-1]})


def render(ds: xr.Dataset, *, sensitivity=None, storylines=None, table="default", years=None) -> str:
    """The report's HTML text (see :func:`report`)."""
    if ds.attrs.get("dcproj_kind") not in ("full", "summary"):
        raise AnalysisError("not a dcproj run file (no dcproj_kind attribute 'full' or 'summary')")
    for name, frame in (("sensitivity", sensitivity), ("storylines", storylines)):
        if frame is not None and not isinstance(frame, pd.DataFrame):
            raise AnalysisError(f"{name} must be a pandas DataFrame; got {type(frame).__name__}")
    if isinstance(table, str) and table == "default":
        try:
            table = published_estimates()
        except AnalysisError:
            table = None
    stories = None
    if "storyline" in ds.dims:  # a storylines file: the storylines section, the rest of the page of the first one
        stories, ds = ds, ds.isel(storyline=0)
    ctx = _Context(ds, sensitivity, storylines, table, _years(ds, years), stories)
    scenarios = int(ds.attrs.get("scenarios", 0))
    title = f"dcproj report: {ds.attrs.get('config_name', '?')} ({scenarios:,} scenarios, {ds.attrs.get('dcproj_kind')})"
    body = []
    for sid, (heading, build) in SECTIONS.items():
        content = build(ctx)
        if content is not None:
            body.append(f'<section id="{sid}"><h2>{_e(heading)}</h2>{content}</section>')
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"
        f'<p class="muted">Boundaries: {_e("; ".join(f"{b}: {len(c)} components" for b, c in BOUNDARIES.items()))} '
        f"(dc_only leaves out crypto mining). Electricity in TWh per year.</p>{''.join(body)}</body></html>"
    )


def report(
    ds: xr.Dataset, path: str | Path, *, sensitivity=None, storylines=None, table="default", years=None, overwrite=False
) -> Path:
    """Write one self-contained HTML report of the run to ``path`` (atomically).

    Parameters
    ----------
    ds
        A full cube (weighted if it has a ``weight`` variable) or a summary file; a storylines
        file (``storyline`` dim) gets a storylines section and its first storyline elsewhere.
    sensitivity
        Optional ranked table (pandas; columns input, value, low, high) for the sensitivity slot.
    storylines
        Optional table (pandas) for the storylines slot (a storylines file fills it itself).
    table
        Published estimates (a DataFrame of :func:`~engine.analysis.evidence.published_estimates`),
        ``"default"`` for the repository's table, or ``None`` to leave them out.
    years
        Headline years (default: 2024, 2026, 2030, 2035 where present).
    overwrite
        Replace an existing ``path``.
    """
    text = render(ds, sensitivity=sensitivity, storylines=storylines, table=table, years=years)
    with atomic_output(path, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
