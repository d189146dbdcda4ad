"""Asset quality and capital in a scenario (SPEC 10), the bank's view: a table of each policy's
opening allowance, lifetime loss, NPL ratio, provision coverage, capital ratio and probability
of a capital breach; the NPL ratio and the capital ratio by month, policies overlaid (median and
5-95% band of paths; the treasury's minimum capital ratio marked); and the loans moving between
IFRS 9 stages each month under the baseline policy. Absent for a run without provisions."""

from __future__ import annotations

from collections.abc import Iterator

import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simulator.report.context import Context, joined
from simulator.report.figures import COLOURS, ReportFigure, month_axis, new_figure
from simulator.report.html import pct
from simulator.report.tables import (
    Cell,
    CellLike,
    Interval,
    Table,
    cny_cell,
    pct_cell,
    text_cell,
)
from simulator.variables import FROM_STAGE, MONTH, POLICY, SCENARIO, TO_STAGE

MOVES = (
    ("stage_1", "stage_2"),
    ("stage_2", "stage_3"),
    ("stage_2", "stage_1"),
    ("stage_3", "stage_2"),
    ("stage_1", "stage_3"),
)
"""The stage transfers drawn: deterioration first, then cures."""


def _ratio_figure(ctx: Context, s: str, fan: str, title: str, minimum: float | None) -> Figure:
    fig = new_figure("books")
    ax = fig.add_subplot()
    months = ctx.summary[MONTH].values
    for i, p in enumerate(ctx.policies):
        values = ctx.summary[fan].sel({SCENARIO: s, POLICY: p})
        colour = COLOURS[i % len(COLOURS)]
        ax.fill_between(
            months,
            values.sel(quantile=0.05),
            values.sel(quantile=0.95),
            color=colour,
            alpha=0.15,
            linewidth=0,
        )
        ax.plot(months, values.sel(quantile=0.5), color=colour, linewidth=2, label=p)
    if minimum is not None:
        ax.axhline(
            minimum, color="black", linestyle="--", linewidth=1, label=f"minimum {minimum:.1%}"
        )
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
    month_axis(ax, len(months))
    ax.grid(alpha=0.3)
    ax.set_title(title)
    fig.legend(fontsize="small", loc="outside lower center", ncol=min(len(ctx.policies) + 1, 6))
    return fig


def _transfer_figure(ds: xr.Dataset, s: str, p: str) -> Figure:
    fig = new_figure("books")
    ax = fig.add_subplot()
    moves = _path_mean(ds, "stage_transfers", {SCENARIO: s, POLICY: p})
    months = ds[MONTH].values
    for i, (a, b) in enumerate(MOVES):
        counts = moves.sel({FROM_STAGE: a, TO_STAGE: b}).values
        ax.plot(
            months,
            counts,
            color=COLOURS[i],
            linewidth=2,
            label=f"{a.replace('_', ' ')} -> {b.replace('_', ' ')}",
        )
    ax.set_ylabel("loans a month (mean over paths)")
    month_axis(ax, len(months))
    ax.grid(alpha=0.3)
    ax.set_title(f"{s} / {p}: loans moving between IFRS 9 stages")
    fig.legend(fontsize="small", loc="outside lower center", ncol=3)
    return fig


