"""The monthly borrower loop of SPEC 4 in plain NumPy: the readable reference engine.

This module is the model written out as a specification. It reads the same inputs as
``kernel_numba.run_block`` (a :class:`~simulator.engine.tables.Book` and the
:class:`~simulator.engine.tables.Tables` of one block of paths) and adds the same integers into
the same accumulators (see ``layout``), so the two engines agree exactly, element by element,
once summed over chunks. The Numba kernel is the fast one; this one is meant to be read, and to
check the other.

Shape of the computation: Python loops over the paths of the block and over the months, and
NumPy array operations over *all loans at once*. Each branch of SPEC 4's order of events is a
boolean mask over the loans; a loan that is closed (paid off, prepaid) or whose recovery is over
simply drops out of every later mask. Loan state lives in one array per variable (state,
principal, accrued interest, remaining term, ...), reset at the start of each path.

Exactness: money is int64 fen. Interest and recovered amounts are computed in float64 exactly as
the Numba kernel does (``rint(principal * rate)``, ``rint(balance * fraction)``,
``rint(gross * fee)``) and then become integers; every accumulation is an integer addition
(``np.add.at`` on int64 arrays), never a float sum, so totals are exact and do not depend on the
order in which loans are added.

Chunks: ``flows`` and ``stocks`` carry a leading chunk axis C because the Numba kernel gives
each thread its own slice. This engine is single-threaded and adds everything into chunk 0
(``flows[0]``, ``stocks[0]``); the other chunks are left untouched. Only the sum over chunks is
meaningful, and that sum is identical for both engines.

Randomness: a borrower-month reads the four 32-bit words of one Philox4x32-10 call with counter
``(loan, path, month << 4 | PURPOSE_BORROWER, scenario stream)`` and key ``tables.key``. Word 0
decides prepayment (current loans) or the recovery event (charged-off loans); word 1 the
transition; word 2 is reserved for grace cures; word 3 gives the recovered fraction. A word ``x``
is compared to an integer threshold as ``int64(x) < threshold``, so an event of probability p
happens when ``x < floor(p * 2^32)``.

What the kernels model today: steps 3 to 6 of SPEC 4 (transitions with penalty interest,
prepayment, charge-off, agency recoveries, serious-delinquency counts). Collections intensity
(step 4) is already folded into the transition thresholds by ``tables.with_collections``. Policy
offers and payment holidays (steps 1-2), grace cures and the legal channel are not yet in either
kernel; their flows stay zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

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
from simulator.rng import philox4x32_10_numpy
from simulator.states import CHARGED_OFF, CURRENT, M1, M6, PAID_OFF

if TYPE_CHECKING:
    from simulator.engine.tables import Book, Tables

SERIOUS = 4  # dpd_91_120: the first bucket past 90 days, reported to the credit bureau


def borrower_words(
    n_loans: int, path: int, month: int, stream: int, key: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four Philox words of every loan's borrower-month, each as int64 (values < 2^32)."""
    counter = np.empty((n_loans, 4), dtype=np.uint32)
    counter[:, 0] = np.arange(n_loans, dtype=np.uint32)  # the loan's index in the book
    counter[:, 1] = path
    counter[:, 2] = (month << 4) | PURPOSE_BORROWER
    counter[:, 3] = stream
    words = philox4x32_10_numpy(counter, key).astype(np.int64)
    return words[:, 0], words[:, 1], words[:, 2], words[:, 3]


