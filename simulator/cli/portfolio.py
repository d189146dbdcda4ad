"""``stress-sim portfolio``: make or check a loan tape."""

from __future__ import annotations

import json
from pathlib import Path

import click

from simulator.cli.common import debug_option, model_option, write_atomically
from simulator.errors import InputError


@click.group()
@debug_option
def portfolio() -> None:
    """Make or check a loan tape (CSV or Parquet)."""


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
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@debug_option
def portfolio_check(path: Path, model: str, as_json: bool) -> None:
    """Validate a loan tape and summarise it: loans and exposure by segment, tier and bucket.

    Every bad row is reported (row numbers count data rows from 1); exit status 2 if any.
    """
    from simulator.inputs.portfolio import load_portfolio

    book = load_portfolio(path, model=model)
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


COMMANDS = (portfolio,)
