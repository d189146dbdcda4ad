"""The policy comparison of a scenario (with two policies or more): each policy minus the
baseline on the same paths, for the loss rate, ES, the minimum buffer and new serious
delinquencies, with paired confidence intervals."""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from simulator.report.context import Context, joined
from simulator.report.figures import COLOURS, ReportFigure, money_scale, new_figure
from simulator.report.html import lvl
from simulator.report.tables import CellLike, Table, diff_header, diff_interval, pct_cell
from simulator.variables import POLICY, SCENARIO

COMPARED = (
    # variable stem in compare(), panel title, unit kind, better when
    ("loss_rate", "loss rate", "pp", "lower"),
    ("es", "ES {level} of the loss rate", "pp", "lower"),
    ("min_buffer", "minimum liquidity buffer", "CNY", "higher"),
    ("serious_delinquencies", "new serious delinquencies (90+ DPD)", "loans", "lower"),
)


def _figure(comparison: xr.Dataset, scenario: str, baseline: str, level: float) -> Figure:
    fig = new_figure("comparison")
    axes = fig.subplots(2, 2).ravel()
    policies = [str(p) for p in comparison[POLICY].values if str(p) != baseline]
    y = np.arange(len(policies))
    for ax, (stem, title, unit, better) in zip(axes, COMPARED, strict=True):
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
            "numbers); bars: confidence intervals (ES: paired bootstrap).",
        )
    )
    rows: list[list[CellLike]] = []
    for p in ctx.policies:
        if p == baseline:
            continue
        at = {SCENARIO: s, POLICY: p}
        rows.append(
            [
                p,
                diff_interval(comparison, "loss_rate", at),
                pct_cell(float(comparison["loss_rate_better_share"].sel(at)), 0),
                diff_interval(comparison, "es", at),
                diff_interval(comparison, "min_buffer", at),
                diff_interval(comparison, "serious_delinquencies", at),
            ]
        )
    yield ctx.keep(
        Table(
            ids("comparison", s),
            f"{s}: paired differences against {baseline} (policy - baseline) with "
            f"{float(comparison.attrs['confidence']):.0%} intervals",
            [
                "policy",
                diff_header("loss rate", "loss_rate"),
                "share of paths with lower loss",
                diff_header(f"ES {lvl(level)}", "es"),
                diff_header("minimum buffer", "min_buffer"),
                diff_header("new serious delinquencies", "serious_delinquencies"),
            ],
            rows,
        )
    )
    yield "</section>"
