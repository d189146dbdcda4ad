"""The bound kernel: a roofline for this workload, what the hardware does for the least work
the model needs, on the very book, paths and months the engine runs (issue #16).

Per live borrower-month it does only this:

* one counter-based draw: the engine's own Philox4x32-10 (``simulator.rng``) with the engine's
  counter ``(loan, path, month << 4 | PURPOSE_BORROWER, scenario stream)`` under the run's key;
  word 0 decides prepayment (a current loan), word 1 the transition;
* one transition-row lookup in the engine's tables (``Tables.transition``: the cumulative
  integer thresholds of the loan's row, worst destination first): the miss threshold of a
  current loan, a branch-free count of thresholds passed for a delinquent one;
* the integer-fen interest and principal update (interest at the penalty rate when delinquent,
  then the engine's ``payment``: accrued interest first, the last instalment clears);
* one accumulation per (path, month): the loan's month-end principal and its account-month,
  two adjacent int64 words of one small array per (chunk, path).

It is parallel over chunks of loans exactly like the engine (``kernel_numba``): four chunks a
Numba thread, one ``prange`` iteration each, each chunk's loans in the engine's order
(``loan_order``), paths in blocks of ``BLOCK_PATHS`` with the tables ``simulate`` builds for
them, and a loan that closes (prepaid, paid off, charged off) stops costing at once. With the
standard policy (no offers, no grace period) its live borrower-months are the engine's
``active_accounts`` and its month-end principal the engine's balance, to the fen, on a book
whose restructured loans carry no relief memory (``tests/test_benchmarks.py``); what it leaves
out is the model's other work: recovery months after a charge-off, the Day-1 payment records,
the relief memory of restructured loans, segment and state breakdowns, provisions and capital,
tables and the Dataset.

The draw is the engine's own generator, and it is most of the bound (measured with a scratch
copy, ``docs/profile-bound.md``: about 2.5 times faster with a two-multiply hash in place of
Philox4x32-10). A cheaper generator in the engine makes this bound faster too, so the share
compares the engine with the least work *under the same generator*; keep the bound on
Philox4x32-10 to compare a change of generator with today.

``python -m benchmarks.bound`` measures both on the issue's book (200,000 loans, 256 paths, 24
months, ``adverse``, ``standard``, ``run-off``, provisions on), interleaved round by round in
one process; the gate holds the engine's share of the bound to a floor (``bound_share``).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/bound.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from numba import prange

from benchmarks import common
from simulator.accelerate import inline_jit, parallel_jit
from simulator.engine.arrays import Book, Tables
from simulator.engine.kernel_numba import payment
from simulator.engine.layout import PURPOSE_BORROWER
from simulator.rng import philox4x32_10
from simulator.states import CHARGED_OFF, CURRENT, M1, M6

BALANCE, ACCOUNTS = 0, 1
"""The two words accumulated per (path, month): month-end principal (fen), account-months."""
MISS = 6  # position of M1 among the worst-first thresholds: the current row's miss threshold
ALWAYS = 2**32  # the last threshold of every row: every 32-bit word is below it

ISSUE_LOANS, ISSUE_PATHS, ISSUE_MONTHS = 200_000, 256, 24
"""The book of issue #16's measurement."""


@inline_jit
def step(row, word, state, due):
    """The transition of one live borrower-month: (new state, instalments paid). From current,
    the miss threshold; from a delinquent bucket, a branch-free count of the thresholds at or
    below the word (the same destination as the engine's scan)."""
    paid = 0
    if state == CURRENT:
        if word >= row[MISS]:
            paid = 1
        else:
            state = M1
        return state, paid
    passed = 0
    for w in range(row.shape[0]):
        passed += 1 if row[w] <= word else 0
    destination = CHARGED_OFF - passed
    if destination < state:  # a cure: arrears paid, plus the one due
        paid = state - destination + (1 if due else 0)
        state = destination
    elif destination == state and due:
        paid = 1
    else:
        state = state + 1 if state < M6 else CHARGED_OFF
    return state, paid


