"""The HTML report: one self-contained file, charts by Optuna's visualization module and plotly.

The charts draw the experiment's study of record, its journal as the search
wrote it (read-only: the report never writes to it), so the report needs only
storage, never the search's driver or Ray. An experiment written before the
journal has its study rebuilt from its trials' files (:func:`build_study`).

The journal holds each trial as the sampler was told it: its last epoch's
value. The optimization history and the parallel coordinates rank each trial
by its best value instead, as the leaderboard does; the importances use what
the sampler learned from, a warm start's trials included.
"""

from __future__ import annotations

import html
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpsearch import storage
from hpsearch.experiments._layout import WARM_START
from hpsearch.experiments._study import DIRECTION, build_study, journal_study, name_metrics
from hpsearch.metrics import format_value, is_finite

if TYPE_CHECKING:
    import optuna
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
{%- for k, v in (best.get("values") or {}).items() if k != exp.metric %}
<tr><th>{{ k }}</th><td>{{ fmt(v) }} at epoch {{ best.epoch }}</td></tr>
{%- endfor %}
{% for k, v in best.params.items() %}<tr><th>{{ k }}</th><td>{{ fmt(v) }}</td></tr>
{% endfor %}
</table>
{% elif exp.constraints %}<p class="note">No trial that met the constraints
 ({{ constraint_texts }}) has reported a score yet.</p>
{% else %}<p class="note">No trial has reported a score yet.</p>{% endif %}
{%- if exp.multi_objective %}

<h2>Trials on the Pareto front</h2>
<p class="note">{{ front | length }} trial(s) no other trial beats on every objective
 ({{ objective_texts }}){% if exp.constraints %}, among those meeting
 {{ constraint_texts }}{% endif %}; each at the epoch where its {{ exp.metric }} was best.</p>
