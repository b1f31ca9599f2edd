"""``resume``: continue an interrupted search, or add trials to a finished one.

A new Tune run over the experiment's study of record: trials that ended stay
as they are; unfinished ones are asked again under their own numbers and
continue from their newest checkpoint; new trials come until the study holds
the number asked. Nothing of the experiment is unpickled: the study is a
JSON journal, hpsearch's own files are JSON, checkpoints load weights only.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from hpsearch import storage
from hpsearch.config import SearchConfig
from hpsearch.errors import UserError
from hpsearch.experiments import (
    SEARCH_FILE,
    STUDY_FILE,
    WARM_START,
    Experiment,
    load_experiment,
    now_iso,
    open_study,
)
from hpsearch.signals import Termination, sigterm_as_interrupt
from hpsearch.tuning._claim import claim_existing
from hpsearch.tuning._record import rebuilt_trials
from hpsearch.tuning._run import (
    _silent,
    load_data,
    progress_for,
    ray_session,
    redacting,
    search_study,
)


def _root_of(location: str) -> str:
    base, sep, options = location.partition("?")
    return base.rstrip("/").rsplit("/", 1)[0] + sep + options


def _folder_of(location: str) -> str:
    """The experiment folder's own name (a copied or renamed one differs from its record's)."""
    return location.partition("?")[0].rstrip("/").rsplit("/", 1)[-1]


#: Ray Tune's state files in an experiment folder (Tune unpickles them; hpsearch never
#: reads them): a resume deletes them, so that no run of Tune can read an earlier one.
TUNE_STATE = re.compile(
    r"tuner\.pkl|experiment_state-.*\.json|searcher-state-.*\.pkl|search_gen_state-.*\.json"
    r"|basic-variant-state-.*\.json|callback-states-.*\.pkl"
)


def _forget_tune_state(location: str) -> None:
    """Delete Tune's state files of earlier runs (the study of record replaces them)."""
    for name in storage.list_files(location):
        if TUNE_STATE.fullmatch(name):
            storage.remove(storage.join(location, name))


def _checked_study(experiment: Experiment) -> int:
    """How many of the search's own trials its study holds, once the journal reads as
    the experiment's study, optimizing as its record says, every trial one a study
    takes back and every trial folder's number in it: checked before Ray starts."""
    study = open_study(experiment)
    directions = ["max" if d.name == "MAXIMIZE" else "min" for d in study.directions]
    recorded: list[str] = [o.mode for o in experiment.objectives]  # as hpsearch.json says
    if directions != recorded:
        raise UserError(
            f"experiment {experiment.name!r}: its {STUDY_FILE} {_optimizes(directions)}, its "
            f"hpsearch.json says it {_optimizes(recorded)}",
            "the two files are not from the same search",
        )
    max_epochs = experiment.record["config"].get("max_epochs")
    rebuilt_trials(
        study,
        experiment.location,
        max_epochs if type(max_epochs) is int else None,
        experiment.goals,
    )
    trials = study.get_trials(deepcopy=False)
    missing = sorted({t.number for t in experiment.trials} - {t.number for t in trials})
    if missing:  # a resume would hand their numbers to new trials
        raise UserError(
            f"experiment {experiment.name!r}: its {STUDY_FILE} lacks trials "
            f"{', '.join(map(str, missing[:5]))} that its folders hold",
            "it is not this experiment's whole journal",
        )
    return sum(WARM_START not in t.user_attrs for t in trials)


def _optimizes(modes: list[str]) -> str:
    """``maximizes`` or, for several objectives, ``maximizes, minimizes``."""
    return ", ".join(f"{m}imizes" for m in modes)


