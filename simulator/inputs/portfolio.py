"""The loan tape (SPEC 3.1): CSV, Parquet or Excel in, flat NumPy arrays ready for a kernel out.

Money becomes integer fen (0.01 CNY, int64); segment, tier and state become small integer codes.
Every bad row is collected and reported together - row numbers count data rows from 1 - so a
user fixes a tape in one pass; nothing is silently dropped. The files are read by
:mod:`simulator.inputs.tape` (encodings, sheets); the columns are checked here.

Required columns block the tape on any bad value. Optional columns never block it for a value
that means "unknown": a blank, or 0 where 0 cannot be a real value (``instalment``,
``monthly_income``, ``original_term``, ``origination_date``). Columns the engine does not use
(``monthly_income``, ``origination_date``) never block it at all: a value they cannot hold is
taken as unknown, with a warning naming its rows. An optional column the engine uses
(``instalment``, ``dpd``, ``restructured``, ``original_term``) blocks it on a value that is
there but impossible, naming the row, since the run would otherwise compute with a guess.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from simulator.errors import InputError
from simulator.inputs.model import Model, load_model
from simulator.inputs.tape import read_tape
from simulator.states import MAX_DPD, STATES, state_from_dpd

log = logging.getLogger(__name__)

REQUIRED = ("loan_id", "segment", "score", "principal", "annual_rate", "remaining_term")
OPTIONAL = (
    "instalment",
    "dpd",
    "restructured",
    "monthly_income",
    "original_term",
    "origination_date",
)
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
"""Formats a Portfolio is written in (``portfolio synth``); tapes are also read from .xlsx."""
UNUSED = ("monthly_income", "origination_date")
"""Optional columns carried in the Portfolio but not used by the engine."""
MAX_TERM = 600
MAX_AMOUNT = 1e9  # CNY: a bound on any one loan's amounts, so that sums in fen stay in int64
MAX_SCORE = 99_999
MAX_RESTRUCTURED = 100
RATE_WARNING = 0.36  # the judicial protection ceiling on private lending rates in China (36%)
SHOWN_PROBLEMS = 20
SHOWN_UNKNOWN = 5  # rows named in the warning about values taken as unknown
DATE_RANGE = (1900, 2100)  # years of a plausible origination date


def _no_terms() -> np.ndarray:
    return np.zeros(0, np.int32)


def _no_dates() -> np.ndarray:
    return np.zeros(0, "datetime64[D]")


@dataclass(frozen=True)
class Portfolio:
    """A validated book of loans as flat arrays (one element per loan).

    ``original_term`` and ``origination_date`` may be left out: they are then unknown for
    every loan (0 and NaT).
    """

    loan_id: np.ndarray
    segment: np.ndarray  # int8 code into segment_names
    tier: np.ndarray  # int8 code into tier_names
    score: np.ndarray  # int32
    principal: np.ndarray  # int64 fen
    annual_rate: np.ndarray  # float64
    remaining_term: np.ndarray  # int32 instalments left
    instalment: np.ndarray  # int64 fen
    dpd: np.ndarray  # int32 days past due
    restructured: np.ndarray  # int32 times restructured
    monthly_income: np.ndarray  # int64 fen, 0 where unknown
    segment_names: tuple[str, ...]
    tier_names: tuple[str, ...]
    original_term: np.ndarray = field(default_factory=_no_terms)  # int32 instalments at
    # origination, 0 where unknown
    origination_date: np.ndarray = field(default_factory=_no_dates)  # datetime64[D], NaT where
    # unknown (a month given as YYYY-MM is its first day)
    source: str = "synthetic"
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.principal)
        if n and not len(self.original_term):
            object.__setattr__(self, "original_term", np.zeros(n, np.int32))
        if n and not len(self.origination_date):
            object.__setattr__(self, "origination_date", np.full(n, "NaT", "datetime64[D]"))

    def __len__(self) -> int:
        return len(self.principal)

    @property
    def state(self) -> np.ndarray:
        """State code of each loan at the as-of date (current or a delinquency bucket)."""
        return state_from_dpd(self.dpd)

    @property
    def segment_principal(self) -> np.ndarray:
        """Principal on book by segment, fen (an exact integer sum)."""
        out = np.zeros(len(self.segment_names), np.int64)
        np.add.at(out, self.segment, self.principal)
        return out

    @property
    def sha256(self) -> str:
        """Digest of the book's content (not of the file): the same loans give the same digest
        whether they came from CSV, Parquet or the generator."""
        digest = hashlib.sha256()
        digest.update("|".join((*self.segment_names, "#", *self.tier_names)).encode())
        digest.update("\x00".join(map(str, self.loan_id.tolist())).encode())
        # every array but the ids and the tiers (derived from the scores), the optional
        # columns included whether or not the tape had them
        for name in ("segment", "score", "principal", "annual_rate", "remaining_term", *OPTIONAL):
            digest.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return digest.hexdigest()

    def to_table(self) -> pa.Table:
        """The book as a loan tape (money in CNY), ready for ``pyarrow.parquet.write_table``."""
        income = np.where(self.monthly_income > 0, self.monthly_income / 100.0, np.nan)
        return pa.table(
            {
                "loan_id": self.loan_id,
                "segment": np.asarray(self.segment_names, dtype=object)[self.segment],
                "score": self.score,
                "principal": self.principal / 100.0,
                "annual_rate": self.annual_rate,
                "remaining_term": self.remaining_term,
                "instalment": self.instalment / 100.0,
                "dpd": self.dpd,
                "restructured": self.restructured,
                "monthly_income": pa.array(income, from_pandas=True),
                "original_term": pa.array(self.original_term, mask=self.original_term == 0),
                "origination_date": pa.array(
                    self.origination_date, pa.date32(), mask=np.isnat(self.origination_date)
                ),
            }
        )

    def unknown(self) -> dict[str, int]:
        """Loans whose optional, unknowable values are unknown, by column."""
        return {
            "monthly_income": int((self.monthly_income == 0).sum()),
            "original_term": int((self.original_term == 0).sum()),
            "origination_date": int(np.isnat(self.origination_date).sum()),
        }

    def summary(self) -> dict[str, object]:
        """Counts and exposure by segment, tier and delinquency bucket (for ``portfolio check``)."""
        exposure = self.principal / 100.0

        def by(codes: np.ndarray, names: Iterable[str]) -> dict[str, dict[str, float]]:
            names = list(names)
            counts = np.bincount(codes, minlength=len(names))
            sums = np.bincount(codes, weights=exposure, minlength=len(names))
            return {
                n: {"loans": int(c), "principal": float(s)}
                for n, c, s in zip(names, counts, sums, strict=True)
            }

        return {
            "loans": len(self),
            "principal": float(exposure.sum()),
            "segment": by(self.segment, self.segment_names),
            "tier": by(self.tier, self.tier_names),
            "state": {k: v for k, v in by(self.state, STATES).items() if v["loans"]},
            "unknown": self.unknown(),
        }


def annuity_fen(principal_fen: np.ndarray, annual_rate: np.ndarray, term: np.ndarray) -> np.ndarray:
    """Level monthly payment (fen, rounded) that repays ``principal`` over ``term`` months.

    At least 1 fen for a positive principal: a tiny loan over a long term still has a payment.
    """
    r = np.asarray(annual_rate, dtype=float) / 12.0
    n = np.asarray(term, dtype=float)
    p = np.asarray(principal_fen, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.where(r > 0, p * r / -np.expm1(-n * np.log1p(r)), p / n)
    return np.where(p > 0, np.maximum(np.rint(level), 1), 0).astype(np.int64)


# --- loading ------------------------------------------------------------------------------


class _Problems:
    """Bad rows collected across all checks, reported together."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str, object, str]] = []
        self.count = 0

    def add(self, mask: np.ndarray, column: str, values: np.ndarray | None, expected: str) -> None:
        rows = np.flatnonzero(mask)
        self.count += len(rows)
        for row in rows[:SHOWN_PROBLEMS]:
            value = None if values is None else values[row]
            self.items.append((int(row) + 1, column, value, expected))

    def raise_if_any(self, source: Path, how: str = "") -> None:
        if not self.count:
            return
        self.items.sort()
        lines = [
            f"  row {row}, {column}: {'' if value is None else f'{_show(value)} - '}expected {exp}"
            for row, column, value, exp in self.items[:SHOWN_PROBLEMS]
        ]
        notes = [how] if how else []
        if self.count > SHOWN_PROBLEMS:
            notes.append(f"first {SHOWN_PROBLEMS} shown")
        more = f" ({'; '.join(notes)})" if notes else ""
        raise InputError(
            source, f"{self.count} problem(s) in the loan tape{more}:\n" + "\n".join(lines)
        )


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 30 else text[:27] + "..."