<table id="front">
<tr><th>#</th><th>state</th><th>epoch</th>{% for m in point_metrics %}<th>{{ m }}</th>{% endfor %}
{% if size_column %}<th>num_params</th>{% endif %}
{% for p in param_names %}<th>{{ p }}</th>{% endfor %}</tr>
{% for f in front %}<tr><td>{{ f.number }}</td><td>{{ f.state }}</td><td>{{ f.epoch }}</td>
{% for m in point_metrics %}<td>{{ fmt(f["values"][m]) }}</td>{% endfor %}
{% if size_column %}<td>{{ fmt(f.num_params) }}</td>{% endif %}
{% for p in param_names %}<td>{{ fmt(searched[f.number].get(p)) }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{%- endif %}

{% for chart in charts %}
<h2>{{ chart.title }}</h2>
{% if chart.note %}<p class="note">{{ chart.note }}</p>{% endif %}
{% if chart.html %}<div class="chart">{{ chart.html | safe }}</div>{% endif %}
{% endfor %}

<h2>Leaderboard</h2>
<table id="leaderboard">
<tr><th>#</th><th>state</th><th>epochs</th><th>{{ exp.metric }}</th>
{%- for m in other_metrics %}<th>{{ m }}</th>{% endfor %}
{%- if exp.multi_objective %}<th>front</th>{% endif %}
{%- if exp.constraints %}<th>feasible</th>{% endif %}
{% for p in param_names %}<th>{{ p }}</th>{% endfor %}</tr>
{% for t in leaderboard %}<tr><td>{{ t.number }}</td><td>{{ t.state }}</td>
<td>{{ t.epochs }}</td><td>{{ fmt(t.score(exp.metric, exp.mode)[0]) }}</td>
{%- for m in other_metrics %}<td>{{ fmt(exp.point(t)[m]) }}</td>{% endfor %}
{%- if exp.multi_objective %}<td>{{ "yes" if t.number in front_numbers else "" }}</td>{% endif %}
{%- if exp.constraints %}<td>{{ "yes" if exp.feasible(t) else "no" }}</td>{% endif %}
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


def chart_figures(exp: Experiment) -> list[dict[str, Any]]:
    """The report's charts in order: each a title, a note saying what it shows, and its
    plotly figure (``None`` where it cannot be drawn; the note says why)."""
    import optuna
    import optuna.visualization as ov

    charts: list[dict[str, Any]] = []
    journal = journal_study(exp)
    study = build_study(exp) if journal is None else journal
    ranked = ranked_study(study, exp)
    scored = len(ranked.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    learned = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = f"best {exp.metric}"

    def add(title: str, make: Any, note: str = "") -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's experimental-API warnings
                fig = make()
            charts.append({"title": title, "note": note, "figure": fig})
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            charts.append({"title": title, "note": f"Not available: {exc}", "figure": None})

    if exp.multi_objective:
        charts.append(_pareto_chart(exp, study))
    if scored:
        add(
            "Optimization history",
            lambda: ov.plot_optimization_history(ranked, target_name=best),
            f"Each trial of this search by its best {exp.metric} over its epochs, as the "
            "leaderboard ranks it (a trial stopped early or still running too); the line is "
            "the best so far. Trials without a score, or that errored, are not drawn.",
        )
        add(
            "Parallel coordinates",
            lambda: ov.plot_parallel_coordinate(ranked, target_name=best),
            f"One line per trial drawn above: its hyperparameters and its best {exp.metric}.",
        )
    if len(learned) >= 2:
        add(
            "Hyperparameter importances",
            # PED-ANOVA needs no scikit-learn (fANOVA does) and suits few trials.
            lambda: ov.plot_param_importances(
                study,
                evaluator=optuna.importance.PedAnovaImportanceEvaluator(),
                # (Several objectives: one bar per objective, named by the study's metrics.)
                target_name=best if journal is None else f"{exp.metric} at the last epoch",
            ),
            _importance_note(exp, learned, from_journal=journal is not None),
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
    return charts


def _pareto_chart(exp: Experiment, study: optuna.Study) -> dict[str, Any]:
    """Optuna's Pareto-front chart of the trials at their points (2 or 3 objectives)."""
    import optuna.visualization as ov

    title = "Pareto front"
    if len(exp.objectives) > 3:
        note = (
            f"Not available: Optuna draws 2 or 3 objectives; this search has {len(exp.objectives)}."
        )
        return {"title": title, "note": note, "figure": None}
    primary = exp.objectives[0].metric
    note = (
        f"Each trial of this search at its point: every objective at the epoch where its "
        f"{primary} was best (the weights it keeps). The best trials are the Pareto front: no "
        "other trial is as good on every objective and better on one"
        + (
            f"; infeasible trials (not meeting {_texts(exp)}) are drawn apart."
            if exp.constraints
            else "."
        )
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental-API warnings
            figure = ov.plot_pareto_front(
                pareto_study(study, exp), target_names=[o.metric for o in exp.objectives]
            )
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        return {"title": title, "note": f"Not available: {exc}", "figure": None}
    return {"title": title, "note": note, "figure": figure}


def _texts(exp: Experiment) -> str:
    return ", ".join(c.text for c in exp.constraints)


def _charts(exp: Experiment) -> list[dict[str, str]]:
    """The charts as HTML, each in a ``div`` with a stable id."""
    charts = chart_figures(exp)
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


def _importance_note(
    exp: Experiment, learned: list[optuna.trial.FrozenTrial], from_journal: bool
) -> str:
    """What the importances are computed over."""
    what = "which parameters set the best trials apart."
    several = exp.multi_objective
    metrics = " and ".join(o.metric for o in exp.objectives)
    if not from_journal:  # rebuilt: each finished trial with its best value (or its point)
        by = (
            f"at its point, one chart per objective ({metrics})"
            if several
            else (f"by its best {exp.metric}")
        )
        return (
            f"Optuna's PED-ANOVA over the {len(learned)} trials that finished, each {by} "
            f"(trials stopped early too): {what}"
        )
    warm = sum(WARM_START in t.user_attrs for t in learned)
    seeded = f", {warm} of them from the warm start" if warm else ""
    told = "values it was told" if several else "value it was told"
    return (
        f"Optuna's PED-ANOVA over the study as the sampler saw it: the {len(learned)} "
        f"finished trials it learned from{seeded}, each by the {told}, its last "
        f"epoch's {metrics} (a trial stopped early too): {what}"
    )


def ranked_study(study: optuna.Study, exp: Experiment) -> optuna.Study:
    """``study``'s trials as the leaderboard ranks them, in a new in-memory study of the
    primary objective: each of this search's trials with a finite score is COMPLETE with
    its best value over its epochs; the others (a warm start's, errored, unscored) stay in
    as FAIL placeholders, so every trial keeps its number, and no chart draws them. With
    constraints, each trial carries its violations at that best epoch."""
    import optuna

    state = optuna.trial.TrialState
    ranked = optuna.create_study(
        study_name=study.study_name, direction=DIRECTION[exp.objectives[0].mode]
    )
    for trial in study.get_trials(deepcopy=False):
        value = None
        if WARM_START not in trial.user_attrs and trial.state != state.FAIL:
            value = best_value(trial, exp.mode, exp.metric)
        _add(ranked, trial, None if value is None else [value], exp)
    return ranked


def pareto_study(study: optuna.Study, exp: Experiment) -> optuna.Study:
    """``study``'s trials at their points (each objective at the epoch where the primary
    was best: the ``best_values`` the search recorded), in a new in-memory study of the
    search's objectives, for the Pareto-front chart; the others as FAIL placeholders."""
    import optuna

    state = optuna.trial.TrialState
    pareto = optuna.create_study(
        study_name=study.study_name, directions=[DIRECTION[o.mode] for o in exp.objectives]
    )
    name_metrics(pareto, exp)
    for trial in study.get_trials(deepcopy=False):
        told = trial.user_attrs.get("best_values")
        values = None
        if WARM_START not in trial.user_attrs and trial.state != state.FAIL:
            point = [told.get(o.metric) for o in exp.objectives] if isinstance(told, dict) else []
            numbers = [float(v) for v in point if is_finite(v)]
            values = numbers if point and len(numbers) == len(point) else None
        _add(pareto, trial, values, exp)
    return pareto


def _add(
    study: optuna.Study,
    trial: optuna.trial.FrozenTrial,
    values: list[float] | None,
    exp: Experiment,
) -> None:
    """``trial`` into ``study``: COMPLETE with ``values``, or a FAIL placeholder."""
    import optuna

    state = optuna.trial.TrialState
    try:
        study.add_trial(
            optuna.trial.create_trial(
                state=state.FAIL if values is None else state.COMPLETE,
                values=values,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs=trial.user_attrs,
                constraints=_violations(trial, exp) if values is not None else None,
            )
        )
    except (TypeError, ValueError):  # a journal from storage a study cannot take: not drawn
        study.add_trial(optuna.trial.create_trial(state=state.FAIL))


def _violations(trial: optuna.trial.FrozenTrial, exp: Experiment) -> dict[str, float] | None:
    """Each constraint's violation at the trial's point (its recorded ``best_values``), as
    the front judges it; what the trial was told (at its last epoch) where it has none."""
    if not exp.constraints:
        return None
    told = trial.user_attrs.get("best_values")
    if not isinstance(told, dict):
        return dict(trial.constraints) or None
    return exp.goals.violations(told)


def best_value(
    trial: optuna.trial.FrozenTrial, mode: str, metric: str | None = None
) -> float | None:
    """The trial's best finite value over its epochs (``max`` or ``min`` ``mode``): the
    search's ``best_value`` attribute (or ``metric`` in its ``best_values``), else its
    intermediate values, else its (first) value."""
    told = trial.user_attrs.get("best_value")
    point = trial.user_attrs.get("best_values")
    if not is_finite(told) and metric is not None and isinstance(point, dict):
        told = point.get(metric)
    if is_finite(told):
        return float(told)
    values = [float(v) for v in trial.intermediate_values.values() if is_finite(v)]
    if values:
        return max(values) if mode == "max" else min(values)
    first = trial.values[0] if trial.values else None
    return float(first) if is_finite(first) else None


def render_report(exp: Experiment) -> str:
    """The report's HTML text."""
    import jinja2  # only when a report is written: listing stays fast
    from plotly.offline import get_plotlyjs

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(_TEMPLATE)
    leaderboard: list[TrialRecord] = exp.leaderboard()
    param_names = sorted({k for t in leaderboard for k in t.searched})
    front = exp.front_entries() if exp.multi_objective else []
    return template.render(
        exp=exp,
        best=exp.best(),
        charts=_charts(exp),
        leaderboard=leaderboard,
        param_names=param_names,
        # Several objectives or constraints: the front, each trial's point and feasibility.
        front=front,
        front_numbers={f["number"] for f in front},
        searched={t.number: t.searched for t in leaderboard},
        point_metrics=exp.point_metrics,
        size_column="num_params" not in exp.point_metrics,
        other_metrics=exp.point_metrics[1:],
        objective_texts=", ".join(o.text for o in exp.objectives),
        constraint_texts=_texts(exp),
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
