"""The final model, ready to use: rebuilt from its checkpoints (the ensemble of the top
trials where the search adopted one, else the best trial), exported as one TorchScript
file (preprocessing inside), and predicting on tables of raw rows.

torch loads when a model is first asked for.
"""

from typing import TYPE_CHECKING

from hpsearch.lazy import exports

if TYPE_CHECKING:
    from hpsearch.models._export import (
        best_predictor,
        ensemble_predictor,
        export_model,
        final_predictor,
        model_metadata,
    )
    from hpsearch.models._predict import Prediction, open_model, predict_table
    from hpsearch.models._predictor import build_predictor, load_predictor, save_predictor

__all__ = [
    "Prediction",
    "best_predictor",
    "build_predictor",
    "ensemble_predictor",
    "export_model",
    "final_predictor",
    "load_predictor",
    "model_metadata",
    "open_model",
    "predict_table",
    "save_predictor",
]

__getattr__ = exports(
    __name__,
    {
        "best_predictor": "._export",
        "ensemble_predictor": "._export",
        "export_model": "._export",
        "final_predictor": "._export",
        "model_metadata": "._export",
        "Prediction": "._predict",
        "open_model": "._predict",
        "predict_table": "._predict",
        "build_predictor": "._predictor",
        "load_predictor": "._predictor",
        "save_predictor": "._predictor",
    },
)
