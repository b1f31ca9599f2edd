"""The final model of a real search: the greedy ensemble of its top trials in summary.json,
shown by ``hpsearch best``, exported as one TorchScript file that predicts raw rows as the
search scored it."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner, Result

from hpsearch import SearchConfig
from hpsearch.commands import cli
from hpsearch.data import load_table
from hpsearch.experiments import is_usable, load_experiment
from hpsearch.models import ensemble_predictor, load_predictor, save_predictor
from hpsearch.trainable import model_from_checkpoint
from tests.searches import FinishedExperiment, customers

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def hpsearch_cli(*args: str) -> Result:
    """``hpsearch ARGS``, in this process."""
    return CliRunner().invoke(cli, list(args), prog_name="hpsearch")


def _test_rows(tmp_path: Path) -> tuple[pa.Table, Path]:
    table = customers()
    rows = table.filter(pc.equal(table.column("split"), "test"))
    pq.write_table(rows, tmp_path / "test.parquet")
    return rows, tmp_path / "test.parquet"


def _predicted_accuracy(model: str, data: Path, out: Path) -> float:
    """``hpsearch predict MODEL --data DATA``'s accuracy (it prints 4 digits; this is exact)."""
    result = hpsearch_cli("predict", model, "--data", str(data), "-o", str(out))
    assert result.exit_code == 0, result.output
    printed = float(result.stdout.rsplit("accuracy ", 1)[1].rstrip(")\n"))
    predicted = pq.read_table(out).column("prediction").to_pylist()
    truth = pq.read_table(data).column("label").to_pylist()
    accuracy = float(np.mean(np.array(predicted) == np.array(truth)))
    assert printed == pytest.approx(accuracy, abs=1e-4)
    return accuracy


def test_the_summary_holds_the_ensemble_and_the_median(
    finished_experiment: FinishedExperiment,
) -> None:
    summary = finished_experiment.summary
    ensemble = summary["ensemble"]
    assert ensemble is not None, summary.get("ensemble_skipped")
    on_disk = json.loads((finished_experiment.root / "customers" / "summary.json").read_text())
    assert on_disk["ensemble"] == json.loads(json.dumps(ensemble))
    picks, members = ensemble["picks"], ensemble["members"]
    assert 1 <= len(picks) <= 16 and len(ensemble["candidates"]) <= 8
    # The best single trial ranks first among the candidates; members come from them.
    assert ensemble["candidates"][0] == summary["best"]["number"]
    assert {m["number"] for m in members} == set(picks) <= set(ensemble["candidates"])
    for member in members:
        assert member["weight"] == pytest.approx(picks.count(member["number"]) / len(picks))
    # Adopted exactly when better on the check half (accuracy, then log loss).
    check = ensemble["check"]
    key = {k: (v["val_accuracy"], -v["val_loss"]) for k, v in check.items()}
    assert ensemble["adopted"] == (key["ensemble"] > key["best"])
    assert summary["final"] == ("ensemble" if ensemble["adopted"] else "best")
    split = ensemble["split"]
    assert split["selection_rows"] + split["check_rows"] == summary["split_sizes"]["val"]
    assert set(ensemble["test"]) == {"test_loss", "test_accuracy"}
    rows = summary["leaderboard"]
    usable = [r["best_value"] for r in rows if is_usable(r["state"], r["best_value"])]
    assert summary["median_value"] == pytest.approx(statistics.median(usable))


def test_best_shows_the_ensemble_beside_the_best_trial(
    finished_experiment: FinishedExperiment,
) -> None:
    summary = finished_experiment.summary
    ensemble = summary["ensemble"]
    root = ["--storage", str(finished_experiment.root)]
    text = hpsearch_cli("best", "customers", *root).stdout
    members = len(ensemble["members"])
    if members == 1 and not ensemble["adopted"]:  # the best trial alone: nothing improved it
        assert "Ensemble: no other trial improved on the best one" in text
        return
    assert f"Ensemble of {members} trial{'s' if members > 1 else ''}, " in text
    assert (
        f"test_accuracy {ensemble['test']['test_accuracy']:.4f} vs best single "
        f"{summary['best']['test']['test_accuracy']:.4f}"
    ) in text
    assert ("(adopted: " if ensemble["adopted"] else "(not adopted: ") in text
    shown = json.loads(hpsearch_cli("best", "customers", *root, "--json").stdout)
    assert shown["ensemble"] == json.loads(json.dumps(ensemble))
    assert shown["final"] == summary["final"] and shown["median_value"] == summary["median_value"]


