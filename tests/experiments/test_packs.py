"""Packs: several trials trained as one Tune trial, read back as a trial each.

A pack's folder holds every member's config (``params.json``), every member's
report per step (``result.json``'s ``members``) and every member's slice of each
checkpoint. Inspection must show each member as the trial it is: its own number,
parameters, epochs, outcome and checkpoint, everywhere a trial shows (``trials``,
the leaderboard, ``best``, the table), merged with the runs that continued it; and
a pack's files, data from storage, must never crash it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hpsearch import storage
from hpsearch.commands import cli
from hpsearch.experiments import (
    CHECKPOINT_NAME,
    MEMBER_PREFIX,
    PACK_FILE,
    PACK_KEY,
    load_experiment,
    read_trials,
)
from hpsearch.experiments._experiment import contained_checkpoint, read_trial
from tests.factory import FakeExperiment, FakePack, FakeTrial, make_experiment, pack_id

# max_epochs 4, a checkpoint every 2 epochs. Trial 0 alone; trials 1-4 one pack that
# ended (the best, trial 1, at epoch 3); trials 5-6 a pack that crashed after step 3.
TRIALS = (
    FakeTrial("completed", score=0.80),
    FakePack(
        (
            FakeTrial("completed", score=0.93, best_at=3),
            FakeTrial("stopped", epochs=2, score=0.70),  # absent from the pack's lines 3-4
            FakeTrial("diverged", epochs=3, score=0.65, best_at=1),
            FakeTrial("completed", score=0.85),
        )
    ),
    FakePack(
        (
            FakeTrial("stopped", epochs=1, score=0.60),  # stopped before the crash
            FakeTrial("errored", epochs=3, score=0.75),
        ),
        error="RuntimeError: CUDA out of memory",
    ),
)
PACKED = {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 1}  # number -> which pack (by its first member)
FIRST = (1, 5)


def hpsearch(*args: str, root: Path) -> Result:
    """``hpsearch ARGS --storage ROOT``, in this process."""
    return CliRunner().invoke(cli, [*args, "--storage", str(root)], prog_name="hpsearch")


def pack_dir(fake: FakeExperiment, first: int) -> Path:
    return fake.path / f"trial_{pack_id(fake.name, first)}"


@pytest.fixture
def packs(tmp_path: Path) -> FakeExperiment:
    return make_experiment(tmp_path, "packs", trials=TRIALS)


def test_each_member_is_a_trial_of_its_own(packs: FakeExperiment) -> None:
    exp = load_experiment(str(packs.path))
    ids = [pack_id("packs", first) for first in FIRST]
    assert [t.number for t in exp.trials] == list(range(7))
    assert [t.trial_id for t in exp.trials] == list(packs.trial_ids)
    assert [t.trial_id for t in exp.trials[1:]] == [f"{ids[PACKED[n]]}.{n}" for n in range(1, 7)]
    # Its run: the pack's Tune id (the summary matches Tune's timings by it).
    assert [t.runs for t in exp.trials[1:]] == [(ids[PACKED[n]],) for n in range(1, 7)]
    assert exp.done == exp.requested == 7
    # Each member's own hyperparameters, its pack's structure.
    params = json.loads((pack_dir(packs, 1) / "params.json").read_text())[PACK_KEY]
    for trial, config in zip(exp.trials[1:5], params, strict=True):
        assert trial.params["lr"] == config["lr"] == round(0.002 * (trial.number + 1), 6)
        assert "trial_number" not in trial.params and "optuna" not in trial.params
        assert trial.searched == config["optuna"]["params"]
        assert trial.params["hidden_sizes"] == exp.trials[1].params["hidden_sizes"]
    # What the summary reads is the same.
    assert read_trials(str(packs.path), exp.max_epochs) == exp.trials


def test_a_members_history_is_its_own_epochs_with_the_lines_times(packs: FakeExperiment) -> None:
    exp = load_experiment(str(packs.path))
    one, two, three = exp.trial("1"), exp.trial("2"), exp.trial("3")
    assert [r["epoch"] for r in one.history] == [1, 2, 3, 4]
    assert [r["epoch"] for r in two.history] == [1, 2]
    assert [r["epoch"] for r in three.history] == [1, 2, 3]
    assert one.score(exp.metric) == (0.93, 3) and two.score(exp.metric) == (0.70, 2)
    lines = [json.loads(x) for x in (pack_dir(packs, 1) / "result.json").read_text().splitlines()]
    for row, line in zip(one.history, lines, strict=True):
        assert row == {
            **{k: v for k, v in line["members"]["1"].items() if k != "left"},
            **{k: line[k] for k in ("timestamp", "time_total_s", "node_ip", "hostname")},
        }
    # Not the pack's: its best member's metric at top level, its size, Tune's keys.
    four = exp.trial("4").history[0]
    assert four["val_accuracy"] == lines[0]["members"]["4"]["val_accuracy"] < 0.89
    assert lines[0]["val_accuracy"] == 0.89 == one.history[0]["val_accuracy"]
    assert not {"pack_size", "members", "done", "config", "left"} & set(one.history[0])
    assert one.wall_time_s == 2.0 and one.node == "127.0.0.1"


def test_each_member_ends_as_the_pack_tells_it(packs: FakeExperiment) -> None:
    exp = load_experiment(str(packs.path))
    assert [(t.state, t.epochs, t.reason) for t in exp.trials[1:]] == [
        ("completed", 4, ""),
        # No entry in the pack's later lines: the scheduler stopped it.
        ("stopped", 2, "stopped early by the scheduler at epoch 2"),
        ("diverged", 3, "non-finite training loss at epoch 3"),
        ("completed", 4, ""),
        # Stopped before the pack crashed: the crash is not its outcome.
        ("stopped", 1, "stopped early by the scheduler at epoch 1"),
        ("errored", 3, "RuntimeError: CUDA out of memory"),
    ]
    summary = packs.summary
    assert summary is not None
    rows = {r["number"]: r for r in summary["leaderboard"]}
    assert {t.number: (t.state, t.reason, t.checkpoint) for t in exp.trials} == {
        n: (r["state"], r["reason"], r["checkpoint"]) for n, r in rows.items()
    }


def test_members_stopped_at_a_packs_last_line_end_with_it(tmp_path: Path) -> None:
    pack = FakePack((FakeTrial("stopped", epochs=2), FakeTrial("stopped", epochs=1)))
    fake = make_experiment(tmp_path, "rung", trials=[pack], state="interrupted")
    exp = load_experiment(str(fake.path))
    # The first member is in the pack's last line, which is Tune's last (done).
    assert [(t.state, t.epochs) for t in exp.trials] == [("stopped", 2), ("stopped", 1)]


def test_a_member_that_left_at_the_last_line_is_not_errored_by_a_crash_after_it(
    tmp_path: Path,
) -> None:
    pack = FakePack((FakeTrial("completed"), FakeTrial("errored", epochs=4)), error="OSError: x")
    fake = make_experiment(tmp_path, "late", trials=[pack])
    exp = load_experiment(str(fake.path))
    assert [(t.state, t.reason) for t in exp.trials] == [
        ("completed", ""),
        ("errored", "OSError: x"),
    ]


def test_a_pack_restarted_after_a_failure_errors_no_member(tmp_path: Path) -> None:
    pack = FakePack((FakeTrial("completed"), FakeTrial("stopped", epochs=2)), restarts=1)
    fake = make_experiment(tmp_path, "flaky", trials=[pack])
    exp = load_experiment(str(fake.path))
    note = "restarted 1x from its checkpoint after a failure"
    assert [(t.state, t.reason) for t in exp.trials] == [
        ("completed", note),
        ("stopped", f"stopped early by the scheduler at epoch 2; {note}"),
    ]


@pytest.mark.parametrize(
    ("state", "going"), [("running", "running"), ("interrupted", "interrupted")]
)
def test_members_of_a_pack_that_did_not_end(tmp_path: Path, state: Any, going: str) -> None:
    pack = FakePack(
        (FakeTrial("running", epochs=3), FakeTrial("stopped", epochs=1), FakeTrial("diverged", 2))
    )
    fake = make_experiment(tmp_path, "live", trials=[pack], state=state)
    exp = load_experiment(str(fake.path))
    assert [(t.state, t.reason) for t in exp.trials] == [
        (going, f"{'at' if going == 'running' else 'interrupted at'} epoch 3"),
        ("stopped", "stopped early by the scheduler at epoch 1"),
        ("diverged", "non-finite training loss at epoch 2"),
    ]


def test_each_member_has_its_own_slice_of_the_newest_checkpoint(packs: FakeExperiment) -> None:
    exp = load_experiment(str(packs.path))
    for trial in exp.trials[1:]:
        assert trial.checkpoint is not None
        path = Path(trial.checkpoint)
        assert path.name == f"{MEMBER_PREFIX}{trial.number}" and (path / "state.pt").is_file()
        assert path.parent.parent == pack_dir(packs, FIRST[PACKED[trial.number]])
        newest = max(path.parent.parent.glob("checkpoint_*"))
        assert path.parent == newest and (newest / PACK_FILE).is_file()
        # As the study of record names it.
        assert CHECKPOINT_NAME.fullmatch(str(path.relative_to(packs.path)))


def test_a_member_missing_from_the_newest_checkpoint_has_an_older_one(
    packs: FakeExperiment,
) -> None:
    folder = pack_dir(packs, 1)
    older, newest = sorted(folder.glob("checkpoint_*"))
    shutil.rmtree(newest / "member_2")
    for name in ("member_3", "member_4"):
        shutil.rmtree(newest / name)
        shutil.rmtree(older / name)
    exp = load_experiment(str(packs.path))
    assert exp.trial("1").checkpoint == str(newest / "member_1")
    assert exp.trial("2").checkpoint == str(older / "member_2")
    assert exp.trial("3").checkpoint is None and exp.trial("4").checkpoint is None


def test_the_checkpoints_are_listed_newest_first_until_every_member_has_one(
    packs: FakeExperiment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On object storage each listing is a request: the older checkpoints are not listed
    when the newest holds every member."""
    listed: list[str] = []
    list_dirs = storage.list_dirs

    def counting(location: str) -> list[str]:
        listed.append(location)
        return list_dirs(location)

    monkeypatch.setattr(storage, "list_dirs", counting)
    load_experiment(str(packs.path))
    folder = pack_dir(packs, 1)
    older, newest = sorted(folder.glob("checkpoint_*"))
    assert str(newest) in listed and str(older) not in listed


