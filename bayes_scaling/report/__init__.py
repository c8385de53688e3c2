"""Risk reports: one frozen :class:`ReportData` computed from fitted laws, rendered to
self-contained HTML, Markdown and CSV.

Examples
--------
>>> from bayes_scaling.report import make_report, write_report
>>> data = make_report("gadre2024")                                   # doctest: +SKIP
>>> write_report(data, html="report.html", markdown="report.md", csv_dir="tables")  # doctest: +SKIP
"""

from bayes_scaling.report.data import REPORT_CI_PROBS, ReportData, ReportFigure, build_report_data
from bayes_scaling.report.presets import PRESETS, ReportDefaults, load_source, make_report, select_runs
from bayes_scaling.report.render import render_html, render_markdown, write_report, write_tables

__all__ = [
    "PRESETS",
    "REPORT_CI_PROBS",
    "ReportData",
    "ReportDefaults",
    "ReportFigure",
    "build_report_data",
    "load_source",
    "make_report",
    "render_html",
    "render_markdown",
    "select_runs",
    "write_report",
    "write_tables",
]