def payment(
    instalments: np.ndarray,
    instalment: np.ndarray,
    principal: np.ndarray,
    accrued: np.ndarray,
    clear: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(interest, principal) paid for ``instalments`` instalments: accrued interest first.

    ``clear``: this is the last scheduled instalment, which trues the balance up to zero (it pays
    everything owed, even if that differs from the level instalment by rounding).
    """
    owed = principal + accrued
    amount = np.where(clear, owed, np.minimum(instalments * instalment, owed))
    interest_part = np.minimum(amount, accrued)
    return interest_part, amount - interest_part


class MonthTotals:
    """Where one path-month's results go: ``flows[t]`` (G, F) and ``stocks[t]`` (G, S, 2).

    Every addition is an exact int64 scatter-add by the loans' segments (``np.add.at``), so the
    totals do not depend on the order of the loans.
    """

    def __init__(self, flows: np.ndarray, stocks: np.ndarray, segment: np.ndarray) -> None:
        self.flows, self.stocks, self.segment = flows, stocks, segment

    def add(self, flow: int, mask: np.ndarray, amount: np.ndarray | int = 1) -> None:
        """``flows[segment, flow] += amount`` for the loans in ``mask`` (a count if no amount)."""
        values = amount[mask] if isinstance(amount, np.ndarray) else amount
        np.add.at(self.flows[:, flow], self.segment[mask], values)

    def entered(self, terminal: int, mask: np.ndarray) -> None:
        """Count the loans in ``mask`` as entering a terminal state (paid off, charged off)."""
        np.add.at(self.stocks[:, terminal, ACCOUNTS], self.segment[mask], 1)

    def end_of_month(self, mask: np.ndarray, state: np.ndarray, principal: np.ndarray) -> None:
        """Principal and number of the loans in ``mask``, by segment and (active) state."""
        cells = (self.segment[mask], state[mask])
        np.add.at(self.stocks[:, :, BALANCE], cells, principal[mask])
        np.add.at(self.stocks[:, :, ACCOUNTS], cells, 1)


def run_block(book: Book, tables: Tables, flows: np.ndarray, stocks: np.ndarray) -> None:
    """Add one block of paths into ``flows`` (C, B, H, G, F) and ``stocks`` (C, B, H, G, S, 2).

    Same signature and results as ``kernel_numba.run_block``, except that everything goes into
    chunk 0: only the sum over the chunk axis is meaningful.
    """
    n = len(book.principal)
    segment = book.segment.astype(np.intp)
    tier = book.tier.astype(np.intp)
    matrix = (book.restructured > 0).astype(np.intp)  # 0: normal matrix, 1: restructured
    monthly_rate = book.monthly_rate
    instalment = book.instalment.astype(np.int64)
    prepay_threshold = tables.prepay[segment]  # per loan, int64
    key = np.array(tables.key, dtype=np.uint32)
    # Recovered fractions: a table of 2^bits Beta quantiles, indexed by the top bits of word 3.
    quantile_shift = 32 - int(np.log2(len(tables.recovery_quantiles)))

    for b in range(tables.paths):
        path = tables.first_path + b
        month_flows = flows[0, b]  # (H, G, F), this path's flows
        month_stocks = stocks[0, b]  # (H, G, S, 2)

        # Every loan starts the path from the book as of the valuation date.
        state = book.state.astype(np.int64)
        principal = book.principal.astype(np.int64)
        accrued = np.zeros(n, dtype=np.int64)
        term = book.remaining_term.astype(np.int64)  # scheduled instalments still to fall due
        serious = state >= SERIOUS  # already reported to the bureau: not counted again
        chargeoff_balance = np.zeros(n, dtype=np.int64)  # principal + interest written off
        months_charged_off = np.zeros(n, dtype=np.int64)  # months of recovery work so far
        open_ = np.ones(n, dtype=bool)  # False once paid off, prepaid or recovery is over

        for t in range(tables.horizon):
            month = MonthTotals(month_flows[t], month_stocks[t], segment)

            w0, w1, _w2, w3 = borrower_words(n, path, t, tables.stream, key)

            # Who is where at the start of the month: active loans (current or M1..M6) go
            # through steps 1-4 and 6; charged-off loans are in recovery (step 5).
            active = open_ & (state != CHARGED_OFF)
            in_recovery = open_ & (state == CHARGED_OFF)

            # --- an active loan's month -------------------------------------------------------
            month.add(ACTIVE_ACCOUNTS, active)

            # Interest accrues on the principal: the contract rate, or the penalty rate (罚息)
            # for a loan that starts the month delinquent.
            delinquent = active & (state != CURRENT)
            month.add(DELINQUENT_ACCOUNTS, delinquent)
            rate = np.where(delinquent, monthly_rate * tables.penalty_multiplier, monthly_rate)
            accrued[active] += np.rint(principal[active] * rate[active]).astype(np.int64)

            # One scheduled instalment falls due, until maturity; after maturity nothing new is
            # due and an unpaid debt only ages.
            due = active & (term > 0)
            term[due] -= 1

            # Steps 1-2 (payment holidays, policy offers) are not modelled yet (see the module
            # docstring); step 4 (collections intensity) is inside the transition thresholds.

            # Step 3a. Prepayment: a current loan may repay everything owed and close.
            prepaid = active & (state == CURRENT) & (w0 < prepay_threshold)
            month.add(PREPAID_PRINCIPAL, prepaid, principal)
            month.add(COLLECTED_INTEREST, prepaid, accrued)
            month.entered(PAID_OFF, prepaid)
            open_ &= ~prepaid
            moving = active & ~prepaid

            # Step 3b. Transition draw: the row of (segment, tier, normal/restructured, state) on
            # this path and month holds cumulative thresholds, destinations worst first
            # (charged_off, M6, ..., M1, current); the destination is the first whose threshold
            # exceeds word 1 (current if none does).
            row = tables.transition[b, t][
                segment[moving], tier[moving], matrix[moving], state[moving]
            ]  # (loans moving, 8)
            below = w1[moving][:, None] < row
            destination = np.full(n, CURRENT, dtype=np.int64)
            destination[moving] = np.where(
                below.any(axis=1), CHARGED_OFF - below.argmax(axis=1), CURRENT
            )

            # Step 3c. What the destination means: how many instalments are paid, and the state
            # at the end of the month.
            paid = np.zeros(n, dtype=np.int64)  # instalments paid this month
            new_state = state.copy()
            # From current: pay the instalment due, or miss it: whatever the destination drawn,
            # one instalment is then in arrears (M1).
            pays = moving & (state == CURRENT) & (destination == CURRENT)
            misses = moving & (state == CURRENT) & (destination != CURRENT)
            paid[pays] = 1
            new_state[misses] = M1
            # From Mk to Mj with j < k (or to current): a cure, full or partial. The arrears
            # paid down (k - j instalments) plus the one due this month, if any.
            in_arrears = moving & (state != CURRENT)
            cures = in_arrears & (destination < state)
            paid[cures] = state[cures] - destination[cures] + due[cures]
            new_state[cures] = destination[cures]
            # Stay in Mk: the instalment due is paid, the arrears are unchanged.
            stays = in_arrears & (destination == state) & due
            paid[stays] = 1
            # Anything else rolls one bucket (Mk -> Mk+1; out of M6 to charged_off). After
            # maturity a delinquent debt with nothing due ages a bucket a month even when the
            # draw says "stay".
            rolls = in_arrears & ~cures & ~stays
            new_state[rolls] = np.where(state[rolls] < M6, state[rolls] + 1, CHARGED_OFF)
            state = new_state

            # Step 3d. Payments: accrued interest first, then principal. A loan that ends the
            # month current with no instalment left to fall due (its last instalment, or a full
            # cure after maturity) pays everything owed: the balance is trued up to zero.
            paying = paid > 0
            last = paying & (state == CURRENT) & (term == 0)
            interest_part, principal_part = payment(paid, instalment, principal, accrued, last)
            accrued[paying] -= interest_part[paying]
            principal[paying] -= principal_part[paying]
            month.add(COLLECTED_INTEREST, paying, interest_part)
            month.add(COLLECTED_PRINCIPAL, paying, principal_part)
            paid_off = paying & (principal == 0) & (accrued == 0)
            month.entered(PAID_OFF, paid_off)
            open_ &= ~paid_off

            # Step 3e. Charge-off: a roll out of M6 writes off principal and accrued interest;
            # the written-off balance is what recoveries will be a fraction of.
            charged_off = rolls & (state == CHARGED_OFF)
            month.add(CHARGEOFF_PRINCIPAL, charged_off, principal)
            month.add(CHARGEOFF_INTEREST, charged_off, accrued)
            month.entered(CHARGED_OFF, charged_off)
            chargeoff_balance[charged_off] = principal[charged_off] + accrued[charged_off]
            principal[charged_off] = 0
            accrued[charged_off] = 0

            # --- step 5: a charged-off loan's month (recovery starts the month after) ---------
            # Agency channel: within the recovery window, one recovery event with a monthly
            # hazard; the recovered fraction is a Beta quantile picked by word 3's top bits, and
            # the agency keeps its fee. After the event, or once the window is over, the loan
            # leaves the simulation.
            window_over = in_recovery & (months_charged_off >= tables.recovery_window)
            open_ &= ~window_over
            worked = in_recovery & ~window_over
            months_charged_off[worked] += 1
            recovered = worked & (w0 < tables.recovery_hazard)
            fraction = tables.recovery_quantiles[w3 >> quantile_shift]
            gross = np.rint(chargeoff_balance * fraction).astype(np.int64)
            fee = np.rint(gross * tables.agency_fee).astype(np.int64)
            month.add(RECOVERIES, recovered, gross - fee)
            month.add(RECOVERY_FEES, recovered, fee)
            open_ &= ~recovered

            # --- step 6, and the end-of-month stocks of loans still active --------------------
            still_active = moving & ~paid_off & ~charged_off
            # Serious delinquency: the first time a loan reaches 90+ DPD (M4) it is reported.
            newly_serious = still_active & (state >= SERIOUS) & ~serious
            month.add(NEW_SERIOUS_DELINQUENCIES, newly_serious)
            serious |= newly_serious
            month.end_of_month(still_active, state, principal)
