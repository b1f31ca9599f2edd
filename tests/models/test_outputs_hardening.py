"""Hostile values on the output side: huge cells in the exported model,
``--keep`` clashing with output columns, and spreadsheet formulas in CSV."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from hpsearch.data import stable_hash
from hpsearch.data._encode import HASH_BUCKETS, one_hot_lookup
from hpsearch.errors import UserError
from hpsearch.experiments._tables import write_table
from hpsearch.models._predict import predict_table
from hpsearch.models._predictor import Preprocess, _fnv1a, build_predictor, save_predictor
from tests.searches import HPSEARCH

#: Class names a spreadsheet would run as formulas.
HOSTILE = ['=HYPERLINK("http://evil.example","click")', "-2+3"]
_TOWN = {"name": "town", "kind": "hash", "buckets": HASH_BUCKETS, "indicator": True}


def _save_model(path: Path) -> Path:
    """A classifier on x (numeric) and town (hashed): x > 0 -> HOSTILE[0], x < 0 -> HOSTILE[1]."""
    x = {"name": "x", "kind": "numeric", "median": 0.0, "mean": 0.0, "std": 1.0}
    plans = [{**x, "indicator": False}, _TOWN]
    mlp = nn.Linear(1 + HASH_BUCKETS + 1, 2)
    with torch.no_grad():
        mlp.weight.zero_()
        mlp.bias.zero_()
        mlp.weight[0, 0], mlp.weight[1, 0] = 1.0, -1.0
    record = {
        "task": "classification",
        "class_names": HOSTILE,
        "preprocessing": {"columns": plans, "target": "label"},
    }
    metadata = {**record, "target": "label", "numeric_columns": ["x"]}
    metadata["categorical_columns"] = ["town"]
    save_predictor(build_predictor(mlp, record, (0.0, 1.0)), str(path), metadata)
    return path


def _random_text(rng: random.Random, length: int) -> str:
    """Code points of every UTF-8 width: ASCII and controls, Latin, CJK, emoji, astral."""
    ranges = [(0, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x1F300, 0x1FAFF)]
    ranges.append((0x10000, 0x10FFFF))
    return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(length))


# In a torch-only process, as any caller of model.pt: the best of two timings
# of labels() on one cell of 1 MB, then of 4 MB.
_TIME_HUGE_CELLS = """
import json, sys, time, torch
model = torch.jit.load(sys.argv[1])
times = []
for megabytes in (1, 4):
    cell = "é😀x" * (megabytes * (1 << 20) // 7)  # 7 UTF-8 bytes per repeat
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        model.labels({"x": torch.tensor([1.0])}, {"town": [cell]})
        best = min(best, time.perf_counter() - start)
    times.append(best)
print(json.dumps(times))
"""


def test_scripted_buckets_equal_the_training_encoders() -> None:
    rng = random.Random(14)
    values = ["", "a", "é", "😀", "Zürich-3", "\x00", "東京"]
    values += [_random_text(rng, rng.choice([1, 2, 7, 40, 300])) for _ in range(400)]
    # Around the 64 KiB slices the scripted hash reads (a wide character straddling one).
    values += ["x" * 65_535 + "😀", "é" * 32_768, "a" * 65_537, _random_text(rng, 40_000)]
    values = list(dict.fromkeys(values))
    scripted = torch.jit.script(Preprocess([{**_TOWN, "indicator": False}]))
    with torch.inference_mode():
        out = scripted({}, {"town": values})
    assert out.sum(dim=1).tolist() == [1.0] * len(values)  # one bucket per value
    python = one_hot_lookup(_TOWN, {v: i for i, v in enumerate(values)})[:-1]
    assert out.argmax(dim=1).tolist() == python.tolist()
    # All 32 bits agree, also past 64 slices (a string over 4 MiB takes longer ones).
    fnv = torch.jit.script(_fnv1a)
    long = ["é" * 2_100_000 + "😀", _random_text(rng, 3_000)]
    assert [fnv(v) for v in values + long] == [stable_hash(v) for v in values + long]


def test_scripted_model_hashes_a_huge_cell_in_linear_time(tmp_path: Path) -> None:
    model = _save_model(tmp_path / "m.pt")
    # ~5 s in all here; the quadratic hash took minutes for the 4 MB cell alone.
    out = subprocess.run(
        [sys.executable, "-I", "-c", _TIME_HUGE_CELLS, str(model)],
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    one, four = json.loads(out.stdout)
    # Linear time: ~4x for 4x the bytes (quadratic: ~16x).
    assert four < 60 and four / max(one, 1e-3) < 10, (one, four)


def test_predict_on_megabyte_cells_finishes(tmp_path: Path) -> None:
    data = tmp_path / "big.parquet"
    cells = [_random_text(random.Random(i), 400_000) for i in range(4)]  # >= 1 MB each
    pq.write_table(pa.table({"x": [1.0, -1.0, 2.0, -2.0], "town": cells}), data)
    start = time.perf_counter()
    result = predict_table(
        str(_save_model(tmp_path / "m.pt")), str(data), str(tmp_path / "p.parquet")
    )
    assert time.perf_counter() - start < 60
    assert result.rows == 4
    assert pq.read_table(tmp_path / "p.parquet").column("prediction").to_pylist() == HOSTILE * 2


@pytest.mark.parametrize("kept", ["prediction", "probability_-2+3"])
def test_keep_refuses_a_column_the_predictions_overwrite(tmp_path: Path, kept: str) -> None:
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0], "town": ["a"], kept: ["mine"]}), data)
    with pytest.raises(UserError, match=re.escape(f"cannot --keep column {kept!r}")):
        predict_table(
            str(_save_model(tmp_path / "m.pt")), str(data), str(tmp_path / "p.csv"), (kept,)
        )
    assert not list(tmp_path.glob("p.*"))


def test_keep_clash_is_one_line_from_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "d.parquet"
    pq.write_table(pa.table({"x": [1.0], "town": ["a"], "prediction": ["mine"]}), data)
    model = _save_model(tmp_path / "m.pt")
    cmd = [*HPSEARCH, "predict", str(model), "--data", str(data), "-o", str(tmp_path / "p.csv")]
    result = subprocess.run([*cmd, "--keep", "prediction"], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot --keep column 'prediction'" in result.stderr
    assert not (tmp_path / "p.csv").exists()


def test_predictions_csv_escapes_formulas_and_other_formats_keep_them(tmp_path: Path) -> None:
    data = tmp_path / "d.parquet"
    notes = ["@SUM(A1)", "+1", "\tx", "plain", None]
    ids = pa.array([-3, -2, 0, 5, 7], pa.int64())
    table = pa.table({"id": ids, "x": [1.0, -1.0, 1.0, -1.0, 1.0], "town": ["a"] * 5})
    pq.write_table(table.append_column("note", pa.array(notes)), data)
    model = str(_save_model(tmp_path / "m.pt"))
    labels = [HOSTILE[0], HOSTILE[1], HOSTILE[0], HOSTILE[1], HOSTILE[0]]
    for suffix in ("csv", "parquet", "feather"):
        predict_table(model, str(data), str(tmp_path / f"p.{suffix}"), ("id", "note"))

    text = (tmp_path / "p.csv").read_text()
    assert "\"'=HYPERLINK(" in text and '"\'-2+3"' in text and '"\'@SUM(A1)"' in text
    assert '"=HYPERLINK' not in text and '"-2+3"' not in text
    csv = pacsv.read_csv(tmp_path / "p.csv")
    assert csv.column("prediction").to_pylist() == ["'" + v for v in labels]
    assert csv.column("note").to_pylist() == ["'@SUM(A1)", "'+1", "'\tx", "plain", ""]
    # Numbers stay numbers: negative ids are not text, and not escaped.
    assert csv.column("id").to_pylist() == ids.to_pylist()
    assert csv.schema.field("id").type == pa.int64()
    # Parquet and Feather hold the values exactly.
    for written in (
        pq.read_table(tmp_path / "p.parquet"),
        feather.read_table(tmp_path / "p.feather"),
    ):
        assert written.column("prediction").to_pylist() == labels
        assert written.column("note").to_pylist() == notes


def _fake_experiment(root: Path) -> Path:
    """An experiment as storage holds it (record, summary, one trial), without a search."""
    exp = root / "hostile"
    trial = exp / "trial_ab12"
    trial.mkdir(parents=True)
    record = {"config": {"max_epochs": 2, "num_samples": 1}, "metric": "val_loss", "mode": "min"}
    (exp / "hpsearch.json").write_text(json.dumps(record))
    (exp / "summary.json").write_text(json.dumps({"ended": "finished"}))
    params = {"trial_number": 0, "activation": HOSTILE[0], "optimizer": "-2+3", "lr": -0.5}
    (trial / "params.json").write_text(json.dumps(params))
    rows = [{"epoch": e, "val_loss": -1.5 * e, "done": e == 2} for e in (1, 2)]
    (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return exp


def test_export_csv_escapes_formulas_and_parquet_keeps_them(tmp_path: Path) -> None:
    exp = _fake_experiment(tmp_path)
    for suffix in ("csv", "parquet"):
        subprocess.run(
            [*HPSEARCH, "export", str(exp), "-o", str(tmp_path / f"t.{suffix}")],
            check=True,
            capture_output=True,
        )
    csv = pacsv.read_csv(tmp_path / "t.csv")
    assert csv.column("params_activation").to_pylist() == ["'" + HOSTILE[0]] * 2
    assert csv.column("params_optimizer").to_pylist() == ["'-2+3"] * 2
    assert csv.column("params_lr").to_pylist() == [-0.5, -0.5]
    assert csv.column("val_loss").to_pylist() == [-1.5, -3.0]
    parquet = pq.read_table(tmp_path / "t.parquet")
    assert parquet.column("params_activation").to_pylist() == [HOSTILE[0]] * 2
    assert parquet.column("params_optimizer").to_pylist() == ["-2+3"] * 2


def test_csv_header_that_is_a_formula_is_escaped(tmp_path: Path) -> None:
    table = pa.table({"=cmd|' /C calc'!A0": ["-1"], "n": pa.array([-1.0])})
    write_table(table, str(tmp_path / "t.csv"))
    write_table(table, str(tmp_path / "t.parquet"))
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == '"\'=cmd|\' /C calc\'!A0","n"'
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == '"\'-1",-1'
    assert pq.read_table(tmp_path / "t.parquet").equals(table)
