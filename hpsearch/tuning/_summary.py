"""After the search: trial outcomes, the best trial and the final ensemble scored once on
the test split, summary.json."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from hpsearch import storage
from hpsearch.config import SearchConfig
from hpsearch.data import TabularData
from hpsearch.experiments import (
    FINAL_STATES,
    TrialRecord,
    ensemble_line,
    hyperparameters,
    is_usable,
    median_line,
    read_trials,
    trial_state,
)
from hpsearch.metrics import best_score, format_score, format_value
from hpsearch.objectives import (
    Goals,
    is_feasible,
)
from hpsearch.storage import join, redact
from hpsearch.trainable import (
    ENSEMBLE_CANDIDATES,
    EnsembleChoice,
    build_ensemble,
    choose_ensemble,
    member_predictions,
    model_from_checkpoint,
    score_splits,
    split_validation,
)
from hpsearch.tuning._record import Told
from hpsearch.tuning._status import driver_identity


@dataclass
class TrialTimes:
    """When a trial started and ended, in seconds since the search started."""

    start: float
    end: float | None = None


def _with_point(goals: Goals, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its point, ``values`` (the trial's metrics at its best epoch) of every
    objective and constraint metric, and whether it is feasible, where the search is
    ranked on several metrics; ``row`` as it is otherwise."""
    if not goals.ranked:
        return row
    point = {m: values.get(m) for m in goals.metrics}
    feasible = {"feasible": is_feasible(point, goals.constraints)} if goals.constraints else {}
    return {**row, "values": point, **feasible}


def _trial_row(trial: TrialRecord, goals: Goals) -> dict[str, Any]:
    """One trial as the summary lists it: its outcome, best score and epoch (and its
    point: every objective and constraint metric at that epoch), checkpoint."""
    last = trial.history[-1] if trial.history else {}
    primary = goals.primary
    best_value, best_at = trial.score(primary.metric, primary.mode)
    row = {
        "trial_id": trial.trial_id,
        "number": trial.number,
        "state": trial.state,
        "reason": trial.reason,
        "epochs": trial.epochs,
        "best_value": best_value,
        "best_epoch": best_at,
    }
    return _with_point(goals, row, trial.at_epoch(best_at) if best_at else {}) | {
        "last": {k: v for k, v in last.items() if k.startswith(("val_", "train_"))},
        "num_params": last.get("num_params"),
        "params": trial.params,
        # Where the checkpoint is, as a path or URI a user can read from anywhere.
        "checkpoint": None if trial.checkpoint is None else redact(trial.checkpoint),
        "node": trial.node,
    }


def _row_from_study(number: int, told: Told, goals: Goals) -> dict[str, Any]:
    """A trial only the study of record has: a kill left none of its result files."""
    metric, mode = goals.primary.metric, goals.primary.mode
    history = [{"epoch": e, metric: v} for e, v in sorted(told.values.items())]
    best_value, best_at = best_score(history, metric, mode)
    point: dict[str, Any] = {metric: best_value}
    if metric in told.best_values:  # several objectives: kept by the study, not per epoch
        point, best_value, best_at = told.best_values, told.best_values[metric], told.best_epoch
    row = {
        # A pack's member as inspection names it (the pack's Tune id is all of its members').
        "trial_id": f"{told.tune_trial_id}.{number}" if told.in_pack else told.tune_trial_id,
        "number": number,
        "state": "",
        "reason": "",
        "epochs": told.epochs,
        "best_value": best_value,
        "best_epoch": best_at,
    }
    return _with_point(goals, row, point) | {
        "last": {metric: history[-1][metric]} if history else {},
        "num_params": None,
        "params": told.config,
        "checkpoint": None if told.checkpoint is None else redact(told.checkpoint),
        "node": None,
    }


def _as_told(row: dict[str, Any], told: Told, max_epochs: int) -> None:
    """A trial the study was told had ended, whose result file was cut short by a kill."""
    row["epochs"] = max(row["epochs"], told.epochs)
    row["state"], row["reason"] = trial_state(
        epochs=row["epochs"],
        max_epochs=max_epochs,
        done=True,
        diverged=told.ended == "diverged",
        error="ended with an error" if told.ended in ("errored", "no score") else None,
        live=False,
    )


def _how_it_ended(config: SearchConfig, ended: int, wall_time_s: float) -> str:
    """``finished`` (every trial ended), ``time_budget`` or ``interrupted`` (Ctrl-C)."""
    if ended >= config.num_samples:
        return "finished"
    # Tune stops at the budget; allow for the time it takes to wind trials down.
    if config.time_budget_s is not None and wall_time_s >= 0.9 * config.time_budget_s:
        return "time_budget"
    return "interrupted"


