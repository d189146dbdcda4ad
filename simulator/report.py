"""The stress-test report (SPEC 7, ``stress-sim report``): one self-contained HTML file.

For each scenario: the loss-rate distribution with EL, VaR and ES marked; the liquidity-buffer
fan chart with the shortfall probability; the delinquency balance by state over time; the
policy comparison with paired intervals (when there is more than one policy); and the table
behind each figure. Then the provenance: run settings, portfolio hash and the text of every
input file, so that the result can be reproduced.

The figures are drawn with matplotlib's Agg renderer (no display needed) and embedded as base64
PNG data URIs; the page has no script, no external stylesheet, font or image and no URL, so it
reads offline and can be mailed as it is. All text from the results is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from simulator.errors import InputError
from simulator.variables import MONTH, PATH, POLICY, SCENARIO

DEFAULT_LEVELS = (0.95, 0.99, 0.999)
MARKED_LEVEL = 0.99
"""The level whose VaR and ES are marked on the loss distribution and compared (ES diff)."""
DPI = 100
FIGSIZE = {
    "loss": (9.0, 4.5),
    "liquidity": (9.0, 4.5),
    "delinquency": (9.0, 4.5),
    "comparison": (10.0, 5.5),
}
"""Figure size in inches by kind; the PNGs are ``FIGSIZE * DPI`` pixels."""
FIGURE_KINDS = tuple(FIGSIZE)
REQUIRED = (
    "loss_rate",
    "cumulative_net_loss",
    "liquidity_buffer",
    "min_buffer",
    "survival_months",
    "balance",
    "segment_balance",
    "segment_net_credit_loss",
    "segment_opening_principal",
    "new_serious_delinquencies",
    "opening_principal",
)
"""Variables a results Dataset needs for the report."""
PROVENANCE = (
    "title",
    "simulator_version",
    "created",
    "seed",
    "paths",
    "horizon",
    "engine",
    "portfolio_source",
    "portfolio_sha256",
    "portfolio_loans",
    "units",
)
FAN_BANDS = ((0.01, 0.99), (0.05, 0.95), (0.25, 0.75))
COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#843c0c")

STYLE = """
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1.5em; color: #1a1a1a; line-height: 1.45; }
h1 { border-bottom: 3px solid #1f4e79; padding-bottom: .3em; }
h2 { background: #1f4e79; color: #fff; padding: .35em .6em; margin-top: 2.2em; }
h3 { border-bottom: 1px solid #bbb; margin-top: 1.8em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .9em; color: #444; }
div.table { overflow-x: auto; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .88em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #eef2f7; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: top; text-align: left; font-weight: bold; padding: .3em 0; }
details { margin: .4em 0; } summary { cursor: pointer; font-weight: bold; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .82em; }
nav ul { columns: 2; } .note { color: #555; font-size: .9em; }
"""


# --- the data behind the report -------------------------------------------------------------


@dataclass
class _Figure:
    name: str  # file stem, unique in the report
    kind: str
    title: str
    figure: Figure
    caption: str = ""

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


class _Ids:
    """HTML ids and file stems from arbitrary names: lower-case slugs, made unique."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, *parts: str) -> str:
        slug = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") or "x" for p in parts)
        name, i = slug, 2
        while name in self.used:
            name, i = f"{slug}-{i}", i + 1
        self.used.add(name)
        return name


def check_results(ds: xr.Dataset, source: str | Path | None = None) -> None:
    """Raise :class:`InputError` unless ``ds`` is a results Dataset the report can read."""
    missing = [name for name in REQUIRED if name not in ds.variables]
    dims = [d for d in (SCENARIO, POLICY, PATH, MONTH) if d not in ds.dims]
    if missing or dims:
        what = ", ".join(missing + [f"dimension {d}" for d in dims])
        raise InputError(source, f"not a results file of `stress-sim run --out`: it lacks {what}")


def default_baseline(ds: xr.Dataset) -> str:
    policies = [str(p) for p in ds[POLICY].values]
    return "standard" if "standard" in policies else policies[0]


# --- formatting ------------------------------------------------------------------------------


def _money_scale(values: np.ndarray) -> tuple[float, str]:
    """A divisor and unit label that keep CNY amounts readable (CNY, thousand, million...)."""
    top = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    for factor, unit in ((1e9, "CNY billion"), (1e6, "CNY million"), (1e3, "CNY thousand")):
        if top >= 10 * factor:
            return factor, unit
    return 1.0, "CNY"


def _pct(x: float, digits: int = 2) -> str:
    return "n/a" if not np.isfinite(x) else f"{x * 100:.{digits}f}%"


def _lvl(level: float) -> str:
    """0.99 -> "99%", 0.999 -> "99.9%"."""
    return f"{round(level * 100, 6):g}%"


def _pp(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x * 100:+.3f} pp"


def _cny(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:,.0f}"


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; str cells are text, tuples ``(text,)`` are right-aligned numbers."""
    out = [f'<div class="table"><table><caption>{escape(caption)}</caption><thead><tr>']
    out += [f"<th>{escape(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for cell in row:
            if isinstance(cell, tuple):
                out.append(f'<td class="n">{escape(str(cell[0]))}</td>')
            else:
                out.append(f"<td>{escape(str(cell))}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _state_label(state: str) -> str:
    match = re.fullmatch(r"dpd_(\d+)_(\d+)", state)
    return f"{match[1]}-{match[2]} DPD" if match else state.replace("_", " ")


def _month_axis(ax: Any, horizon: int) -> None:
    ax.set_xlabel("month of the horizon (months)")
    ax.set_xlim(1, max(horizon, 2))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# --- figures ---------------------------------------------------------------------------------


def _new_figure(kind: str) -> Figure:
    return Figure(figsize=FIGSIZE[kind], dpi=DPI, layout="constrained")


def _loss_figure(ds: xr.Dataset, summary: xr.Dataset, scenario: str, level: float) -> Figure:
    fig = _new_figure("loss")
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
            label=f"{policy}: EL {_pct(el)}",
        )
        ax.axvline(
            var,
            color=colour,
            linestyle="--",
            linewidth=1.4,
            label=f"{policy}: VaR {_lvl(level)} {_pct(var)}",
        )
        ax.axvline(
            es,
            color=colour,
            linestyle=":",
            linewidth=1.8,
            label=f"{policy}: ES {_lvl(level)} {_pct(es)}",
        )
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=1))
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=100, decimals=0))
    ax.set_xlabel("loss rate over the horizon (% of opening principal)")
    ax.set_ylabel("share of paths (%)")
    ax.set_title(f"{scenario}: distribution of the loss rate ({n:,} paths)")
    fig.legend(fontsize="small", loc="outside right upper", ncol=1 if ds.sizes[POLICY] < 4 else 2)
    ax.grid(alpha=0.3)
    return fig


def _liquidity_figure(summary: xr.Dataset, scenario: str, policy: str) -> Figure:
    fig = _new_figure("liquidity")
    ax = fig.add_subplot()
    at = {SCENARIO: scenario, POLICY: policy}
    fan = summary["buffer_fan"].sel(at)
    months = summary[MONTH].values
    factor, unit = _money_scale(fan.values)
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
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(f"liquidity buffer, end of month ({unit})")
    ax.yaxis.set_major_formatter(
        FuncFormatter(lambda y, _: f"{y:,.0f}" if factor > 1 or abs(y) >= 10 else f"{y:,.1f}")
    )
    _month_axis(ax, len(months))
    ax.grid(alpha=0.3)
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


def _delinquent_states(ds: xr.Dataset) -> list[str]:
    return [str(s) for s in ds["state"].values if str(s).startswith("dpd_")]


def _delinquency_figure(ds: xr.Dataset, summary: xr.Dataset, scenario: str, policy: str) -> Figure:
    fig = _new_figure("delinquency")
    ax = fig.add_subplot()
    states = _delinquent_states(ds)
    balance = summary["delinquency_balance"].sel(
        {SCENARIO: scenario, POLICY: policy, "state": states}
    )
    months = summary[MONTH].values
    factor, unit = _money_scale(balance.sum("state").values)
    colours = [
        (0.98, 0.85 - 0.12 * i, 0.35 - 0.05 * i) if i < 3 else (0.85 - 0.12 * (i - 3), 0.2, 0.15)
        for i in range(len(states))
    ]
    ax.stackplot(
        months,
        *(balance.sel(state=s).values / factor for s in states),
        labels=[_state_label(s) for s in states],
        colors=colours,
        alpha=0.9,
    )
    ax.set_ylabel(f"mean principal delinquent, end of month ({unit})")
    ax.yaxis.set_major_formatter(
        FuncFormatter(lambda y, _: f"{y:,.0f}" if factor > 1 or abs(y) >= 10 else f"{y:,.1f}")
    )
    _month_axis(ax, len(months))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(
        handles[::-1], labels[::-1], fontsize="small", loc="outside right upper", title="state"
    )
    ax.set_title(f"{scenario} / {policy}: delinquent balance by state (mean over paths)")
    return fig


COMPARED = (
    # variable stem in compare(), panel title, unit kind, better when
    ("loss_rate", "loss rate", "pp", "lower"),
    ("es", "ES {level} of the loss rate", "pp", "lower"),
    ("min_buffer", "minimum liquidity buffer", "CNY", "higher"),
    ("serious_delinquencies", "new serious delinquencies (90+ DPD)", "loans", "lower"),
)


def _comparison_figure(
    comparison: xr.Dataset, scenario: str, baseline: str, level: float
) -> Figure:
    fig = _new_figure("comparison")
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
            factor, label = _money_scale(np.concatenate([low, high]))
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
        ax.set_title(title.format(level=f"{_lvl(level)}"), fontsize="medium")
        ax.grid(alpha=0.3, axis="x")
    confidence = float(comparison.attrs.get("confidence", 0.95))
    fig.suptitle(
        f"{scenario}: policies against {baseline} on the same paths "
        f"(mean paired difference, {confidence:.0%} interval)"
    )
    return fig


# --- the page --------------------------------------------------------------------------------


def _img(fig: _Figure, png: bytes) -> str:
    width, height = (round(v * DPI) for v in FIGSIZE[fig.kind])
    data = base64.b64encode(png).decode("ascii")
    caption = f"<figcaption>{escape(fig.caption)}</figcaption>" if fig.caption else ""
    return (
        f'<figure><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
        f'alt="{escape(fig.title)}" data-kind="{fig.kind}">{caption}</figure>'
    )


def _sections(
    ds: xr.Dataset, baseline: str, levels: Sequence[float], emit: Callable[[_Figure], str]
) -> Iterator[str]:
    from simulator.metrics import compare, summarize

    level = MARKED_LEVEL if MARKED_LEVEL in levels else max(levels)
    summary = summarize(ds, levels=levels)
    policies = [str(p) for p in ds[POLICY].values]
    scenarios = [str(s) for s in ds[SCENARIO].values]
    comparison = compare(ds, baseline=baseline, level=level) if len(policies) > 1 else None
    ids = _Ids()
    scenario_ids = {s: ids("scenario", s) for s in scenarios}
    horizon = ds.sizes[MONTH]
    start = str(ds["date"].values[0])[:10] if "date" in ds.coords else "?"

    yield "<nav><h2>Contents</h2><ul>"
    yield '<li><a href="#key-figures">Key figures</a></li>'
    for s in scenarios:
        yield f'<li><a href="#{scenario_ids[s]}">Scenario {escape(s)}</a></li>'
    yield '<li><a href="#provenance">Provenance</a></li></ul></nav>'

    yield '<section id="key-figures"><h2>Key figures</h2>'
    rows: list[list[Any]] = []
    for s in scenarios:
        for p in policies:
            at = {SCENARIO: s, POLICY: p}
            rows.append(
                [
                    s,
                    p,
                    (_pct(float(summary["expected_loss"].sel(at)), 3),),
                    (_pct(float(summary["expected_loss_se"].sel(at)), 3),),
                    (_pct(float(summary["var"].sel({**at, "level": level})), 3),),
                    (_pct(float(summary["es"].sel({**at, "level": level})), 3),),
                    (_cny(float(summary["expected_net_loss"].sel(at))),),
                    (_pct(float(summary["shortfall_probability"].sel(at).max())),),
                    (f"{float(summary['median_survival'].sel(at)):.0f}",),
                ]
            )
    yield _table(
        f"Loss rate over {horizon} months and liquidity, {ds.sizes[PATH]:,} paths per run",
        [
            "scenario",
            "policy",
            "expected loss",
            "± s.e.",
            f"VaR {_lvl(level)}",
            f"ES {_lvl(level)}",
            "expected net loss (CNY)",
            "peak shortfall probability",
            f"median survival (months; {horizon + 1} = no shortfall)",
        ],
        rows,
    )
    yield (
        '<p class="note">Loss rate: net credit loss over the horizon (charge-offs + settlement '
        "losses - recoveries) divided by the opening principal. VaR: the loss rate exceeded on "
        f"{_lvl(1 - level)} of paths; ES: the mean loss rate on those paths. Shortfall: the "
        "liquidity buffer below zero at the end of a month.</p></section>"
    )

    for s in scenarios:
        sid = scenario_ids[s]
        yield f'<section id="{sid}" class="scenario"><h2>Scenario {escape(s)}</h2>'
        yield (
            f'<p class="note">{horizon} months from {escape(start)}, {ds.sizes[PATH]:,} paths; '
            f"policies: {escape(', '.join(policies))}.</p>"
        )

        yield f'<section id="{ids(sid, "loss")}" class="loss"><h3>Loss distribution</h3>'
        yield emit(
            _Figure(
                ids(s, "loss"),
                "loss",
                f"{s}: loss-rate distribution",
                _loss_figure(ds, summary, s, level),
                f"Histogram of the loss rate over paths per policy; solid: expected loss (EL), "
                f"dashed: VaR {_lvl(level)}, dotted: ES {_lvl(level)}.",
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
                        (f"{_pct(el, 3)} ± {_pct(el_se, 3)}",),
                        (_lvl(a),),
                        (_pct(var, 3),),
                        (f"[{_pct(lo, 3)}, {_pct(hi, 3)}]",),
                        (_pct(es, 3),),
                        (f"[{_pct(elo, 3)}, {_pct(ehi, 3)}]",),
                    ]
                )
        confidence = f"{float(summary.attrs['confidence']):.0%}"
        yield _table(
            f"Loss rate by policy and level, with {confidence} confidence intervals",
            ["policy", "EL ± s.e.", "level", "VaR", f"VaR {confidence} interval", "ES",
             f"ES {confidence} interval"],
            rows,
        )  # fmt: skip
        yield "</section>"

        yield f'<section id="{ids(sid, "liquidity")}" class="liquidity"><h3>Liquidity</h3>'
        for p in policies:
            at = {SCENARIO: s, POLICY: p}
            yield f'<div id="{ids(sid, p, "liquidity")}" class="policy"><h4>Policy {escape(p)}</h4>'
            yield emit(
                _Figure(
                    ids(s, p, "liquidity"),
                    "liquidity",
                    f"{s} / {p}: liquidity buffer fan",
                    _liquidity_figure(summary, s, p),
                    "Bands: 1-99%, 5-95% and 25-75% of paths; line: median buffer (left axis). "
                    "Orange: probability that the buffer is below zero (right axis).",
                )
            )
            fan = summary["buffer_fan"].sel(at)
            shortfall = summary["shortfall_probability"].sel(at)
            shortfall_se = summary["shortfall_probability_se"].sel(at)
            rows = [
                [(int(m),), str(d)[:7]]
                + [(_cny(float(fan.sel(quantile=q, month=m))),) for q in (0.01, 0.05, 0.5, 0.95)]
                + [
                    (
                        f"{_pct(float(shortfall.sel(month=m)), 1)} ± "
                        f"{_pct(float(shortfall_se.sel(month=m)), 1)}",
                    )
                ]
                for m, d in zip(ds[MONTH].values, ds["date"].values, strict=True)
            ]
            yield _table(
                f"Liquidity buffer (CNY) by month; median survival "
                f"{float(summary['median_survival'].sel(at)):.0f} months, shortfall within 12 "
                f"months {_pct(float(summary['shortfall_within_12'].sel(at)), 1)}",
                ["month", "date", "1%", "5%", "median", "95%", "shortfall probability ± s.e."],
                rows,
            )
            yield "</div>"
        yield "</section>"

        yield f'<section id="{ids(sid, "delinquency")}" class="delinquency"><h3>Delinquency</h3>'
        states = _delinquent_states(ds)
        for p in policies:
            at = {SCENARIO: s, POLICY: p}
            yield (
                f'<div id="{ids(sid, p, "delinquency")}" class="policy"><h4>Policy {escape(p)}</h4>'
            )
            yield emit(
                _Figure(
                    ids(s, p, "delinquency"),
                    "delinquency",
                    f"{s} / {p}: delinquency by state",
                    _delinquency_figure(ds, summary, s, p),
                    "Mean principal in each days-past-due bucket at the end of each month.",
                )
            )
            balance = summary["delinquency_balance"].sel(at)
            rows = []
            for m in ds[MONTH].values:
                row_balance = balance.sel(month=m)
                delinquent = float(row_balance.sel(state=states).sum())
                on_book = delinquent + float(row_balance.sel(state="current"))
                rows.append(
                    [(int(m),), (_cny(float(row_balance.sel(state="current"))),)]
                    + [(_cny(float(row_balance.sel(state=st))),) for st in states]
                    + [(_cny(delinquent),), (_pct(delinquent / on_book if on_book else np.nan),)]
                )
            yield _table(
                "Mean principal by state, end of month (CNY)",
                ["month", "current", *map(_state_label, states), "delinquent", "delinquent share"],
                rows,
            )
            yield "</div>"
        yield "</section>"

        if comparison is not None:
            yield (
                f'<section id="{ids(sid, "comparison")}" class="comparison">'
                f"<h3>Policy comparison against {escape(baseline)}</h3>"
            )
            yield emit(
                _Figure(
                    ids(s, "comparison"),
                    "comparison",
                    f"{s}: policy comparison",
                    _comparison_figure(comparison, s, baseline, level),
                    "Each policy minus the baseline on the same simulated paths (common random "
                    "numbers); bars: confidence intervals (ES: paired bootstrap).",
                )
            )
            rows = []
            for p in policies:
                if p == baseline:
                    continue
                at = {SCENARIO: s, POLICY: p}

                def cell(
                    stem: str, fmt: Callable[[float], str], at: dict[str, str] = at
                ) -> tuple[str]:
                    v = [
                        float(comparison[f"{stem}_diff{x}"].sel(at)) for x in ("", "_low", "_high")
                    ]
                    return (f"{fmt(v[0])} [{fmt(v[1])}, {fmt(v[2])}]",)

                rows.append(
                    [
                        p,
                        cell("loss_rate", _pp),
                        (_pct(float(comparison["loss_rate_better_share"].sel(at)), 0),),
                        cell("es", _pp),
                        cell("min_buffer", lambda x: f"{x:+,.0f}"),
                        cell("serious_delinquencies", lambda x: f"{x:+,.1f}"),
                    ]
                )
            yield _table(
                f"Paired differences against {baseline} (policy - baseline) with "
                f"{float(comparison.attrs['confidence']):.0%} intervals",
                [
                    "policy",
                    "loss rate",
                    "share of paths with lower loss",
                    f"ES {_lvl(level)}",
                    "minimum buffer (CNY)",
                    "new serious delinquencies (loans)",
                ],
                rows,
            )
            yield "</section>"
        yield "</section>"

    yield from _provenance(ds)


def _provenance(ds: xr.Dataset) -> Iterator[str]:
    yield '<section id="provenance"><h2>Provenance</h2>'
    rows = [[key, str(ds.attrs[key])] for key in PROVENANCE if key in ds.attrs]
    rows += [
        ["scenarios", ", ".join(map(str, ds[SCENARIO].values))],
        ["policies", ", ".join(map(str, ds[POLICY].values))],
    ]
    if "results_file" in ds.attrs:
        rows.append(["results file", str(ds.attrs["results_file"])])
    yield _table("Run", ["setting", "value"], rows)
    yield (
        '<p class="note">The same inputs and seed give the same results, whatever the engine, '
        "threads or cluster. The input files as they were read:</p>"
    )
    for key, value in ds.attrs.items():
        if key.endswith("_file") or key.startswith(("scenario_file_", "policy_file_")):
            if key == "results_file":
                continue
            label = key.replace("_file_", " file: ").replace("_file", " file")
            yield (
                f"<details><summary>{escape(label)}</summary>"
                f"<pre>{escape(str(value))}</pre></details>"
            )
    yield "</section>"


def render_report(
    ds: xr.Dataset,
    *,
    baseline: str | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    figures: dict[str, bytes] | None = None,
    title: str = "Portfolio stress test",
) -> str:
    """The report of a results Dataset as one self-contained HTML page.

    ``baseline``: the policy the others are compared with ("standard" if present, else the
    first). ``figures``: if given, each figure's PNG is also stored there under its file name
    (``severe-standard-liquidity.png``...), for ``write_figures`` and ``--format png``.
    """
    check_results(ds)
    baseline = default_baseline(ds) if baseline is None else baseline
    if baseline not in [str(p) for p in ds[POLICY].values]:
        known = ", ".join(map(str, ds[POLICY].values))
        raise InputError(None, f"baseline policy '{baseline}' is not in the results ({known})")
    if not levels or not all(0 < a < 1 for a in levels):
        raise InputError(None, f"levels must be between 0 and 1, got {list(levels)}")

    def emit(fig: _Figure) -> str:
        png = fig.png()
        if figures is not None:
            figures[f"{fig.name}.png"] = png
        return _img(fig, png)

    body = "".join(_sections(ds, baseline, tuple(levels), emit))
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    subtitle = (
        f"{ds.attrs.get('portfolio_loans', '?')} loans ({ds.attrs.get('portfolio_source', '?')}), "
        f"{ds.sizes[PATH]:,} paths, {ds.sizes[MONTH]} months, seed {ds.attrs.get('seed', '?')}; "
        f"simulator {ds.attrs.get('simulator_version', '?')}, results created "
        f"{ds.attrs.get('created', '?')}, report created {created}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"
        f"<main>{body}</main></body></html>\n"
    )


def write_figures(
    ds: xr.Dataset,
    directory: str | Path,
    format: str = "png",
    *,
    baseline: str | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> list[Path]:
    """Write every figure of the report into ``directory`` as files; return their paths."""
    if format != "png":
        raise InputError(None, f"unknown figure format '{format}': expected png")
    figures: dict[str, bytes] = {}
    render_report(ds, baseline=baseline, levels=levels, figures=figures)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, png in figures.items():
        path = directory / name
        path.write_bytes(png)
        written.append(path)
    return written
