"""The HTML report: its numbers (checked against numpy and the summary file), its sections and
slots, that it is self-contained, and that a real headless browser renders it without fetching
anything (Debian's chromium; skipped with the reason when it is not installed)."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install -e '.[plot]')")

from matplotlib.image import imread  # noqa: E402

from engine.analysis.evidence import compare, published_estimates  # noqa: E402
from engine.analysis.report import render, report  # noqa: E402
from engine.cli.present_cmds import report_cmd  # noqa: E402
from tests import _analysis_runs as runs  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FETCHING = re.compile(
    r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I
)
SENSITIVITY = pd.DataFrame(
    {"input": ["pue_ai", "k_srv"], "value": [1000.0, 1000.0], "low": [800.0, 900.0], "high": [1300.0, 1050.0]}
)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    report(runs.cube(), path, sensitivity=SENSITIVITY)
    return path


def _fmt(x):
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.3g}"


def test_headline_numbers_are_the_cube_quantiles(page):
    text = page.read_text()
    ds = runs.cube()
    tot = runs.dc_total_numpy(ds)
    i = list(ds.year.values).index(2030)
    med = np.quantile(tot[:, i], 0.5)
    assert f'<td>dc_only</td><td>2030</td><td class="num">{_fmt(med)} ± ' in text
    p = np.mean(tot[:, i] > 1000)
    assert f"P(electricity dc_only 2030 &gt; 1000 TWh) = {p:.3f} ± {np.sqrt(p * (1 - p) / tot.shape[0]):.3f}" in text
    for year in (2024, 2026, 2030, 2035):
        assert f"<td>incl_crypto</td><td>{year}</td>" in text


def test_sections_slots_assumptions_and_provenance(page):
    text = page.read_text()
    for sid in ("headline", "projection", "published", "sensitivity", "storylines", "assumptions", "provenance"):
        assert f'<section id="{sid}">' in text
    assert 'id="posterior"' not in text  # unweighted
    assert "<!-- dcproj:slot sensitivity -->" in text and "<!-- dcproj:slot storylines -->" in text
    assert "Optional section, not included" in text  # the empty storylines slot
    ds = runs.cube()
    for source in set(ds.input_source.values):
        assert html.escape(str(source)) in text
    for key in ("dcproj_version", "config_name", "seed", "command", "created"):
        assert html.escape(str(ds.attrs[key])) in text
    assert text.count("data:image/png;base64,") == 3  # two fan charts and the tornado


def test_the_page_is_self_contained(page):
    text = page.read_text()
    assert not FETCHING.search(text), FETCHING.search(text)
    assert "<script" not in text and "<link" not in text and "<iframe" not in text
    assert FETCHING.search('<img src="https://example.org/x.png">')  # the check can fail


def test_published_comparison_verdicts():
    ds = runs.cube()
    cmp = compare(ds, published_estimates()).set_index("id")
    tot = runs.dc_total_numpy(ds)
    i = list(ds.year.values).index(2030)
    p5, p50, p95 = np.quantile(tot[:, i], [0.05, 0.5, 0.95])
    row = cmp.loc["iea_eai_dc_2030_base"]
    assert (row.p5, row.p50, row.p95) == pytest.approx((p5, p50, p95), rel=1e-12)
    assert row.verdict == ("below" if 945 < p5 else "above" if 945 > p95 else "inside")
    assert "iea_e24_crypto_2022" not in cmp.index and "iea_eai_united_states_2024" not in cmp.index  # narrower, regional
    weo = cmp.loc["iea_weo24_dc_2022"]  # a range only (240-340 TWh): inside when it overlaps the run's interval
    lo, hi = np.quantile(tot[:, 0], [0.05, 0.95])
    assert weo.compared == "range" and weo.verdict == ("below" if 340 < lo else "above" if 240 > hi else "inside")


def test_summary_report_uses_the_stored_numbers(tmp_path):
    s = runs.summary()
    text = render(s)
    med = float(s.electricity_total_quantile.sel(boundary="incl_crypto", quantile=0.5, year=2026))
    assert f'<td>incl_crypto</td><td>2026</td><td class="num">{_fmt(med)} ± ' in text
    p = float(s.exceedance_probability.values[list(s.threshold_boundary.values).index("dc_only")])
    assert f"P(electricity dc_only 2030 &gt; 1000 TWh) = {p:.3f}" in text
    assert "summary file: slope of the stored quantile function" in text
    assert "<th>input</th><th>description</th><th>units</th>" in text and "from the 2,000 kept scenarios" in text  # the kept inputs


def test_weighted_report_has_the_posterior(tmp_path):
    ds = runs.with_weights(runs.cube(), runs.smooth_weights(runs.cube()))
    text = render(ds, table=None, years=[2030])
    assert '<section id="posterior">' in text and "Kish effective sample size" in text
    assert "<td>dc_only</td><td>2024</td>" not in text


def test_report_command(tmp_path):
    out = tmp_path / "r.html"
    SENSITIVITY.to_csv(tmp_path / "sens.csv", index=False)
    res = CliRunner().invoke(
        report_cmd, [str(runs.summary_file()), "--out", str(out), "--year", "2030", "--sensitivity", str(tmp_path / "sens.csv")]
    )
    assert res.exit_code == 0, res.output
    assert "tornado chart" in out.read_text()
    res = CliRunner().invoke(report_cmd, [str(runs.summary_file()), "--out", str(out)])
    assert res.exit_code == 2 and "exists; add --overwrite" in res.output
    res = CliRunner().invoke(report_cmd, [str(runs.summary_file()), "--out", str(tmp_path / "x.html"), "--year", "1999"])
    assert res.exit_code == 2 and "year 1999 is not in the file" in res.output
    res = CliRunner().invoke(report_cmd, [str(runs.summary_file()), "--out", str(tmp_path / "x.pdf")])
    assert res.exit_code == 2 and "suffix 'pdf'" in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "sens.csv"]


# --- a real browser -------------------------------------------------------------------------


def _chromium(tmp_path, url: str, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([CHROMIUM, *flags, *extra, url], capture_output=True, text=True, timeout=120)


def _page_requests(netlog) -> list[str]:
    """URLs the page itself asked for (requests from a file:// page; not chromium's own background requests)."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start
        and (e["params"].get("initiator") == "null" or str(e["params"].get("network_isolation_key", "")).startswith("file://"))
    ]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_a_headless_browser_renders_it_and_fetches_nothing(page, tmp_path):
    shot = tmp_path / "shot.png"
    res = _chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1200,3000", "--hide-scrollbars")
    assert shot.exists(), res.stderr[-2000:]
    img = imread(shot)[..., :3]
    assert img.shape[:2] == (3000, 1200)
    assert float(img.std()) > 0.05 and (img.mean(axis=2) < 0.5).mean() > 0.01  # not blank: text and figures drawn
    dom = _chromium(tmp_path, page.as_uri(), "--dump-dom", f"--log-net-log={tmp_path / 'net.json'}").stdout
    assert "Headline numbers" in dom and dom.count("data:image/png;base64,") == 3
    assert _page_requests(tmp_path / "net.json") == []
    # the network check can fail: a page with a remote image is caught
    control = tmp_path / "control.html"
    control.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    _chromium(tmp_path, control.as_uri(), "--dump-dom", f"--log-net-log={tmp_path / 'control.json'}")
    assert _page_requests(tmp_path / "control.json") == ["http://127.0.0.1:9/x.png"]
