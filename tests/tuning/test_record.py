"""The study of record (hpsearch/tuning/_record.py) with Optuna alone: no Ray starts.

What a search writes into its journal, what a reloaded study reads back, and
how a resumed search's reopened study hands unfinished trials back.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pyarrow.fs as pafs
import pytest
from optuna.trial import FrozenTrial, TrialState

from hpsearch import storage
from hpsearch.experiments import STUDY_FILE, WARM_START
from hpsearch.storage import _files
from hpsearch.tuning import _record
from hpsearch.tuning._record import StudyRecord, load_study
from tests.poison import Payload

NAME = "exp"
COMPLETE, PRUNED, FAIL = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL


def define(trial: optuna.Trial) -> dict[str, Any]:
    """A define-by-run space as small as hpsearch's is shaped: a config from the trial."""
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True), "trial_number": trial.number}


def create(
    location: str,
    pruner: optuna.pruners.BasePruner | None = None,
    earlier: tuple[FrozenTrial, ...] = (),
) -> StudyRecord:
    return StudyRecord.create(
        location,
        NAME,
        "maximize",
        optuna.samplers.RandomSampler(seed=0),
        pruner or optuna.pruners.NopPruner(),
        earlier=earlier,
    )


def reopen(location: str, pruner: optuna.pruners.BasePruner | None = None) -> StudyRecord:
    return StudyRecord.reopen(
        location, NAME, optuna.samplers.RandomSampler(seed=1), pruner or optuna.pruners.NopPruner()
    )


def run(record: StudyRecord, values: list[float], state: TrialState | None = COMPLETE) -> int:
    """A trial asked, its ``values`` reported at epochs 1, 2, ...; ended in ``state``
    with its last value (left running if ``state`` is None). Its number."""
    number, _ = record.ask(define)
    for epoch, value in enumerate(values, start=1):
        record.report(number, epoch, value)
    if state is not None:
        record.set_attrs(number, ended="completed" if state == COMPLETE else "stopped")
        record.finish(number, state, values[-1] if values else None)
    return number


@pytest.fixture
def location(tmp_path: Path) -> str:
    return str(tmp_path / "results" / NAME)


def by_number(location: str) -> dict[int, FrozenTrial]:
    return {t.number: t for t in load_study(location, NAME).trials}


# Creating and writing ---------------------------------------------------------------------


def test_a_new_study_is_a_json_journal_in_the_experiment_folder(location: str) -> None:
    record = create(location)
    assert record.journal == Path(location) / STUDY_FILE and record.journal.is_file()
    run(record, [0.5])
    study = load_study(location, NAME)
    assert study.study_name == NAME and study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert len(study.trials) == 1
    # Plain JSON lines: reading the study back never unpickles anything.
    lines = record.journal.read_text().splitlines()
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)


def test_trials_round_trip_through_the_reloaded_study(location: str) -> None:
    record = create(location)
    number, config = record.ask(define)
    assert number == 0 and config["trial_number"] == 0 and "resume_from" not in config
    record.report(number, 1, 0.5)
    record.report(number, 2, 0.75)
    assert not record.should_prune(number)
    record.set_attrs(number, tune_trial_id="abc_00000", ended="completed", best_epoch=2)
    record.finish(number, COMPLETE, 0.75)
    # Diverged, errored: only a COMPLETE trial is told a value.
    diverged = run(record, [0.1, 0.2], None)
    record.finish(diverged, PRUNED, 99.0)
    failed = run(record, [0.3], None)
    record.finish(failed, FAIL, 99.0)
    running = run(record, [0.4], None)

    trials = by_number(location)
    assert sorted(trials) == [0, 1, 2, 3]
    first = trials[0]
    assert first.state == COMPLETE and first.value == 0.75
    assert first.params == {"lr": config["lr"]}
    assert first.intermediate_values == {1: 0.5, 2: 0.75}
    assert first.user_attrs == {
        "config": {"lr": config["lr"]},  # what it trained with, for when its files are lost
        "tune_trial_id": "abc_00000",
        "ended": "completed",
        "best_epoch": 2,
    }
    # (Optuna gives a pruned trial its last reported value.)
    assert (trials[diverged].state, trials[diverged].value) == (PRUNED, 0.2)
    assert (trials[failed].state, trials[failed].value) == (FAIL, None)
    assert trials[running].state == TrialState.RUNNING
    assert trials[running].intermediate_values == {1: 0.4}
    assert (record.asked(), record.ended(), record.waiting()) == (4, 3, 0)