@parallel_jit
def _bound_block(
    book_segment,
    book_tier,
    book_principal,
    book_monthly_rate,
    book_term,
    book_instalment,
    book_state,
    book_restructured,
    bounds,
    order,
    first_path,
    transitions,
    prepay,
    penalty_multiplier,
    key0,
    key1,
    stream,
    out,
):
    """Every loan of a chunk on every path of the block, month by month, in local variables,
    the least the model needs (module docstring); adds into ``out`` (C, B, H, 2)."""
    for chunk in prange(len(bounds) - 1):
        for b in range(transitions.shape[0]):
            path = first_path + b
            transition, acc = transitions[b], out[chunk, b]
            for i in range(bounds[chunk], bounds[chunk + 1]):
                loan = order[i]
                segment, tier = book_segment[loan], book_tier[loan]
                principal, rate = book_principal[loan], book_monthly_rate[loan]
                term, instalment = book_term[loan], book_instalment[loan]
                state = book_state[loan]
                matrix = 1 if book_restructured[loan] > 0 else 0
                accrued = np.int64(0)
                for t in range(transition.shape[0]):
                    acc[t, ACCOUNTS] += 1
                    monthly = rate if state == CURRENT else rate * penalty_multiplier
                    accrued += np.int64(np.rint(principal * monthly))
                    due = term > 0
                    if due:
                        term -= 1
                    w0, w1, _, _ = philox4x32_10(
                        loan, path, (t << 4) | PURPOSE_BORROWER, stream, key0, key1
                    )
                    if state == CURRENT and np.int64(w0) < prepay[segment]:
                        break  # prepaid
                    row = transition[t, segment, tier, matrix, state]
                    state, paid = step(row, np.int64(w1), state, due)
                    if paid > 0:
                        interest_part, principal_part = payment(
                            paid, instalment, principal, accrued, state == CURRENT and term == 0
                        )
                        accrued -= interest_part
                        principal -= principal_part
                        if principal == 0 and accrued == 0:
                            break  # paid off
                    if state == CHARGED_OFF:
                        break
                    acc[t, BALANCE] += principal


@dataclass(frozen=True)
class BoundInputs:
    """What the bound kernel reads: the engine's book and its tables, block by block of paths,
    exactly as ``simulate`` builds them for the same run."""

    book: Book
    tables: tuple[Tables, ...]  # one per block of paths
    paths: int
    months: int

    @property
    def nominal(self) -> int:
        return common.nominal(len(self.book.principal), self.paths, self.months)


def bound_inputs(
    portfolio: Any, *, paths: int, months: int, policy: str = common.STANDARD, block_paths: int = 0
) -> BoundInputs:
    """The book and tables ``common.run(portfolio, policy, paths=..., months=...)`` simulates
    (``run-off``: the book alone), in blocks of ``block_paths`` paths (``simulate``'s own by
    default). Built outside any timing."""
    from simulator.engine.tables import build_tables
    from simulator.run.blocks import BLOCK_PATHS
    from simulator.run.inputs import resolve_inputs

    run = resolve_inputs(
        portfolio, [common.scenario()], [common.policy(policy)], model=common.model(),
        treasury=common.TREASURY, horizon=months, seed=0, engine="numba", provisions=False,
    )  # fmt: skip
    inputs = run.inputs
    if inputs.book.opening_loans != len(inputs.book.principal):
        raise ValueError("the bound kernel runs the book alone (run-off: no new loans)")
    step = block_paths or BLOCK_PATHS
    tables = tuple(
        build_tables(inputs.model, inputs.scenarios[0], inputs.policies[0], seed=inputs.seed,
                     paths=range(first, min(first + step, paths)), horizon=months,
                     probits=inputs.probits[0], levers=inputs.levers[0], pool=inputs.pool)
        for first in range(0, paths, step)
    )  # fmt: skip
    for block in tables:  # what the branch-free count relies on
        rows = block.transition
        if not (np.all(rows[..., -1] == ALWAYS) and np.all(np.diff(rows, axis=-1) >= 0)):
            raise ValueError("transition rows are not cumulative thresholds ending at 2**32")
    return BoundInputs(book=inputs.book, tables=tables, paths=paths, months=months)


