"""The final model: a greedy ensemble of the top trials' best checkpoints.

Caruana et al. (2004), forward selection with replacement: start from the
search's best trial, then add, one pick at a time, the member (repeats allowed) whose
addition most improves the score of the averaged predictions. Members are
averaged as class probabilities (classification) or as values in standardized
target units (regression), weighted by how often they were picked.

Selecting on the validation rows that then judge the ensemble would overfit
them (TabArena, 2025), so the validation rows are halved: the picks are made
on the *selection* half, and the ensemble is adopted only if it beats the best
single trial on the *check* half, which the picks never saw.
"""

# No `from __future__ import annotations`: TorchScript reads real annotation objects.
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from hpsearch.metrics import TASK_METRICS
from hpsearch.trainable._loop import as_tensor

#: How many of the top trials (by the search metric) the selection picks from.
ENSEMBLE_CANDIDATES = 8

# Predict in chunks so a large validation split does not need one huge activation.
_CHUNK = 16384
# The smallest probability a log loss takes (float64): a confident miss costs ~690, not inf.
_TINY = 1e-300


@torch.inference_mode()
def member_predictions(model: nn.Module, x: np.ndarray, task: str) -> np.ndarray:
    """``model``'s predictions on ``x`` as the ensemble averages them (float64):
    class probabilities (rows x classes), or values in standardized target units."""
    model.eval()
    inputs = as_tensor(np.ascontiguousarray(x), torch.device("cpu"))
    outs = torch.cat([model(inputs[i : i + _CHUNK]) for i in range(0, len(inputs), _CHUNK)])
    if task == "classification":
        return torch.softmax(outs.double(), dim=1).numpy()
    return outs.double().reshape(-1).numpy()