def _usable(row: dict[str, Any]) -> bool:
    return is_usable(row["state"], row["best_value"])


def overlap_share(times: dict[str, TrialTimes], at_least: int) -> float:
    """Share of the time from the first trial's start to the last one's end
    during which at least ``at_least`` trials were running."""
    if not times:
        return 0.0
    ends = [t.end if t.end is not None else t.start for t in times.values()]
    events = sorted([(t.start, 1) for t in times.values()] + [(e, -1) for e in ends])
    span = events[-1][0] - events[0][0]
    running, prev, covered = 0, events[0][0], 0.0
    for moment, change in events:
        if running >= at_least:
            covered += moment - prev
        running += change
        prev = moment
    return covered / span if span > 0 else 0.0


def summarize(
    config: SearchConfig,
    data: TabularData,
    *,
    name: str,
    experiment_path: str,
    times: dict[str, TrialTimes],
    wall_time_s: float,
    ray_start_s: float,
    told: dict[int, Told],
) -> dict[str, Any]:
    """Everything a user wants to know when the search ends, as JSON-able data.

    The trials are read back from storage, so a resumed search summarizes
    every run's trials, each number once; what the study of record was told
    fills in what a killed driver left out of storage's result files. The best
    trial is the one whose validation metric was best at any epoch; its best
    checkpointed weights are scored on the test split here, once, and so is the
    ensemble of the top trials (:func:`final_model`); the search itself never
    saw that split.
    """
    goals = config.goals(data.task)
    trials = read_trials(experiment_path, config.max_epochs, live=False)
    rows = {t.number: _trial_row(t, goals) for t in trials}
    located = {t.number: t.checkpoint for t in trials}  # unredacted, to score the best
    runs = {t.number: t.runs for t in trials}
    for number, record in told.items():
        if number not in rows:
            rows[number] = _row_from_study(number, record, goals)
            there = record.checkpoint is not None and storage.exists(record.checkpoint)
            located[number], runs[number] = (
                record.checkpoint if there else None,
                (record.tune_trial_id,),
            )
        if rows[number]["state"] in ("interrupted", ""):
            _as_told(rows[number], record, config.max_epochs)
    for number, row in rows.items():
        ran = [times[run] for run in runs[number] if run in times]
        if ran:
            row["started_s"] = round(min(t.start for t in ran), 3)
            row["ended_s"] = round(max(t.end or wall_time_s for t in ran), 3)
    return _summary(config, data, name, experiment_path, [rows[n] for n in sorted(rows)],
                    located, times, wall_time_s, ray_start_s)  # fmt: skip


def _summary(
    config: SearchConfig,
    data: TabularData,
    name: str,
    experiment_path: str,
    rows: list[dict[str, Any]],
    located: dict[int, str | None],
    times: dict[str, TrialTimes],
    wall_time_s: float,
    ray_start_s: float,
) -> dict[str, Any]:
    """summary.json from one row per trial, the best (feasible) scored on the test split;
    with several objectives, the trial numbers on the Pareto front too."""
    goals = config.goals(data.task)
    metric, mode = goals.primary.metric, goals.primary.mode
    ranked = sorted(filter(_usable, rows), key=lambda r: r["best_value"], reverse=mode == "max")
    ranked.sort(key=lambda r: not r.get("feasible", True))  # stable: feasible ones first
    front = goals.front([r["values"] for r in ranked]) if goals.ranked else []
    counts = {s: sum(r["state"] == s for r in rows) for s in (*FINAL_STATES, "interrupted")}
    ended = sum(r["state"] in FINAL_STATES for r in rows)
    summary: dict[str, Any] = {
        **describe_search(config, data, name),
        "path": redact(experiment_path),
        "trials": {"total": len(rows), "requested": config.num_samples, **counts},
        "ended": _how_it_ended(config, ended, wall_time_s),
        "wall_time_s": round(wall_time_s, 3),
        "ray_start_s": round(ray_start_s, 3),
        "concurrency": {
            "share_2_or_more": round(overlap_share(times, 2), 3),
        },
        "best": None,
        # Several objectives or constraints: the front, best primary objective first.
        **({"front": [ranked[i]["number"] for i in front]} if goals.ranked else {}),
        # Ranked trials first (feasible ones before the others), then those without a
        # usable score.
        "leaderboard": ranked + [r for r in rows if not _usable(r)],
    }
    # An infeasible trial is never the best.
    best = next((r for r in ranked if located.get(r["number"]) and r.get("feasible", True)), None)
    if best is not None:
        summary["best"] = _score_best(best, str(located[best["number"]]), data, metric)
    values = [r["best_value"] for r in ranked if r.get("feasible", True)]
    summary["median_value"] = statistics.median(values) if values else None
    summary |= final_model(config, data, ranked if best is not None else [], located)
    return summary


