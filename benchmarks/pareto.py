"""Early stopping on several objectives: the epochs it saves, and the front it keeps.

    python benchmarks/pareto.py [--seeds 0,1,2] [--trials 24] [--epochs 20] [--json PATH]

The same search (val_accuracy:max,num_params:min, same seed) with hpsearch's Pareto
successive halving and with no early stopping; for each: the epochs
all trials trained, and the hypervolume of the trials' points (each at its best epoch
by accuracy, as hpsearch's front shows them), over the losses (1 - accuracy,
log10(parameters) / 6) against the reference point (1, 1). The parameter count is the
second objective here, not the latency, so that measurement noise cannot move the
hypervolume: the rule sees any metric the same way. Each search runs in a fresh process.

With ``--sampler random`` (the default) both searches train the very same configurations,
so the difference is the rule's alone; with ``--sampler tpe`` the sampler also learns
from what the stopped trials were told, so the two searches part ways.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
from datetime import date
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.suite import measure
from hpsearch.objectives import hypervolume

OBJECTIVES = "val_accuracy:max,num_params:min"
REFERENCE = (1.0, 1.0)


def volume(points: list[list[float]]) -> float:
    """The hypervolume of (accuracy, parameters) points in the losses described above."""
    losses = [(1.0 - acc, math.log10(max(params, 1.0)) / 6) for acc, params in points]
    return hypervolume(losses, REFERENCE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="spirals")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sampler", default="random")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--json", default=os.path.join(os.path.dirname(__file__), "pareto.json"))
    args = parser.parse_args()
    cases: list[dict[str, Any]] = []
    for dataset in args.datasets.split(","):
        for seed in map(int, args.seeds.split(",")):
            common = {
                "dataset": dataset,
                "trials": args.trials,
                "epochs": args.epochs,
                "sampler": args.sampler,
            }
            runs = {
                s: measure("pareto_search", scheduler=s, seed=seed, objectives=OBJECTIVES, **common)
                for s in ("asha", "none")
            }
            case = {
                "dataset": dataset,
                "seed": seed,
                "epochs_share": runs["asha"]["epochs"] / runs["none"]["epochs"],
                "hypervolume_asha": volume(runs["asha"]["points"]),
                "hypervolume_none": volume(runs["none"]["points"]),
                "wall_share": runs["asha"]["wall_s"] / runs["none"]["wall_s"],
            }
            case["hypervolume_ratio"] = case["hypervolume_asha"] / case["hypervolume_none"]
            cases.append(case)
            print(json.dumps(case), flush=True)
    summary = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "trials": args.trials,
        "epochs": args.epochs,
        "objectives": OBJECTIVES,
        "sampler": args.sampler,
        "median_epochs_share": statistics.median(c["epochs_share"] for c in cases),
        "median_hypervolume_ratio": statistics.median(c["hypervolume_ratio"] for c in cases),
        "median_wall_share": statistics.median(c["wall_share"] for c in cases),
        "cases": cases,
    }
    with open(args.json, "w") as out:
        json.dump(summary, out, indent=1)
    print(
        f"| Pareto halving vs none, {args.sampler}, {args.trials} trials x {args.epochs} epochs, "
        f"{len(cases)} cases (median) | epochs {summary['median_epochs_share']:.0%} | "
        f"hypervolume {summary['median_hypervolume_ratio']:.3f} | "
        f"wall {summary['median_wall_share']:.0%} |"
    )


if __name__ == "__main__":
    main()
