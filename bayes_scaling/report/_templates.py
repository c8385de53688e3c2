# ruff: noqa: E501 - template lines are HTML and prose, wrapped where it reads best
"""Jinja2 templates of the report, kept in Python so they ship with the package without
package-data configuration. The HTML names no external resource: style inline, system fonts,
figures as data URIs."""

HTML_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="bayes_scaling {{ d.provenance['bayes_scaling version'] }}">
<title>{{ d.title }}</title>
<style>
  :root { --ink: #1d2430; --muted: #5b6472; --line: #d9dee5; --bg: #ffffff; --soft: #f5f7fa;
          --bad: #b3261e; --badbg: #fdecea; --good: #1e6b3a; --goodbg: #e8f5ec; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink);
         font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
  main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
  h1 { font-size: 26px; margin: 0 0 4px; }
  h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
  h3 { font-size: 16px; margin: 22px 0 8px; }
  .sub { color: var(--muted); margin: 0 0 16px; }
  .banner { border-radius: 6px; padding: 12px 16px; margin: 16px 0; }
  .banner.bad { background: var(--badbg); border: 1px solid var(--bad); color: var(--bad); }
  .banner.good { background: var(--goodbg); border: 1px solid var(--good); color: var(--good); }
  .banner ul { margin: 6px 0 0 18px; padding: 0; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 10px; }
  .card { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
  .target-card .run { font-weight: 600; font-size: 16px; margin-bottom: 4px; }
  .kv2 { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; }
  .kv2 .k { color: var(--muted); }
  .target-card .extrapolation { margin-top: 4px; font-size: 13.5px; }
  .target-card .extrapolation.warn { color: var(--bad); font-weight: 600; }
  .target-card.far { border-color: var(--bad); }
  .scroll { overflow-x: auto; max-width: 100%; }  /* every table: wide ones scroll, the page does not */
  table { border-collapse: collapse; margin: 6px 0 12px; font-size: 12.5px; }
  th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap; }
  th { background: var(--soft); font-weight: 600; }
  td:first-child, th:first-child { text-align: left; }
  table.kv td { text-align: left; white-space: normal; word-break: break-all; }
  figure { margin: 14px 0 20px; }
  figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
  figcaption { color: var(--muted); font-size: 13px; max-width: 900px; }
  code { background: var(--soft); padding: 1px 4px; border-radius: 3px; }
  .muted { color: var(--muted); }
  .notrun { background: var(--soft); border: 1px dashed var(--muted); border-radius: 6px; padding: 10px 14px; color: var(--muted); }
</style>
</head>
<body>
{% macro table(t) %}
<div class="scroll"><table><thead><tr>{% for h in t.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>
{% endfor %}
</tbody></table></div>
{% endmacro %}
{% macro figure(f) %}
<figure id="fig-{{ f.key }}">
<img alt="{{ f.title }}" src="data:image/png;base64,{{ f.png_base64 }}">
<figcaption><strong>{{ f.title }}.</strong> {{ f.caption }}</figcaption>
</figure>
{% endmacro %}
<main>
<header>
  <h1>{{ d.title }}</h1>
  <p class="sub">Source <code>{{ d.source }}</code> · {{ d.law.name }} law on <code>{{ d.law.loss }}</code> ·
     {{ d.law.n_runs }} fitted runs · created {{ d.provenance['created (UTC)'] }} UTC</p>
</header>

{% if d.warnings %}
<div class="banner bad" role="alert" id="warning-banner">
  <strong>Warning: some checks did not pass (sampler diagnostics, misfit or extrapolation). Read them before the numbers below.</strong>
  <ul>{% for w in d.warnings %}<li>{{ w }}</li>{% endfor %}</ul>
</div>
{% else %}
<div class="banner good" id="ok-banner">All sampler checks passed (R-hat, ESS, divergences, BFMI).</div>
{% endif %}
{% for n in d.notes %}<p class="muted">{{ n }}</p>{% endfor %}

<section id="summary">
<h2>The answer</h2>
<div class="cards">
{% for c in cards %}<div class="card target-card{% if c.far %} far{% endif %}" data-target="{{ c.target }}">
  <div class="run">{{ c.run }}</div>
  <div class="kv2"><span class="k">Loss ({{ c.ci }})</span><span class="v loss">{{ c.loss }}</span>
  {% if c.error %}<span class="k">Error ({{ c.ci }})</span><span class="v error">{{ c.error }}</span>{% endif %}</div>
  {% if c.probs %}<div class="probs">{{ c.probs }}</div>{% endif %}
  <div class="extrapolation{% if c.far %} warn{% endif %}">{% if c.far %}Far extrapolation: {% endif %}{{ c.extrapolation }}</div>
</div>
{% else %}{% for line in headline %}<div class="card">{{ line }}</div>{% endfor %}
{% endfor %}
</div>
<p class="muted">Median and {{ cards[0].ci if cards else "90%" }} interval of what a new run at the target would measure
(parameter uncertainty, run-to-run scatter, measurement error and the learned extrapolation discrepancy);
error is the average top-1 downstream error{% if d.error_law %} on <code>{{ d.error_law.error }}</code>{% endif %}.
Distance: how far the target lies outside the fitted runs in log compute and log tokens per parameter.</p>
{% if ctt %}
<h3>Compute to reach each threshold</h3>
<p class="muted">Training compute at which the mean law reaches the loss, per token multiplier M (∞: some
draws put the irreducible loss above the threshold).</p>
{{ table(ctt) }}
{% endif %}
{% if d.findings %}
<h3>What the model found</h3>
<ul id="findings">{% for f in d.findings %}<li>{{ f }}</li>{% endfor %}</ul>
{% endif %}
</section>

<section id="plan">
<h2>The runs that would most narrow your target's interval, per FLOP</h2>
{% if plan %}
<p>For each candidate run, its result is simulated from the posterior predictive, the posterior is
updated as if it had been observed, and the expected 90% new-run interval width (nats) at each target
is read off (preposterior analysis, <code>bs.plan_runs</code>; <code>bayes-scaling plan</code>).
Ranked by the mean relative width reduction over the targets per FLOP (cost 6ND). {{ d.plan_note }}.
<span class="muted">Update: <code>reweight</code> = importance reweighting of the posterior draws;
<code>refit</code> = refits on simulated outcomes where the weights' effective sample size was below 10%.</span></p>
{{ table(plan) }}
{% else %}
<p class="notrun">Not computed.</p>
{% endif %}
</section>

<h2 style="border: none; margin-top: 44px; color: var(--muted);">The evidence</h2>

<section id="data">
<h2>Data</h2>
<p>Fitted on {{ d.law.n_runs }} runs: {{ d.selection }}.</p>
{{ table(data_summary) }}
</section>

<section id="law">
<h2>Fitted law</h2>
<p><code>{{ d.law.formula }}</code> on <code>{{ d.law.loss }}</code> (nats/token); noise model
<code>{{ d.law.noise }}</code> on log loss; extrapolation discrepancy <code>{{ d.law.discrepancy }}</code>
(kappa {{ d.law.kappa }}).</p>
<h3>Posterior (natural units, 90% intervals)</h3>
{{ table(posterior) }}
<h3>Sampler diagnostics: {% if diag_ok %}passed{% else %}<span style="color: var(--bad)">FAILED</span>{% endif %}</h3>
{{ table(diagnostics) }}
{% if d.diagnostics.problems %}<ul>{% for p in d.diagnostics.problems %}<li>{{ p }}</li>{% endfor %}</ul>{% endif %}
<h3>Priors</h3>
{{ table(priors) }}
{% for key in ["fit", "posterior", "prior_predictive"] %}{% if key in figures %}{% set f = figures[key] %}
{{ figure(f) }}
{% endif %}{% endfor %}
</section>

<section id="targets">
<h2>Predictions at the targets</h2>
<p>Loss (nats/token) at each target: median and {{ ci_text }} intervals of a new run{% if d.thresholds %},
and the probability that the run's loss lands below each threshold (± its Monte Carlo standard error){% endif %}.
<span class="muted">C / fitted max: the target's compute over the largest fitted run's; rel. error: median / observed − 1.</span></p>
{{ table(targets) }}
{% if "overtraining" in figures %}{% set f = figures["overtraining"] %}
{{ figure(f) }}
{% endif %}
</section>

<section id="downstream">
<h2>Downstream error</h2>
{% if d.error_law %}
<p>Error law <code>{{ d.error_law.formula }}</code> on <code>{{ d.error_law.error }}</code>{% if d.error_law.n_runs %}, fitted on {{ d.error_law.n_runs }} runs{% endif %};
each loss draw is carried through the error law draw by draw.</p>
{{ table(error_targets) }}
{% if error_posterior %}
<h3>Error-law posterior</h3>
{{ table(error_posterior) }}
{% endif %}
{% for key in ["error_law", "downstream"] %}{% if key in figures %}{% set f = figures[key] %}
{{ figure(f) }}
{% endif %}{% endfor %}
{% else %}
<p class="notrun">No error law fitted (no downstream error column, or it was switched off).</p>
{% endif %}
</section>

<section id="allocation">
<h2>Compute-optimal allocation</h2>
<p>Posterior over the loss-minimising model size N and token count D = C / (6N) for each budget C
(median and {{ alloc_ci }} interval; loss is the mean law at the optimum). Under the Gadre law
(one exponent for N and D) the optimal M = D / N is the same at every budget: the rows differ in size,
not in M. {% if "P(constraint binds)" in allocation.headers %}P(constraint binds): the share of posterior draws whose
optimum sits on the size or token constraint.{% endif %}</p>
{{ table(allocation) }}
</section>

<section id="backtest">
<h2>Backtest calibration</h2>
{% if backtest %}
{{ table(backtest) }}
{% if "calibration" in figures %}{% set f = figures["calibration"] %}
{{ figure(f) }}
{% endif %}
{% else %}
<p class="notrun" id="backtest-not-run">Backtest: not run. To add one: <code>{{ backtest_command }}</code>.</p>
{% endif %}
</section>

<section id="provenance">
<h2>Provenance</h2>
<table class="kv"><tbody>
{% for k, v in provenance %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>
{% endfor %}
</tbody></table>
</section>
</main>
</body>
</html>
"""

MARKDOWN_TEMPLATE = r"""# {{ d.title }}

Source {{ d.source }} · {{ d.law.name }} law on {{ d.law.loss }} · {{ d.law.n_runs }} fitted runs · created {{ d.provenance['created (UTC)'] }} UTC

{% if d.warnings %}
> **Warning: some checks did not pass (sampler diagnostics, misfit or extrapolation). Read them before the numbers below.**
{% for w in d.warnings %}
> - {{ w }}
{% endfor %}
{% else %}
All sampler checks passed (R-hat, ESS, divergences, BFMI).
{% endif %}
{% for n in d.notes %}

{{ n }}
{% endfor %}

## The answer

{% for c in cards %}
- **{{ c.run }}**: loss ({{ c.ci }}) {{ c.loss }}{% if c.error %}; error ({{ c.ci }}) {{ c.error }}{% endif %}{% if c.probs %}; {{ c.probs }}{% endif %}. {% if c.far %}**Far extrapolation:** {% endif %}{{ c.extrapolation }}.
{% else %}
{% for line in headline %}
- {{ line }}
{% endfor %}
{% endfor %}

Intervals are equal-tailed intervals of what a new run at the target would measure (posterior predictive, extrapolation discrepancy included).
{% if d.findings %}

What the model found:
{% for f in d.findings %}
- {{ f }}
{% endfor %}
{% endif %}
{% if plan %}

## The runs that would most narrow your target's interval, per FLOP

Expected 90% new-run width (nats) at each target after adding the candidate run (preposterior analysis, `bs.plan_runs`), ranked by mean relative width reduction per FLOP. {{ d.plan_note }}.

{{ plan | md_table }}
{% endif %}

## Data

Fitted on {{ d.law.n_runs }} runs: {{ d.selection }}.

{{ data_summary | md_table }}

## Fitted law

{{ d.law.formula | md_code }} on {{ d.law.loss }} (nats/token); noise model {{ d.law.noise | md_code }} on log loss; extrapolation discrepancy {{ d.law.discrepancy | md_code }} (kappa {{ d.law.kappa }}).

### Posterior (natural units, 90% intervals)

{{ posterior | md_table }}

### Sampler diagnostics: {{ "passed" if diag_ok else "FAILED" }}

{{ diagnostics | md_table }}

### Priors

{{ priors | md_table }}

{% for f in d.figures %}
{% if figure_dir %}
![{{ f.title }}]({{ figure_dir | md_url }}/{{ f.key | md_url }}.png)

{% endif %}
*{{ f.title }}.* {{ f.caption }}

{% endfor %}
## Predictions at the targets

Loss (nats/token): median and {{ ci_text }} intervals of a new run.

{{ targets | md_table }}

## Downstream error

{% if d.error_law %}
Error law {{ d.error_law.formula | md_code }} on {{ d.error_law.error }}.

{{ error_targets | md_table }}
{% else %}
No error law fitted.
{% endif %}

## Compute-optimal allocation

{{ allocation | md_table }}
{% if ctt %}

### Compute to reach each threshold

{{ ctt | md_table }}
{% endif %}

## Backtest calibration

{% if backtest %}
{{ backtest | md_table }}
{% else %}
Backtest: not run.
{% endif %}

## Provenance

| key | value |
|---|---|
{% for k, v in provenance %}
| {{ k }} | {{ v }} |
{% endfor %}
"""
