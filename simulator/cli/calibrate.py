"""``stress-sim calibrate`` and ``stress-sim backtest``: fit the model to a loan-month panel,
and test a model out of time on the realised macro path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from simulator.cli.common import debug_option, model_option, print_table, write_atomically
from simulator.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])
PANEL = click.argument("panel", type=click.Path(exists=True, dir_okay=False, path_type=Path))


def _options(sigma_help: str, report_help: str, json_help: str) -> Callable[[F], F]:
    """The options both commands have: --sigma, --json and --report."""
    options = [
        click.option(
            "--sigma",
            default=1.0,
            show_default=True,
            type=click.FloatRange(0, 10, min_open=True),
            help=sigma_help,
        ),
        click.option("--json", "as_json", is_flag=True, help=json_help),
        click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help=report_help),
        debug_option,
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


def _month(value: str | None, option: str) -> int | None:
    from simulator.inputs.panel import parse_month

    if value is None:
        return None
    month = parse_month(value)
    if month is None:
        raise click.BadParameter(f"expected a month YYYY-MM, got {value!r}", param_hint=option)
    return month


def _write_text(out: Path, text: str, suffixes: tuple[str, ...], what: str) -> None:
    if out.suffix.lower() not in suffixes:
        raise InputError(out, f"expected {what} ending in {' or '.join(suffixes)}")

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    write_atomically(out, write)


@click.command()
@PANEL
@click.option(
    "--macro",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="HISTORY.csv",
    help="Macro history (a `date` column and one column per variable, as scenario history "
    "files): beta is the regression of the fitted index on it. Without it, rho comes from the "
    "index's dispersion alone and beta is left empty.",
)
@model_option
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The fitted model file (.toml): loads with --model and `scenarios check`.",
)
@click.option(
    "--reference",
    metavar="YYYY-MM",
    help="The month whose macro values the fitted rows hold at (a scenario's month 0). "
    "Default: the panel's last month.",
)
@_options(
    sigma_help="The factor scale ([factor] sigma) of the scenarios the model will run with.",
    report_help="Also write an HTML calibration report (fitted against observed rows, the index).",
    json_help="Print every estimate as JSON.",
)
def calibrate(
    panel: Path,
    macro: Path | None,
    model: str,
    out: Path,
    reference: str | None,
    sigma: float,
    as_json: bool,
    report: Path | None,
) -> None:
    """Fit the model's rows, tier offsets, prepayment, recoveries, rho and beta to PANEL.

    PANEL is a loan-month panel (.csv or .parquet; SPEC 12): loan_id, month, segment, score,
    dpd and principal, optionally path, restructured, recovery, annual_rate, remaining_term,
    instalment. --model is the base model: its segments, tier cut-offs and whatever the panel
    cannot tell. Every number in OUT says where it comes from: estimate, 95% interval, counts.
    """
    from simulator.calibration import fit, load_macro, write_model
    from simulator.calibration.output import calibration_json
    from simulator.inputs.model import load_model
    from simulator.inputs.panel import load_panel

    base = load_model(model)
    data = load_panel(panel, base)
    history = None if macro is None else load_macro(macro, base)
    cal = fit(data, base, history, reference=_month(reference, "--reference"), sigma=sigma)
    if report is not None and report.suffix.lower() not in (".html", ".htm"):
        raise InputError(report, "expected a report path ending in .html")
    write_model(cal, out)
    if report is not None:
        from simulator.calibration.report import calibration_report

        _write_text(report, calibration_report(cal), (".html", ".htm"), "a report path")
    if as_json:
        click.echo(calibration_json(cal))
        return
    _print_calibration(cal)
    click.echo(f"model written to {out}" + (f"; report to {report}" if report else ""))


def _print_calibration(cal: object) -> None:
    from simulator.calibration.fitting import Calibration

    assert isinstance(cal, Calibration)
    rows = []
    for seg in cal.segments:
        rho = (
            "-"
            if seg.rho is None
            else f"{seg.rho.value:.4f} [{seg.rho.lower:.4f}, {seg.rho.upper:.4f}]"
        )
        miss = seg.normal[0]
        beta = (
            ""
            if seg.systematic is None
            else ", ".join(
                f"{k} {v.value:+.3f} [{v.lower:+.3f}, {v.upper:+.3f}]"
                for k, v in seg.systematic.beta.items()
            )
        )
        rows.append(
            [
                seg.name,
                seg.source,
                f"{seg.moves:,}",
                rho,
                f"{miss.probabilities[1]:.4f} [{miss.lower[1]:.4f}, {miss.upper[1]:.4f}]",
                "-" if seg.prepayment is None else f"{seg.prepayment.value:.4f}",
                beta or "-",
            ]
        )
    print_table(
        f"calibration of {cal.panel_source}, {cal.window}",
        ["segment", "source", "moves", "rho [95% CI]", "current -> 1-30 DPD", "prepayment", "beta"],
        rows,
        note="tier offsets: " + ", ".join(f"{t.name} {t.delta.value:+.3f}" for t in cal.tiers),
    )


@click.command()
@PANEL
@click.option("--model", "model", required=True, metavar="NAME|PATH", help="The model to backtest.")
@click.option("--as-of", "as_of", required=True, metavar="YYYY-MM", help="The as-of month.")
@click.option(
    "--macro",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="HISTORY.csv",
    help="The realised macro history, replayed after the as-of month.",
)
@click.option(
    "--paths",
    default=1000,
    show_default=True,
    type=click.IntRange(min=10),
    help="Monte Carlo paths: at least 1,000 for a meaningful 99.9% quantile.",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1, max=600),
    metavar="MONTHS",
    help="Months after the as-of month (default: as many as the panel has).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(0, 2**64 - 1),
    help="Random seed of the simulated paths.",
)
@click.option(
    "--reference",
    metavar="YYYY-MM",
    help="The month whose macro values the model's rows hold at (calibrate --reference; "
    "default: the as-of month).",
)
@click.option(
    "--phi",
    default=0.8,
    show_default=True,
    type=click.FloatRange(-0.99, 0.99),
    help="AR(1) coefficient of the replay's factor (calibrate reports the fitted one).",
)
@_options(
    sigma_help="Scale of the replay's factor.",
    report_help="Also write the backtest as an HTML page.",
    json_help="Print the comparison as JSON.",
)
def backtest(
    panel: Path,
    model: str,
    as_of: str,
    macro: Path,
    paths: int,
    horizon: int | None,
    seed: int,
    reference: str | None,
    phi: float,
    sigma: float,
    as_json: bool,
    report: Path | None,
) -> None:
    """Run MODEL from the book of PANEL at --as-of on the realised macro path, and compare.

    Per month after the as-of month: roll rates by bucket, the charge-off rate and the 90+ DPD
    ratio of the as-of book, realised against the simulated distribution: the realised value's
    quantile and a traffic light (green inside the simulated 5%-95%, yellow to 0.1%/99.9%, red
    beyond; side high or low); a Jeffreys test per bucket; and the naive benchmark (average
    historical roll rates).
    """
    import json

    from simulator.calibration import backtest as run_backtest
    from simulator.calibration import load_macro
    from simulator.inputs.model import load_model
    from simulator.inputs.panel import load_panel

    fitted = load_model(model)
    data = load_panel(panel, fitted)
    history = load_macro(macro, fitted)
    month = _month(as_of, "--as-of")
    assert month is not None
    result = run_backtest(
        data,
        fitted,
        month,
        history,
        paths=paths,
        seed=seed,
        horizon=horizon,
        macro_reference=_month(reference, "--reference"),
        phi=phi,
        sigma=sigma,
    )
    if report is not None:
        from simulator.calibration.report import backtest_report

        _write_text(report, backtest_report(result), (".html", ".htm"), "a report path")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    _print_backtest(result)


def _print_backtest(result: object) -> None:
    from simulator.calibration.backtesting import Backtest

    assert isinstance(result, Backtest)
    rows = [
        [
            c.label or c.metric,
            c.month,
            f"{c.realised:.4f}",
            f"{c.quantiles['q0.05']:.4f}",
            f"{c.quantiles['q0.5']:.4f}",
            f"{c.quantiles['q0.95']:.4f}",
            f"{c.quantiles['q0.999']:.4f}",
            f"{c.quantile:.3f}",
            c.light + (f" ({c.side})" if c.side else ""),
            "-" if c.naive is None else f"{c.naive:.4f}",
        ]
        for c in result.checks
    ]
    lights = result.lights()
    print_table(
        f"backtest from {result.as_of}: {result.loans:,} loans, {result.months} months, "
        f"{result.paths} paths",
        [
            "metric",
            "month",
            "realised",
            "q5%",
            "median",
            "q95%",
            "q99.9%",
            "quantile",
            "light",
            "naive",
        ],
        rows,
        note=", ".join(f"{v} {k}" for k, v in lights.items()),
    )
    print_table(
        "Jeffreys test per bucket (ignores the factor's correlation: read with the lights)",
        ["roll", "verdict", "moves", "rolls", "realised", "model", "p (high)"],
        [
            [
                j.label,
                j.verdict,
                f"{j.moves:,}",
                f"{j.rolls:,}",
                f"{j.realised:.4f}",
                f"{j.predicted:.4f}",
                f"{j.p_high:.3g}",
            ]
            for j in result.jeffreys
        ],
    )


COMMANDS = (calibrate, backtest)
