"""The monthly borrower loop of SPEC 4 in plain NumPy: the readable reference engine.

This module is the model written out as a specification. It reads the same inputs as
``kernel_numba.run_block`` (a :class:`~simulator.engine.arrays.Book` and the
:class:`~simulator.engine.arrays.Tables` of one block of paths, with the policy's
:class:`~simulator.engine.arrays.Levers` and :class:`~simulator.engine.arrays.PathLevers`) and
adds the same integers into the same accumulators (see ``layout``), so the two engines agree
exactly, element by element, once summed over chunks. The Numba kernel is the fast one; this one
is meant to be read, and to check the other.

Shape of the computation: Python loops over the paths of the block and over the months, and
NumPy array operations over *all loans at once*. Each branch of SPEC 4's order of events is a
boolean mask over the loans; a loan that is closed (paid off, prepaid, settled) or whose
recovery is over simply drops out of every later mask. Loan state lives in one array per
variable (state, principal, accrued interest, remaining term, instalment, ...), reset from the
book at the start of each path. Within a month every mask is taken from the loans' state at the
point of the month where the Numba kernel tests it, so that each loan goes through exactly the
same sequence of events in both engines. Candidate new loans (``engine.cohorts``) are in the
arrays from the start but closed; the ones originated on the path open at the end of their start
month.

Exactness: money is int64 fen. Interest, settlement cash, fees, new instalments and recovered
amounts are computed in float64 with exactly the Numba kernel's expressions (for instance
``rint(principal * rate)``, ``rint(principal * (rate * penalty_multiplier))``,
``rint((principal + accrued) * (1 - haircut))``) and then become integers; every accumulation is
an integer addition (``np.add.at`` on int64 arrays), never a float sum, so totals are exact and
do not depend on the order in which loans are added.

Chunks: ``flows`` and ``stocks`` carry a leading chunk axis C because the Numba kernel gives
each thread its own slice. This engine is single-threaded and adds everything into chunk 0
(``flows[0]``, ``stocks[0]``); the other chunks are left untouched. Only the sum over chunks is
meaningful, and that sum is identical for both engines.

Randomness: one Philox4x32-10 call per (loan, path, month, purpose), counter
``(loan, path, month << 4 | purpose, scenario stream)`` and key ``tables.key``; its four 32-bit
words are compared to integer thresholds as ``int64(x) < threshold`` (probability p when the
threshold is ``floor(p * 2^32)``). Borrower words (``PURPOSE_BORROWER``): 0 prepayment (current)
or the agency recovery event (charged off), 1 the transition, 2 whether a current payer paid
after the due date (a Day-1 miss paid within the month), 3 its days to pay (current) or the
recovered fraction (charged off). Policy words (``PURPOSE_POLICY``, read only when the policy
makes offers at all): 0 settlement acceptance, 1 re-instalment application (or early-warning
take-up of a re-instalment), 2 approval, 3 holiday take-up. Legal words (``PURPOSE_LEGAL``): 0
filing at charge-off, 1 success at judgement. Words are pure functions of their counters, so
computing them for more loans than need them changes nothing: a borrower's draws are the same
under every policy (common random numbers).

Collections intensity (SPEC 4 step 4) and the moral hazard of grace periods are folded into the
transition thresholds by ``tables.base_probits``; everything else of SPEC 4 happens here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.engine.arrays import (
    AFFORDABILITY_SIZE,
    AFFORDABILITY_STEPS,
    NO_STATE,
    OFFER_HOLIDAY,
    OFFER_NONE,
    OFFER_REINSTALMENT,
    Book,
    Levers,
    Tables,
)
from simulator.engine.layout import (
    ACCOUNTS,
    ACTIVE_ACCOUNTS,
    ALLOWANCE,
    BALANCE,
    CAPITALISED_INTEREST,
    CATEGORY_RAISED_FROM,
    CATEGORY_RAISED_TO,
    CHARGEOFF_INTEREST,
    CHARGEOFF_PRINCIPAL,
    COLLECTED_30D,
    COLLECTED_INTEREST,
    COLLECTED_PRINCIPAL,
    DAY1_UNPAID,
    DELINQUENT_ACCOUNTS,
    DUE_AMOUNT,
    EARLY_CONTACTS,
    EARLY_WARNING_OFFERS,
    GRACE_CURES,
    HOLIDAY_CURRENT_3,
    HOLIDAY_OFFERS,
    HOLIDAYS_STARTED,
    LATE_INTEREST,
    LEGAL_CASES,
    LEGAL_COST,
    LEGAL_JUDGEMENTS,
    LEGAL_WINS,
    MEDIATION_FEE,
    MEMORY_MONTHS,
    N_LEDGER,
    NEW_ACCOUNTS,
    NEW_SERIOUS_DELINQUENCIES,
    ORIGINATED_PRINCIPAL,
    PREPAID_PRINCIPAL,
    PROBATION_ACCOUNTS,
    PURPOSE_BORROWER,
    PURPOSE_LEGAL,
    PURPOSE_POLICY,
    RECOVERIES,
    RECOVERY_FEES,
    REDEFAULT_30,
    REDEFAULT_CO,
    REDEFAULT_MONTHS,
    REINSTAL_APPLICATIONS,
    REINSTAL_OFFERS,
    REPORTED_OVERDUE,
    RESTRUCTURED,
    SETTLED_BALANCE,
    SETTLED_PRINCIPAL,
    SETTLEMENT_CASH,
    SETTLEMENT_LOSS,
    SETTLEMENT_OFFERS,
    SETTLEMENTS,
    STAGE_BALANCE,
    STAGE_TRANSFERS,
    TIER_NET_CREDIT_LOSS,
    VINTAGE_DPD30,
    WAIVED_INTEREST,
)
from simulator.engine.trace import (
    INSTALMENT,
    PAID,
    PRINCIPAL,
    RECOVERY,
    STATE,
    TERM,
    no_trace,
    pack_state,
)
from simulator.rng import philox4x32_10_numpy
from simulator.states import CHARGED_OFF, CURRENT, M1, M6, PAID_OFF, SETTLED

if TYPE_CHECKING:
    from simulator.provisions.tables import ProvisionTables

SERIOUS = 4  # dpd_91_120: the first bucket past 90 days, reported to the credit bureau
MISS = 6  # position of M1 among the worst-first thresholds: the current row's miss threshold
ALWAYS = np.int64(2**32)  # a threshold every 32-bit word is below
TWO32 = 2.0**32
RELIEF_NONE, RELIEF_TAPE, RELIEF_REINSTALMENT, RELIEF_HOLIDAY = 0, 1, 2, 3
"""Where a loan's relief memory comes from: none, the tape, a re-instalment, a holiday."""

