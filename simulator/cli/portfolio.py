"""``stress-sim portfolio``: make or check a loan tape."""

from __future__ import annotations

import json
from pathlib import Path

import click

from simulator.cli.common import (
    debug_option,
    encoding_option,
    model_option,
    sheet_option,
    write_atomically,
)
from simulator.errors import InputError


@click.group()
@debug_option
def portfolio() -> None:
    """Make or check a loan tape (CSV, Parquet or Excel)."""


@portfolio.command("synth")
@click.argument("n", type=click.IntRange(min=1))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the tape: .parquet or .csv.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Random seed: the same seed gives the same book.",
)
@model_option
@debug_option
def portfolio_synth(n: int, out: Path, seed: int, model: str) -> None:
    """Write a synthetic book of N loans (Jiebei-like mix of segments, scores and terms)."""
    from simulator.inputs.portfolio import SUFFIXES
    from simulator.inputs.synthetic import synthetic_portfolio

    kind = SUFFIXES.get(out.suffix.lower())
    if kind is None:
        raise InputError(out, "expected an output path ending in .parquet or .csv")
    book = synthetic_portfolio(n, seed=seed, model=model)
    table = book.to_table()

    def write(path: str) -> None:
        if kind == "parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, path)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, path)

    write_atomically(out, write)
    click.echo(f"wrote {n:,} loans to {out} (seed {seed}, sha256 {book.sha256[:12]})")


@portfolio.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@model_option
@encoding_option
@sheet_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@debug_option
def portfolio_check(
    path: Path, model: str, encoding: str | None, sheet: str | None, as_json: bool
) -> None:
    """Validate a loan tape and summarise it: loans and exposure by segment, tier and bucket,
    and the unknown values of the optional columns.

    PATH is a .csv (UTF-8 or GB18030, detected; --encoding to choose), .parquet or .xlsx file
    (the first sheet; --sheet to choose). Every bad row is reported (row numbers count data rows
    from 1); exit status 2 if any. Blank (or 0) optional values are unknown, not errors;
    monthly_income and origination_date are carried but not used by the engine.
    """
    from simulator.inputs.portfolio import UNUSED, load_portfolio

    book = load_portfolio(path, model=model, encoding=encoding, sheet=sheet)
    summary = book.summary() | {
        "source": str(path),
        "sha256": book.sha256,
        "warnings": list(book.warnings),
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{path}[/bold]: {summary['loans']:,} loans, "
        f"principal {summary['principal']:,.2f} CNY, sha256 {book.sha256[:12]}"
    )
    for by in ("segment", "tier", "state"):
        table = Table(title=f"by {by}", title_justify="left")
        table.add_column(by)
        table.add_column("loans", justify="right")
        table.add_column("share", justify="right")
        table.add_column("principal (CNY)", justify="right")
        for name, row in summary[by].items():  # type: ignore[attr-defined]
            share = row["loans"] / summary["loans"]
            table.add_row(name, f"{row['loans']:,}", f"{share:.1%}", f"{row['principal']:,.2f}")
        console.print(table)
    table = Table(title="optional columns: unknown values", title_justify="left")
    for column in ("column", "unknown", "used by the engine"):
        table.add_column(column, justify="right" if column == "unknown" else "left")
    uses = {"original_term": "yes: the term of new loans drawn from the loan (else the "
            "remaining term rounded up to a quarter)"}  # fmt: skip
    for name, count in book.unknown().items():
        use = "no: carried, not used by the engine" if name in UNUSED else uses[name]
        table.add_row(name, f"{count:,} of {len(book):,} unknown", use)
    console.print(table)


COMMANDS = (portfolio,)