def test_the_exported_ensemble_predicts_raw_rows_as_the_search_scored_it(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    summary = finished_experiment.summary
    ensemble = summary["ensemble"]
    exp = load_experiment(str(finished_experiment.root / "customers"))
    model, meta = ensemble_predictor(exp, ensemble)
    path = tmp_path / "ensemble.pt"
    save_predictor(model, str(path), meta)
    weights = {m["number"]: m["weight"] for m in ensemble["members"]}
    assert meta["ensemble"]["members"] == {str(n): w for n, w in weights.items()}

    # Its probabilities on the raw test rows: the weighted mean of its members' on the
    # search's own encoded test split.
    config = SearchConfig.from_mapping(exp.record["config"])
    data = load_table(config.data_spec())
    expected = 0.0
    for number, weight in weights.items():
        trial = next(t for t in exp.trials if t.number == number)
        assert trial.checkpoint is not None
        member, _ = model_from_checkpoint(trial.checkpoint, data.num_features, data.num_outputs)
        with torch.no_grad():
            probs = torch.softmax(member(torch.from_numpy(data.x_test)), dim=1).numpy()
        expected = expected + weight * probs
    raw, data_path = _test_rows(tmp_path)
    loaded, _ = load_predictor(str(path))
    numeric = {
        c: torch.tensor([np.nan if v is None else v for v in raw.column(c).to_pylist()])
        for c in meta["numeric_columns"]
    }
    categorical = {c: raw.column(c).to_pylist() for c in meta["categorical_columns"]}
    with torch.no_grad():
        got = loaded(numeric, categorical).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)

    # `hpsearch predict` on the file scores the raw test rows as the summary says.
    accuracy = _predicted_accuracy(str(path), data_path, tmp_path / "p.parquet")
    assert accuracy == pytest.approx(ensemble["test"]["test_accuracy"], abs=1e-6)


def test_export_model_exports_the_final_model(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    """The ensemble where summary.json says the search adopted it, else the best trial;
    predict agrees. Both ways: the search's own summary, and a copy saying the other."""
    real = finished_experiment.summary
    copy = tmp_path / "copy"
    shutil.copytree(finished_experiment.root / "customers", copy / "customers")
    flipped = {**real, "final": "best" if real["final"] == "ensemble" else "ensemble"}
    (copy / "customers" / "summary.json").write_text(json.dumps(flipped))
    _, data_path = _test_rows(tmp_path)
    for root, summary in ((finished_experiment.root, real), (copy, flipped)):
        out = tmp_path / f"final-{summary['final']}.pt"
        exported = hpsearch_cli("export-model", "customers", "--storage", str(root), "-o", str(out))
        assert exported.exit_code == 0, exported.output
        _, meta = load_predictor(str(out))
        if summary["final"] == "ensemble":
            members = summary["ensemble"]["members"]
            assert meta["final"] == "ensemble" and meta["trial_number"] is None
            s = "s" if len(members) != 1 else ""
            assert f"the ensemble of {len(members)} trial{s} (" in exported.output
            # Its score as judged on the half of validation it was not picked on.
            check = summary["ensemble"]["check"]["ensemble"]["val_accuracy"]
            assert meta["value"] == check
            assert "on the check half of validation" in exported.output
            expected = summary["ensemble"]["test"]["test_accuracy"]
        else:
            assert meta["trial_number"] == summary["best"]["number"]
            expected = summary["best"]["test"]["test_accuracy"]
        accuracy = _predicted_accuracy(str(out), data_path, tmp_path / "p.parquet")
        assert accuracy == pytest.approx(expected, abs=1e-6)
