"""The Markdown report escapes every user string: titles, run ids, dataset and column names."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_scaling.report import build_report_data, render_html, render_markdown, write_report
from bayes_scaling.report.render import md_escape
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

EVIL = "<script>alert(1)</script> | `rm -rf` [x](javascript:alert(1)) ![i](http://e/x.png) *b*"
EVIL_ID = "run|<img src=x onerror=alert(1)>`[y](javascript:0)`"
EVIL_COL = "loss_<b>|`x`[z](javascript:1)"


@pytest.fixture(scope="module")
def report(sim_runs):
    runs = sim_runs.rename(columns={"loss_sim": EVIL_COL})
    runs = runs.assign(dataset=EVIL, run_id=[f"{EVIL_ID}{i}" for i in range(len(runs))])
    fit = runs[runs["n_params"] < 1e9]
    law = fabricated_loss_law(fit, TRUE_GADRE, loss=EVIL_COL, seed=0)
    targets = pd.DataFrame({"run_id": [EVIL_ID], "n_params": [1.44e9], "n_tokens": [1.44e9 * 640],
                            EVIL_COL: [2.45]})
    return build_report_data(law, fit, targets, all_runs=runs, source=EVIL, selection=EVIL,
                             title="Title " + EVIL, figures=False,
                             extra_provenance={EVIL: EVIL, "note\n# heading": "a\n\n<hr>"})


def _unescaped(md: str, ch: str) -> list[int]:
    """Positions of ``ch`` not preceded by an odd number of backslashes."""
    out = []
    for m in re.finditer(re.escape(ch), md):
        i, n = m.start() - 1, 0
        while i >= 0 and md[i] == "\\":
            n, i = n + 1, i - 1
        if n % 2 == 0:
            out.append(m.start())
    return out


def _strip_code_spans(md: str) -> str:
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "CODE", md)


def test_markdown_is_inert(report):
    md = render_markdown(report)
    assert "<" not in md  # no HTML at all: every '<' is an entity
    assert "&lt;script&gt;" in md and "&lt;img src=x" in md
    text = _strip_code_spans(md)
    assert not _unescaped(text, "`")  # backticks only in package-made code spans
    assert not _unescaped(text, "](")  # no link or image: brackets are escaped
    assert not _unescaped(text, "[")
    assert "\\://" in md and "http://" not in md


def test_markdown_tables_keep_their_shape(report):
    md = render_markdown(report)
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r"\|(---\|)+", line):
            width = len(_unescaped(line, "|"))
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert len(_unescaped(lines[j], "|")) == width, lines[j]
                j += 1


def test_user_text_never_starts_a_block(report):
    md = render_markdown(report)
    assert "\n# heading" not in md and "note # heading" in md  # newline folded: mid-line '#'
    assert "<hr>" not in md
    headings = [ln for ln in md.splitlines() if ln.startswith("#")]
    assert all(not ln.startswith("# ") or ln.startswith("# Title ") for ln in headings)


def test_user_strings_still_readable(report):
    md = render_markdown(report)
    assert "Title &lt;script&gt;alert(1)&lt;/script&gt; \\| \\`rm -rf\\`" in md
    assert md_escape(EVIL_ID) in md


def test_html_still_escaped(report):
    html = render_html(report)
    assert "<script>alert" not in html and "onerror=alert(1)>" not in html


def test_figure_dir_is_percent_encoded(report, tmp_path):
    data = report
    md_path = tmp_path / "r (javascript:x).md"
    write_report(data, markdown=md_path)
    md = md_path.read_text()
    assert "(javascript:x)" not in md.replace("\\", "")


@pytest.mark.parametrize("text", [
    "<script>x</script>", "a|b", "`code`", "[x](javascript:alert(1))", "# h", "- item",
    "1. one", "> quote", "line\nbreak", "&lt;", "www.example.com", "https://example.com",
    "**bold** _it_ ~~del~~", "\\", "{{ jinja }}", "{% raw %}",
])
def test_md_escape_cases(text):
    out = md_escape(text)
    assert "<" not in out and "\n" not in out
    assert not _unescaped(out, "`") and not _unescaped(out, "[") and not _unescaped(out, "|")
    assert not re.match(r"\s*(#|[>+=-]\s|\d+\.\s)", out)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_property_md_escape_inert(text):
    out = md_escape(text)
    assert "<" not in out and ">" not in out
    assert not re.search(r"[\r\n\u2028\u2029]", out)
    for ch in "`[]|*_~":
        assert not _unescaped(out, ch), (text, out)
    assert md_escape(out) == out  # already safe text is not escaped twice


def test_numbers_unchanged():
    assert md_escape(np.float64(2.5)) == "2.5"
    assert md_escape("4.94") == "4.94" and md_escape("-0.5") == "-0.5"
    assert md_escape("1. one") == "1\\. one" and md_escape("- item") == "\\- item"
    assert md_escape("2.4 – 2.6") == "2.4 – 2.6"
