"""A model's inference latency on the serving CPU: one row, and a batch of 1,024 rows.

What it measures: eager PyTorch forward passes of the model in eval mode under
``inference_mode``, on the CPU with one torch thread (so trials sharing a machine
compare, and the number is a per-core cost), on real input rows. A few untimed
warm-up passes come first (allocator, caches); the result is the median of the timed
passes, which shrugs off a pass another process interrupted. For one row the time is
mostly PyTorch's per-layer overhead, not arithmetic: it grows with depth more than
width. On a busy machine expect a few percent of noise, more when cores are
oversubscribed.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

#: The batch sizes measured and the metric each is reported as.
BATCHES = {"latency_ms": 1, "latency_1024_ms": 1024}


@dataclass(frozen=True)
class Repeats:
    """How often one batch size runs: untimed warm-up passes, then timed ones until
    ``budget_s`` is spent, but at least ``least`` and at most ``most`` of them."""

    warmup: int
    least: int
    most: int
    budget_s: float


# About 50 ms a trial for the default space: one row is cheap, so many passes; a
# large model's 1,024 rows take milliseconds a pass, so fewer (the median of 7 is stable).
REPEATS = {1: Repeats(5, 25, 400, 0.010), 1024: Repeats(2, 7, 50, 0.030)}


def measure_latency(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """``latency_ms`` and ``latency_1024_ms``: median milliseconds of a forward pass of
    ``model`` over 1 and over 1,024 rows of ``x`` (cycled when it has fewer), on the CPU.

    A model on a GPU is timed as a CPU copy; ``model`` itself, the global RNG and
    torch's thread count are left as they were.
    """
    rows = x[torch.arange(max(BATCHES.values()), device=x.device) % len(x)].cpu().contiguous()
    on_cpu = all(p.device.type == "cpu" for p in model.parameters())
    served = model if on_cpu else copy.deepcopy(model).cpu()
    was_training, threads = model.training, torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        served.eval()
        with torch.inference_mode():
            return {
                name: _median_ms(served, rows[:size], REPEATS[size])
                for name, size in BATCHES.items()
            }
    finally:
        model.train(was_training)
        torch.set_num_threads(threads)


def _median_ms(model: nn.Module, x: torch.Tensor, repeats: Repeats) -> float:
    for _ in range(repeats.warmup):
        model(x)
    times: list[float] = []
    deadline = time.perf_counter() + repeats.budget_s
    while len(times) < repeats.most and (
        len(times) < repeats.least or time.perf_counter() < deadline
    ):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0