def _numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float values of a column, with masks of missing and of unparseable entries."""
    import pyarrow.compute as pc

    missing = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        try:
            values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            import pandas as pd

            text = column.to_pandas()
            values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        bad = ~missing & ~np.isfinite(values)
    elif (
        pa.types.is_integer(column.type)
        or pa.types.is_floating(column.type)
        or (pa.types.is_decimal(column.type))
    ):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        bad = ~missing & ~np.isfinite(values)
    else:  # booleans, dates, nested types: not a number whatever the value
        values = np.full(len(column), np.nan)
        bad = ~missing
    return np.where(missing | bad, np.nan, values), missing, bad


def load_portfolio(
    path: str | Path,
    model: Model | str | Path = "default",
    *,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Portfolio:
    """Load and validate a loan tape (CSV, Parquet or Excel .xlsx) against a model's segments
    and tiers.

    ``encoding``: of a CSV file (default: UTF-8 with or without a byte-order mark, else
    GB18030, detected). ``sheet``: of an Excel workbook (default: the first).
    """
    path = Path(path)
    model = model if isinstance(model, Model) else load_model(model)
    table, how, warnings = _open(path, encoding, sheet)
    columns = _Columns(table, warnings)
    required = _required(columns, model)
    optional = _optional(columns, required["remaining_term"], required["term_ok"])
    columns.problems.raise_if_any(path, how)
    for message in warnings:
        log.warning("%s: %s", path, message)

    principal_fen = np.rint(required["principal"] * 100).astype(np.int64)
    rate = required["annual_rate"].astype(np.float64)
    term = required["remaining_term"].astype(np.int32)
    instalment, has_instalment = optional["instalment"]
    dpd = _or_zero(*optional["dpd"])
    # A delinquent loan still owes its arrears (one instalment per 30 days past due) besides
    # the remaining term: the level payment repays the principal over all of them.
    owed = term + state_from_dpd(dpd)
    return Portfolio(
        loan_id=required["loan_id"],
        segment=required["segment"],
        tier=required["tier"],
        score=required["score"].astype(np.int32),
        principal=principal_fen,
        annual_rate=rate,
        remaining_term=term,
        instalment=np.where(
            has_instalment,
            np.rint(np.nan_to_num(instalment) * 100),
            annuity_fen(principal_fen, rate, owed),
        ).astype(np.int64),
        dpd=dpd,
        restructured=_or_zero(*optional["restructured"]),
        monthly_income=optional["monthly_income"][0],
        original_term=_or_zero(*optional["original_term"]),
        origination_date=optional["origination_date"][0],
        segment_names=model.segment_names,
        tier_names=model.tier_names,
        source=str(path),
        warnings=tuple(warnings),
    )


def _or_zero(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.where(known, np.nan_to_num(values), 0).astype(np.int32)


def _open(path: Path, encoding: str | None, sheet: str | None) -> tuple[pa.Table, str, list[str]]:
    """The tape's table once its columns are checked, how it was read (for messages, "" for
    plain UTF-8) and the warnings so far."""
    header = "a header with the columns " + ", ".join(REQUIRED)
    tape = read_tape(path, REQUIRED + OPTIONAL, encoding=encoding, sheet=sheet, header=header)
    table = tape.table
    how = "" if tape.encoding == "utf-8" else tape.how
    if table.num_columns == 0:
        raise InputError(path, f"empty file: expected {header}")
    names = table.column_names
    repeated = [c for c in REQUIRED + OPTIONAL if names.count(c) > 1]
    if repeated:
        raise InputError(
            path, f"column(s) {', '.join(repeated)} appear more than once: expected each once"
        )
    missing_columns = [c for c in REQUIRED if c not in names]
    if missing_columns:
        raise InputError(
            path,
            f"missing required column(s) {', '.join(missing_columns)}; found: "
            f"{', '.join(names)}" + (f" ({how})" if how else ""),
        )
    if table.num_rows == 0:
        raise InputError(path, "no loans: the tape has a header but no rows")
    extra = [c for c in names if c not in REQUIRED + OPTIONAL]
    return table, how, [f"ignored column(s): {', '.join(extra)}"] if extra else []


AMOUNT = f"an amount in CNY from 0.01 to {MAX_AMOUNT:,.0f}"
INSTALMENTS = f"a whole number of instalments from 1 to {MAX_TERM}"


class _Columns:
    """The known columns of a tape, parsed into numbers, with the problems found in them."""

    def __init__(self, table: pa.Table, warnings: list[str]) -> None:
        self.raw = {name: table[name] for name in REQUIRED + OPTIONAL if name in table.column_names}
        self.n = table.num_rows
        self.problems = _Problems()
        self.warnings = warnings

    def number(self, name: str, required: bool) -> tuple[np.ndarray, np.ndarray]:
        """Values and a mask of usable entries; missing/unparseable ones are reported."""
        if name not in self.raw:
            return np.full(self.n, np.nan), np.zeros(self.n, dtype=bool)
        values, missing, bad = _numbers(self.raw[name])
        shown = self.raw[name].to_numpy(zero_copy_only=False)
        self.problems.add(bad, name, shown, "a number")
        if required:
            self.problems.add(missing, name, None, "a value (it is missing)")
        return values, ~missing & ~bad

    def check(
        self, name: str, values: np.ndarray, ok: np.ndarray, valid: np.ndarray, expected: str
    ) -> None:
        self.problems.add(ok & ~valid, name, values, expected)


def _whole(values: np.ndarray) -> np.ndarray:
    return np.floor(values) == values


def _amounts(amounts: np.ndarray) -> np.ndarray:
    """Whole fen >= 1 once rounded, and not absurdly large."""
    return (np.rint(np.clip(amounts, 0, MAX_AMOUNT) * 100) >= 1) & (amounts <= MAX_AMOUNT)


def _required(columns: _Columns, model: Model) -> dict[str, np.ndarray]:
    """The required columns, checked row by row (every bad value is a problem)."""
    loan_id = _loan_ids(columns.raw["loan_id"], columns.problems)
    segment = _segments(columns.raw["segment"], model, columns.problems)

    score, ok = columns.number("score", required=True)
    columns.check("score", score, ok, _whole(score) & (score <= MAX_SCORE),
                  f"a whole number <= {MAX_SCORE}")  # fmt: skip
    tier = model.tier_of(np.where(ok, np.nan_to_num(score), np.iinfo(np.int32).max))
    lowest = model.tiers[-1].min_score
    lowest_tier = f"a score >= {lowest} (the lowest tier's min_score)"
    columns.check("score", score, ok, tier >= 0, lowest_tier)

    principal, ok = columns.number("principal", required=True)
    columns.check("principal", principal, ok, _amounts(principal), AMOUNT)

    rate, ok = columns.number("annual_rate", required=True)
    columns.check("annual_rate", rate, ok, (rate >= 0) & (rate <= 1), "a rate between 0 and 1")
    high = ok & (rate > RATE_WARNING)
    if high.any():
        columns.warnings.append(
            f"{int(high.sum())} loan(s) with annual_rate above {RATE_WARNING:.0%}"
        )

    term, term_ok = columns.number("remaining_term", required=True)
    term_valid = _whole(term) & (term >= 1) & (term <= MAX_TERM)
    columns.check("remaining_term", term, term_ok, term_valid, INSTALMENTS)
    return {"loan_id": loan_id, "segment": segment, "score": score, "tier": tier,
            "principal": principal, "annual_rate": rate, "remaining_term": term,
            "term_ok": term_ok & term_valid}  # fmt: skip


def _optional(
    columns: _Columns, term: np.ndarray, term_ok: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The optional columns: (values, known) each. Blank (and 0 where 0 cannot be real) is
    unknown; a used column blocks on an impossible value, an unused one never blocks."""
    instalment, has_instalment = columns.number("instalment", required=False)
    has_instalment &= instalment != 0  # 0: unknown, the annuity is computed
    columns.check("instalment", instalment, has_instalment, _amounts(instalment), AMOUNT)

    dpd, has_dpd = columns.number("dpd", required=False)
    days = f"whole days past due from 0 to {MAX_DPD} (beyond, the loan is charged off)"
    columns.check("dpd", dpd, has_dpd, _whole(dpd) & (dpd >= 0) & (dpd <= MAX_DPD), days)

    restructured, has_restructured = columns.number("restructured", required=False)
    valid = _whole(restructured) & (restructured >= 0) & (restructured <= MAX_RESTRUCTURED)
    columns.check("restructured", restructured, has_restructured, valid,
                  f"a whole number from 0 to {MAX_RESTRUCTURED}")  # fmt: skip

    original, has_original = columns.number("original_term", required=False)
    has_original &= original != 0  # 0: unknown
    valid = _whole(original) & (original >= 1) & (original <= MAX_TERM)
    columns.check("original_term", original, has_original, valid, INSTALMENTS)
    columns.check("original_term", original, has_original & valid & term_ok, original >= term,
                  "at least the remaining_term (instalments at origination)")  # fmt: skip

    income = _unused_amounts(columns, "monthly_income")
    origination = _unused_dates(columns, "origination_date")
    return {
        "instalment": (instalment, has_instalment),
        "dpd": (dpd, has_dpd),
        "restructured": (restructured, has_restructured),
        "original_term": (original, has_original),
        "monthly_income": (income, income > 0),
        "origination_date": (origination, ~np.isnat(origination)),
    }