def _policy_table(ctx: Context, s: str) -> Table:
    """Each policy's allowance, lifetime and horizon loss, ratios and breach probability."""
    rows: list[list[CellLike]] = []
    for p in ctx.policies:
        at = ctx.summary.sel({SCENARIO: s, POLICY: p})
        lifetime, se = float(at["expected_lifetime_loss"]), float(at["expected_lifetime_loss_se"])
        breach = float(at["capital_breach_probability"])
        breach_se = float(at["capital_breach_probability_se"])
        rows.append(
            [
                text_cell(p),
                cny_cell(float(at["opening_allowance"])),
                Interval(
                    lifetime,
                    lifetime - 1.96 * se,
                    lifetime + 1.96 * se,
                    lambda x: pct(x, 2),
                    "0.00%",
                ),
                pct_cell(float(at["expected_loss"])),
                pct_cell(float(at["horizon_npl_ratio"])),
                pct_cell(float(at["horizon_provision_coverage"]), 0),
                pct_cell(float(at["horizon_capital_ratio"])),
                Interval(
                    breach,
                    max(breach - 1.96 * breach_se, 0.0),
                    min(breach + 1.96 * breach_se, 1.0),
                    lambda x: pct(x, 1),
                    "0.0%",
                ),
            ]
        )
    return Table(
        ctx.ids("books", s),
        f"{s}: as the bank books it. Opening allowance: ECL at the as-of date; lifetime loss: "
        "losses over the horizon plus the closing allowance, over opening principal (95% "
        "interval); horizon loss: charged off within the horizon; NPL ratio (substandard, "
        "doubtful and loss over gross loans), provision coverage (allowance over NPL) and capital "
        "ratio at the horizon, path means; P(capital breach): the capital ratio below the "
        "minimum within the horizon",
        [
            "policy",
            "opening allowance (CNY)",
            "lifetime loss",
            "horizon loss",
            "NPL ratio",
            "provision coverage",
            "capital ratio",
            "P(capital breach)",
        ],
        rows,
    )


def _transfer_table(ctx: Context, s: str) -> Table:
    ds = ctx.ds
    moves = _path_mean(ds, "stage_transfers", {SCENARIO: s, POLICY: ctx.baseline})
    totals = moves.sum(MONTH)
    return Table(
        ctx.ids("stage_transfers", s),
        f"{s} / {ctx.baseline}: loans by stage last month (rows) and this month (columns), "
        "summed over the horizon, mean over paths",
        ["from \\ to", *[str(v).replace("_", " ") for v in ds[TO_STAGE].values]],
        [
            [text_cell(str(a).replace("_", " "))]
            + [
                Cell(
                    float(totals.sel({FROM_STAGE: a, TO_STAGE: b})),
                    f"{float(totals.sel({FROM_STAGE: a, TO_STAGE: b})):,.0f}",
                    "#,##0",
                )
                for b in ds[TO_STAGE].values
            ]
            for a in ds[FROM_STAGE].values
        ],
        fold=f"Stage transfers ({ctx.baseline})",
    )


@joined
def section(ctx: Context, s: str) -> Iterator[str]:
    """The asset quality and capital section of scenario ``s`` (empty without provisions)."""
    ds = ctx.ds
    if "allowance" not in ds:
        return
    sid, ids, emit = ctx.scenario_ids[s], ctx.ids, ctx.emit
    minimum = ds.attrs.get("capital_minimum_ratio")
    minimum = float(minimum) if minimum is not None else None
    yield f'<section id="{ids(sid, "books")}" class="books"><h3>Asset quality and capital</h3>'
    yield ctx.keep(_policy_table(ctx, s))
    for fan, what, mark in (
        ("npl_ratio_fan", "NPL ratio", None),
        ("capital_ratio_fan", "capital ratio", minimum),
    ):
        yield emit(
            ReportFigure(
                ids(s, fan.removesuffix("_fan")),
                "books",
                f"{s}: {what} by month",
                _ratio_figure(ctx, s, fan, f"{s}: {what} by month, policies overlaid", mark),
                "Lines: median over paths; bands: 5-95% of paths.",
            )
        )
    yield emit(
        ReportFigure(
            ids(s, "stage_transfers"),
            "books",
            f"{s} / {ctx.baseline}: stage transfers",
            _transfer_figure(ds, s, ctx.baseline),
            "Loans on the book at both month ends whose stage changed, mean over paths.",
        )
    )
    yield ctx.keep(_transfer_table(ctx, s))
    yield "</section>"


def _path_mean(ds: xr.Dataset, name: str, at: dict[str, str]) -> xr.DataArray:
    """The mean over paths of one run's variable: weighted under tail sampling (SPEC 13)."""
    from simulator.metrics.weighted import is_weighted, weighted_mean

    values = ds[name].sel(at)
    if is_weighted(ds):
        return weighted_mean(values, ds["weight"].sel(at))
    return values.mean("path")
