"""How the searcher fills packs and tells their members (real Optuna; no Ray runs)."""

from __future__ import annotations

import functools
import sys
import types
from pathlib import Path
from typing import Any

import optuna
import pytest

from hpsearch.config import SearchConfig
from hpsearch.errors import UserError
from hpsearch.spaces import SpaceContext, pack_shared
from hpsearch.trainable import PACK_KEY, HParams
from hpsearch.tuning._packs import member_results, pays_on_cpu, shared_values
from hpsearch.tuning._schedulers import StudyScheduler
from hpsearch.tuning._space import DefineByRun
from hpsearch.tuning._summary import _row_from_study
from hpsearch.tuning._tuner import StudySearcher, new_record

CONTEXT = SpaceContext(task="classification", num_features=8, num_numeric=8, num_classes=3)


def searcher(
    tmp_path: Path, space: str, total: int, pack: int, start: bool = True
) -> StudySearcher:
    config = SearchConfig(space=space, num_samples=total, pack=pack)
    record = new_record(
        config, "classification", "exp", str(tmp_path / "exp"), (), CONTEXT if start else None
    )
    define = DefineByRun(space, CONTEXT, 0)
    return StudySearcher(record, define, "val_accuracy", "max", total, pack, pack_shared(space))


def members(suggested: Any) -> list[dict[str, Any]]:
    assert isinstance(suggested, dict) and PACK_KEY in suggested, suggested
    return list(suggested[PACK_KEY])


def test_a_pack_shares_its_structure_and_varies_the_rest(tmp_path: Path) -> None:
    s = searcher(tmp_path, "mlp", total=8, pack=4)
    first = members(s.suggest("t1"))
    assert [m["trial_number"] for m in first] == [0, 1, 2, 3]
    # Trial 0 is the space's starting point; the others take its structure.
    assert first[0]["hidden_sizes"] == [256, 256, 256]
    assert len({HParams.from_config(m).structure() for m in first}) == 1
    assert len({m["lr"] for m in first}) == 4  # the rest is each member's own
    assert len({m["seed"] for m in first}) == 4
    second = members(s.suggest("t2"))
    assert [m["trial_number"] for m in second] == [4, 5, 6, 7]
    assert len({HParams.from_config(m).structure() for m in second}) == 1
    assert s.suggest("t3") == "FINISHED"
    assert s.numbers == {"t1": [0, 1, 2, 3], "t2": [4, 5, 6, 7]}
    running = s.record.study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert {t.user_attrs["tune_trial_id"] for t in running} == {"t1", "t2"}


def test_the_last_pack_takes_what_is_left(tmp_path: Path) -> None:
    s = searcher(tmp_path, "quick", total=6, pack=4, start=False)
    assert len(members(s.suggest("a"))) == 4
    assert len(members(s.suggest("b"))) == 2
    assert s.suggest("c") == "FINISHED"


def free_structure(trial: optuna.Trial) -> dict[str, Any]:
    """A user's space that samples its structure and declares nothing."""
    return {
        "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
        "hidden_sizes": [trial.suggest_categorical("width", [16, 32])],
    }


@pytest.fixture
def user_space(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("packspaces")
    module.free = free_structure  # type: ignore[attr-defined]
    module.declared = lambda trial: free_structure(trial)  # type: ignore[attr-defined]
    module.declared.pack_shared = ["wid*"]  # type: ignore[attr-defined]
    module.broken = lambda trial: free_structure(trial)  # type: ignore[attr-defined]
    module.broken.pack_shared = "width"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "packspaces", module)
    return "packspaces"


