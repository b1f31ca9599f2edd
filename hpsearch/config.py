"""``SearchConfig``: one typed, frozen description of a search, validated once.

Loaded from a YAML file and/or CLI flags, serialized to plain JSON (it
crosses the Ray Job boundary). Every user mistake is found here, before Ray
starts or anything is written, and raised as :class:`~hpsearch.errors.UserError`
naming the field and what is allowed.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hpsearch.errors import UserError, user_error
from hpsearch.metrics import TASK_METRICS
from hpsearch.objectives import (
    LATENCY_METRICS,
    MODEL_METRICS,
    Constraint,
    Goals,
    Objective,
    parse_constraints,
    parse_objectives,
)

# The registries in hpsearch.tuning hold exactly these names (a test checks);
# written here so the config and --help need no tuning import.
SamplerName = Literal["tpe", "random", "cmaes", "gp", "qmc", "nsga2"]
SchedulerName = Literal["asha", "hyperband", "median", "none"]

STORAGE_ENV = "HPSEARCH_STORAGE"
DEFAULT_STORAGE = "~/hpsearch-results"
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # fullmatch: "$" lets "x\n" in
_SHAPE_RE = re.compile(r"\d+([xX]\d+){1,2}")
#: The most trials one pack trains at once.
MAX_PACK = 256
#: ``--pack auto`` on CPUs: a pack trains this many trials at most (the step's
#: arithmetic grows with K while its overhead does not; see benchmarks/packs.py).
AUTO_PACK_CPU = 16
#: On a GPU, whose kernels a small MLP leaves mostly idle.
AUTO_PACK_GPU = 64
#: ``--pack auto`` leaves the sampler at least this many rounds of packs to learn from.
AUTO_PACK_ROUNDS = 2


def default_storage() -> str:
    """The results root: ``$HPSEARCH_STORAGE`` or ``~/hpsearch-results``."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


