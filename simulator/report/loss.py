"""The loss distribution of a scenario: a histogram of the loss rate over paths per policy,
with the expected loss (EL), VaR and ES marked, and the table of EL and of VaR and ES at every
level with their confidence intervals."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simulator.report.context import Context, joined
from simulator.report.figures import COLOURS, ReportFigure, new_figure
from simulator.report.html import lvl, pct, table
from simulator.variables import PATH, POLICY, SCENARIO


def _figure(ds: xr.Dataset, summary: xr.Dataset, scenario: str, level: float) -> Figure:
    fig = new_figure("loss")
    ax = fig.add_subplot()
    losses = ds["loss_rate"].sel({SCENARIO: scenario})
    values = losses.values[np.isfinite(losses.values)]
    n = losses.sizes[PATH]
    bins = np.histogram_bin_edges(
        values if values.size else [0.0, 1.0], bins=int(np.clip(np.sqrt(n), 10, 60))
    )
    for i, policy in enumerate(map(str, ds[POLICY].values)):
        colour = COLOURS[i % len(COLOURS)]
        sample = losses.sel({POLICY: policy}).values
        ax.hist(
            sample,
            bins=list(bins),
            histtype="step",
            linewidth=1.8,
            color=colour,
            label=f"{policy}: paths",
            weights=np.full(len(sample), 100.0 / len(sample)),
        )
        at = {SCENARIO: scenario, POLICY: policy}
        el = float(summary["expected_loss"].sel(at))
        var = float(summary["var"].sel({**at, "level": level}))
        es = float(summary["es"].sel({**at, "level": level}))
        ax.axvline(
            el,
            color=colour,
            linestyle="-",
            linewidth=1.2,
            alpha=0.8,
            label=f"{policy}: EL {pct(el)}",
        )
        ax.axvline(
            var,
            color=colour,
            linestyle="--",
            linewidth=1.4,
            label=f"{policy}: VaR {lvl(level)} {pct(var)}",
        )
        ax.axvline(
            es,
            color=colour,
            linestyle=":",
            linewidth=1.8,
            label=f"{policy}: ES {lvl(level)} {pct(es)}",
        )
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
    ax.set_xlabel("loss rate over the horizon (% of opening principal)")
    ax.set_ylabel("share of paths (%)")
    ax.set_title(f"{scenario}: distribution of the loss rate ({n:,} paths)")
    fig.legend(fontsize="small", loc="outside right upper", ncol=1 if ds.sizes[POLICY] < 4 else 2)
    ax.grid(alpha=0.3)
    return fig


@joined
def section(ctx: Context, s: str) -> Iterator[str]:
    """The loss section of scenario ``s``."""
    sid = ctx.scenario_ids[s]
    ds, summary, level, levels, ids = ctx.ds, ctx.summary, ctx.level, ctx.levels, ctx.ids
    policies, emit = ctx.policies, ctx.emit
    yield f'<section id="{ids(sid, "loss")}" class="loss"><h3>Loss distribution</h3>'
    yield emit(
        ReportFigure(
            ids(s, "loss"),
            "loss",
            f"{s}: loss-rate distribution",
            _figure(ds, summary, s, level),
            f"Histogram of the loss rate over paths per policy; solid: expected loss (EL), "
            f"dashed: VaR {lvl(level)}, dotted: ES {lvl(level)}.",
        )
    )
    rows = []
    for p in policies:
        at = {SCENARIO: s, POLICY: p}
        el = float(summary["expected_loss"].sel(at))
        el_se = float(summary["expected_loss_se"].sel(at))
        for a in levels:
            var, lo, hi, es, elo, ehi = (
                float(summary[v].sel({**at, "level": a}))
                for v in ("var", "var_low", "var_high", "es", "es_low", "es_high")
            )
            rows.append(
                [
                    p,
                    (f"{pct(el, 3)} ± {pct(el_se, 3)}",),
                    (lvl(a),),
                    (pct(var, 3),),
                    (f"[{pct(lo, 3)}, {pct(hi, 3)}]",),
                    (pct(es, 3),),
                    (f"[{pct(elo, 3)}, {pct(ehi, 3)}]",),
                ]
            )
    confidence = f"{float(summary.attrs['confidence']):.0%}"
    yield table(
        f"Loss rate by policy and level, with {confidence} confidence intervals",
        ["policy", "EL ± s.e.", "level", "VaR", f"VaR {confidence} interval", "ES",
         f"ES {confidence} interval"],
        rows,
    )  # fmt: skip
    yield "</section>"
