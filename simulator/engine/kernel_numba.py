"""The monthly borrower loop of SPEC 4 in Numba (the engine behind ``engine="numba"``).

``run_block`` simulates every loan on every path of one block of paths. Loans are split into
chunks, one ``prange`` iteration each; a chunk adds into its own slice of the integer
accumulators, so there are no races and, sums of int64 being exact, the totals are identical
whatever the number of chunks or threads. One loan's path is simulated month by month in local
variables: no per-loan history is stored. A closed loan stops costing anything at once.

Randomness: each borrower-month reads the four words of one Philox4x32-10 call whose counter is
(loan, path, month << 4 | purpose, scenario stream): a pure function of those, so a borrower's
draws are the same under every policy (common random numbers) and in any chunk or block.
Word 0 decides prepayment (current loans) or the recovery event (charged-off loans); word 1 the
transition; word 2 is kept for grace cures; word 3 gives the recovered fraction.

``kernel_numpy.run_block`` is the readable reference: same inputs, same integer results.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from simulator.accelerate import jit, parallel_jit
from simulator.engine.layout import (
    ACCOUNTS,
    ACTIVE_ACCOUNTS,
    BALANCE,
    CHARGEOFF_INTEREST,
    CHARGEOFF_PRINCIPAL,
    COLLECTED_INTEREST,
    COLLECTED_PRINCIPAL,
    DELINQUENT_ACCOUNTS,
    NEW_SERIOUS_DELINQUENCIES,
    PREPAID_PRINCIPAL,
    PURPOSE_BORROWER,
    RECOVERIES,
    RECOVERY_FEES,
)
from simulator.engine.tables import Book, Tables
from simulator.rng import philox4x32_10
from simulator.states import CHARGED_OFF, CURRENT, M6, PAID_OFF

SERIOUS = 4  # dpd_91_120: the first bucket past 90 days, reported to the credit bureau


@jit
def payment(instalments, instalment, principal, accrued, clear):
    """(interest, principal) paid for ``instalments`` instalments: accrued interest first.

    ``clear``: this is the last scheduled instalment, which trues the balance up to zero.
    """
    owed = principal + accrued
    amount = owed if clear else min(instalments * instalment, owed)
    interest_part = min(amount, accrued)
    return interest_part, amount - interest_part


@jit
def simulate_loan(
    loan, segment, tier, principal, monthly_rate, term, instalment, state, matrix,
    transition, prepay, penalty_multiplier,
    recovery_hazard, recovery_quantiles, agency_fee, recovery_window,
    key0, key1, stream, path, flows, stocks,
):  # fmt: skip
    """One loan along one path; ``flows`` (H, G, F) and ``stocks`` (H, G, S, 2) of this path."""
    accrued = np.int64(0)
    serious = state >= SERIOUS
    chargeoff_balance = np.int64(0)
    months_charged_off = 0
    quantile_shift = 32 - int(np.log2(len(recovery_quantiles)))
    for t in range(transition.shape[0]):
        w0, w1, _w2, w3 = philox4x32_10(loan, path, (t << 4) | PURPOSE_BORROWER, stream, key0, key1)
        if state == CHARGED_OFF:  # agency recovery: one event, within the window
            if months_charged_off >= recovery_window:
                return
            months_charged_off += 1
            if np.int64(w0) < recovery_hazard:
                fraction = recovery_quantiles[np.int64(w3) >> quantile_shift]
                gross = np.int64(np.rint(chargeoff_balance * fraction))
                fee = np.int64(np.rint(gross * agency_fee))
                flows[t, segment, RECOVERIES] += gross - fee
                flows[t, segment, RECOVERY_FEES] += fee
                return
            continue

        flows[t, segment, ACTIVE_ACCOUNTS] += 1
        rate = monthly_rate
        if state != CURRENT:
            flows[t, segment, DELINQUENT_ACCOUNTS] += 1
            rate = monthly_rate * penalty_multiplier
        accrued += np.int64(np.rint(principal * rate))
        due = term > 0
        if due:
            term -= 1

        if state == CURRENT and np.int64(w0) < prepay[segment]:
            flows[t, segment, PREPAID_PRINCIPAL] += principal
            flows[t, segment, COLLECTED_INTEREST] += accrued
            stocks[t, segment, PAID_OFF, ACCOUNTS] += 1
            return

        row = transition[t, segment, tier, matrix, state]
        destination = CURRENT
        for w in range(row.shape[0]):  # worst first: charged_off, M6, ..., M1, current
            if np.int64(w1) < row[w]:
                destination = CHARGED_OFF - w
                break

        paid = 0  # instalments paid this month
        if state == CURRENT:
            if destination == CURRENT:
                paid = 1
            else:
                state = 1  # a missed instalment: one in arrears
        elif destination < state:  # cure, fully or partly: arrears paid down, plus the due one
            paid = state - destination + (1 if due else 0)
            state = destination
        elif destination == state and due:  # pays the instalment due, arrears unchanged
            paid = 1
        else:  # roll (or, after maturity, the debt ages a bucket a month)
            state = state + 1 if state < M6 else CHARGED_OFF

        if paid > 0:
            interest_part, principal_part = payment(
                paid, instalment, principal, accrued, state == CURRENT and term == 0
            )
            accrued -= interest_part
            principal -= principal_part
            flows[t, segment, COLLECTED_INTEREST] += interest_part
            flows[t, segment, COLLECTED_PRINCIPAL] += principal_part
            if principal == 0 and accrued == 0:
                stocks[t, segment, PAID_OFF, ACCOUNTS] += 1
                return

        if state == CHARGED_OFF:
            flows[t, segment, CHARGEOFF_PRINCIPAL] += principal
            flows[t, segment, CHARGEOFF_INTEREST] += accrued
            stocks[t, segment, CHARGED_OFF, ACCOUNTS] += 1
            chargeoff_balance = principal + accrued
            principal = np.int64(0)
            accrued = np.int64(0)
            continue

        if state >= SERIOUS and not serious:
            serious = True
            flows[t, segment, NEW_SERIOUS_DELINQUENCIES] += 1
        stocks[t, segment, state, BALANCE] += principal
        stocks[t, segment, state, ACCOUNTS] += 1


@parallel_jit
def _run_block(
    segment, tier, principal, monthly_rate, term, instalment, state, restructured,
    chunk_bounds, first_path, transition, prepay, penalty_multiplier,
    recovery_hazard, recovery_quantiles, agency_fee, recovery_window,
    key0, key1, stream, flows, stocks,
):  # fmt: skip
    for chunk in prange(len(chunk_bounds) - 1):
        for b in range(transition.shape[0]):
            path = first_path + b
            for loan in range(chunk_bounds[chunk], chunk_bounds[chunk + 1]):
                simulate_loan(
                    loan, segment[loan], tier[loan], principal[loan], monthly_rate[loan],
                    term[loan], instalment[loan], state[loan], 1 if restructured[loan] > 0 else 0,
                    transition[b], prepay, penalty_multiplier,
                    recovery_hazard, recovery_quantiles, agency_fee, recovery_window,
                    key0, key1, stream, path, flows[chunk, b], stocks[chunk, b],
                )  # fmt: skip


def run_block(book: Book, tables: Tables, flows: np.ndarray, stocks: np.ndarray) -> None:
    """Add one block of paths into ``flows`` (C, B, H, G, F) and ``stocks`` (C, B, H, G, S, 2).

    The number of chunks C is ``flows.shape[0]``; loans are split evenly among them.
    """
    chunk_bounds = np.linspace(0, len(book.principal), flows.shape[0] + 1).astype(np.int64)
    _run_block(
        book.segment, book.tier, book.principal, book.monthly_rate, book.remaining_term,
        book.instalment, book.state, book.restructured,
        chunk_bounds, tables.first_path, tables.transition, tables.prepay,
        tables.penalty_multiplier, tables.recovery_hazard, tables.recovery_quantiles,
        tables.agency_fee, tables.recovery_window,
        tables.key[0], tables.key[1], tables.stream, flows, stocks,
    )  # fmt: skip
