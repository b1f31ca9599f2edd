"""Experiments laid out on disk as a search writes them, in milliseconds, without Ray.

The inspection tests (``list``, ``best``, ``trials``, ``export``, ``report``,
:func:`hpsearch.load_experiment`) read these folders instead of waiting for a
real search, and choose what they need: the experiment's state, each trial's
outcome and scores, the task. The shapes (file names, keys, Tune's bookkeeping
in ``result.json``) are copied from a real search;
``tests/experiments/test_factory.py`` compares them with the keys and the
value types a real finished search wrote, so the two cannot drift apart.
A trial's state and reason, its best score and whether it can be the best
come from hpsearch itself (:func:`hpsearch.experiments.trial_state`,
:func:`hpsearch.metrics.best_score`, :func:`hpsearch.experiments.is_usable`);
the summary's ranking and its made-up test scores are the factory's, so a test
of ``best`` on a finished experiment checks what hpsearch reads from a
summary, not how the search chose its best.

A :class:`FakePack` among the trials lays out a pack (several trials trained as
one Tune trial) in the format of ``hpsearch.experiments._layout``: ``params.json``
with the members' configs, a ``members`` object on each result line, a
``member_<number>/`` slice and ``pack.json`` in each checkpoint.

What a factory experiment lacks: real weights. Its ``checkpoint_*/state.pt``
(and ``member_<n>/state.pt``) is a placeholder, so ``export-model`` and
``predict`` need a real search.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from hpsearch.config import SearchConfig
from hpsearch.experiments import is_usable, last_error_line, trial_state
from hpsearch.metrics import best_score
from hpsearch.objectives import Goals, is_feasible

Outcome = Literal["completed", "stopped", "diverged", "errored", "running"]
State = Literal["finished", "running", "interrupted", "errored"]
Task = Literal["classification", "regression"]

#: A pid no process can have (above Linux's largest pid_max, 2**22): a dead driver.
DEAD_PID = 2**22 + 12345
#: The placeholder in every checkpoint folder: not weights.
PLACEHOLDER = b"tests.factory: not a torch checkpoint\n"

_METRIC: dict[str, tuple[str, str]] = {
    "classification": ("val_accuracy", "max"),
    "regression": ("val_rmse", "min"),
}
# Optuna's JSON of the 'quick' space's distributions, as params.json holds them.
_DISTRIBUTIONS = {
    "optimizer": {"name": "CategoricalDistribution", "attributes": {"choices": ["adam", "adamw"]}},
    "lr": {
        "name": "FloatDistribution",
        "attributes": {"step": None, "low": 0.001, "high": 0.1, "log": True},
    },
    "width": {
        "name": "IntDistribution",
        "attributes": {"log": True, "step": 1, "low": 16, "high": 128},
    },
    "hidden_layers": {
        "name": "IntDistribution",
        "attributes": {"log": False, "step": 1, "low": 1, "high": 3},
    },
}


@dataclass(frozen=True)
class FakeTrial:
    """One trial, as the factory writes it.

    ``outcome`` is what the trial did; how inspection names it follows from
    the files (a ``running`` trial of a dead search reads as ``interrupted``).
    ``epochs`` defaults to ``max_epochs`` for a completed trial and to 1
    otherwise; ``score`` is the search metric's best value (reached at epoch
    ``best_at``, the last by default), a default picked from the trial number.

    ``runs`` > 1: the trial ran as that many Tune trials (one folder each, the same
    trial number), as a resumed search leaves it. Run ``i`` continues from the
    checkpoint at epoch ``resumed_at[i-1]`` of the run before it, which had reported
    up to epoch ``reached[i-1]`` (by default one past that checkpoint: the epochs in
    between are reported twice, the earlier run's a little worse). The earlier runs
    were cut short (killed); the last one ends as ``outcome`` says, at ``epochs``
    (which may equal its ``resumed_at``: a ``running`` or ``errored`` continuation that
    reported nothing).
    """

    outcome: Outcome = "completed"
    epochs: int | None = None
    score: float | None = None
    best_at: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    error: str = "ValueError: the trial failed"
    checkpoints: bool = True
    restarts: int = 0  # failures Tune recovered from, restarting the trial from its checkpoint
    runs: int = 1
    resumed_at: int | tuple[int, ...] = ()
    reached: int | tuple[int, ...] = ()
    #: What the trial reports about its model at every epoch (``num_params``, ``latency_ms``,
    #: ``latency_1024_ms``), over the factory's defaults (a size from the trial number).
    model: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FakePack:
    """Several trials trained together as one Tune trial, as the factory writes it.

    Its ``members`` take consecutive trial numbers and share the first member's
    structure (optimizer, hidden sizes, ...). Each is as a :class:`FakeTrial` says
    (its ``outcome``, ``epochs``, ``score``, ``best_at``, ``params``, ``model``); all start
    at the pack's first step, one epoch a step. How each ends shows in the pack's lines:
    ``completed`` and ``diverged`` leave the pack (``left``) at their last epoch;
    ``stopped`` has no entry in later lines (or ends with the pack); ``running`` is
    still in the pack at its last line, which is then not Tune's last; ``errored``: the
    pack failed (``error``) after its last line, with the member still in it.

    A member with ``runs`` > 1 was cut short with its pack (killed) after reporting epoch
    ``reached[0]`` (the pack's last step), and continued as a single trial from its slice
    of the pack's checkpoint at epoch ``resumed_at[0]`` (its later runs, as for a
    :class:`FakeTrial`). The pack's ``restarts``: failures Tune recovered from.
    """

    members: tuple[FakeTrial, ...]
    error: str = "RuntimeError: the pack failed"
    restarts: int = 0
    checkpoints: bool = True


#: Six trials, one of each outcome a finished search has, completed twice.
DEFAULT_TRIALS = (
    FakeTrial("completed", score=0.91, best_at=3),
    FakeTrial("stopped", epochs=2, score=0.72),
    FakeTrial("completed", score=0.86),
    FakeTrial("diverged", epochs=2, score=0.55, best_at=1),
    FakeTrial("errored", epochs=1, score=0.6),
    FakeTrial("stopped", epochs=1, score=0.64),
)


@dataclass(frozen=True)
class FakeExperiment:
    """What :func:`make_experiment` wrote: where, and the summary (``None`` unless finished)."""

    root: Path
    name: str
    path: Path
    summary: dict[str, Any] | None
    # In trial-number order (a resumed trial's first run's; a pack member's "<pack id>.<n>").
    trial_ids: tuple[str, ...]
    runs: tuple[tuple[str, ...], ...] = ()  # per trial number, its Tune ids in run order


# A search of several objectives whose front is known -----------------------------------

OBJECTIVES = ("val_accuracy:max", "latency_ms:min")
CONSTRAINTS = ("num_params<=5000",)

#: (val_accuracy, latency_ms) by trial number; the default size (1000 + 100 n) is feasible.
LINE = {0: (0.75, 1.0), 1: (0.80, 2.0), 2: (0.85, 3.0), 3: (0.90, 4.0)}
DOMINATED = {4: (0.82, 3.5), 5: (0.70, 2.5)}  # by 2 (0.85 at 3.0) and by 1 (0.80 at 2.0)
INFEASIBLE = 6  # 0.99 at 0.1 ms, but 90,000 parameters
ERRORED = 7  # 0.98 at 0.2 ms, but it crashed
#: The front, best val_accuracy first.
FRONT = [3, 2, 1, 0]


def front_trials() -> list[FakeTrial]:
    """Each best at epoch 3 of 4: its point is not its last epoch's values."""
    trials = [
        FakeTrial("completed", score=acc, best_at=3, model={"latency_ms": ms})
        for acc, ms in (LINE | DOMINATED).values()
    ]
    big = {"latency_ms": 0.1, "num_params": 90_000}
    trials.append(FakeTrial(score=0.99, best_at=3, model=big))
    trials.append(FakeTrial("errored", epochs=2, score=0.98, model={"latency_ms": 0.2}))
    return trials


def make_front(
    root: Path | str, state: State = "finished", constraints: tuple[str, ...] = CONSTRAINTS
) -> FakeExperiment:
    """Experiment ``pareto``: a search of :data:`OBJECTIVES` under :data:`CONSTRAINTS`
    (or ``constraints``) whose front is known by construction: :data:`FRONT`."""
    return make_experiment(
        root,
        "pareto",
        trials=front_trials(),
        state=state,
        objectives=OBJECTIVES,
        constraints=constraints,
    )


def make_experiment(
    root: Path | str,
    name: str = "exp",
    *,
    trials: Sequence[FakeTrial | FakePack] = DEFAULT_TRIALS,
    state: State = "finished",
    ended: str = "finished",
    task: Task = "classification",
    max_epochs: int = 4,
    num_samples: int | None = None,
    checkpoint_every: int = 2,
    objectives: Sequence[str] = (),
    constraints: Sequence[str] = (),
) -> FakeExperiment:
    """Lay out experiment ``name`` under ``root`` as a search would have left it.

    ``state``: ``finished`` (summary.json; ``ended`` says how: ``finished``,
    ``time_budget``, ``interrupted``, ``terminated``), ``running`` (this process
    is its live driver, with a fresh heartbeat), ``interrupted`` (killed: its
    driver's pid is dead, no summary) or ``errored`` (the driver's error in
    status.json, no summary).

    ``objectives`` and ``constraints``: a search of several objectives (the first the
    task's metric, which ``score`` sets) or with constraints, as ``--objective`` and
    ``--constraint`` give them; each trial's ``model`` metrics are what they judge.

    ``trials`` may hold packs (:class:`FakePack`): each member is a trial of its own number.
    """
    root = Path(root)
    path = root / name
    path.mkdir(parents=True)
    config = SearchConfig(
        dataset="spirals" if task == "classification" else "friedman",
        space="quick",
        num_samples=num_samples or sum(_size(t) for t in trials),
        max_epochs=max_epochs,
        checkpoint_every=checkpoint_every,
        name=name,
        storage=str(root),
        objectives=tuple(objectives),
        constraints=tuple(constraints),
    )
    assert config.resolved_metric(task) == _METRIC[task][0], "the primary is the task's metric"
    started = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=5)
    pid = DEAD_PID if state == "interrupted" else os.getpid()
    record = {
        **_describe(config, name, task),
        "started_at": started.isoformat(),
        "driver": {"host": socket.gethostname(), "pid": pid},
    }
    _write_json(path / "hpsearch.json", record)
    written: list[_Written] = []
    for trial in trials:
        if isinstance(trial, FakePack):
            written += _write_pack(path, len(written), trial, config, task, started)
        else:
            written.append(_write_trial(path, len(written), trial, config, task, started))
    summary = None
    if state == "finished":
        summary = _summary(record, path, written, config, ended)
        _write_json(path / "summary.json", summary)
    _write_json(path / "status.json", _status(state, written, pid))
    ids = tuple(w.trial_id for w in written)
    return FakeExperiment(root, name, path, summary, ids, tuple(w.runs for w in written))


