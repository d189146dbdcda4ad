"""Readers of loan-tape files (SPEC 3.1): CSV, Parquet and Excel behind one function.

:func:`read_tape` turns a file into a :class:`pyarrow.Table` and says how it was read; the
columns are checked by :mod:`simulator.inputs.portfolio`, the same way whatever the format, so
a value is reported with the same row number (data rows counted from 1) from any of them.

* **CSV** as lenders export it: UTF-8 with or without a byte-order mark, or GB18030 (the superset
  of GBK that Excel on Chinese Windows writes), detected in that order from the whole file, or an
  encoding forced by name. The columns given in ``text_columns`` are read as text, so that a bad
  number is reported with its row instead of failing the file.
* **Parquet** as written, typed columns included.
* **Excel** ``.xlsx`` workbooks through python-calamine (Rust's calamine, fast on large sheets):
  the first sheet or one named; the header is the first row that names one of the
  ``text_columns`` (title rows above it are skipped), else the first non-empty row. Cells of the
  ``text_columns`` become the text a CSV export would hold (whole numbers without ``.0``, dates
  as ``YYYY-MM-DD``; the same markers of a missing value as pyarrow's CSV reader), so that they
  go through the same checks.
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from simulator.errors import InputError

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}
DETECTED_ENCODINGS = ("utf-8", "gb18030")
"""Tried in this order when no encoding is given; UTF-8's byte-order mark is skipped."""
_ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GB18030"}


@dataclass(frozen=True)
class Tape:
    """A loan tape's table and how it was read."""

    table: pa.Table
    format: str  # "csv", "parquet" or "xlsx"
    encoding: str | None = None  # csv: the encoding the text was decoded with
    detected: bool = False  # csv: the encoding was detected, not given
    sheet: str | None = None  # xlsx: the sheet read
    first_row: int = 1  # xlsx: the sheet's row number of data row 1

    @property
    def how(self) -> str:
        """How the file was read, for messages ("" for a Parquet file)."""
        if self.format == "csv":
            name = _ENCODING_NAMES.get(self.encoding or "", self.encoding)
            return f"read as {name}" + (
                " by detection; --encoding chooses another" if self.detected else ""
            )
        if self.format == "xlsx":
            return f"sheet '{self.sheet}', data row 1 is the sheet's row {self.first_row}"
        return ""


def read_tape(
    path: Path,
    text_columns: Iterable[str] = (),
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    header: str = "a header row",
) -> Tape:
    """Read a loan tape (.csv, .parquet or .xlsx) into a table; :class:`InputError` if it
    cannot be read. ``encoding`` applies to CSV only and ``sheet`` to Excel only; ``header``
    says what an empty file should have held."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(path, "expected a loan tape ending in .csv, .parquet or .xlsx")
    if encoding is not None and kind != "csv":
        raise InputError(path, f"--encoding applies to CSV files, not to a .{kind} file")
    if sheet is not None and kind != "xlsx":
        raise InputError(path, f"--sheet applies to Excel workbooks (.xlsx), not to a .{kind} file")
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(path, f"empty file (0 bytes): expected {header}")
    if kind == "parquet":
        return Tape(_read_parquet(path), "parquet")
    if kind == "xlsx":
        return _read_xlsx(path, set(text_columns), sheet, header)
    return _read_csv(path, list(text_columns), encoding)


def _read_parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        _ = table.column_names
        return table
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as err:
        raise InputError(path, f"not a readable Parquet file: {_first_line(err)}") from None


def _read_csv(path: Path, text_columns: list[str], encoding: str | None) -> Tape:
    import pyarrow.csv as pacsv

    raw = path.read_bytes()
    text, used = _decode(path, raw, encoding)
    data = raw if used == "utf-8" else text.encode("utf-8")  # pyarrow skips UTF-8's BOM
    options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in text_columns}, strings_can_be_null=True
    )
    try:
        table = pacsv.read_csv(pa.BufferReader(data), convert_options=options)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable CSV file: {_first_line(err)}") from None
    return Tape(table, "csv", encoding=used, detected=encoding is None)


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, str]:
    """The file's text (without a byte-order mark) and the encoding that decoded it."""
    if encoding is not None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(
                path, f"unknown encoding '{encoding}': expected a name such as utf-8 or gb18030"
            ) from None
        try:
            return raw.decode(name).removeprefix("\ufeff"), name
        except UnicodeDecodeError as err:
            raise InputError(path, f"not {encoding} text: {_where(raw, err)}") from None
    failures = []
    for name in DETECTED_ENCODINGS:
        try:
            return raw.decode(name).removeprefix("\ufeff"), name
        except UnicodeDecodeError as err:
            failures.append(f"{_ENCODING_NAMES[name]} ({_where(raw, err)})")
    raise InputError(
        path,
        "not a readable CSV file: the text is neither "
        + " nor ".join(failures)
        + "; pass --encoding NAME (a Python codec name, e.g. big5 or utf-16) if it is in another "
        "encoding",
    )


