"""The greedy ensemble on hand-made predictions, the adoption rule, and the scripted module."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hpsearch.trainable import build_ensemble, choose_ensemble, member_predictions
from hpsearch.trainable._ensemble import greedy_selection, split_validation


def one_hot(labels: list[int], confidence: float = 0.9) -> np.ndarray:
    """Two-class probabilities putting ``confidence`` on each row's label."""
    probs = np.full((len(labels), 2), 1 - confidence)
    probs[np.arange(len(labels)), labels] = confidence
    return probs


Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def sure_of_truth(p_true: list[float]) -> np.ndarray:
    """Two-class probabilities giving each row of Y's label ``p_true``."""
    probs = np.empty((len(Y), 2))
    probs[np.arange(len(Y)), Y] = p_true
    probs[np.arange(len(Y)), 1 - Y] = 1 - np.array(p_true)
    return probs


def test_the_selection_picks_the_member_that_fixes_the_best_ones_mistakes() -> None:
    # A: right on rows 0-5 (accuracy 0.75); B: wrong but unsure on rows 0-2, sure where
    # A errs (0.625); C: as accurate as A, less sure, wrong where A is. A+B: all 8 right.
    a = sure_of_truth([0.6] * 6 + [0.4] * 2)
    b = sure_of_truth([0.45] * 3 + [0.9] * 3 + [0.95] * 2)
    c = sure_of_truth([0.45] + [0.55] * 6 + [0.45])
    picks = greedy_selection([a, b, c], Y, "classification", "val_accuracy", size=16)
    assert picks[:2] == [0, 1] and 2 not in picks
    assert (np.mean([a, b], axis=0).argmax(1) == Y).all()


def test_a_pick_may_repeat_a_member() -> None:
    # Regression, standardized units: the targets are 1; A predicts 1.5, B predicts 0.
    # A alone errs by 0.5; A+B by 0.25; A+A+B hits 1 exactly: A is picked twice.
    y = np.ones(4)
    a, b = np.full(4, 1.5), np.zeros(4)
    picks = greedy_selection([a, b], y, "regression", "val_rmse", size=16)
    assert sorted(picks) == [0, 0, 1]


def test_the_selection_stops_when_no_addition_improves() -> None:
    # A is exact: nothing can improve on it, so it stays alone.
    y = np.array([0.5, -1.0, 2.0])
    picks = greedy_selection([y.copy(), y + 1, y - 0.5], y, "regression", "val_r2", size=16)
    assert picks == [0]


def test_the_size_bounds_the_picks() -> None:
    # Targets 1: A (1.2) alone errs by 0.2, A+B (0.7) by 0.05, A+B+A by 0.033; then no
    # pick improves. The size cuts that short.
    y = np.ones(4)
    a, b = np.full(4, 1.2), np.full(4, 0.7)
    assert greedy_selection([a, b], y, "regression", "val_rmse", size=16) == [0, 1, 0]
    assert greedy_selection([a, b], y, "regression", "val_rmse", size=2) == [0, 1]
    assert greedy_selection([a, b], y, "regression", "val_rmse", size=1) == [0]


def test_ties_go_to_the_better_ranked_candidate() -> None:
    same = one_hot([0, 0, 0, 0, 1, 1, 1, 1])
    assert greedy_selection([same, same.copy(), same.copy()], Y, "classification",
                            "val_accuracy", size=4) == [0]  # fmt: skip
    # The search's best trial comes first, even where another one ties it on accuracy
    # and is surer (an ensemble of one is never a trial other than the best); the
    # surer one may join it after: equal accuracy, lower log loss.
    sure = one_hot([0, 0, 0, 0, 1, 1, 1, 1], 0.99)
    assert greedy_selection([same, sure], Y, "classification", "val_accuracy", size=1) == [0]
    assert greedy_selection([same, sure], Y, "classification", "val_accuracy", size=2) == [0, 1]


