"""``stress-sim compare``: policies against a baseline on the same paths, ranked on lifetime loss,
with what each costs and why it wins (SPEC 11)."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import click

from simulator.cli.common import debug_option, print_table, run_options, simulate_from_options

if TYPE_CHECKING:
    import xarray as xr

PAIRED = {
    # JSON key: measure of ``metrics.compare``
    "lifetime_loss": "lifetime_loss_rate",
    "horizon_loss": "loss_rate",
    "policy_costs_cny": "policy_costs",
    "interest_income_cny": "interest_income",
    "net_income_cny": "net_income",
    "capital_ratio": "capital_ratio",
    "min_buffer_cny": "min_buffer",
    "serious_delinquencies": "serious_delinquencies",
    "credit_loss_expense_cny": "credit_loss_expense",
}
COMPOSITE = ("offers/path", "take-up")
"""Columns of the mechanisms table that combine several diagnostics."""
DIAGNOSTICS = {
    # column: (diagnostic of ``metrics.diagnostics``, format)
    "approval": ("reinstal_approval", ".0%"),
    "grace-covered": ("grace_covered_share", ".0%"),
    "Day-1 delinq.": ("day1_delinquency_rate", ".2%"),
    "30-day coll.": ("collection_rate_30d", ".1%"),
    "re-default 6m": ("redefault_6", ".1%"),
    "holiday current 3m": ("holiday_current_share", ".0%"),
    "settlement cash/balance": ("settlement_recovery", ".0%"),
    "legal success": ("legal_success", ".0%"),
}
OFFER_KINDS = ("settlement", "reinstal", "holiday", "early_warning")


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
    the difference between two policies is measured path by path. Per scenario, the policies
    are ranked on their lifetime loss (horizon losses plus the closing ECL allowance: what a
    policy defers past the horizon is counted), best first. Beside each policy's mean
    difference from the baseline (policy minus baseline, with its 95% interval): the horizon
    loss, the policy's costs (collection, legal, mediation, waived interest) and its interest
    income (its fall is the interest it forgoes), the net income over the horizon, the
    capital ratio at the horizon and the minimum liquidity buffer; --json adds the 99% ES of
    the loss rate (paired interval), the serious delinquencies and the credit loss expense. A
    second table shows each policy's mechanisms at work: offers made and taken up, approvals,
    the misses its grace days covered, the Day-1 delinquency and 30-day collection rates, the
    6-month re-default of re-instalmented loans, holiday loans current three months after,
    settlement cash over balance and legal success. Takes the same options as `run` (--out
    writes the simulated results).
    """
    from simulator.inputs.files import shipped_names
    from simulator.metrics import compare as paired
    from simulator.metrics import diagnostics

    names = list(policies) or shipped_names("policy")
    if len(names) < 2:
        raise click.UsageError("compare needs at least two policies (repeat --policy)")
    options["quiet"] = options["quiet"] or as_json
    ds = simulate_from_options(policies=names, **options)
    baseline = _baseline(baseline, [str(p) for p in ds.policy.values], names)
    rows = comparison_rows(paired(ds, baseline=baseline, level=0.99), baseline)
    mechanisms = mechanism_rows(diagnostics(ds))
    if as_json:
        document = {"paths": options["paths"], "horizon": int(ds.sizes["month"]),
                    "seed": options["seed"], "baseline": baseline, "confidence": 0.95,
                    "ranked_on": "lifetime_loss" if rows and rows[0]["lifetime_loss"]
                    else "horizon_loss",
                    "comparisons": rows, "diagnostics": mechanisms}  # fmt: skip
        click.echo(json.dumps(document, indent=2, allow_nan=False))
        return
    _print_comparison(rows, baseline, options)
    _print_mechanisms(mechanisms)
    if options["out"] is not None:
        click.echo(f"results written to {options['out']}")


def _baseline(baseline: str | None, labels: list[str], names: list[str]) -> str:
    if baseline is None:
        return "standard" if "standard" in labels else labels[0]
    if baseline in labels:
        return baseline
    matches = [label for label, name in zip(labels, names, strict=True) if name == baseline]
    if not matches:
        raise click.UsageError(
            f"--baseline {baseline} is not one of the policies run ({', '.join(labels)})"
        )
    return matches[0]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def comparison_rows(table: xr.Dataset, baseline: str) -> list[dict[str, Any]]:
    """Each (scenario, policy but the baseline) as --json shows it, ranked within a scenario
    on the lifetime loss difference (the horizon loss without provisions), best first."""
    rows: list[dict[str, Any]] = []
    for s in table.scenario.values:
        block = [_row(table.sel(scenario=s, policy=p), str(s), str(p), baseline)
                 for p in table.policy.values if p != baseline]  # fmt: skip
        key = "lifetime_loss" if block and block[0]["lifetime_loss"] else "horizon_loss"
        block.sort(key=lambda r: r[key]["diff"])
        for rank, row in enumerate(block, start=1):
            row["rank"] = rank
        rows += block
    return rows


