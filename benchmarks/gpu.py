"""GPU rows of the benchmark suite: fractional GPUs versus one trial per GPU, and packs.

Runs searches on one GPU, each in a fresh process (see ``suite.measure``): 8 trials
sharing the GPU (``gpus_per_trial=0.125``), one trial at a time (``gpus_per_trial=1``),
and packs of 64 trials trained as one batched model (``--pack 64``, two packs sharing
the GPU). Trials keep their model and the whole dataset on the device. Prints Markdown
rows and adds ``gpu`` and ``gpu_packs`` entries (with the card's name and the date) to
``results.json``. The pack row's targets (issue 16): >= 20x the trials per minute of
``gpus_per_trial=0.125`` and >= 60 % mean GPU utilization.

    .venv/bin/python benchmarks/gpu.py            # 48 trials x 10 epochs; packs: 256 trials
    .venv/bin/python benchmarks/gpu.py --quick    # 16 trials x 5 epochs, a smoke run

Needs an NVIDIA GPU and ``nvidia-smi``; elsewhere it says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from typing import Any

from suite import HERE, measure


def card() -> str | None:
    """The first GPU's name, or None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    names = out.stdout.strip().splitlines()
    return names[0].strip() if out.returncode == 0 and names else None


def main() -> None:
    parser = argparse.ArgumentParser(description="hpsearch GPU benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer trials and epochs")
    parser.add_argument("--json", default=os.path.join(HERE, "results.json"))
    args = parser.parse_args()
    name = card()
    if name is None:
        print("gpu.py: no NVIDIA GPU here (nvidia-smi finds none)", file=sys.stderr)
        sys.exit(2)
    trials, epochs = (16, 5) if args.quick else (48, 10)
    common: dict[str, Any] = {"dataset": "spirals", "trials": trials, "epochs": epochs}
    shared = measure("gpu_search", gpus_per_trial=0.125, **common)
    whole = measure("gpu_search", gpus_per_trial=1.0, **common)
    row = {
        "name": f"trials per minute, {trials} MLP trials x {epochs} epochs on one GPU",
        "hpsearch": shared["trials_per_min"],
        "baseline": whole["trials_per_min"],
        "baseline_name": "one trial per GPU",
        "ratio": shared["trials_per_min"] / whole["trials_per_min"],
        "target": "more trials per minute than one per GPU",
        "met": shared["trials_per_min"] > whole["trials_per_min"],
        "detail": {"card": name, "date": str(date.today()), "shared": shared, "whole": whole},
    }
    print(f"\nhpsearch GPU benchmark, {date.today()}, {name}\n")
    print("| benchmark | 8 trials per GPU | 1 trial per GPU | ratio | GPU utilization |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {row['name']} | {shared['trials_per_min']:.1f} | {whole['trials_per_min']:.1f} | "
        f"{row['ratio']:.2f} | {shared['gpu_util_mean']:.0f} % vs {whole['gpu_util_mean']:.0f} % |"
    )
    pack_trials = 64 if args.quick else 256
    packed = measure("gpu_search", gpus_per_trial=0.5, pack=64, **{**common, "trials": pack_trials})
    ratio = packed["trials_per_min"] / shared["trials_per_min"]
    packs = {
        "name": f"trials per minute, packs of 64 ({pack_trials} trials x {epochs} epochs) "
        "vs 8 single trials sharing the GPU",
        "hpsearch": packed["trials_per_min"],
        "baseline": shared["trials_per_min"],
        "baseline_name": "gpus_per_trial 0.125, one trial per worker",
        "ratio": ratio,
        "target": ">= 20x trials per minute and >= 60 % mean GPU utilization",
        "met": ratio >= 20 and packed["gpu_util_mean"] >= 60,
        "detail": {"card": name, "date": str(date.today()), "packed": packed, "shared": shared},
    }
    print(
        f"| {packs['name']} | {packed['trials_per_min']:.1f} | "
        f"{shared['trials_per_min']:.1f} | {ratio:.2f} | "
        f"{packed['gpu_util_mean']:.0f} % vs {shared['gpu_util_mean']:.0f} % |"
    )
    results: dict[str, Any] = {}
    if os.path.exists(args.json):
        with open(args.json) as f:
            results = json.load(f)
    results["gpu"] = row
    results["gpu_packs"] = packs
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2, default=str)


if __name__ == "__main__":
    main()
