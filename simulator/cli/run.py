"""``stress-sim run``: simulate, then summarise (``compare``: ``cli.comparison``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from simulator.cli.common import debug_option, print_table, run_options, simulate_from_options

if TYPE_CHECKING:
    import xarray as xr


@click.command()
@run_options(policy_help="Post-loan policy (repeatable). Default: standard.")
@click.option(
    "--panel-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the loan-month histories of the first --panel-paths paths of the first "
    "scenario and policy to this Parquet file, in the panel format calibrate and backtest read.",
)
@click.option(
    "--panel-paths",
    default=4,
    show_default=True,
    type=click.IntRange(min=1),
    metavar="K",
    help="Paths written by --panel-out (each path its own history, in the path column).",
)
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
    survival horizon (the first month with the buffer below zero; "never" if it stays above);
    and as the bank books it (SPEC 10): the expected lifetime loss rate (horizon losses plus the
    closing ECL allowance), the NPL ratio and the capital ratio at the horizon (path means) and
    the probability that the capital ratio falls below the treasury's minimum.

    With --tail-sampling, each scenario's factor paths are drawn shifted towards its tail (a
    shift fitted first on 256 pilot paths) and every figure is weighted by the paths'
    likelihood ratios: the same estimates, sharper in the tail; a closing line gives the
    effective number of paths beyond the 99% VaR and the largest weight's share there.

    With --out, each finished block of paths is saved in OUT.blocks/ beside the output and the
    directory is removed once OUT is written: after an interruption, the same command with
    --resume computes only the missing blocks. With --workers or --scheduler the blocks run as
    tasks on a Dask cluster, with the same results bit for bit. With --panel-out, the first
    --panel-paths paths of the first scenario and policy are simulated again with their
    loan-months traced (the same draws: the same paths) and written as a panel (SPEC 12): one
    row per loan and month on book, the opening book as month 0.
    """
    options["quiet"] = options["quiet"] or as_json
    ds = simulate_from_options(policies=list(policies) or ["standard"], **options)
    summary = _summary(ds)
    horizon = int(ds.sizes["month"])
    rows = [
        _summary_row(summary.sel(scenario=s, policy=p), str(s), str(p), horizon)
        for s in ds.scenario.values
        for p in ds.policy.values
    ]
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
    if rows and rows[0]["expected_lifetime_loss"] is not None:
        print_table(
            "As the bank books it: provisions, asset quality and capital",
            ["scenario", "policy", "opening allowance (CNY)", "lifetime loss", "± s.e.",
             "NPL ratio", "capital ratio", "P(capital breach)"],
            [
                [r["scenario"], r["policy"], f"{r['opening_allowance_cny']:,.0f}",
                 _pct(r["expected_lifetime_loss"], 3), _pct(r["expected_lifetime_loss_se"], 3),
                 _pct(r["horizon_npl_ratio"], 2), _pct(r["horizon_capital_ratio"], 2),
                 _pct(r["capital_breach_probability"], 1)]
                for r in rows
            ],
            note="Lifetime loss: net credit loss over the horizon plus the closing ECL "
            "allowance, over opening principal. NPL and capital ratios: path means at the "
            "horizon. P(capital breach): the capital ratio below the minimum within the horizon.",
        )  # fmt: skip
    if rows and rows[0]["tail_ess_99"] is not None:
        click.echo(
            f"Tail sampling ({ds.attrs['tail_sampling']}): every figure is weighted by the paths' "
            "likelihood ratios; beyond the 99% VaR, "
            + "; ".join(f"{r['scenario']}/{r['policy']} {r['tail_ess_99']:.0f} effective paths, "
                        f"largest weight {r['max_weight_share_99']:.1%}" for r in rows)
        )  # fmt: skip
    if out is not None:
        click.echo(f"results written to {out}")


def _summary(ds: xr.Dataset) -> xr.Dataset:
    """``summarize`` at 99%, a heavy tail weight told on stderr as one line."""
    import warnings

    from simulator.metrics import summarize
    from simulator.metrics.weighted import TailWeightWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TailWeightWarning)
        summary = summarize(ds, levels=(0.99,))
    for warning in caught:
        if issubclass(warning.category, TailWeightWarning):
            click.echo(f"warning: {warning.message}", err=True)
        else:  # pragma: no cover - other warnings go on as they came
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)  # fmt: skip
    return summary


def _summary_row(at: xr.Dataset, scenario: str, policy: str, horizon: int) -> dict[str, Any]:
    """One (scenario, policy) of the run summary, as the table and --json show it."""
    median = float(at.median_survival)

    def book(name: str) -> float | None:  # SPEC 10 figures: absent without provisions
        return float(at[name]) if name in at else None

    return {
        "scenario": scenario,
        "policy": policy,
        "expected_loss": float(at.expected_loss),
        "expected_loss_se": float(at.expected_loss_se),
        "var_99": float(at["var"].sel(level=0.99)),
        "es_99": float(at.es.sel(level=0.99)),
        "expected_net_loss_cny": float(at.expected_net_loss),
        "min_buffer_q01_cny": float(at.min_buffer_fan.sel(quantile=0.01)),
        "shortfall_probability": float(at.shortfall_within_horizon),
        "median_survival_months": None if median > horizon else median,
        "opening_allowance_cny": book("opening_allowance"),
        "expected_lifetime_loss": book("expected_lifetime_loss"),
        "expected_lifetime_loss_se": book("expected_lifetime_loss_se"),
        "horizon_npl_ratio": book("horizon_npl_ratio"),
        "horizon_capital_ratio": book("horizon_capital_ratio"),
        "capital_breach_probability": book("capital_breach_probability"),
        "tail_ess_99": None if "tail_ess" not in at else float(at.tail_ess.sel(level=0.99)),
        "max_weight_share_99": (
            None if "max_weight_share" not in at else float(at.max_weight_share.sel(level=0.99))
        ),
    }


def _pct(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


COMMANDS = (run,)
