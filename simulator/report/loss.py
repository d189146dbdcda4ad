"""The loss distribution of a scenario: every policy's distribution of the loss rate over paths
on one chart (empirical CDFs, expected loss and ES marked), and the table of EL and of VaR and
ES at every level with their confidence intervals, and each segment's contribution to the ES
(what drives the tail)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from simulator.report.context import Context, joined
from simulator.report.figures import COLOURS, ReportFigure, new_figure
from simulator.report.html import lvl, pct
from simulator.report.tables import CellLike, Interval, Table, pct_cell, text_cell
from simulator.variables import PATH, POLICY, SCENARIO


def _figure(ds: xr.Dataset, summary: xr.Dataset, scenario: str, level: float) -> Figure:
    """One CDF per policy: a curve further left loses less; the legend sits in the empty lower
    right corner, inside the axes, so that it never crowds the title."""
    fig = new_figure("loss")
    ax = fig.add_subplot()
    losses = ds["loss_rate"].sel({SCENARIO: scenario})
    for i, policy in enumerate(map(str, ds[POLICY].values)):
        colour = COLOURS[i % len(COLOURS)]
        sample = np.sort(losses.sel({POLICY: policy}).values)
        at = {SCENARIO: scenario, POLICY: policy}
        el = float(summary["expected_loss"].sel(at))
        es = float(summary["es"].sel({**at, "level": level}))
        label = f"{policy}: EL {pct(el)}, ES {lvl(level)} {pct(es)}"
        share = np.arange(1, len(sample) + 1) / len(sample)
        ax.step(sample, share, where="post", color=colour, linewidth=1.8, label=label)
        below = np.searchsorted(sample, el, side="right") / len(sample)
        ax.plot([el], [below], "o", color=colour, markersize=6)
        ax.plot([es], [level], "D", color=colour, markersize=6)
    ax.axhline(level, color="grey", linewidth=0.8, linestyle=":")
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("loss rate over the horizon (% of opening principal)")
    ax.set_ylabel("share of paths with a lower loss (%)")
    ax.set_title(f"{scenario}: loss-rate distribution by policy ({losses.sizes[PATH]:,} paths)")
    markers = [
        Line2D([], [], marker="o", color="black", linestyle="none", label="expected loss (EL)"),
        Line2D([], [], marker="D", color="black", linestyle="none",
               label=f"ES {lvl(level)} (on the {lvl(level)} line)"),
    ]  # fmt: skip
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=handles + markers, fontsize="small", loc="lower right", framealpha=0.9)
    ax.grid(alpha=0.3)
    return fig


@joined
def section(ctx: Context, s: str) -> Iterator[str]:
    """The loss section of scenario ``s``."""
    sid = ctx.scenario_ids[s]
    ds, summary, level, ids = ctx.ds, ctx.summary, ctx.level, ctx.ids
    yield f'<section id="{ids(sid, "loss")}" class="loss"><h3>Loss distribution</h3>'
    yield ctx.emit(
        ReportFigure(
            ids(s, "loss"),
            "loss",
            f"{s}: loss-rate distribution by policy",
            _figure(ds, summary, s, level),
            "The share of paths whose loss rate is at most x, per policy (a curve further left "
            f"loses less); dots: expected loss (EL), diamonds: ES {lvl(level)} on the "
            f"{lvl(level)} line.",
        )
    )
    yield ctx.keep(_table(ctx, s))
    if "es_contribution" in summary:
        yield ctx.keep(_contributions(ctx, s))
    yield "</section>"


def _table(ctx: Context, s: str) -> Table:
    summary = ctx.summary
    rows: list[list[CellLike]] = []
    for p in ctx.policies:
        at = {SCENARIO: s, POLICY: p}
        el = float(summary["expected_loss"].sel(at))
        el_se = float(summary["expected_loss_se"].sel(at))
        for a in ctx.levels:
            var, lo, hi, es, elo, ehi = (
                float(summary[v].sel({**at, "level": a}))
                for v in ("var", "var_low", "var_high", "es", "es_low", "es_high")
            )
            rows.append([p, pct_cell(el, 3), pct_cell(el_se, 3), text_cell(lvl(a)),
                         Interval(var, lo, hi, lambda x: pct(x, 3), "0.000%"),
                         Interval(es, elo, ehi, lambda x: pct(x, 3), "0.000%")])  # fmt: skip
    confidence = f"{float(summary.attrs['confidence']):.0%}"
    return Table(
        ctx.ids("loss", s),
        f"{s}: loss rate by policy and level, with {confidence} confidence intervals",
        ["policy", "EL", "± s.e.", "level", "VaR", "ES"],
        rows,
    )


def _contributions(ctx: Context, s: str) -> Table:
    """What drives the tail: each segment's contribution to ES at the report's level (the
    expected segment loss on the tail's paths: they add up to the ES) and its share of it."""
    summary, level = ctx.summary, ctx.level
    rows: list[list[CellLike]] = []
    for p in ctx.policies:
        at = {SCENARIO: s, POLICY: p, "level": level}
        es = float(summary["es"].sel(at))
        for g in map(str, summary["segment"].values):
            names = ("es_contribution", "es_contribution_low", "es_contribution_high")
            c, lo, hi = (float(summary[v].sel({**at, "segment": g})) for v in names)
            share = c / es if es > 0 else float("nan")
            rows.append([p, g, Interval(c, lo, hi, lambda x: pct(x, 3), "0.000%"),
                         pct_cell(share, 1)])  # fmt: skip
    return Table(
        ctx.ids("contributions", s),
        f"{s}: what drives the tail - each segment's contribution to the ES {lvl(level)} of the "
        "loss rate (its expected loss on the tail's paths; the contributions add up to the ES)",
        ["policy", "segment", f"contribution to ES {lvl(level)}", "share of the ES"],
        rows,
    )
