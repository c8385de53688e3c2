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
          --bad: #b3261e; --badbg: #fdecea; --good: #1e6b3a; --goodbg: #e8f5ec;
          --warn: #7a4b00; --warnbg: #fff4dc; }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink);
         font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
  main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
  h1 { font-size: 26px; margin: 0 0 4px; }
  h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
  #summary h2 { margin-top: 14px; }
  h3 { font-size: 16px; margin: 22px 0 8px; }
  .sub { color: var(--muted); margin: 0 0 16px; }
  .verdict { border-radius: 6px; padding: 8px 14px; margin: 10px 0 4px; }
  .verdict.fail { background: var(--badbg); border: 1px solid var(--bad); color: var(--bad); }
  .verdict.caution { background: var(--warnbg); border: 1px solid var(--warn); color: var(--warn); }
  .verdict.ok { background: var(--goodbg); border: 1px solid var(--good); color: var(--good); }
  .mdef { margin: 0 0 8px; }
  ul.findings li { margin-bottom: 4px; }
  ul.findings li.fail { color: var(--bad); }
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
  @media (max-width: 600px) {
    main { padding: 12px 12px 48px; }
    h1 { font-size: 20px; }
    body { font-size: 14px; }
    .cards { grid-template-columns: 1fr; }
    .card { padding: 8px 10px; }
  }
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
</header>
{% if verdict %}
<p class="verdict {{ verdict.level }}" id="verdict" role="{{ 'alert' if verdict.level != 'ok' else 'status' }}"><strong>{{ verdict.lead }}:</strong> {{ verdict.detail }}</p>
{% endif %}

<section id="summary">
<h2>The answer</h2>
<p class="mdef" id="m-definition"><strong>M = D/N</strong>: training tokens per parameter (about 20 is compute-optimal; more is over-training).</p>
<div class="cards">
{% for c in cards %}<div class="card target-card{% if c.far %} far{% endif %}" data-target="{{ c.target }}">
  <div class="run">{{ c.run }}</div>
  <div class="kv2"><span class="k">Loss</span><span class="v loss"><b>{{ c.loss_median }}</b> {{ loss_unit }}, {{ c.ci }} interval {{ c.loss_interval }}{% if c.loss_observed %} · observed {{ c.loss_observed }}{% endif %}</span>
  {% if c.error %}<span class="k">Error</span><span class="v error"><b>{{ c.error_median }}</b>, {{ c.ci }} interval {{ c.error_interval }}{% if c.error_observed %} · observed {{ c.error_observed }}{% endif %}</span>{% endif %}</div>
  {% if c.probs %}<div class="probs">{{ c.probs }}</div>{% endif %}
  <div class="extrapolation{% if c.far %} warn{% endif %}">{% if c.far %}Far beyond the fitted runs: {% endif %}{{ c.extrapolation }}{% if c.far %}; add runs closer before relying on it{% endif %}.</div>
</div>
{% else %}{% for line in headline %}<div class="card">{{ line }}</div>{% endfor %}
{% endfor %}
</div>
<p class="muted">Loss: {{ loss_words }}, in nats per token. {% if d.error_law %}Error: {{ error_words }}, in percent. {% endif %}Median and {{ cards[0].ci if cards else "90%" }} interval of what a new run at the target would measure
(parameter uncertainty, run-to-run scatter, measurement error and the learned extrapolation term, which grows with the distance beyond the fitted runs).
Source <code>{{ d.source }}</code>: {{ d.law.name }} law fitted on {{ d.law.n_runs }} runs ({{ d.selection }}).</p>
{% for n in d.notes %}<p class="muted">{{ n }}</p>{% endfor %}
</section>

<section id="findings">
<h2>Findings</h2>
{% if bearing %}
<h3>Bearing on the targets</h3>
<ul class="findings affects" id="findings-bearing">{% for f in bearing %}<li class="{{ f.severity }}">{{ f.text }}</li>{% endfor %}</ul>
{% endif %}
{% if notes %}
<h3>Notes: away from the targets</h3>
<ul class="findings notes" id="findings-notes">{% for f in notes %}<li>{{ f.text }}</li>{% endfor %}</ul>
{% endif %}
{% if not bearing and not notes %}<p id="findings-none">{{ checks_passed }}</p>{% endif %}
{% if ctt %}
<h3>Compute to reach each threshold</h3>
<p class="muted">Training compute at which the mean law reaches the loss, per token multiplier M (∞: some
draws put the irreducible loss above the threshold).</p>
{{ table(ctt) }}
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
<code>{{ d.law.noise }}</code> on log loss{% if d.law.outlier_share is not none %} (expected share of outlying runs {{ "%.1f" | format(100 * d.law.outlier_share) }}%){% endif %}; extrapolation discrepancy <code>{{ d.law.discrepancy }}</code>
(kappa {{ d.law.kappa }}).
<span class="muted">Distance outside the fitted design: the natural log of how far a target lies beyond the fitted runs,
in compute and in M combined (d = 2.5 is about e<sup>2.5</sup> = 12x beyond the largest fitted compute at a fitted M); a new run's
interval gains an sd of kappa times d on the log loss.</span></p>
<h3>Posterior (natural units, 90% intervals)</h3>
{{ table(posterior) }}
<h3>Sampler diagnostics: {% if diag_ok %}passed{% else %}<span style="color: var(--bad)">FAILED</span>{% endif %}</h3>
{{ table(diagnostics) }}
{% if not diag_ok %}<p>What failed is told once, under Findings.</p>{% endif %}
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

{% if verdict %}
**{{ verdict.lead }}:** {{ verdict.detail }}
{% endif %}

## The answer

M = D/N: training tokens per parameter (about 20 is compute-optimal; more is over-training).

{% for c in cards %}
- **{{ c.run }}**: loss {{ c.loss_median }} {{ loss_unit }}, {{ c.ci }} interval {{ c.loss_interval }}{% if c.loss_observed %} (observed {{ c.loss_observed }}){% endif %}{% if c.error %}; error {{ c.error_median }}, {{ c.ci }} interval {{ c.error_interval }}{% if c.error_observed %} (observed {{ c.error_observed }}){% endif %}{% endif %}{% if c.probs %}; {{ c.probs }}{% endif %}. {% if c.far %}**Far beyond the fitted runs:** {% endif %}{{ c.extrapolation }}{% if c.far %}; add runs closer before relying on it{% endif %}.
{% else %}
{% for line in headline %}
- {{ line }}
{% endfor %}
{% endfor %}

Loss: {{ loss_words }}, in nats per token.{% if d.error_law %} Error: {{ error_words }}, in percent.{% endif %} Intervals are equal-tailed intervals of what a new run at the target would measure (posterior predictive, extrapolation term included). Source {{ d.source }}: {{ d.law.name }} law fitted on {{ d.law.n_runs }} runs ({{ d.selection }}).
{% for n in d.notes %}

{{ n }}
{% endfor %}

## Findings

{% if bearing %}
Bearing on the targets:

{% for f in bearing %}
- {{ f.text }}
{% endfor %}
{% endif %}
{% if notes %}

Notes, away from the targets:

{% for f in notes %}
- {{ f.text }}
{% endfor %}
{% endif %}
{% if not bearing and not notes %}
{{ checks_passed }}
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
