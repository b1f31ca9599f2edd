"""Property-based: any invalid configuration or flag combination is one line and exit 2.

Hypothesis builds command lines for ``run`` and ``job submit`` (and YAML config
files) that hold at least one mistake among valid flags; every one must end
with ``hpsearch: error: ...`` on one line, exit code 2, no traceback, and
nothing written under the results root. Runs in-process through click's test
runner, so 600 cases take seconds.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import get_args

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpsearch.commands import cli
from hpsearch.config import SamplerName, SchedulerName, SearchConfig
from hpsearch.data import DATASETS
from hpsearch.spaces import SPACES

WORDS = st.text(alphabet="abcxyz_-.:/ 0123456789", min_size=1, max_size=12)
NON_POSITIVE = st.integers(max_value=0).map(str)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


# Text that no config field would take as a number ("5" would be coerced to 5).
NOT_INT = WORDS.filter(lambda w: not _is_int(w))
NOT_A_NUMBER = st.sampled_from(["abc", "1.5.2", "", "ten", "1e", "--", "NaN-ish"])

# Flags with a valid value each (mixed in freely; none can make a case valid).
VALID = st.sampled_from(
    [
        ["--dataset", "rings"],
        ["--space", "quick"],
        ["--sampler", "random"],
        ["--scheduler", "median"],
        ["--max-epochs", "3"],
        ["--seed", "7"],
        ["--cpus-per-trial", "1"],
        ["--max-concurrent", "2"],
        ["--mode", "max"],
        ["--checkpoint-every", "2"],
        ["--quiet"],
    ]
)


def _mistakes(tmp: Path) -> st.SearchStrategy[list[str]]:
    """One invalid flag, value or combination each."""
    missing = str(tmp / "no-such-file.parquet")
    return st.one_of(
        st.tuples(st.just("--num-samples"), NON_POSITIVE | NOT_A_NUMBER).map(list),
        st.tuples(st.just("--max-epochs"), NON_POSITIVE | NOT_A_NUMBER).map(list),
        st.tuples(st.just("--sampler"), WORDS.filter(lambda w: w not in SAMPLERS)).map(list),
        st.tuples(st.just("--scheduler"), WORDS.filter(lambda w: w not in SCHEDULERS)).map(list),
        st.tuples(st.just("--space"), WORDS.filter(lambda w: w not in SPACES)).map(list),
        st.tuples(st.just("--dataset"), WORDS.filter(lambda w: w not in DATASETS)).map(list),
        st.tuples(st.just("--val-fraction"), st.floats(1.0, 50) | st.floats(-5, 0)).map(
            lambda t: [t[0], repr(t[1])]
        ),
        st.tuples(st.just("--cpus-per-trial"), st.floats(-10, 0)).map(lambda t: [t[0], str(t[1])]),
        st.tuples(st.just("--gpus-per-trial"), st.floats(-4, -0.01)).map(
            lambda t: [t[0], str(t[1])]
        ),
        st.tuples(st.just("--time-budget"), st.floats(-100, 0)).map(lambda t: [t[0], str(t[1])]),
        st.tuples(st.just("--mode"), WORDS.filter(lambda w: w not in ("min", "max"))).map(list),
        st.tuples(st.just("--seed"), NOT_A_NUMBER).map(list),
        st.tuples(st.just("--input-shape"), st.sampled_from(["x", "0x8", "8x", "-1x2", "axb"])).map(
            list
        ),
        st.just(["--target", "label"]),  # a target without --data
        st.just(["--data", missing, "--target", "y"]),
        st.just(["--grace-period", "50", "--max-epochs", "5"]),
        st.just(["--metric", "val_banana"]),
        st.just(["--metric", "val_rmse"]),  # a regression metric on a classification dataset
        st.just(["--split-column", "part"]),  # without --data
        st.tuples(st.just("--frobnicate"), WORDS).map(list),  # no such flag
    )


# Derived from the config and the registries, so a new field or name is never taken for a mistake.
SAMPLERS = get_args(SamplerName)
SCHEDULERS = get_args(SchedulerName)
KNOWN_KEYS = set(SearchConfig.model_fields)
# A real key mistyped: one letter short, or one too many.
TYPOS = st.sampled_from(sorted(KNOWN_KEYS)).flatmap(lambda k: st.sampled_from([k[:-1], k + "s"]))
# YAML config files: unknown keys, wrong types, out-of-range values.
BAD_CONFIGS = st.one_of(
    st.dictionaries(
        (WORDS | TYPOS).filter(lambda k: k.isidentifier() and k not in KNOWN_KEYS),
        st.integers() | WORDS,
        min_size=1,
        max_size=3,
    ),
    st.builds(
        lambda n: {"num_samples": n}, st.integers(max_value=0) | NOT_INT | st.lists(st.integers())
    ),
    st.builds(
        lambda s: {"space_options": {"lr": s}}, st.sampled_from([[1, 0.1], [-1, 1], "x", [1]])
    ),
    st.builds(lambda s: {"space_options": {"bogus_option": s}}, st.integers()),
    st.builds(lambda s: {"sampler": s}, WORDS.filter(lambda w: w not in SAMPLERS)),
    st.just(["not", "a", "mapping"]),
)


def _check(args: list[str], tmp: Path) -> None:
    # A results root of its own for every case, so a stray write is pinned on its case.
    root = Path(tempfile.mkdtemp(dir=tmp, prefix="results-"))
    result = CliRunner().invoke(
        cli, args, prog_name="hpsearch", env={"HPSEARCH_STORAGE": str(root)}
    )
    assert result.exit_code == 2, (args, result.output, result.exception)
    err = result.stderr
    assert err.startswith("hpsearch: error: ") and err.count("\n") == 1, (args, err)
    assert "No such command" not in err, err  # the command itself must exist
    assert "Traceback" not in result.output + err
    assert not any(root.iterdir()), f"{args} wrote into {root}"


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_invalid_flag_combinations(data: st.DataObject, tmp_path: Path) -> None:
    command = data.draw(st.sampled_from([["run"], ["job", "submit"]]))
    mistakes = data.draw(st.lists(_mistakes(tmp_path), min_size=1, max_size=3))
    valid = data.draw(st.lists(VALID, max_size=4))
    # Valid flags first: click keeps a repeated flag's last value, which must be a mistake.
    args = [*command, *(a for part in [*valid, *mistakes] for a in part)]
    if command == ["job", "submit"]:
        args += ["--address", "http://127.0.0.1:9"]  # never reached: the config fails first
    _check(args, tmp_path)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(config=BAD_CONFIGS, extra=st.lists(VALID.filter(lambda f: f[0] != "--sampler"), max_size=3))
def test_invalid_config_files(config: object, extra: list[list[str]], tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(config))
    _check(["run", "--config", str(path), *(a for part in extra for a in part)], tmp_path)
