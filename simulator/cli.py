"""The ``stress-sim`` command line: thin wrappers over the library.

Domain errors (:class:`~simulator.errors.InputError`) become one message and exit status 2;
anything else is an internal error, exit status 1. ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from simulator import __version__
from simulator.errors import InputError
from simulator.inputs import files

if TYPE_CHECKING:
    import xarray as xr

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("simulator")


class _EchoHandler(logging.Handler):
    """Prints the package's warnings as ``warning: ...`` on the *current* standard error.

    The stream is looked up for each record (``logging.basicConfig`` would keep the stream of
    the first call), so in-process runners such as click's ``CliRunner`` capture the warnings.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"{record.levelname.lower()}: {record.getMessage()}", err=True)
        except Exception:
            self.handleError(record)


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
    if not any(isinstance(h, _EchoHandler) for h in log.handlers):
        log.addHandler(_EchoHandler(logging.WARNING))


# --- run ---------------------------------------------------------------------------------


def run_options(policy_help: str) -> Callable[[F], F]:
    """The options ``run`` and ``compare`` share: the inputs, the size of the run, where it
    runs and where its results go."""
    options = [
        click.option(
            "--portfolio",
            "portfolio_path",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Loan tape (.csv or .parquet). Default: a synthetic book.",
        ),
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
            "--quiet", is_flag=True, help="No progress bar (nor the Dask dashboard address)."
        ),
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def simulate_from_options(
    portfolio_path: Path | None, synthetic: int | None, scenarios: tuple[str, ...],
    policies: list[str], model: str, treasury: str, paths: int, horizon: int | None,
    seed: int, out: Path | None, threads: int | None, engine: str, workers: int | None,
    scheduler: str | None, block_paths: int | None, resume: bool, quiet: bool,
) -> xr.Dataset:  # fmt: skip
    """Run ``simulate`` as the options say, with a progress bar, and write ``--out``."""
    from simulator.run import BLOCK_PATHS, DEFAULT_SCENARIOS, simulate

    if portfolio_path is not None and synthetic is not None:
        raise click.UsageError("use either --portfolio or --synthetic, not both")
    if workers is not None and scheduler is not None:
        raise click.UsageError("use either --workers or --scheduler, not both")
    if out is not None and out.suffix != ".nc":
        raise InputError(out, "expected an output path ending in .nc (NetCDF)")
    if resume and out is None:
        raise click.UsageError("--resume needs --out: finished blocks are kept beside the output")
    run_dir = None if out is None else out.with_name(out.name + ".blocks")
    with ExitStack() as stack:
        client = None
        if workers is not None or scheduler is not None:
            from simulator.distributed import cluster_client

            say = (lambda _: None) if quiet else (lambda text: click.echo(text, err=True))
            client = stack.enter_context(
                cluster_client(workers=workers, scheduler=scheduler, say=say)
            )
        progress = stack.enter_context(_progress(enabled=not quiet))
        try:
            ds = simulate(
                portfolio_path if portfolio_path is not None else synthetic,
                list(scenarios) or list(DEFAULT_SCENARIOS),
                policies,
                model=model, treasury=treasury, paths=paths, horizon=horizon, seed=seed,
                engine=engine, threads=threads, block_paths=block_paths or BLOCK_PATHS,
                progress=progress, client=client, run_dir=run_dir, resume=resume,
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


@main.command()
@run_options(policy_help="Post-loan policy (repeatable). Default: standard.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@debug_option
def run(as_json: bool, policies: tuple[str, ...], **options: Any) -> None:
    """Simulate the book under scenarios and policies and print the loss and liquidity summary.

    With no options: a synthetic 100,000-loan book under baseline, adverse and severe with the
    standard policy, 1,000 paths, 24 months, and the default treasury (its new lending
    simulated too). The summary gives, per scenario and policy: the expected loss rate over the
    horizon (net credit loss over opening principal) with its Monte Carlo standard error, the
    99% VaR and ES of the loss rate; the 1% quantile of the minimum liquidity buffer, the
    probability of a liquidity shortfall (buffer below zero) within the horizon and the median
    survival horizon (the first month with the buffer below zero; "never" if it stays above).

    With --out, each finished block of paths is saved in OUT.blocks/ beside the output and the
    directory is removed once OUT is written: after an interruption, the same command with
    --resume computes only the missing blocks. With --workers or --scheduler the blocks run as
    tasks on a Dask cluster, with the same results bit for bit.
    """
    from simulator.metrics import summarize

    options["quiet"] = options["quiet"] or as_json
    ds = simulate_from_options(policies=list(policies) or ["standard"], **options)
    summary = summarize(ds, levels=(0.99,))
    horizon = int(ds.sizes["month"])
    rows: list[dict[str, Any]] = []
    for s in ds.scenario.values:
        for p in ds.policy.values:
            at = summary.sel(scenario=s, policy=p)
            median = float(at.median_survival)
            rows.append(
                {
                    "scenario": str(s),
                    "policy": str(p),
                    "expected_loss": float(at.expected_loss),
                    "expected_loss_se": float(at.expected_loss_se),
                    "var_99": float(at["var"].sel(level=0.99)),
                    "es_99": float(at.es.sel(level=0.99)),
                    "expected_net_loss_cny": float(at.expected_net_loss),
                    "min_buffer_q01_cny": float(at.min_buffer_fan.sel(quantile=0.01)),
                    "shortfall_probability": float(at.shortfall_within_horizon),
                    "median_survival_months": None if median > horizon else median,
                }
            )
    out = options["out"]
    if as_json:
        document = {"paths": options["paths"], "horizon": horizon, "seed": options["seed"],
                    "out": str(out) if out else None, "runs": rows}  # fmt: skip
        click.echo(json.dumps(document, indent=2))
        return
    print_table(
        f"Loss rate and liquidity over {horizon} months, {options['paths']:,} paths, "
        f"{ds.attrs['portfolio_loans']:,} loans (seed {options['seed']})",
        ["scenario", "policy", "expected loss", "± s.e.", "VaR 99%", "ES 99%",
         "expected net loss (CNY)", "min buffer 1% (CNY)", "P(shortfall)", "median survival"],
        [
            [r["scenario"], r["policy"], f"{r['expected_loss']:.3%}",
             f"{r['expected_loss_se']:.3%}", f"{r['var_99']:.3%}", f"{r['es_99']:.3%}",
             f"{r['expected_net_loss_cny']:,.0f}", f"{r['min_buffer_q01_cny']:,.0f}",
             f"{r['shortfall_probability']:.1%}",
             "never" if r["median_survival_months"] is None
             else f"month {r['median_survival_months']:.0f}"]
            for r in rows
        ],
    )  # fmt: skip
    if out is not None:
        click.echo(f"results written to {out}")


@main.command()
@run_options(
    policy_help="Policy to compare (repeatable; at least two, the baseline among them). Default: "
    "every shipped policy."
)
@click.option(
    "--baseline",
    metavar="POLICY",
    help="The policy the others are compared with. Default: standard if it is in the run, "
    "else the first --policy.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@debug_option
def compare(as_json: bool, policies: tuple[str, ...], baseline: str | None, **options: Any) -> None:
    """Compare post-loan policies on the same paths: paired differences against a baseline.

    Every policy runs on the same macro paths and borrower draws (common random numbers), so
    the difference between two policies is measured path by path. Per scenario and policy, the
    table gives the mean difference from the baseline (policy minus baseline) with its 95%
    confidence interval for the expected loss rate, the 99% ES of the loss rate (paired
    bootstrap), the minimum liquidity buffer and the number of new serious delinquencies (90+
    days past due, reported to the credit bureau); the share of paths on which the policy does
    better; and the variance reduction of the paired loss comparison over an unpaired one.
    Takes the same options as `run` (--out writes the simulated results).
    """
    from simulator.inputs.files import shipped_names
    from simulator.metrics import compare as paired

    names = list(policies) or shipped_names("policy")
    if len(names) < 2:
        raise click.UsageError("compare needs at least two policies (repeat --policy)")
    options["quiet"] = options["quiet"] or as_json
    ds = simulate_from_options(policies=names, **options)
    labels = [str(p) for p in ds.policy.values]
    if baseline is None:
        baseline = "standard" if "standard" in labels else labels[0]
    elif baseline not in labels:
        matches = [label for label, name in zip(labels, names, strict=True) if name == baseline]
        if not matches:
            raise click.UsageError(
                f"--baseline {baseline} is not one of the policies run ({', '.join(labels)})"
            )
        baseline = matches[0]
    table = paired(ds, baseline=baseline, level=0.99)
    rows: list[dict[str, Any]] = []
    for s in ds.scenario.values:
        for p in labels:
            if p == baseline:
                continue
            at = table.sel(scenario=s, policy=p)

            def measure(name: str, at: xr.Dataset = at) -> dict[str, float]:
                return {
                    "diff": float(at[f"{name}_diff"]),
                    "low": float(at[f"{name}_diff_low"]),
                    "high": float(at[f"{name}_diff_high"]),
                    "better_share": float(at[f"{name}_better_share"]),
                }

            loss = measure("loss_rate")
            rows.append(
                {
                    "scenario": str(s),
                    "policy": p,
                    "baseline": baseline,
                    "expected_loss": loss,
                    "es_99": {"diff": float(at.es_diff), "low": float(at.es_diff_low),
                              "high": float(at.es_diff_high),
                              "better_share": float(at.es_better_share)},
                    "min_buffer_cny": measure("min_buffer"),
                    "serious_delinquencies": measure("serious_delinquencies"),
                    "variance_reduction": float(
                        (at.loss_rate_unpaired_se / at.loss_rate_diff_se) ** 2
                    ) if float(at.loss_rate_diff_se) > 0 else None,
                }
            )  # fmt: skip
    if as_json:
        document = {"paths": options["paths"], "horizon": int(ds.sizes["month"]),
                    "seed": options["seed"], "baseline": baseline, "confidence": 0.95,
                    "comparisons": rows}  # fmt: skip
        click.echo(json.dumps(document, indent=2))
        return

    def interval(m: dict[str, float], fmt: str) -> str:
        return f"{m['diff']:{fmt}} ± {(m['high'] - m['low']) / 2:{fmt[1:]}}"

    print_table(
        f"Each policy minus {baseline}, same paths: mean ± 95% interval half-width "
        f"({options['paths']:,} paths, seed {options['seed']})",
        ["scenario", "policy", "Δ expected loss", "Δ ES 99%", "Δ min buffer (CNY)",
         "Δ serious delinquencies", "P(lower loss)", "variance reduction"],
        [
            [r["scenario"], r["policy"], interval(r["expected_loss"], "+.3%"),
             interval(r["es_99"], "+.3%"), interval(r["min_buffer_cny"], "+,.0f"),
             interval(r["serious_delinquencies"], "+,.1f"),
             f"{r['expected_loss']['better_share']:.0%}",
             "-" if r["variance_reduction"] is None else f"{r['variance_reduction']:,.0f}x"]
            for r in rows
        ],
        note="ES: paired bootstrap, the interval's half-width (it need not be symmetric: "
        "--json gives both ends). P(lower loss): share of paths on which the policy loses less "
        "than the baseline. Variance reduction: unpaired over paired variance of the loss "
        "difference.",
    )  # fmt: skip
    if options["out"] is not None:
        click.echo(f"results written to {options['out']}")


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
            share = row["loans"] / summary["loans"]
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
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual mode
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- report -------------------------------------------------------------------------------


@main.command()
@click.argument("results", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the report: a .html file.",
)
@click.option(
    "--format",
    "figure_format",
    type=click.Choice(["png"]),
    help="Also write every figure as a file of this format, in OUT_figures/ beside the report.",
)
@click.option(
    "--baseline",
    metavar="POLICY",
    help="The policy the others are compared with (default: standard if present, else the first).",
)
@debug_option
def report(results: Path, out: Path, figure_format: str | None, baseline: str | None) -> None:
    """Write a self-contained HTML report of RESULTS (a NetCDF file from `run --out`).

    Per scenario: the loss-rate distribution with EL, VaR and ES; the liquidity-buffer fan chart
    with the shortfall probability; delinquency by state over time; the policy comparison with
    paired intervals; the tables behind each figure; and the provenance of the run. Figures are
    inline images: the file reads offline and can be sent as it is.
    """
    import xarray as xr

    from simulator.report import check_results, render_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(out, "expected an output path ending in .html")
    try:
        with xr.open_dataset(results, engine="h5netcdf") as opened:
            ds = opened.load()
    except Exception as err:
        raise InputError(
            results, f"cannot read it as a results file of `stress-sim run --out` (NetCDF): {err}"
        ) from None
    check_results(ds, results)
    ds.attrs["results_file"] = str(results)
    figures: dict[str, bytes] | None = {} if figure_format else None
    page = render_report(ds, baseline=baseline, figures=figures)

    def write_page(tmp: str) -> None:
        Path(tmp).write_text(page, encoding="utf-8")

    write_atomically(out, write_page)
    click.echo(f"report written to {out}")
    if figures:
        folder = out.with_name(f"{out.stem}_figures")
        for name, png in figures.items():

            def write_png(tmp: str, png: bytes = png) -> None:
                Path(tmp).write_bytes(png)

            write_atomically(folder / name, write_png)
        click.echo(f"{len(figures)} figures written to {folder}/")
