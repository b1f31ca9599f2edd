"""The measured workloads, each run in a fresh subprocess by ``suite.py``.

Every function returns plain JSON. Nothing here is a test: these are
measurements, compared as ratios within one run of the suite.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from typing import Any

import numpy as np

CORES = os.cpu_count() or 1


def tiny_table(path: str, rows: int = 80) -> None:
    """A table so small that a trial's training is ~1 ms per epoch: 'trivial'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 2))
    pq.write_table(
        pa.table({"a": x[:, 0], "b": x[:, 1], "y": (x[:, 0] > 0).astype(np.int64)}), path
    )


def _trial_work(results: Any) -> tuple[float, int, list[dict[str, Any]]]:
    """Seconds spent inside training epochs, epochs, and each trial's config."""
    work, epochs, configs = 0.0, 0, []
    for i in range(len(results)):
        frame = results[i].metrics_dataframe
        if frame is not None and "epoch_time_s" in frame:
            work += float(frame["epoch_time_s"].sum())
            epochs += len(frame)
        configs.append(dict(results[i].config))
    return work, epochs, configs


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _search(**fields: Any) -> tuple[Any, float]:
    """``run_search`` on a fresh results folder, Ray started apart: the search's result
    and Ray's start-up seconds."""
    from hpsearch import SearchConfig, run_search
    from hpsearch.tuning._local_ray import local_ray

    config = SearchConfig(**fields, storage=tempfile.mkdtemp(prefix="hpbench-"))
    with local_ray() as ray_start:
        return run_search(config, echo=None), ray_start


def hpsearch_search(
    dataset: str | None,
    data: str | None,
    trials: int,
    epochs: int,
    space: str,
    sampler: str,
    scheduler: str,
    seed: int,
) -> dict[str, Any]:
    """A search through hpsearch's own path (run_search), Ray started apart."""
    fields: dict[str, Any] = {"data": data, "target": "y"} if data else {"dataset": dataset}
    result, ray_start = _search(
        **fields,
        space=space,
        num_samples=trials,
        max_epochs=epochs,
        sampler=sampler,
        scheduler=scheduler,
        seed=seed,
    )
    work, n_epochs, configs = _trial_work(result.results)
    timeline = []
    for row in result.summary["leaderboard"]:
        trial = next(r for r in result.results if r.config.get("trial_number") == row["number"])
        frame = trial.metrics_dataframe
        if frame is None or "started_s" not in row:
            continue
        for t, v in zip(frame["time_total_s"], frame[result.summary["metric"]], strict=False):
            timeline.append((row["started_s"] + float(t), float(v)))
    return {
        "wall_s": result.summary["wall_time_s"],
        "ray_start_s": ray_start,
        "work_s": work,
        "epochs": n_epochs,
        "trials": trials,
        "configs": configs,
        "timeline": sorted(timeline),
        "best": result.summary["best"][result.summary["metric"]]
        if result.summary["best"]
        else None,
        "driver_peak_mb": _peak_mb(),
    }


def naive_search(data: str | None, dataset: str | None, trials: int, epochs: int) -> dict[str, Any]:
    """Ray Tune + OptunaSearch as Ray's documentation shows it, defaults kept."""
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from hpsearch.data import TableSpec, load_builtin, load_table
    from hpsearch.trainable import TrainSettings, train_mlp

    prepared = load_table(TableSpec(data, "y")) if data else load_builtin(dataset or "spirals")
    start = time.perf_counter()
    ray.init(num_cpus=CORES, include_dashboard=False, _node_ip_address="127.0.0.1")
    ray_start = time.perf_counter() - start
    settings = TrainSettings(max_epochs=epochs, metric="val_accuracy", mode="max")
    tuner = tune.Tuner(
        tune.with_parameters(train_mlp, data=prepared, settings=settings),
        param_space={
            "optimizer": tune.choice(["adam", "adamw"]),
            "lr": tune.loguniform(1e-3, 1e-1),
            "hidden_sizes": tune.choice([[16], [32, 32], [64, 64]]),
        },
        tune_config=tune.TuneConfig(
            search_alg=OptunaSearch(), metric="val_accuracy", mode="max", num_samples=trials
        ),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="naive-"), verbose=0),
    )
    start = time.perf_counter()
    results = tuner.fit()
    wall = time.perf_counter() - start
    work, n_epochs, configs = _trial_work(results)
    return {
        "wall_s": wall,
        "ray_start_s": ray_start,
        "work_s": work,
        "epochs": n_epochs,
        "trials": trials,
        "configs": configs,
        "driver_peak_mb": _peak_mb(),
    }


