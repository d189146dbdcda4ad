"""The stress-test report (SPEC 7, ``stress-sim report``): one self-contained HTML file.

The page is a sequence of sections, one module each, every section a function of the report's
:class:`~simulator.report.context.Context` that returns its HTML (embedding its figures through
``ctx.emit`` and its tables through ``ctx.keep``). It opens on the answer (``summary``): per
scenario, a sentence naming the policy that does best on loss and the one that does best on
liquidity, with its paired interval against the baseline, and a table of every policy side by
side. Then for each scenario the policies' loss-rate distributions on one chart, with EL and ES
marked (``loss``); their liquidity buffers on one chart, then each policy's fan chart with the
shortfall probability (``liquidity``); the delinquency balance by state over time
(``delinquency``); asset quality and capital when the run booked provisions - allowance,
lifetime loss, NPL and capital ratios, stage transfers (``books``); the policy comparison with
paired intervals, when there is more than one policy (``comparison``); each with the table
behind its figure, the month-by-month ones folded.
Last the provenance: run settings, portfolio hash and the text of every input file, so that
the result can be reproduced (``provenance``). A new section is a new module, named in
:data:`SCENARIO_SECTIONS` or in :func:`_body`.

``html`` holds the page frame, ids and number formats; ``tables`` the tables as data (their
HTML, and the workbook of ``write_tables`` and ``--xlsx``); ``figures`` the matplotlib helpers
(Agg renderer, no display needed) and the inline PNG data URIs: the page has no script, no
external stylesheet, font or image and no URL, so it reads offline and can be mailed as it is.
All text from the results is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path

import xarray as xr

from simulator.errors import InputError
from simulator.metrics import DEFAULT_LEVELS
from simulator.report import (
    books,
    comparison,
    delinquency,
    liquidity,
    loss,
    provenance,
    summary,
)
from simulator.report.context import Context
from simulator.report.figures import DPI, FIGSIZE, FIGURE_KINDS, ReportFigure, figure_html
from simulator.report.html import Ids, page
from simulator.report.tables import Table, write_workbook
from simulator.variables import MONTH, PATH, POLICY, SCENARIO

__all__ = [
    "DEFAULT_LEVELS",
    "DPI",
    "FIGSIZE",
    "FIGURE_KINDS",
    "MARKED_LEVEL",
    "REQUIRED",
    "check_results",
    "default_baseline",
    "render_report",
    "write_figures",
    "write_tables",
]

MARKED_LEVEL = 0.99
"""The level whose VaR and ES are marked on the loss distribution and compared (ES diff)."""
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

SCENARIO_SECTIONS: tuple[Callable[[Context, str], str], ...] = (
    loss.section,
    liquidity.section,
    delinquency.section,
    books.section,
    comparison.section,
)
"""The sections of each scenario, in page order: functions (context, scenario) -> HTML."""


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


def render_report(
    ds: xr.Dataset,
    *,
    baseline: str | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    figures: dict[str, bytes] | None = None,
    tables: list[Table] | None = None,
    title: str = "Portfolio stress test",
) -> str:
    """The report of a results Dataset as one self-contained HTML page.

    ``baseline``: the policy the others are compared with ("standard" if present, else the
    first). ``figures``: if given, each figure's PNG is also stored there under its file name
    (``severe-standard-liquidity.png``...), for ``write_figures`` and ``--format png``.
    ``tables``: if given, every table of the page is appended to it, in page order, for
    ``write_workbook`` (``write_tables``, ``--xlsx``).
    """
    check_results(ds)
    baseline = default_baseline(ds) if baseline is None else baseline
    if baseline not in [str(p) for p in ds[POLICY].values]:
        known = ", ".join(map(str, ds[POLICY].values))
        raise InputError(None, f"baseline policy '{baseline}' is not in the results ({known})")
    if not levels or not all(0 < a < 1 for a in levels):
        raise InputError(None, f"levels must be between 0 and 1, got {list(levels)}")

    def emit(fig: ReportFigure) -> str:
        png = fig.png()
        if figures is not None:
            figures[f"{fig.name}.png"] = png
        return figure_html(fig, png)

    def keep(table: Table) -> str:
        if tables is not None:
            tables.append(table)
        return table.html()

    body = _body(_context(ds, baseline, tuple(levels), emit, keep))
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    subtitle = (
        f"{ds.attrs.get('portfolio_loans', '?')} loans ({ds.attrs.get('portfolio_source', '?')}), "
        f"{ds.sizes[PATH]:,} paths, {ds.sizes[MONTH]} months, seed {ds.attrs.get('seed', '?')}; "
        f"simulator {ds.attrs.get('simulator_version', '?')}, results created "
        f"{ds.attrs.get('created', '?')}, report created {created}"
    )
    return page(title, subtitle, body)


def _context(
    ds: xr.Dataset,
    baseline: str,
    levels: tuple[float, ...],
    emit: Callable[[ReportFigure], str],
    keep: Callable[[Table], str],
) -> Context:
    """Summarise and compare the results once, for every section."""
    from simulator.metrics import compare, summarize

    level = MARKED_LEVEL if MARKED_LEVEL in levels else max(levels)
    policies = [str(p) for p in ds[POLICY].values]
    ids = Ids()
    return Context(
        ds=ds,
        summary=summarize(ds, levels=levels),
        comparison=compare(ds, baseline=baseline, level=level) if len(policies) > 1 else None,
        baseline=baseline,
        levels=levels,
        level=level,
        ids=ids,
        scenario_ids={s: ids("scenario", s) for s in map(str, ds[SCENARIO].values)},
        emit=emit,
        keep=keep,
    )


def _body(ctx: Context) -> str:
    """The summary, the contents, each scenario's sections and the provenance."""
    parts = [summary.section(ctx), _contents(ctx)]
    for s in ctx.scenarios:
        parts.append(_scenario_head(ctx, s))
        parts.extend(section(ctx, s) for section in SCENARIO_SECTIONS)
        parts.append("</section>")
    parts.append(provenance.section(ctx))
    return "".join(parts)


def _contents(ctx: Context) -> str:
    links = [f'<li><a href="#{ctx.scenario_ids[s]}">Scenario {escape(s)}</a></li>'
             for s in ctx.scenarios]  # fmt: skip
    return (
        '<nav><h2>Contents</h2><ul><li><a href="#summary">Summary</a></li>'
        + "".join(links)
        + '<li><a href="#provenance">Provenance</a></li></ul></nav>'
    )


def _scenario_head(ctx: Context, s: str) -> str:
    """The opening of a scenario's section: its heading and what was run."""
    return (
        f'<section id="{ctx.scenario_ids[s]}" class="scenario"><h2>Scenario {escape(s)}</h2>'
        f'<p class="note">{ctx.horizon} months from {escape(ctx.start)}, '
        f"{ctx.ds.sizes[PATH]:,} paths; policies: {escape(', '.join(ctx.policies))}.</p>"
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


def write_tables(
    ds: xr.Dataset,
    path: str | Path,
    *,
    baseline: str | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> list[str]:
    """Write every table of the report to an Excel workbook, one sheet per table, in page order
    (see :func:`~simulator.report.tables.write_workbook`); return the sheet names."""
    tables: list[Table] = []
    render_report(ds, baseline=baseline, levels=levels, tables=tables)
    return write_workbook(tables, path)