def test_a_space_that_declares_nothing_packs_less_and_loses_no_trial(
    tmp_path: Path, user_space: str
) -> None:
    s = searcher(tmp_path, f"{user_space}:free", total=12, pack=4, start=False)
    packs = []
    while (suggested := s.suggest(f"t{len(packs)}")) != "FINISHED":
        packs.append(members(suggested))
    numbers = sorted(m["trial_number"] for p in packs for m in p)
    assert numbers == list(range(12))  # a trial that did not fit waits for the next pack
    for pack in packs:
        assert len({tuple(m["hidden_sizes"]) for m in pack}) == 1
    assert len(packs) > 3  # it packed less than 12 / 4


def test_a_declared_user_space_packs_fully(tmp_path: Path, user_space: str) -> None:
    s = searcher(tmp_path, f"{user_space}:declared", total=8, pack=4, start=False)
    assert [len(members(s.suggest(t))) for t in ("a", "b")] == [4, 4]


def test_a_malformed_declaration_is_refused_before_the_search(user_space: str) -> None:
    with pytest.raises(UserError, match="pack_shared must be a list"):
        pack_shared(f"{user_space}:broken")
    with pytest.raises(UserError, match="pack_shared must be a list"):
        SearchConfig(space=f"{user_space}:broken", pack=4)
    SearchConfig(space=f"{user_space}:broken", pack=1)  # not asked for without packs


def test_members_are_told_once_each(tmp_path: Path) -> None:
    s = searcher(tmp_path, "quick", total=3, pack=3, start=False)
    numbers = [m["trial_number"] for m in members(s.suggest("p"))]
    for epoch in (1, 2):
        for n in numbers:
            s.record.report(n, epoch, 0.5 + 0.1 * n + 0.01 * epoch)
    # The first member diverged part way and was told then; the pack ends with the others.
    s.tell(numbers[0], {"epoch": 2, "diverged": True, "val_accuracy": float("nan")})
    last = {f"members/{n}/epoch": 2 for n in numbers[1:]}
    last |= {f"members/{n}/val_accuracy": 0.5 + 0.1 * n + 0.02 for n in numbers[1:]}
    s.on_trial_complete("p", last)
    trials = s.record.study.get_trials()
    assert [t.state.name for t in trials] == ["PRUNED", "COMPLETE", "COMPLETE"]
    assert [t.user_attrs["ended"] for t in trials] == ["diverged", "completed", "completed"]
    assert trials[2].value == pytest.approx(0.72)
    # Told as a pack's member: named <pack's Tune id>.<number> where only the study has it.
    told = s.record.told()
    assert all(t.in_pack and t.tune_trial_id == "p" for t in told.values())
    goals = SearchConfig(space="quick").goals("classification")
    assert _row_from_study(numbers[2], told[numbers[2]], goals)["trial_id"] == f"p.{numbers[2]}"
    assert s.numbers == {} and s.record.trials == {}


def test_member_results_reads_nested_and_flattened_results() -> None:
    nested = {"members": {"3": {"epoch": 1, "val_accuracy": 0.5}}, "val_accuracy": 0.5}
    flat = {"members/3/epoch": 1, "members/3/val_accuracy": 0.5, "val_accuracy": 0.5}
    assert member_results(nested) == member_results(flat) == {3: nested["members"]["3"]}
    assert member_results({"epoch": 1, "val_accuracy": 0.5}) == {}


def test_shared_values_match_names_and_patterns() -> None:
    config = {"optuna": {"params": {"width_1": 8, "width_2": 16, "lr": 0.1, "optimizer": "sgd"}}}
    assert shared_values(config, ("optimizer", "width_*")) == {
        "width_1": 8,
        "width_2": 16,
        "optimizer": "sgd",
    }


def test_auto_pack_leaves_the_sampler_rounds() -> None:
    assert SearchConfig(pack="auto", num_samples=32).resolved_pack(2) == 8
    assert SearchConfig(pack="auto", num_samples=200).resolved_pack(2) == 16
    assert SearchConfig(pack="auto", num_samples=4).resolved_pack(2) == 1
    assert SearchConfig(pack="auto", num_samples=1000, gpus_per_trial=0.5).resolved_pack(2) == 64
    assert SearchConfig(pack=5).resolved_pack(2) == 5