def run_bound(inputs: BoundInputs, chunks: int | None = None) -> np.ndarray:
    """The bound kernel over every block; (paths, months, 2) int64 totals: month-end principal
    of the loans still open (``BALANCE``) and live account-months (``ACCOUNTS``). ``chunks``:
    as ``simulate`` chooses (four per Numba thread) unless given."""
    import numba

    from simulator.engine.kernel_numba import loan_order
    from simulator.run.blocks import chunk_count

    book = inputs.book
    n = len(book.principal)
    chunks = chunk_count(chunks, numba.get_num_threads(), n)
    bounds = np.linspace(0, n, chunks + 1).astype(np.int64)
    order = loan_order(book, bounds)
    totals = np.zeros((inputs.paths, inputs.months, 2), np.int64)
    for tables in inputs.tables:
        out = np.zeros((chunks, tables.paths, inputs.months, 2), np.int64)
        _bound_block(
            book.segment, book.tier, book.principal, book.monthly_rate, book.remaining_term,
            book.instalment, book.state, book.restructured, bounds, order, tables.first_path,
            tables.transition, tables.prepay, tables.penalty_multiplier, tables.key[0],
            tables.key[1], tables.stream, out,
        )  # fmt: skip
        totals[tables.first_path : tables.first_path + tables.paths] = out.sum(axis=0)
    return totals


def engine_run(portfolio: Any, *, paths: int, months: int) -> Any:
    """The engine side: ``simulate``, standard policy, provisions and capital on, ``run-off``,
    all threads (``common.run``)."""
    return common.run(portfolio, common.STANDARD, paths=paths, months=months, provisions=True)


def measure(loans: int, paths: int, months: int, repeats: int) -> dict[str, Any]:
    """Engine and bound on the same book, interleaved round by round in this process; nominal
    borrower-months per second of each (median and best round) and the engine's share."""
    from benchmarks.gate import interleaved

    common.warm_up()
    portfolio = common.book(loans)
    inputs = bound_inputs(portfolio, paths=paths, months=months)
    timing = interleaved(
        {
            "engine": lambda: engine_run(portfolio, paths=paths, months=months),
            "bound": lambda: run_bound(inputs),
        },
        repeats,
    )
    live = int(run_bound(inputs)[..., ACCOUNTS].sum())
    n = inputs.nominal

    def rates(seconds: dict[str, float]) -> dict[str, float]:
        return {side: n / s for side, s in seconds.items()}

    median, best = rates(timing.seconds), rates(timing.fastest)
    return {
        "size": f"{loans:,} loans x {paths} paths x {months} months",
        "nominal_borrower_months": n,
        "live_borrower_months": live,
        "seconds": timing.seconds,
        "fastest_seconds": timing.fastest,
        "borrower_months_per_second": median,
        "fastest_borrower_months_per_second": best,
        "share": median["engine"] / median["bound"],
        "share_of_fastest": best["engine"] / best["bound"],
        "rounds": timing.rounds,
        "busy_rounds_measured_again": timing.busy_rounds_measured_again,
        "cpu_share_of_other_processes": timing.elsewhere,
        "numba_threads": common.ALL_THREADS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=ISSUE_LOANS)
    parser.add_argument("--paths", type=int, default=ISSUE_PATHS)
    parser.add_argument("--months", type=int, default=ISSUE_MONTHS)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console()
    result = measure(args.loans, args.paths, args.months, args.repeats)
    median, best = (
        result["borrower_months_per_second"],
        result["fastest_borrower_months_per_second"],
    )
    live = result["live_borrower_months"] / result["nominal_borrower_months"]
    console.print(
        f"{result['size']}, {result['rounds']} interleaved rounds, {common.ALL_THREADS} threads; "
        f"live borrower-months {live:.1%} of nominal"
    )
    for side in ("engine", "bound"):
        console.print(
            f"{side}: {median[side] / 1e6:,.0f} M nominal borrower-months/s (median), "
            f"{best[side] / 1e6:,.0f} M (best round)"
        )
    console.print(
        f"engine share of the bound: {result['share']:.3f} (medians), "
        f"{result['share_of_fastest']:.3f} (best rounds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
