"""What every section of the report reads: the results, their summary and comparison, the
levels, the page's ids and the functions that embed a figure and a table."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ParamSpec

import xarray as xr

from simulator.report.figures import ReportFigure
from simulator.report.html import Ids
from simulator.report.tables import Table
from simulator.variables import MONTH, POLICY, SCENARIO

P = ParamSpec("P")


@dataclass(frozen=True)
class Context:
    """One report being written. Sections read it and return their HTML, in page order."""

    ds: xr.Dataset  # the results
    summary: xr.Dataset  # summarize(ds, levels)
    comparison: xr.Dataset | None  # compare(ds, baseline, level), with two policies or more
    baseline: str
    levels: tuple[float, ...]
    level: float  # the level whose VaR and ES are marked on figures and compared
    ids: Ids  # every id and figure name of the page comes from here, in page order
    scenario_ids: dict[str, str]
    emit: Callable[[ReportFigure], str]  # draws a figure and returns its <figure> element
    keep: Callable[[Table], str]  # keeps a table (for the workbook) and returns its HTML

    @property
    def scenarios(self) -> list[str]:
        return [str(s) for s in self.ds[SCENARIO].values]

    @property
    def policies(self) -> list[str]:
        return [str(p) for p in self.ds[POLICY].values]

    @property
    def horizon(self) -> int:
        return self.ds.sizes[MONTH]

    @property
    def start(self) -> str:
        """The first month of the results (a date), or "?" if they do not say."""
        return str(self.ds["date"].values[0])[:10] if "date" in self.ds.coords else "?"


def joined(parts: Callable[P, Iterator[str]]) -> Callable[P, str]:
    """A section written as a generator of HTML pieces, as a function returning its HTML."""

    @functools.wraps(parts)
    def section(*args: P.args, **kwargs: P.kwargs) -> str:
        return "".join(parts(*args, **kwargs))

    return section