def test_the_pruner_judges_from_the_studys_values(location: str) -> None:
    record = create(location, optuna.pruners.MedianPruner(n_startup_trials=0, n_min_trials=2))
    run(record, [0.8, 0.9])
    run(record, [0.7, 0.8])
    laggard, _ = record.ask(define)
    leader, _ = record.ask(define)
    record.report(laggard, 1, 0.1)
    record.report(leader, 1, 0.95)
    assert record.should_prune(laggard)
    assert not record.should_prune(leader)


def test_an_epoch_is_reported_once(location: str) -> None:
    record = create(location)
    number, _ = record.ask(define)
    record.report(number, 1, 0.5)
    with warnings.catch_warnings():
        # A restarted trial reports its checkpoint's epoch again: no value changes, no warning.
        warnings.simplefilter("error")
        record.report(number, 1, 0.9)
        record.report(number, 2, 0.6)
    assert by_number(location)[number].intermediate_values == {1: 0.5, 2: 0.6}


def test_told_says_how_each_ended_trial_ended_and_what_it_trained(location: str) -> None:
    warm = _warm_trial(0.9)
    record = create(location, earlier=(warm,))
    done = run(record, [0.1, 0.5, 0.6])
    stopped = run(record, [0.1, 0.2], PRUNED)
    run(record, [0.3], None)  # still running: not an outcome yet
    errored = run(record, [], None)  # failed before its first epoch
    record.set_attrs(errored, ended="errored")
    record.finish(errored, FAIL, None)
    told = record.told()
    assert {n: (t.ended, t.epochs) for n, t in told.items()} == {
        done: ("completed", 3),
        stopped: ("stopped", 2),
        errored: ("errored", 0),
    }
    assert told[done].values == {1: 0.1, 2: 0.5, 3: 0.6}
    assert set(told[done].config) == {"lr"}  # the hyperparameters, not hpsearch's keys


# Warm start ---------------------------------------------------------------------------------


def _warm_trial(value: float) -> FrozenTrial:
    return optuna.trial.create_trial(
        state=COMPLETE,
        value=value,
        params={"lr": 0.01},
        distributions={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)},
        intermediate_values={1: value},
        user_attrs={WARM_START: "earlier-search"},
    )


def test_a_warm_starts_trials_seed_the_study_but_are_not_this_searchs(location: str) -> None:
    record = create(location, earlier=(_warm_trial(0.9), _warm_trial(0.4)))
    assert (record.asked(), record.ended(), record.waiting()) == (0, 0, 0)
    assert len(record.study.trials) == 2  # the sampler sees them
    number = run(record, [0.5], None)
    assert (record.asked(), record.ended()) == (1, 0)
    record.finish(number, COMPLETE, 0.5)
    assert (record.asked(), record.ended()) == (1, 1)
    # A resumed warm-started search counts the same, and has nothing of theirs to continue.
    again = reopen(location)
    assert (again.asked(), again.ended(), again.waiting()) == (1, 1, 0)


# Reopening for a resume -------------------------------------------------------------------


CHECKPOINT = "trial_abc_00001/checkpoint_000002"


def _killed_search(location: str) -> dict[int, FrozenTrial]:
    """A search's study as its driver left it when killed: trials 0 and 2 ended, 1 and 3
    running (1 past its checkpoint of epoch 2), 4 asked with nothing reported yet."""
    record = create(location)
    run(record, [0.5, 0.6])
    one = run(record, [0.2, 0.3, 0.25], None)
    record.set_attrs(one, tune_trial_id="abc_00001", checkpoint=CHECKPOINT, checkpoint_epoch=2)
    (Path(location) / CHECKPOINT).mkdir(parents=True)
    run(record, [0.1], PRUNED)
    run(record, [0.4], None)
    run(record, [], None)
    return by_number(location)


