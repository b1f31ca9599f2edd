"""Where a pack pays: one epoch of K trials alone versus as one pack, in one process.

    python benchmarks/pack_epochs.py [--members 16] [--out PATH]

No Ray, no search: the training loops themselves, on the built-in ``teacher`` data
(3,600 training rows), torch on one thread. For each architecture, the mean epoch of
one trial (``TrainingRun``, validation included) times K, against the mean epoch of a
pack of K members of that architecture (``PackRun``, each member its own learning
rate and seed); the first epoch of each is left out (allocations, lazy imports). The
ratio is what a pack saves per trial on a CPU: the per-step overhead (Python, kernel
launches, optimizer bookkeeping), never the arithmetic, so it shrinks as the model
grows. ``benchmarks/packs.py`` measures whole searches.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.quality import machine

HERE = os.path.dirname(os.path.abspath(__file__))
#: From a small model, overhead-bound, to the ``mlp`` space's starting point.
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "2 x 64, batch 32": {"hidden_sizes": (64, 64), "batch_size": 32},
    "2 x 128, batch 64": {"hidden_sizes": (128, 128), "batch_size": 64},
    "3 x 256, batch 128": {"hidden_sizes": (256, 256, 256), "batch_size": 128},
    "3 x 256 + periodic embeddings, batch 128 (mlp's start)": {
        "hidden_sizes": (256, 256, 256),
        "batch_size": 128,
        "embedding": "periodic",
        "optimizer": "adamw",
        "lr_schedule": "cosine",
    },
}
EPOCHS = 3


def epoch_seconds(architecture: dict[str, Any], members: int) -> dict[str, float]:
    """Mean seconds of an epoch: one trial alone, and a pack of ``members``."""
    import torch

    from hpsearch.data import load_builtin
    from hpsearch.trainable import HParams, PackRun, TrainingRun, TrainSettings

    torch.set_num_threads(1)
    data = load_builtin("teacher")
    settings = TrainSettings(max_epochs=EPOCHS + 1, metric="val_accuracy", mode="max")
    hp = HParams(**{"optimizer": "adam", **architecture})
    single = TrainingRun(hp, data, settings)
    configs = [
        {**dataclasses.asdict(dataclasses.replace(hp, seed=i, lr=hp.lr * (1 + i / 10))),
         "trial_number": i}
        for i in range(members)
    ]  # fmt: skip
    pack = PackRun(configs, data, settings)
    timed = {}
    for name, run in (("single_s", single), ("pack_s", pack)):
        run.step()  # allocations and lazy imports
        start = time.perf_counter()
        for _ in range(EPOCHS):
            run.step()
        timed[name] = (time.perf_counter() - start) / EPOCHS
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--out", default=os.path.join(HERE, "pack_epochs.json"))
    args = parser.parse_args()
    rows = []
    print(f"| architecture | 1 trial's epoch | pack of {args.members}, epoch | per trial | gain |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, architecture in ARCHITECTURES.items():
        timed = epoch_seconds(architecture, args.members)
        gain = timed["single_s"] * args.members / timed["pack_s"]
        rows.append({"architecture": name, **timed, "gain": gain})
        print(
            f"| {name} | {timed['single_s'] * 1e3:.1f} ms | {timed['pack_s'] * 1e3:.0f} ms | "
            f"{timed['pack_s'] / args.members * 1e3:.1f} ms | {gain:.2f}x |",
            flush=True,
        )
    result = {"machine": machine(("torch", "numpy")), "members": args.members, "rows": rows}
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