def test_the_split_is_seeded_stratified_and_covers_every_row_once() -> None:
    y = np.array([0] * 10 + [1] * 5 + [2] * 2)
    select, check = split_validation(y, "classification", seed=3)
    assert sorted([*select, *check]) == list(range(len(y)))
    assert [int((y[select] == c).sum()) for c in range(3)] == [5, 3, 1]
    again = split_validation(y, "classification", seed=3)
    assert (again[0] == select).all() and (again[1] == check).all()
    assert not (split_validation(y, "classification", seed=4)[0] == select).all()


def test_the_ensemble_is_adopted_only_when_better_on_the_check_half() -> None:
    y = np.tile([0, 1], 20)  # 40 rows, 20 per class
    select, check = split_validation(y, "classification", seed=0)
    right = y.copy()
    # The best is right everywhere but on two check rows; the other helps there.
    best_labels, other_labels = right.copy(), 1 - right
    best_labels[check[:2]] = 1 - right[check[:2]]
    other_labels[check[:2]] = right[check[:2]]
    best, other = one_hot(list(best_labels), 0.6), one_hot(list(other_labels), 0.55)
    # On the selection half `other` is always wrong: adding it only worsens the log loss
    # there, so the selection keeps the best alone, which is not adopted (it is no better).
    alone = choose_ensemble([best, other], y, task="classification", metric="val_accuracy",
                            seed=0, size=8)  # fmt: skip
    assert alone.picks == (0,) and not alone.adopted

    # The best now misses two selection rows; a member right on the whole selection half
    # but wrong on the whole check half is picked, and the check half says worse.
    tricky_labels = right.copy()
    tricky_labels[check] = 1 - right[check]
    best = one_hot(list(right), 0.6)
    best_sel_miss = best.copy()
    best_sel_miss[select[:2]] = one_hot(list(1 - right[select[:2]]), 0.6)
    tricky = one_hot(list(tricky_labels), 0.99)
    choice = choose_ensemble([best_sel_miss, tricky], y, task="classification",
                             metric="val_accuracy", seed=0, size=8)  # fmt: skip
    assert 1 in choice.picks
    assert choice.selection["ensemble"]["val_accuracy"] > choice.selection["best"]["val_accuracy"]
    assert choice.check["ensemble"]["val_accuracy"] < choice.check["best"]["val_accuracy"]
    assert not choice.adopted

    # A member right (and sure) on both halves: picked and adopted.
    helper = one_hot(list(right), 0.99)
    good = choose_ensemble([best_sel_miss, helper], y, task="classification",
                           metric="val_accuracy", seed=0, size=8)  # fmt: skip
    assert 1 in good.picks and good.adopted
    assert good.rows == (len(select), len(check))
    assert sum(good.weights.values()) == pytest.approx(1.0)


def _members(task: str, outputs: int) -> list[nn.Module]:
    torch.manual_seed(0)
    return [
        nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, outputs)).eval() for _ in range(3)
    ]


def test_the_scripted_classification_ensemble_gives_the_weighted_mean_probabilities() -> None:
    members = _members("classification", 3)
    weights = [0.5, 0.25, 0.25]
    scripted = torch.jit.script(build_ensemble(members, weights, "classification"))
    x = torch.randn(50, 4) * 3
    with torch.no_grad():
        pairs = zip(weights, members, strict=True)
        expected = sum(w * torch.softmax(m(x), dim=1) for w, m in pairs)
        got = torch.softmax(scripted(x), dim=1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    # And what the search averages on validation: the same numbers.
    mean = sum(w * member_predictions(m, x.numpy(), "classification")
               for w, m in zip(weights, members, strict=True))  # fmt: skip
    np.testing.assert_allclose(got.numpy(), mean, atol=1e-6)


def test_the_scripted_regression_ensemble_gives_the_weighted_mean_value() -> None:
    members = _members("regression", 1)
    scripted = torch.jit.script(build_ensemble(members, [2, 1, 1], "regression"))
    x = torch.randn(50, 4)
    with torch.no_grad():
        expected = 0.5 * members[0](x) + 0.25 * members[1](x) + 0.25 * members[2](x)
        got = scripted(x)
    assert got.shape == (50, 1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
