"""The HTML report, opened in a real headless Chromium (Debian's package) through Playwright."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpsearch.experiments._experiment import load_experiment
from tests.searches import FinishedExperiment, InterruptedExperiment

pytestmark = pytest.mark.ray

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
