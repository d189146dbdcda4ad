"""The report's figures: matplotlib helpers shared by the sections, and their inline HTML.

Figures are drawn with matplotlib's Agg renderer (no display needed), on ``Figure`` objects
that pyplot never sees, and embedded as base64 PNG data URIs.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

DPI = 100
FIGSIZE = {
    "loss": (9.0, 4.5),
    "buffers": (9.0, 4.5),
    "liquidity": (9.0, 4.5),
    "delinquency": (9.0, 4.5),
    "comparison": (10.0, 5.5),
    "books": (9.0, 4.5),
}
"""Figure size in inches by kind; the PNGs are ``FIGSIZE * DPI`` pixels."""
FIGURE_KINDS = tuple(FIGSIZE)
COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#843c0c")


@dataclass
class ReportFigure:
    name: str  # file stem, unique in the report
    kind: str
    title: str
    figure: Figure
    caption: str = ""

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI)
        return buffer.getvalue()


def figure_html(fig: ReportFigure, png: bytes) -> str:
    """The ``<figure>`` of a figure: its PNG inline, at its declared size, with its caption."""
    width, height = (round(v * DPI) for v in FIGSIZE[fig.kind])
    data = base64.b64encode(png).decode("ascii")
    caption = f"<figcaption>{escape(fig.caption)}</figcaption>" if fig.caption else ""
    return (
        f'<figure><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
        f'alt="{escape(fig.title)}" data-kind="{fig.kind}">{caption}</figure>'
    )


def new_figure(kind: str) -> Figure:
    return Figure(figsize=FIGSIZE[kind], dpi=DPI, layout="constrained")


def money_scale(values: np.ndarray) -> tuple[float, str]:
    """A divisor and unit label that keep CNY amounts readable (CNY, thousand, million...)."""
    top = float(np.nanmax(np.abs(values))) if np.size(values) else 0.0
    for factor, unit in ((1e9, "CNY billion"), (1e6, "CNY million"), (1e3, "CNY thousand")):
        if top >= 10 * factor:
            return factor, unit
    return 1.0, "CNY"


def month_axis(ax: Any, horizon: int) -> None:
    ax.set_xlabel("month of the horizon (months)")
    ax.set_xlim(1, max(horizon, 2))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def money_axis(ax: Any, label: str, factor: float) -> None:
    """A y axis of CNY amounts divided by ``factor`` (``money_scale``): its label, and ticks with
    thousands separators (one decimal for small amounts in plain CNY)."""
    ax.set_ylabel(label)
    ax.yaxis.set_major_formatter(
        FuncFormatter(lambda y, _: f"{y:,.0f}" if factor > 1 or abs(y) >= 10 else f"{y:,.1f}")
    )


def buffer_axes(ax: Any, unit: str, factor: float, horizon: int) -> None:
    """The axes of a liquidity-buffer chart: the zero line, CNY up, months across, a grid."""
    ax.axhline(0, color="black", linewidth=0.8)
    money_axis(ax, f"liquidity buffer, end of month ({unit})", factor)
    month_axis(ax, horizon)
    ax.grid(alpha=0.3)
