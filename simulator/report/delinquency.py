"""Delinquency in a scenario, per policy: the KPIs lenders publish (90+ DPD ratio, Day-1
delinquency, 30-day collection rate) side by side, then the mean principal in each
days-past-due bucket by month, stacked, and its month-by-month table (folded)."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from simulator.report.context import Context, joined
from simulator.report.figures import (
    ReportFigure,
    money_axis,
    money_scale,
    month_axis,
    new_figure,
)
from simulator.report.html import state_label
from simulator.report.tables import Cell, Table, cny_cell, int_cell, pct_cell, text_cell
from simulator.variables import MONTH, POLICY, SCENARIO


def delinquent_states(ds: xr.Dataset) -> list[str]:
    return [str(s) for s in ds["state"].values if str(s).startswith("dpd_")]


def _figure(ds: xr.Dataset, summary: xr.Dataset, scenario: str, policy: str) -> Figure:
    fig = new_figure("delinquency")
    ax = fig.add_subplot()
    states = delinquent_states(ds)
    balance = summary["delinquency_balance"].sel(
        {SCENARIO: scenario, POLICY: policy, "state": states}
    )
    months = summary[MONTH].values
    factor, unit = money_scale(balance.sum("state").values)
    colours = [
        (0.98, 0.85 - 0.12 * i, 0.35 - 0.05 * i) if i < 3 else (0.85 - 0.12 * (i - 3), 0.2, 0.15)
        for i in range(len(states))
    ]
    ax.stackplot(
        months,
        *(balance.sel(state=s).values / factor for s in states),
        labels=[state_label(s) for s in states],
        colors=colours,
        alpha=0.9,
    )
    money_axis(ax, f"mean principal delinquent, end of month ({unit})", factor)
    month_axis(ax, len(months))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles[::-1], labels[::-1], fontsize="small", loc="outside right upper", title="state"
    )
    ax.set_title(f"{scenario} / {policy}: delinquent balance by state (mean over paths)")
    return fig


@joined
def section(ctx: Context, s: str) -> Iterator[str]:
    """The delinquency section of scenario ``s``."""
    sid = ctx.scenario_ids[s]
    ds, summary, ids = ctx.ds, ctx.summary, ctx.ids
    yield f'<section id="{ids(sid, "delinquency")}" class="delinquency"><h3>Delinquency</h3>'
    if "kpi_dpd90_ratio" in summary:
        yield ctx.keep(_kpi_table(ctx, s))
    for p in ctx.policies:
        yield (f'<div id="{ids(sid, p, "delinquency")}" class="policy"><h4>Policy {escape(p)}</h4>')
        yield ctx.emit(
            ReportFigure(
                ids(s, p, "delinquency"),
                "delinquency",
                f"{s} / {p}: delinquency by state",
                _figure(ds, summary, s, p),
                "Mean principal in each days-past-due bucket at the end of each month.",
            )
        )
        yield ctx.keep(_table(ctx, s, p))
        yield "</div>"
    yield "</section>"


KPI_COLUMNS = (
    ("kpi_dpd90_ratio", "90+ DPD ratio at the horizon", 2),
    ("kpi_day1_delinquency_rate", "Day-1 delinquency", 2),
    ("kpi_collection_rate_30d", "30-day collection rate", 1),
)
VINTAGE_MONTHS_ON_BOOK = 6
"""The point of the new loans' vintage curve in the KPI table: 30+ DPD at 6 months on book
(MOB6), the one lenders and ABS reports quote."""


def _kpi_columns(ctx: Context) -> list[tuple[str, str, int, dict[str, int]]]:
    """The KPI table's columns: (summary name, label, digits, selection); the vintage point
    where the run has new lending and reaches that many months on book."""
    columns: list[tuple[str, str, int, dict[str, int]]] = [
        (name, label, digits, {}) for name, label, digits in KPI_COLUMNS
    ]
    vintage = ctx.summary.get("kpi_vintage_dpd30")
    m = VINTAGE_MONTHS_ON_BOOK
    if vintage is not None and m in vintage["months_on_book"] and bool(vintage.notnull().any()):
        label = f"new loans 30+ DPD at {m} months on book"
        columns.append(("kpi_vintage_dpd30", label, 2, {"months_on_book": m}))
    return columns


def _kpi_table(ctx: Context, s: str) -> Table:
    """Each policy's published KPIs (mean over paths, with the standard error below)."""
    columns = _kpi_columns(ctx)
    rows: list[list[Cell]] = []
    for p in ctx.policies:
        row: list[Cell] = [text_cell(p)]
        for name, _, digits, point in columns:
            at = {SCENARIO: s, POLICY: p, **point}
            row += [
                pct_cell(float(ctx.summary[name].sel(at)), digits),
                pct_cell(float(ctx.summary[f"{name}_se"].sel(at)), digits),
            ]
        rows.append(row)
    header = ["policy"]
    for _, label, _, _ in columns:
        header += [label, "± s.e."]
    return Table(
        ctx.ids("kpis", s),
        f"{s}: the KPIs lenders publish - 90+ DPD ratio (principal 91-180 DPD over principal on "
        "book), Day-1 delinquency (入催率) and 30-day collection rate (M1回款率) over the horizon",
        header,
        rows,
    )


def _table(ctx: Context, s: str, p: str) -> Table:
    """Mean principal by state and month (folded on the page)."""
    ds = ctx.ds
    states = delinquent_states(ds)
    balance = ctx.summary["delinquency_balance"].sel({SCENARIO: s, POLICY: p})
    rows: list[list[Cell]] = []
    for m in ds[MONTH].values:
        row_balance = balance.sel(month=m)
        delinquent = float(row_balance.sel(state=states).sum())
        on_book = delinquent + float(row_balance.sel(state="current"))
        rows.append(
            [int_cell(m), cny_cell(float(row_balance.sel(state="current")))]
            + [cny_cell(float(row_balance.sel(state=st))) for st in states]
            + [cny_cell(delinquent), pct_cell(delinquent / on_book if on_book else np.nan)]
        )
    return Table(
        ctx.ids("delinquency", s, p),
        f"{s} / {p}: mean principal by state, end of month (CNY)",
        ["month", "current", *map(state_label, states), "delinquent", "delinquent share"],
        rows,
        fold=f"Month by month: principal by days-past-due bucket ({p})",
    )
