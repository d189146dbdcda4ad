"""The loan-month panel (SPEC 12): a lender's own history, one row per loan per month on book.

Columns: ``loan_id``, ``month`` (``YYYY-MM``), ``segment``, ``score``, ``dpd`` (days past due
0-180, or a state name: ``current``, ``dpd_1_30`` ... ``dpd_151_180``, ``charged_off``,
``paid_off``, ``settled``) and ``principal`` (CNY at the month end; in the month a loan is
charged off, the balance written off, principal and interest: the base of its recoveries) are
required. Optional: ``path`` (simulated panels: each path is its own history), ``paid`` (CNY
paid in the month), ``restructured`` (times restructured so far), ``recovery`` (CNY recovered on
a charged-off loan in the month, before the agency's fee), ``annual_rate``, ``remaining_term``
(instalments still to fall due after the month), ``instalment`` (CNY) and ``pay_day`` (days
after the due date a missed payment was made).

Validated like the loan tape: every bad value and every impossible history is collected and
reported together, with the file's data-row numbers (from 1); nothing is silently fixed or
dropped. Histories are checked per loan: no duplicate loan-months, no gaps in a loan's months,
no move of more than one bucket worse in a month (charge-off only from 151-180 DPD), no move out
of a closed state (paid off, settled; a charged-off loan may only close), and no month inside the
panel's span without rows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from simulator.errors import InputError
from simulator.inputs.model import Model
from simulator.inputs.portfolio import _show
from simulator.states import CHARGED_OFF, M6, MAX_DPD, PAID_OFF, STATES, state_from_dpd

REQUIRED = ("loan_id", "month", "segment", "score", "dpd", "principal")
OPTIONAL = (
    "path",
    "paid",
    "restructured",
    "recovery",
    "annual_rate",
    "remaining_term",
    "instalment",
    "pay_day",
)
SHOWN_PROBLEMS = 20
MAX_TERM = 600
MAX_AMOUNT = 1e9
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


def month_text(month: int) -> str:
    """``YYYY-MM`` of a month index (year * 12 + month - 1)."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


def month_strings(months: np.ndarray) -> pa.DictionaryArray:
    """``YYYY-MM`` text of month indices, dictionary-encoded (a few distinct values over
    millions of rows): the ``month`` column of a panel written by the project."""
    distinct = np.unique(months)
    text = pa.array([month_text(int(m)) for m in distinct])
    return pa.DictionaryArray.from_arrays(np.searchsorted(distinct, months).astype(np.int32), text)


def parse_month(text: str) -> int | None:
    """The month index of ``YYYY-MM`` (None if it is not one)."""
    m = _MONTH.match(text)
    if m is None or not 1 <= int(m.group(2)) <= 12:
        return None
    return int(m.group(1)) * 12 + int(m.group(2)) - 1


@dataclass(frozen=True)
class Panel:
    """A validated panel as flat arrays, one element per loan-month, sorted by (path, loan,
    month). Money is CNY (float64); unknown optional values are NaN (``remaining_term``: -1)."""

    path: np.ndarray  # int64, 0 when the file has no path column
    loan: np.ndarray  # int64 loan code, unique across paths; loan_ids[loan] is the id
    month: np.ndarray  # int64 month index (year * 12 + month - 1)
    segment: np.ndarray  # int8 code into segment_names
    score: np.ndarray  # int64
    tier: np.ndarray  # int8 code into tier_names
    state: np.ndarray  # int8 code into STATES
    dpd: np.ndarray  # int64 days past due (the bucket's last day for a state name; 0 if closed)
    principal: np.ndarray
    paid: np.ndarray
    restructured: np.ndarray  # int64, 0 when absent
    recovery: np.ndarray  # 0 when absent
    annual_rate: np.ndarray
    remaining_term: np.ndarray  # int64, -1 when unknown
    instalment: np.ndarray
    pay_day: np.ndarray
    row: np.ndarray  # int64 data-row number in the file (from 1), for messages
    loan_ids: np.ndarray  # the loan_id of each loan code
    columns: frozenset[str]  # the optional columns the file has
    segment_names: tuple[str, ...]
    tier_names: tuple[str, ...]
    source: str = "panel"

    def __len__(self) -> int:
        return len(self.month)

    @property
    def first_month(self) -> int:
        return int(self.month.min())

    @property
    def last_month(self) -> int:
        return int(self.month.max())

    @property
    def paths(self) -> int:
        return int(self.path[-1]) + 1 if len(self.path) else 0  # sorted by path first

    def loans(self) -> np.ndarray:
        """Number of distinct loans by segment (rows are sorted by loan)."""
        first = np.ones(len(self.loan), dtype=bool)
        first[1:] = self.loan[1:] != self.loan[:-1]
        return np.bincount(self.segment[first], minlength=len(self.segment_names))

    def window(self) -> str:
        return f"{month_text(self.first_month)} to {month_text(self.last_month)}"

    def select(self, mask: np.ndarray) -> Panel:
        """The rows in ``mask`` (whole histories or a prefix of months keep it valid)."""
        arrays = {
            name: getattr(self, name)[mask]
            for name in self.__dataclass_fields__
            if isinstance(getattr(self, name), np.ndarray) and name != "loan_ids"
        }
        return Panel(
            **arrays,
            loan_ids=self.loan_ids,
            columns=self.columns,
            segment_names=self.segment_names,
            tier_names=self.tier_names,
            source=self.source,
        )


