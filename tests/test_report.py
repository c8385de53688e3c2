"""Risk report: data built once, rendered to self-contained HTML, Markdown and CSV, and opened in
headless Chromium (screenshot, no request off the page)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.predict.predictor import ScalingPredictor
from bayes_scaling.report import (
    ReportData,
    build_report_data,
    render_html,
    render_markdown,
    select_runs,
    write_report,
    write_tables,
)
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def parts(sim_runs):
    """A fabricated fit with an error law: everything after sampling, no NUTS."""
    runs = sim_runs.assign(err_avg17=np.clip(0.8 - 4.0 * np.exp(-sim_runs["loss_sim"]), 0, 1))
    fit = runs[runs["n_params"] < 1e9]
    targets = pd.DataFrame({"run_id": ["big-640", "huge-20"], "n_params": [1.44e9, 6.89e9],
                            "n_tokens": [1.44e9 * 640, 6.89e9 * 20], "loss_sim": [2.45, np.nan],
                            "err_avg17": [0.45, np.nan]})
    # draws scatter 0.2% around the truth: a posterior the 1%-noise runs are consistent with (a
    # wider independent scatter per parameter puts every run far off the law in most draws, and
    # the misfit check rightly flags them)
    law = fabricated_loss_law(fit, TRUE_GADRE, loss="loss_sim", seed=0, spread=0.002)
    n = 1000
    err = ErrorLaw.from_draws({"eps": np.full(n, 0.8), "k": np.linspace(3.8, 4.2, n),
                               "gamma": np.full(n, 1.0), "sigma": np.full(n, 0.01)},
                              chance=0.81, loss="loss_sim")
    return law, ScalingPredictor(law, err), runs, fit, targets


@pytest.fixture(scope="module")
def data(parts) -> ReportData:
    law, pred, runs, fit, targets = parts
    return build_report_data(law, fit, targets, predictor=pred, all_runs=runs,
                             thresholds=[2.5], source="sim.csv", selection="n_params < 1e9",
                             extra_provenance={"command": "pytest"})


class _Refs(HTMLParser):
    """Every URL-bearing attribute and every CSS url()/@import in a page."""

    ATTRS = {"src", "href", "srcset", "action", "poster", "data", "formaction", "background",
             "xlink:href", "ping", "manifest", "cite", "longdesc", "usemap", "codebase"}

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []
        self._css: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_style = tag == "style"
        for k, v in attrs:
            if v is None:
                continue
            if k in self.ATTRS:
                self.refs.append(v)
            if k == "style":
                self._css.append(v)

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self._css.append(data)

    def css_refs(self) -> list[str]:
        css = "\n".join(self._css)
        return re.findall(r"url\(([^)]*)\)", css) + re.findall(r"@import\s+([^;]+)", css)


def _external(refs: list[str]) -> list[str]:
    return [r for r in refs if not r.strip().strip("'\"").startswith(("data:", "#"))]


def test_report_data_tables(data, parts):
    law = parts[0]
    t = data.targets
    assert t["target"].tolist() == ["big-640", "huge-20"]
    for col in ("median", "lower_50%", "upper_50%", "lower_90%", "upper_90%", "p_below_2.5",
                "mcse_below_2.5", "observed", "rel_error", "in_90%"):
        assert col in t.columns
    assert np.all(t["lower_90%"] < t["lower_50%"]) and np.all(t["upper_50%"] < t["upper_90%"])
    assert np.isnan(t.loc[1, "rel_error"])  # no observed loss for the second target
    assert data.error_targets is not None and np.all(data.error_targets["median"] < 0.81)
    assert data.error_law["error"] == "err_avg17"
    assert len(data.allocation) == 2 and "n_params_median" in data.allocation.columns
    assert data.compute_to_target is not None
    assert data.backtest is None
    assert data.ok and data.warnings == ()
    assert {f.key for f in data.figures} >= {"fit", "overtraining", "posterior", "error_law",
                                             "downstream"}
    assert all(f.png_bytes.startswith(b"\x89PNG") for f in data.figures)
    prov = data.provenance
    for key in ("bayes_scaling version", "fit seed", "fit runs data hash", "sampler", "device",
                "command"):
        assert key in prov, key
    assert prov["posterior data hash"] == law.idata.attrs["data_hash"]


def test_html_is_self_contained(data):
    html = render_html(data)
    parser = _Refs()
    parser.feed(html)
    assert not _external(parser.refs), _external(parser.refs)
    assert not _external(parser.css_refs())
    assert "script" not in parser.tags and "link" not in parser.tags and "iframe" not in parser.tags
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html)
    assert html.count("data:image/png;base64,") == len(data.figures)
    for section in ("summary", "data", "law", "targets", "downstream", "allocation", "backtest",
                    "provenance"):
        assert f'id="{section}"' in html
    assert 'class="verdict ok"' in html and 'class="verdict fail"' not in html
    assert "All checks passed" in html and 'id="findings-none"' in html
    assert "Backtest: not run." in html
    assert "big-640" in html and "P(&lt; 2.5)" in html


def test_warning_banner_when_a_check_fails(parts):
    law, _, runs, fit, targets = parts
    bad = fabricated_loss_law(fit, TRUE_GADRE, loss="loss_sim", seed=5)
    bad.idata["sample_stats"]["diverging"].values[0, :7] = True  # 7 divergent transitions
    bad._diagnostics = None
    data = build_report_data(bad, fit, targets, all_runs=runs, figures=False)
    assert not data.ok and any("7 divergent" in w for w in data.warnings)
    assert data.verdict.level == "fail"
    assert [f.severity for f in data.findings if f.kind == "sampler"] == ["fail"]
    html = render_html(data)
    assert 'class="verdict fail"' in html and 'role="alert"' in html
    assert html.count("7 divergent transitions") == 1  # in the findings, once
    assert html.index('id="verdict"') < html.index('id="findings-bearing"') < html.index(
        "7 divergent transitions")
    md = render_markdown(data)
    assert "**Not ready to use:**" in md
    assert "No error law fitted" in md


def test_backtest_section_and_calibration_figure(parts):
    law, _, runs, fit, targets = parts
    bt = pd.DataFrame({"ci_prob": [0.5, 0.9], "coverage": [0.55, 0.85], "n": [20, 20]})
    data = build_report_data(law, fit, targets, backtest=bt, all_runs=runs)
    assert "calibration" in {f.key for f in data.figures}
    html = render_html(data)
    assert "Backtest: not run." not in html and "0.850" in html


def test_markdown_and_csv_outputs(data, tmp_path):
    paths = write_report(data, html=tmp_path / "r.html", markdown=tmp_path / "r.md",
                         csv_dir=tmp_path / "tables")
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("# ") and "| target |" in md
    for f in data.figures:
        assert f"(r_figures/{f.key}.png)" in md
        assert (tmp_path / "r_figures" / f"{f.key}.png").read_bytes() == f.png_bytes
    tables = {p.stem for p in (tmp_path / "tables").glob("*.csv")}
    assert tables == set(data.tables())
    back = pd.read_csv(tmp_path / "tables" / "targets_loss.csv")
    np.testing.assert_allclose(back["median"], data.targets["median"])  # full precision
    assert (tmp_path / "r.html") in paths
    assert write_tables(data, tmp_path / "t2")  # the folder is created


def test_select_runs_errors_name_the_fix(sim_runs):
    mixed = pd.concat([sim_runs, sim_runs.assign(dataset="other", run_id=lambda d: d.run_id + "x")])
    with pytest.raises(ValueError, match="dataset-filter"):
        select_runs(mixed)
    with pytest.raises(ValueError, match="no runs with dataset == 'nope'"):
        select_runs(mixed, dataset_filter="nope")
    with pytest.raises(ValueError, match="no runs left"):
        select_runs(sim_runs, max_params=1.0)
    fit, held, desc = select_runs(mixed, dataset_filter="other", max_params=1e8)
    assert (fit["n_params"] < 1e8).all() and (held["n_params"] >= 1e8).all()
    assert "held out" in desc


# ------------------------------------------------------------------------------------ chromium
def _page_requests(netlog: Path) -> list[str]:
    """URLs of requests a *page* started (Chromium's own update/sign-in traffic has initiator
    'not an origin' and is ignored), other than file: and data: URLs."""
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    out = []
    for e in log["events"]:
        p = e.get("params") or {}
        if e["type"] != start or "url" not in p:
            continue
        if p.get("initiator") == "not an origin":
            continue
        if not p["url"].startswith(("file:", "data:")):
            out.append(p["url"])
    return out


def _chromium(page: Path, tmp: Path, name: str) -> tuple[Path, list[str]]:
    shot, netlog = tmp / f"{name}.png", tmp / f"{name}-netlog.json"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp / (name + '-profile')}",
           "--window-size=1280,4000", f"--screenshot={shot}", f"--log-net-log={netlog}",
           page.resolve().as_uri()]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    return shot, _page_requests(netlog)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install "
                                             "chromium); needed for the rendered-report check")
def test_report_renders_in_headless_chromium_without_requests(data, tmp_path):
    import matplotlib.image as mpimg

    page = tmp_path / "report.html"
    page.write_text(render_html(data), encoding="utf-8")
    shot, requests = _chromium(page, tmp_path, "report")
    assert requests == []
    img = mpimg.imread(shot)
    assert img.shape[0] >= 1000 and img.shape[1] >= 1000
    rgb = img[..., :3]
    ink = np.mean(np.any(rgb < 0.9, axis=-1))  # share of non-white pixels: text and figures
    assert 0.02 < ink < 0.9, ink
    assert np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0).shape[0] > 50
    # the detector itself works: a page that pulls a stylesheet, a font and an image is caught
    bad = tmp_path / "bad.html"
    bad.write_text('<html><head><link rel="stylesheet" href="https://cdn.invalid/x.css">'
                   "<style>@font-face{font-family:F;src:url(https://fonts.invalid/f.woff2)}"
                   "body{font-family:F}</style></head><body>x<img src='http://127.0.0.1:9/a.png'>"
                   "</body></html>")
    _, caught = _chromium(bad, tmp_path, "bad")
    assert {"https://cdn.invalid/x.css", "http://127.0.0.1:9/a.png"} <= set(caught)


def test_report_data_is_frozen(data):
    with pytest.raises(AttributeError):
        data.title = "x"  # type: ignore[misc]
    assert replace(data, title="x").title == "x"
