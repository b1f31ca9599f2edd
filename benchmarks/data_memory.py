"""Driver memory when loading and tuning on a large table.

Target (issue: own data): a 1,000,000 x 50 table loads and tunes on a
24 GB machine with the driver's peak memory at most 3x the float32 feature
matrix (200 MB here). Peak memory is measured as the growth of the
driver's peak RSS over its RSS once every library is imported, in a fresh
process per phase, so one phase's peak cannot hide another's.

    python benchmarks/data_memory.py [--rows 1000000] [--cols 50] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PHASE = r"""
import json, resource, sys, time
import numpy, pyarrow, torch, ray, optuna  # the driver's libraries, imported before the baseline
from hpsearch import SearchConfig, run_search
from hpsearch.data import TableSpec, load_table

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

path, phase, storage = sys.argv[1], sys.argv[2], sys.argv[3]
base = rss_mb()
start = time.perf_counter()
if phase == "load":
    data = load_table(TableSpec(path, "y"))
    shape = list(data.x_train.shape)
else:
    cfg = SearchConfig(data=path, target="y", space="quick", num_samples=2, max_epochs=1,
                       storage=storage, scheduler="none")
    result = run_search(cfg, echo=None)
    shape = result.summary["split_sizes"]
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
row = {"phase": phase, "base_mb": base, "peak_mb": peak, "seconds": seconds, "shape": shape}
print(json.dumps(row))
"""


def make_table(path: str, rows: int, cols: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    writer = None
    chunk = 200_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        x = rng.normal(size=(n, cols))  # float64, as most real tables are
        y = (x[:, 0] + x[:, 1] * x[:, 2] > 0).astype(np.int64)
        table = pa.table({**{f"f{i}": x[:, i] for i in range(cols)}, "y": y})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    matrix_mb = args.rows * args.cols * 4 / 2**20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.parquet")
        t = time.perf_counter()
        make_table(path, args.rows, args.cols)
        print(
            f"wrote {args.rows:,} x {args.cols} float64 parquet in {time.perf_counter() - t:.1f}s"
        )
        for phase in ("load", "search"):
            out = subprocess.run(
                [sys.executable, "-c", PHASE, path, phase, os.path.join(tmp, "results")],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(out.stdout.strip().splitlines()[-1])
            row["growth_mb"] = row["peak_mb"] - row["base_mb"]
            row["ratio_to_matrix"] = row["growth_mb"] / matrix_mb
            rows.append(row)
    print(f"\nfloat32 feature matrix: {matrix_mb:.0f} MB (target: driver peak growth <= 3x)\n")
    print("| phase | driver RSS at start | peak RSS | growth | growth / matrix | time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['phase']} | {r['base_mb']:.0f} MB | {r['peak_mb']:.0f} MB "
            f"| {r['growth_mb']:.0f} MB | {r['ratio_to_matrix']:.2f}x | {r['seconds']:.1f}s |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"rows": args.rows, "cols": args.cols, "matrix_mb": matrix_mb, "phases": rows},
                f,
                indent=2,
            )


if __name__ == "__main__":
    main()