def test_a_member_is_found_by_its_id_or_number(packs: FakeExperiment) -> None:
    exp = load_experiment(str(packs.path))
    for number in range(1, 7):
        key = f"{pack_id('packs', FIRST[PACKED[number]])}.{number}"
        assert exp.trial(key).number == number == exp.trial(str(number)).number


def test_hpsearch_trials_lists_every_member(packs: FakeExperiment) -> None:
    shown = hpsearch("trials", "packs", root=packs.root)
    assert shown.exit_code == 0, shown.output
    rows = [line.split() for line in shown.stdout.splitlines()[1:]]
    assert sorted(int(r[0]) for r in rows) == list(range(7))
    assert {r[0]: r[1] for r in rows} == {str(n): i for n, i in enumerate(packs.trial_ids)}
    assert rows[0][:4] == ["1", packs.trial_ids[1], "completed", "4"]  # the best first
    assert rows[-1][:3] == ["6", packs.trial_ids[6], "errored"]


def test_best_is_a_member_with_its_checkpoint(packs: FakeExperiment) -> None:
    shown = hpsearch("best", "packs", "--json", root=packs.root)
    assert shown.exit_code == 0, shown.output
    best = json.loads(shown.stdout)
    assert (best["number"], best["trial_id"], best["value"], best["epoch"]) == (
        1,
        packs.trial_ids[1],
        0.93,
        3,
    )
    assert best["checkpoint"].endswith("/member_1") and best["test"] is not None


