"""Names the CLI offers as choices, kept free of heavy imports so ``--help`` is instant.

The registries in :mod:`hpsearch.search` must hold exactly these names; a
test checks that they do.
"""

from typing import Literal

SamplerName = Literal["tpe", "random", "cmaes", "gp", "qmc"]
SchedulerName = Literal["asha", "hyperband", "median", "none"]
