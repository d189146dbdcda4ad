"""The policy comparison of a scenario (with two policies or more): each policy minus the
baseline on the same paths, for the loss rate, ES, the minimum buffer and new serious
delinquencies, with paired confidence intervals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from html import escape

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from simulator.report.context import Context, joined
from simulator.report.figures import COLOURS, ReportFigure, money_scale, new_figure
from simulator.report.html import lvl, pct, pp, table
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
        ax.set_xlabel(f"difference vs {baseline} ({label}); {better} is better")
        ax.set_title(title.format(level=f"{lvl(level)}"), fontsize="medium")
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
    policies, emit = ctx.policies, ctx.emit
    if comparison is not None:
        yield (
            f'<section id="{ids(sid, "comparison")}" class="comparison">'
            f"<h3>Policy comparison against {escape(baseline)}</h3>"
        )
        yield emit(
            ReportFigure(
                ids(s, "comparison"),
                "comparison",
                f"{s}: policy comparison",
                _figure(comparison, s, baseline, level),
                "Each policy minus the baseline on the same simulated paths (common random "
                "numbers); bars: confidence intervals (ES: paired bootstrap).",
            )
        )
        rows = []
        for p in policies:
            if p == baseline:
                continue
            at = {SCENARIO: s, POLICY: p}

            def cell(stem: str, fmt: Callable[[float], str], at: dict[str, str] = at) -> tuple[str]:
                v = [float(comparison[f"{stem}_diff{x}"].sel(at)) for x in ("", "_low", "_high")]
                return (f"{fmt(v[0])} [{fmt(v[1])}, {fmt(v[2])}]",)

            rows.append(
                [
                    p,
                    cell("loss_rate", pp),
                    (pct(float(comparison["loss_rate_better_share"].sel(at)), 0),),
                    cell("es", pp),
                    cell("min_buffer", lambda x: f"{x:+,.0f}"),
                    cell("serious_delinquencies", lambda x: f"{x:+,.1f}"),
                ]
            )
        yield table(
            f"Paired differences against {baseline} (policy - baseline) with "
            f"{float(comparison.attrs['confidence']):.0%} intervals",
            [
                "policy",
                "loss rate",
                "share of paths with lower loss",
                f"ES {lvl(level)}",
                "minimum buffer (CNY)",
                "new serious delinquencies (loans)",
            ],
            rows,
        )
        yield "</section>"