def sequential_limit(dataset: str, configs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """The same trials one after another in one process, no Ray: the compute limit."""
    import torch

    from hpsearch.data import load_builtin
    from hpsearch.trainable import HParams, TrainingRun, TrainSettings

    torch.set_num_threads(1)  # each trial had one CPU in the search
    data = load_builtin(dataset)
    settings = TrainSettings(max_epochs=epochs, metric="val_accuracy", mode="max")
    start = time.perf_counter()
    for config in configs:
        run = TrainingRun(HParams.from_config(config), data, settings)
        for _ in range(epochs):
            run.step()
    total = time.perf_counter() - start
    return {"sequential_s": total, "limit_s": total / CORES}


def epoch_throughput(rows: int = 50_000, features: int = 20, repeats: int = 9) -> dict[str, Any]:
    """hpsearch's epoch vs a bare torch loop vs a per-sample Dataset + DataLoader loop."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from hpsearch.data import TabularData
    from hpsearch.trainable import HParams, TrainingRun, TrainSettings

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int64)
    data = TabularData(
        "bench",
        "classification",
        x,
        y,
        x[:1000],
        y[:1000],
        x[:10],
        y[:10],
        tuple(f"f{i}" for i in range(features)),
        ("0", "1"),
    )
    hp = HParams(optimizer="adam", lr=1e-3, hidden_sizes=(128, 128), batch_size=128, seed=0)
    settings = TrainSettings(max_epochs=1, metric="val_accuracy", mode="max")

    run = TrainingRun(hp, data, settings)

    def make() -> tuple[nn.Module, torch.optim.Optimizer]:
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2)
        )
        return model, torch.optim.Adam(model.parameters(), lr=1e-3)

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model, opt = make()

    def bare() -> None:
        order = torch.randperm(rows)
        for i in range(0, rows, 128):
            idx = order[i : i + 128]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()

    model2, opt2 = make()
    loader = DataLoader(TensorDataset(xt, yt), batch_size=128, shuffle=True)

    def dataloader() -> None:
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(model2(xb), yb)
            opt2.zero_grad()
            loss.backward()
            opt2.step()

    # Interleave the three loops and keep each one's best time, so a slow
    # moment of the machine cannot land on one of them only.
    loops = {"hpsearch": run.train_epoch, "bare": bare, "dataloader": dataloader}
    best = dict.fromkeys(loops, float("inf"))
    for fn in loops.values():
        fn()  # warm-up
    for _ in range(repeats):
        for name, fn in loops.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    ours, bare_s, loader_s = best["hpsearch"], best["bare"], best["dataloader"]
    return {"hpsearch_s": ours, "bare_s": bare_s, "dataloader_s": loader_s}


def gpu_search(
    dataset: str, trials: int, epochs: int, gpus_per_trial: float, pack: int = 1
) -> dict[str, Any]:
    """A search on one GPU, ``gpus_per_trial`` each (a pack of ``pack`` trials per Tune
    trial); GPU utilization sampled meanwhile."""
    import subprocess
    import threading

    from hpsearch import SearchConfig, run_search
    from hpsearch.tuning._local_ray import local_ray

    samples: list[float] = []
    done = threading.Event()

    def sample() -> None:  # nvidia-smi every 0.5 s: the first GPU's utilization, %
        while not done.wait(0.5):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
            )
            if out.returncode == 0 and out.stdout.strip():
                samples.append(float(out.stdout.splitlines()[0]))

    config = SearchConfig(
        dataset=dataset,
        space="mlp",
        num_samples=trials,
        max_epochs=epochs,
        scheduler="none",
        gpus_per_trial=gpus_per_trial,
        cpus_per_trial=1,
        pack=pack,
        seed=0,
        storage=tempfile.mkdtemp(prefix="hpbench-gpu-"),
    )
    with local_ray(num_gpus=1) as ray_start:
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        result = run_search(config, echo=None)
        done.set()
        sampler.join()
    wall = result.summary["wall_time_s"]
    return {
        "gpus_per_trial": gpus_per_trial,
        "pack": pack,
        "wall_s": wall,
        "ray_start_s": ray_start,
        "trials": trials,
        "trials_per_min": trials / wall * 60,
        "gpu_util_mean": float(np.mean(samples)) if samples else 0.0,
        "gpu_util_samples": len(samples),
        "concurrency": result.summary["concurrency"],
    }


def pareto_search(
    dataset: str,
    trials: int,
    epochs: int,
    sampler: str,
    scheduler: str,
    seed: int,
    objectives: str,
) -> dict[str, Any]:
    """A search on several objectives (benchmarks/pareto.py): each trial's point at its
    best epoch by the primary objective, and the epochs every trial trained."""
    result, _ = _search(
        dataset=dataset,
        num_samples=trials,
        max_epochs=epochs,
        sampler=sampler,
        scheduler=scheduler,
        seed=seed,
        objectives=objectives,
    )
    named = result.summary["objectives"]
    metrics = [o.split(":")[0] for o in named]
    primary, mode = named[0].split(":")
    points, n_epochs = [], 0
    for i in range(len(result.results)):
        frame = result.results[i].metrics_dataframe
        if frame is None or primary not in frame:
            continue
        n_epochs += len(frame)
        frame = frame.dropna(subset=[primary])
        if len(frame):
            row = frame.loc[frame[primary].idxmax() if mode == "max" else frame[primary].idxmin()]
            points.append([float(row[m]) for m in metrics])
    return {
        "epochs": n_epochs,
        "points": points,
        "front": result.summary.get("front"),
        "wall_s": result.summary["wall_time_s"],
    }


if __name__ == "__main__":
    name, kwargs = sys.argv[1], json.loads(sys.argv[2])
    print("RESULT " + json.dumps(globals()[name](**kwargs), default=str))
