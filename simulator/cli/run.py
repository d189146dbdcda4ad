"""``stress-sim run`` and ``stress-sim compare``: simulate, then summarise or compare."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from simulator.cli.common import debug_option, print_table, run_options, simulate_from_options

if TYPE_CHECKING:
    import xarray as xr


@click.command()
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
    survival horizon (the first month with the buffer below zero; "never" if it stays above);
    and as the bank books it (SPEC 10): the expected lifetime loss rate (horizon losses plus the
    closing ECL allowance), the NPL ratio and the capital ratio at the horizon (path means) and
    the probability that the capital ratio falls below the treasury's minimum.

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
    if out is not None:
        click.echo(f"results written to {out}")


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
    }


def _pct(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


@click.command()
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
                    "lifetime_loss": measure("lifetime_loss_rate")
                    if "lifetime_loss_rate_diff" in at else None,
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
        ["scenario", "policy", "Δ lifetime loss", "Δ expected loss", "Δ ES 99%",
         "Δ min buffer (CNY)", "Δ serious delinquencies", "P(lower loss)", "variance reduction"],
        [
            [r["scenario"], r["policy"],
             "-" if r["lifetime_loss"] is None else interval(r["lifetime_loss"], "+.3%"),
             interval(r["expected_loss"], "+.3%"),
             interval(r["es_99"], "+.3%"), interval(r["min_buffer_cny"], "+,.0f"),
             interval(r["serious_delinquencies"], "+,.1f"),
             f"{r['expected_loss']['better_share']:.0%}",
             "-" if r["variance_reduction"] is None else f"{r['variance_reduction']:,.0f}x"]
            for r in rows
        ],
        note="Lifetime loss: horizon losses plus the closing ECL allowance (what a policy defers "
        "past the horizon is counted). Expected loss: charged off within the horizon. "
        "ES: paired bootstrap, the interval's half-width (it need not be symmetric: "
        "--json gives both ends). P(lower loss): share of paths on which the policy loses less "
        "than the baseline. Variance reduction: unpaired over paired variance of the loss "
        "difference.",
    )  # fmt: skip
    if options["out"] is not None:
        click.echo(f"results written to {options['out']}")


COMMANDS = (run, compare)
