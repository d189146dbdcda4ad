"""The report's tables as data: rendered into the page, and written to a workbook on request.

A :class:`Table` holds cells that know both their text (for the page) and their value (for the
workbook, with an Excel number format), so that an analyst who takes the numbers into a
committee pack gets numbers, not text. An :class:`Interval` cell is one column on the page (the
estimate, and below it ``[low, high]``) and three columns in the workbook (value, low, high). A
table with ``fold`` set is folded on the page (an HTML ``<details>`` element, closed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import xarray as xr

from simulator.report.html import cny, pct

SHEET_NAME_LENGTH = 31  # Excel's limit


@dataclass(frozen=True)
class Cell:
    """A number (right-aligned on the page) or, with no ``number_format``, text."""

    value: float | int | str | None
    text: str
    number_format: str | None = None


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval."""

    value: float
    low: float
    high: float
    format: Callable[[float], str]  # the text of each of the three numbers on the page
    number_format: str  # their format in the workbook


CellLike = Cell | Interval | str


@dataclass
class Table:
    """One table of the report: a caption, a header and rows; ``fold`` (a summary line) folds
    it on the page."""

    name: str  # unique in the report: the workbook's sheet name (shortened to 31 characters)
    caption: str
    header: Sequence[str]
    rows: Sequence[Sequence[CellLike]] = ()
    fold: str | None = None

    def html(self) -> str:
        out = [f'<div class="table"><table><caption>{escape(self.caption)}</caption><thead><tr>']
        out += [f"<th>{escape(h)}</th>" for h in self.header]
        out.append("</tr></thead><tbody>")
        for row in self.rows:
            out.append("<tr>" + "".join(map(_td, row)) + "</tr>")
        out.append("</tbody></table></div>")
        page = "".join(out)
        if self.fold is None:
            return page
        return f'<details class="table"><summary>{escape(self.fold)}</summary>{page}</details>'


def _td(cell: CellLike) -> str:
    if isinstance(cell, Interval):
        low, high = cell.format(cell.low), cell.format(cell.high)
        return (
            f'<td class="n">{escape(cell.format(cell.value))}<br>'
            f'<span class="ci">[{escape(low)}, {escape(high)}]</span></td>'
        )
    if isinstance(cell, Cell) and cell.number_format is not None:
        return f'<td class="n">{escape(cell.text)}</td>'
    return f"<td>{escape(cell.text if isinstance(cell, Cell) else cell)}</td>"


# --- cells -----------------------------------------------------------------------------------


def pct_cell(x: float, digits: int = 2) -> Cell:
    """A fraction shown as a percentage (a fraction in the workbook, formatted as one)."""
    return Cell(x if np.isfinite(x) else None, pct(x, digits), "0." + "0" * digits + "%")


def cny_cell(x: float) -> Cell:
    return Cell(x if np.isfinite(x) else None, cny(x), "#,##0")


def int_cell(x: int | np.integer) -> Cell:
    return Cell(int(x), f"{int(x)}", "0")


def text_cell(text: str) -> Cell:
    return Cell(text, text)


DIFFERENCES: dict[str, tuple[Callable[[float], str], str, str]] = {
    # stem in compare(): text of a value on the page, Excel number format, unit of the header
    "loss_rate": (lambda x: f"{x * 100:+.3f}", "+0.000%;-0.000%;0.000%", "pp"),
    "es": (lambda x: f"{x * 100:+.3f}", "+0.000%;-0.000%;0.000%", "pp"),
    "min_buffer": (lambda x: f"{x:+,.0f}", "+#,##0;-#,##0;0", "CNY"),
    "serious_delinquencies": (lambda x: f"{x:+,.1f}", "+#,##0.0;-#,##0.0;0.0", "loans"),
    "lifetime_loss_rate": (lambda x: f"{x * 100:+.3f}", "+0.000%;-0.000%;0.000%", "pp"),
    "capital_ratio": (lambda x: f"{x * 100:+.2f}", "+0.00%;-0.00%;0.00%", "pp"),
    "policy_costs": (lambda x: f"{x:+,.0f}", "+#,##0;-#,##0;0", "CNY"),
    "interest_income": (lambda x: f"{x:+,.0f}", "+#,##0;-#,##0;0", "CNY"),
    "net_income": (lambda x: f"{x:+,.0f}", "+#,##0;-#,##0;0", "CNY"),
    "credit_loss_expense": (lambda x: f"{x:+,.0f}", "+#,##0;-#,##0;0", "CNY"),
}
"""How a paired difference is shown: percentage points on the page, fractions in the workbook."""


def diff_interval(comparison: xr.Dataset, stem: str, at: dict[str, str]) -> Interval:
    """A paired difference from ``compare`` with its interval."""
    value, low, high = (float(comparison[f"{stem}_diff{x}"].sel(at)) for x in ("", "_low", "_high"))
    text, number_format, _ = DIFFERENCES[stem]
    return Interval(value, low, high, text, number_format)


def diff_header(what: str, stem: str, baseline: str | None = None) -> str:
    against = f" vs {baseline}" if baseline else ""
    return f"Δ {what}{against} ({DIFFERENCES[stem][2]})"


# --- the workbook ------------------------------------------------------------------------------


def write_workbook(tables: Sequence[Table], path: str | Path) -> list[str]:
    """Write each table to a sheet of an Excel workbook (openpyxl): the caption in row 1, the
    header in row 2, data from row 3, numbers as numbers with their format, an interval as
    three columns; return the sheet names (the tables' names, shortened and made unique)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    names: list[str] = []
    for table in tables:
        name = _sheet_name(table.name, names)
        names.append(name)
        sheet = workbook.create_sheet(name)
        intervals = [any(isinstance(r[i], Interval) for r in table.rows)
                     for i in range(len(table.header))]  # fmt: skip
        header: list[str] = []
        for h, interval in zip(table.header, intervals, strict=True):
            header += [h, f"{h}: low", f"{h}: high"] if interval else [h]
        sheet.append([table.caption])
        sheet.append(header)
        for cell in (sheet["A1"], *sheet[2]):
            cell.font = Font(bold=True)
        for r, row in enumerate(table.rows, start=3):
            for c, (value, number_format) in enumerate(_values(row, intervals), start=1):
                target = sheet.cell(row=r, column=c, value=value)
                if number_format is not None:
                    target.number_format = number_format
        sheet.freeze_panes = "A3"
        for c, h in enumerate(header, start=1):
            letter = sheet.cell(row=2, column=c).column_letter
            sheet.column_dimensions[letter].width = max(10, min(40, len(h) + 2))
    workbook.save(path)
    return names


def _values(row: Sequence[CellLike], intervals: list[bool]) -> list[tuple[object, str | None]]:
    """The workbook's cells of a row: (value, number format)."""
    values: list[tuple[object, str | None]] = []
    for cell, interval in zip(row, intervals, strict=True):
        if isinstance(cell, Interval):
            values += [(_plain(v), cell.number_format) for v in (cell.value, cell.low, cell.high)]
            continue
        if isinstance(cell, Cell):
            values.append((_plain(cell.value), cell.number_format))
        else:
            values.append((cell, None))
        if interval:  # a text cell ("baseline") in a column of intervals
            values += [(None, None), (None, None)]
    return values


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _sheet_name(stem: str, used: list[str]) -> str:
    taken = {u.lower() for u in used}
    name, i = stem[:SHEET_NAME_LENGTH], 2
    while name.lower() in taken:
        suffix = f"~{i}"
        name, i = stem[: SHEET_NAME_LENGTH - len(suffix)] + suffix, i + 1
    return name
