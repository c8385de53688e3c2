"""The report answers the decision on its first screen: read from the page as headless Chromium
lays it out at desktop (1400 x 900) and phone (390 x 844) sizes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.estimators.discrepancy import Discrepancy
from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.predict.predictor import ScalingPredictor
from bayes_scaling.report import build_report_data, render_html
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (Debian: apt-get install chromium); needed "
                             "for the rendered first-screen check")

# Inserted before </body>: after layout, record where each answer element sits on the screen
_PROBE = """<script>
window.addEventListener('load', () => {
  const out = [...document.querySelectorAll('.target-card')].map(c => {
    const part = s => { const e = c.querySelector(s); if (!e) return null;
      const r = e.getBoundingClientRect();
      return {text: e.textContent.trim(), bottom: r.bottom, right: r.right}; };
    return {run: part('.run'), loss: part('.loss'), error: part('.error'),
            extrapolation: part('.extrapolation')};
  });
  const box = s => { const e = document.querySelector(s); if (!e) return null;
    const r = e.getBoundingClientRect();
    return {text: e.textContent.trim(), top: r.top, bottom: r.bottom, right: r.right}; };
  const pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({cards: out, verdict: box('#verdict'),
                                    mdef: box('#m-definition'), width: window.innerWidth,
                                    height: window.innerHeight,
                                    page_width: document.documentElement.scrollWidth,
                                    client_width: document.documentElement.clientWidth});
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def data(sim_runs):
    runs = sim_runs.assign(err_avg17=np.clip(0.8 - 4.0 * np.exp(-sim_runs["loss_sim"]), 0, 1))
    fit = runs[runs["n_params"] < 1e9]
    targets = pd.DataFrame({"run_id": ["big-640", "huge-20"], "n_params": [1.44e9, 6.89e9],
                            "n_tokens": [1.44e9 * 640, 6.89e9 * 20]})
    # draws 0.2% around the truth: a posterior the 1%-noise runs agree with (all checks pass)
    law = fabricated_loss_law(fit, TRUE_GADRE, loss="loss_sim", seed=0, spread=0.002)
    law.idata.attrs["discrepancy"] = Discrepancy.from_evidence([], []).to_json()
    n = 1000
    err = ErrorLaw.from_draws({"eps": np.full(n, 0.8), "k": np.linspace(3.8, 4.2, n),
                               "gamma": np.full(n, 1.0), "sigma": np.full(n, 0.01)},
                              chance=0.81, loss="loss_sim")
    return build_report_data(law, fit, targets, predictor=ScalingPredictor(law, err),
                             all_runs=runs, thresholds=[2.5], source="sim.csv")


def _layout(html: str, tmp: Path, width: int, height: int, name: str) -> dict:
    page = tmp / f"{name}.html"
    page.write_text(html.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              "--disable-background-networking", "--disable-component-update", "--no-first-run",
              f"--user-data-dir={tmp / (name + '-profile')}", f"--window-size={width},{height}"]
    dom = subprocess.run([*common, "--dump-dom", page.resolve().as_uri()], check=True,
                         timeout=120, capture_output=True, text=True).stdout
    # a screenshot of the first screen, kept beside the page for a human to look at
    subprocess.run([*common, f"--screenshot={tmp / (name + '.png')}", page.resolve().as_uri()],
                   check=True, timeout=120, capture_output=True)
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe did not run"
    import html as _html

    return json.loads(_html.unescape(m.group(1)))


def _check_first_screen(layout: dict, height: int, width: int) -> None:
    cards = layout["cards"]
    assert len(cards) == 2
    # the verdict line, then M in words, then the answers
    verdict, mdef = layout["verdict"], layout["mdef"]
    assert verdict["text"].startswith("All checks passed:"), verdict
    assert "training tokens per parameter" in mdef["text"]
    assert verdict["bottom"] <= mdef["top"] and mdef["bottom"] <= height
    assert mdef["bottom"] <= min(c["run"]["bottom"] for c in cards)
    for c in cards:
        for key in ("run", "loss", "error", "extrapolation"):
            part = c[key]
            assert part is not None, key
            assert part["bottom"] <= height, f"{key} of {c['run']['text']} below the first screen"
            assert part["right"] <= width + 1, f"{key} cut off on the right"
        assert re.search(r"^[\d.]+ nats/token, 90% interval \[[\d.]+, [\d.]+\]",
                         c["loss"]["text"]), c["loss"]["text"]
        assert re.search(r"\[[\d.]+%, [\d.]+%\]", c["error"]["text"]), c["error"]["text"]
        assert "the largest fitted compute" in c["extrapolation"]["text"]
        assert "(M = " in c["run"]["text"] and "params" in c["run"]["text"]


@needs_chromium
def test_first_screen_answers_for_every_target_desktop(data, tmp_path):
    layout = _layout(render_html(data), tmp_path, 1400, 900, "desktop")
    assert layout["width"] == 1400
    _check_first_screen(layout, 900, 1400)
    assert (tmp_path / "desktop.png").stat().st_size > 10_000


@needs_chromium
def test_answer_cards_fit_a_phone_width(data, tmp_path):
    """On a phone the cards stack: the first target's answer is on the first screen, and no
    card's text runs off the right edge."""
    layout = _layout(render_html(data), tmp_path, 390, 844, "phone")
    # headless Chromium may keep a minimum window width for --dump-dom: check against the
    # width the page was actually laid out at, which must still be phone-sized
    width = layout["width"]
    assert width <= 600, width
    # every target's answer on the first phone screen, under the verdict and M in words
    _check_first_screen(layout, 844, width)
    for c in layout["cards"]:
        for key in ("run", "loss", "error", "extrapolation"):
            assert c[key]["right"] <= width + 1, f"{key} cut off at phone width ({width} px)"
    # wide tables scroll inside their own box: the page itself never scrolls sideways (the
    # priors table once made it 599 px wide at 485)
    assert layout["page_width"] <= layout["client_width"], layout


def test_answer_section_comes_before_the_evidence(data):
    html = render_html(data)
    assert html.index('id="summary"') < html.index('id="plan"') < html.index('id="data"')
    assert "The runs that would most narrow your target's interval, per FLOP" in html
    assert "loc=-4.605" not in html and "LogNormal(log 0.01, 1)" in html
    assert "bayes-scaling backtest sim.csv --protocol paper" in html
    assert data.plan is not None and len(data.plan) == 5
    assert data.decision["run"].iloc[0] == "1.44B params, 922B tokens (M = 640)"