class SearchConfig(BaseModel):
    """Everything that defines one search.

    Example:
        >>> cfg = SearchConfig(dataset="rings", num_samples=8, max_epochs=10)
        >>> cfg.resolved_metric("classification"), cfg.resolved_mode("classification")
        ('val_accuracy', 'max')
        >>> SearchConfig(data="houses.parquet", target="price").data_spec().target
        'price'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field("teacher", description="built-in dataset name (see `hpsearch datasets`)")
    data: str | None = Field(
        None, description="your table instead: Parquet/CSV/Arrow file, directory or URI"
    )
    target: str | None = Field(None, description="the column to predict (with data)")
    features: list[str] | None = Field(None, description="input columns (default: all others)")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="auto: strings/bools/few integers are classes, floats regression"
    )
    missing: Literal["impute", "error"] = Field(
        "impute", description="missing feature values: impute (+indicator) or refuse"
    )
    val_fraction: float = Field(0.2, gt=0, lt=1, description="validation share of the rows")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="held-out test share of the rows")
    split_column: str | None = Field(
        None, description="column of train/val/test labels instead of a random split"
    )
    input_shape: str | None = Field(
        None, description="HxW or CxHxW: the features are pixels (enables image augmentations)"
    )
    space: str = Field("mlp", description="registered space name or package.module:function")
    space_options: dict[str, Any] = Field(
        default_factory=dict, description="narrow the space's ranges and choices"
    )
    sampler: SamplerName = Field("tpe", description="Optuna sampler")
    scheduler: SchedulerName = Field("asha", description="early-stopping scheduler")
    num_samples: int = Field(32, gt=0, description="number of trials")
    max_epochs: int = Field(40, gt=0, description="epochs per trial at most")
    grace_period: int | None = Field(
        None, gt=0, description="epochs before a trial may be stopped early (default: 4 or less)"
    )
    pack: int | Literal["auto"] = Field(
        1, description="trials trained as one batched model per worker (auto: chosen)"
    )
    time_budget_s: float | None = Field(None, gt=0, description="stop starting trials after this")
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs reserved per trial")
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs per trial; fractions share a GPU")
    max_concurrent: int | None = Field(None, gt=0, description="trials at once (default: fill)")
    metric: str | None = Field(None, description="metric to optimize (default: the task's)")
    mode: Literal["min", "max"] | None = Field(None, description="min or max (default: metric's)")
    objectives: tuple[str, ...] = Field(
        (), description="objectives, e.g. val_accuracy:max,latency_ms:min (several: a Pareto front)"
    )
    constraints: tuple[str, ...] = Field(
        (), description="bounds a trial must meet, e.g. num_params<=20000"
    )
    seed: int = Field(0, ge=0, description="search seed: data split, sampler, trial seeds")
    name: str | None = Field(
        None, description="experiment name (default: dataset-space-time-random)"
    )
    storage: str | None = Field(None, description="results root (default $HPSEARCH_STORAGE)")
    checkpoint_every: int = Field(5, gt=0, description="checkpoint every N epochs")
    keep_checkpoints: int = Field(2, gt=0, description="checkpoints kept per trial")
    ensemble_size: int = Field(
        16, ge=0, description="picks of the final ensemble of the top trials at most (0: off)"
    )
    warm_start: str | None = Field(
        None, description="seed the sampler with this experiment's trials (name, path or URI)"
    )

    @field_validator("pack", mode="before")
    @classmethod
    def _pack_size(cls, value: Any) -> Any:
        # A flag arrives as text; "auto" or a whole number of trials from 1 to MAX_PACK.
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        text = value.strip() if isinstance(value, str) else value
        if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) < 6:
            text = int(text)
        if isinstance(text, bool) or not isinstance(text, int) or not 1 <= text <= MAX_PACK:
            raise UserError(
                f"pack {str(value)[:20]!r} is not a number of trials from 1 to {MAX_PACK}, or auto",
                "e.g. --pack 16, --pack auto, or --pack 1 to train each trial alone",
            )
        return text

    @field_validator("objectives", "constraints", mode="before")
    @classmethod
    def _one_text_or_a_list(cls, value: Any) -> Any:
        # A config file may write "val_accuracy:max,latency_ms:min" as one string.
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> SearchConfig:
        # Imported here: these pull in numpy/optuna, which `hpsearch --help` must not.
        from hpsearch.spaces import get_space, pack_shared, probe_space, validate_space_options

        self._check_data()
        task = self.known_task()
        get_space(self.space)
        if self.pack != 1:
            pack_shared(self.space)  # a user's malformed declaration stops here
            if self.sampler == "cmaes":
                # A pack's fixed structure changes CMA-ES's search space from member to
                # member: it would fall back to random draws without a word.
                raise UserError(
                    "the cmaes sampler cannot fill packs: their shared parameters are fixed",
                    "use --pack 1 with cmaes, or another sampler: tpe, gp, random, qmc or nsga2",
                )
        object.__setattr__(
            self, "space_options", validate_space_options(self.space, self.space_options)
        )
        # The space's configs are checked here, so a broken one stops before Ray starts.
        probe_space(self.space, self._probe_contexts(task), task_known=task is not None)
        if task is not None:
            self.check_metric(task)
        elif self.metric is not None and not any(self.metric in m for m in TASK_METRICS.values()):
            known = sorted({m for metrics in TASK_METRICS.values() for m in metrics})
            raise UserError(f"unknown metric {self.metric!r}", f"choose one of: {', '.join(known)}")
        self._check_objectives(task)
        if self.name is not None and not _NAME_RE.fullmatch(self.name):
            raise UserError(
                f"name {self.name!r} is not a valid experiment name",
                "use up to 200 letters, digits, '.', '_' and '-', starting with a letter or digit",
            )
        if self.grace_period is not None and self.grace_period > self.max_epochs:
            raise UserError(
                f"grace_period ({self.grace_period}) exceeds max_epochs ({self.max_epochs})",
                "lower grace_period or raise max_epochs",
            )
        return self

    def _check_data(self) -> None:
        if self.data is None:
            for name in ("target", "features", "split_column", "input_shape"):
                if getattr(self, name) is not None:
                    raise UserError(f"{name} applies to --data only", "give --data PATH too")
            return
        if "dataset" in self.model_fields_set:
            raise UserError("give either dataset (built-in) or data (your table), not both")
        if not self.target:
            raise UserError("data needs a target column", "add --target COLUMN")
        if self.val_fraction + self.test_fraction >= 1:
            raise UserError(
                f"val_fraction + test_fraction is {self.val_fraction + self.test_fraction:g}",
                "leave some rows to train on: keep the sum below 1",
            )
        self.parsed_input_shape()

    def _probe_contexts(self, task: str | None) -> list[Any]:
        """What the space will be given, as far as known before the data is read."""
        from hpsearch.spaces import SpaceContext

        tasks: tuple[Any, ...] = (task,) if task else ("classification", "regression")
        shape = self.parsed_input_shape()
        return [SpaceContext(task=t, input_shape=shape, options=self.space_options) for t in tasks]

    def parsed_input_shape(self) -> tuple[int, ...] | None:
        """``input_shape`` as (channels, height, width), or None."""
        if self.input_shape is None:
            return None
        if not _SHAPE_RE.fullmatch(self.input_shape):
            raise UserError(
                f"input_shape {self.input_shape!r} is not HxW or CxHxW", "e.g. 8x8 or 3x32x32"
            )
        dims = tuple(int(d) for d in self.input_shape.lower().split("x"))
        if min(dims) <= 0:
            raise UserError(f"input_shape {self.input_shape!r} has a zero dimension")
        return dims if len(dims) == 3 else (1, *dims)

    def known_task(self) -> str | None:
        """The task if known before reading data: the built-in's, or the user's --task."""
        if self.data is None:
            from hpsearch.data import get_builtin

            return get_builtin(self.dataset).task
        return None if self.task == "auto" else self.task

    def _check_objectives(self, task: str | None) -> None:
        """Parse the objectives and constraints (every task's metrics when ``task`` is
        not known yet), refuse what cannot go together, and store the canonical texts."""
        if self.objectives and (self.metric is not None or self.mode is not None):
            raise UserError(
                "give either metric/mode or objectives, not both",
                "put the metric first in objectives, e.g. val_accuracy:max,latency_ms:min",
            )
        objectives = parse_objectives(self.objectives, task) if self.objectives else ()
        constraints = parse_constraints(self.constraints, task)
        object.__setattr__(self, "objectives", tuple(o.text for o in objectives))
        object.__setattr__(self, "constraints", tuple(c.text for c in constraints))
        if objectives and objectives[0].metric in MODEL_METRICS:
            # Each trial keeps its best epoch by the first objective: by a size or a
            # latency, which training does not change, that would be its first epoch.
            raise UserError(
                f"the first objective is {objectives[0].metric}, which training does not change",
                "put a score first, e.g. val_accuracy:max,latency_ms:min",
            )
        if len(objectives) > 1 and self.sampler == "cmaes":
            raise UserError("CMA-ES optimizes one objective", "use tpe, random, gp, qmc or nsga2")
        if len(objectives) > 1 and self.scheduler == "median":
            raise UserError("median stopping ranks one metric", "use asha, hyperband or none")

    def check_metric(self, task: str) -> None:
        """Refuse a metric, objective or constraint the task does not report."""
        if self.metric is not None and self.metric not in TASK_METRICS[task]:
            raise UserError(
                f"metric {self.metric!r} is not reported for {task}",
                f"choose one of: {', '.join(TASK_METRICS[task])}",
            )
        self.check_objectives(task)

    def check_objectives(self, task: str) -> None:
        """Refuse an objective or constraint metric ``task`` does not report: a table's
        task is known only once its data is read (``check_metric`` calls this too)."""
        if self.objectives:
            parse_objectives(self.objectives, task)
        parse_constraints(self.constraints, task)

    def resolved_objectives(self, task: str) -> tuple[Objective, ...]:
        """What the search optimizes: the objectives, or the one metric (the user's or
        the task's default) as a single objective. The first is the primary one."""
        if self.objectives:
            return parse_objectives(self.objectives, task)
        metric = self.metric or next(iter(TASK_METRICS[task]))
        return (Objective(metric, self.mode or TASK_METRICS[task][metric]),)

    def parsed_constraints(self, task: str) -> tuple[Constraint, ...]:
        """The bounds a trial must meet to count (none: every trial counts)."""
        return parse_constraints(self.constraints, task)

    def goals(self, task: str) -> Goals:
        """What the search optimizes (the primary objective first) and under which bounds."""
        return Goals(self.resolved_objectives(task), self.parsed_constraints(task))

    def measures_latency(self, task: str) -> bool:
        """Whether the trials must measure their model's latency: an objective or a
        constraint names it (it costs time every trial)."""
        return any(metric in LATENCY_METRICS for metric in self.goals(task).metrics)

    def resolved_metric(self, task: str) -> str:
        """The metric to optimize (the primary objective's): the user's or the task's default."""
        return self.resolved_objectives(task)[0].metric

    def resolved_mode(self, task: str) -> Literal["min", "max"]:
        """``min`` or ``max``: the primary objective's, the user's or the metric's natural one."""
        return self.resolved_objectives(task)[0].mode

    def resolved_pack(self, slots: int) -> int:
        """Trials per pack: ``pack``, or for ``auto`` as many as leave the sampler
        :data:`AUTO_PACK_ROUNDS` rounds of ``slots`` packs, capped per device kind."""
        if self.pack != "auto":
            return int(self.pack)
        cap = AUTO_PACK_GPU if self.gpus_per_trial > 0 else AUTO_PACK_CPU
        return max(1, min(cap, self.num_samples // (AUTO_PACK_ROUNDS * max(1, slots))))

    def data_spec(self) -> Any:
        """How to read the user's table (``data.TableSpec``); only with ``data``."""
        from hpsearch.data import TableSpec

        assert self.data is not None and self.target is not None
        return TableSpec(
            location=self.data,
            target=self.target,
            features=tuple(self.features) if self.features is not None else None,
            task=self.task,
            missing=self.missing,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            split_column=self.split_column,
            input_shape=self.parsed_input_shape(),
            seed=self.seed,
        )

    def resolved_grace_period(self) -> int:
        """Epochs every trial gets before early stopping may end it.

        Default: 4, or a fifth of ``max_epochs`` for short trials; the
        spirals need a few epochs before good and bad configurations differ.
        """
        return self.grace_period or max(1, min(4, self.max_epochs // 5))

    def storage_root(self) -> str:
        """Where experiments go: an absolute local path or a URI."""
        root = self.storage or default_storage()
        if "://" in root:
            return root
        return str(Path(root).expanduser().resolve())

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able data that :meth:`from_mapping` reads back."""
        data = self.model_dump(mode="json")
        if self.data is not None:
            data.pop("dataset")  # a built-in dataset beside a table is refused on the way back
        for key in ("objectives", "constraints"):
            if not data[key]:
                # A search of one metric is recorded as before, readable by older versions.
                data.pop(key)
        return data

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "") -> SearchConfig:
        """Validate ``data``, turning any mistake into one clear :class:`UserError`."""
        if not isinstance(data, Mapping):
            raise UserError(f"config: expected a mapping of settings, got {type(data).__name__}")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise user_error(exc, cls.model_fields, source=source) from None

    @classmethod
    def from_yaml(
        cls, path: str | Path, overrides: Mapping[str, Any] | None = None
    ) -> SearchConfig:
        """Read a YAML config file; ``overrides`` (e.g. CLI flags) win over it."""
        return cls.from_mapping({**load_yaml(path), **(overrides or {})}, source=str(path))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file, or a :class:`UserError` saying what is wrong."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UserError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(f"config file {str(path)!r} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(
            f"config file {str(path)!r} must hold a mapping of settings, not {type(data).__name__}"
        )
    return data


def experiment_name(config: SearchConfig) -> str:
    """The user's name, or ``<dataset>-<space>-<timestamp>-<random>``."""
    if config.name:
        return config.name
    space = config.space.rsplit(":", 1)[-1]
    source = config.dataset
    if config.data is not None:
        # "s3://bucket/houses.parquet" -> "houses"
        source = (
            re.sub(r"[^A-Za-z0-9._-]", "", config.data.rstrip("/").rsplit("/", 1)[-1].split(".")[0])
            or "data"
        )
    # The random tail keeps two searches started in the same second apart.
    return f"{source}-{space}-{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