def _size(trial: FakeTrial | FakePack) -> int:
    return len(trial.members) if isinstance(trial, FakePack) else 1


def pack_id(name: str, first: int) -> str:
    """The 8-hex-digit Tune id the factory gives the pack of experiment ``name`` whose
    first member is trial ``first``."""
    return hashlib.sha1(f"{name}/pack{first}".encode()).hexdigest()[:8]


def trial_id(name: str, number: int, run: int = 0) -> str:
    """The 8-hex-digit id the factory gives trial ``number`` of experiment ``name``
    (in its run ``run`` after a resume, counting from 0)."""
    key = f"{name}/{number}" if run == 0 else f"{name}/{number}/run{run}"
    return hashlib.sha1(key.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class _Written:
    trial: FakeTrial
    trial_id: str
    number: int
    config: dict[str, Any]
    lines: list[dict[str, Any]]  # one per epoch (a later run's report of an epoch wins)
    checkpoint: str | None  # the latest checkpoint, relative to the experiment
    error: str | None  # error.txt when the trial ended on an error (not a recovered one)
    runs: tuple[str, ...] = ()  # its Tune ids, in run order


def _describe(config: SearchConfig, name: str, task: Task) -> dict[str, Any]:
    """The keys hpsearch.json and summary.json both start with (a search of several
    objectives or with constraints names them; one of a single metric does not)."""
    metric, mode = _METRIC[task]
    objectives, constraints = config.resolved_objectives(task), config.parsed_constraints(task)
    goals = (
        {
            "objectives": [o.text for o in objectives],
            "constraints": [c.text for c in constraints],
        }
        if len(objectives) > 1 or constraints
        else {}
    )
    features = ["x0", "x1"] if task == "classification" else [f"x{i}" for i in range(5)]
    columns = [
        {"name": f, "kind": "numeric", "median": 0.0, "mean": 0.0, "std": 0.5, "indicator": False}
        for f in features
    ]
    return {
        "experiment": name,
        "config": config.to_json(),
        "dataset": config.dataset,
        "task": task,
        "metric": metric,
        "mode": mode,
        **goals,
        "class_names": ["0", "1"] if task == "classification" else [],
        "features": features,
        "preprocessing": {"target": "y", "columns": columns},
        "split_sizes": {"train": 600, "val": 200, "test": 200},
    }


def _params(number: int, trial: FakeTrial, task: Task) -> dict[str, Any]:
    """A trial's config as the 'quick' space and hpsearch's wrapper record it: the keys
    the space returned; what Optuna drew (width, hidden_layers) only in its record."""
    searched: dict[str, Any] = {
        "optimizer": ("adam", "adamw")[number % 2],
        "lr": round(0.002 * (number + 1), 6),
        "width": 16 + 8 * number,
        "hidden_layers": 1 + number % 3,
        **{k: v for k, v in trial.params.items() if k in _DISTRIBUTIONS},
    }
    config = {
        "optimizer": searched["optimizer"],
        "lr": searched["lr"],
        "weight_decay": 0.0,
        "hidden_sizes": [searched["width"]] * searched["hidden_layers"],
        "activation": "relu",
        "dropout": 0.0,
        "batch_norm": False,
        "batch_size": 64,
        "augmentation": "none",
        "augmentation_strength": 0.0,
        "loss": "cross_entropy" if task == "classification" else "mse",
        "loss_param": 0.0,
        **trial.params,
    }
    distributions = {k: json.dumps(_DISTRIBUTIONS[k]) for k in searched}
    optuna = {"params": searched, "distributions": distributions}
    return {**config, "trial_number": number, "seed": 1000 + number, "optuna": optuna}


def _epochs(trial: FakeTrial, max_epochs: int) -> int:
    epochs = trial.epochs
    if epochs is None:
        epochs = max_epochs if trial.outcome == "completed" else 1
    ended_early = trial.outcome in ("stopped", "running")
    assert epochs <= max_epochs and not (ended_early and epochs == max_epochs), (
        f"a {trial.outcome} trial trains fewer than max_epochs={max_epochs}, not {epochs}"
    )
    assert epochs > 0 or trial.outcome == "running", "only a running trial has no epoch yet"
    return epochs


def _score(number: int, trial: FakeTrial, task: Task) -> float:
    if trial.score is not None:
        return trial.score
    spread = (number * 7) % 10
    return 0.6 + spread / 30 if task == "classification" else 1.0 + spread / 10


def _metrics(task: Task, value: float) -> dict[str, float]:
    """The validation metrics a trial reports at one epoch, ``value`` the search metric's."""
    if task == "classification":
        loss = 1.2 * (1.0 - value) + 0.05
        return {"train_loss": 0.9 * loss, "val_loss": loss, "val_accuracy": value}
    loss = value**2
    return {"train_loss": 0.9 * loss, "val_loss": loss, "val_rmse": value, "val_r2": 1 - loss / 9}


def _diverged_metrics(task: Task) -> dict[str, float]:
    nan = math.nan
    names = ("val_accuracy",) if task == "classification" else ("val_rmse", "val_r2")
    return {"train_loss": math.inf, "val_loss": nan, **dict.fromkeys(names, nan)}


def _checkpoint_epochs(trial: FakeTrial, epochs: int, config: SearchConfig) -> list[int]:
    """Epochs the trainable checkpointed after: every N, the last of all, a divergence,
    and (the scheduler's rungs, where it stops trials) a stopped trial's last."""
    if not trial.checkpoints:
        return []
    last = {config.max_epochs} | ({epochs} if trial.outcome in ("stopped", "diverged") else set())
    return [e for e in range(1, epochs + 1) if e % config.checkpoint_every == 0 or e in last]


def _spans(trial: FakeTrial, epochs: int) -> list[tuple[int, int]]:
    """The epochs each run reports, ``(first, last)``: the last run's end at ``epochs``."""
    resumed = _as_tuple(trial.resumed_at)
    reached = _as_tuple(trial.reached) or tuple(c + 1 for c in resumed)
    assert len(resumed) == len(reached) == trial.runs - 1, (
        f"{trial.runs} runs need {trial.runs - 1} resumed_at (and reached) epochs"
    )
    starts, ends = (0, *resumed), (*reached, epochs)
    for c, k, then in zip(starts[:-1], ends[:-1], starts[1:], strict=True):
        assert c < k, f"a run continued from epoch {c} reports more epochs, not up to {k}"
        assert then <= k, f"a run that reached epoch {k} has no checkpoint at epoch {then}"
    # A continuation with no report: just started, or failed before its first epoch.
    no_epoch = trial.outcome in ("running", "errored")
    assert starts[-1] < epochs or no_epoch, "only a running or errored run reports nothing"
    return [(c + 1, k) for c, k in zip(starts, ends, strict=True)]


def _as_tuple(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return (value,) if isinstance(value, int) else value


def _write_trial(
    path: Path, number: int, trial: FakeTrial, config: SearchConfig, task: Task, started: datetime
) -> _Written:
    params = _params(number, trial, task)
    epochs = _epochs(trial, config.max_epochs)
    spans = _spans(trial, epochs)
    ids = tuple(trial_id(path.name, number, run) for run in range(len(spans)))
    by_epoch: dict[int, dict[str, Any]] = {}
    checkpoint, resume_from, error = None, None, None
    for run, (first, last) in enumerate(spans):
        folder = path / f"trial_{ids[run]}"
        # A resumed run starts well after every trial of the runs before it.
        when = started + timedelta(seconds=10 + 2 * number + 60 * run)
        # The next run (if any) continues from this one's checkpoint at this epoch.
        cut = spans[run + 1][0] - 1 if run + 1 < len(spans) else None
        written = _Run(number, trial, task, first, last, epochs, cut, when)
        config_run = params if resume_from is None else {**params, "resume_from": resume_from}
        lines, saved, error = _write_run(folder, written, config, config_run)
        by_epoch |= {line["epoch"]: line for line in lines}
        if saved:
            checkpoint = f"{folder.name}/{saved[-1]}"
        resume_from = str(folder / saved[-1]) if saved and cut else None
    lines = [by_epoch[e] for e in sorted(by_epoch)]
    fatal = error if trial.outcome == "errored" else None
    return _Written(trial, ids[0], number, params, lines, checkpoint, fatal, ids)


@dataclass(frozen=True)
class _Run:
    """One Tune run of a trial: it reports epochs ``first`` to ``last`` of ``epochs``;
    ``cut``: the epoch of the checkpoint the next run continues from (``None``: the
    trial's last run, which ends as its outcome says)."""

    number: int
    trial: FakeTrial
    task: Task
    first: int
    last: int
    epochs: int
    cut: int | None
    start: datetime


def _write_run(
    folder: Path, run: _Run, config: SearchConfig, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """One Tune run's folder; returns its lines, its checkpoints' names and its error.txt."""
    trial, number, final = run.trial, run.number, run.cut is None
    folder.mkdir()
    tid = folder.name.removeprefix("trial_")
    _write_json(folder / "params.json", params, indent=2)
    score, mode = _score(number, trial, run.task), _METRIC[run.task][1]
    best_at = trial.best_at or run.epochs
    saved = _checkpoint_epochs(trial, run.epochs, config)
    if run.cut is not None:  # killed after reporting `last`; its newest checkpoint at `cut`
        saved = [e for e in saved if e < run.cut] + ([run.cut] if trial.checkpoints else [])
    saved = [e for e in saved if run.first <= e <= run.last]
    lines = []
    for epoch in range(run.first, run.last + 1):
        # The best value at best_at, worse by 0.02 per epoch away from it; an epoch the
        # next run reports again is 0.01 worse here (the later report is the one that counts).
        again = run.cut is not None and epoch > run.cut
        away = 0.02 * abs(epoch - best_at) + (0.01 if again else 0.0)
        value = score - away if mode == "max" else score + away
        diverged = final and trial.outcome == "diverged" and epoch == run.epochs
        metrics = _diverged_metrics(run.task) if diverged else _metrics(run.task, value)
        checkpoint = f"checkpoint_{saved.index(epoch):06d}" if epoch in saved else None
        done = (
            final and epoch == run.epochs and trial.outcome in ("completed", "stopped", "diverged")
        )
        when = run.start + timedelta(seconds=epoch)
        line = _tune_line(
            trial, metrics, diverged, epoch, tid, number, params, when, checkpoint, done
        )
        # Each Tune run counts from zero; the trainable reports the epoch it continued from.
        since = epoch - run.first + 1
        lines.append(
            line
            | {"resumed_from_epoch": run.first - 1, "training_iteration": since}
            | {"time_total_s": 0.5 * since, "time_since_restore": 0.5 * since}
            | {"iterations_since_restore": since}
        )
    # Tune appends a line per report: result.json exists (empty) from the trial's start.
    (folder / "result.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    names = [f"checkpoint_{index:06d}" for index in range(len(saved))]
    for name in names[-config.keep_checkpoints :]:
        (folder / name).mkdir()
        (folder / name / "state.pt").write_bytes(PLACEHOLDER)
    if not final:
        return lines, names, None  # killed with the search: no error of its own
    # Recovered failures happened before the run's first report; the fatal one after its last.
    failures = [run.start] * trial.restarts
    if trial.outcome == "errored":
        failures.append(run.start + timedelta(seconds=run.last + 1))
    error = _error_text(failures, trial.error) if failures else None
    if error is not None:
        (folder / "error.txt").write_text(error)
    return lines, names, error


# Packs ------------------------------------------------------------------------------

#: The config keys every member of a pack shares (those the factory's configs have), and
#: what Optuna drew for them.
_PACK_SHARED = (
    "optimizer",
    "hidden_sizes",
    "activation",
    "batch_norm",
    "batch_size",
    "augmentation",
)
_PACK_SHARED_DRAWN = ("optimizer", "width", "hidden_layers")


@dataclass(frozen=True)
class _Member:
    """A pack member as the factory plans it: its epochs in the pack ``1..last``; ``cut``:
    the epoch of the pack checkpoint its continuation starts from (``None``: it ends in
    the pack, as its outcome says)."""

    number: int
    trial: FakeTrial
    params: dict[str, Any]
    epochs: int
    spans: list[tuple[int, int]]

    @property
    def last(self) -> int:
        return self.spans[0][1]

    @property
    def cut(self) -> int | None:
        return self.spans[1][0] - 1 if len(self.spans) > 1 else None

    @property
    def leaves(self) -> str | None:
        """``completed`` or ``diverged`` when it leaves the pack at its last epoch."""
        ends = self.cut is None and self.trial.outcome in ("completed", "diverged")
        return self.trial.outcome if ends else None

    def state_at(self, step: int) -> str:
        """Its state in ``pack.json`` of a checkpoint at ``step``."""
        if self.leaves and step >= self.last:
            return self.leaves
        if self.cut is None and self.trial.outcome == "stopped" and step > self.last:
            return "stopped"
        return "running"


def _plan_members(
    first: int, pack: FakePack, config: SearchConfig, task: Task
) -> tuple[list[_Member], int]:
    """The members and the pack's last step; asserts the pack is one a search can write."""
    assert pack.members, "a pack has members"
    members: list[_Member] = []
    for offset, trial in enumerate(pack.members):
        number = first + offset
        params = _params(number, trial, task)
        if members:  # members share their structure: the first member's
            shared = members[0].params
            params |= {k: shared[k] for k in _PACK_SHARED}
            drawn = {k: shared["optuna"]["params"][k] for k in _PACK_SHARED_DRAWN}
            params["optuna"] = {
                **params["optuna"],
                "params": {**params["optuna"]["params"], **drawn},
            }
        epochs = _epochs(trial, config.max_epochs)
        members.append(_Member(number, trial, params, epochs, _spans(trial, epochs)))
        assert members[-1].last >= 1, f"member {number} reports an epoch in its pack"
    steps = max(m.last for m in members)
    for m in members:
        still_in = m.cut is not None or m.trial.outcome in ("running", "errored")
        assert not still_in or m.last == steps, (
            f"member {m.number} is still in the pack at its end: it reports to step {steps}"
        )
    cuts = {m.cut for m in members if m.cut is not None}
    assert len(cuts) <= 1, "the members cut short with the pack continue from one checkpoint"
    errored = any(m.cut is None and m.trial.outcome == "errored" for m in members)
    assert not (errored and (cuts or any(m.trial.outcome == "running" for m in members))), (
        "a pack that failed has no running or cut member"
    )
    return members, steps


def _write_pack(
    path: Path, first: int, pack: FakePack, config: SearchConfig, task: Task, started: datetime
) -> list[_Written]:
    """A pack's folder (and its members' continuations); one :class:`_Written` per member."""
    members, steps = _plan_members(first, pack, config, task)
    cut = next((m.cut for m in members if m.cut is not None), None)
    errored = any(m.cut is None and m.trial.outcome == "errored" for m in members)
    running = any(m.cut is None and m.trial.outcome == "running" for m in members)
    done = cut is None and not errored and not running
    assert all(m.trial.outcome != "stopped" or m.last < steps or done for m in members), (
        "a member stopped at the pack's last step ends with the pack: it cannot be running"
    )
    tid = pack_id(path.name, first)
    folder = path / f"trial_{tid}"
    folder.mkdir()
    configs = {"pack": [m.params for m in members]}
    _write_json(folder / "params.json", configs, indent=2)
    saved = _pack_checkpoint_steps(pack, members, steps, done, cut, config)
    start = started + timedelta(seconds=10 + 2 * first)
    lines = []
    rows: dict[int, list[dict[str, Any]]] = {m.number: [] for m in members}
    for step in range(1, steps + 1):
        entries = {m.number: _member_entry(m, step, task) for m in members if m.last >= step}
        when = start + timedelta(seconds=step)
        shared = {
            "timestamp": int(when.timestamp()),
            "time_total_s": 0.5 * step,
            "hostname": socket.gethostname(),
            "node_ip": "127.0.0.1",
        }
        for number, entry in entries.items():
            rows[number].append({k: v for k, v in entry.items() if k != "left"} | shared)
        checkpoint = f"checkpoint_{saved.index(step):06d}" if step in saved else None
        lines.append(
            _pack_line(entries, task, step, tid, when, checkpoint, done and step == steps)
            | shared
            | {"config": configs}
        )
    (folder / "result.json").write_text("".join(json.dumps(line) + "\n" for line in lines))
    names = [f"checkpoint_{index:06d}" for index in range(len(saved))]
    for name, step in list(zip(names, saved, strict=True))[-config.keep_checkpoints :]:
        _write_pack_checkpoint(folder / name, members, step)
    failures = [start] * pack.restarts + ([start + timedelta(seconds=steps + 1)] if errored else [])
    error = _error_text(failures, pack.error) if failures else None
    if error is not None:
        (folder / "error.txt").write_text(error)
    kept = names[-config.keep_checkpoints :]
    written = []
    for m in members:
        # Ended in the pack: it left, a later line has no entry for it, or the pack ended.
        ended = m.leaves is not None or m.last < steps or done
        member_rows = [*rows[m.number][:-1], rows[m.number][-1] | {"done": ended}]
        checkpoint = f"{folder.name}/{kept[-1]}/member_{m.number}" if kept else None
        fatal = error if m.cut is None and m.trial.outcome == "errored" else None
        in_pack = _Written(m.trial, f"{tid}.{m.number}", m.number, m.params, member_rows,
                           checkpoint, fatal, (tid,))  # fmt: skip
        written.append(_continue(path, in_pack, m, config, task, started))
    return written


def _pack_checkpoint_steps(
    pack: FakePack,
    members: list[_Member],
    steps: int,
    done: bool,
    cut: int | None,
    config: SearchConfig,
) -> list[int]:
    """Steps the pack checkpointed after: every N, its last if it ended, and each step a
    member left or was judged at (its final slice); cut short, its newest at ``cut``."""
    if not pack.checkpoints:
        return []
    ends = {m.last for m in members if m.cut is None and m.trial.outcome != "running"}
    last = ({steps} if done else set()) | ends
    saved = [s for s in range(1, steps + 1) if s % config.checkpoint_every == 0 or s in last]
    return saved if cut is None else [s for s in saved if s < cut] + [cut]


def _member_entry(m: _Member, step: int, task: Task) -> dict[str, Any]:
    """What member ``m`` reports at ``step`` (its epoch): a single trial's metrics, and
    whether it leaves the pack."""
    trial, mode = m.trial, _METRIC[task][1]
    score, best_at = _score(m.number, trial, task), trial.best_at or m.epochs
    # As for a single run: an epoch the continuation reports again is worse here.
    again = m.cut is not None and step > m.cut
    away = 0.02 * abs(step - best_at) + (0.01 if again else 0.0)
    value = score - away if mode == "max" else score + away
    diverged = m.leaves == "diverged" and step == m.last
    metrics = _diverged_metrics(task) if diverged else _metrics(task, value)
    return {
        "epoch": step,
        **metrics,
        "diverged": diverged,
        "epoch_time_s": 0.25,
        "num_params": 1000 + 100 * m.number,
        **trial.model,
        "resumed_from_epoch": 0,
        "left": m.leaves if step == m.last else None,
    }


def _pack_line(
    entries: dict[int, dict[str, Any]],
    task: Task,
    step: int,
    tid: str,
    when: datetime,
    checkpoint: str | None,
    done: bool,
) -> dict[str, Any]:
    """One line of a pack's result.json: the members', the pack's best value of the search
    metric at top level (Tune needs it there), then Tune's bookkeeping."""
    metric, mode = _METRIC[task]
    values = [e[metric] for e in entries.values() if math.isfinite(e[metric])]
    line: dict[str, Any] = {
        "members": {str(n): e for n, e in entries.items()},
        "pack_size": len(entries),
        metric: (max if mode == "max" else min)(values) if values else math.nan,
        "checkpoint_dir_name": checkpoint,
    }
    if checkpoint is not None:
        line["should_checkpoint"] = True
    return line | {
        "done": done,
        "training_iteration": step,
        "trial_id": tid,
        "date": when.strftime("%Y-%m-%d_%H-%M-%S"),
        "time_this_iter_s": 0.5,
        "pid": 40000,
        "time_since_restore": 0.5 * step,
        "iterations_since_restore": step,
    }


def _write_pack_checkpoint(folder: Path, members: list[_Member], step: int) -> None:
    """A pack checkpoint: every member's slice (an ended member's final one), ``pack.json``."""
    folder.mkdir()
    for m in members:
        (folder / f"member_{m.number}").mkdir()
        (folder / f"member_{m.number}" / "state.pt").write_bytes(PLACEHOLDER)
    states = {
        str(m.number): {"state": m.state_at(step), "epoch": min(step, m.last)} for m in members
    }
    _write_json(folder / "pack.json", {"members": states})


def _continue(
    path: Path, in_pack: _Written, m: _Member, config: SearchConfig, task: Task, started: datetime
) -> _Written:
    """Member ``m``, cut short with its pack, continued as a single trial (its later runs,
    written here, from its slice of the pack's newest checkpoint); ``in_pack`` if it was not."""
    if m.cut is None:
        return in_pack
    by_epoch = {row["epoch"]: row for row in in_pack.lines}
    checkpoint, error, ids = in_pack.checkpoint, None, list(in_pack.runs)
    resume_from = str(path / checkpoint) if checkpoint else None
    for run, (first, last) in enumerate(m.spans[1:], 1):
        folder = path / f"trial_{trial_id(path.name, m.number, run)}"
        when = started + timedelta(seconds=10 + 2 * m.number + 60 * run)
        cut = m.spans[run + 1][0] - 1 if run + 1 < len(m.spans) else None
        params = {**m.params, "resume_from": resume_from}
        lines, saved, error = _write_run(
            folder, _Run(m.number, m.trial, task, first, last, m.epochs, cut, when), config, params
        )
        by_epoch |= {line["epoch"]: line for line in lines}
        if saved:
            checkpoint = f"{folder.name}/{saved[-1]}"
        resume_from = str(folder / saved[-1]) if saved and cut else None
        ids.append(folder.name.removeprefix("trial_"))
    lines = [by_epoch[e] for e in sorted(by_epoch)]
    fatal = error if m.trial.outcome == "errored" else None
    return _Written(m.trial, in_pack.trial_id, m.number, m.params, lines, checkpoint, fatal,
                    tuple(ids))  # fmt: skip


def _tune_line(
    trial: FakeTrial,
    metrics: dict[str, float],
    diverged: bool,
    epoch: int,
    tid: str,
    number: int,
    params: dict[str, Any],
    when: datetime,
    checkpoint: str | None,
    done: bool,
) -> dict[str, Any]:
    """One line of result.json: what the trainable reported, then Tune's bookkeeping."""
    line: dict[str, Any] = {
        "epoch": epoch,
        **metrics,
        "diverged": diverged,
        "epoch_time_s": 0.25,
        "num_params": 1000 + 100 * number,
        **trial.model,
        "resumed_from_epoch": 0,
        "timestamp": int(when.timestamp()),
        "checkpoint_dir_name": checkpoint,
    }
    if checkpoint is not None:
        line["should_checkpoint"] = True
    return line | {
        "done": done,
        "training_iteration": epoch,
        "trial_id": tid,
        "date": when.strftime("%Y-%m-%d_%H-%M-%S"),
        "time_this_iter_s": 0.5,
        "time_total_s": 0.5 * epoch,
        "pid": 40000 + number,
        "hostname": socket.gethostname(),
        "node_ip": "127.0.0.1",
        "config": params,
        "time_since_restore": 0.5 * epoch,
        "iterations_since_restore": epoch,
    }


def _error_text(failures: list[datetime], error: str) -> str:
    """error.txt as Tune writes it: per failure, a header and the worker's traceback."""
    return "".join(
        f"Failure # {n} (occurred at {when.strftime('%Y-%m-%d_%H-%M-%S')})\n"
        "\x1b[36mray::ImplicitFunc.train()\x1b[39m (pid=40000, ip=127.0.0.1)\n"
        '  File "hpsearch/trainable/_tune.py", line 40, in train_trial\n'
        f"{error}\n"
        for n, when in enumerate(failures, 1)
    )


def _summary_state(w: _Written, max_epochs: int) -> tuple[str, str]:
    """The state and reason the summary records, decided by hpsearch's own
    :func:`~hpsearch.experiments.trial_state` from the last line (nothing runs any more)."""
    last = w.lines[-1] if w.lines else {}
    return trial_state(
        epochs=int(last.get("epoch", 0)),
        max_epochs=max_epochs,
        done=bool(last.get("done")),
        diverged=bool(last.get("diverged")),
        error=None if w.error is None else last_error_line(w.error),
        live=False,
    )


def _row(w: _Written, path: Path, goals: Goals, max_epochs: int) -> dict[str, Any]:
    """The trial's entry in the summary's leaderboard (with its point and feasibility where
    the search has several objectives or constraints)."""
    state, reason = _summary_state(w, max_epochs)
    value, epoch = best_score(w.lines, goals.primary.metric, goals.primary.mode)
    last = w.lines[-1] if w.lines else {}
    internal = ("trial_number", "seed", "optuna")
    at_best = next((line for line in w.lines if line["epoch"] == epoch), {})
    point = {m: at_best.get(m) for m in goals.metrics}
    return {
        "trial_id": w.trial_id,
        "number": w.number,
        "state": state,
        "reason": reason,
        "epochs": last.get("epoch", 0),
        "best_value": value,
        "best_epoch": epoch,
        **({"values": point} if goals.ranked else {}),
        **({"feasible": is_feasible(point, goals.constraints)} if goals.constraints else {}),
        "last": {k: v for k, v in last.items() if k.startswith(("val_", "train_"))},
        "num_params": last.get("num_params"),
        "checkpoint": str(path / w.checkpoint) if w.checkpoint else None,
        "node": last.get("node_ip"),
        "started_s": 10.0 + 2 * w.number,
        "ended_s": 10.0 + 2 * w.number + len(w.lines),
        "params": {k: v for k, v in w.config.items() if k not in internal},
    }


def _summary(
    record: dict[str, Any],
    path: Path,
    written: list[_Written],
    config: SearchConfig,
    ended: str,
) -> dict[str, Any]:
    task = record["task"]
    goals = Goals(config.resolved_objectives(task), config.parsed_constraints(task))
    rows = [_row(w, path, goals, config.max_epochs) for w in written]
    usable = [r for r in rows if is_usable(r["state"], r["best_value"])]
    usable.sort(key=lambda r: r["best_value"], reverse=goals.primary.mode == "max")
    usable.sort(key=lambda r: not r.get("feasible", True))  # the feasible first
    states = ("completed", "stopped", "diverged", "errored", "interrupted")
    best_row = next((r for r in usable if r["checkpoint"] and r.get("feasible", True)), None)
    front = {}
    if goals.ranked:  # hpsearch's rule of the front (hpsearch.objectives), as the search's
        front["front"] = [usable[i]["number"] for i in goals.front([r["values"] for r in usable])]
    return {
        **{k: v for k, v in record.items() if k not in ("started_at", "driver")},
        "path": str(path),
        "trials": {
            "total": len(rows),
            "requested": config.num_samples,
            **{s: sum(r["state"] == s for r in rows) for s in states},
        },
        "ended": ended,
        "wall_time_s": 40.0,
        "ray_start_s": 2.5,
        "concurrency": {"share_2_or_more": 0.9},
        "best": None if best_row is None else _best_entry(best_row, written, record),
        **front,
        "leaderboard": usable + [r for r in rows if r not in usable],
        **_final_model(usable, best_row, goals, record),
        "total_time_s": 45.0,
    }


def _final_model(
    usable: list[dict[str, Any]],
    best_row: dict[str, Any] | None,
    goals: Goals,
    record: dict[str, Any],
) -> dict[str, Any]:
    """The median trial's score, and the ensemble of the two best checkpointed trials
    (made-up scores, adopted), as a search of one metric has them; none with several
    objectives or constraints, or fewer than two checkpointed trials."""
    feasible = sorted(r["best_value"] for r in usable if r.get("feasible", True))
    n = len(feasible)
    median = None if not n else (feasible[(n - 1) // 2] + feasible[n // 2]) / 2
    top = [r for r in usable if r["checkpoint"]][:2]
    final = None if best_row is None else "best"
    if goals.ranked or len(top) < 2 or best_row is None:
        why = "the search has several objectives or constraints: it has no single best to beat"
        skipped = why if goals.ranked else f"{len(top)} usable trials with a checkpoint"
        return {"median_value": median, "ensemble": None, "ensemble_skipped": skipped,
                "final": final}  # fmt: skip
    metric = record["metric"]
    test_metric = metric.replace("val_", "test_")
    halves = {"ensemble": {"val_loss": 0.3, metric: 0.9}, "best": {"val_loss": 0.4, metric: 0.85}}
    picks = sorted([top[0]["number"]] * 3 + [top[1]["number"]])  # the best picked 3 times
    members = [
        {
            "number": r["number"],
            "trial_id": r["trial_id"],
            "weight": picks.count(r["number"]) / len(picks),
            "checkpoint": r["checkpoint"],
        }
        for r in sorted(top, key=lambda r: r["number"])
    ]
    ensemble = {
        "members": members,
        "picks": picks,
        "candidates": [r["number"] for r in usable if r["checkpoint"]][:8],
        "split": {"selection_rows": 50, "check_rows": 50},
        "selection": halves,
        "check": halves,
        "adopted": True,
        "reason": "better on the check half of validation",
        "val": {"val_loss": 0.3, metric: 0.92},
        "test": {"test_loss": 0.31, test_metric: 0.9},
        "time_s": 0.4,
    }
    return {"median_value": median, "ensemble": ensemble, "final": "ensemble"}


def _best_entry(
    row: dict[str, Any], written: list[_Written], record: dict[str, Any]
) -> dict[str, Any]:
    """The summary's best trial, scored (here: made up) on the held-out test split."""
    metric = record["metric"]
    lines = next(w for w in written if w.trial_id == row["trial_id"]).lines
    at_best = next(line for line in lines if line["epoch"] == row["best_epoch"])
    val = {k: v for k, v in at_best.items() if k.startswith("val_")}
    test = {k.replace("val_", "test_"): v - 0.01 for k, v in val.items()}
    return {
        "trial_id": row["trial_id"],
        "number": row["number"],
        "config": row["params"],
        metric: row["best_value"],
        "epoch": row["best_epoch"],
        "epochs_trained": row["epochs"],
        "state": row["state"],
        "checkpoint": row["checkpoint"],
        "evaluated_epoch": row["best_epoch"],
        "val": val,
        "test": test,
        "num_params": row["num_params"],
        **({"values": row["values"]} if "values" in row else {}),
    }


def _status(state: State, written: list[_Written], pid: int) -> dict[str, Any]:
    """status.json: the driver's last heartbeat (now: the driver of a running search is us)."""
    beat = {
        "state": {"finished": "ended", "errored": "errored"}.get(state, "running"),
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": pid,
    }
    if state == "errored":
        beat["error"] = "OSError: [Errno 28] No space left on device"
    elif state != "finished":
        running = sum(w.trial.outcome == "running" for w in written)
        beat["trials"] = {"running": running, "terminated": len(written) - running}
    return beat


def _write_json(path: Path, data: Any, indent: int | None = None) -> None:
    path.write_text(json.dumps(data, indent=indent))