def test_reopening_turns_unfinished_trials_into_waiting_ones(location: str) -> None:
    before = _killed_search(location)
    record = reopen(location)
    after = by_number(location)
    assert sorted(after) == [0, 1, 2, 3, 4]
    waiting = TrialState.WAITING
    assert [after[n].state for n in range(5)] == [COMPLETE, waiting, PRUNED, waiting, waiting]
    for n in range(5):
        assert after[n].params == before[n].params, n
        assert after[n].user_attrs == before[n].user_attrs, n
    for n in (0, 2):  # ended: as they were
        assert after[n].intermediate_values == before[n].intermediate_values, n
        assert after[n].datetime_complete == before[n].datetime_complete, n
    # Unfinished: the values up to the checkpoint the trial continues from (none without
    # one: it starts over), so the curve and the pruner see what the continuation trains.
    assert after[1].intermediate_values == {1: 0.2, 2: 0.3}
    assert after[3].intermediate_values == after[4].intermediate_values == {}
    assert after[0].value == before[0].value
    assert (record.asked(), record.ended(), record.waiting(), record.from_checkpoint()) == (
        5,
        2,
        3,
        1,
    )
    # The journal was rebuilt whole, under its own name; no half-built file is left.
    assert sorted(os.listdir(Path(location))) == [STUDY_FILE, "trial_abc_00001"]


def test_trials_that_ended_before_the_study_was_told_are_told_on_reopening(
    location: str,
) -> None:
    """Killed between a trial's end and the study hearing of it: one trained to the last
    epoch, one the pruner had stopped (its decision was journaled at once). Neither runs
    again: each is told as the searcher would have told it, with its last value."""
    record = create(location)
    full = run(record, [0.5, 0.7, 0.6], None)  # all 3 epochs
    stopped = run(record, [0.2, 0.1], None)
    record.set_attrs(stopped, stopped_at=2)
    run(record, [0.4], None)  # genuinely unfinished
    again = StudyRecord.reopen(
        location, NAME, optuna.samplers.RandomSampler(seed=1), optuna.pruners.NopPruner(), 3
    )
    trials = by_number(location)
    assert [trials[n].state for n in range(3)] == [COMPLETE, COMPLETE, TrialState.WAITING]
    assert (trials[full].value, trials[stopped].value) == (0.6, 0.1)
    assert trials[full].user_attrs["ended"] == "completed"
    assert trials[stopped].user_attrs["ended"] == "stopped"
    assert (trials[full].user_attrs["best_value"], trials[full].user_attrs["best_epoch"]) == (
        0.7,
        2,
    )
    assert (again.ended(), again.waiting()) == (2, 1)
    assert again.ask(define)[0] == 2


def test_a_trial_whose_checkpoint_is_gone_starts_over(location: str) -> None:
    _killed_search(location)
    shutil.rmtree(Path(location) / CHECKPOINT)  # deleted by Tune's num_to_keep, or by hand
    record = reopen(location)
    number, config = record.ask(define)
    assert number == 1 and "resume_from" not in config
    again = by_number(location)[1]
    assert again.intermediate_values == {}
    assert "checkpoint" not in again.user_attrs and "checkpoint_epoch" not in again.user_attrs