def final_model(
    config: SearchConfig,
    data: TabularData,
    ranked: list[dict[str, Any]],
    located: dict[int, str | None],
) -> dict[str, Any]:
    """``ensemble`` (the greedy ensemble of the top trials, scored on validation and
    test; ``None`` when not built, ``ensemble_skipped`` saying why) and ``final``:
    ``ensemble`` where it was adopted, else ``best`` (``None`` without a best)."""
    skipped = _why_no_ensemble(config, data, ranked, located)
    final = "best" if ranked else None
    if skipped:
        return {"ensemble": None, "ensemble_skipped": skipped, "final": final}
    started = time.perf_counter()
    candidates = [r for r in ranked if located.get(r["number"])][:ENSEMBLE_CANDIDATES]
    models, scales = [], []
    for row in candidates:
        try:
            with storage.local_copy(str(located[row["number"]])) as directory:
                model, state = model_from_checkpoint(directory, data.num_features, data.num_outputs)
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            # The final model is an extra: a checkpoint storage lost costs it, not the summary.
            why = f"trial {row['number']}'s checkpoint did not load ({type(exc).__name__}: {exc})"
            return {"ensemble": None, "ensemble_skipped": why[:300], "final": final}
        models.append(model)
        scales.append(tuple(float(v) for v in state["target_scale"]))
    if any(not all(map(math.isclose, s, scales[0])) for s in scales):
        why = "the trials' target scales differ (their checkpoints are not from one search)"
        return {"ensemble": None, "ensemble_skipped": why, "final": final}
    mean, std = scales[0]
    y = data.y_val if data.task == "classification" else (data.y_val - mean) / std
    metric = config.resolved_metric(data.task)
    choice = choose_ensemble(
        [member_predictions(m, data.x_val, data.task) for m in models],
        y,
        task=data.task,
        metric=metric,
        seed=config.seed,
        size=config.ensemble_size,
        target_scale=(mean, std),
    )
    weights = choice.weights  # by candidate index; members in trial-number order
    order = sorted(weights, key=lambda i: candidates[i]["number"])
    ensemble = build_ensemble([models[i] for i in order], [weights[i] for i in order], data.task)
    scores = score_splits(ensemble, {"target_scale": (mean, std)}, data, ("val", "test"))
    record = _ensemble_record(choice, candidates, order, scores)
    record["time_s"] = round(time.perf_counter() - started, 3)
    return {"ensemble": record, "final": "ensemble" if choice.adopted else final}


def _why_no_ensemble(
    config: SearchConfig,
    data: TabularData,
    ranked: list[dict[str, Any]],
    located: dict[int, str | None],
) -> str | None:
    """Why the search builds no ensemble (``None``: it builds one)."""
    goals = config.goals(data.task)
    checkpointed = sum(bool(located.get(r["number"])) for r in ranked)
    if config.ensemble_size == 0:
        return "turned off: ensemble_size 0"
    if goals.ranked:
        return "the search has several objectives or constraints: it has no single best to beat"
    if not goals.primary.metric.startswith("val_"):
        return f"the search metric {goals.primary.metric} is not a validation score"
    if checkpointed < 2:
        return f"{checkpointed} usable trial{'s' if checkpointed != 1 else ''} with a checkpoint"
    select, check = split_validation(data.y_val, data.task, config.seed)
    if len(select) == 0 or len(check) == 0:
        return "too few validation rows to split into a selection and a check half"
    return None


def _ensemble_record(
    choice: EnsembleChoice,
    candidates: list[dict[str, Any]],
    order: list[int],
    scores: dict[str, dict[str, float]],
) -> dict[str, Any]:
    """The ensemble as summary.json holds it: its members (each a trial's best
    checkpoint, with its weight), its picks, the two halves' scores, adoption, scores."""
    weights = choice.weights
    single = len(weights) == 1 and choice.picks[0] == 0
    if choice.adopted:
        reason = "better on the check half of validation"
    elif single:
        reason = "the selection kept the best trial alone"
    else:
        reason = "not better on the check half of validation"
    return {
        "members": [
            {
                "number": candidates[i]["number"],
                "trial_id": candidates[i]["trial_id"],
                "weight": weights[i],
                "checkpoint": candidates[i]["checkpoint"],
            }
            for i in order
        ],
        "picks": sorted(candidates[i]["number"] for i in choice.picks),
        "candidates": [r["number"] for r in candidates],
        "split": {
            "selection_rows": choice.rows[0],
            "check_rows": choice.rows[1],
        },
        "selection": choice.selection,
        "check": choice.check,
        "adopted": choice.adopted,
        "reason": reason,
        "val": scores["val"],
        "test": scores["test"],
    }


