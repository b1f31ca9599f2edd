"""The inspection commands from the CLI: output, filters, and mistakes (exit 2, one line)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.searches import HPSEARCH, FinishedExperiment, InterruptedExperiment

pytestmark = pytest.mark.ray


def hpsearch(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HPSEARCH, *args, "--storage", str(root)], capture_output=True, text=True
    )


def test_list_best_and_trials(finished_experiment: FinishedExperiment) -> None:
    root = finished_experiment.root
    listing = hpsearch("list", root=root)
    assert listing.returncode == 0
    header, row = listing.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "STATE", "TRIALS"]
    assert row.split()[:3] == ["customers", "finished", "6/6"]

    best = json.loads(hpsearch("best", "customers", "--json", root=root).stdout)
    summary = finished_experiment.summary["best"]
    assert best["trial_id"] == summary["trial_id"] and best["test"] == summary["test"]
    text = hpsearch("best", "customers", root=root).stdout
    assert f"Best trial #{best['number']}" in text and "held-out test: test_loss" in text

    top = hpsearch("trials", "customers", "--top", "2", root=root).stdout.splitlines()
    assert len(top) == 3 and top[1].split()[1] == best["trial_id"]
    by_loss = hpsearch("trials", "customers", "--sort", "val_loss", root=root).stdout.splitlines()
    losses = [float(line.split()[4]) for line in by_loss[1:]]
    assert losses == sorted(losses) and len(losses) == 6
    stopped = hpsearch("trials", "customers", "--state", "stopped", root=root).stdout
    assert all(" stopped " in line for line in stopped.splitlines()[1:])


def test_interrupted_experiment_from_the_cli(
    interrupted_experiment: InterruptedExperiment, tmp_path: Path
) -> None:
    root = interrupted_experiment.root
    assert "interrupted" in hpsearch("list", root=root).stdout
    best = hpsearch("best", "killed", root=root)
    assert best.returncode == 0 and "not scored" in best.stdout
    cut = hpsearch("trials", "killed", "--state", "interrupted", root=root).stdout
    assert "interrupted at epoch" in cut
    assert hpsearch("export", "killed", "-o", str(tmp_path / "t.csv"), root=root).returncode == 0
    assert (tmp_path / "t.csv").read_text().count("interrupted at epoch") >= 1
    model = hpsearch("export-model", "killed", "-o", str(tmp_path / "m.pt"), root=root)
    assert model.returncode == 0 and (tmp_path / "m.pt").exists(), model.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["best", "nope"], "no experiment 'nope'"),
        (["trials", "customers", "--sort", "val_nope"], "no metric 'val_nope'"),
        (["trials", "customers", "--state", "odd"], "'odd' is not one of"),
        (["trials", "customers", "--top", "0"], "0 is not in the range x>=1"),
        (["export", "customers", "-o", "{tmp}/t.xlsx"], "unknown table format .xlsx"),
        (["report", "customers", "-o", "{tmp}/r.txt"], "it must end in .html"),
        (["export-model", "customers", "-o", "{tmp}/m.bin"], "it must end in .pt"),
    ],
)
def test_mistakes_are_one_line_and_write_nothing(
    finished_experiment: FinishedExperiment, tmp_path: Path, args: list[str], message: str
) -> None:
    result = hpsearch(*(a.format(tmp=tmp_path) for a in args), root=finished_experiment.root)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_export_writes_a_table_and_report_writes_html(
    finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    out = hpsearch(
        "export", "customers", "-o", str(tmp_path / "t.parquet"), root=finished_experiment.root
    )
    assert out.returncode == 0 and "rows" in out.stdout
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "t.parquet")
    assert {"trial_id", "epoch", "val_accuracy", "params_lr", "state"} <= set(table.column_names)
    report = hpsearch(
        "report", "customers", "-o", str(tmp_path / "r.html"), root=finished_experiment.root
    )
    assert report.returncode == 0
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_inspection_reads_an_experiment_on_s3(
    finished_experiment: FinishedExperiment, s3_server: dict[str, str], tmp_path: Path
) -> None:
    """A real S3-compatible server (moto, 127.0.0.1): list, best, trials and export-model by URI."""
    import pyarrow.fs as pafs

    from tests.data.conftest import s3_filesystem, s3_uri

    fs = s3_filesystem(s3_server["endpoint"])
    fs.create_dir("lab")
    pafs.copy_files(
        str(finished_experiment.root / "customers"),
        "lab/results/customers",
        destination_filesystem=fs,
    )
    root_uri = s3_uri(s3_server, "lab/results")
    exp_uri = s3_uri(s3_server, "lab/results/customers")
    run = lambda *a: subprocess.run([*HPSEARCH, *a], capture_output=True, text=True)  # noqa: E731
    listing = run("list", "--storage", root_uri)
    assert listing.returncode == 0 and "customers  finished  6/6" in listing.stdout
    best = json.loads(run("best", exp_uri, "--json").stdout)
    assert best["trial_id"] == finished_experiment.summary["best"]["trial_id"]
    assert best["checkpoint"].startswith("s3://lab/results/customers/trial_")
    assert len(run("trials", exp_uri).stdout.splitlines()) == 7
    exported = run("export-model", exp_uri, "-o", str(tmp_path / "m.pt"))
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "m.pt").stat().st_size > 0