def test_a_samplers_state_in_the_journal_is_never_unpickled(location: str, tmp_path: Path) -> None:
    """CMA-ES restores its optimizer by unpickling trials' system attributes: a journal
    from storage may carry a payload there. A resumed study keeps none of them."""
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(Payload(tmp_path / "canary")).hex()
    pickle.loads(bytes.fromhex(payload))  # the payload works: it writes its marker
    assert (tmp_path / "canary").exists()
    payload = pickle.dumps(Payload(marker)).hex()
    record = create(location)
    run(record, [0.5], None)  # unfinished, with the payload planted below
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)
    record.study.add_trial(  # an attacker's trial, appended to the journal
        optuna.trial.create_trial(
            value=0.9,
            params={"lr": 0.01},
            distributions={"lr": lr},
            system_attrs={"cma:optimizer:0": payload, "cma:generation": 0},
        )
    )
    planted = load_study(location, NAME).trials[1].system_attrs
    assert planted["cma:optimizer:0"] == payload
    sampler = optuna.samplers.CmaEsSampler(seed=0, n_startup_trials=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reopened = StudyRecord.reopen(location, NAME, sampler, optuna.pruners.NopPruner())
        for _ in range(3):
            run(reopened, [0.5])
    assert not marker.exists()
    kept = load_study(location, NAME).trials[1].system_attrs
    assert "cma:optimizer:0" not in kept and kept["cma:generation"] == 0


def test_reopening_removes_the_lock_a_killed_driver_left(location: str) -> None:
    _killed_search(location)
    journal = Path(location) / STUDY_FILE
    # What Optuna's lock leaves when its holder dies mid-write: the lock, and one being released.
    os.symlink(journal, f"{journal}.lock")
    Path(f"{journal}.lock1f2e.rename").touch()
    reopen(location)
    assert sorted(os.listdir(Path(location))) == [STUDY_FILE, "trial_abc_00001"]


def test_a_resumed_study_hands_back_its_waiting_trials_first(location: str) -> None:
    before = _killed_search(location)
    record = reopen(location)
    asked = [record.ask(define) for _ in range(4)]
    assert [number for number, _ in asked] == [1, 3, 4, 5]
    for number, config in asked[:3]:
        assert config["lr"] == before[number].params["lr"], number  # the same trial, continued
    configs = dict(asked)
    assert configs[1]["resume_from"] == storage.join(location, CHECKPOINT)
    assert "resume_from" not in configs[3]  # no checkpoint: it starts over
    assert "resume_from" not in configs[4]  # nothing reported: nothing to continue
    assert "resume_from" not in configs[5]  # a new trial
    assert record.waiting() == 0
    # Continued from epoch 2: re-reporting it changes nothing; epoch 3 adds to the curve.
    record.report(1, 2, 0.9)
    record.report(1, 3, 0.35)
    record.finish(1, COMPLETE, 0.35)
    trials = by_number(location)
    assert sorted(trials) == [0, 1, 2, 3, 4, 5]  # no duplicate, no gap
    assert trials[1].intermediate_values == {1: 0.2, 2: 0.3, 3: 0.35}
    assert trials[1].state == COMPLETE


def test_a_moved_experiment_continues_from_where_its_checkpoints_are_now(
    location: str, tmp_path: Path
) -> None:
    _killed_search(location)
    moved = tmp_path / "elsewhere" / NAME
    shutil.copytree(location, moved)
    shutil.rmtree(location)
    number, config = reopen(str(moved)).ask(define)
    assert number == 1 and config["resume_from"] == storage.join(str(moved), CHECKPOINT)


def test_a_resume_of_a_resume_keeps_the_numbers(location: str) -> None:
    _killed_search(location)
    record = reopen(location)
    record.ask(define)  # trial 1 again, killed once more before it ended
    record.report(1, 3, 0.35)
    again = reopen(location)
    assert (again.asked(), again.waiting()) == (5, 3)
    number, config = again.ask(define)
    assert number == 1 and config["resume_from"] == storage.join(location, CHECKPOINT)
    # It continues from the same checkpoint once more: what came after it is gone.
    assert by_number(location)[1].intermediate_values == {1: 0.2, 2: 0.3}


@pytest.mark.parametrize(
    "checkpoint",
    [
        "../../etc",
        "/abs/checkpoint_000001",
        "s3://bucket/trial_a/checkpoint_000001",
        "trial_a/checkpoint_000001/../../..",
        "trial_a/../checkpoint_000001",
        "trial_a/checkpoint_12",
        "trial_a/checkpoint_000001\n",
        "trial_a\\checkpoint_000001",
        "",
        42,
        ["trial_a/checkpoint_000001"],
    ],
)
def test_a_checkpoint_not_named_as_hpsearch_names_one_is_ignored(
    location: str, checkpoint: Any
) -> None:
    record = create(location)
    number = run(record, [0.2, 0.3], None)
    record.set_attrs(number, checkpoint=checkpoint)  # the journal is data from storage
    number, config = reopen(location).ask(define)
    assert number == 0 and "resume_from" not in config


def test_a_file_uri_keeps_the_journal_in_the_experiment_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--storage file:///PATH`` (a cluster's shared folder) is a local folder, not a
    relative path named ``file:``."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "shared" / NAME
    location = f"file://{folder}"
    record = create(location)
    run(record, [0.5], None)
    record.close()
    assert (folder / STUDY_FILE).is_file() and not (tmp_path / "file:").exists()
    assert reopen(location).waiting() == 1
    assert [t.state for t in load_study(str(folder), NAME).trials] == [TrialState.WAITING]


# Object storage -----------------------------------------------------------------------------


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``mock://`` locations on an object store that keeps what is written (pyarrow's own
    mock:// starts empty at every look): a folder, seen through a non-local filesystem."""
    root = tmp_path / "bucket"
    root.mkdir()
    real = _files.filesystem

    def filesystem(location: str) -> tuple[pafs.FileSystem, str]:
        if not location.startswith("mock://"):
            return real(location)
        path = location.removeprefix("mock://").partition("?")[0]
        return pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem()), path

    monkeypatch.setattr(_files, "filesystem", filesystem)
    yield root


