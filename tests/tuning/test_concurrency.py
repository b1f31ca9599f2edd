"""How many trials run at once, from the resources and the config."""

from hpsearch.config import SearchConfig
from hpsearch.tuning._run import _concurrency


def test_trials_fill_the_cpus_by_default() -> None:
    assert _concurrency(SearchConfig(), {"CPU": 8.0}) == 8
    assert _concurrency(SearchConfig(cpus_per_trial=2), {"CPU": 8.0}) == 4
    assert _concurrency(SearchConfig(cpus_per_trial=3), {"CPU": 2.0}) == 1


def test_gpus_bound_concurrency_and_fractions_share_a_gpu() -> None:
    assert _concurrency(SearchConfig(gpus_per_trial=1), {"CPU": 16.0, "GPU": 2.0}) == 2
    assert _concurrency(SearchConfig(gpus_per_trial=0.25), {"CPU": 16.0, "GPU": 1.0}) == 4


def test_the_users_limit_and_the_trial_count_win() -> None:
    assert _concurrency(SearchConfig(max_concurrent=3), {"CPU": 16.0}) == 3
    assert _concurrency(SearchConfig(num_samples=2), {"CPU": 16.0}) == 2