def _score_best(
    best: dict[str, Any], checkpoint: str, data: TabularData, metric: str
) -> dict[str, Any]:
    """The best trial, its best checkpointed weights scored on validation and test."""
    with storage.local_copy(checkpoint) as directory:  # downloaded when remote
        model, state = model_from_checkpoint(directory, data.num_features, data.num_outputs)
    scores = score_splits(model, state, data, ("val", "test"))
    return {
        "trial_id": best["trial_id"],
        "number": best["number"],
        "config": best["params"],
        metric: best["best_value"],
        "epoch": best["best_epoch"],
        "epochs_trained": best["epochs"],
        "state": best["state"],
        "checkpoint": best["checkpoint"],
        # The weights scored below are the best the trial had checkpointed.
        "evaluated_epoch": int(state["best"]["epoch"] or state["epoch"]),
        "val": scores["val"],
        "test": scores["test"],
        "num_params": best["num_params"],
        **({"values": best["values"]} if "values" in best else {}),
    }


def search_record(config: SearchConfig, data: TabularData, name: str) -> dict[str, Any]:
    """What ``hpsearch.json`` holds: the search as asked, and when it started."""
    return {
        **describe_search(config, data, name),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "driver": driver_identity(),
    }


def describe_search(config: SearchConfig, data: TabularData, name: str) -> dict[str, Any]:
    """The validated config and what the data turned out to be (both JSON files start so)."""
    recorded = config.to_json()
    for key in ("storage", "data"):  # credentials given in a URI stay out of every record
        if recorded.get(key):
            recorded[key] = redact(recorded[key])
    goals = config.goals(data.task)
    return {
        "experiment": name,
        "config": recorded,
        "dataset": data.name,
        "task": data.task,
        "metric": config.resolved_metric(data.task),
        "mode": config.resolved_mode(data.task),
        # Several objectives or constraints (a search of one metric records neither).
        **(
            {
                "objectives": [o.text for o in goals.objectives],
                "constraints": [c.text for c in goals.constraints],
            }
            if goals.ranked
            else {}
        ),
        "class_names": list(data.class_names),
        "features": list(data.feature_names),
        "preprocessing": data.preprocessing,
        "split_sizes": data.sizes(),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-search report a person reads."""
    metric, counts, best = summary["metric"], summary["trials"], summary["best"]
    lines = [""]
    if best is None and summary.get("constraints"):
        lines.append(
            f"No trial met the constraints ({', '.join(summary['constraints'])}) with a usable "
            "result (see the leaderboard in summary.json)."
        )
    elif best is None:
        lines.append("No trial produced a usable result (see the leaderboard in summary.json).")
    else:
        number = best["number"]
        test = ", ".join(f"{k} {format_score(v)}" for k, v in best["test"].items())
        median = median_line(summary)
        lines += [
            f"Best trial {number}: {metric} {format_score(best[metric])} at epoch {best['epoch']} "
            f"({best['state']}, {best['epochs_trained']} epochs trained)",
            *([f"  {median}"] if median else []),
            f"  held-out test: {test}"
            + (
                f"  (weights from epoch {best['evaluated_epoch']})"
                if best["evaluated_epoch"] != best["epoch"]
                else ""
            ),
            "  config:",
        ]
        for key, value in hyperparameters(best["config"]).items():
            lines.append(f"    {key:<22} {format_value(value)}")
        ensemble = ensemble_line(summary)
        if ensemble:
            lines.append(ensemble)
    if len(summary.get("objectives") or ()) > 1:
        front = ", ".join(f"#{n}" for n in summary["front"]) or "none yet"
        lines.append(
            f"Pareto front of {', '.join(summary['objectives'])}: {front} "
            f"(`hpsearch best {summary['experiment']}` shows it)"
        )
    if summary["ended"] in ("interrupted", "terminated"):
        lines.append(
            f"{summary['ended'].capitalize()} after {counts['total']} of {counts['requested']} "
            "trials; what ran is saved and summarized above."
        )
    elif summary["ended"] == "time_budget":
        lines.append(
            f"Time budget reached after {counts['total']} of {counts['requested']} trials."
        )
    lines += [
        f"Trials: {counts['total']} ({counts['completed']} completed, {counts['stopped']} stopped "
        f"early, {counts['diverged']} diverged, {counts['errored']} errored"
        + (f", {counts['interrupted']} interrupted" if counts.get("interrupted") else "")
        + ") in "
        f"{summary['wall_time_s']:.1f}s (+{summary['ray_start_s']:.1f}s Ray start-up)",
        f"Results: {summary['path']}",
        f"Summary: {join(summary['path'], 'summary.json')}",
    ]
    return "\n".join(lines)
