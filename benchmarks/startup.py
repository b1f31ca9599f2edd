"""How fast the inspection commands answer: ``hpsearch list`` and ``hpsearch best``.

Target (issue: layered packages): both start and answer in under 0.5 s on
2 cores, importing neither torch nor Ray. Each command runs as a user runs
it, in a fresh process, on a real experiment written by a small search; the
baseline is a bare ``python -c pass`` measured in the same run, so the
ratio says what hpsearch adds to the interpreter's own start.

    python benchmarks/startup.py [--repeats 15] [--json out.json]
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

HPSEARCH = [sys.executable, "-m", "hpsearch"]
HEAVY = ("torch", "ray", "optuna")
TARGET_S = 0.5


def seconds(command: list[str], env: dict[str, str], repeats: int) -> float:
    """Median wall time of ``command`` over ``repeats`` fresh processes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def heavy_imports(args: list[str], env: dict[str, str]) -> list[str]:
    """Which of torch, Ray and Optuna the command imports (it should be none)."""
    script = (
        "import sys\nfrom hpsearch.commands import cli\n"
        f"try:\n    cli.main({args!r}, prog_name='hpsearch')\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    return list(json.loads(out.stderr.strip().splitlines()[-1].replace("'", '"')))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        env = {**os.environ, "HPSEARCH_STORAGE": root}
        subprocess.run(
            [*HPSEARCH, "run", "--space", "quick", "--num-samples", "4", "--max-epochs", "3",
             "--name", "bench", "--quiet"],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        python = seconds([sys.executable, "-c", "pass"], env, args.repeats)
        rows = []
        for command in (["list"], ["best", "bench"]):
            took = seconds([*HPSEARCH, *command], env, args.repeats)
            imported = heavy_imports(command, env)
            rows.append(
                {
                    "command": "hpsearch " + " ".join(command),
                    "seconds": round(took, 3),
                    "python_s": round(python, 3),
                    "ratio_to_python": round(took / python, 2),
                    "imports": imported,
                    "met": took < TARGET_S and not imported,
                }
            )
    report = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "target": f"< {TARGET_S} s, no torch/ray/optuna",
        "rows": rows,
    }
    print("| command | median s | bare python s | ratio | heavy imports | met |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| `{r['command']}` | {r['seconds']:.3f} | {r['python_s']:.3f} | "
            f"{r['ratio_to_python']:.1f}x | {', '.join(r['imports']) or 'none'} | "
            f"{'yes' if r['met'] else 'no'} |"
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