def test_the_table_has_a_row_per_member_and_epoch(packs: FakeExperiment) -> None:
    exp = load_experiment(str(packs.path))
    table = exp.trials_table()
    keys = list(zip(table["trial_number"].to_pylist(), table["epoch"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys)) == 4 + 4 + 2 + 3 + 4 + 1 + 3
    ids = dict(zip(table["trial_number"].to_pylist(), table["trial_id"].to_pylist(), strict=True))
    assert ids == dict(enumerate(packs.trial_ids))
    assert not {"left", "pack_size", "members"} & set(table.column_names)
    assert len(exp.leaderboard()) == 7


def test_read_trial_refuses_a_packs_folder(packs: FakeExperiment) -> None:
    name = pack_dir(packs, 1).name
    with pytest.raises(ValueError, match="is a pack of trials"):
        read_trial(str(packs.path), name, 4, live=False)
    assert read_trial(str(packs.path), f"trial_{packs.trial_ids[0]}", 4, live=False) is not None


# A member continued as a single trial after a resume -----------------------------------


@pytest.fixture
def continued(tmp_path: Path) -> FakeExperiment:
    """A pack killed after step 3 (its newest checkpoint at 2); the resumed search
    continued its unfinished member 0 as a single trial from its slice, to epoch 4."""
    pack = FakePack(
        (
            FakeTrial("completed", score=0.9, best_at=3, runs=2, resumed_at=2),
            FakeTrial("stopped", 2),
        )
    )
    return make_experiment(tmp_path, "continued", trials=[pack])


def test_a_member_continued_as_a_single_trial_is_one_trial(continued: FakeExperiment) -> None:
    exp = load_experiment(str(continued.path))
    zero, one = exp.trials
    pack, then = continued.runs[0]
    assert (zero.trial_id, zero.runs) == (f"{pack}.0", (pack, then))
    assert (one.trial_id, one.runs) == (f"{pack}.1", (pack,))
    # Epochs 1-2 from the pack; 3-4 from the continuation (which reported 3 again).
    assert [r["epoch"] for r in zero.history] == [1, 2, 3, 4]
    assert [r["resumed_from_epoch"] for r in zero.history] == [0, 0, 2, 2]
    assert zero.score(exp.metric) == (0.9, 3)  # the continuation's report, not the pack's
    assert zero.wall_time_s == 1.5 + 1.0  # the pack's 3 steps, then the continuation's 2
    assert (zero.state, zero.epochs, one.state) == ("completed", 4, "stopped")
    assert zero.checkpoint == str(continued.path / f"trial_{then}" / "checkpoint_000000")
    resumed_from = json.loads((continued.path / f"trial_{then}" / "params.json").read_text())
    assert resumed_from["resume_from"].endswith("/member_0")
    assert exp.trial(then) == exp.trial(f"{pack}.0") == zero
    assert read_trials(str(continued.path), exp.max_epochs) == exp.trials


# Checkpoint names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "named",
    [
        "{exp}/trial_0a1b2c3d/checkpoint_000001/member_7",
        "/elsewhere/x/trial_0a1b2c3d/checkpoint_000001/member_7/",
        "{exp}/../elsewhere/trial_0a1b2c3d/checkpoint_000001/member_7",
        "s3://someone-elses-bucket/x/trial_0a1b2c3d/checkpoint_000001/member_7",
    ],
)
def test_a_members_checkpoint_is_read_in_the_experiment(tmp_path: Path, named: str) -> None:
    location = str(tmp_path / "exp")
    found = contained_checkpoint(named.format(exp=location), location)
    assert found == f"{location}/trial_0a1b2c3d/checkpoint_000001/member_7"
    assert contained_checkpoint(named.format(exp=location), f"{location}?region=here") == (
        f"{location}/trial_0a1b2c3d/checkpoint_000001/member_7?region=here"
    )


