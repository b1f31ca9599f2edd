"""SearchConfig survives the JSON round trip it makes through hpsearch.json and Ray Jobs."""

from __future__ import annotations

import json

import pytest

from hpsearch import SearchConfig


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

    assert is_finite(3) and is_finite(10**400) and is_finite(-0.5)  # ints: however large
    assert not any(map(is_finite, (True, float("nan"), float("inf"), "1", None)))
