"""What the commands share: the ``--debug``, ``--model`` and tape-reading options, the options
of a run, running ``simulate`` from them with a progress bar, terminal tables and atomic
writes."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from simulator.errors import InputError

if TYPE_CHECKING:
    import xarray as xr

F = TypeVar("F", bound=Callable[..., Any])


def debug_requested(ctx: click.Context) -> bool:
    """Whether ``--debug`` was given, on any command of the line."""
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
encoding_option = click.option(
    "--encoding",
    metavar="NAME",
    help="Text encoding of a CSV tape (a Python codec name: utf-8, gb18030, gbk, big5...). "
    "Default: detected, UTF-8 with or without a byte-order mark, else GB18030.",
)
sheet_option = click.option(
    "--sheet",
    metavar="NAME",
    help="Sheet of an Excel (.xlsx) tape. Default: the first sheet.",
)


def run_options(policy_help: str) -> Callable[[F], F]:
    """The options ``run`` and ``compare`` share: the inputs, the size of the run, where it
    runs and where its results go."""
    options = [
        click.option(
            "--portfolio",
            "portfolio_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Loan tape (.csv, .parquet or .xlsx). Default: a synthetic book.",
        ),
        encoding_option,
        sheet_option,
        click.option(
            "--synthetic",
            type=click.IntRange(min=1),
            metavar="N",
            help="Use a synthetic book of N loans (default 100,000) instead of a tape.",
        ),
        click.option(
            "--scenario",
            "scenarios",
            multiple=True,
            metavar="NAME|PATH",
            help="Scenario (repeatable). Default: baseline, adverse, severe.",
        ),
        click.option(
            "--policy",
            "policies",
            multiple=True,
            metavar="NAME|PATH",
            help=policy_help,
        ),
        model_option,
        click.option(
            "--treasury",
            default="default",
            show_default=True,
            metavar="NAME|PATH",
            help="Treasury file: a shipped name or a path.",
        ),
        click.option(
            "--paths",
            default=1000,
            show_default=True,
            type=click.IntRange(min=1),
            help="Monte Carlo paths per scenario and policy.",
        ),
        click.option(
            "--horizon",
            type=click.IntRange(min=1, max=600),
            metavar="MONTHS",
            help="Months to simulate. Default: the scenarios' horizon (24 for the shipped ones).",
        ),
        click.option(
            "--seed",
            default=0,
            show_default=True,
            type=click.IntRange(0, 2**64 - 1),
            help="Random seed: the same seed gives bit-identical results.",
        ),
        click.option(
            "--out",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the full results to this NetCDF file (.nc).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            help="Numba threads (default: all cores); with --workers or --scheduler, per "
            "worker process (default: its host's cores shared among the worker processes "
            "there). Results do not depend on it.",
        ),
        click.option(
            "--engine",
            type=click.Choice(["numba", "numpy"]),
            default="numba",
            show_default=True,
            help="numpy is the slow, readable reference engine.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            metavar="N",
            help="Run the blocks of paths on a new local Dask cluster of N worker processes (this "
            "machine only); prints its dashboard address.",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            help="Run the blocks of paths on the existing Dask cluster whose scheduler is at "
            "ADDRESS (tcp://HOST:PORT); every worker needs this version of simulator installed.",
        ),
        click.option(
            "--block-paths",
            type=click.IntRange(min=1),
            metavar="N",
            help="Paths per block (default 64): one task on a cluster, the unit that a resumed run "
            "skips. Results do not depend on it.",
        ),
        click.option(
            "--resume",
            is_flag=True,
            help="Reuse the finished blocks of an interrupted run with the same --out and the same "
            "inputs (refused if the inputs changed); needs --out. With --out, finished blocks are "
            "kept in OUT.blocks/ until the output is written.",
        ),
        click.option(
            "--tail-sampling",
            "tail",
            type=click.Choice(["loss", "buffer", "capital"]),
            help="Importance-sample the tail (SPEC 13): shift each scenario's factor paths, "
            "on 80% of them, towards the 99.9% tail of the loss rate (loss), a liquidity "
            "shortfall within 12 months (buffer) or a capital breach within 12 months "
            "(capital), the shift fitted first on 256 pilot paths (no shift if the event is "
            "not rare); every figure is then weighted by the paths' likelihood ratios (the "
            "weight variable of --out). Sharper VaR, ES and rare-event probabilities at equal "
            "paths.",
        ),
        click.option(
            "--quiet", is_flag=True, help="No progress bar (nor the Dask dashboard address)."
        ),
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def simulate_from_options(
    portfolio_path: Path | None, encoding: str | None, sheet: str | None,
    synthetic: int | None, scenarios: tuple[str, ...],
    policies: list[str], model: str, treasury: str, paths: int, horizon: int | None,
    seed: int, out: Path | None, threads: int | None, engine: str, workers: int | None,
    scheduler: str | None, block_paths: int | None, resume: bool, quiet: bool,
    tail: str | None = None,
    panel_out: Path | None = None, panel_paths: int = 4,
) -> xr.Dataset:  # fmt: skip
    """Run ``simulate`` as the options say, with a progress bar, and write ``--out`` (and
    ``--panel-out``)."""
    from simulator.inputs.portfolio import Portfolio, load_portfolio
    from simulator.run import BLOCK_PATHS, DEFAULT_SCENARIOS, simulate

    if portfolio_path is not None and synthetic is not None:
        raise click.UsageError("use either --portfolio or --synthetic, not both")
    if portfolio_path is None and (encoding is not None or sheet is not None):
        raise click.UsageError("--encoding and --sheet describe the --portfolio tape: give one")
    if workers is not None and scheduler is not None:
        raise click.UsageError("use either --workers or --scheduler, not both")
    if out is not None and out.suffix != ".nc":
        raise InputError(out, "expected an output path ending in .nc (NetCDF)")
    if panel_out is not None and panel_out.suffix != ".parquet":
        raise InputError(panel_out, "expected a panel output path ending in .parquet")
    if resume and out is None:
        raise click.UsageError("--resume needs --out: finished blocks are kept beside the output")
    run_dir = None if out is None else out.with_name(out.name + ".blocks")
    book: Portfolio | int | None = synthetic
    if portfolio_path is not None:
        book = load_portfolio(portfolio_path, model=model, encoding=encoding, sheet=sheet)
    with ExitStack() as stack:
        client = None
        if workers is not None or scheduler is not None:
            from simulator.run.distributed import cluster_client

            say = (lambda _: None) if quiet else (lambda text: click.echo(text, err=True))
            client = stack.enter_context(
                cluster_client(workers=workers, scheduler=scheduler, say=say)
            )
        progress = stack.enter_context(_progress(enabled=not quiet))
        try:
            ds = simulate(
                book,
                list(scenarios) or list(DEFAULT_SCENARIOS),
                policies,
                model=model, treasury=treasury, paths=paths, horizon=horizon, seed=seed,
                engine=engine, threads=threads, block_paths=block_paths or BLOCK_PATHS,
                progress=progress, client=client, run_dir=run_dir, resume=resume, tail=tail,
                panel_out=panel_out, panel_paths=panel_paths,
            )  # fmt: skip
        except (Exception, KeyboardInterrupt) as err:
            saved = [] if run_dir is None or not run_dir.is_dir() else list(run_dir.glob("*.npz"))
            if saved and not isinstance(err, InputError):
                click.echo(
                    f"{len(saved)} finished blocks are kept in {run_dir}: run the same command "
                    "with --resume to compute only the others",
                    err=True,
                )
            raise
    if out is not None and run_dir is not None:
        write_atomically(out, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
        shutil.rmtree(run_dir)
    return ds


def print_table(title: str, columns: list[str], rows: list[list[str]], note: str = "") -> None:
    """An aligned terminal table (text columns left, figures right)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, caption=note or None)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < 2 else "right", no_wrap=i >= 2)
    for row in rows:
        table.add_row(*row)
    # A pipe or a CI log is not 80 columns wide: do not squeeze the table to that.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def write_atomically(out: Path, write: Callable[[str], None]) -> None:
    """Write through a temporary file beside ``out`` and rename it: never a half-written file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar fed by ``simulate``'s progress callback (or nothing)."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("simulating"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} blocks"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("simulate", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update