def _row(at: xr.Dataset, scenario: str, policy: str, baseline: str) -> dict[str, Any]:
    def measure(name: str) -> dict[str, float | None] | None:
        if f"{name}_diff" not in at:
            return None  # a figure of the books, in a run without provisions
        return {
            "diff": _finite(float(at[f"{name}_diff"])),
            "low": _finite(float(at[f"{name}_diff_low"])),
            "high": _finite(float(at[f"{name}_diff_high"])),
            "better_share": _finite(float(at[f"{name}_better_share"])),
        }

    se = float(at.loss_rate_diff_se)
    return {
        "scenario": scenario,
        "policy": policy,
        "baseline": baseline,
        **{key: measure(name) for key, name in PAIRED.items()},
        "es_99": {key: _finite(float(at[f"es_{name}"])) for key, name in
                  (("diff", "diff"), ("low", "diff_low"), ("high", "diff_high"),
                   ("better_share", "better_share"))},
        "variance_reduction": float((at.loss_rate_unpaired_se / se) ** 2) if se > 0 else None,
    }  # fmt: skip


def mechanism_rows(diag: xr.Dataset) -> list[dict[str, Any]]:
    """Every (scenario, policy) of ``metrics.diagnostics`` as --json shows it (NaN: null)."""
    return [
        {"scenario": str(s), "policy": str(p),
         **{str(name): _finite(float(diag[name].sel(scenario=s, policy=p)))
            for name in diag.data_vars}}
        for s in diag.scenario.values
        for p in diag.policy.values
    ]  # fmt: skip


def _interval(m: dict[str, Any] | None, fmt: str) -> str:
    if m is None or m["diff"] is None:
        return "-"
    half = "" if m["low"] is None else f" ± {(m['high'] - m['low']) / 2:{fmt[1:]}}"
    return f"{m['diff']:{fmt}}{half}"


def _print_comparison(rows: list[dict[str, Any]], baseline: str, options: dict[str, Any]) -> None:
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        print_table(
            f"{scenario}: each policy minus {baseline}, same paths, best lifetime loss first: "
            f"mean ± 95% interval half-width ({options['paths']:,} paths, seed "
            f"{options['seed']})",
            ["#", "policy", "Δ lifetime loss", "Δ horizon loss", "Δ costs (CNY)",
             "Δ interest (CNY)", "Δ net income (CNY)", "Δ capital ratio", "Δ min buffer (CNY)",
             "P(lower lifetime loss)"],
            [
                [str(r["rank"]), r["policy"], _interval(r["lifetime_loss"], "+.3%"),
                 _interval(r["horizon_loss"], "+.3%"),
                 _interval(r["policy_costs_cny"], "+,.0f"),
                 _interval(r["interest_income_cny"], "+,.0f"),
                 _interval(r["net_income_cny"], "+,.0f"),
                 _interval(r["capital_ratio"], "+.2%"), _interval(r["min_buffer_cny"], "+,.0f"),
                 "-" if r["lifetime_loss"] is None
                 else f"{r['lifetime_loss']['better_share']:.0%}"]
                for r in rows
                if r["scenario"] == scenario
            ],
        )  # fmt: skip
    click.echo(
        "Lifetime loss: horizon losses plus the closing ECL allowance, over opening principal. "
        "Horizon loss: charged off (net) within the horizon. Costs: collection, legal, "
        "mediation and waived interest. Interest: interest income (its fall is interest "
        "forgone). Net income: after-tax profit over the horizon, credit loss expense "
        "included. Capital ratio: at the horizon. --json adds the ES 99% (paired interval), "
        "both ends of every interval, the serious delinquencies, the credit loss expense and "
        "the variance reduction of pairing."
    )


def _print_mechanisms(rows: list[dict[str, Any]]) -> None:
    def show(row: dict[str, Any], column: str) -> str:
        if column == "offers/path":
            made = [row[f"{k}_offers_per_path"] for k in OFFER_KINDS]
            return f"{sum(v for v in made if v is not None):,.0f}"
        if column == "take-up":
            taken = [row[f"{k}_take_up"] for k in ("settlement", "reinstal", "holiday")]
            shown = [f"{v:.0%}" for v in taken if v is not None]
            return " / ".join(shown) or "-"
        name, fmt = DIAGNOSTICS[column]
        value = row[name]
        return "-" if value is None else f"{value:{fmt}}"

    print_table(
        "Why: each policy's mechanisms at work (pooled over paths and months)",
        ["scenario", "policy", *COMPOSITE, *DIAGNOSTICS],
        [
            [r["scenario"], r["policy"], *(show(r, c) for c in (*COMPOSITE, *DIAGNOSTICS))]
            for r in rows
        ],
        note="Offers: settlement, re-instalment, holiday and early-warning offers made per "
        "path. Take-up: of the offers made (settlement / re-instalment application / holiday). "
        "Approval: re-instalments granted per application. Grace-covered: of the Day-1 misses "
        "paid within the month, the share the grace days kept off the record. Re-default: "
        "re-instalmented loans 30+ DPD six months after.",
    )


COMMANDS = (compare,)
