"""The HTML report: its content from a factory experiment, and opened in a real headless
Chromium (Debian's package) through Playwright (slow)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpsearch.experiments._experiment import load_experiment
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
