"""How many trials run at once, from the resources and the config."""

from hpsearch.config import SearchConfig
from hpsearch.tuning._run import _concurrency


def test_trials_fill_the_cpus_by_default() -> None:
    assert _concurrency(SearchConfig(), {"CPU": 8.0}) == (8, 1)
    assert _concurrency(SearchConfig(cpus_per_trial=2), {"CPU": 8.0}) == (4, 1)
    assert _concurrency(SearchConfig(cpus_per_trial=3), {"CPU": 2.0}) == (1, 1)


def test_gpus_bound_concurrency_and_fractions_share_a_gpu() -> None:
    assert _concurrency(SearchConfig(gpus_per_trial=1), {"CPU": 16.0, "GPU": 2.0}) == (2, 1)
    assert _concurrency(SearchConfig(gpus_per_trial=0.25), {"CPU": 16.0, "GPU": 1.0}) == (4, 1)


def test_the_users_limit_and_the_trial_count_win() -> None:
    assert _concurrency(SearchConfig(max_concurrent=3), {"CPU": 16.0}) == (3, 1)
    assert _concurrency(SearchConfig(num_samples=2), {"CPU": 16.0}) == (2, 1)


def test_packs_fill_the_slots_with_their_trials() -> None:
    # 32 trials in packs of 8 on 8 CPUs: four packs at once, not eight.
    assert _concurrency(SearchConfig(pack=8), {"CPU": 8.0}) == (4, 8)
    # auto: packs leave the sampler two rounds of two slots to learn from.
    assert _concurrency(SearchConfig(pack="auto"), {"CPU": 2.0}) == (2, 8)
    assert _concurrency(SearchConfig(pack="auto", num_samples=3), {"CPU": 2.0}) == (2, 1)
    assert _concurrency(SearchConfig(pack=4, max_concurrent=3), {"CPU": 16.0}) == (3, 4)
    # Fractional GPUs and packs combine: a GPU holds eight packs of up to 64 trials.
    gpu = SearchConfig(pack="auto", num_samples=2000, gpus_per_trial=0.125)
    assert _concurrency(gpu, {"CPU": 16.0, "GPU": 1.0}) == (8, 64)
