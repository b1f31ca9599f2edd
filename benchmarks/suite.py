"""hpsearch's benchmark suite: framework overhead, wall time vs the compute limit,
epoch throughput, search quality for the budget, scaling.

    python benchmarks/suite.py [--quick] [--only overhead,limit,...] [--json PATH]

Each measurement runs in a fresh Python process (so one setup's environment
or warm caches cannot help another), and every row is a ratio of two things
measured in the same run on the same machine. Prints a Markdown table and
writes JSON (default benchmarks/results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
CORES = os.cpu_count() or 1


def measure(workload: str, **kwargs: Any) -> dict[str, Any]:
    """Run one workload of _workloads.py in a fresh process; return its JSON result."""
    env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE)}
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "_workloads.py"), workload, json.dumps(kwargs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"{workload} failed:\n{out.stderr[-3000:]}")
    return json.loads(line.removeprefix("RESULT "))  # type: ignore[no-any-return]


def overhead_per_trial(run: dict[str, Any]) -> float:
    """Core-seconds per trial not spent inside training epochs (Ray start-up excluded)."""
    return (run["wall_s"] * CORES - run["work_s"]) / run["trials"]


def trivial_search(tiny: str, trials: int) -> dict[str, Any]:
    """hpsearch on a table so small that training is ~1 ms an epoch: framework cost only."""
    return measure(
        "hpsearch_search",
        dataset=None,
        data=tiny,
        trials=trials,
        epochs=5,
        space="quick",
        sampler="tpe",
        scheduler="none",
        seed=0,
    )


def row_overhead(tiny: str, trials: int) -> dict[str, Any]:
    ours = trivial_search(tiny, trials)
    naive = measure("naive_search", data=tiny, dataset=None, trials=trials, epochs=5)
    a, b = overhead_per_trial(ours), overhead_per_trial(naive)
    return {
        "name": f"per-trial overhead, {trials} trivial trials x 5 epochs (core-s/trial)",
        "hpsearch": a,
        "baseline": b,
        "baseline_name": "naive Ray Tune + OptunaSearch",
        "ratio": a / b,
        "target": "<= 0.25 core-s",
        "met": a <= 0.25,
        "detail": {"hpsearch": _strip(ours), "naive": _strip(naive)},
    }


def row_limit(trials: int) -> dict[str, Any]:
    ours = measure(
        "hpsearch_search",
        dataset="spirals",
        data=None,
        trials=trials,
        epochs=10,
        space="mlp",
        sampler="tpe",
        scheduler="none",
        seed=0,
    )
    limit = measure("sequential_limit", dataset="spirals", configs=ours["configs"], epochs=10)
    naive = measure("naive_search", data=None, dataset="spirals", trials=trials, epochs=10)
    naive_limit = measure(
        "sequential_limit", dataset="spirals", configs=naive["configs"], epochs=10
    )
    ratio = ours["wall_s"] / limit["limit_s"]
    naive_ratio = naive["wall_s"] / naive_limit["limit_s"]
    return {
        "name": f"search wall time / compute limit, {trials} MLP trials x 10 epochs",
        "hpsearch": ratio,
        "baseline": naive_ratio,
        "baseline_name": "naive, same measure",
        "ratio": ratio / naive_ratio,
        "target": "<= 1.5x",
        "met": ratio <= 1.5,
        "detail": {
            "hpsearch_wall_s": ours["wall_s"],
            "limit_s": limit["limit_s"],
            "ray_start_s": ours["ray_start_s"],
            "naive_wall_s": naive["wall_s"],
            "naive_limit_s": naive_limit["limit_s"],
        },
    }


def row_throughput() -> dict[str, Any]:
    r = measure("epoch_throughput")
    ratio = r["hpsearch_s"] / r["bare_s"]
    return {
        "name": "epoch time vs a bare torch loop (50k x 20, MLP 2x128, batch 128)",
        "hpsearch": r["hpsearch_s"],
        "baseline": r["bare_s"],
        "baseline_name": "bare torch loop",
        "ratio": ratio,
        "target": "<= 1.1x",
        "met": ratio <= 1.1,
        "detail": {**r, "dataloader_vs_bare": r["dataloader_s"] / r["bare_s"]},
    }


def _reach(timeline: list[list[float]], target: float) -> tuple[int, float] | None:
    best = float("-inf")
    for i, (t, v) in enumerate(timeline):
        best = max(best, v)
        if best >= target:
            return i + 1, t
    return None


def row_quality(
    datasets: list[str], seeds: list[int], trials: int, epochs: int
) -> list[dict[str, Any]]:
    shares_epochs, shares_time, cases = [], [], []
    for ds in datasets:
        for seed in seeds:
            common = {
                "dataset": ds,
                "data": None,
                "trials": trials,
                "epochs": epochs,
                "space": "mlp",
                "seed": seed,
            }
            ours = measure("hpsearch_search", sampler="tpe", scheduler="asha", **common)
            rnd = measure("hpsearch_search", sampler="random", scheduler="none", **common)
            reached = _reach(ours["timeline"], rnd["best"])
            if reached is None:
                # Never matched within its budget: infinitely many epochs needed.
                e_share, t_share = float("inf"), float("inf")
            else:
                e_share, t_share = reached[0] / rnd["epochs"], reached[1] / rnd["wall_s"]
            shares_epochs.append(e_share)
            shares_time.append(t_share)
            cases.append(
                {
                    "dataset": ds,
                    "seed": seed,
                    "random_best": rnd["best"],
                    "tpe_asha_best": ours["best"],
                    "reached": reached is not None,
                    "epochs_share": e_share,
                    "time_share": t_share,
                }
            )
    median, median_time = statistics.median(shares_epochs), statistics.median(shares_time)
    label = f"({trials} trials, {len(datasets)} datasets x {len(seeds)} seeds, median share)"
    detail = {"median_epochs_share": median, "median_time_share": median_time, "cases": cases}
    return [
        {
            "key": "quality_epochs",
            "name": f"epochs TPE+ASHA needs to match random search's best {label}",
            "hpsearch": median,
            "baseline": 1.0,
            "baseline_name": "random search, no early stopping",
            "ratio": median,
            "target": "<= 40%",
            "met": median <= 0.40,
            "detail": detail,
        },
        {
            "key": "quality_time",
            "name": f"wall time TPE+ASHA needs to match random search's best {label}",
            "hpsearch": median_time,
            "baseline": 1.0,
            "baseline_name": "random search, no early stopping",
            "ratio": median_time,
            "target": "<= 40%",
            "met": median_time <= 0.40,
            "detail": detail,
        },
    ]


def row_scaling(tiny: str, sizes: list[int]) -> dict[str, Any]:
    runs = {n: trivial_search(tiny, n) for n in sizes}
    per = {n: overhead_per_trial(r) for n, r in runs.items()}
    small, large = min(sizes), max(sizes)
    ratio = per[large] / per[small]
    return {
        "name": f"overhead per trial (core-s) at {large} vs {small} trivial trials",
        "hpsearch": per[large],
        "baseline": per[small],
        "baseline_name": f"{small} trials",
        "ratio": ratio,
        "target": "flat (<= 1.5x)",
        "met": ratio <= 1.5,
        "detail": {
            str(n): {
                "overhead_core_s": per[n],
                "driver_peak_mb": r["driver_peak_mb"],
                "wall_s": r["wall_s"],
            }
            for n, r in runs.items()
        },
    }


def _strip(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in ("configs", "timeline")}


def fmt(value: float, name: str) -> str:
    if "core-s" in name:
        return f"{value:.3f}"
    if "epoch time" in name:
        return f"{value * 1000:.0f} ms"
    if "share" in name or "match" in name:
        return "not reached" if value == float("inf") else f"{value:.0%}"
    return f"{value:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description="hpsearch benchmark suite")
    parser.add_argument("--quick", action="store_true", help="fewer trials, seeds and datasets")
    parser.add_argument("--only", help="comma-separated: overhead,limit,throughput,quality,scaling")
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"))
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = os.path.join(tmp, "tiny.parquet")
        env = {**os.environ, "PYTHONPATH": os.path.dirname(HERE)}
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {HERE!r}); "
                f"import _workloads; _workloads.tiny_table({tiny!r})",
            ],
            check=True,
            env=env,
        )
        plan = [
            ("overhead", lambda: row_overhead(tiny, 40)),
            ("limit", lambda: row_limit(24)),
            ("throughput", row_throughput),
            (
                "quality",
                lambda: row_quality(
                    ["spirals"] if args.quick else ["spirals", "checkerboard", "rings"],
                    [0] if args.quick else [0, 1, 2],
                    24,
                    30,
                ),
            ),
            ("scaling", lambda: row_scaling(tiny, [40, 200] if args.quick else [200, 1000])),
        ]
        for key, fn in plan:
            if only and key not in only:
                continue
            print(f"running {key} ...", file=sys.stderr, flush=True)
            result = fn()
            rows.extend(result if isinstance(result, list) else [{"key": key, **result}])
    machine = f"{platform.machine()}, {CORES} cores, Python {platform.python_version()}"
    print(
        f"\nhpsearch benchmarks, {date.today()}, {machine} ({time.perf_counter() - started:.0f}s)\n"
    )
    print("| benchmark | hpsearch | baseline | ratio | target | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['name']} | {fmt(r['hpsearch'], r['name'])} | {fmt(r['baseline'], r['name'])} "
            f"({r['baseline_name']}) | {r['ratio']:.2f} | {r['target']} | "
            f"{'yes' if r['met'] else 'NO'} |"
        )
    with open(args.json, "w") as f:
        json.dump(
            {"date": str(date.today()), "machine": machine, "rows": rows}, f, indent=2, default=str
        )


if __name__ == "__main__":
    main()
