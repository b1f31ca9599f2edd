"""The best model exported with its preprocessing, reloaded by torch alone, and predicting.

The real search's weights are needed (slow), except for predict's mistakes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner, Result

import hpsearch
from hpsearch import SearchConfig
from hpsearch.commands import cli
from hpsearch.data import load_table
from hpsearch.experiments._experiment import load_experiment
from hpsearch.models import load_predictor
from hpsearch.trainable import model_from_checkpoint
from tests.models.tiny_model import save_model
from tests.searches import FinishedExperiment, customers


def hpsearch_cli(*args: str) -> Result:
    """``hpsearch ARGS``, in this process."""
    return CliRunner().invoke(cli, list(args), prog_name="hpsearch")


# Runs in a fresh interpreter that imports torch and nothing of hpsearch.
_LOAD_AND_PREDICT = """
import json, sys, torch
rows = json.load(open(sys.argv[2]))
model = torch.jit.load(sys.argv[1])
numeric = {k: torch.tensor(v, dtype=torch.float64) for k, v in rows["numeric"].items()}
with torch.inference_mode():
    probs = model(numeric, rows["categorical"])
    labels = model.labels(numeric, rows["categorical"])
assert not any(m.startswith("hpsearch") for m in sys.modules), "hpsearch was imported"
print(json.dumps({"labels": labels, "probs": probs.tolist(), "classes": model.class_names}))
"""


def _raw_test_rows() -> pa.Table:
    table = customers()
    return table.filter(pc.equal(table.column("split"), "test"))


@pytest.mark.ray
@pytest.mark.slow
def test_exported_model_in_a_torch_only_process_matches_the_search(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    exp = load_experiment(str(finished_experiment.root / "customers"))
    model_path = tmp_path / "model.pt"
    # The best single trial (the final model may be an ensemble: tests/models/test_ensemble.py).
    best = finished_experiment.summary["best"]["number"]
    meta = hpsearch.export_model(exp, str(model_path), trial=best)
    assert meta["class_names"] == ["high", "low", "mid"]
    assert meta["categorical_columns"] == ["color", "town"]
    plans = {p["name"]: p for p in meta["preprocessing"]["columns"]}
    assert plans["town"]["kind"] == "hash" and plans["color"]["indicator"]

    # The in-process model: the best checkpoint on the search's own encoded test split.
    config = SearchConfig.from_mapping(exp.record["config"])
    data = load_table(config.data_spec())
    model, _ = model_from_checkpoint(meta["checkpoint"], data.num_features, data.num_outputs)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(data.x_test)), dim=1).numpy()

    # The exported model on the raw rows, in a process with torch only.
    raw = _raw_test_rows()
    rows = {
        "numeric": {
            c: [np.nan if v is None else v for v in raw.column(c).to_pylist()]
            for c in meta["numeric_columns"]
        },
        "categorical": {c: raw.column(c).to_pylist() for c in meta["categorical_columns"]},
    }
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            _LOAD_AND_PREDICT,
            str(model_path),
            str(tmp_path / "rows.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    np.testing.assert_allclose(np.array(got["probs"]), expected, atol=1e-5)
    assert got["labels"] == [data.class_names[i] for i in expected.argmax(axis=1)]
    assert set(got["labels"]) <= {"high", "low", "mid"}
    # Its accuracy on the raw test rows is the search's held-out test score.
    accuracy = np.mean(np.array(got["labels"]) == np.array(raw.column("label").to_pylist()))
    assert accuracy == pytest.approx(finished_experiment.summary["best"]["test"]["test_accuracy"])


@pytest.mark.ray
@pytest.mark.slow
def test_predict_cli_scores_raw_rows_with_and_without_the_target(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    env_root = ["--storage", str(finished_experiment.root)]
    test_rows = _raw_test_rows().append_column("id", pa.array(range(_raw_test_rows().num_rows)))
    pq.write_table(test_rows, tmp_path / "with_label.parquet")
    pq.write_table(test_rows.drop_columns(["label", "split"]), tmp_path / "new.parquet")

    scored = hpsearch_cli("predict", "customers", *env_root, "--data",
        str(tmp_path / "with_label.parquet"), "-o", str(tmp_path / "scored.parquet"))  # fmt: skip
    assert scored.exit_code == 0, scored.output
    accuracy = float(scored.stdout.rsplit("accuracy ", 1)[1].rstrip(")\n"))
    # The experiment's final model: the ensemble where the search adopted it.
    summary = finished_experiment.summary
    final = summary["ensemble"] if summary["final"] == "ensemble" else summary["best"]
    expected = final["test"]["test_accuracy"]
    assert accuracy == pytest.approx(expected, abs=1e-4)

    exported = hpsearch_cli("export-model", "customers", *env_root, "-o", str(tmp_path / "m.pt"))
    assert exported.exit_code == 0, exported.output
    out = hpsearch_cli("predict", str(tmp_path / "m.pt"), "--data", str(tmp_path / "new.parquet"),
        "-o", str(tmp_path / "p.csv"), "--keep", "id")  # fmt: skip
    assert out.exit_code == 0, out.output
    assert f"Wrote {test_rows.num_rows} predictions" in out.stdout and "accuracy" not in out.stdout
    import pyarrow.csv as pacsv

    predictions = pacsv.read_csv(tmp_path / "p.csv")
    assert predictions.column_names == [
        "id", "prediction", "probability_high", "probability_low", "probability_mid"
    ]  # fmt: skip
    assert predictions.column("id").to_pylist() == list(range(test_rows.num_rows))
    probs = np.stack([predictions.column(c).to_numpy() for c in predictions.column_names[2:]], 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    both = pq.read_table(tmp_path / "scored.parquet")
    assert both.column("prediction").to_pylist() == predictions.column("prediction").to_pylist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{model}", "--data", "{data_missing}"], "lacks column(s) 'town'"),
        (["{model}", "--data", "{data}", "-o", "{tmp}/p.xlsx"], "unknown table format .xlsx"),
        (["{model}", "--data", "{tmp}/nope.parquet"], "data not found"),
        (["{tmp}/fake.pt", "--data", "{data}"], "is not a model exported by hpsearch"),
        (["nope", "--storage", "{tmp}", "--data", "{data}"], "no experiment 'nope'"),
    ],
)
def test_predict_mistakes_are_one_line_and_write_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    data = tmp_path / "new.parquet"
    rows = pa.table({"x": [1.0, -1.0], "town": ["a", "b"]})
    pq.write_table(rows, data)
    pq.write_table(rows.drop_columns(["town"]), tmp_path / "missing.parquet")
    (tmp_path / "fake.pt").write_text("not a model")
    model = save_model(tmp_path / "model.pt")
    filled = [
        a.format(model=model, data=data, data_missing=tmp_path / "missing.parquet", tmp=tmp_path)
        for a in args
    ]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    if "-o" not in filled:
        filled += ["-o", str(out_dir / "p.parquet")]
    result = hpsearch_cli("predict", *filled)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not list(out_dir.iterdir()) and not list(tmp_path.glob("p.*"))


@pytest.mark.ray
@pytest.mark.slow
def test_any_trial_exports_not_only_the_best(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    """`export-model EXP --trial N`: the model of trial N, its own checkpoint and score."""
    exp = load_experiment(str(finished_experiment.root / "customers"))
    best = finished_experiment.summary["best"]["number"]
    other = next(t for t in exp.trials if t.number != best and t.checkpoint)
    root = ["--storage", str(finished_experiment.root)]
    out = tmp_path / "other.pt"
    result = hpsearch_cli(
        "export-model", "customers", *root, "--trial", str(other.number), "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    assert f"trial #{other.number} (" in result.output
    _, meta = load_predictor(str(out))
    assert meta["trial_number"] == other.number != best
    assert meta["value"] == other.score(exp.metric, exp.mode)[0]
    assert meta["checkpoint"] == other.checkpoint


@pytest.mark.parametrize(
    ("trial", "message"),
    [
        ("9", "experiment 'cut' has no trial 9 (its trials are numbered 0 to 2"),
        ("2", "trial 2 of experiment 'cut' left no checkpoint"),
        ("-1", "Invalid value for '--trial'"),
    ],
)
def test_exporting_a_trial_that_is_not_there_is_one_line(
    tmp_path: Path, trial: str, message: str
) -> None:
    from tests.factory import FakeTrial, make_experiment

    trials = [FakeTrial(), FakeTrial(), FakeTrial(outcome="stopped", epochs=1, checkpoints=False)]
    make_experiment(tmp_path / "results", "cut", trials=trials)
    out = tmp_path / "m.pt"
    result = hpsearch_cli(
        "export-model",
        "cut",
        "--storage",
        str(tmp_path / "results"),
        "--trial",
        trial,
        "-o",
        str(out),
    )
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert result.stderr.count("\n") == 1 and not out.exists()
