"""Hostile values on the output side: huge cells in the exported model,
``--keep`` clashing with output columns, and spreadsheet formulas in CSV."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner

from hpsearch.commands import cli
from hpsearch.data import stable_hash
from hpsearch.data._encode import one_hot_lookup
from hpsearch.errors import UserError
from hpsearch.experiments._tables import write_table
from hpsearch.models._predict import predict_table
from hpsearch.models._predictor import Preprocess, _fnv1a
from tests.factory import FakeTrial, make_experiment
from tests.models.tiny_model import HOSTILE, TOWN
from tests.models.tiny_model import save_model as _save_model


def _random_text(rng: random.Random, length: int) -> str:
    """Code points of every UTF-8 width: ASCII and controls, Latin, CJK, emoji, astral."""
    ranges = [(0, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x1F300, 0x1FAFF)]
    ranges.append((0x10000, 0x10FFFF))
    return "".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(length))


class _CountedStr(str):
    """A str that counts the slices taken of it and the characters they copy."""

    slices = 0
    copied = 0

    def __getitem__(self, key: object) -> str:
        part = super().__getitem__(key)  # type: ignore[index]
        self.slices += 1
        self.copied += len(part)
        return part


def test_scripted_buckets_equal_the_training_encoders() -> None:
    rng = random.Random(14)
    values = ["", "a", "é", "😀", "Zürich-3", "\x00", "東京"]
    values += [_random_text(rng, rng.choice([1, 2, 7, 40, 300])) for _ in range(400)]
    # Around the 64 KiB slices the scripted hash reads (a wide character straddling one).
    values += ["x" * 65_535 + "😀", "é" * 32_768, "a" * 65_537, _random_text(rng, 40_000)]
    values = list(dict.fromkeys(values))
    scripted = torch.jit.script(Preprocess([{**TOWN, "indicator": False}]))
    with torch.inference_mode():
        out = scripted({}, {"town": values})
    assert out.sum(dim=1).tolist() == [1.0] * len(values)  # one bucket per value
    python = one_hot_lookup(TOWN, {v: i for i, v in enumerate(values)})[:-1]
    assert out.argmax(dim=1).tolist() == python.tolist()
    # All 32 bits agree, also past 64 slices (a string over 4 MiB takes longer ones).
    fnv = torch.jit.script(_fnv1a)
    long = ["é" * 2_100_000 + "😀", _random_text(rng, 3_000)]
    assert [fnv(v) for v in values + long] == [stable_hash(v) for v in values + long]


@pytest.mark.parametrize("size", [0, 10, 65_536, 65_537, 300_000])
def test_the_scripted_hash_copies_each_character_once(size: int) -> None:
    """Linear in the cell's size, whatever the machine's speed: TorchScript copies a str
    at each slice or index, so the hash takes at most ~64 slices that together copy
    the string once (indexing it per byte copied it per byte: minutes for 4 MB)."""
    cell = _CountedStr("é" * size)
    _fnv1a(cell)  # the scripted function's own source, run eagerly to count its copies
    assert cell.copied == size
    assert cell.slices == math.ceil(size / 65_536) <= 64


@pytest.mark.slow
def test_predict_on_megabyte_cells_finishes(tmp_path: Path) -> None:
    data = tmp_path / "big.parquet"
    cells = [_random_text(random.Random(i), 400_000) for i in range(4)]  # >= 1 MB each
    pq.write_table(pa.table({"x": [1.0, -1.0, 2.0, -2.0], "town": cells}), data)
    result = predict_table(
        str(_save_model(tmp_path / "m.pt")), str(data), str(tmp_path / "p.parquet")
    )
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
    args = ["predict", str(model), "--data", str(data), "-o", str(tmp_path / "p.csv")]
    result = CliRunner().invoke(cli, [*args, "--keep", "prediction"], prog_name="hpsearch")
    assert result.exit_code == 2, result.output
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


def test_export_csv_escapes_formulas_and_parquet_keeps_them(tmp_path: Path) -> None:
    # Hyperparameters a user's space chose; a negative R² (worse than the mean).
    params = {"activation": HOSTILE[0], "optimizer": "-2+3", "lr": -0.5}
    trial = FakeTrial(params=params, score=4.0, epochs=2)
    exp = make_experiment(tmp_path, "hostile", trials=[trial], task="regression", max_epochs=2)
    for suffix in ("csv", "parquet"):
        args = ["export", str(exp.path), "-o", str(tmp_path / f"t.{suffix}")]
        result = CliRunner().invoke(cli, args, prog_name="hpsearch")
        assert result.exit_code == 0, result.output
    csv = pacsv.read_csv(tmp_path / "t.csv")
    assert csv.column("params_activation").to_pylist() == ["'" + HOSTILE[0]] * 2
    assert csv.column("params_optimizer").to_pylist() == ["'-2+3"] * 2
    assert csv.column("params_lr").to_pylist() == [-0.5, -0.5]
    parquet = pq.read_table(tmp_path / "t.parquet")
    r2 = parquet.column("val_r2").to_pylist()
    assert all(v < 0 for v in r2) and csv.column("val_r2").to_pylist() == pytest.approx(r2)
    assert parquet.column("params_activation").to_pylist() == [HOSTILE[0]] * 2
    assert parquet.column("params_optimizer").to_pylist() == ["-2+3"] * 2


def test_csv_header_that_is_a_formula_is_escaped(tmp_path: Path) -> None:
    table = pa.table({"=cmd|' /C calc'!A0": ["-1"], "n": pa.array([-1.0])})
    write_table(table, str(tmp_path / "t.csv"))
    write_table(table, str(tmp_path / "t.parquet"))
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == '"\'=cmd|\' /C calc\'!A0","n"'
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == '"\'-1",-1'
    assert pq.read_table(tmp_path / "t.parquet").equals(table)
