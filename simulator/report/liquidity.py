"""Liquidity in a scenario: with two policies or more, every policy's median liquidity buffer
with its 5-95% band of paths on one chart; then per policy the fan chart of the buffer (median
and 25-75%, 5-95% and 1-99% bands of paths) with the probability of a shortfall by month, and
its month-by-month table (folded)."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simulator.report.context import Context, joined
from simulator.report.figures import (
    COLOURS,
    ReportFigure,
    buffer_axes,
    money_scale,
    new_figure,
)
from simulator.report.html import pct
from simulator.report.tables import Cell, Table, cny_cell, int_cell, pct_cell, text_cell
from simulator.variables import MONTH, POLICY, SCENARIO

FAN_BANDS = ((0.01, 0.99), (0.05, 0.95), (0.25, 0.75))


def _figure(summary: xr.Dataset, scenario: str, policy: str) -> Figure:
    fig = new_figure("liquidity")
    ax = fig.add_subplot()
    at = {SCENARIO: scenario, POLICY: policy}
    fan = summary["buffer_fan"].sel(at)
    months = summary[MONTH].values
    factor, unit = money_scale(fan.values)
    for (low, high), alpha in zip(FAN_BANDS, (0.15, 0.25, 0.4), strict=True):
        ax.fill_between(
            months,
            fan.sel(quantile=low).values / factor,
            fan.sel(quantile=high).values / factor,
            color=COLOURS[0],
            alpha=alpha,
            linewidth=0,
            label=f"{low:.0%}-{high:.0%} of paths",
        )
    ax.plot(
        months, fan.sel(quantile=0.5).values / factor, color=COLOURS[0], linewidth=2, label="median"
    )
    buffer_axes(ax, unit, factor, len(months))
    twin = ax.twinx()
    shortfall = summary["shortfall_probability"].sel(at).values
    twin.plot(
        months,
        shortfall,
        color=COLOURS[1],
        linewidth=2,
        marker="o",
        markersize=3,
        label="shortfall probability (right)",
    )
    twin.set_ylim(0, min(1.0, max(0.1, 1.15 * float(np.nanmax(shortfall)))))
    twin.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    twin.set_ylabel("probability that the buffer is below zero (%)", color=COLOURS[1])
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    fig.legend(
        handles + more, labels + more_labels, fontsize="small", loc="outside lower center", ncol=5
    )
    ax.set_title(f"{scenario} / {policy}: liquidity buffer fan and shortfall probability")
    return fig


def _overlay(summary: xr.Dataset, scenario: str) -> Figure:
    """Every policy's median buffer, with its 5% and 95% of paths dashed and shaded between."""
    fig = new_figure("buffers")
    ax = fig.add_subplot()
    fan = summary["buffer_fan"].sel({SCENARIO: scenario})
    months = summary[MONTH].values
    factor, unit = money_scale(fan.sel(quantile=[0.05, 0.5, 0.95]).values)
    for i, policy in enumerate(map(str, summary[POLICY].values)):
        colour = COLOURS[i % len(COLOURS)]
        at = fan.sel({POLICY: policy})
        low, high = at.sel(quantile=0.05).values / factor, at.sel(quantile=0.95).values / factor
        ax.fill_between(months, low, high, color=colour, alpha=0.08, linewidth=0)
        for edge in (low, high):
            ax.plot(months, edge, color=colour, linewidth=0.8, linestyle="--", alpha=0.7)
        ax.plot(months, at.sel(quantile=0.5).values / factor, color=colour, linewidth=2,
                label=policy)  # fmt: skip
    buffer_axes(ax, unit, factor, len(months))
    ax.set_title(f"{scenario}: liquidity buffer by policy (median; dashed: 5% and 95% of paths)")
    ax.legend(fontsize="small", loc="best", framealpha=0.9, title="median of")
    return fig


@joined
def section(ctx: Context, s: str) -> Iterator[str]:
    """The liquidity section of scenario ``s``."""
    sid = ctx.scenario_ids[s]
    summary, ids, policies = ctx.summary, ctx.ids, ctx.policies
    yield f'<section id="{ids(sid, "liquidity")}" class="liquidity"><h3>Liquidity</h3>'
    if len(policies) > 1:
        yield ctx.emit(
            ReportFigure(
                ids(s, "buffers"),
                "buffers",
                f"{s}: liquidity buffer by policy",
                _overlay(summary, s),
                "Median liquidity buffer of each policy by month, with the 5% and 95% of paths "
                "(dashed, shaded between); the detail of each policy follows.",
            )
        )
    for p in policies:
        yield f'<div id="{ids(sid, p, "liquidity")}" class="policy"><h4>Policy {escape(p)}</h4>'
        yield ctx.emit(
            ReportFigure(
                ids(s, p, "liquidity"),
                "liquidity",
                f"{s} / {p}: liquidity buffer fan",
                _figure(summary, s, p),
                "Bands: 1-99%, 5-95% and 25-75% of paths; line: median buffer (left axis). "
                "Orange: probability that the buffer is below zero (right axis).",
            )
        )
        yield ctx.keep(_table(ctx, s, p))
        yield "</div>"
    yield "</section>"


def _table(ctx: Context, s: str, p: str) -> Table:
    """The buffer's quantiles and the shortfall probability by month (folded on the page)."""
    ds, summary = ctx.ds, ctx.summary
    at = {SCENARIO: s, POLICY: p}
    fan = summary["buffer_fan"].sel(at)
    shortfall = summary["shortfall_probability"].sel(at)
    shortfall_se = summary["shortfall_probability_se"].sel(at)
    rows: list[list[Cell]] = [
        [int_cell(m), text_cell(str(d)[:7])]
        + [cny_cell(float(fan.sel(quantile=q, month=m))) for q in (0.01, 0.05, 0.5, 0.95)]
        + [pct_cell(float(v.sel(month=m)), 1) for v in (shortfall, shortfall_se)]
        for m, d in zip(ds[MONTH].values, ds["date"].values, strict=True)
    ]
    median = float(summary["median_survival"].sel(at))
    within = pct(float(summary["shortfall_within_12"].sel(at)), 1)
    return Table(
        ctx.ids("liquidity", s, p),
        f"{s} / {p}: liquidity buffer (CNY) by month; median survival {median:.0f} months, "
        f"shortfall within 12 months {within}",
        ["month", "date", "1%", "5%", "median", "95%", "shortfall probability", "± s.e."],
        rows,
        fold=f"Month by month: buffer quantiles and shortfall probability ({p})",
    )