def _unknown_warning(column: str, mask: np.ndarray, shown: np.ndarray, expected: str) -> str:
    """A warning naming the first rows of an unused column whose values are taken as unknown."""
    rows = np.flatnonzero(mask)
    listed = ", ".join(f"row {r + 1} {_show(shown[r])}" for r in rows[:SHOWN_UNKNOWN])
    more = ", ..." if len(rows) > SHOWN_UNKNOWN else ""
    return (
        f"{column}: {len(rows)} value(s) that are not {expected}, taken as unknown (the column "
        f"is not used by the engine): {listed}{more}"
    )


def _unused_amounts(columns: _Columns, name: str) -> np.ndarray:
    """Amounts of an unused column in fen: 0 (unknown) where blank, 0, or not an amount."""
    raw, n, warnings = columns.raw, columns.n, columns.warnings
    if name not in raw:
        return np.zeros(n, np.int64)
    values, missing, bad = _numbers(raw[name])
    known = ~missing & ~bad & (values != 0)
    invalid = bad | (known & ~_amounts(values))
    if invalid.any():
        shown = raw[name].to_numpy(zero_copy_only=False)
        warnings.append(_unknown_warning(name, invalid, shown, AMOUNT))
    usable = known & ~invalid
    return np.where(usable, np.rint(np.nan_to_num(values) * 100), 0).astype(np.int64)