def resume_config(experiment: Experiment, num_samples: int | None) -> SearchConfig:
    """The search's config as recorded, with the new trial count; checks it may resume."""
    if experiment.state == "running":
        raise UserError(
            f"experiment {experiment.name!r} is still running",
            "resume it once it has stopped (`hpsearch list` shows its state)",
        )
    if not storage.exists(storage.join(experiment.location, STUDY_FILE)):
        raise UserError(
            f"experiment {experiment.name!r} was written before hpsearch kept its study in "
            f"{STUDY_FILE}, and its older state would have to be unpickled to resume it",
            f"start a new search with --warm-start {experiment.name} to build on its trials",
        )
    # The study may hold trials whose files a kill kept from storage.
    ran = max(len(experiment.trials), _checked_study(experiment))
    if num_samples is not None and num_samples < max(ran, 1):
        raise UserError(
            f"--num-samples {num_samples} is fewer than the {ran} trials already run",
        )
    if experiment.state == "finished" and (num_samples or 0) <= experiment.requested:
        raise UserError(
            f"experiment {experiment.name!r} finished all {experiment.requested} trials",
            f"pass --num-samples N above {experiment.requested} to add trials",
        )
    plans = experiment.record.get("preprocessing", {}).get("columns", [])
    if any(p.get("kind") == "numeric" and "center" not in p for p in plans):
        raise UserError(
            f"experiment {experiment.name!r} was written before hpsearch scaled numeric "
            "columns robustly: its trials would continue on inputs scaled otherwise",
            f"start a new search with --warm-start {experiment.name} to build on its trials",
        )
    recorded = dict(experiment.record["config"])
    if "***" in str(recorded.get("data") or ""):
        raise UserError(
            f"experiment {experiment.name!r} read its table from {recorded['data']}, recorded "
            "with its credentials blanked, so resume cannot read it again",
            "give the credentials as AWS_* environment variables and put the location "
            "without them in config.data of its hpsearch.json",
        )
    recorded.update(
        num_samples=num_samples or experiment.requested,
        name=experiment.name,
        # Where it is now (a recorded URI has its credentials redacted).
        storage=_root_of(experiment.location),
        warm_start=None,
    )
    return SearchConfig.from_mapping(recorded)


def resume_search(
    exp: str,
    root: str | None = None,
    num_samples: int | None = None,
    echo: Callable[[str], None] | None = print,
) -> Any:
    """Continue the experiment ``exp`` until it has ``num_samples`` trials (default: as asked)."""
    echo = redacting(echo)
    started = time.perf_counter()
    for location in (exp, root or ""):  # a key there would reach Tune's files
        storage.refuse_keyed_results(location)
    experiment = load_experiment(exp, root)
    config = resume_config(experiment, num_samples)
    # One writer: a second resume of this experiment stops here.
    claim = claim_existing(experiment.location, experiment.name)
    try:
        with sigterm_as_interrupt() as termination:
            return _resume(experiment, config, echo, started, termination)
    finally:
        claim.release()


def _resume(
    experiment: Experiment,
    config: SearchConfig,
    echo: Callable[[str], None] | None,
    started: float,
    termination: Termination,
) -> Any:
    say = echo or _silent
    location = experiment.location
    data = load_data(config)
    say(
        f"hpsearch: resuming {experiment.name} ({experiment.state}, {experiment.done} of "
        f"{experiment.requested} trials ended) up to {config.num_samples} trials"
    )
    with ray_session(config, data, say, location) as session:
        # This imports Ray, which must come after ray_session set its environment.
        from hpsearch.tuning._tuner import reopened_record

        record = reopened_record(config, session.data.task, experiment.name, location)
        _forget_tune_state(location)
        say(f"hpsearch: {_plan(record, config)}")
        _record_resume(experiment, config)
        return search_study(
            config,
            session,
            record,
            name=experiment.name,
            folder=_folder_of(location),
            root=_root_of(location),
            experiment_path=location,
            progress=progress_for(config, session.data.task, echo),
            started=started,
            termination=termination,
            run=record.waiting() > 0 or record.asked() < config.num_samples,
        )


def _plan(record: Any, config: SearchConfig) -> str:
    """What the resumed run will do: trials that continue, new ones, who judges them."""
    waiting, resumed = record.waiting(), record.from_checkpoint()
    new = max(0, config.num_samples - record.asked())
    parts = []
    if waiting:
        parts.append(
            f"{waiting} unfinished trials continue ({resumed} from a checkpoint, "
            f"{waiting - resumed} from epoch 0)"
        )
    if new:
        parts.append(f"{new} new trials")
    if config.scheduler != "none":
        parts.append(
            f"the {config.scheduler} scheduler judges against all {record.asked()} earlier trials"
        )
    return "; ".join(parts) or "nothing left to run"


def _record_resume(experiment: Experiment, config: SearchConfig) -> None:
    """hpsearch.json says how many trials are asked now, and when it was resumed."""
    record = dict(experiment.record)
    record["config"] = {**record["config"], "num_samples": config.num_samples}
    record["resumed"] = [
        *record.get("resumed", []),
        {"at": now_iso(), "from_state": experiment.state, "num_samples": config.num_samples},
    ]
    storage.write_json_atomic(record, experiment.location, SEARCH_FILE)
