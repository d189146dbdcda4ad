"""The key figures of every run, first in the report: expected loss with its standard error,
VaR and ES at the marked level, expected net loss, peak shortfall probability and median
survival, per scenario and policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from simulator.report.context import Context, joined
from simulator.report.html import cny, lvl, pct, table
from simulator.variables import PATH, POLICY, SCENARIO


@joined
def section(ctx: Context) -> Iterator[str]:
    ds, summary, level, horizon = ctx.ds, ctx.summary, ctx.level, ctx.horizon
    scenarios, policies = ctx.scenarios, ctx.policies
    yield '<section id="key-figures"><h2>Key figures</h2>'
    rows: list[list[Any]] = []
    for s in scenarios:
        for p in policies:
            at = {SCENARIO: s, POLICY: p}
            rows.append(
                [
                    s,
                    p,
                    (pct(float(summary["expected_loss"].sel(at)), 3),),
                    (pct(float(summary["expected_loss_se"].sel(at)), 3),),
                    (pct(float(summary["var"].sel({**at, "level": level})), 3),),
                    (pct(float(summary["es"].sel({**at, "level": level})), 3),),
                    (cny(float(summary["expected_net_loss"].sel(at))),),
                    (pct(float(summary["shortfall_probability"].sel(at).max())),),
                    (f"{float(summary['median_survival'].sel(at)):.0f}",),
                ]
            )
    yield table(
        f"Loss rate over {horizon} months and liquidity, {ds.sizes[PATH]:,} paths per run",
        [
            "scenario",
            "policy",
            "expected loss",
            "± s.e.",
            f"VaR {lvl(level)}",
            f"ES {lvl(level)}",
            "expected net loss (CNY)",
            "peak shortfall probability",
            f"median survival (months; {horizon + 1} = no shortfall)",
        ],
        rows,
    )
    yield (
        '<p class="note">Loss rate: net credit loss over the horizon (charge-offs + settlement '
        "losses - recoveries) divided by the opening principal. VaR: the loss rate exceeded on "
        f"{lvl(1 - level)} of paths; ES: the mean loss rate on those paths. Shortfall: the "
        "liquidity buffer below zero at the end of a month.</p></section>"
    )