_DATE = re.compile(
    r"(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d*)?)?)?"
    r"|(\d{4})(\d{2})(\d{2})?"
)
_ZERO_DATES = {"0", "00000000", "000000", "0000-00", "0000-00-00", "0000/00/00"}


def _parse_date(text: str) -> np.datetime64 | None:
    """``YYYY-MM`` (its first day), ``YYYY-MM-DD`` (also with ``/`` or ``.``, or followed by a
    time, which is dropped), ``YYYYMM`` or ``YYYYMMDD``; None if it is none of them."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day = match[1] or match[4], match[2] or match[5], match[3] or match[6]
    try:
        date = dt.date(int(year), int(month), int(day) if day else 1)
    except ValueError:
        return None
    if not DATE_RANGE[0] <= date.year <= DATE_RANGE[1]:
        return None
    return np.datetime64(date, "D")


def _unused_dates(columns: _Columns, name: str) -> np.ndarray:
    """Dates of an unused column (datetime64[D]): NaT (unknown) where blank, 0 or not a date."""
    import pyarrow.compute as pc

    raw, n, warnings = columns.raw, columns.n, columns.warnings
    out = np.full(n, "NaT", "datetime64[D]")
    if name not in raw:
        return out
    column = raw[name]
    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        days = pc.cast(column, pa.date32()).to_numpy(zero_copy_only=False)
        dates = days.astype("datetime64[D]")
        years = dates.astype("datetime64[Y]").astype(int) + 1970
        plausible = (years >= DATE_RANGE[0]) & (years <= DATE_RANGE[1])
        invalid = ~np.isnat(dates) & ~plausible
        out = np.where(plausible, dates, out)
    else:
        try:
            text = pc.cast(column, pa.string()).combine_chunks()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = pa.nulls(n, pa.string())
            invalid = ~column.is_null().to_numpy(zero_copy_only=False)
        else:
            encoded = pc.dictionary_encode(text)
            parsed = [_parse_date(v) for v in encoded.dictionary.to_pylist()]
            table = np.array([np.datetime64("NaT") if d is None else d for d in parsed]
                             + [np.datetime64("NaT")], "datetime64[D]")  # fmt: skip
            zero = np.array([v.strip() in _ZERO_DATES for v in encoded.dictionary.to_pylist()]
                            + [True])  # fmt: skip
            codes = encoded.indices.fill_null(len(parsed)).to_numpy(zero_copy_only=False)
            out = table[codes]
            invalid = np.isnat(out) & ~zero[codes]
    if invalid.any():
        shown = column.to_numpy(zero_copy_only=False)
        expected = f"a date (YYYY-MM or YYYY-MM-DD, {DATE_RANGE[0]} to {DATE_RANGE[1]})"
        warnings.append(_unknown_warning(name, invalid, shown, expected))
    return out


def _loan_ids(column: pa.ChunkedArray, problems: _Problems) -> np.ndarray:
    import pandas as pd

    missing = column.is_null().to_numpy(zero_copy_only=False)
    problems.add(missing, "loan_id", None, "an id (it is missing)")
    ids = column.to_numpy(zero_copy_only=False)
    if pa.types.is_floating(column.type):
        problems.add(~missing & (np.floor(ids) != ids), "loan_id", ids, "a string or whole number")
    if pa.types.is_integer(column.type):
        ids = ids.astype(np.int64)
    series = pd.Series(ids)
    duplicated = series.duplicated(keep=False).to_numpy() & ~missing
    problems.add(duplicated, "loan_id", ids, "a unique id (it appears more than once)")
    return ids


def _segments(column: pa.ChunkedArray, model: Model, problems: _Problems) -> np.ndarray:
    import pyarrow.compute as pc

    text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    missing = text.is_null().to_numpy(zero_copy_only=False)
    problems.add(missing, "segment", None, "a segment (it is missing)")
    codes = pc.index_in(text, value_set=pa.array(model.segment_names))
    codes_np = codes.to_numpy(zero_copy_only=False)
    unknown = ~missing & np.isnan(codes_np.astype(float))
    problems.add(
        unknown,
        "segment",
        text.to_numpy(zero_copy_only=False),
        f"one of the model's segments: {', '.join(model.segment_names)}",
    )
    return np.nan_to_num(codes_np.astype(float)).astype(np.int8)
