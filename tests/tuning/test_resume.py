"""``hpsearch resume``: a search killed with SIGKILL continues from its study of record;
a finished one grows; one written before the study of record is refused."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hpsearch import storage
from hpsearch.experiments import STUDY_FILE, SUMMARY_FILE, is_usable, load_experiment
from tests.poison import LAST, STAMP, Payload, payload_runs_when_tune_reads, poison
from tests.searches import (
    ENDED,
    KILLED_ARGS,
    KILLED_GRACE,
    KILLED_TRIALS,
    KilledSearch,
    kill_part_way,
    result_rows,
    study_trials,
    tree,
    trial_folders,
    trial_trees,
)

Inspect = Callable[..., subprocess.CompletedProcess[str]]


class Ran(subprocess.CompletedProcess[str]):
    """A command's exit code and output, and the warnings it raised (in this process,
    Python's warnings do not reach stderr)."""

    warned: list[str]


def hpsearch(root: Path, *args: str) -> Ran:
    """``hpsearch ARGS`` with results under ``root``, in this process: a resume runs on
    the tests' shared Ray (``ray_session``), as a command run reuses an initialized one."""
    from click.testing import CliRunner

    from hpsearch.commands import cli

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(cli, list(args), env={"HPSEARCH_STORAGE": str(root)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    ran = Ran(args, result.exit_code, result.stdout, result.stderr)
    ran.warned = [str(w.message) for w in caught]
    return ran


def refused(run: subprocess.CompletedProcess[str], why: str) -> bool:
    """Refused in one line, exit 2, saying ``why``."""
    lines = run.stderr.strip().splitlines()
    one_line = len(lines) == 1 and lines[0].startswith("hpsearch: error: ")
    return run.returncode == 2 and one_line and why in lines[0]


def _facts(trial: Any) -> tuple[Any, ...]:
    """What a trial is to the study: none of it may change once the trial ended."""
    return (
        trial.number,
        trial.state,
        trial.value,
        trial.params,
        trial.distributions,
        trial.intermediate_values,
        trial.user_attrs,
        trial.system_attrs,
    )


def _assert_resumed(
    killed: KilledSearch,
    location: str,
    run: Ran,
    inspect: Inspect,
    new_trials: bool = True,
) -> None:
    """What a complete resume of the killed search leaves at ``location`` (with trials
    new to the resumed run unless not ``new_trials``)."""
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    # Optuna did not warn about an epoch a continued trial reported again.
    assert not [w for w in run.warned if "reported value is ignored" in w], run.warned
    study = study_trials(location, killed.name)
    assert study is not None
    # The number of trials asked, each number once, all ended.
    assert [t.number for t in study] == list(range(KILLED_TRIALS))
    assert {t.state.name for t in study} <= set(ENDED)
    folders = trial_folders(location)

    # No finished trial was retrained: the study has it as it was, its folder is
    # untouched, no run of it was added.
    assert killed.ended
    for number in killed.ended:
        assert _facts(study[number]) == _facts(killed.at_kill[number])
        assert folders.get(number, ()) == killed.folders.get(number, ())
        folder = f"trial_{study[number].user_attrs['tune_trial_id']}"
        assert tree(storage.join(location, folder)) == killed.trees[folder], folder

    # Trials that ended before the study was told are told now, and not run again.
    for number in killed.unheard:
        before, now = killed.at_kill[number], study[number]
        assert now.state.name == "COMPLETE" and folders.get(number, ()) == killed.folders.get(
            number, ()
        )
        assert now.intermediate_values == before.intermediate_values
        assert now.value == before.intermediate_values[max(before.intermediate_values)]

    # Unfinished trials continued under their own numbers, with their parameters,
    # in one new run each; those with a checkpoint from it, not from epoch 0.
    for number in killed.unfinished:  # (one asked just before the kill may have no folder yet)
        new = [f for f in folders[number] if f not in killed.folders.get(number, ())]
        assert len(new) == 1, (number, folders[number])
        # Its parameters (those the kill let it draw, and the rest drawn now).
        assert killed.at_kill[number].params.items() <= study[number].params.items()
        assert study[number].user_attrs["tune_trial_id"] == new[0].removeprefix("trial_")
    # A trial new to the resumed run ran once: no folder of the first run has its number
    # (one the study never heard of would be merged into it).
    for number in range(len(killed.at_kill), KILLED_TRIALS):
        assert len(folders[number]) == 1, (number, folders[number])
    assert killed.continuing
    for number in killed.continuing:
        (new,) = set(folders[number]) - set(killed.folders.get(number, ()))
        checkpoint = killed.at_kill[number].user_attrs["checkpoint"]
        params = storage.read_json(storage.join(location, new, "params.json"))
        assert params is not None
        assert params["resume_from"] == storage.join(location, checkpoint)
        first = result_rows(location, new)[0]
        epoch = killed.at_kill[number].user_attrs["checkpoint_epoch"]
        assert first["resumed_from_epoch"] == epoch > 0, first
        assert first["epoch"] == epoch + 1
        # The checkpoint's epoch, where the earlier run's rows show it (a kill may cut
        # the rows Tune writes after the study heard of the checkpoint).
        folder, name = checkpoint.split("/")
        saved = {r.get("checkpoint_dir_name"): r["epoch"] for r in result_rows(location, folder)}
        assert saved.get(name, epoch) == epoch
        # Its curve: the first run's values up to the checkpoint, the continuation's after.
        values = study[number].intermediate_values
        assert {e: values[e] for e in values if e <= epoch} == {
            e: v for e, v in killed.at_kill[number].intermediate_values.items() if e <= epoch
        }
        rows = {r["epoch"]: r["val_accuracy"] for r in result_rows(location, new)}
        assert {e: v for e, v in values.items() if e > epoch} == pytest.approx(
            {e: v for e, v in rows.items() if e > epoch}
        )

    # The pruner judged in the same study, which holds every value of the trials that
    # ended (all it judges from), and new trials besides.
    assert any(max(t.intermediate_values, default=0) >= KILLED_GRACE for t in killed.at_kill)
    assert len(killed.at_kill) < KILLED_TRIALS or not new_trials
    asked = len(killed.at_kill)
    assert f"the asha scheduler judges against all {asked} earlier trials" in run.stdout

    # Every listing has each trial once: the summary, `hpsearch trials`, the reader.
    summary = storage.read_json(storage.join(location, SUMMARY_FILE))
    assert summary is not None and summary["ended"] == "finished"
    assert summary["trials"]["total"] == summary["trials"]["requested"] == KILLED_TRIALS
    assert sorted(r["number"] for r in summary["leaderboard"]) == list(range(KILLED_TRIALS))
    listed = inspect("trials", location.partition("?")[0].rsplit("/", 1)[-1])
    assert listed.returncode == 0, listed.stderr
    numbers = sorted(int(line.split()[0]) for line in listed.stdout.splitlines()[1:])
    assert numbers == list(range(KILLED_TRIALS))
    after = load_experiment(location)
    assert after.state == "finished" and after.done == len(after.trials) == KILLED_TRIALS


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_a_killed_search_resumes_and_then_grows_never_unpickling(
    killed_search: KilledSearch, tmp_path: Path
) -> None:
    """Resume and extend on copies whose every file Tune or Optuna could unpickle is a
    payload (tests/poison.py): the payload never runs, and each completes or refuses in
    one line."""
    marker = tmp_path / "unpickled"
    pickle.loads(pickle.dumps(Payload(tmp_path / "canary")))  # the payload works
    assert (tmp_path / "canary").read_text() == "unpickled"
    root = tmp_path / "results"
    # A copy under another name (its record and study still say "k"): it resumes in place.
    experiment = root / "copied"
    shutil.copytree(killed_search.location, experiment)
    location = str(experiment)
    # Tune writes a trial's result files on the driver and syncs them to storage every
    # ~10 s: a trial that ended just before the kill may have left only its
    # checkpoints (seen). Made so here for one; the study of record has it whole.
    ended = killed_search.at_kill[killed_search.ended[-1]]
    cut = experiment / f"trial_{ended.user_attrs['tune_trial_id']}"
    assert any(cut.glob("checkpoint_*"))
    for path in cut.iterdir():
        if path.is_file():
            path.unlink()
    planted = poison(experiment, marker)
    assert {p.parent for p in planted if p.name == "params.pkl"} == set(experiment.glob("trial_*"))
    killed = replace(killed_search, folders=trial_folders(location), trees=trial_trees(location))
    resumed = hpsearch(root, "resume", "copied")
    assert not marker.exists(), resumed.stderr[-3000:]
    _assert_resumed(killed, location, resumed, lambda *a: hpsearch(root, *a))
    # Tune's state of the earlier run is gone: no later run of Tune can read it.
    assert not list(experiment.glob(f"*{LAST}*")) and not list(experiment.glob(f"*{STAMP}*"))

    # A finished search, its files poisoned again: nothing to resume, unless it grows.
    poison(experiment, marker)
    assert refused(hpsearch(root, "resume", "copied"), f"finished all {KILLED_TRIALS} trials")
    study = study_trials(location, "k")
    grown_to = KILLED_TRIALS + 2
    folders = trial_folders(location)
    trees = {f: tree(str(experiment / f)) for names in folders.values() for f in names}
    grown = hpsearch(root, "resume", "copied", "--num-samples", str(grown_to), "--quiet")
    assert not marker.exists(), grown.stderr[-3000:]
    assert grown.returncode == 0, grown.stderr[-3000:]
    # Two trials more in the same study; the earlier ones as they were.
    after = study_trials(location, "k")
    assert study is not None and after is not None
    assert [t.number for t in after] == list(range(grown_to))
    assert [_facts(t) for t in after[:KILLED_TRIALS]] == [_facts(t) for t in study]
    assert {t.state.name for t in after} <= set(ENDED)
    assert {n: f for n, f in trial_folders(location).items() if n < KILLED_TRIALS} == folders
    assert all(tree(str(experiment / f)) == files for f, files in trees.items())
    final = load_experiment(location)
    assert [t.number for t in final.trials] == list(range(grown_to))
    assert final.requested == final.done == grown_to
    # The end-of-search step ran again: the ensemble is chosen among every trial's.
    summary = final.summary
    assert summary is not None and summary["ensemble"] is not None, summary
    ranked = [r["number"] for r in summary["leaderboard"] if r["checkpoint"]]
    usable = {r["number"] for r in summary["leaderboard"] if is_usable(r["state"], r["best_value"])}
    assert summary["ensemble"]["candidates"] == [n for n in ranked if n in usable][:8]
    assert summary["final"] in ("ensemble", "best") and summary["median_value"] is not None
    assert hpsearch(root, "list").stdout.splitlines()[1].split()[:3] == [
        "k",
        "finished",
        f"{grown_to}/{grown_to}",
    ]
    assert refused(
        hpsearch(root, "resume", "copied", "--num-samples", "5"),
        f"fewer than the {grown_to} trials",
    )

    # The planted files are live: Tune's own reader of an experiment runs the payload.
    poison(experiment, marker)
    assert payload_runs_when_tune_reads(experiment, marker)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.usefixtures("ray_session")
def test_a_search_killed_on_s3_resumes_there(s3_server: dict[str, str], tmp_path: Path) -> None:
    """The same search, run on a real S3-compatible server (moto, 127.0.0.1) and
    SIGKILLed there: its journal is what the driver had uploaded."""
    from tests.data.conftest import s3_filesystem, s3_uri

    s3_filesystem(s3_server["endpoint"]).create_dir("resumable")
    root = s3_uri(s3_server, "resumable/results")
    location = storage.join(root, "k")
    unused = tmp_path / "unused"  # the local results root: nothing may be written there
    # The journal on S3 is as the driver last uploaded it: as each trial starts, ends or
    # checkpoints (and every 5 s), so the kill finds what the local test finds.
    killed = kill_part_way([*KILLED_ARGS, "--storage", root], "k", location, unused)
    resumed = hpsearch(unused, "resume", "k", "--storage", root)
    _assert_resumed(killed, location, resumed, lambda *a: hpsearch(unused, *a, "--storage", root))
    assert not unused.exists()


@pytest.mark.ray
@pytest.mark.slow
def test_an_experiment_from_before_the_study_of_record_is_refused(
    killed_search: KilledSearch, tmp_path: Path
) -> None:
    """Without study.journal, resuming would mean unpickling Tune's state: refused."""
    root = tmp_path / "results"
    experiment = root / "k"
    shutil.copytree(killed_search.location, experiment)
    (experiment / STUDY_FILE).unlink()
    marker = tmp_path / "unpickled"
    poison(experiment, marker)  # only Tune's pickles are left to resume from
    before = tree(str(experiment))
    run = hpsearch(root, "resume", "k")
    assert refused(run, f"was written before hpsearch kept its study in {STUDY_FILE}")
    assert "--warm-start k" in run.stderr
    assert tree(str(experiment)) == before and not marker.exists()


@pytest.mark.ray
@pytest.mark.slow
def test_an_experiment_scaled_before_robust_scaling_is_refused(
    killed_search: KilledSearch, tmp_path: Path
) -> None:
    """Its trials trained on standardized columns: continuing them on robustly scaled
    ones would mix the two, so resume refuses and points at a warm start."""
    root = tmp_path / "results"
    experiment = root / "k"
    shutil.copytree(killed_search.location, experiment)
    record_file = experiment / "hpsearch.json"
    record = json.loads(record_file.read_text())
    for plan in record["preprocessing"]["columns"]:
        for key in ("center", "scale", "clip"):
            plan.pop(key, None)
    record_file.write_text(json.dumps(record))
    before = tree(str(experiment))
    run = hpsearch(root, "resume", "k")
    assert refused(run, "was written before hpsearch scaled numeric columns robustly")
    assert "--warm-start k" in run.stderr
    assert tree(str(experiment)) == before


def _journal(path: Path, name: str, direction: str) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = JournalStorage(JournalFileBackend(str(path)))
    optuna.create_study(study_name=name, storage=journal, direction=direction)


def _tampered(path: Path, old: str, new: str) -> None:
    """The journal of a killed search with one running trial (lr, a value at epoch 1,
    stopped by the pruner there), with ``old`` replaced by ``new`` as an attacker would."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="exp", storage=journal, direction="maximize")
    trial = study.ask()
    trial.suggest_float("lr", 0.001, 0.1, log=True)
    trial.report(0.5, 1)
    trial.set_user_attr("stopped_at", 1)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize(
    ("journal", "why"),
    [
        (lambda p: p.write_bytes(b""), "holds no study named 'exp'"),
        (lambda p: p.write_bytes(b"\x00not json\n{}\n"), "is unreadable"),
        (lambda p: _journal(p, "other", "maximize"), "holds no study named 'exp'"),
        (lambda p: _journal(p, "exp", "minimize"), "minimizes, its hpsearch.json says it max"),
        (lambda p: _tampered(p, '"step":1', '"step":"1"'), "epoch '1' is not a whole number"),
        (lambda p: _tampered(p, '"intermediate_value":0.5', '"intermediate_value":NaN'), "nan"),
        (
            lambda p: _tampered(p, '"param_value_internal":', '"param_value_internal":7.0,"x":'),
            "holds a trial a study cannot take back (trial 0",
        ),
        (lambda p: _tampered(p, "exp", "exp"), "lacks trials 1, 2, 3, 4, 5 that its folders"),
    ],
    ids=[
        "empty",
        "not-json",
        "another-study",
        "other-direction",
        "text-epoch",
        "nan-value",
        "param-out-of-range",
        "fewer-trials-than-folders",
    ],
)
def test_a_journal_that_is_not_the_searchs_is_refused_before_any_work(
    tmp_path: Path, journal: Callable[[Path], None], why: str
) -> None:
    from click.testing import CliRunner

    from hpsearch.commands import cli
    from tests.factory import make_experiment

    fake = make_experiment(tmp_path / "results", "exp", state="interrupted")
    journal(fake.path / STUDY_FILE)
    before = tree(str(fake.path))
    run = CliRunner().invoke(cli, ["resume", "exp", "--storage", str(fake.root)])
    lines = run.output.strip().splitlines()
    assert run.exit_code == 2 and len(lines) == 1 and why in lines[0], run.output
    assert tree(str(fake.path)) == before


def _pruner(scheduler: str) -> Any:
    from hpsearch import SearchConfig
    from hpsearch.tuning._schedulers import build_pruner

    return build_pruner(SearchConfig(scheduler=scheduler, max_epochs=16, grace_period=2))


def _define(trial: Any) -> dict[str, Any]:
    return {"x": trial.suggest_float("x", 0.0, 1.0), "trial_number": trial.number}


def _create(location: str, scheduler: str) -> Any:
    import optuna

    from hpsearch.tuning._record import StudyRecord

    sampler = optuna.samplers.RandomSampler(seed=0)
    return StudyRecord.create(location, "s", "maximize", sampler, _pruner(scheduler))


def _newcomer_is_pruned(record: Any, epochs: int) -> bool:
    """A new trial scoring 0.3 at every epoch up to ``epochs``: stopped there?"""
    number, _ = record.ask(_define)
    for epoch in range(1, epochs + 1):
        record.report(number, epoch, 0.3)
    return bool(record.should_prune(number))


@pytest.mark.parametrize(("scheduler", "epochs"), [("asha", 2), ("median", 3)])
def test_a_reopened_study_judges_new_trials_against_every_earlier_trial(
    tmp_path: Path, scheduler: str, epochs: int
) -> None:
    """A weak newcomer: a fresh study has no one to compare it with and keeps it; a
    reopened one compares it with the earlier run's trials and stops it (no scheduler
    state survives a kill: only the study)."""
    import optuna

    from hpsearch.tuning._record import StudyRecord

    fresh = _create(str(tmp_path / "fresh"), scheduler)
    assert not _newcomer_is_pruned(fresh, epochs)
    fresh.close()

    # The first run: trials 0-3 score 0.5 + 0.05 i + 0.01 epoch over epochs 1-4,
    # each the best so far; three end, one is cut by the kill (and starts over).
    location = str(tmp_path / "resumed")
    first = _create(location, scheduler)
    for i in range(4):
        number, _ = first.ask(_define)
        for epoch in range(1, 5):
            first.report(number, epoch, 0.5 + 0.05 * i + 0.01 * epoch)
            assert not first.should_prune(number)
    for number in (0, 1, 2):
        first.finish(number, optuna.trial.TrialState.COMPLETE, 0.54 + 0.05 * number)
    first.close()
    reopened = StudyRecord.reopen(
        location, "s", optuna.samplers.RandomSampler(seed=1), _pruner(scheduler)
    )
    assert reopened.ask(_define)[0] == 3  # the unfinished one first
    assert _newcomer_is_pruned(reopened, epochs)
    reopened.close()


@pytest.mark.parametrize(
    ("num_samples", "scheduler", "said"),
    [
        (
            5,
            "asha",
            "1 unfinished trials continue (0 from a checkpoint, 1 from epoch 0); 2 new trials; "
            "the asha scheduler judges against all 3 earlier trials",
        ),
        (3, "none", "1 unfinished trials continue (0 from a checkpoint, 1 from epoch 0)"),
    ],
)
def test_resume_says_what_it_will_run(
    tmp_path: Path, num_samples: int, scheduler: str, said: str
) -> None:
    import optuna

    from hpsearch import SearchConfig
    from hpsearch.tuning._record import StudyRecord
    from hpsearch.tuning._resume import _plan

    first = _create(str(tmp_path / "s"), "asha")
    for _ in range(3):
        number, _ = first.ask(_define)
        first.report(number, 1, 0.5)
    for number in (0, 1):
        first.finish(number, optuna.trial.TrialState.COMPLETE, 0.5)
    first.close()
    sampler = optuna.samplers.RandomSampler(seed=1)
    reopened = StudyRecord.reopen(str(tmp_path / "s"), "s", sampler, _pruner("asha"))
    config = SearchConfig(num_samples=num_samples, scheduler=scheduler)
    assert _plan(reopened, config) == said