def test_auto_on_a_cpu_packs_only_structures_whose_overhead_a_pack_saves(tmp_path: Path) -> None:
    small = {"hidden_sizes": [128, 128], "batch_size": 64}
    wide = {"hidden_sizes": [256, 256, 256], "batch_size": 128, "embedding": "periodic"}
    assert pays_on_cpu(small, CONTEXT) and not pays_on_cpu(wide, CONTEXT)
    # Near the line (20 MFLOP a step, the overhead at 50 GFLOP/s): 8 inputs, 3 classes,
    # one layer of width w at batch 256 is 6 * 256 * 11 * w FLOP: w = 1183 is the edge.
    assert pays_on_cpu({"hidden_sizes": [1183], "batch_size": 256}, CONTEXT)
    assert not pays_on_cpu({"hidden_sizes": [1184], "batch_size": 256}, CONTEXT)
    # Regression has one output; embeddings count only where there are numeric columns.
    regression = SpaceContext(task="regression", num_features=8, num_numeric=0)
    assert pays_on_cpu(
        {"hidden_sizes": [1446], "batch_size": 256, "embedding": "periodic"}, regression
    )
    assert not pays_on_cpu({"hidden_sizes": [1447], "batch_size": 256}, regression)
    config = SearchConfig(space="mlp", num_samples=8, pack="auto")
    record = new_record(config, "classification", "exp", str(tmp_path / "exp"), (), CONTEXT)
    define = DefineByRun("mlp", CONTEXT, 0)
    pays = functools.partial(pays_on_cpu, context=CONTEXT)
    s = StudySearcher(record, define, "val_accuracy", "max", 8, 4, pack_shared("mlp"), pays)
    # Trial 0, the starting point (3 x 256 with embeddings), is compute-bound: alone.
    assert [m["trial_number"] for m in members(s.suggest("a"))] == [0]
    sizes = []
    while (suggested := s.suggest(f"t{len(sizes)}")) != "FINISHED":
        pack = members(suggested)
        sizes.append(len(pack))
        if not pays_on_cpu(pack[0], CONTEXT):
            assert len(pack) == 1
    assert sum(sizes) == 7 and max(sizes) > 1  # small structures did pack


def test_each_member_is_judged_against_every_member_at_its_rung(tmp_path: Path) -> None:
    """Halving at epoch 1 keeps the better half of the pack, whatever the members' order."""
    config = SearchConfig(space="quick", num_samples=4, pack=4, max_epochs=4, grace_period=1)
    record = new_record(config, "classification", "exp", str(tmp_path / "exp"), (), None)
    define = DefineByRun("quick", CONTEXT, 0)
    s = StudySearcher(record, define, "val_accuracy", "max", 4, 4, pack_shared("quick"))
    scheduler = StudyScheduler(record, "val_accuracy", 4, searcher=s)
    s.scheduler = scheduler
    pack = members(s.suggest("p"))
    values = dict(zip([m["trial_number"] for m in pack], [0.2, 0.3, 0.8, 0.9], strict=True))
    result = {
        f"members/{n}/{key}": value
        for n, v in values.items()
        for key, value in {"epoch": 1, "val_accuracy": v, "left": None}.items()
    }
    trial = types.SimpleNamespace(config={PACK_KEY: pack}, trial_id="p")
    assert scheduler.on_trial_result(None, trial, result) == "CONTINUE"  # type: ignore[arg-type]
    assert scheduler.stopped == {0, 1}  # the worse half, the first-numbered among them
    told = {t.number: t.state.name for t in record.study.get_trials()}
    assert told == {0: "COMPLETE", 1: "COMPLETE", 2: "RUNNING", 3: "RUNNING"}
    assert all(record.study.trials[n].user_attrs["ended"] == "stopped" for n in (0, 1))