Words = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def philox_words(
    loans: np.ndarray, path: int, month: int, purpose: int, stream: int, key: np.ndarray
) -> Words:
    """The four Philox words of (loan, path, month, purpose) for each of ``loans`` (indices into
    the book), each as int64 (values < 2^32)."""
    counter = np.empty((len(loans), 4), dtype=np.uint32)
    counter[:, 0] = loans  # the loan's index in the book
    counter[:, 1] = path
    counter[:, 2] = (month << 4) | purpose
    counter[:, 3] = stream
    words = philox4x32_10_numpy(counter, key).astype(np.int64)
    return words[:, 0], words[:, 1], words[:, 2], words[:, 3]


def borrower_words(n_loans: int, path: int, month: int, stream: int, key: np.ndarray) -> Words:
    """The four borrower words of every loan's borrower-month."""
    return philox_words(np.arange(n_loans), path, month, PURPOSE_BORROWER, stream, key)


def makes_offers(levers: Levers) -> bool:
    """Whether the policy ever offers anything (else its random words are not even drawn)."""
    return bool(
        levers.settle_min_state < NO_STATE
        or levers.reinstal_cap > 0
        or levers.holiday_cap > 0
        or levers.ew_offer != OFFER_NONE
    )


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


def quick_threshold(miss: np.ndarray, quick: np.ndarray) -> np.ndarray:
    """Threshold of a Day-1 miss paid within the month, given the instalment was paid by the
    month end: ``quick / (1 - m)`` for a month-end miss probability m (per loan)."""
    m = miss / TWO32
    with np.errstate(divide="ignore", invalid="ignore"):
        threshold = np.minimum(np.floor(quick / (1.0 - m) * TWO32), float(ALWAYS))
    return np.where(m >= 1.0, ALWAYS, np.nan_to_num(threshold).astype(np.int64))


def fen(amount: np.ndarray) -> np.ndarray:
    """A float64 amount rounded half to even to whole fen (the kernel's ``int64(rint(x))``)."""
    return np.rint(amount).astype(np.int64)


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
        """Count the loans in ``mask`` as entering a terminal state (paid off, charged off,
        settled)."""
        np.add.at(self.stocks[:, terminal, ACCOUNTS], self.segment[mask], 1)

    def end_of_month(self, mask: np.ndarray, state: np.ndarray, principal: np.ndarray) -> None:
        """Principal and number of the loans in ``mask``, by segment and (active) state."""
        cells = (self.segment[mask], state[mask])
        np.add.at(self.stocks[:, :, BALANCE], cells, principal[mask])
        np.add.at(self.stocks[:, :, ACCOUNTS], cells, 1)


def after_relief(month: MonthTotals, mask: np.ndarray, relief: np.ndarray, since: np.ndarray,
                 state: np.ndarray) -> None:  # fmt: skip
    """Re-instalmented loans 30+ DPD 3, 6 and 12 months after; holiday loans current three
    months after the holiday (the loans in ``mask`` at the end of the month)."""
    worse = mask & (relief == RELIEF_REINSTALMENT) & (state > M1)
    for k, months in enumerate(REDEFAULT_MONTHS):
        month.add(REDEFAULT_30 + k, worse & (since == months))
    month.add(
        HOLIDAY_CURRENT_3, mask & (relief == RELIEF_HOLIDAY) & (since == 3) & (state == CURRENT)
    )