@pytest.mark.parametrize(
    "named",
    [
        "{exp}/trial_0a1b2c3d/checkpoint_000001/member_x",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/member_",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/member_1234567890",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/member_7/state.pt",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/member_7/member_8",
        "{exp}/trial_0a1b2c3d/member_7",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/../member_7",
        "{exp}/trial_0a1b2c3d/checkpoint_000001/member_7/..",
        "{exp}/trial_0a1b2c3d/../../member_7",
        "member_7",
    ],
)
def test_a_member_checkpoint_not_named_as_a_search_does_is_refused(
    tmp_path: Path, named: str
) -> None:
    location = str(tmp_path / "exp")
    assert contained_checkpoint(named.format(exp=location), location) is None
    assert not CHECKPOINT_NAME.fullmatch(named.removeprefix("{exp}/"))


def test_the_study_of_record_names_a_members_checkpoint() -> None:
    assert CHECKPOINT_NAME.fullmatch("trial_0a1b2c3d/checkpoint_000001/member_7")
    assert CHECKPOINT_NAME.fullmatch("trial_0a1b2c3d/checkpoint_000001")
    assert not CHECKPOINT_NAME.fullmatch("trial_0a1b2c3d/checkpoint_000001/member_7/")


# Hostile pack files --------------------------------------------------------------------

Mutation = Callable[[dict[str, Any], list[dict[str, Any]]], None]


def _members(params: dict[str, Any]) -> list[dict[str, Any]]:
    return params[PACK_KEY]


