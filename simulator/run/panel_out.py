"""``--panel-out``: the loan-month histories of a run's first paths, in the panel format that
``calibrate`` and ``backtest`` read (SPEC 12, ``inputs.panel``).

Each traced path is simulated once more on its own, with the kernel's trace on
(``engine.trace``): its draws are those of the run (they depend on the loan, path and month
only), so the histories are the run's paths. One row per loan and month on book:

* month 0, the month before the first simulated one: the opening book as of the valuation
  date (its state, principal and restructurings);
* months 1..H: every loan with a row in the trace - the loans on the book at the month end, a
  loan in the month it closes (``paid_off``, ``settled``) and a charged-off loan while it is in
  recovery; a new loan from its origination month (current, nothing paid).

Columns: ``path``, ``loan_id`` (the tape's; a new loan ``new-<index>``), ``month``
(``YYYY-MM``), ``segment``, ``score`` and ``annual_rate`` (a new loan's are its template's),
``dpd`` (the state's name), ``principal``, ``paid``, ``restructured``, ``recovery`` (CNY),
``remaining_term`` and ``instalment`` (null once a loan has left the book);
the text columns dictionary-encoded (a loan's id repeats on each of its months). The
panel is of the run's first scenario and policy. Memory: one path's trace at a time, O(loans x
months); the file is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simulator.engine.trace import (
    INSTALMENT,
    PAID,
    PRINCIPAL,
    RECOVERY,
    STATE,
    TERM,
    new_trace,
    unpack_state,
)
from simulator.inputs.panel import month_strings
from simulator.inputs.portfolio import Portfolio
from simulator.run.blocks import chunk_count, numba_threads, simulate_block
from simulator.run.inputs import ResolvedRun, RunInputs
from simulator.states import STATES

FEN_PER_CNY = 100


def trace_path(inputs: RunInputs, scenario: int, policy: int, path: int) -> np.ndarray:
    """The trace (loans, H, N_TRACE) of one path of (scenario, policy)."""
    trace = new_trace(len(inputs.book.principal), inputs.horizon)
    with numba_threads(None) as threads:
        chunks = chunk_count(None, threads, len(inputs.book.principal))
        simulate_block(inputs, scenario, policy, range(path, path + 1), chunks, trace)
    return trace[0]


@dataclass(frozen=True)
class LoanColumns:
    """Per loan of the kernel's arrays (opening book, then candidates): the panel's columns
    that do not change from month to month."""

    ids: pa.Array  # the dictionary of loan_id (a row holds the loan's index into it)
    score: np.ndarray
    annual_rate: np.ndarray

    @classmethod
    def of(cls, run: ResolvedRun) -> LoanColumns:
        portfolio: Portfolio = run.portfolio
        template = run.inputs.pool.template
        opening = [str(i) for i in portfolio.loan_id.tolist()]
        return cls(
            ids=pa.array(opening + [f"new-{j}" for j in range(len(template))], pa.string()),
            score=np.concatenate([portfolio.score, portfolio.score[template]]).astype(np.int64),
            annual_rate=np.concatenate([portfolio.annual_rate, portfolio.annual_rate[template]]),
        )


def path_table(run: ResolvedRun, path: int, trace: np.ndarray, loans: LoanColumns) -> pa.Table:
    """The panel rows of one traced path: the opening snapshot, then the trace's loan-months."""
    book = run.inputs.book
    first = run.start.year * 12 + run.start.month - 1  # month index of month 1
    opening = np.arange(book.opening_loans)
    loan_t, month_t = np.nonzero(trace[:, :, STATE])
    state, restructured = unpack_state(trace[loan_t, month_t, STATE])
    cells = trace[loan_t, month_t]
    loan = np.concatenate([opening, loan_t])
    zeros = np.zeros(len(opening), np.int64)
    columns = {
        "path": np.full(len(loan), path, np.int64),
        "loan_id": pa.DictionaryArray.from_arrays(loan.astype(np.int32), loans.ids),
        "month": month_strings(np.concatenate([np.full(len(opening), first - 1), first + month_t])),
        "segment": _names(book.segment[loan], run.portfolio.segment_names),
        "score": loans.score[loan],
        "dpd": _names(np.concatenate([book.state[opening], state]), STATES),
        "principal": _cny(np.concatenate([book.principal[opening], cells[:, PRINCIPAL]])),
        "paid": _cny(np.concatenate([zeros, cells[:, PAID]])),
        "restructured": np.concatenate([book.restructured[opening], restructured]),
        "recovery": _cny(np.concatenate([zeros, cells[:, RECOVERY]])),
        "annual_rate": loans.annual_rate[loan],
        "remaining_term": _where_known(np.concatenate([book.remaining_term[opening],
                                                        cells[:, TERM] - 1])),
        "instalment": _cny_where_known(np.concatenate([book.instalment[opening],
                                                       cells[:, INSTALMENT]]),
                                       np.concatenate([np.ones(len(opening), bool),
                                                       cells[:, TERM] > 0])),
    }  # fmt: skip
    return pa.table(columns)


def _where_known(term: np.ndarray) -> pa.Array:
    """Remaining terms, null on the rows of loans no longer on the book (-1 in the trace)."""
    return pa.array(term.astype(np.int64), mask=term < 0)


def _cny_where_known(fen: np.ndarray, known: np.ndarray) -> pa.Array:
    return pa.array(fen / FEN_PER_CNY, mask=~known)


def _cny(fen: np.ndarray) -> np.ndarray:
    return fen / FEN_PER_CNY


def _names(codes: np.ndarray, names: tuple[str, ...]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(codes.astype(np.int8), pa.array(list(names)))


def write_panel(run: ResolvedRun, out: str | Path, paths: int) -> Path:
    """Write the panel of paths 0..``paths`` - 1 of the run's first scenario and policy to
    ``out`` (Parquet), one path at a time; return its path."""
    out = Path(out)
    partial = out.with_name(f".{out.name}.partial")
    writer, loans = None, LoanColumns.of(run)
    try:
        for path in range(paths):
            table = path_table(run, path, trace_path(run.inputs, 0, 0, path), loans)
            if writer is None:
                writer = pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
        if writer is not None:
            writer.close()
            writer = None
        os.replace(partial, out)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return out
