"""The HTML report: its content from a factory experiment, and opened in a real headless
Chromium (Debian's package) through Playwright (slow)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from hpsearch.experiments import STUDY_FILE, Experiment, is_usable
from hpsearch.experiments._experiment import load_experiment
from hpsearch.experiments._report import chart_figures
from hpsearch.metrics import is_finite
from tests.factory import FakeTrial, make_experiment
from tests.searches import FinishedExperiment, InterruptedExperiment

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags this machine needs: no sandbox as root, and no background calls out.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


CHARTS = ("Optimization history", "Parallel coordinates", "Hyperparameter importances")


def test_the_report_holds_the_best_trial_every_chart_and_the_leaderboard(tmp_path: Path) -> None:
    fake = make_experiment(tmp_path, "customers")
    exp = load_experiment(str(fake.path))
    text = Path(exp.report(str(tmp_path / "report.html"))).read_text()
    assert [re.sub(r"<.*?>", "", h) for h in re.findall(r"<h2>.*?</h2>", text)] == [
        "Best configuration",
        *CHARTS,
        "Learning curves",
        "Leaderboard",
    ]
    assert "Not available" not in text and "<script src=" not in text  # plotly.js inlined
    assert text.count('class="plotly-graph-div"') == 4
    best = exp.best()
    assert best is not None
    assert f"#{best['number']} ({best['trial_id']}), completed" in text
    assert "test_loss\n 0.148, test_accuracy\n 0.9" in text
    leaderboard = text.split('<table id="leaderboard">')[1].split("</table>")[0]
    assert leaderboard.count("<tr>") == len(exp.trials) + 1 == 7


def test_the_report_of_a_killed_search_says_the_test_split_is_not_scored(tmp_path: Path) -> None:
    trials = [FakeTrial("completed", score=0.7), FakeTrial("running", epochs=2, score=0.8)]
    fake = make_experiment(tmp_path, "killed", trials=trials, state="interrupted")
    text = Path(load_experiment(str(fake.path)).report(str(tmp_path / "r.html"))).read_text()
    assert "<p>interrupted (its driver (pid" in text
    assert "not scored\n (the search did not finish)" in text
    # One finished trial: no importances, and the report says why.
    assert "Needs at least two finished trials." in text


# The study of record ----------------------------------------------------------------

_JOURNAL_STATE = {
    "completed": TrialState.COMPLETE,
    "stopped": TrialState.COMPLETE,
    "diverged": TrialState.PRUNED,
    "errored": TrialState.FAIL,
    "running": TrialState.RUNNING,
    "interrupted": TrialState.RUNNING,
}


def write_journal(exp: Experiment, warm: int = 0) -> bytes:
    """The experiment's study journal as its search writes it (plain Optuna): ``warm``
    trials of a warm start first, then a trial per trial of the experiment, told its last
    epoch's value, its best in user attributes once it ended; unfinished ones RUNNING.
    Returns the journal's bytes.

    (A real warm-started search numbers its own trials after the warm start's; the
    factory's params.json count from 0: the charts go by the journal's numbers.)
    """
    path = Path(exp.location) / STUDY_FILE
    study = optuna.create_study(
        study_name=exp.name,
        storage=JournalStorage(JournalFileBackend(str(path))),
        direction="maximize" if exp.mode == "max" else "minimize",
    )
    for i in range(warm):
        first = exp.trials[0].optuna
        assert first is not None
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=0.99 - i / 100,  # better than any of this search's: not drawn as its own
                params=first["params"],
                distributions={
                    k: optuna.distributions.json_to_distribution(v)
                    for k, v in first["distributions"].items()
                },
                user_attrs={"warm_start": "an-earlier-search"},
            )
        )
    for trial in exp.trials:
        assert trial.optuna is not None
        values = {
            int(r["epoch"]): float(r[exp.metric]) for r in trial.history if is_finite(r[exp.metric])
        }
        state = _JOURNAL_STATE[trial.state]
        attrs: dict[str, Any] = {"tune_trial_id": trial.trial_id}
        if state != TrialState.RUNNING:
            best, epoch = trial.score(exp.metric, exp.mode)
            attrs |= {"ended": trial.state, "best_value": best, "best_epoch": epoch}
        study.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=values[max(values)] if state == TrialState.COMPLETE else None,
                params=trial.optuna["params"],
                distributions={
                    k: optuna.distributions.json_to_distribution(v)
                    for k, v in trial.optuna["distributions"].items()
                },
                intermediate_values=values,
                user_attrs=attrs,
            )
        )
    return path.read_bytes()


def history(exp: Experiment) -> tuple[list[tuple[int, float]], str]:
    """The optimization history's points (trial number, value) and its note."""
    chart = next(c for c in chart_figures(exp) if c["title"] == "Optimization history")
    points = chart["figure"].data[0]
    return list(zip(points.x, points.y, strict=True)), chart["note"]


def ranked(exp: Experiment) -> list[tuple[int, float | None]]:
    """The trials the leaderboard ranks, by number, with the score it ranks them by."""
    scores = [(t.number, t.state, t.score(exp.metric, exp.mode)[0]) for t in exp.leaderboard()]
    return sorted((n, v) for n, state, v in scores if is_usable(state, v))


