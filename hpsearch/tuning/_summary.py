"""After the search: trial outcomes, the best trial scored once on the test split, summary.json."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from hpsearch.config import SearchConfig
from hpsearch.data import TabularData
from hpsearch.experiments import (
    FINAL_STATES,
    hyperparameters,
    is_usable,
    last_error_line,
    trial_state,
)
from hpsearch.metrics import best_score, format_score, format_value
from hpsearch.storage import join, redact
from hpsearch.trainable import model_from_checkpoint, score_splits
from hpsearch.tuning._status import driver_identity

if TYPE_CHECKING:
    from ray.tune import ResultGrid


@dataclass
class TrialTimes:
    """When a trial started and ended, in seconds since the search started."""

    start: float
    end: float | None = None


def _trial_row(
    result: Any, metric: str, mode: str, max_epochs: int, experiment_path: str
) -> dict[str, Any]:
    """One trial: its outcome, its best score and epoch, its checkpoint."""
    last = result.metrics or {}
    trial_id = last.get("trial_id") or result.path.rsplit("trial_", 1)[-1]
    epochs = int(last.get("epoch", 0))
    history = result.metrics_dataframe
    rows = [] if history is None or metric not in history else history.to_dict("records")
    best_value, best_at = best_score(rows, metric, mode)
    state, reason = trial_state(
        epochs=epochs,
        max_epochs=max_epochs,
        done=bool(last.get("done")),
        diverged=bool(last.get("diverged")),
        error=None if result.error is None else last_error_line(str(result.error)),
        live=False,
    )
    return {
        "trial_id": trial_id,
        "number": int((result.config or {}).get("trial_number", -1)),
        "state": state,
        "reason": reason,
        "epochs": epochs,
        "best_value": best_value,
        "best_epoch": best_at,
        "last": {k: v for k, v in last.items() if k.startswith(("val_", "train_"))},
        "num_params": last.get("num_params"),
        "config": result.config or {},
        # Where the checkpoint is, as a path or URI a user can read from anywhere.
        "checkpoint": (
            redact(
                join(
                    experiment_path, f"trial_{trial_id}", result.checkpoint.path.rsplit("/", 1)[-1]
                )
            )
            if result.checkpoint
            else None
        ),
        "node": last.get("node_ip"),
    }


def _how_it_ended(config: SearchConfig, trials: int, wall_time_s: float) -> str:
    """``finished`` (every trial ran), ``time_budget`` or ``interrupted`` (Ctrl-C)."""
    if trials >= config.num_samples:
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
    results: ResultGrid,
    config: SearchConfig,
    data: TabularData,
    *,
    name: str,
    experiment_path: str,
    times: dict[str, TrialTimes],
    wall_time_s: float,
    ray_start_s: float,
) -> dict[str, Any]:
    """Everything a user wants to know when the search ends, as JSON-able data.

    The best trial is the one whose validation metric was best at any epoch;
    its best checkpointed weights are scored on the test split here, once;
    the search itself never saw that split.
    """
    metric, mode = config.resolved_metric(data.task), config.resolved_mode(data.task)
    # A trial Tune created as the time budget ran out may never have started:
    # no config, no metrics. It did not run, so it is not summarized.
    ran = [results[i] for i in range(len(results)) if results[i].config or results[i].metrics]
    rows = [_trial_row(r, metric, mode, config.max_epochs, experiment_path) for r in ran]
    checkpoints: dict[str, Any] = {
        row["trial_id"]: r.checkpoint for row, r in zip(rows, ran, strict=True)
    }
    for row in rows:
        if row["trial_id"] in times:
            t = times[row["trial_id"]]
            row["started_s"], row["ended_s"] = round(t.start, 3), round(t.end or wall_time_s, 3)
    ranked = sorted(filter(_usable, rows), key=lambda r: r["best_value"], reverse=mode == "max")
    counts = {s: sum(r["state"] == s for r in rows) for s in (*FINAL_STATES, "interrupted")}
    summary: dict[str, Any] = {
        **describe_search(config, data, name),
        "path": redact(experiment_path),
        "trials": {"total": len(rows), "requested": config.num_samples, **counts},
        "ended": _how_it_ended(config, len(rows), wall_time_s),
        "wall_time_s": round(wall_time_s, 3),
        "ray_start_s": round(ray_start_s, 3),
        "concurrency": {
            "share_2_or_more": round(overlap_share(times, 2), 3),
        },
        "best": None,
        "leaderboard": [
            {k: v for k, v in r.items() if k != "config"} | {"params": hyperparameters(r["config"])}
            # Ranked trials first, then those without a usable score.
            for r in ranked + [r for r in rows if not _usable(r)]
        ],
    }
    best = next((r for r in ranked if r["checkpoint"]), None)
    if best is not None:
        # Through Tune's Checkpoint: downloaded first when storage is remote.
        with checkpoints[best["trial_id"]].as_directory() as directory:
            model, state = model_from_checkpoint(directory, data.num_features, data.num_outputs)
        scores = score_splits(model, state, data, ("val", "test"))
        summary["best"] = {
            "trial_id": best["trial_id"],
            "number": best["number"],
            "config": hyperparameters(best["config"]),
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
        }
    return summary


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
    return {
        "experiment": name,
        "config": recorded,
        "dataset": data.name,
        "task": data.task,
        "metric": config.resolved_metric(data.task),
        "mode": config.resolved_mode(data.task),
        "class_names": list(data.class_names),
        "features": list(data.feature_names),
        "preprocessing": data.preprocessing,
        "split_sizes": data.sizes(),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The end-of-search report a person reads."""
    metric, counts, best = summary["metric"], summary["trials"], summary["best"]
    lines = [""]
    if best is None:
        lines.append("No trial produced a usable result (see the leaderboard in summary.json).")
    else:
        number = best["number"]
        test = ", ".join(f"{k} {format_score(v)}" for k, v in best["test"].items())
        lines += [
            f"Best trial {number}: {metric} {format_score(best[metric])} at epoch {best['epoch']} "
            f"({best['state']}, {best['epochs_trained']} epochs trained)",
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