def _uploaded(bucket: Path) -> bytes:
    return (bucket / "results" / NAME / STUDY_FILE).read_bytes()


def test_a_remote_journal_is_kept_locally_and_uploaded_on_sync(
    bucket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    location = f"mock://results/{NAME}"
    monkeypatch.setattr(_record, "SYNC_S", 1e9)  # no upload unless forced
    record = create(location)
    assert not record.journal.is_relative_to(bucket)
    assert _uploaded(bucket) == record.journal.read_bytes()  # created: uploaded at once
    number = run(record, [0.5], None)
    record.sync()
    assert _uploaded(bucket) != record.journal.read_bytes()  # too soon since the last
    record.sync(force=True)
    assert _uploaded(bucket) == record.journal.read_bytes()
    monkeypatch.setattr(_record, "SYNC_S", 0.0)
    record.report(number, 2, 0.6)
    record.sync()
    assert _uploaded(bucket) == record.journal.read_bytes()
    record.report(number, 3, 0.7)
    local = record.journal
    record.close()  # what is left goes up; the local copy goes
    assert not local.exists()
    assert load_study(location, NAME).trials[0].intermediate_values == {1: 0.5, 2: 0.6, 3: 0.7}
    # Resumed: the rebuilt study is uploaded, its unfinished trial waiting.
    again = reopen(location)
    assert again.waiting() == 1
    assert load_study(location, NAME).trials[0].state == TrialState.WAITING
    again.close()


def test_a_journal_on_s3_is_uploaded(s3_server: dict[str, str]) -> None:
    from tests.data.conftest import s3_filesystem, s3_uri

    s3_filesystem(s3_server["endpoint"]).create_dir("record")
    location = s3_uri(s3_server, f"record/results/{NAME}")
    record = create(location)
    number = run(record, [0.5, 0.6], None)
    record.set_attrs(number, checkpoint=CHECKPOINT, checkpoint_epoch=2)
    record.close()
    storage.write_bytes(storage.join(location, CHECKPOINT, "state.pt"), b"weights")
    trials = load_study(location, NAME).trials
    assert [t.intermediate_values for t in trials] == [{1: 0.5, 2: 0.6}]
    again = reopen(location)
    number, config = again.ask(define)
    assert config["resume_from"] == storage.join(location, CHECKPOINT)
    again.close()


def test_a_queued_trial_not_handed_out_before_a_kill_keeps_its_parameters(
    location: str,
) -> None:
    # The space's starting point is queued as trial 0; the driver dies before asking it.
    record = create(location)
    record.study.enqueue_trial({"lr": 0.0123})
    record.sync(force=True)
    again = reopen(location)
    number, config = again.ask(define)
    assert (number, config["lr"]) == (0, 0.0123)


def test_a_queued_trials_parameters_from_storage_are_plain_values_only(location: str) -> None:
    record = create(location)
    record.study.enqueue_trial({"lr": 0.0123})
    trial_id = record.study.trials[0]._trial_id
    record.study._storage.set_trial_system_attr(trial_id, "fixed_params", {"lr": [1, 2]})
    record.sync(force=True)
    number, config = reopen(location).ask(define)
    assert number == 0 and config["lr"] != [1, 2]  # dropped: the sampler draws it
