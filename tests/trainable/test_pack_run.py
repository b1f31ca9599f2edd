"""A pack's training loop: members report, leave, checkpoint and continue as trials do."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from hpsearch.data import load_builtin
from hpsearch.trainable import (
    MEMBER_PREFIX,
    PACK_FILE,
    HParams,
    PackRun,
    TrainingRun,
    TrainSettings,
    load_state,
    model_from_checkpoint,
    read_pack,
)

SPIRALS = load_builtin("spirals")
SETTINGS = TrainSettings(max_epochs=4, metric="val_accuracy", mode="max")
BASE = HParams(
    optimizer="sgd",
    momentum=0.9,
    hidden_sizes=(32, 16),
    batch_norm=True,
    batch_size=100,
    augmentation="mixup",
    augmentation_strength=0.3,
    embedding="periodic",
)


def configs(*lrs: float, **changes: Any) -> list[dict[str, Any]]:
    """A pack's member configs: one per learning rate, numbered from 10."""
    out = []
    for i, lr in enumerate(lrs):
        hp = dataclasses.replace(BASE, lr=lr, seed=100 + i, dropout=0.1 * (i % 2), **changes)
        out.append({**dataclasses.asdict(hp), "trial_number": 10 + i})
    return out


def test_members_report_their_own_metrics_and_start_as_their_trials_would() -> None:
    members = configs(0.05, 0.01, 0.2, lr_schedule="cosine")
    run = PackRun(members, SPIRALS, SETTINGS)
    # Each member starts from exactly the weights its unpacked trial starts from.
    for k, member in enumerate(members):
        single = TrainingRun(HParams.from_config(member), SPIRALS, SETTINGS)
        expected = single.model.state_dict()
        got = run.model.member_state_dict(k, HParams.from_config(member))
        assert expected.keys() == got.keys()
        assert all(torch.equal(expected[key], got[key]) for key in expected)
    results = run.step()
    assert sorted(results) == [10, 11, 12]
    for metrics in results.values():
        assert metrics["epoch"] == 1 and metrics["left"] is None and not metrics["diverged"]
        assert 0 <= metrics["val_accuracy"] <= 1 and math.isfinite(metrics["train_loss"])
    assert len({m["val_loss"] for m in results.values()}) == 3


def test_a_diverged_member_leaves_and_the_others_go_on() -> None:
    run = PackRun(configs(0.05, 1e9, 0.02), SPIRALS, SETTINGS)
    results = run.step()
    assert results[11]["diverged"] and results[11]["left"] == "diverged"
    assert math.isnan(results[11]["val_accuracy"])
    run.retire(results)
    assert [m.number for m in run.active] == [10, 12] and run.model.size == 2
    later = run.step()
    assert sorted(later) == [10, 12] and not any(m["diverged"] for m in later.values())


def test_the_last_epoch_completes_each_member() -> None:
    run = PackRun(configs(0.05, 0.02), SPIRALS, dataclasses.replace(SETTINGS, max_epochs=2))
    assert [m["left"] for m in run.step().values()] == [None, None]
    results = run.step()
    assert [m["left"] for m in results.values()] == ["completed", "completed"]
    assert run.checkpoint_due(results)
    run.retire(results)
    assert run.active == []


def metrics_of(results: dict[int, dict[str, Any]]) -> dict[int, tuple[float, float]]:
    return {n: (m["train_loss"], m["val_loss"]) for n, m in results.items()}


def test_a_pack_restored_from_its_checkpoint_continues_exactly(tmp_path: Path) -> None:
    members = configs(0.05, 0.01, 0.2)
    run = PackRun(members, SPIRALS, SETTINGS)
    run.step()
    run.stop([11])  # the scheduler stopped member 11 after epoch 1
    run.step()
    run.save(tmp_path)
    standing = json.loads((tmp_path / PACK_FILE).read_text())["members"]
    assert standing == {
        "10": {"state": "running", "epoch": 2},
        "12": {"state": "running", "epoch": 2},
        "11": {"state": "stopped", "epoch": 1},
    }
    expected = metrics_of(run.step())
    restored = PackRun(members, SPIRALS, SETTINGS, states=read_pack(tmp_path))
    assert [m.number for m in restored.active] == [10, 12]
    assert [(m.number, m.state) for m in restored.ended] == [(11, "stopped")]
    assert metrics_of(restored.step()) == expected
    # The stopped member's slice stays in every later checkpoint (Tune drops old ones).
    later = tmp_path / "later"
    later.mkdir()
    restored.save(later)
    assert load_state(later / f"{MEMBER_PREFIX}11")["epoch"] == 1


def test_a_members_slice_is_a_trials_checkpoint(tmp_path: Path) -> None:
    members = configs(0.05, 0.02)
    run = PackRun(members, SPIRALS, SETTINGS)
    run.step()
    run.step()
    run.save(tmp_path)
    folder = tmp_path / f"{MEMBER_PREFIX}11"
    state = load_state(folder)
    assert state["epoch"] == 2 and state["hparams"]["lr"] == 0.02
    # Member 11's own weights, not another member's.
    own = run.model.member_state_dict(1, HParams.from_config(members[1]))
    assert all(torch.equal(own[k], state["model"][k]) for k in own)
    # The trial's own loop continues from it, as a resumed search continues a member alone.
    single = TrainingRun(HParams.from_config(members[1]), SPIRALS, SETTINGS)
    single.load_state_dict(state)
    assert single.step()["epoch"] == 3
    model, _ = model_from_checkpoint(folder, SPIRALS.num_features, SPIRALS.num_outputs)
    x = torch.from_numpy(SPIRALS.x_val[:5])
    assert model(x).shape == (5, SPIRALS.num_outputs)


def test_members_of_different_structures_are_refused() -> None:
    members = configs(0.05, 0.02)
    members[1]["hidden_sizes"] = [8]
    with pytest.raises(ValueError, match="share their structure"):
        PackRun(members, SPIRALS, SETTINGS)


@pytest.mark.parametrize(
    "standing",
    [
        {"members": {"../10": {"state": "running", "epoch": 1}}},
        {"members": {"10": {"state": "exploded", "epoch": 1}}},
        {"members": {"10": "running"}},
        {"members": ["10"]},
        {"members": {"١٠": {"state": "running", "epoch": 1}}},
        {},
        [],
    ],
)
def test_a_pack_json_not_as_a_pack_writes_it_is_refused(tmp_path: Path, standing: Any) -> None:
    run = PackRun(configs(0.05), SPIRALS, SETTINGS)
    run.step()
    run.save(tmp_path)
    (tmp_path / PACK_FILE).write_text(json.dumps(standing))
    with pytest.raises(ValueError, match="pack"):
        read_pack(tmp_path)


def test_latency_is_measured_once_for_the_whole_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """One architecture, one measurement: members differ only in what eval mode turns off."""
    from hpsearch.trainable import _pack

    calls = []

    def measure(model: Any, x: Any) -> dict[str, float]:
        calls.append(model)
        return {"latency_ms": 0.5, "latency_1024_ms": 2.0}

    monkeypatch.setattr(_pack, "measure_latency", measure)
    run = PackRun(
        configs(0.05, 0.02, 0.01), SPIRALS, dataclasses.replace(SETTINGS, measure_latency=True)
    )
    first, second = run.step(), run.step()
    assert len(calls) == 1
    assert all(m["latency_ms"] == 0.5 for m in [*first.values(), *second.values()])
