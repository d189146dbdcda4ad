"""HTML pages of a calibration and of a backtest: self-contained (inline PNG figures, no script
or link), in the style of the stress-test report."""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from simulator.calibration.backtesting import Backtest
from simulator.calibration.fitting import Calibration, SegmentCalibration
from simulator.report.html import page
from simulator.report.tables import Cell, Table
from simulator.states import ACTIVE_STATES, DESTINATIONS

SHORT = ("cur", "M1", "M2", "M3", "M4", "M5", "M6", "CO")
LIGHT_COLOURS = {"green": "#548235", "yellow": "#bf9000", "red": "#c00000"}


def _img(fig: Figure, alt: str, caption: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _page(title: str, subtitle: str, body: Sequence[str]) -> str:
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return page(title, f"{subtitle}; created {created}", "".join(body))


def _table(caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The report's table: ``(text,)`` cells are right-aligned numbers, strings are text."""
    cells = [
        [Cell(c[0], str(c[0]), "General") if isinstance(c, tuple) else str(c) for c in row]
        for row in rows
    ]
    return Table(name=caption[:31], caption=caption, header=header, rows=cells).html()


def _pct(x: float) -> tuple[str]:
    return (f"{100 * x:.2f}%",) if np.isfinite(x) else ("-",)


# --- calibration ------------------------------------------------------------------------------


def _rows_figure(seg: SegmentCalibration) -> Figure:
    """Observed against fitted frequencies of every fitted row of the normal matrix."""
    fig = Figure(figsize=(10, 4.5), layout="constrained")
    axes = fig.subplots(1, len(ACTIVE_STATES), sharey=True)
    for s, (ax, row) in enumerate(zip(axes, seg.normal, strict=True)):
        reach = np.arange(s + 2)
        ax.bar(
            reach - 0.2, np.nan_to_num(row.observed[reach]), 0.4, label="observed", color="#1f4e79"
        )
        ax.bar(reach + 0.2, np.nan_to_num(row.fitted[reach]), 0.4, label="fitted", color="#c55a11")
        ax.set_xticks(reach, [SHORT[i] for i in reach], fontsize=7)
        ax.set_title(f"from {SHORT[s]}", fontsize=9)
    axes[0].set_ylabel("share of moves over the window")
    axes[0].legend(fontsize=7)
    return fig


def _index_figure(cal: Calibration, seg: SegmentCalibration) -> Figure:
    assert seg.systematic is not None
    sys = seg.systematic
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(sys.index))
    ax.plot(x, sys.index, color="#1f4e79", label="fitted index Z (negative: bad times)")
    if sys.beta:
        ax.plot(
            x, sys.macro_part, color="#c55a11", label="macro part -sum beta (x - x_ref) / scale"
        )
    ax.axhline(0, color="#888", lw=0.8)
    if sys.beta:
        twin = ax.twinx()
        for j, name in enumerate(sys.beta):
            twin.plot(
                x, sys.macro_moves[:, j], ":", color="#548235", label=f"{name} (x - x_ref) / scale"
            )
        twin.set_ylabel("macro move from the reference month (scaled)")
        twin.legend(fontsize=8, loc="lower right")
    ticks = x[:: max(1, len(x) // 12)]
    ax.set_xticks(ticks, [seg.periods[i] for i in ticks], rotation=45, fontsize=7)
    ax.set_ylabel("Z")
    ax.legend(fontsize=8, loc="upper left")
    return fig


def _row_table(seg: SegmentCalibration, kind: str) -> str:
    rows = []
    for state, row in zip(ACTIVE_STATES, getattr(seg, kind), strict=True):
        for d, name in enumerate(DESTINATIONS):
            if row.probabilities[d] == 0 and row.moves[d] == 0:
                continue
            rows.append(
                [
                    state,
                    name,
                    _pct(row.probabilities[d])[0],
                    _pct(row.lower[d]),
                    _pct(row.upper[d]),
                    (f"{int(row.moves[d]):,}",),
                    _pct(row.observed[d]),
                    _pct(row.fitted[d]),
                    row.source,
                ]
            )
    header = [
        "from",
        "to",
        "model row",
        "95% low",
        "95% high",
        "moves",
        "observed",
        "fitted",
        "source",
    ]
    caption = (
        f"{seg.name}: {kind} matrix (model row: at the reference month's macro values, averaged "
        "over the factor; observed and fitted: over the window)"
    )
    return _table(caption, header, rows)


def _segment_section(cal: Calibration, seg: SegmentCalibration) -> list[str]:
    out = [
        f"<h2>Segment {escape(seg.name)}</h2>"
        f"<p>{seg.loans:,} loans, {seg.moves:,} moves; {escape(seg.source)}.</p>"
    ]
    if seg.rho is not None and seg.systematic is not None:
        sys = seg.systematic
        facts = [
            [
                "rho",
                (f"{seg.rho.value:.4f}",),
                (f"{seg.rho.lower:.4f}",),
                (f"{seg.rho.upper:.4f}",),
                sys.method,
            ]
        ]
        if seg.vasicek_rho is not None:
            facts.append(
                [
                    "rho, Vasicek moment estimator on the miss rates",
                    (f"{seg.vasicek_rho:.4f}",),
                    "",
                    "",
                    "check",
                ]
            )
        facts += [
            [
                f"beta {k}",
                (f"{v.value:+.3f}",),
                (f"{v.lower:+.3f}",),
                (f"{v.upper:+.3f}",),
                seg.sign.get(k, ""),
            ]
            for k, v in sys.beta.items()
        ]
        facts.append(
            [
                "residual AR(1) phi",
                (f"{sys.phi.value:.3f}",),
                (f"{sys.phi.lower:.3f}",),
                (f"{sys.phi.upper:.3f}",),
                "scenario [factor] phi",
            ]
        )
        out.append(
            _table(
                "systematic part", ["parameter", "estimate", "95% low", "95% high", "note"], facts
            )
        )
        out.append(
            _img(
                _index_figure(cal, seg),
                "fitted index",
                f"{seg.name}: the fitted credit-cycle index by month, its macro part and the macro "
                "series (moves from the reference month)",
            )
        )
    out.append(
        _img(
            _rows_figure(seg),
            "rows",
            f"{seg.name}: observed against fitted frequencies of the normal rows over the window",
        )
    )
    out += [_row_table(seg, "normal"), _row_table(seg, "restructured")]
    return out


def calibration_report(cal: Calibration) -> str:
    tiers = _table(
        f"tier offsets (reference tier {cal.reference_tier})",
        ["tier", "min score", "delta", "95% low", "95% high", "moves", "source"],
        [
            [
                t.name,
                (t.min_score,),
                (f"{t.delta.value:+.4f}",),
                (f"{t.delta.lower:+.4f}",),
                (f"{t.delta.upper:+.4f}",),
                (f"{t.moves:,}",),
                t.source,
            ]
            for t in cal.tiers
        ],
    )
    body = [tiers]
    if cal.recovery is not None:
        rec = cal.recovery
        body.append(
            _table(
                "recoveries",
                ["parameter", "estimate", "95% low", "95% high"],
                [
                    [name, (f"{e.value:.4f}",), (f"{e.lower:.4f}",), (f"{e.upper:.4f}",)]
                    for name, e in (
                        ("monthly hazard", rec.hazard),
                        ("Beta alpha", rec.alpha),
                        ("Beta beta", rec.beta),
                    )
                ],
            )
        )
    excluded = "; ".join(f"{v:,} {k}" for k, v in cal.excluded.items() if v) or "none"
    body.append(
        f'<p class="note">Loan-months left out of the transition counts: {escape(excluded)}.</p>'
    )
    for seg in cal.segments:
        body += _segment_section(cal, seg)
    subtitle = (
        f"{cal.panel_source}: {cal.loans:,} loans, {cal.loan_months:,} loan-months, {cal.window}"
    )
    return _page("Calibration", subtitle, body)


# --- backtest --------------------------------------------------------------------------------


def _backtest_figure(bt: Backtest, label: str) -> Figure:
    checks = [c for c in bt.checks if (c.label or c.metric) == label]
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(checks))
    q = {k: np.array([c.quantiles[k] for c in checks]) for k in checks[0].quantiles}
    ax.fill_between(x, q["q0.001"], q["q0.999"], color="#dbe5f1", label="simulated 0.1%-99.9%")
    ax.fill_between(x, q["q0.05"], q["q0.95"], color="#9dc3e6", label="simulated 5%-95%")
    ax.plot(x, q["q0.5"], color="#1f4e79", label="simulated median")
    ax.scatter(
        x,
        [c.realised for c in checks],
        c=[LIGHT_COLOURS[c.light] for c in checks],
        zorder=3,
        label="realised",
    )
    naive = [np.nan if c.naive is None else c.naive for c in checks]
    if np.isfinite(naive).all():
        ax.plot(x, naive, "--", color="#7f7f7f", label="naive (average history)")
    ax.set_xticks(x, [c.month for c in checks], rotation=45, fontsize=7)
    ax.set_title(label, fontsize=10)
    ax.legend(fontsize=7)
    return fig


def backtest_section(bt: Backtest) -> list[str]:
    lights = bt.lights()
    out = [
        f"<h2>Backtest from {escape(bt.as_of)}</h2><p>{bt.loans:,} loans, {bt.months} months, "
        f"{bt.paths:,} paths: " + ", ".join(f"{v} {k}" for k, v in lights.items()) + ".</p>"
    ]
    for label in dict.fromkeys(c.label or c.metric for c in bt.checks):
        out.append(
            _img(
                _backtest_figure(bt, label),
                label,
                f"{label}: realised (coloured by light) against the simulated distribution",
            )
        )
    out.append(
        _table(
            "Jeffreys test per bucket (ignores default correlation)",
            ["roll", "moves", "rolls", "realised", "model", "p (high)", "verdict"],
            [
                [
                    j.label,
                    (f"{j.moves:,}",),
                    (f"{j.rolls:,}",),
                    _pct(j.realised),
                    _pct(j.predicted),
                    (f"{j.p_high:.3g}",),
                    j.verdict,
                ]
                for j in bt.jeffreys
            ],
        )
    )
    out.append(
        _table(
            "mean absolute error of the roll rates: model median against the naive benchmark",
            ["roll", "model", "naive"],
            [
                [k, _pct(v), _pct(bt.naive_mae.get(k, float("nan")))]
                for k, v in bt.model_mae.items()
            ],
        )
    )
    out.append(
        _table(
            "every check",
            ["metric", "month", "realised", "q5%", "median", "q95%", "quantile", "light"],
            [
                [
                    c.label or c.metric,
                    c.month,
                    (f"{c.realised:.4f}",),
                    (f"{c.quantiles['q0.05']:.4f}",),
                    (f"{c.quantiles['q0.5']:.4f}",),
                    (f"{c.quantiles['q0.95']:.4f}",),
                    (f"{c.quantile:.3f}",),
                    c.light + (f" ({c.side})" if c.side else ""),
                ]
                for c in bt.checks
            ],
        )
    )
    return out


def backtest_report(bt: Backtest, **_: Any) -> str:
    return _page("Backtest", f"as of {bt.as_of}", backtest_section(bt))