@pytest.mark.parametrize("journal", [True, False])
def test_the_history_ranks_each_trial_by_its_best_as_the_leaderboard(
    tmp_path: Path, journal: bool
) -> None:
    """With a journal (told the last epoch's value) or without (rebuilt from the files)."""
    exp = load_experiment(str(make_experiment(tmp_path, "customers").path))
    if journal:
        write_journal(exp)
    points, note = history(exp)
    assert points == ranked(exp)  # diverged too; errored (number 4) not
    assert "best val_accuracy over its epochs" in note


def test_the_report_of_an_experiment_with_a_journal_draws_from_the_journal(
    tmp_path: Path,
) -> None:
    """The journal knows what no result file does: the warm start's trials, which the
    sampler learned from. They count in the importances, not in this search's history."""
    exp = load_experiment(str(make_experiment(tmp_path, "customers").path))
    before = write_journal(exp, warm=1)
    points, _ = history(exp)
    # The journal's numbers: this search's trials after the warm start's one.
    assert points == [(n + 1, v) for n, v in ranked(exp)]
    charts = {c["title"]: c for c in chart_figures(exp)}
    importances = charts["Hyperparameter importances"]
    assert importances["figure"] is not None
    assert (
        "the 5 finished trials it learned from, 1 of them from the warm start"
        in (importances["note"])
    )
    assert "its last epoch's val_accuracy" in importances["note"]
    text = Path(exp.report(str(tmp_path / "report.html"))).read_text()
    assert "1 of them from the warm start" in text and "Not available" not in text
    assert (Path(exp.location) / STUDY_FILE).read_bytes() == before  # read, never written
    assert not list(Path(exp.location).glob(f"{STUDY_FILE}.lock*"))


def test_a_killed_searchs_running_trials_are_drawn_by_their_best_so_far(tmp_path: Path) -> None:
    trials = [
        FakeTrial("completed", score=0.7),
        FakeTrial("running", epochs=3, score=0.9),
        FakeTrial("running", epochs=1, score=0.95),
    ]
    fake = make_experiment(tmp_path, "killed", trials=trials, state="interrupted")
    exp = load_experiment(str(fake.path))
    write_journal(exp)
    points, _ = history(exp)
    assert points == ranked(exp) == [(0, 0.7), (1, 0.9), (2, 0.95)]
    text = Path(exp.report(str(tmp_path / "r.html"))).read_text()
    assert "Needs at least two finished trials." in text  # one trial the sampler was told


# In the browser (slow) ----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (see the README's test command)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def open_report(browser: Any, path: Path, screenshot: Path) -> tuple[Any, list[str], list[str]]:
    """Open the file offline; collect console errors and failed requests."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    page.screenshot(path=str(screenshot), full_page=True)
    return page, errors, requests


@pytest.mark.ray
@pytest.mark.slow
def test_report_renders_every_chart_offline(
    browser: Any, finished_experiment: FinishedExperiment, tmp_path: Path
) -> None:
    exp = load_experiment(str(finished_experiment.root / "customers"))
    report = Path(exp.report(str(tmp_path / "report.html")))
    page, errors, requests = open_report(browser, report, tmp_path / "report.png")
    assert errors == []
    # Self-contained: the only thing loaded is the file itself.
    assert [r for r in requests if not r.startswith("file://")] == []
    titles = page.locator("h2").all_inner_texts()
    for title in (
        "Optimization history",
        "Parallel coordinates",
        "Hyperparameter importances",
        "Learning curves",
    ):
        assert title in titles
    # Four plotly charts drew SVG; the curves show one line per trial.
    assert page.locator(".js-plotly-plot").count() == 4
    assert page.locator("#chart-learning-curves .scatterlayer .trace").count() >= len(exp.trials)
    assert "Not available" not in page.content()
    best = exp.best()
    assert best is not None
    assert f"#{best['number']} ({best['trial_id']})" in page.locator("#best").inner_text()
    assert page.locator("#leaderboard tr").count() == len(exp.trials) + 1
    assert (tmp_path / "report.png").stat().st_size > 20_000


@pytest.mark.ray
@pytest.mark.slow
def test_report_of_an_interrupted_search(
    browser: Any, interrupted_experiment: InterruptedExperiment, tmp_path: Path
) -> None:
    exp = load_experiment(str(interrupted_experiment.root / "killed"))
    report = Path(exp.report(str(tmp_path / "report.html")))
    page, errors, _ = open_report(browser, report, tmp_path / "report.png")
    assert errors == []
    text = page.inner_text("body")
    assert "interrupted" in text and "not scored" in text
    assert page.locator("#chart-learning-curves .scatterlayer .trace").count() >= 2


def test_a_journal_trial_no_study_can_take_is_left_out_of_the_charts(tmp_path: Path) -> None:
    """The journal is data from storage: a trial whose parameter lies outside its own
    range (as no search writes it) is not drawn, and the report is written."""
    exp = load_experiment(str(make_experiment(tmp_path / "results", "customers").path))
    write_journal(exp)
    journal = Path(exp.location) / STUDY_FILE
    lines = journal.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if '"op_code":4' in line)  # trial 0
    lines[first] = re.sub(r"(\"params\":\{[^}]*\"lr\":)[^,}]+", r"\g<1>1e9", lines[first])
    assert "1e9" in lines[first]
    journal.write_text("\n".join(lines) + "\n")
    points, _ = history(exp)
    assert points and 0 not in [n for n, _ in points]
    assert Path(exp.report(str(tmp_path / "r.html"))).read_text().count("plotly") > 0
