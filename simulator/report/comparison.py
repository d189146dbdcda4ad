"""The policy comparison of a scenario (with two policies or more): each policy minus the
baseline on the same paths, ranked on lifetime loss (the horizon loss without provisions), with
paired confidence intervals for the losses, ES, the policy's costs and interest income, its net
income, the capital ratio, the minimum buffer and new serious delinquencies; then each
policy's mechanisms at work (``metrics.diagnostics``)."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from simulator.metrics.diagnostics import diagnostics
from simulator.report.context import Context, joined
from simulator.report.figures import COLOURS, ReportFigure, money_scale, new_figure
from simulator.report.html import lvl
from simulator.report.tables import (
    CellLike,
    Table,
    diff_header,
    diff_interval,
    int_cell,
    pct_cell,
    text_cell,
)
from simulator.variables import POLICY, SCENARIO

COMPARED = (
    # variable stem in compare(), panel title, unit kind, better when
    ("loss_rate", "loss rate", "pp", "lower"),
    ("es", "ES {level} of the loss rate", "pp", "lower"),
    ("min_buffer", "minimum liquidity buffer", "CNY", "higher"),
    ("serious_delinquencies", "new serious delinquencies (90+ DPD)", "loans", "lower"),
)
AS_BOOKED = {
    # with provisions, a panel shows the figure as the bank books it instead
    "loss_rate": ("lifetime_loss_rate", "lifetime loss rate", "pp", "lower"),
    "serious_delinquencies": ("net_income", "net income over the horizon", "CNY", "higher"),
}
LOSSES = (
    # stem in compare(), column header
    ("lifetime_loss_rate", "lifetime loss"),
    ("loss_rate", "horizon loss"),
    ("es", "ES"),
)
COSTS = (
    ("policy_costs", "costs"),
    ("interest_income", "interest income"),
    ("net_income", "net income"),
    ("capital_ratio", "capital ratio"),
    ("min_buffer", "minimum buffer"),
    ("serious_delinquencies", "new serious delinquencies"),
)


def _figure(comparison: xr.Dataset, scenario: str, baseline: str, level: float) -> Figure:
    fig = new_figure("comparison")
    axes = fig.subplots(2, 2).ravel()
    policies = [str(p) for p in comparison[POLICY].values if str(p) != baseline]
    y = np.arange(len(policies))
    for ax, panel in zip(axes, COMPARED, strict=True):
        booked = AS_BOOKED.get(panel[0])
        stem, title, unit, better = (
            booked if booked and f"{booked[0]}_diff" in comparison else panel
        )
        at = {SCENARIO: scenario, POLICY: policies}
        mean = comparison[f"{stem}_diff"].sel(at).values
        low = comparison[f"{stem}_diff_low"].sel(at).values
        high = comparison[f"{stem}_diff_high"].sel(at).values
        scale, label = 1.0, unit
        if unit == "pp":
            scale, label = 100.0, "percentage points"
        elif unit == "CNY":
            factor, label = money_scale(np.concatenate([low, high]))
            scale = 1.0 / factor
        ax.errorbar(
            mean * scale,
            y,
            xerr=[(mean - low) * scale, (high - mean) * scale],
            fmt="o",
            color=COLOURS[0],
            ecolor=COLOURS[1],
            elinewidth=2,
            capsize=5,
        )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, policies)
        ax.set_ylim(-0.8, len(policies) - 0.2)
        # "better" goes in the title: beside the unit in the label it outgrew the right panels
        ax.set_xlabel(f"difference vs {baseline} ({label})")
        ax.set_title(f"{title.format(level=lvl(level))} ({better} is better)", fontsize="medium")
        ax.grid(alpha=0.3, axis="x")
    confidence = float(comparison.attrs.get("confidence", 0.95))
    fig.suptitle(
        f"{scenario}: policies against {baseline} on the same paths "
        f"(mean paired difference, {confidence:.0%} interval)"
    )
    return fig


@joined
def section(ctx: Context, s: str) -> Iterator[str]:
    """The comparison section of scenario ``s`` ('' with a single policy)."""
    sid = ctx.scenario_ids[s]
    comparison, baseline, level, ids = ctx.comparison, ctx.baseline, ctx.level, ctx.ids
    if comparison is None:
        return
    yield (
        f'<section id="{ids(sid, "comparison")}" class="comparison">'
        f"<h3>Policy comparison against {escape(baseline)}</h3>"
    )
    yield ctx.emit(
        ReportFigure(
            ids(s, "comparison"),
            "comparison",
            f"{s}: policy comparison",
            _figure(comparison, s, baseline, level),
            "Each policy minus the baseline on the same simulated paths (common random "
            "numbers); bars: confidence intervals (ES: paired asymptotic interval).",
        )
    )
    yield ctx.keep(_losses(ctx, s))
    yield ctx.keep(_costs(ctx, s))
    yield ctx.keep(_mechanisms(ctx, s))
    yield "</section>"


def _ranked(comparison: xr.Dataset, s: str, baseline: str, policies: list[str]) -> list[str]:
    """The policies but the baseline, best lifetime (or horizon) loss first."""
    stem = "lifetime_loss_rate" if "lifetime_loss_rate_diff" in comparison else "loss_rate"
    others = [p for p in policies if p != baseline]
    return sorted(
        others, key=lambda p: float(comparison[f"{stem}_diff"].sel({SCENARIO: s, POLICY: p}))
    )


def _cells(comparison: xr.Dataset, columns: tuple[tuple[str, str], ...], at: dict[str, str],
           level: float) -> tuple[list[CellLike], list[str]]:  # fmt: skip
    """The paired intervals of ``columns`` present in ``comparison``, and their headers."""
    present = [(stem, title) for stem, title in columns if f"{stem}_diff" in comparison]
    cells: list[CellLike] = [diff_interval(comparison, stem, at) for stem, _ in present]
    headers = [diff_header(f"{title} {lvl(level)}" if stem == "es" else title, stem)
               for stem, title in present]  # fmt: skip
    return cells, headers


def _losses(ctx: Context, s: str) -> Table:
    comparison, baseline = ctx.comparison, ctx.baseline
    assert comparison is not None
    lifetime = "lifetime_loss_rate" if "lifetime_loss_rate_diff" in comparison else "loss_rate"
    rows: list[list[CellLike]] = []
    headers: list[str] = []
    for rank, p in enumerate(_ranked(comparison, s, baseline, ctx.policies), start=1):
        at = {SCENARIO: s, POLICY: p}
        cells, headers = _cells(comparison, LOSSES, at, ctx.level)
        better = float(comparison[f"{lifetime}_better_share"].sel(at))
        rows.append([str(rank), p, *cells, pct_cell(better, 0)])
    return Table(
        ctx.ids("comparison", s),
        f"{s}: paired loss differences against {baseline} (policy - baseline), best lifetime "
        f"loss first, with {float(comparison.attrs['confidence']):.0%} intervals. Lifetime "
        "loss: horizon losses plus the closing ECL allowance.",
        ["rank", "policy", *headers, "share of paths with lower lifetime loss"],
        rows,
    )


def _costs(ctx: Context, s: str) -> Table:
    comparison, baseline = ctx.comparison, ctx.baseline
    assert comparison is not None
    rows: list[list[CellLike]] = []
    headers: list[str] = []
    for p in _ranked(comparison, s, baseline, ctx.policies):
        cells, headers = _cells(comparison, COSTS, {SCENARIO: s, POLICY: p}, ctx.level)
        rows.append([p, *cells])
    return Table(
        ctx.ids("costs", s),
        f"{s}: what each policy costs and earns against {baseline}, over the horizon. Costs: "
        "collection, legal, mediation and waived interest; a fall in interest income is "
        "interest forgone; net income after tax, credit loss expense included; the capital "
        "ratio at the horizon.",
        ["policy", *headers],
        rows,
    )


MECHANISMS = (
    # diagnostic, column header, digits of a percentage (None: a count)
    ("settlement_offers_per_path", "settlement offers / path", None),
    ("settlement_take_up", "settled / offer", 0),
    ("reinstal_offers_per_path", "re-instalment offers / path", None),
    ("reinstal_take_up", "applied / offer", 0),
    ("reinstal_approval", "approved / application", 0),
    ("holiday_offers_per_path", "holiday offers / path", None),
    ("holiday_take_up", "holiday taken / offer", 0),
    ("early_warning_offers_per_path", "early-warning offers / path", None),
    ("grace_covered_share", "Day-1 misses paid within grace", 0),
    ("day1_delinquency_rate", "Day-1 delinquency", 2),
    ("collection_rate_30d", "30-day collection rate", 1),
    ("redefault_6", "re-default 6 months after (30+ DPD)", 1),
    ("holiday_current_share", "holiday loans current 3 months after", 0),
    ("settlement_recovery", "settlement cash / balance", 0),
    ("legal_success", "legal success", 0),
)


def _mechanisms(ctx: Context, s: str) -> Table:
    diag = diagnostics(ctx.ds.sel({SCENARIO: [s]})).sel({SCENARIO: s})
    rows: list[list[CellLike]] = []
    for name, title, digits in MECHANISMS:
        cells: list[CellLike] = [title]
        for p in ctx.policies:
            value = float(diag[name].sel({POLICY: p}))
            if not np.isfinite(value):
                cells.append(text_cell("-"))
            else:
                cells.append(int_cell(round(value)) if digits is None else pct_cell(value, digits))
        rows.append(cells)
    return Table(
        ctx.ids("mechanisms", s),
        f"{s}: why - each policy's mechanisms at work (pooled over paths and months; "
        "- where the policy has no such lever)",
        ["mechanism", *ctx.policies],
        rows,
    )
