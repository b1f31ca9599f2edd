"""The trainable: dataset, MLP and training loop, reporting to Ray Tune every epoch.

Knows torch and Ray's ``tune.report`` / ``tune.get_checkpoint``; never Optuna.
"""

from typing import TYPE_CHECKING

from hpsearch.lazy import exports
from hpsearch.trainable._checkpoint import (
    CHECKPOINT_FILE,
    MEMBER_PREFIX,
    PACK_FILE,
    PACK_KEY,
    load_state,
    save_state,
)
from hpsearch.trainable._ensemble import (
    ENSEMBLE_CANDIDATES,
    Ensemble,
    EnsembleChoice,
    build_ensemble,
    choose_ensemble,
    member_predictions,
    split_validation,
)
from hpsearch.trainable._hparams import PACK_SHARED, HParams
from hpsearch.trainable._loop import TrainingRun, as_tensor, pick_device
from hpsearch.trainable._metrics import evaluate
from hpsearch.trainable._model import (
    ACTIVATIONS,
    EMBEDDING_DIM,
    FREQUENCIES,
    build_mlp,
    build_optimizer,
    count_parameters,
)
from hpsearch.trainable._objective import build_augmentation, build_loss
from hpsearch.trainable._pack import PackRun, read_pack
from hpsearch.trainable._restore import model_from_checkpoint, score_splits
from hpsearch.trainable._settings import TrainSettings

if TYPE_CHECKING:
    from hpsearch.trainable._tune import train_mlp, train_pack

__all__ = [
    "ACTIVATIONS",
    "CHECKPOINT_FILE",
    "EMBEDDING_DIM",
    "ENSEMBLE_CANDIDATES",
    "FREQUENCIES",
    "MEMBER_PREFIX",
    "PACK_FILE",
    "PACK_KEY",
    "PACK_SHARED",
    "Ensemble",
    "EnsembleChoice",
    "HParams",
    "PackRun",
    "TrainSettings",
    "TrainingRun",
    "as_tensor",
    "build_augmentation",
    "build_ensemble",
    "build_loss",
    "build_mlp",
    "build_optimizer",
    "choose_ensemble",
    "count_parameters",
    "evaluate",
    "load_state",
    "member_predictions",
    "model_from_checkpoint",
    "pick_device",
    "read_pack",
    "save_state",
    "score_splits",
    "split_validation",
    "train_mlp",
    "train_pack",
]


# The Tune adapter imports Ray (~1 s): only trial workers and the search need it,
# not a user exporting or scoring a model.
__getattr__ = exports(__name__, {"train_mlp": "._tune", "train_pack": "._tune"})
