"""``hpsearch export-model`` and ``hpsearch predict``: use the winner."""

from __future__ import annotations

import click

from hpsearch import experiments, models
from hpsearch.commands._shared import exp_argument, output_option, storage_option
from hpsearch.errors import UserError
from hpsearch.metrics import format_value


@click.command(name="export-model")
@exp_argument
@storage_option
@output_option("model.pt", "TorchScript archive to write.")
@click.option(
    "--trial",
    "number",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Export trial number N instead of the best (`hpsearch trials EXP` lists them).",
)
def export_model(exp: str, storage: str | None, output: str, number: int | None) -> None:
    """Export the final model of EXP (or trial N), preprocessing included, as one
    TorchScript file.

    The final model is the ensemble of the top trials where the search adopted
    one (`hpsearch best EXP` says), else the best trial. Raw columns go in,
    predictions come out; loading it needs only torch:
    model = torch.jit.load("model.pt"); model.labels(numeric, categorical).
    """
    if not output.endswith(".pt"):
        raise UserError(f"cannot write model {output!r}: it must end in .pt")
    info = models.export_model(experiments.load_experiment(exp, storage), output, number)
    score = f"{info['metric']} {format_value(info['value'])}"
    if info.get("value_on"):
        score += f" on {info['value_on']}"
    if info.get("final") == "ensemble":
        members, picks = info["ensemble"]["members"], info["ensemble"]["picks"]
        s = "s" if len(members) != 1 else ""
        what = f"the ensemble of {len(members)} trial{s} ({', '.join(map(str, picks))})"
    else:
        what = f"trial #{info['trial_number']}"
    click.echo(
        f"Wrote {output}: {what} ({score}), "
        f"{len(info['numeric_columns'])} numeric and {len(info['categorical_columns'])} "
        f"categorical input columns, task {info['task']}"
    )


@click.command()
@click.argument("source", metavar="EXP_OR_MODEL")
@storage_option
@click.option("--data", required=True, help="Table to score: a file, directory or URI.")
@output_option("predictions.parquet", "Predictions: .parquet, .csv, .feather or .arrow.")
@click.option(
    "--keep", multiple=True, metavar="COLUMN", help="Copy this input column (an id) to the output."
)
def predict(
    source: str, storage: str | None, data: str, output: str, keep: tuple[str, ...]
) -> None:
    """Predict every row of --data with the final model of EXP, or an exported model.pt.

    Writes `prediction` (class name or value) and, for classification, one
    `probability_<class>` column per class. The target column may be absent;
    when present, the score on it is printed.
    """
    result = models.predict_table(source, data, output, keep, root=storage)
    score = ", ".join(f"{k} {format_value(v)}" for k, v in result.score.items())
    click.echo(f"Wrote {result.rows} predictions to {output}" + (f" ({score})" if score else ""))