class _Problems:
    """Everything wrong with a panel, reported together: bad values by row, then histories."""

    def __init__(self, how: str = "") -> None:
        self.lines: list[tuple[int, str]] = []
        self.count = 0
        self.how = how  # how the file was read (an Excel sheet's row of data row 1)

    def rows(
        self,
        mask: np.ndarray,
        column: str,
        shown: Callable[[], np.ndarray] | None,
        expected: str,
    ) -> None:
        """Each data row (0-based index) in ``mask`` has a bad ``column``; ``shown`` gives the
        column's values to quote (called only if there is a bad row)."""
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return
        self.count += len(rows)
        values = None if shown is None else shown()
        for row in rows[:SHOWN_PROBLEMS]:
            value = "" if values is None else f"{_show(values[row])} - "
            self.lines.append(
                (int(row) + 1, f"row {row + 1}, {column}: {value}expected {expected}")
            )

    def add(self, row: int, message: str) -> None:
        self.count += 1
        self.lines.append((row, message))

    def raise_if_any(self, source: Path) -> None:
        if not self.count:
            return
        self.lines.sort(key=lambda item: item[0])
        shown = [f"  {text}" for _, text in self.lines[:SHOWN_PROBLEMS]]
        more = f" (first {SHOWN_PROBLEMS} shown)" if self.count > SHOWN_PROBLEMS else ""
        how = f" ({self.how})" if self.how else ""
        raise InputError(
            source, f"{self.count} problem(s) in the panel{more}{how}:\n" + "\n".join(shown)
        )


def _read(path: Path) -> tuple[pa.Table, str]:
    """The panel's table (the loan tape's readers: CSV in UTF-8 or GB18030, Parquet, .xlsx), and
    how it was read, for messages."""
    from simulator.inputs.tape import read_tape

    tape = read_tape(path, REQUIRED + OPTIONAL, header="a header with " + ", ".join(REQUIRED))
    return tape.table, tape.how if tape.format == "xlsx" else ""  # no --encoding here


def _numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values, a mask of missing entries and a mask of entries that are not numbers."""
    from simulator.inputs.portfolio import _numbers as numbers

    kind = column.type
    if column.null_count == 0 and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
        values = column.to_numpy()  # a typed column: fast path (integers stay integers)
        none = np.zeros(len(values), dtype=bool)
        if pa.types.is_integer(kind):
            return values.astype(np.int64, copy=False), none, none
        values = values.astype(np.float64, copy=False)
        return values, none, ~np.isfinite(values)
    return numbers(column)


def _dictionary(column: pa.ChunkedArray) -> tuple[np.ndarray, list[object]]:
    """Codes (-1 for missing) and the distinct values of a column, as text or numbers."""
    encoded = column.combine_chunks().dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    codes = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes)
    return codes.astype(np.int64), encoded.dictionary.to_pylist()


def _lookup(
    column: pa.ChunkedArray, parse: Callable[[object], int | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, ``parse(value)`` of its distinct value (-1: bad), and the missing mask."""
    codes, table = _parsed_dictionary(column, parse)
    return table[codes], codes < 0


