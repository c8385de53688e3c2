"""Render a :class:`~.data.ReportData` to self-contained HTML, to Markdown, and its tables to CSV.

The HTML embeds its figures as base64 PNG and its style inline; it names no external resource
(no CDN, no web font, no link), so it opens offline and leaks nothing when viewed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.design import FAR_EXTRAPOLATION_RATIO
from bayes_scaling.report._templates import HTML_TEMPLATE, MARKDOWN_TEMPLATE
from bayes_scaling.report.data import ReportData
from bayes_scaling.report.findings import extrapolation_words
from bayes_scaling.report.tables import si

__all__ = ["render_html", "render_markdown", "write_tables", "write_report", "display_table",
           "md_escape"]


# ------------------------------------------------------------------------------------ formatting
def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _sci(v: float) -> str:
    if not math.isfinite(v):
        return "∞" if v > 0 else "−∞"
    m, e = f"{v:.3g}".split("e") if "e" in f"{v:.3g}" else (f"{v:.3g}", None)
    return m if e is None else f"{m}e{int(e)}"


def _count(v: float) -> str:
    return "∞" if not math.isfinite(v) else si(v)


def _formatter(col: str) -> Callable[[Any], str]:
    """Display format by column name: units decide the precision."""
    c = col.lower()
    if c.startswith(("p_", "p_below")) or c == "p" or c.startswith("mcse") or c in (
            "p_reachable", "p_constrained", "coverage", "ci_prob"):
        return lambda v: f"{v:.3f}"
    if c == "rel_error":
        return lambda v: f"{100 * v:+.2f}%"
    if c.startswith("in_"):
        return lambda v: "yes" if v else "no"
    if "compute_flops" in c or c in ("extrapolation",):
        return _sci if "compute" in c else (lambda v: f"{v:.3g}×")
    if c.startswith(("n_params", "n_tokens", "max_params")):
        return _count
    if "tokens_per_param" in c:
        return lambda v: f"{v:.3g}"
    if c in ("rhat",):
        return lambda v: f"{v:.4f}"
    if c.startswith("ess"):
        return lambda v: f"{v:.0f}"
    return lambda v: f"{v:.4g}"


def _cell(col: str, v: Any) -> str:
    if _is_missing(v):
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer) and not col.lower().startswith(("n_params", "n_tokens")):
        return str(int(v))
    if isinstance(v, float | np.floating | int | np.integer):
        return _formatter(col)(float(v))
    return str(v)


_HEADERS = {
    "n_params": "N (params)", "n_tokens": "D (tokens)", "tokens_per_param": "M = D/N",
    "compute_flops": "C (FLOPs)", "extrapolation": "C / fitted max", "observed": "observed",
    "median": "median", "rel_error": "rel. error", "runs_in_fit": "runs in fit",
    "p_reachable": "P(reachable)", "p_constrained": "P(constraint binds)",
    "tokens_per_param_median": "M = D/N", "n_params_median": "N (params)",
}


def _header(col: str) -> str:
    base = {"n_params": "N (params)", "n_tokens": "D (tokens)", "tokens_per_param": "M = D/N",
            "compute_flops": "C (FLOPs)", "loss": "loss", "excess_loss": "excess loss"}
    if col in base:
        return base[col]
    if col in _HEADERS:
        return _HEADERS[col]
    if col.startswith("lower_") or col.startswith("upper_"):
        return f"{col.split('_', 1)[1]} {col.split('_')[0]}"
    if col.startswith("p_below_"):
        return f"P(< {col[len('p_below_'):]})"
    if col.startswith("mcse_below_"):
        return f"MCSE P(< {col[len('mcse_below_'):]})"
    if col.startswith("in_"):
        return f"in {col[3:]}"
    return col.replace("_", " ")


def display_table(df: pd.DataFrame, *, compact: bool = True) -> dict[str, list]:
    """Headers and string rows of a table, formatted by column units.

    With ``compact``, related columns merge into one for reading (the CSV keeps them apart):
    ``lower_X``/``upper_X`` -> ``X interval`` ("lo – hi"); ``q_median``/``q_lower``/``q_upper``
    -> ``q`` ("median [lo, hi]"); ``q_min``/``q_max`` -> ``q range``; ``p_below_x`` with its
    ``mcse_below_x`` -> "p ± mcse".

    Examples
    --------
    >>> t = display_table(pd.DataFrame({"median": [2.5], "lower_90%": [2.4], "upper_90%": [2.6]}))
    >>> t["headers"], t["rows"]
    (['median', '90% interval'], [['2.5', '2.4 – 2.6']])
    """
    cols = list(df.columns)
    used: set[str] = set()
    out_headers: list[str] = []
    out_cols: list[list[str]] = []

    def fmt(col: str, like: str | None = None) -> list[str]:
        return [_cell(like or col, v) for v in df[col].tolist()]

    for c in cols:
        if c in used:
            continue
        if compact and c.startswith("lower_") and f"upper_{c[6:]}" in df.columns:
            hi = f"upper_{c[6:]}"
            like = "median" if "median" in df.columns else c
            out_headers.append(f"{c[6:]} interval")
            out_cols.append([f"{a} – {b}" for a, b in zip(fmt(c, like), fmt(hi, like),
                                                           strict=True)])
            used |= {c, hi}
        elif compact and c.endswith("_median") and {c[:-7] + "_lower", c[:-7] + "_upper"} <= set(
                df.columns):
            q = c[:-7]
            out_headers.append(_header(q))
            out_cols.append([f"{m} [{a}, {b}]" for m, a, b in zip(
                fmt(c), fmt(q + "_lower"), fmt(q + "_upper"), strict=True)])
            used |= {c, q + "_lower", q + "_upper"}
        elif compact and c.endswith("_min") and c[:-4] + "_max" in df.columns:
            q = c[:-4]
            out_headers.append(f"{_header(q)} range")
            out_cols.append([a if a == b else f"{a} – {b}" for a, b in zip(
                fmt(c, q), fmt(q + "_max", q), strict=True)])
            used |= {c, q + "_max"}
        elif compact and c.startswith("p_below_") and f"mcse_below_{c[8:]}" in df.columns:
            m = f"mcse_below_{c[8:]}"
            out_headers.append(_header(c))
            out_cols.append([f"{a} ± {b}" for a, b in zip(fmt(c), fmt(m), strict=True)])
            used |= {c, m}
        else:
            out_headers.append(_header(c))
            out_cols.append(fmt(c))
            used.add(c)
    rows = [list(r) for r in zip(*out_cols, strict=True)] if out_cols else []
    return {"headers": out_headers, "rows": rows}


def _allocation_view(df: pd.DataFrame) -> pd.DataFrame:
    keep = ["compute_flops"]
    for q in ("n_params", "n_tokens", "tokens_per_param", "loss", "excess_loss"):
        keep += [c for c in (f"{q}_median", f"{q}_lower", f"{q}_upper") if c in df.columns]
    # the share of draws whose optimum sits on a constraint: only shown when one can bind
    if "p_constrained" in df.columns and (df["p_constrained"] > 0).any():
        keep.append("p_constrained")
    return df[keep]


def _pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _percent_view(df: pd.DataFrame) -> pd.DataFrame:
    """An error table with its error values (a fraction in the data) shown in percent."""
    out = df.copy()
    for c in out.columns:
        if c in ("observed", "median") or c.startswith(("lower_", "upper_")):
            out[c] = [("–" if _is_missing(v) else _pct(v)) for v in out[c]]
    return out


def _decision_cards(data: ReportData) -> list[dict[str, Any]]:
    """One card per target: the run in words, loss (nats/token) and error (%) with the widest
    interval and the observed value where known, P(thresholds), how far it is extrapolated."""
    dec = data.decision
    if dec is None:
        return []
    w = f"{dec.attrs.get('ci_prob', max(data.ci_probs)):.0%}"
    cards = []
    for _, r in dec.iterrows():
        card: dict[str, Any] = {
            "run": r["run"], "target": r["target"], "ci": w,
            "loss_median": f"{r['loss_median']:.3f}",
            "loss_interval": f"[{r['loss_lower']:.3f}, {r['loss_upper']:.3f}]",
            "loss_observed": None if _is_missing(r.get("loss_observed"))
            else f"{r['loss_observed']:.3f}",
            "error": "error_median" in dec.columns,
        }
        if card["error"]:
            card |= {"error_median": _pct(r["error_median"]),
                     "error_interval": f"[{_pct(r['error_lower'])}, {_pct(r['error_upper'])}]",
                     "error_observed": None if _is_missing(r.get("error_observed"))
                     else _pct(r["error_observed"])}
        card["probs"] = "; ".join(f"P(loss < {c[8:]}) = {r[c]:.2f}" for c in dec.columns
                                  if c.startswith("p_below_"))
        card["extrapolation"] = extrapolation_words(r)
        card["far"] = bool(max(r["compute_ratio"], r["params_ratio"], r["m_outside"])
                           > FAR_EXTRAPOLATION_RATIO)
        cards.append(card)
    return cards


def _plan_view(data: ReportData) -> dict[str, list] | None:
    if data.plan is None or data.plan.empty:
        return None
    labels = [str(c["run"]) for c in _decision_cards(data)] or None
    headers = ["candidate run", "cost (FLOPs)"]
    n_t = sum(1 for c in data.plan.columns if c.startswith("width_now_"))
    for i in range(n_t):
        name = labels[i] if labels else f"target {i + 1}"
        headers.append(f"90% width at {name}: now → after")
    headers += ["mean width reduction", "reduction per 10^18 FLOPs", "update"]
    rows = []
    for _, r in data.plan.iterrows():
        row = [r["run"], _sci(r["cost_flops"])]
        for i in range(n_t):
            row.append(f"{r[f'width_now_{i}']:.3f} → {r[f'width_after_{i}']:.3f}")
        row += [f"{r['reduction']:.1%}", f"{r['reduction_per_eflop']:.3g}", r["method"]]
        rows.append(row)
    return {"headers": headers, "rows": rows}


def _view(data: ReportData) -> dict[str, Any]:
    """Everything the templates need, as strings and string tables."""
    d = data.diagnostics
    wide = max(data.ci_probs)
    headline = []
    for _, r in data.targets.iterrows():
        line = (f"{r['target']}: loss {r['median']:.3f} "
                f"[{r[f'lower_{wide:.0%}']:.3f}, {r[f'upper_{wide:.0%}']:.3f}] ({wide:.0%})")
        if "observed" in r and not _is_missing(r["observed"]):
            line += f", observed {r['observed']:.3f}"
        headline.append(line)
    post = data.posterior.reset_index()
    post_cols = [c for c in ("parameter", "median", "mean", "sd", "lower", "upper", "rhat",
                             "ess_bulk") if c in post.columns]
    view: dict[str, Any] = {
        "d": data,
        "headline": headline,
        "data_summary": display_table(data.data_summary),
        "priors": display_table(data.priors),
        "posterior": display_table(post[post_cols]),
        "diagnostics": display_table(data.tables()["diagnostics"]),
        "diag_ok": bool(d.get("ok")),
        "targets": display_table(data.targets),
        "allocation": display_table(_allocation_view(data.allocation)),
        "alloc_ci": f"{data.allocation.attrs.get('ci_prob', wide):.0%}",
        "provenance": [(k, str(v)) for k, v in data.provenance.items()],
        "figures": {f.key: f for f in data.figures},
        "error_targets": None if data.error_targets is None else display_table(
            _percent_view(data.error_targets)),
        "error_posterior": None,
        "ctt": None if data.compute_to_target is None else display_table(
            data.compute_to_target),
        "backtest": None if data.backtest is None else display_table(data.backtest),
        "ci_text": " and ".join(f"{p:.0%}" for p in data.ci_probs),
        "cards": _decision_cards(data),
        "verdict": data.verdict,
        # far extrapolation is told on its target's card; every other finding once, here
        "bearing": [f for f in data.findings if f.severity != "note"
                    and not (f.kind == "extrapolation" and f.targets)],
        "notes": [f for f in data.findings if f.severity == "note"],
        "checks_passed": "Nothing found: the sampler checks, the misfit check by M, size and "
                         "compute, the outlying-run check and the drift check all passed.",
        "loss_unit": "nats/token",
        "loss_words": f"column {data.law['loss']}",
        "error_words": "" if data.error_law is None else _error_words(data.error_law["error"]),
        "plan": _plan_view(data),
        "backtest_command": _backtest_command(data),
    }
    if data.error_posterior is not None:
        ep = data.error_posterior.reset_index()
        view["error_posterior"] = display_table(ep)
    return view


def _error_words(column: str) -> str:
    """Top-1 error in words: ``err_avg17`` -> 'average top-1 error over 17 tasks'."""
    m = re.fullmatch(r"err_avg(\d+)", column)
    if m:
        return f"average top-1 error over {m.group(1)} downstream tasks (column {column})"
    return f"top-1 error (column {column})"


def _backtest_command(data: ReportData) -> str:
    src = data.source if " " not in data.source else f"'{data.source}'"
    return (f"bayes-scaling backtest {src} --protocol paper --coverage-out coverage.csv, then "
            f"bayes-scaling report {src} --backtest-csv coverage.csv --out report.html")


# ------------------------------------------------------------------------------------ renderers
def _env():
    import jinja2

    return jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render_html(data: ReportData) -> str:
    """Self-contained HTML page of the report (inline CSS, figures as data URIs).

    Examples
    --------
    >>> Path("report.html").write_text(render_html(data))  # doctest: +SKIP
    """
    return _env().from_string(HTML_TEMPLATE).render(**_view(data))


class _Md(str):
    """Text that is already safe Markdown (escaped, or built by a filter below)."""

    __slots__ = ()


_MD_PUNCT = re.compile(r"([\\`*_\[\]{}|~])")
# Block starts, if the text is placed at the start of a line: heading, list item, setext
# underline, ordered list item ('1. ' or '1) ').
_MD_LINE_START = re.compile(r"^(#{1,6}|[-+*]|=+|-+|\d{1,9}(?=[.)]))(?=\s|$|[.)])")
_MD_BREAKS = re.compile(r"[\r\n\t\v\f\u0085\u2028\u2029]+")


def md_escape(value: Any) -> str:
    r"""``value`` as inert Markdown text: no HTML, link, image, code span, emphasis or table cell
    boundary can come out of it, and it stays on one line.

    Angle brackets and ``&`` become HTML entities; Markdown punctuation (backslash, backtick,
    ``* _ [ ] { } | ~``) is backslash-escaped; line breaks become spaces; ``://`` and ``www.``
    are broken so that GitHub-style autolinks do not fire; a leading ``#``, ``-``, ``+``,
    ``=``, ``>`` or ``1.`` is escaped so the text cannot start a heading, list or quote.

    Examples
    --------
    >>> print(md_escape("<script>alert(1)</script> [x](javascript:alert(1)) | `rm`"))
    &lt;script&gt;alert(1)&lt;/script&gt; \[x\](javascript:alert(1)) \| \`rm\`
    """
    if isinstance(value, _Md):
        return value
    text = _MD_BREAKS.sub(" ", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_PUNCT.sub(r"\\\1", text)
    text = text.replace("://", "\\://").replace("www.", "www\\.")
    text = text.lstrip()
    m = _MD_LINE_START.match(text)
    if m and (not m.group(1)[0].isdigit() or re.match(r"\d+[.)](\s|$)", text)):
        end = m.end(1)
        # '1. x' -> '1\. x'; '# x' -> '\# x' (a backslash before a digit would print itself)
        text = (text[:end] + "\\" + text[end:]) if m.group(1)[0].isdigit() else "\\" + text
    return _Md(text)


def _md_code(value: Any) -> str:
    """``value`` as a one-line code span (literal text), fenced by more backticks than it has."""
    text = _MD_BREAKS.sub(" ", str(value))
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return _Md(f"{fence}{pad}{text}{pad}{fence}")


def _md_url(value: Any) -> str:
    """``value`` percent-encoded for a relative link target (no scheme can survive)."""
    from urllib.parse import quote

    return _Md(quote(str(value), safe="/"))


def render_markdown(data: ReportData, *, figure_dir: str | None = None) -> str:
    """Markdown version of the report.

    Parameters
    ----------
    data : ReportData
    figure_dir : str, optional
        Relative folder the figures are linked from (written by :func:`write_report`); without
        it the figures are listed by title only.
    """
    import jinja2

    # Every {{ value }} goes through md_escape (finalize), unless a filter below already made
    # it safe: titles, run ids, dataset and column names all come from user data.
    env = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, finalize=md_escape)
    env.filters["md_table"] = _md_table
    env.filters["md_code"] = _md_code
    env.filters["md_url"] = _md_url
    return env.from_string(MARKDOWN_TEMPLATE).render(figure_dir=figure_dir, **_view(data))


def _md_table(t: dict[str, list]) -> str:
    esc = md_escape
    lines = ["| " + " | ".join(esc(h) for h in t["headers"]) + " |",
             "|" + "|".join("---" for _ in t["headers"]) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t["rows"]]
    return _Md("\n".join(lines))


def write_tables(data: ReportData, folder: str | Path) -> list[Path]:
    """Write every table of the report as ``<folder>/<name>.csv`` (raw numbers, full
    precision); returns the paths.

    The tables are written into a fresh folder beside ``folder`` and then renamed into place (or
    merged file by file into an existing folder, whose other files stay); text cells that a
    spreadsheet would run as a formula are quoted (:func:`bayes_scaling._files.write_csv`). A
    ``folder`` that is a symbolic link is refused (OSError): nothing is written where it points.
    """
    from bayes_scaling._files import fresh_folder, write_csv

    folder = Path(folder)
    tables = data.tables()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with fresh_folder(folder) as tmp:
        for name, df in tables.items():
            write_csv(df, tmp / f"{name}.csv")
    return [folder / f"{name}.csv" for name in tables]


def write_report(data: ReportData, *, html: str | Path | None = None,
                 markdown: str | Path | None = None,
                 csv_dir: str | Path | None = None) -> list[Path]:
    """Write the report in the formats asked for; Markdown figures go to
    ``<stem>_figures/`` beside the Markdown file. Returns the paths written.

    Each file is written atomically (a temporary file, then one rename: a link at the
    destination is replaced, never written through); the figure and table folders are written
    fresh and moved into place (see :func:`write_tables`); a figure or table folder that is a
    symbolic link is refused before anything is written.

    Examples
    --------
    >>> write_report(data, html="report.html", markdown="report.md",  # doctest: +SKIP
    ...              csv_dir="tables")
    """
    from bayes_scaling._files import atomic_write_text, check_not_linked_folder, fresh_folder

    fig_dir = None
    if markdown is not None:
        fig_dir = Path(markdown).parent / f"{Path(markdown).stem}_figures"
        if data.figures:
            check_not_linked_folder(fig_dir, "figure folder")
    if csv_dir is not None:
        check_not_linked_folder(csv_dir, "table folder")
    written: list[Path] = []
    if html is not None:
        written.append(atomic_write_text(html, render_html(data)))
    if markdown is not None:
        assert fig_dir is not None
        if data.figures:
            with fresh_folder(fig_dir) as tmp:
                for f in data.figures:
                    (tmp / f"{f.key}.png").write_bytes(f.png_bytes)
            written += [fig_dir / f"{f.key}.png" for f in data.figures]
        written.append(atomic_write_text(
            markdown, render_markdown(data, figure_dir=fig_dir.name if data.figures else None)))
    if csv_dir is not None:
        written += write_tables(data, csv_dir)
    return written