def _set_member(number: int, key: str, value: Any) -> Mutation:
    def mutate(params: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        _members(params)[number][key] = value

    return mutate


def _each_line(change: Callable[[dict[str, Any]], None]) -> Mutation:
    def mutate(params: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        for line in lines:
            change(line)

    return mutate


def _pack(value: Any) -> Mutation:
    def mutate(params: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        params[PACK_KEY] = value

    return mutate


def _junk_members(params: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    params[PACK_KEY] = [1, "a", None, [], *_members(params)]


def _entry(number: int, value: Any) -> Mutation:
    return _each_line(lambda line: line["members"].__setitem__(str(number), value))


def _node_in_entry_only(line: dict[str, Any]) -> None:
    """The line has no node; member 0's entry has one that is no address."""
    del line["node_ip"]
    line["members"]["0"]["node_ip"] = {"a": 1}


def _renumbered(params: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    _members(params)[1]["trial_number"] = 0


# Each: a change to the first pack's files (members 0-2: completed, stopped at 2, diverged
# at 3), and the members that still read, with their epochs.
ALL = {0: 4, 1: 2, 2: 3}
NONE_REPORTED = {0: 0, 1: 0, 2: 0}
HOSTILE: dict[str, tuple[Mutation, dict[int, int]]] = {
    "pack is text": (_pack("members"), {}),
    "pack is an object": (_pack({"0": {"trial_number": 0}}), {}),
    "pack is null": (_pack(None), {}),
    "pack holds junk": (_junk_members, ALL),
    "a number is text": (_set_member(0, "trial_number", "0"), {1: 2, 2: 3}),
    "a number is true": (_set_member(0, "trial_number", True), {1: 2, 2: 3}),
    "a number is negative": (_set_member(0, "trial_number", -1), {1: 2, 2: 3}),
    "a number is a float": (_set_member(0, "trial_number", 0.0), {1: 2, 2: 3}),
    "a number is missing": (_set_member(0, "trial_number", None), {1: 2, 2: 3}),
    "two members share a number": (_renumbered, {2: 3}),
    "optuna is text": (_set_member(0, "optuna", "x"), ALL),
    "members is a list": (_each_line(lambda line: line.update(members=[1])), NONE_REPORTED),
    "members is text": (_each_line(lambda line: line.update(members="x")), NONE_REPORTED),
    "an entry is a number": (_entry(0, 5), {0: 0, 1: 2, 2: 3}),
    "an entry is a list": (_entry(0, [1]), {0: 0, 1: 2, 2: 3}),
    "an entry's epoch is text": (_entry(0, {"epoch": "3"}), {0: 0, 1: 2, 2: 3}),
    "an entry's epoch is true": (_entry(0, {"epoch": True}), {0: 0, 1: 2, 2: 3}),
    "an entry's epoch is negative": (_entry(0, {"epoch": -1}), {0: 0, 1: 2, 2: 3}),
    "an entry of no member": (_entry(99, {"epoch": 1}), ALL),
    "a key that is no number": (
        _each_line(lambda line: line["members"].update(x={})),
        ALL,
    ),
    "the line's node is a number": (
        _each_line(lambda line: line.update(node_ip=5)),
        ALL,
    ),
    "an entry's node is an object": (_each_line(_node_in_entry_only), ALL),
    "the line's time is text": (
        _each_line(lambda line: line.update(timestamp="now")),
        ALL,
    ),
}


def _hostile(tmp_path: Path, mutate: Mutation) -> FakeExperiment:
    """An interrupted search (no summary to fill in what the pack's files lack) whose
    pack's files were changed by ``mutate``; then a line that is not an object appended."""
    pack = FakePack(
        (FakeTrial("completed"), FakeTrial("stopped", epochs=2), FakeTrial("diverged", epochs=3))
    )
    fake = make_experiment(tmp_path, "hostile", trials=[pack], state="interrupted")
    folder = pack_dir(fake, 0)
    params = json.loads((folder / "params.json").read_text())
    lines = [json.loads(x) for x in (folder / "result.json").read_text().splitlines()]
    mutate(params, lines)
    (folder / "params.json").write_text(json.dumps(params))
    text = "".join(json.dumps(line) + "\n" for line in lines) + "[1, 2]\n7\n"
    (folder / "result.json").write_text(text)
    return fake


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_pack_files_skip_what_is_malformed(tmp_path: Path, case: str) -> None:
    mutate, readable = HOSTILE[case]
    fake = _hostile(tmp_path, mutate)
    exp = load_experiment(str(fake.path))
    assert {t.number: t.epochs for t in exp.trials} == readable
    for args in (("trials", "hostile"), ("best", "hostile"), ("best", "hostile", "--json")):
        shown = hpsearch(*args, root=fake.root)
        # 2: `best` of a search with no usable trial, a one-line error.
        assert shown.exit_code in (0, 2), shown.output
        assert shown.exception is None or isinstance(shown.exception, SystemExit), shown.output
    listing = hpsearch("list", root=fake.root)
    assert listing.exit_code == 0, listing.output
    assert listing.stdout.splitlines()[1].split()[:2] == ["hostile", "interrupted"]