def split_validation(y: np.ndarray, task: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The validation rows halved at random (``seed``): the selection half and the check
    half, as sorted row indices; per class for classification, so both halves keep the
    class balance (a class's odd row goes to the selection half)."""
    rng = np.random.default_rng((seed, 15))
    if task == "classification":
        groups = [np.flatnonzero(y == c) for c in np.unique(y)]
    else:
        groups = [np.arange(len(y))]
    selection, check = [], []
    for group in groups:
        shuffled = rng.permutation(group)
        half = (len(shuffled) + 1) // 2
        selection.append(shuffled[:half])
        check.append(shuffled[half:])
    empty = np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate([empty, *selection])), np.sort(np.concatenate([empty, *check]))


def prediction_scores(
    pred: np.ndarray, y: np.ndarray, task: str, target_scale: tuple[float, float] = (0.0, 1.0)
) -> dict[str, float]:
    """``val_loss`` and ``val_accuracy`` (or ``val_rmse`` / ``val_r2``) of averaged
    predictions, as :func:`~hpsearch.trainable.evaluate` defines them; ``y`` holds class
    indices, or standardized targets (``target_scale`` maps them back for RMSE and R²)."""
    if task == "classification":
        hit = pred[np.arange(len(y)), y]
        return {
            "val_loss": float(-np.log(np.maximum(hit, _TINY)).mean()),
            "val_accuracy": float((pred.argmax(axis=1) == y).mean()),
        }
    mean, std = target_scale
    err = (pred - y) * std
    y_orig = y * std + mean
    ss_tot = float(((y_orig - y_orig.mean()) ** 2).sum())
    return {
        "val_loss": float(((pred - y) ** 2).mean()),
        "val_rmse": float(np.sqrt((err**2).mean())),
        "val_r2": float(1.0 - (err**2).sum() / ss_tot) if ss_tot > 0 else 0.0,
    }


def score_key(scores: dict[str, float], task: str, metric: str) -> tuple[float, ...]:
    """What the selection maximizes: the search metric (negated where lower is better);
    for accuracy, ties are broken by the log loss, so that picks are not flat."""
    value = scores[metric] if TASK_METRICS[task][metric] == "max" else -scores[metric]
    return (value, -scores["val_loss"]) if metric == "val_accuracy" else (value,)


def greedy_selection(
    preds: Sequence[np.ndarray], y: np.ndarray, task: str, metric: str, size: int
) -> list[int]:
    """The picks (indices into ``preds``, repeats allowed), in the order made.

    The first is member 0, the search's best trial, so that an ensemble of one is
    that trial and never another one that happened to do better on this half;
    each further pick, up to ``size`` in all, is the member whose addition most
    improves the averaged predictions' score, and the selection stops when no
    addition improves it. Ties go to the lower index (the better-ranked trial).
    """

    def key(pred: np.ndarray) -> tuple[float, ...]:
        return score_key(prediction_scores(pred, y, task), task, metric)

    best_key, picks, total = key(preds[0]), [0], preds[0].copy()
    while len(picks) < size:
        n = len(picks) + 1
        # max over (key, -index): among equal keys the lowest index wins.
        step_key, neg = max((key((total + p) / n), -i) for i, p in enumerate(preds))
        if not step_key > best_key:
            break
        picks.append(-neg)
        total += preds[-neg]
        best_key = step_key
    return picks


def blend(preds: Sequence[np.ndarray], picks: Sequence[int]) -> np.ndarray:
    """The averaged predictions of ``picks`` (each pick counts once)."""
    return sum((preds[i] for i in picks[1:]), preds[picks[0]].copy()) / len(picks)


@dataclass(frozen=True)
class EnsembleChoice:
    """The picks, and how the ensemble and the best single trial scored on each half."""

    picks: tuple[int, ...]  # candidate indices, in the order picked
    selection: dict[str, dict[str, float]]  # {"ensemble": scores, "best": scores}
    check: dict[str, dict[str, float]]
    adopted: bool  # strictly better than the best single trial on the check half
    rows: tuple[int, int]  # validation rows in the selection and the check half

    @property
    def weights(self) -> dict[int, float]:
        """Each picked candidate's weight (its share of the picks), by candidate index."""
        counts = Counter(self.picks)
        return {i: counts[i] / len(self.picks) for i in sorted(counts)}


def choose_ensemble(
    preds: Sequence[np.ndarray],
    y: np.ndarray,
    *,
    task: str,
    metric: str,
    seed: int,
    size: int,
    best: int = 0,
    target_scale: tuple[float, float] = (0.0, 1.0),
) -> EnsembleChoice:
    """Greedy selection on the selection half of the validation rows, judged against
    candidate ``best`` (the search's best trial) on the check half.

    ``preds`` are each candidate's validation predictions (:func:`member_predictions`),
    best-ranked first; ``y`` the validation targets (standardized for regression).
    """
    select, check = split_validation(y, task, seed)
    picks = greedy_selection([p[select] for p in preds], y[select], task, metric, size)
    halves = {}
    for name, rows in (("selection", select), ("check", check)):
        halves[name] = {
            "ensemble": prediction_scores(blend(preds, picks)[rows], y[rows], task, target_scale),
            "best": prediction_scores(preds[best][rows], y[rows], task, target_scale),
        }
    on_check = halves["check"]
    adopted = score_key(on_check["ensemble"], task, metric) > score_key(
        on_check["best"], task, metric
    )
    return EnsembleChoice(
        tuple(picks), halves["selection"], on_check, adopted, (len(select), len(check))
    )


class Ensemble(nn.Module):
    """Members averaged with fixed weights, as one scriptable module with a member's
    interface: features in; out, the log of the weighted mean of the members' class
    probabilities (so a softmax of it gives exactly that mean), or the weighted mean
    of their standardized values."""

    classification: bool
    weights: Tensor
    log_weights: Tensor

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float], task: str) -> None:
        super().__init__()
        if len(members) != len(weights) or not members:
            raise ValueError("an ensemble needs one weight per member, and a member")
        total = float(sum(weights))
        self.members = nn.ModuleList(members)
        shares = torch.tensor([w / total for w in weights], dtype=torch.float32)
        self.register_buffer("weights", shares.reshape(-1, 1, 1))
        self.register_buffer("log_weights", torch.log(shares).reshape(-1, 1, 1))
        self.classification = task == "classification"

    def forward(self, x: Tensor) -> Tensor:
        outs: list[Tensor] = []
        for member in self.members:
            out = member(x)
            outs.append(torch.log_softmax(out, dim=1) if self.classification else out)
        stacked = torch.stack(outs)  # members x rows x outputs
        if self.classification:
            # log(sum_i w_i p_i), computed without leaving log space.
            return torch.logsumexp(stacked + self.log_weights, dim=0)
        return (stacked * self.weights).sum(dim=0)


def build_ensemble(members: Sequence[nn.Module], weights: Sequence[float], task: str) -> Ensemble:
    """The :class:`Ensemble` of ``members`` (on the CPU, in eval mode)."""
    ensemble = Ensemble(members, weights, task)
    ensemble.eval()
    return ensemble