def _where(raw: bytes, err: UnicodeDecodeError) -> str:
    line = raw.count(b"\n", 0, err.start) + 1
    return f"byte 0x{raw[err.start]:02x} on line {line} cannot be decoded"


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


# --- Excel --------------------------------------------------------------------------------


def _read_xlsx(path: Path, text_columns: set[str], sheet: str | None, header: str) -> Tape:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        names = list(workbook.sheet_names)
        if sheet is not None and sheet not in names:
            raise InputError(
                path, f"no sheet named '{sheet}': the workbook has {', '.join(map(repr, names))}"
            )
        if not names:
            raise InputError(path, "the workbook has no sheet")
        chosen = sheet if sheet is not None else names[0]
        rows = workbook.get_sheet_by_name(chosen).to_python(skip_empty_area=False)
    except InputError:
        raise
    except Exception as err:  # calamine raises its own errors and zip/XML ones on a bad file
        raise InputError(path, f"not a readable Excel workbook: {_first_line(err)}") from None

    filled = [i for i, r in enumerate(rows) if any(_filled(c) for c in r)]
    if not filled:
        raise InputError(path, f"sheet '{chosen}' is empty: expected {header}")
    # the header: the first row that names a known column (title rows above it are skipped),
    # else the first row with anything in it
    named = (i for i in filled if any(_header(c) in text_columns for c in rows[i]))
    top, bottom = next(named, filled[0]), filled[-1]
    names_row = [_header(c) for c in rows[top]]
    body = rows[top + 1 : bottom + 1]
    width = max(len(r) for r in rows[top : bottom + 1])
    names_row += [""] * (width - len(names_row))
    null_values = set(_csv_null_values())
    columns, names = [], []
    for j, name in enumerate(names_row):
        cells = [r[j] if j < len(r) else "" for r in body]
        if not name and not any(_filled(c) for c in cells):
            continue  # an empty column outside the table
        names.append(name)
        if name in text_columns:
            columns.append(pa.array([_text(c, null_values) for c in cells], pa.string()))
        else:  # read but not used: its content does not matter
            columns.append(pa.nulls(len(cells), pa.string()))
    table = pa.Table.from_arrays(columns, names=names)
    return Tape(table, "xlsx", sheet=chosen, first_row=top + 2)


def _filled(cell: object) -> bool:
    return cell is not None and cell != ""


def _header(cell: object) -> str:
    text = _text(cell, set())
    return "" if text is None else text


def _text(cell: object, null_values: set[str]) -> str | None:
    """A cell as the text a CSV export would hold (None for an empty or missing-value cell)."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() and abs(cell) < 2**53 else repr(cell)
    if isinstance(cell, dt.datetime):
        midnight = cell.time() == dt.time()
        return cell.date().isoformat() if midnight else cell.isoformat(sep=" ")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    text = str(cell)
    return None if text in null_values else text


def _csv_null_values() -> list[str]:
    import pyarrow.csv as pacsv

    return list(pacsv.ConvertOptions().null_values)