def _parsed_dictionary(
    column: pa.ChunkedArray, parse: Callable[[object], int | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Row codes into the column's distinct values, and ``parse`` of each (-1: bad), parsed
    once per distinct value; a missing row's code (-1) reads the table's last entry, -1."""
    codes, values = _dictionary(column)
    parsed = [parse(v) for v in values]
    return codes, np.array([-1 if p is None else p for p in parsed] + [-1], dtype=np.int64)


def _state(value: object) -> int | None:
    """State code of a dpd cell: a whole number of days 0-180 or a state name."""
    if isinstance(value, str):
        text = value.strip()
        if text in STATES:
            return STATES.index(text)
        try:
            value = float(text)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not (value == int(value) and 0 <= value <= MAX_DPD):
        return None
    return int(state_from_dpd(np.array([int(value)]))[0]) * 1000 + int(value)


def _month_value(value: object) -> int | None:
    if isinstance(value, dt.date):  # a Parquet date or timestamp column
        return value.year * 12 + value.month - 1
    return parse_month(str(value)) if value is not None else None


def load_panel(path: str | Path, model: Model) -> Panel:
    """Load and validate a panel (CSV or Parquet) against a model's segments and tiers."""
    path = Path(path)
    table, how = _read(path)
    names = table.column_names
    repeated = [c for c in REQUIRED + OPTIONAL if names.count(c) > 1]
    if repeated:
        raise InputError(path, f"column(s) {', '.join(repeated)} appear more than once")
    missing_columns = [c for c in REQUIRED if c not in names]
    if missing_columns:
        raise InputError(
            path,
            f"missing required column(s) {', '.join(missing_columns)}; found: {', '.join(names)}",
        )
    if table.num_rows == 0:
        raise InputError(path, "no rows: the panel has a header but no loan-months")
    problems = _Problems(how)
    values = _values(table, model, problems)
    problems.raise_if_any(path)
    panel = _sorted_panel(values, table, model, path)
    _check_histories(panel, problems)
    problems.raise_if_any(path)
    return panel


def _values(table: pa.Table, model: Model, problems: _Problems) -> dict[str, np.ndarray]:
    """Every column parsed and range-checked, row by row."""
    n = table.num_rows
    out: dict[str, np.ndarray] = {}

    def shown(name: str) -> Callable[[], np.ndarray]:
        return lambda: table[name].to_numpy(zero_copy_only=False)

    ids = table["loan_id"]
    problems.rows(ids.is_null().to_numpy(zero_copy_only=False), "loan_id", None, "an id (missing)")

    def coded(name: str, values: np.ndarray, missing: np.ndarray, what: str, expected: str) -> None:
        """Report the missing cells and those ``values`` < 0 (not parsed) of a coded column."""
        problems.rows(missing, name, None, f"{what} (it is missing)")
        problems.rows(~missing & (values < 0), name, shown(name), expected)

    month, missing = _lookup(table["month"], _month_value)
    coded("month", month, missing, "a month YYYY-MM", "a month YYYY-MM")
    out["month"] = month

    codes, parsed = _parsed_dictionary(table["dpd"], _state)
    state, missing = parsed[codes], codes < 0
    states = f"whole days past due from 0 to {MAX_DPD} or a state: {', '.join(STATES)}"
    coded("dpd", state, missing, "days past due or a state", states)
    state_table, days_table = _state_and_days(parsed)  # per distinct value, then per row
    out["state"], out["dpd"] = state_table[codes], days_table[codes]

    segment, missing = _lookup(
        table["segment"],
        lambda v: model.segment_names.index(v) if v in model.segment_names else None,
    )
    names = f"one of the model's segments: {', '.join(model.segment_names)}"
    coded("segment", segment, missing, "a segment", names)
    out["segment"] = segment

    def number(
        name: str,
        required: bool,
        valid: Callable[[np.ndarray], np.ndarray],
        expected: str,
        default: float,
    ) -> None:
        if name not in table.column_names:
            out[name] = np.full(n, default)
            return
        values, missing, bad = _numbers(table[name])
        if required and missing.any():
            problems.rows(missing, name, None, f"{expected} (it is missing)")
        ok = ~missing & ~bad
        with np.errstate(invalid="ignore"):
            good = ok & valid(values)  # NaN (missing, bad) fails every check
        wrong = (bad | ok) & ~good
        if wrong.any():
            problems.rows(wrong, name, shown(name), expected)
        out[name] = values if good.all() else np.where(good, values, default)

    def whole(lo: float, hi: float) -> Callable[[np.ndarray], np.ndarray]:
        def check(v: np.ndarray) -> np.ndarray:
            within = (v >= lo) & (v <= hi)
            return within if v.dtype.kind in "iu" else within & (np.floor(v) == v)

        return check

    def amount(v: np.ndarray) -> np.ndarray:
        return (v >= 0) & (v <= MAX_AMOUNT)

    money = f"an amount in CNY from 0 to {MAX_AMOUNT:,.0f}"
    lowest = model.tiers[-1].min_score
    number("score", True, whole(lowest, 99_999), f"a whole score from {lowest}", 0)
    number("principal", True, amount, money, np.nan)
    number("path", False, whole(0, 1e6), "a whole path number from 0", 0)
    number("paid", False, amount, money, np.nan)
    number("restructured", False, whole(0, 100), "a whole number from 0 to 100", 0)
    number("recovery", False, amount, money, 0.0)
    number("annual_rate", False, lambda v: (v >= 0) & (v <= 1), "a rate between 0 and 1", np.nan)
    number("remaining_term", False, whole(0, MAX_TERM), f"0 to {MAX_TERM} instalments", -1)
    number("instalment", False, amount, money, np.nan)
    number("pay_day", False, whole(0, MAX_DPD), f"whole days from 0 to {MAX_DPD}", np.nan)
    return out


def _state_and_days(encoded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split the dpd lookup (code * 1000 + days for numbers, the code for names)."""
    is_days = encoded >= 1000
    code = np.where(is_days, encoded // 1000, encoded)
    bucket_end = np.minimum(np.clip(code, 0, M6) * 30, MAX_DPD)
    days = np.where(is_days, encoded % 1000, np.where(code <= M6, bucket_end, 0))
    return code.astype(np.int8), days.astype(np.int64)


def _sorted_panel(
    values: dict[str, np.ndarray], table: pa.Table, model: Model, source: Path
) -> Panel:
    """The rows sorted by (path, loan, month), loans coded. A stable sort: files written month
    by month are runs of loans in the same order, which it merges quickly."""
    import pandas as pd

    path = values["path"].astype(np.int64, copy=False)
    ids = table["loan_id"].to_numpy(zero_copy_only=False)
    id_code, loan_ids = pd.factorize(ids)
    loan = id_code.astype(np.int64, copy=False)
    if path.any():
        loan += path * max(len(loan_ids), 1)
    month = values["month"].astype(np.int64, copy=False)
    span = int(month.max() - month.min()) + 1
    key = loan * span + (month - month.min())
    order = None if np.all(key[1:] >= key[:-1]) else np.argsort(key, kind="stable")
    columns = frozenset(c for c in OPTIONAL if c in table.column_names)
    n = len(month)

    def take(name: str, dtype: type | None = None) -> np.ndarray:
        a = values[name] if dtype is None else values[name].astype(dtype, copy=False)
        if name in OPTIONAL and name not in columns:  # a constant: nothing to reorder
            return a
        return a if order is None else a[order]

    score = take("score", np.int64)
    return Panel(
        path=path if order is None else path[order],
        loan=loan if order is None else loan[order],
        month=month if order is None else month[order],
        segment=take("segment", np.int8),
        score=score,
        tier=_tiers(model, score),
        state=take("state"),
        dpd=take("dpd"),
        principal=take("principal"),
        paid=take("paid"),
        restructured=take("restructured", np.int64),
        recovery=take("recovery"),
        annual_rate=take("annual_rate"),
        remaining_term=take("remaining_term", np.int64),
        instalment=take("instalment"),
        pay_day=take("pay_day"),
        row=np.arange(1, n + 1, dtype=np.int64) if order is None else order + 1,
        loan_ids=np.asarray(loan_ids),
        columns=columns,
        segment_names=model.segment_names,
        tier_names=model.tier_names,
        source=str(source),
    )


def _tiers(model: Model, score: np.ndarray) -> np.ndarray:
    """Tier codes through a table over the scores' range (a few hundred distinct values)."""
    lo, hi = int(score.min()), int(score.max())
    if hi - lo > 1_000_000:
        return model.tier_of(score)
    return model.tier_of(np.arange(lo, hi + 1))[score - lo]


def _check_histories(panel: Panel, problems: _Problems) -> None:
    """Duplicates, gaps, impossible moves and empty months, each with its own message."""
    same = panel.loan[1:] == panel.loan[:-1]
    step = panel.month[1:] - panel.month[:-1]
    after = np.flatnonzero(same) + 1  # rows that follow a row of the same loan

    def loan_of(i: int) -> str:
        code = panel.loan[i] % max(len(panel.loan_ids), 1)
        where = f", path {panel.path[i]}" if "path" in panel.columns else ""
        return f"loan {_show(panel.loan_ids[code])}{where}"

    for i in after[step[after - 1] == 0][:SHOWN_PROBLEMS]:
        problems.add(
            int(panel.row[i]),
            f"rows {panel.row[i - 1]} and {panel.row[i]}: {loan_of(i)} has two rows for "
            f"{month_text(int(panel.month[i]))} - expected one row per loan and month",
        )
    problems.count += max(0, int((step[after - 1] == 0).sum()) - SHOWN_PROBLEMS)
    gaps = after[step[after - 1] > 1]
    for i in gaps[:SHOWN_PROBLEMS]:
        missing = int(step[i - 1]) - 1
        problems.add(
            int(panel.row[i]),
            f"row {panel.row[i]}: {loan_of(i)} jumps from {month_text(int(panel.month[i - 1]))} "
            f"to {month_text(int(panel.month[i]))} ({missing} month(s) missing) - expected a row "
            "for every month a loan is on book",
        )
    problems.count += max(0, len(gaps) - SHOWN_PROBLEMS)
    _check_moves(panel, after[step[after - 1] == 1], loan_of, problems)
    _check_empty_months(panel, problems)


def _check_moves(
    panel: Panel, after: np.ndarray, loan_of: Callable[[int], str], problems: _Problems
) -> None:
    before, now = panel.state[after - 1].astype(np.int64), panel.state[after].astype(np.int64)
    active = before <= M6
    jump = active & (now <= CHARGED_OFF) & (now - before >= 2)
    reopened = (before == CHARGED_OFF) & (now <= M6)
    closed = (before >= PAID_OFF) & (now != before)
    reasons = (
        (
            jump,
            "more than one bucket worse in a month - expected a roll of at most one bucket "
            "(charge-off only from dpd_151_180)",
        ),
        (reopened, "a charged-off loan back on book - expected it to stay charged off or close"),
        (closed, "a move out of a closed state - expected no change after paid_off or settled"),
    )
    for mask, reason in reasons:
        bad = after[mask]
        for i in bad[:SHOWN_PROBLEMS]:
            move = f"{STATES[panel.state[i - 1]]} -> {STATES[panel.state[i]]}"
            problems.add(
                int(panel.row[i]),
                f"row {panel.row[i]}: {loan_of(i)} {month_text(int(panel.month[i]))}: "
                f"{move}, {reason}",
            )
        problems.count += max(0, len(bad) - SHOWN_PROBLEMS)


def _check_empty_months(panel: Panel, problems: _Problems) -> None:
    for p in np.flatnonzero(np.bincount(panel.path)):
        months = panel.month if panel.paths == 1 else panel.month[panel.path == p]
        first, last = int(months.min()), int(months.max())
        seen = np.bincount(months - first, minlength=last - first + 1) > 0
        where = f" of path {p}" if "path" in panel.columns else ""
        for offset in np.flatnonzero(~seen):
            problems.add(
                0,
                f"month {month_text(first + int(offset))}{where}: no rows (the panel runs from "
                f"{month_text(first)} to {month_text(last)}) - expected loans in every month",
            )