def charged_off_after_relief(flows: np.ndarray, t: int, segment: np.ndarray, mask: np.ndarray,
                             since: np.ndarray) -> None:  # fmt: skip
    """Re-instalmented loans charged off ``since`` months after: 30+ DPD and charged off at
    every point of the curve from then on, counted in the month of that point (``flows`` is
    the path's (H, G, F))."""
    for k, months in enumerate(REDEFAULT_MONTHS):
        at = t + months - since
        counted = mask & (since <= months) & (at < flows.shape[0])
        cells = (at[counted], segment[counted])
        np.add.at(flows[:, :, REDEFAULT_30 + k], cells, 1)
        np.add.at(flows[:, :, REDEFAULT_CO + k], cells, 1)


def record(trace: np.ndarray, b: int, t: int, mask: np.ndarray, state: np.ndarray | int,
           restructurings: np.ndarray, principal: np.ndarray | int, paid: np.ndarray | int,
           recovery: np.ndarray | int = 0) -> None:  # fmt: skip
    """The loan-months of ``mask`` in the panel trace (``engine.trace``) when path ``b`` is
    traced: state and restructurings packed, principal, what was paid and recovered (fen)."""
    if b >= trace.shape[0] or not mask.any():
        return

    def at(value: np.ndarray | int) -> np.ndarray | int:
        return value[mask] if isinstance(value, np.ndarray) else value

    rows = trace[b, :, t]  # (N, N_TRACE)
    rows[mask, STATE] = pack_state(at(state), restructurings[mask])
    rows[mask, PRINCIPAL] = at(principal)
    rows[mask, PAID] = at(paid)
    rows[mask, RECOVERY] = at(recovery)


def record_schedule(trace: np.ndarray, b: int, t: int, mask: np.ndarray, term: np.ndarray,
                    instalment: np.ndarray) -> None:  # fmt: skip
    """The schedule of the loans of ``mask``, on the book at the month end, on their trace
    rows: instalments still to fall due plus 1, and the instalment (fen)."""
    if b < trace.shape[0] and mask.any():
        trace[b, mask, t, TERM] = term[mask] + 1
        trace[b, mask, t, INSTALMENT] = instalment[mask]


def vintage_curve(flows: np.ndarray, t: int, segment: np.ndarray, mask: np.ndarray,
                  start: np.ndarray, principal: np.ndarray) -> None:  # fmt: skip
    """New loans (``start`` >= 0) in ``mask`` (31+ DPD) add their principal to the vintage
    curve at their months on book ``t - start``, row ``t - start - 1`` of ``flows`` (H, G, F)."""
    new = mask & (start >= 0)
    cells = (t - start[new] - 1, segment[new])
    np.add.at(flows[:, :, VINTAGE_DPD30], cells, principal[new])


class Ledger:
    """Provisions of one path-month: ``ledger[t]`` (G, T, L) by segment and tier, and the rare
    entries in the month's flows (G, F).

    At the end of the month every loan on the book is staged (stage 3 from the stage-3 bucket,
    stage 2 from the stage-2 bucket or while in probation after a restructuring, else stage 1)
    and classified (its bucket's category, floored while a restructured loan is under
    observation); its ECL is ``rint(principal * (V + (r - r_ref) * dV/dr))``, V and dV/dr
    interpolated between the two grid points of the path's factor, from the 12-month table in
    stage 1 and the lifetime table otherwise (``provisions.tables``).
    """

    def __init__(
        self,
        ledger: np.ndarray,
        flows: np.ndarray,
        prov: ProvisionTables,
        t: int,
        segment: np.ndarray,
        tier: np.ndarray,
        factor: tuple[int, float],
    ) -> None:
        self.ledger, self.flows, self.prov, self.t = ledger, flows, prov, t
        self.segment, self.tier = segment, tier
        self.e, self.w = factor

    def loss(self, mask: np.ndarray, amount: np.ndarray, sign: int = 1) -> None:
        """Net credit loss by tier (charge-offs and haircuts; recoveries with ``sign`` -1)."""
        np.add.at(self.ledger[:, :, TIER_NET_CREDIT_LOSS], (self.segment[mask], self.tier[mask]),
                  sign * amount[mask])  # fmt: skip

    def book(self, mask: np.ndarray, loans: LoanState, previous: np.ndarray | None) -> None:
        """Stage and allowance of the loans in ``mask`` at the end of the month, and the rare
        entries: loans raised to stage 2 by probation alone, principal raised to a category
        floor (by the bucket's category and the floor), stage changes from ``previous`` (None:
        new loans). Updates the loans' stage."""
        prov = self.prov
        if not prov.enabled or not mask.any():
            return
        idx = np.flatnonzero(mask)
        g, k = self.segment[idx], self.tier[idx]
        state, principal = loans.state[idx], loans.principal[idx]
        restructured = loans.restructurings[idx] > 0
        since = loans.since[idx]
        by_state = np.where(
            state >= prov.stage_3_state, 2, np.where(state >= prov.stage_2_state, 1, 0)
        )
        probation = restructured & (by_state == 0) & (since < prov.probation_months)
        stage = np.where(probation, 1, by_state)
        category = prov.category[state].astype(np.int64)
        floor = np.where(state == CURRENT, prov.restructured_floor,
                         prov.restructured_overdue_floor)  # fmt: skip
        raised = restructured & (since < prov.observation_months) & (floor > category)
        ecl = self._ecl(stage, g, k, loans.matrix[idx], state, loans.term[idx], principal,
                        loans.monthly_rate[idx])  # fmt: skip
        cells = (g, k)
        np.add.at(self.ledger, (*cells, STAGE_BALANCE + 2 * stage), principal)
        np.add.at(self.ledger, (*cells, ALLOWANCE + 2 * stage), ecl)
        rare = self.flows
        np.add.at(rare[:, PROBATION_ACCOUNTS], g[probation], 1)
        np.add.at(rare, (g[raised], CATEGORY_RAISED_FROM + category[raised]), principal[raised])
        np.add.at(rare, (g[raised], CATEGORY_RAISED_TO + floor[raised]), principal[raised])
        if previous is None:
            np.add.at(rare[:, NEW_ACCOUNTS], g, 1)
        else:
            before = previous[idx]
            moved = before != stage
            np.add.at(rare, (g[moved], STAGE_TRANSFERS + 3 * before[moved] + stage[moved]), 1)
        loans.stage[idx] = stage

    def _ecl(self, stage: np.ndarray, g: np.ndarray, k: np.ndarray, m: np.ndarray,
             state: np.ndarray, term: np.ndarray, principal: np.ndarray,
             monthly_rate: np.ndarray) -> np.ndarray:  # fmt: skip
        prov, t, e, w = self.prov, self.t, self.e, self.w
        n = np.minimum(term, prov.max_term)
        legal = ((prov.legal_min_balance > 0) & (principal >= prov.legal_min_balance)).astype(int)
        twelve = stage == 0
        cells = np.empty((len(stage), 4), np.float32)  # (value, slope) at e and at e + 1
        key = (g, k, m, state, n, legal)
        for table, rows in ((prov.twelve_month, twelve), (prov.lifetime, ~twelve)):
            cells[rows] = table[t + 1, e][tuple(x[rows] for x in key)]
        c = cells.astype(np.float64)
        value = c[:, 0] + w * (c[:, 2] - c[:, 0])
        slope = c[:, 1] + w * (c[:, 3] - c[:, 1])
        rate = value + (monthly_rate - prov.reference_rate[g, k]) * slope
        return fen(principal * rate)


