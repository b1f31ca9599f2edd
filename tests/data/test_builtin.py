import numpy as np
import pytest

from hpsearch.data import DATASETS, load_builtin, split_indices
from hpsearch.errors import UserError


@pytest.fixture(params=list(DATASETS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    a, b, c = load_builtin(name, seed=1), load_builtin(name, seed=1), load_builtin(name, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)


def test_splits_are_float32_contiguous_and_robustly_scaled_on_train(name: str) -> None:
    d = load_builtin(name)
    for split in ("train", "val", "test"):
        x = getattr(d, f"x_{split}")
        assert x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
        assert np.abs(x).max() < 3.0  # smooth clipping bounds every value
    # Undo the smooth clip: train's median is 0 and its interquartile range 1.
    z = d.x_train.astype(np.float64)
    z = z / np.sqrt(1.0 - (z / 3.0) ** 2)
    np.testing.assert_allclose(np.median(z, axis=0), 0.0, atol=1e-3)
    q1, q3 = np.quantile(z, [0.25, 0.75], axis=0)
    np.testing.assert_allclose(q3 - q1, 1.0, rtol=1e-3)
    # Validation statistics are not forced to 0/1: they were not used.
    assert not np.allclose(np.median(d.x_val, axis=0), 0.0, atol=1e-6)
    sizes = d.sizes()
    total = sum(sizes.values())
    assert sizes["train"] == pytest.approx(0.6 * total, abs=3)


def test_classification_splits_are_stratified() -> None:
    d = load_builtin("rings")
    for y in (d.y_train, d.y_val, d.y_test):
        shares = np.bincount(y) / len(y)
        np.testing.assert_allclose(shares, 1 / 3, atol=0.01)
    assert d.class_names == ("inner", "middle", "outer")


def test_split_indices_partition_every_row_once() -> None:
    y = np.repeat([0, 1, 2], [50, 30, 20])
    parts = split_indices(y, (0.6, 0.2, 0.2), seed=0, stratify=True)
    joined = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(joined, np.arange(100))


def test_tutorial_task_is_learnable_from_its_features() -> None:
    # The classic tutorial's bug: labels from x2, features only x1. Here a
    # simple threshold on the second feature already beats 85%.
    d = load_builtin("tutorial")
    assert d.num_features == 2
    acc = ((d.x_train[:, 1] > 0) == (d.y_train == 1)).mean()
    assert acc > 0.85


def test_regression_target_is_float() -> None:
    d = load_builtin("friedman")
    assert d.task == "regression" and d.y_train.dtype == np.float32 and d.num_outputs == 1


def test_unknown_dataset_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown dataset 'nope'.*spirals"):
        load_builtin("nope")
