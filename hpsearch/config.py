"""``SearchConfig``: one typed, frozen description of a search, validated once.

Loaded from a YAML file and/or CLI flags, serialized to plain JSON (it
crosses the Ray Job boundary). Every user mistake is found here, before Ray
starts or anything is written, and raised as :class:`~hpsearch.errors.UserError`
naming the field and what is allowed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hpsearch._choices import SamplerName, SchedulerName
from hpsearch._validation import user_error
from hpsearch.errors import UserError

#: Metrics by task; the first of each is the default search metric.
TASK_METRICS: dict[str, dict[str, Literal["min", "max"]]] = {
    "classification": {"val_accuracy": "max", "val_loss": "min", "train_loss": "min"},
    "regression": {"val_rmse": "min", "val_r2": "max", "val_loss": "min", "train_loss": "min"},
}

STORAGE_ENV = "HPSEARCH_STORAGE"
DEFAULT_STORAGE = "~/hpsearch-results"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_storage() -> str:
    """The results root: ``$HPSEARCH_STORAGE`` or ``~/hpsearch-results``."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


class SearchConfig(BaseModel):
    """Everything that defines one search.

    Example:
        >>> cfg = SearchConfig(dataset="rings", num_samples=8, max_epochs=10)
        >>> cfg.resolved_metric(), cfg.resolved_mode()
        ('val_accuracy', 'max')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field("spirals", description="built-in dataset name (see `hpsearch datasets`)")
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
    time_budget_s: float | None = Field(None, gt=0, description="stop starting trials after this")
    cpus_per_trial: float = Field(1.0, gt=0, description="CPUs reserved per trial")
    gpus_per_trial: float = Field(0.0, ge=0, description="GPUs per trial; fractions share a GPU")
    max_concurrent: int | None = Field(None, gt=0, description="trials at once (default: fill)")
    metric: str | None = Field(None, description="metric to optimize (default: the task's)")
    mode: Literal["min", "max"] | None = Field(None, description="min or max (default: metric's)")
    seed: int = Field(0, ge=0, description="search seed: data split, sampler, trial seeds")
    name: str | None = Field(None, description="experiment name (default: dataset-space-time)")
    storage: str | None = Field(None, description="results root (default $HPSEARCH_STORAGE)")
    checkpoint_every: int = Field(5, gt=0, description="checkpoint every N epochs")
    keep_checkpoints: int = Field(2, gt=0, description="checkpoints kept per trial")

    @model_validator(mode="after")
    def _check(self) -> SearchConfig:
        # Imported here: these pull in numpy/optuna, which `hpsearch --help` must not.
        from hpsearch.data import get_builtin
        from hpsearch.spaces import get_space, validate_space_options

        task = get_builtin(self.dataset).task
        get_space(self.space)
        object.__setattr__(
            self, "space_options", validate_space_options(self.space, self.space_options)
        )
        if self.metric is not None and self.metric not in TASK_METRICS[task]:
            raise UserError(
                f"metric {self.metric!r} is not reported for {task}",
                f"choose one of: {', '.join(TASK_METRICS[task])}",
            )
        if self.name is not None and not _NAME_RE.match(self.name):
            raise UserError(
                f"name {self.name!r} is not a valid experiment name",
                "use letters, digits, '.', '_' and '-'",
            )
        if self.grace_period is not None and self.grace_period > self.max_epochs:
            raise UserError(
                f"grace_period ({self.grace_period}) exceeds max_epochs ({self.max_epochs})",
                "lower grace_period or raise max_epochs",
            )
        return self

    @property
    def task(self) -> str:
        """``classification`` or ``regression``, from the dataset."""
        from hpsearch.data import get_builtin

        return get_builtin(self.dataset).task

    def resolved_metric(self) -> str:
        """The metric to optimize: the user's or the task's default."""
        return self.metric or next(iter(TASK_METRICS[self.task]))

    def resolved_mode(self) -> Literal["min", "max"]:
        """``min`` or ``max``: the user's or the metric's natural direction."""
        return self.mode or TASK_METRICS[self.task][self.resolved_metric()]

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
        return self.model_dump(mode="json")

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