class LoanState:
    """The loan variables ``Ledger.book`` reads (views of ``run_block``'s arrays)."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)

    state: np.ndarray
    principal: np.ndarray
    restructurings: np.ndarray
    since: np.ndarray
    matrix: np.ndarray
    term: np.ndarray
    monthly_rate: np.ndarray
    stage: np.ndarray


def run_block(
    book: Book,
    tables: Tables,
    flows: np.ndarray,
    stocks: np.ndarray,
    ledger: np.ndarray | None = None,
    trace: np.ndarray | None = None,
) -> None:
    """Add one block of paths into ``flows`` (C, B, H, G, F), ``stocks`` (C, B, H, G, S, 2) and
    ``ledger`` (C, B, H, G, T, L); with ``trace`` (``engine.trace``), the loan-months of its
    first paths.

    Same signature and results as ``kernel_numba.run_block``, except that everything goes into
    chunk 0: only the sum over the chunk axis is meaningful.
    """
    levers: Levers = tables.levers
    if levers.reinstal_cap > 0 and len(levers.reinstal_factor) != len(book.principal):
        raise ValueError("the levers were built for another book")
    if ledger is None:  # provisions not wanted: a scratch ledger
        ledger = np.zeros((*flows.shape[:4], len(levers.grace_days), N_LEDGER), np.int64)
    if trace is None:
        trace = no_trace()
    n = len(book.principal)
    loans = np.arange(n)
    segment = book.segment.astype(np.intp)
    tier = book.tier.astype(np.intp)
    monthly_rate = book.monthly_rate  # the contract rate, float64
    prepay_threshold = tables.prepay[segment]  # per loan, int64
    key = np.array(tables.key, dtype=np.uint32)
    stream = tables.stream
    # Recovered fractions: a table of 2^bits Beta quantiles, indexed by the top bits of word 3.
    quantile_shift = 32 - int(np.log2(len(tables.recovery_quantiles)))
    offers = makes_offers(levers)
    # Per-loan and per-tier lever settings, looked up once.
    reinstal_apply = levers.reinstal_apply[segment]  # threshold per loan
    grace_days = levers.grace_days[tier]  # per loan
    ew_tier = levers.ew_tier[tier].astype(bool)  # a tier offered under early warning
    reinstal_eligible = levers.reinstal_eligible.astype(bool)  # by state
    holiday_eligible = levers.holiday_eligible.astype(bool)  # by state

    for b in range(tables.paths):
        path = tables.first_path + b
        month_flows = flows[0, b]  # (H, G, F), this path's flows
        month_stocks = stocks[0, b]  # (H, G, S, 2)
        transition = tables.transition[b]  # (H, G, T, 2, 7, 8)
        approve = tables.path_levers.reinstal_approve[b]  # (H, G, T) thresholds
        early_warning = tables.path_levers.ew_active[b].astype(bool)  # (H, G)

        # Every loan starts the path from the book as of the valuation date.
        state = book.state.astype(np.int64)
        principal = book.principal.astype(np.int64)
        accrued = np.zeros(n, dtype=np.int64)  # interest due and unpaid, penalty included
        penalty = np.zeros(n, dtype=np.int64)  # the penalty part of it (waivable)
        rate = monthly_rate.copy()  # the rate the loan accrues at (changed by re-instalment)
        term = book.remaining_term.astype(np.int64)  # scheduled instalments still to fall due
        instalment = book.instalment.astype(np.int64)
        restructurings = book.restructured.astype(np.int64)
        matrix = (restructurings > 0).astype(np.intp)  # 0: normal matrix, 1: restructured
        affordability = np.ones(n)  # miss-probability factor of a re-instalmented loan
        serious = state >= SERIOUS  # already reported to the bureau: not counted again
        holiday_left = np.zeros(n, dtype=np.int64)  # months of payment holiday still to run
        holidays = np.zeros(n, dtype=np.int64)  # holidays taken so far
        chargeoff_balance = np.zeros(n, dtype=np.int64)  # principal + interest written off
        months_charged_off = np.zeros(n, dtype=np.int64)  # months of agency work so far
        legal_left = np.full(n, -1, dtype=np.int64)  # months to judgement (-1: not in court)
        stage = book.opening_stage.astype(np.int64)  # IFRS 9 stage at the last month end
        since = book.opening_since.astype(np.int64)  # months since the last relief
        relief_from = book.opening_relief.astype(np.int64)  # state last relieved from (-1)
        relief = np.where(relief_from >= 0, RELIEF_TAPE, RELIEF_NONE)  # its memory's origin
        # Open: on the book or in recovery. Candidate new loans open once originated.
        open_ = book.start < 0
        # A candidate is originated on this path if its rank is among its month's originations.
        originated = ~open_ & (book.rank < tables.originations[b][book.start])

        position = tables.factor_position
        for t in range(tables.horizon):
            month = MonthTotals(month_flows[t], month_stocks[t], segment)
            factor = (int(position.lower[b, t]), float(position.weight[b, t]))
            provisions = Ledger(
                ledger[0, b, t], month_flows[t], tables.provisions, t, segment, tier, factor
            )
            w0, w1, w2, w3 = borrower_words(n, path, t, stream, key)

            # Who is where at the start of the month: active loans (current or M1..M6) go
            # through steps 1-4 and 6; charged-off loans are in recovery (step 5).
            active = open_ & (state != CHARGED_OFF)
            since[active] += 1  # months since the last restructuring, at this month's end
            in_recovery = open_ & (state == CHARGED_OFF)

            # --- 5. charged-off loans: recovery, by the legal or the agency channel -----------
            # (A loan charged off this month starts recovery next month: it is not in
            # ``in_recovery`` yet.)
            # Legal channel: the case runs ``legal_lag`` months from filing; at judgement the
            # loan leaves the simulation, having recovered round(balance * fraction) if the
            # case succeeds (legal word 1). A loan in court is not worked by an agency.
            in_court = in_recovery & (legal_left >= 0)
            legal_left[in_court] -= 1
            judged = in_court & (legal_left == 0)
            if judged.any():
                _, won_word, _, _ = philox_words(loans, path, t, PURPOSE_LEGAL, stream, key)
                won = judged & (won_word < levers.legal_success)
                month.add(LEGAL_JUDGEMENTS, judged)
                month.add(LEGAL_WINS, won)
                month.add(RECOVERIES, won, fen(chargeoff_balance * levers.legal_fraction))
                provisions.loss(won, fen(chargeoff_balance * levers.legal_fraction), sign=-1)
                won_cash = np.where(won, fen(chargeoff_balance * levers.legal_fraction), 0)
                record(trace, b, t, judged, CHARGED_OFF, restructurings, chargeoff_balance, 0,
                       won_cash)  # fmt: skip
                open_ &= ~judged
            record(trace, b, t, in_court & ~judged, CHARGED_OFF, restructurings,
                   chargeoff_balance, 0)  # fmt: skip
            # Agency channel: within the recovery window, one recovery event with a monthly
            # hazard (word 0); the recovered fraction is a Beta quantile picked by word 3's top
            # bits, and the agency keeps its fee. After the event, or once the window is over,
            # the loan leaves the simulation.
            with_agency = in_recovery & ~in_court
            window_over = with_agency & (months_charged_off >= tables.recovery_window)
            open_ &= ~window_over
            worked = with_agency & ~window_over
            months_charged_off[worked] += 1
            recovered = worked & (w0 < tables.recovery_hazard)
            fraction = tables.recovery_quantiles[w3 >> quantile_shift]
            gross = fen(chargeoff_balance * fraction)
            fee = fen(gross * tables.agency_fee)
            month.add(RECOVERIES, recovered, gross - fee)
            provisions.loss(recovered, gross - fee, sign=-1)
            month.add(RECOVERY_FEES, recovered, fee)
            record(trace, b, t, worked, CHARGED_OFF, restructurings, chargeoff_balance, 0,
                   np.where(recovered, gross, 0))  # fmt: skip
            open_ &= ~recovered

            # --- 2. policy offers: settlement, re-instalment, holiday; early warning ----------
            # Made to active loans that are not on a payment holiday, and only if the policy
            # makes offers at all (then the policy words are drawn).
            if offers:
                offered = active & (holiday_left == 0)
                p0, p1, p2, p3 = philox_words(loans, path, t, PURPOSE_POLICY, stream, key)
                approved = p2 < approve[t][segment, tier]  # ability to pay, by tier and Z
                delinquent = offered & (state != CURRENT)

                # Settlement (from the minimum bucket): accept (word 0) -> pay (1 - haircut) of
                # principal + accrued interest and close as settled. The cash goes to interest
                # first; the principal not covered is the settlement loss. The mediator takes
                # its fee out of the cash. A settled loan does nothing else this month.
                settle_offered = delinquent & (state >= levers.settle_min_state)
                month.add(SETTLEMENT_OFFERS, settle_offered)
                settles = settle_offered & (p0 < levers.settle_accept)
                month.add(SETTLED_BALANCE, settles, principal + accrued)
                cash = fen((principal + accrued) * (1.0 - levers.settle_haircut))
                principal_part = cash - np.minimum(cash, accrued)
                month.add(SETTLED_PRINCIPAL, settles, principal)
                month.add(SETTLEMENT_CASH, settles, cash)
                month.add(SETTLEMENT_LOSS, settles, principal - principal_part)
                provisions.loss(settles, principal - principal_part)
                month.add(MEDIATION_FEE, settles, fen(cash * levers.mediation_fee))
                month.add(SETTLEMENTS, settles)
                month.entered(SETTLED, settles)
                record(trace, b, t, settles, SETTLED, restructurings, 0, cash)
                open_ &= ~settles
                active &= ~settles
                delinquent &= ~settles

                # Re-instalment: an eligible bucket, below the cap, the borrower applies (word
                # 1, by segment) and is approved (word 2). Otherwise a payment holiday: an
                # eligible bucket, below the cap, taken up (word 3). (States are clipped to M6
                # only to index the masks by state: charged-off and closed loans are not in
                # ``delinquent``.)
                reinstal_offered = (
                    delinquent
                    & reinstal_eligible[state.clip(max=M6)]
                    & (restructurings < levers.reinstal_cap)
                )
                applied = reinstal_offered & (p1 < reinstal_apply)
                month.add(REINSTAL_OFFERS, reinstal_offered)
                month.add(REINSTAL_APPLICATIONS, applied)
                reinstal = applied & approved
                holiday_offered = (
                    delinquent
                    & ~reinstal
                    & holiday_eligible[state.clip(max=M6)]
                    & (holidays < levers.holiday_cap)
                )
                month.add(HOLIDAY_OFFERS, holiday_offered)
                holiday = holiday_offered & (p3 < levers.holiday_take_up)
                # Early warning: while Z of the loan's segment is below the trigger, current
                # loans of the vulnerable tiers are offered a holiday (taken up: word 3) or a
                # re-instalment (taken up: word 1, approved: word 2).
                warned = offered & (state == CURRENT) & early_warning[t][segment] & ew_tier
                month.add(EARLY_WARNING_OFFERS, warned)
                if levers.ew_offer == OFFER_HOLIDAY:
                    holiday |= warned & (holidays < levers.holiday_cap) & (p3 < levers.ew_take_up)
                elif levers.ew_offer == OFFER_REINSTALMENT:
                    reinstal |= (
                        warned
                        & (restructurings < levers.reinstal_cap)
                        & (p1 < levers.ew_take_up)
                        & approved
                    )

                # A holiday starts this month (and runs ``holiday_months`` months, this one
                # included: see step 1 below).
                holiday_left[holiday] = levers.holiday_months
                holidays[holiday] += 1
                month.add(HOLIDAYS_STARTED, holiday)
                # its memory counts from the end of the holiday (``since`` 0 then)
                if levers.holiday_months > 0:
                    relief[holiday], relief_from[holiday] = RELIEF_HOLIDAY, state[holiday]
                    since[holiday] = -levers.holiday_months

                # Re-instalment: penalty interest waived (if the policy says so), the remaining
                # accrued interest capitalised, a new annuity over the new term at the new rate
                # (instalment = round(principal * annuity factor)), back to current on the
                # restructured matrix. The miss probability then scales with the affordability
                # ratio new instalment / old instalment (a table lookup).
                # With behaviour "bucket" only the accounting (waiver, capitalisation, the
                # count) applies: the loan keeps its state, schedule and matrix and gains no
                # memory (a loan that already remembers an earlier relief keeps that and its
                # clock).
                if reinstal.any():
                    if levers.reinstal_waive:
                        month.add(WAIVED_INTEREST, reinstal, penalty)
                        accrued[reinstal] -= penalty[reinstal]
                    penalty[reinstal] = 0
                    principal[reinstal] += accrued[reinstal]
                    month.add(CAPITALISED_INTEREST, reinstal, accrued)
                    accrued[reinstal] = 0
                    restructurings[reinstal] += 1
                    month.add(RESTRUCTURED, reinstal)
                if reinstal.any() and levers.reinstal_keeps_bucket:
                    fresh = reinstal & (relief_from < 0)
                    relief[fresh], since[fresh] = RELIEF_REINSTALMENT, 0
                elif reinstal.any():
                    relief[reinstal], relief_from[reinstal] = RELIEF_REINSTALMENT, state[reinstal]
                    new_instalment = fen(principal[reinstal] * levers.reinstal_factor[reinstal])
                    old_instalment = instalment[reinstal]
                    ratio = np.where(
                        old_instalment > 0, new_instalment / np.maximum(old_instalment, 1), 1.0
                    )
                    step = (ratio * AFFORDABILITY_STEPS).astype(np.int64)  # truncated, as int()
                    affordability[reinstal] = levers.affordability[
                        np.minimum(step, AFFORDABILITY_SIZE - 1)
                    ]
                    instalment[reinstal] = new_instalment
                    rate[reinstal] = monthly_rate[reinstal] * levers.reinstal_rate_multiplier
                    term[reinstal] = levers.reinstal_term
                    state[reinstal] = CURRENT
                    matrix[reinstal] = 1
                    since[reinstal] = 0

            month.add(ACTIVE_ACCOUNTS, active)

            # --- 1. payment holiday: nothing due, interest capitalised, the clock frozen ------
            # The state does not change, no instalment falls due (the term is extended by a
            # month), and no borrower draw is used.
            on_holiday = active & (holiday_left > 0)
            holiday_left[on_holiday] -= 1
            interest = fen(principal * rate)
            principal[on_holiday] += interest[on_holiday]
            month.add(CAPITALISED_INTEREST, on_holiday, interest)
            month.end_of_month(on_holiday, state, principal)
            record(trace, b, t, on_holiday, state, restructurings, principal, 0)
            record_schedule(trace, b, t, on_holiday, term, instalment)
            loan_state = LoanState(state=state, principal=principal, restructurings=restructurings,
                              since=since, matrix=matrix, term=term, monthly_rate=monthly_rate,
                              stage=stage)  # fmt: skip
            provisions.book(on_holiday, loan_state, previous=stage.copy())
            running = active & ~on_holiday

            # --- interest accrues (at the penalty rate when delinquent); an instalment falls due
            # A loan that starts the month delinquent is worked by collections and accrues
            # penalty interest (罚息): the extra over the contract interest is tracked apart,
            # as re-instalment may waive it.
            delinquent = running & (state != CURRENT)
            month.add(DELINQUENT_ACCOUNTS, delinquent)
            interest = fen(principal * rate)
            with_penalty = fen(principal * (rate * tables.penalty_multiplier))
            penalty[delinquent] += with_penalty[delinquent] - interest[delinquent]
            accrued[running] += np.where(delinquent, with_penalty, interest)[running]
            # One scheduled instalment falls due, until maturity; after maturity nothing new is
            # due and an unpaid debt only ages.
            due = running & (term > 0)
            term[due] -= 1

            # --- 3. prepayment, then the transition draw (4. collections are in the rows) -----
            # Prepayment (word 0): a current loan repays everything owed and closes.
            prepaid = running & (state == CURRENT) & (w0 < prepay_threshold)
            month.add(PREPAID_PRINCIPAL, prepaid, principal)
            month.add(COLLECTED_INTEREST, prepaid, accrued)
            month.entered(PAID_OFF, prepaid)
            record(trace, b, t, prepaid, PAID_OFF, restructurings, 0, principal + accrued)
            open_ &= ~prepaid
            moving = running & ~prepaid

            # The row of (segment, tier, normal/restructured, state) on this path and month
            # holds cumulative thresholds, destinations worst first (charged_off, M6, ..., M1,
            # current); word 1 picks the first destination whose threshold exceeds it.
            row = transition[t][segment, tier, matrix, state.clip(max=M6)]  # (N, 8), as above
            paid = np.zeros(n, dtype=np.int64)  # instalments paid this month
            new_state = state.copy()

            # From current: still unpaid at the month end (word 1 below the miss threshold,
            # scaled for a re-instalmented loan by its affordability factor and for a relieved
            # loan by the memory of the state it was relieved from) - 1-30 DPD - or paid. Of
            # the paid, some missed the due date and paid within the month (word 2: as many as
            # in normal times, ``tables.quick``); they took a number of days
            # (word 3): within the grace days nothing is recorded, after them the loan is
            # reported overdue, contacted and pays penalty interest for the days.
            from_current = moving & (state == CURRENT)
            miss = row[:, MISS]
            scale = np.where(matrix == 1, affordability, 1.0)
            remembers = (relief_from >= 0) & (since >= 0)
            memory = tables.relief_memory[relief_from.clip(min=0), since.clip(0, MEMORY_MONTHS)]
            scale = scale * np.where(remembers, memory, 1.0)
            miss = np.where(
                scale != 1.0, np.minimum(np.floor(miss * scale).astype(np.int64), ALWAYS), miss
            )
            current_due = from_current & due
            month.add(DUE_AMOUNT, current_due, instalment)
            missed = from_current & (w1 < miss)
            debited = from_current & ~missed
            paid[debited] = 1
            new_state[missed] = M1
            month.add(DAY1_UNPAID, missed & due, instalment)
            month.add(REPORTED_OVERDUE, missed)
            late = debited & due & (w2 < quick_threshold(miss, tables.quick[segment, tier, matrix]))
            month.add(DAY1_UNPAID, late, instalment)
            month.add(COLLECTED_30D, late, instalment)
            days = 1 + (w3[:, None] >= tables.days_to_pay[None, 1:30]).sum(axis=1)
            covered = late & (days <= grace_days)
            reported = late & ~covered
            month.add(GRACE_CURES, covered)
            month.add(REPORTED_OVERDUE, reported)
            month.add(EARLY_CONTACTS, reported)
            late_interest = instalment * (rate * tables.penalty_multiplier) * days / 30.0
            month.add(LATE_INTEREST, reported, fen(late_interest))

            # From Mk: the destination drawn (current if word 1 exceeds every threshold).
            below = w1[:, None] < row
            destination = np.where(below.any(axis=1), CHARGED_OFF - below.argmax(axis=1), CURRENT)
            in_arrears = moving & (state != CURRENT)
            # To Mj with j < k (or to current): a cure, full or partial. The arrears paid down
            # (k - j instalments) plus the one due this month, if any.
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

            # Payments: accrued interest first (penalty interest last), then principal. A loan
            # that ends the month current with no instalment left to fall due (its last
            # instalment, or a full cure after maturity) pays everything owed: the balance is
            # trued up to zero.
            paying = paid > 0
            last = paying & (state == CURRENT) & (term == 0)
            interest_part, principal_part = payment(paid, instalment, principal, accrued, last)
            accrued[paying] -= interest_part[paying]
            penalty[paying] = np.minimum(penalty, accrued)[paying]
            principal[paying] -= principal_part[paying]
            month.add(COLLECTED_INTEREST, paying, interest_part)
            month.add(COLLECTED_PRINCIPAL, paying, principal_part)
            cash = np.where(paying, interest_part + principal_part, 0)  # paid this month
            paid_off = paying & (principal == 0) & (accrued == 0)
            month.entered(PAID_OFF, paid_off)
            record(trace, b, t, paid_off, PAID_OFF, restructurings, 0, cash)
            open_ &= ~paid_off

            # Charge-off: a roll out of M6 writes off principal and accrued interest; the
            # written-off balance is what recoveries will be a fraction of. A balance of at
            # least the policy's minimum may be taken to court (legal word 0, the share
            # pursued): a legal case, its filing cost now, the judgement ``legal_lag`` months
            # later (step 5).
            charged_off = moving & ~paid_off & (state == CHARGED_OFF)
            month.add(CHARGEOFF_PRINCIPAL, charged_off, principal)
            provisions.loss(charged_off, principal)
            charged_off_after_relief(
                month_flows, t, segment, charged_off & (relief == RELIEF_REINSTALMENT), since
            )
            month.add(CHARGEOFF_INTEREST, charged_off, accrued)
            month.entered(CHARGED_OFF, charged_off)
            chargeoff_balance[charged_off] = principal[charged_off] + accrued[charged_off]
            record(trace, b, t, charged_off, CHARGED_OFF, restructurings, chargeoff_balance, cash)
            principal[charged_off] = 0
            accrued[charged_off] = 0
            if levers.legal_share > 0:
                pursued = charged_off & (chargeoff_balance >= levers.legal_min_balance)
                if pursued.any():
                    filing, _, _, _ = philox_words(loans, path, t, PURPOSE_LEGAL, stream, key)
                    filed = pursued & (filing < levers.legal_share)
                    legal_left[filed] = levers.legal_lag
                    month.add(LEGAL_CASES, filed)
                    month.add(LEGAL_COST, filed, levers.legal_filing_cost)

            # --- 6. first serious delinquency (reported to the credit bureau), end-of-month
            # stocks of the loans still active.
            still_active = moving & ~paid_off & ~charged_off
            after_relief(month, still_active, relief, since, state)
            newly_serious = still_active & (state >= SERIOUS) & ~serious
            month.add(NEW_SERIOUS_DELINQUENCIES, newly_serious)
            serious |= newly_serious
            month.end_of_month(still_active, state, principal)
            record(trace, b, t, still_active, state, restructurings, principal, cash)
            record_schedule(trace, b, t, still_active, term, instalment)
            vintage_curve(month_flows, t, segment, still_active & (state > M1), book.start,
                          principal)  # fmt: skip
            loan_state = LoanState(state=state, principal=principal, restructurings=restructurings,
                              since=since, matrix=matrix, term=term, monthly_rate=monthly_rate,
                              stage=stage)  # fmt: skip
            provisions.book(still_active, loan_state, previous=stage.copy())

            # --- new loans originated this month: on the book, current, at the end of the
            # month; their first instalment falls due next month.
            born = originated & (book.start == t)
            month.add(ORIGINATED_PRINCIPAL, born, principal)
            record(trace, b, t, born, CURRENT, restructurings, principal, 0)
            record_schedule(trace, b, t, born, term, instalment)
            month.end_of_month(born, state, principal)
            provisions.book(born, loan_state, previous=None)
            open_ |= born
