"""A new search's study queues the space's starting point as trial 0 (real Optuna; no Ray runs)."""

from __future__ import annotations

from pathlib import Path

from hpsearch.config import SearchConfig
from hpsearch.spaces import SpaceContext, mlp, starting_point
from hpsearch.tuning._tuner import new_record

CONTEXT = SpaceContext(task="classification")


def test_a_new_search_asks_the_starting_point_first(tmp_path: Path) -> None:
    record = new_record(SearchConfig(), "classification", "exp", str(tmp_path / "exp"), (), CONTEXT)
    assert (record.asked(), record.waiting()) == (1, 1)  # one of this search's trials
    number, config = record.ask(lambda trial: mlp(trial, CONTEXT))
    assert number == 0 and record.waiting() == 0
    assert config["hidden_sizes"] == [256, 256, 256] and config["optimizer"] == "adamw"
    _, second = record.ask(lambda trial: mlp(trial, CONTEXT))
    assert second != config  # the sampler's from then on
    record.close()


def test_a_warm_start_that_tried_the_start_does_not_try_it_again(tmp_path: Path) -> None:
    first = new_record(SearchConfig(), "classification", "a", str(tmp_path / "a"), (), CONTEXT)
    number, _ = first.ask(lambda trial: mlp(trial, CONTEXT))
    first.study.tell(number, 0.9)
    done = first.study.trials
    first.close()
    config = SearchConfig(warm_start=str(tmp_path / "a"))
    record = new_record(config, "classification", "b", str(tmp_path / "b"), done, CONTEXT)
    assert record.waiting() == 0 and record.asked() == 0
    record.close()


def test_a_users_space_or_no_context_queues_nothing(tmp_path: Path) -> None:
    config = SearchConfig(space="quick")
    record = new_record(config, "classification", "q", str(tmp_path / "q"), (), CONTEXT)
    assert record.waiting() == 0
    record.close()
    plain = new_record(SearchConfig(), "classification", "n", str(tmp_path / "n"))
    assert plain.waiting() == 0
    plain.close()
    assert starting_point("mlp", CONTEXT)  # the mlp space has one to queue


def test_a_warm_start_with_narrowed_options_does_not_repeat_the_start(tmp_path: Path) -> None:
    # The start leaves out what the options rule out (here the optimizer and widths): the
    # earlier trial 0 holds those too, drawn by the sampler, and still counts as the start.
    options = {"optimizers": ["sgd", "adam"], "width": [8, 64]}
    context = SpaceContext(task="classification", options=options)
    config = SearchConfig(space_options=options)
    first = new_record(config, "classification", "a", str(tmp_path / "a"), (), context)
    number, _ = first.ask(lambda trial: mlp(trial, context))
    first.study.tell(number, 0.9)
    done = first.study.trials
    first.close()
    warm = SearchConfig(space_options=options, warm_start=str(tmp_path / "a"))
    record = new_record(warm, "classification", "b", str(tmp_path / "b"), done, context)
    assert record.waiting() == 0
    record.close()
