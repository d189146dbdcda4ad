"""The ``stress-sim`` command line: thin wrappers over the library.

Domain errors (:class:`~simulator.errors.InputError`) become one message and exit status 2;
anything else is an internal error, exit status 1. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from simulator import __version__
from simulator.errors import InputError
from simulator.inputs import files

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("simulator")


class BadInput(click.ClickException):
    exit_code = 2


class _Group(click.Group):
    """Turns library errors into clean exits at the boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as err:
            if _debug(ctx):
                raise
            raise BadInput(str(err)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as err:
            if _debug(ctx):
                raise
            click.echo(
                f"internal error: {type(err).__name__}: {err} (run with --debug for the traceback)",
                err=True,
            )
            ctx.exit(1)


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.meta.get("debug")) or "--debug" in sys.argv


def _set_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.find_root().meta["debug"] = True


debug_option = click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    callback=_set_debug,
    is_eager=True,
    help="Show the full traceback on errors.",
)
model_option = click.option(
    "--model",
    "model",
    default="default",
    show_default=True,
    metavar="NAME|PATH",
    help="Model file: a shipped name or a path to a .toml file.",
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stress-sim")
@debug_option
def main() -> None:
    """Monte Carlo stress simulator for consumer and small-business instalment credit.

    Simulates borrower repayment paths month by month under macro scenarios and post-loan
    policies, and reports the distribution of credit losses and liquidity. Start with
    `stress-sim scenarios list` to see the shipped scenario, policy, model and treasury files,
    and `stress-sim portfolio synth 100000 --out book.parquet` for a test book.
    """
    logging.basicConfig(format="warning: %(message)s", level=logging.WARNING)


# --- portfolio ---------------------------------------------------------------------------


@main.group(cls=_Group)
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
            share = row["loans"] / summary["loans"]  # type: ignore[operator]
            table.add_row(name, f"{row['loans']:,}", f"{share:.1%}", f"{row['principal']:,.2f}")
        console.print(table)


# --- scenarios and other configuration files ----------------------------------------------


@main.group(cls=_Group)
@debug_option
def scenarios() -> None:
    """List, show and check scenario, policy, model and treasury files."""


@scenarios.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@debug_option
def scenarios_list(as_json: bool) -> None:
    """List the shipped files of every kind, with their descriptions."""
    from simulator.inputs.files import read_toml

    rows = []
    for kind in files.KINDS:
        for name in files.shipped_names(kind):
            data, _ = read_toml(files.resolve(kind, name))
            rows.append({"kind": kind, "name": name, "description": data.get("description", "")})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("kind", "name", "description", title=f"shipped files in {files.shipped_dir()}")
    for row in rows:
        table.add_row(row["kind"], row["name"], row["description"])
    Console().print(table)


@scenarios.command("show")
@click.argument("name")
@click.option("--kind", type=click.Choice(files.KINDS), help="Only files of this kind.")
@debug_option
def scenarios_show(name: str, kind: str | None) -> None:
    """Print a shipped file (its numbers and the comments saying where they come from)."""
    kinds = [kind] if kind else list(files.KINDS)
    found = [k for k in kinds if name in files.shipped_names(k)]  # type: ignore[arg-type]
    if not found:
        raise InputError(None, f"no shipped file named '{name}'; see `stress-sim scenarios list`")
    for k in found:
        path = files.resolve(k, name)  # type: ignore[arg-type]
        click.echo(f"# {k} '{name}' ({path})")
        click.echo(path.read_text(encoding="utf-8"))


@scenarios.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(files.KINDS),
    help="The file's kind (default: guessed from its tables).",
)
@model_option
@debug_option
def scenarios_check(path: Path, kind: str | None, model: str) -> None:
    """Validate a scenario, policy, model or treasury file (names checked against --model)."""
    from simulator.inputs import check_file

    kind, obj = check_file(path, kind, model)  # type: ignore[arg-type]
    click.echo(f"ok: {kind} '{obj.name}' - {obj.description or 'no description'}")


# --- helpers ------------------------------------------------------------------------------


def write_atomically(out: Path, write: Callable[[str], None]) -> None:
    """Write through a temporary file beside ``out`` and rename it: never a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
