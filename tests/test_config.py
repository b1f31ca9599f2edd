"""SearchConfig survives the JSON round trip it makes through hpsearch.json and Ray Jobs."""

from __future__ import annotations

import json

import pytest

from hpsearch import SearchConfig
from hpsearch.errors import UserError
from hpsearch.objectives import Constraint, Objective


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {
            "dataset": "rings",
            "num_samples": 8,
            "sampler": "random",
            "space_options": {"lr": [0.001, 0.1]},
        },
        {"data": "s3://bucket/houses.parquet", "target": "price", "split_column": "split"},
    ],
)
def test_to_json_reads_back_as_the_same_config(fields: dict) -> None:
    config = SearchConfig.from_mapping(fields)
    again = SearchConfig.from_mapping(json.loads(json.dumps(config.to_json())))
    assert again == config


def test_one_finite_check_for_every_score() -> None:
    from hpsearch.metrics import is_finite

    assert is_finite(3) and is_finite(10**300) and is_finite(-0.5)
    assert not is_finite(10**400)  # no float holds it: every comparison would overflow
    assert not any(map(is_finite, (True, float("nan"), float("inf"), "1", None)))


def test_objectives_and_constraints_are_stored_as_canonical_text() -> None:
    config = SearchConfig.from_mapping(
        {
            "objectives": "val_accuracy, latency_ms:min",
            "constraints": "num_params <= 2e4, latency_1024_ms<=5",
        }
    )
    assert config.objectives == ("val_accuracy:max", "latency_ms:min")
    assert config.constraints == ("num_params<=20000", "latency_1024_ms<=5")
    as_list = SearchConfig.from_mapping(
        {"objectives": ["val_accuracy:max", "latency_ms"], "constraints": ["num_params<=20000"]}
    )
    assert as_list.objectives == config.objectives
    assert as_list.to_json()["objectives"] == ["val_accuracy:max", "latency_ms:min"]
    again = SearchConfig.from_mapping(json.loads(json.dumps(config.to_json())))
    assert again == config


def test_the_first_objective_is_the_one_every_single_metric_view_uses() -> None:
    config = SearchConfig(
        dataset="friedman", objectives=("val_r2", "num_params"), constraints=("val_r2>=0.5",)
    )
    task = "regression"
    assert config.resolved_objectives(task) == (
        Objective("val_r2", "max"),
        Objective("num_params", "min"),
    )
    assert (config.resolved_metric(task), config.resolved_mode(task)) == ("val_r2", "max")
    assert config.parsed_constraints(task) == (Constraint("val_r2", ">=", 0.5),)
    assert config.goals(task).multi and not config.measures_latency(task)
    assert SearchConfig(constraints=("latency_ms<=1",)).measures_latency("classification")
    assert SearchConfig(objectives="val_loss,latency_1024_ms").measures_latency("classification")
    with pytest.raises(UserError, match="the first objective is latency_ms, which training"):
        SearchConfig(objectives="latency_ms,val_accuracy")


def test_metric_and_mode_work_as_before() -> None:
    plain = SearchConfig()
    assert plain.resolved_objectives("classification") == (Objective("val_accuracy", "max"),)
    assert not plain.goals("classification").multi and not plain.measures_latency("classification")
    assert plain.objectives == () and plain.constraints == ()
    assert not {"objectives", "constraints"} & set(plain.to_json())  # recorded as before
    loss = SearchConfig(metric="val_loss")
    assert (loss.resolved_metric("classification"), loss.resolved_mode("classification")) == (
        "val_loss",
        "min",
    )
    flipped = SearchConfig(metric="val_accuracy", mode="min")
    assert flipped.resolved_objectives("classification") == (Objective("val_accuracy", "min"),)
    # One objective needs no multi-objective sampler or scheduler.
    assert SearchConfig(objectives=("val_loss",), sampler="cmaes", scheduler="median")
    assert SearchConfig(objectives=("val_accuracy", "num_params"), sampler="nsga2")


def test_a_tables_metrics_are_checked_once_its_task_is_known() -> None:
    # task auto: any task's metrics are accepted until the data says which task it is.
    config = SearchConfig(data="houses.parquet", target="price", objectives=("val_rmse",))
    assert config.objectives == ("val_rmse:min",)
    config.check_objectives("regression")
    with pytest.raises(UserError, match="objective names 'val_rmse', which is not reported for c"):
        config.check_objectives("classification")
    bounded = SearchConfig(data="houses.parquet", target="price", constraints=("val_r2>=0.5",))
    with pytest.raises(UserError, match="constraint names 'val_r2'"):
        bounded.check_metric("classification")  # the run path's one check covers them too


REFUSED = [
    ({"objectives": "val_rmse"}, "objective names 'val_rmse', which is not reported for classif"),
    ({"objectives": "val_accuracy:best"}, "objective 'val_accuracy:best' is not METRIC or"),
    ({"objectives": "val_loss,val_loss:max"}, "objective 'val_loss' is given twice"),
    ({"constraints": ["num_params<=1e4", "num_params<=10000"]}, "is given twice"),
    ({"constraints": "num_params<=inf"}, "'inf' is not a finite number"),
    ({"constraints": "num_params=1"}, "is not METRIC<=NUMBER or METRIC>=NUMBER"),
    ({"objectives": "val_accuracy", "metric": "val_loss"}, "give either metric/mode or objectives"),
    ({"objectives": "val_accuracy", "mode": "max"}, "give either metric/mode or objectives"),
    (
        {"objectives": "val_accuracy,num_params", "sampler": "cmaes"},
        "CMA-ES optimizes one objective (use tpe, random, gp, qmc or nsga2)",
    ),
    (
        {"objectives": "val_accuracy,num_params", "scheduler": "median"},
        "median stopping ranks one metric (use asha, hyperband or none)",
    ),
    ({"objectives": [1]}, "objectives: Input should be a valid string"),
]


@pytest.mark.parametrize(("fields", "message"), REFUSED)
def test_objective_mistakes_are_refused_in_one_line(fields: dict, message: str) -> None:
    with pytest.raises(UserError) as caught:
        SearchConfig.from_mapping(fields)
    assert message in str(caught.value) and "\n" not in str(caught.value)
