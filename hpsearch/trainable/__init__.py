"""The trainable: dataset, MLP and training loop, reporting to Ray Tune every epoch.

Knows torch and Ray's ``tune.report`` / ``tune.get_checkpoint``; never Optuna.
"""

from typing import TYPE_CHECKING, Any

from hpsearch.trainable._checkpoint import CHECKPOINT_FILE, load_state, save_state
from hpsearch.trainable._export import build_predictor, load_predictor, save_predictor
from hpsearch.trainable._hparams import HParams
from hpsearch.trainable._loop import TrainingRun, as_tensor, is_better, pick_device
from hpsearch.trainable._metrics import evaluate
from hpsearch.trainable._model import ACTIVATIONS, build_mlp, build_optimizer, count_parameters
from hpsearch.trainable._objective import build_augmentation, build_loss
from hpsearch.trainable._restore import best_model_from_checkpoint, score_splits
from hpsearch.trainable._settings import TrainSettings

if TYPE_CHECKING:
    from hpsearch.trainable._tune import train_mlp

__all__ = [
    "ACTIVATIONS",
    "CHECKPOINT_FILE",
    "HParams",
    "TrainSettings",
    "TrainingRun",
    "as_tensor",
    "best_model_from_checkpoint",
    "build_augmentation",
    "build_loss",
    "build_mlp",
    "build_optimizer",
    "build_predictor",
    "count_parameters",
    "evaluate",
    "is_better",
    "load_predictor",
    "load_state",
    "pick_device",
    "save_predictor",
    "save_state",
    "score_splits",
    "train_mlp",
]


def __getattr__(name: str) -> Any:
    # The Tune adapter imports Ray (~1 s): only trial workers and the search need it,
    # not a user exporting or scoring a model.
    if name == "train_mlp":
        from hpsearch.trainable._tune import train_mlp

        return train_mlp
    raise AttributeError(f"module 'hpsearch.trainable' has no attribute {name!r}")
