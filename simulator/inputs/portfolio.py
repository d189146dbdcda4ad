"""The loan tape (SPEC 3.1): CSV or Parquet in, flat NumPy arrays ready for a kernel out.

Money becomes integer fen (0.01 CNY, int64); segment, tier and state become small integer codes.
Every bad row is collected and reported together - row numbers count data rows from 1 - so a
user fixes a tape in one pass; nothing is silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from simulator.errors import InputError
from simulator.inputs.model import Model, load_model
from simulator.states import MAX_DPD, STATES, state_from_dpd

log = logging.getLogger(__name__)

REQUIRED = ("loan_id", "segment", "score", "principal", "annual_rate", "remaining_term")
OPTIONAL = ("instalment", "dpd", "restructured", "monthly_income")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
MAX_TERM = 600
MAX_AMOUNT = 1e9  # CNY: a bound on any one loan's amounts, so that sums in fen stay in int64
MAX_SCORE = 99_999
MAX_RESTRUCTURED = 100
RATE_WARNING = 0.36  # the judicial protection ceiling on private lending rates in China (36%)
SHOWN_PROBLEMS = 20


@dataclass(frozen=True)
class Portfolio:
    """A validated book of loans as flat arrays (one element per loan)."""

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
    source: str = "synthetic"
    warnings: tuple[str, ...] = field(default=())

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
        for name in (
            "segment",
            "score",
            "principal",
            "annual_rate",
            "remaining_term",
            "instalment",
            "dpd",
            "restructured",
            "monthly_income",
        ):
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
            }
        )

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

    def raise_if_any(self, source: Path) -> None:
        if not self.count:
            return
        self.items.sort()
        lines = [
            f"  row {row}, {column}: {'' if value is None else f'{_show(value)} - '}expected {exp}"
            for row, column, value, exp in self.items[:SHOWN_PROBLEMS]
        ]
        more = f" (first {SHOWN_PROBLEMS} shown)" if self.count > SHOWN_PROBLEMS else ""
        raise InputError(
            source, f"{self.count} problem(s) in the loan tape{more}:\n" + "\n".join(lines)
        )


def _show(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "missing"
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 30 else text[:27] + "..."


def _read_table(path: Path) -> pa.Table:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(path, "expected a loan tape ending in .csv or .parquet")
    if not path.is_file():
        raise InputError(path, "no such file")
    if path.stat().st_size == 0:
        raise InputError(
            path, "empty file (0 bytes): expected a header with the columns " + ", ".join(REQUIRED)
        )
    try:
        if kind == "parquet":
            table = pq.read_table(path)
        else:
            # Read every known column as text: numbers are parsed below, so that a bad value
            # is reported with its row instead of failing the whole file.
            names = {name: pa.string() for name in REQUIRED + OPTIONAL}
            options = pacsv.ConvertOptions(column_types=names, strings_can_be_null=True)
            table = pacsv.read_csv(path, convert_options=options)
        _ = table.column_names  # decoded lazily: a header that is not UTF-8 fails here
        return table
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, UnicodeDecodeError) as err:
        what = "Parquet" if kind == "parquet" else "CSV"
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(path, f"not a readable {what} file: {reason}") from None


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


def load_portfolio(path: str | Path, model: Model | str | Path = "default") -> Portfolio:
    """Load and validate a loan tape (CSV or Parquet) against a model's segments and tiers."""
    path = Path(path)
    model = model if isinstance(model, Model) else load_model(model)
    table = _read_table(path)
    if table.num_columns == 0:
        raise InputError(
            path, "empty file: expected a header with the columns " + ", ".join(REQUIRED)
        )
    names = table.column_names
    repeated = [c for c in REQUIRED + OPTIONAL if names.count(c) > 1]
    if repeated:
        raise InputError(
            path, f"column(s) {', '.join(repeated)} appear more than once: expected each once"
        )
    missing_columns = [c for c in REQUIRED if c not in table.column_names]
    if missing_columns:
        raise InputError(
            path,
            f"missing required column(s) {', '.join(missing_columns)}; found: "
            f"{', '.join(table.column_names)}",
        )
    if table.num_rows == 0:
        raise InputError(path, "no loans: the tape has a header but no rows")
    warnings = []
    extra = [c for c in table.column_names if c not in REQUIRED + OPTIONAL]
    if extra:
        warnings.append(f"ignored column(s): {', '.join(extra)}")

    problems = _Problems()
    raw = {name: table[name] for name in REQUIRED + OPTIONAL if name in table.column_names}

    def number(name: str, required: bool) -> tuple[np.ndarray, np.ndarray]:
        """Values and a mask of usable entries; missing/unparseable ones are reported."""
        if name not in raw:
            n = table.num_rows
            return np.full(n, np.nan), np.zeros(n, dtype=bool)
        values, missing, bad = _numbers(raw[name])
        shown = raw[name].to_numpy(zero_copy_only=False)
        problems.add(bad, name, shown, "a number")
        if required:
            problems.add(missing, name, None, "a value (it is missing)")
        return values, ~missing & ~bad

    def check(
        name: str, values: np.ndarray, ok: np.ndarray, valid: np.ndarray, expected: str
    ) -> None:
        problems.add(ok & ~valid, name, values, expected)

    def whole(values: np.ndarray) -> np.ndarray:
        return np.floor(values) == values

    def in_range(amounts: np.ndarray) -> np.ndarray:
        """Whole fen >= 1 once rounded, and not absurdly large."""
        return (np.rint(np.clip(amounts, 0, MAX_AMOUNT) * 100) >= 1) & (amounts <= MAX_AMOUNT)

    amount = f"an amount in CNY from 0.01 to {MAX_AMOUNT:,.0f}"

    loan_id = _loan_ids(raw["loan_id"], problems)
    segment = _segments(raw["segment"], model, problems)

    score, ok = number("score", required=True)
    check("score", score, ok, whole(score) & (score <= MAX_SCORE), f"a whole number <= {MAX_SCORE}")
    tier = model.tier_of(np.where(ok, np.nan_to_num(score), np.iinfo(np.int32).max))
    lowest = model.tiers[-1].min_score
    check("score", score, ok, tier >= 0, f"a score >= {lowest} (the lowest tier's min_score)")

    principal, ok = number("principal", required=True)
    check("principal", principal, ok, in_range(principal), amount)

    rate, ok = number("annual_rate", required=True)
    check("annual_rate", rate, ok, (rate >= 0) & (rate <= 1), "a rate between 0 and 1")
    high = ok & (rate > RATE_WARNING)
    if high.any():
        warnings.append(f"{int(high.sum())} loan(s) with annual_rate above {RATE_WARNING:.0%}")

    term, ok = number("remaining_term", required=True)
    check(
        "remaining_term",
        term,
        ok,
        whole(term) & (term >= 1) & (term <= MAX_TERM),
        f"a whole number of instalments from 1 to {MAX_TERM}",
    )

    instalment, has_instalment = number("instalment", required=False)
    check("instalment", instalment, has_instalment, in_range(instalment), amount)

    dpd, has_dpd = number("dpd", required=False)
    check(
        "dpd",
        dpd,
        has_dpd,
        whole(dpd) & (dpd >= 0) & (dpd <= MAX_DPD),
        f"whole days past due from 0 to {MAX_DPD} (beyond, the loan is charged off)",
    )

    restructured, has_restructured = number("restructured", required=False)
    check(
        "restructured",
        restructured,
        has_restructured,
        whole(restructured) & (restructured >= 0) & (restructured <= MAX_RESTRUCTURED),
        f"a whole number from 0 to {MAX_RESTRUCTURED}",
    )

    income, has_income = number("monthly_income", required=False)
    check("monthly_income", income, has_income, in_range(income), amount)

    problems.raise_if_any(path)
    for message in warnings:
        log.warning("%s: %s", path, message)

    principal_fen = np.rint(principal * 100).astype(np.int64)
    rate = rate.astype(np.float64)
    term_i = term.astype(np.int32)
    computed = annuity_fen(principal_fen, rate, term_i)
    return Portfolio(
        loan_id=loan_id,
        segment=segment,
        tier=tier,
        score=score.astype(np.int32),
        principal=principal_fen,
        annual_rate=rate,
        remaining_term=term_i,
        instalment=np.where(
            has_instalment, np.rint(np.nan_to_num(instalment) * 100), computed
        ).astype(np.int64),
        dpd=np.where(has_dpd, np.nan_to_num(dpd), 0).astype(np.int32),
        restructured=np.where(has_restructured, np.nan_to_num(restructured), 0).astype(np.int32),
        monthly_income=np.where(has_income, np.rint(np.nan_to_num(income) * 100), 0).astype(
            np.int64
        ),
        segment_names=model.segment_names,
        tier_names=model.tier_names,
        source=str(path),
        warnings=tuple(warnings),
    )


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
