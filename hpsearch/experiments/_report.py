"""The HTML report: one self-contained file, charts by Optuna's visualization module and plotly.

The charts draw the experiment's Optuna study (:func:`build_study`), so the
report needs only storage, never the search's driver or Ray.
"""

from __future__ import annotations

import html
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch import storage
from hpsearch.experiments._study import build_study
from hpsearch.metrics import format_value

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from hpsearch.experiments._experiment import Experiment, TrialRecord

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hpsearch report: {{ exp.name }}</title>
<script>{{ plotly_js | safe }}</script>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
 h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
 table { border-collapse: collapse; font-size: 0.9rem; }
 td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; }
 .note { color: #666; font-size: 0.9rem; }
 .chart { min-height: 420px; }
</style>
</head>
<body>
<h1>{{ exp.name }}</h1>
<p>{{ exp.state }}{% if exp.state_reason %} ({{ exp.state_reason }}){% endif %} &middot;
 {{ exp.record.dataset }} ({{ exp.record.task }}) &middot;
 {{ exp.done }} of {{ exp.requested }} trials ended &middot;
 metric {{ exp.metric }} ({{ exp.mode }}) &middot; generated {{ generated }}</p>

<h2>Best configuration</h2>
{% if best %}
<table id="best">
<tr><th>trial</th><td>#{{ best.number }} ({{ best.trial_id }}), {{ best.state }}</td></tr>
<tr><th>{{ exp.metric }}</th><td>{{ fmt(best.value) }} at epoch {{ best.epoch }}
 of {{ best.epochs_trained }}</td></tr>
<tr><th>held-out test</th><td>{% if best.test %}{% for k, v in best.test.items() %}{{ k }}
 {{ fmt(v) }}{% if not loop.last %}, {% endif %}{% endfor %}{% else %}not scored
 (the search did not finish){% endif %}</td></tr>
{% for k, v in best.params.items() %}<tr><th>{{ k }}</th><td>{{ fmt(v) }}</td></tr>
{% endfor %}
</table>
{% else %}<p class="note">No trial has reported a score yet.</p>{% endif %}

{% for chart in charts %}
<h2>{{ chart.title }}</h2>
{% if chart.note %}<p class="note">{{ chart.note }}</p>{% endif %}
{% if chart.html %}<div class="chart">{{ chart.html | safe }}</div>{% endif %}
{% endfor %}

<h2>Leaderboard</h2>
<table id="leaderboard">
<tr><th>#</th><th>state</th><th>epochs</th><th>{{ exp.metric }}</th>
{% for p in param_names %}<th>{{ p }}</th>{% endfor %}</tr>
{% for t in leaderboard %}<tr><td>{{ t.number }}</td><td>{{ t.state }}</td>
<td>{{ t.epochs }}</td><td>{{ fmt(t.score(exp.metric, exp.mode)[0]) }}</td>
{% for p in param_names %}<td>{{ fmt(t.searched.get(p)) }}</td>{% endfor %}</tr>
{% endfor %}
</table>
</body>
</html>
"""


def learning_curves(exp: Experiment) -> go.Figure:
    """Every trial's metric by epoch; an X where the scheduler stopped a trial."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for trial in exp.trials:
        points = [r for r in trial.history if isinstance(r.get(exp.metric), int | float)]
        if not points:
            continue
        epochs = [r["epoch"] for r in points]
        values = [r[exp.metric] for r in points]
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=values,
                mode="lines+markers",
                marker={"size": 4},
                name=f"#{trial.number}",
                legendgroup=str(trial.number),
                hovertemplate=f"trial #{trial.number}<br>epoch %{{x}}<br>{exp.metric} %{{y:.4g}}"
                + f"<br>{html.escape(trial.state)}<extra></extra>",
            )
        )
        if trial.state != "completed":
            fig.add_trace(
                go.Scatter(
                    x=[epochs[-1]],
                    y=[values[-1]],
                    mode="markers",
                    marker={"symbol": "x", "size": 9, "color": "black"},
                    legendgroup=str(trial.number),
                    showlegend=False,
                    hovertemplate=html.escape(f"trial #{trial.number}: {trial.reason}")
                    + "<extra></extra>",
                )
            )
    fig.update_layout(xaxis_title="epoch", yaxis_title=exp.metric, height=480, margin={"t": 30})
    return fig


def _charts(exp: Experiment) -> list[dict[str, str]]:
    import optuna.visualization as ov

    charts: list[dict[str, Any]] = []
    study = build_study(exp)
    complete = [t for t in study.trials if t.state == study.trials[0].state.COMPLETE]

    def add(title: str, make: Any, note: str = "") -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's experimental-API warnings
                fig = make()
            charts.append({"title": title, "note": note, "figure": fig})
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            charts.append({"title": title, "note": f"Not available: {exc}", "figure": None})

    if complete:
        add("Optimization history", lambda: ov.plot_optimization_history(study))
        add("Parallel coordinates", lambda: ov.plot_parallel_coordinate(study))
    if len(complete) >= 2:
        import optuna

        add(
            "Hyperparameter importances",
            # PED-ANOVA needs no scikit-learn (fANOVA does) and suits few trials.
            lambda: ov.plot_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
            ),
            "Optuna's PED-ANOVA over the trials that finished: which parameters set the best "
            "trials apart. Trials stopped early count with their best score.",
        )
    else:
        charts.append(
            {
                "title": "Hyperparameter importances",
                "note": "Needs at least two finished trials.",
                "figure": None,
            }
        )
    add(
        "Learning curves",
        lambda: learning_curves(exp),
        "One line per trial; an X marks where a trial ended before the last epoch "
        "(stopped by the scheduler, diverged, or interrupted).",
    )
    for chart in charts:
        fig = chart.pop("figure")
        # Stable ids ("chart-learning-curves"), so a link or a test can point at a chart.
        chart_id = "chart-" + chart["title"].lower().replace(" ", "-")
        chart["html"] = (
            fig.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id)
            if fig is not None
            else ""
        )
    return charts


def render_report(exp: Experiment) -> str:
    """The report's HTML text."""
    import jinja2  # only when a report is written: listing stays fast
    from plotly.offline import get_plotlyjs

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(_TEMPLATE)
    leaderboard: list[TrialRecord] = exp.leaderboard()
    param_names = sorted({k for t in leaderboard for k in t.searched})
    return template.render(
        exp=exp,
        best=exp.best(),
        charts=_charts(exp),
        leaderboard=leaderboard,
        param_names=param_names,
        fmt=format_value,
        # Inlined, so the file opens offline and needs no server.
        plotly_js=get_plotlyjs(),
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_report(exp: Experiment, path: str) -> str:
    """Write the report to ``path`` atomically, with every credential redacted."""
    with storage.atomic_path(path) as tmp:
        Path(tmp).write_text(storage.redact(render_report(exp)), encoding="utf-8")
    return path
