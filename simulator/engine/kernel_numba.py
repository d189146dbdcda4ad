"""The monthly borrower loop of SPEC 4 in Numba (the engine behind ``engine="numba"``).

``run_block`` simulates every loan on every path of one block of paths. Loans are split into
chunks, one ``prange`` iteration each; a chunk adds into its own slice of the integer
accumulators, so there are no races and, sums of int64 being exact, the totals are identical
whatever the number of chunks or threads. One loan's path is simulated month by month in local
variables: no per-loan history is stored. A closed loan stops costing anything at once.
Candidate new loans (``engine.cohorts``) follow the opening book in the loan arrays; each chunk
takes its share of both, and a candidate runs from the month after its origination on the paths
where it is originated. The loan loop is one function (``_run_block``), the small helpers of
provisions inlined into it by Numba: a call per loan or per loan-month would pass dozens of
arguments each time (measured: the kernel ran 3x slower when the loop was a function of its
own and provisions added a tuple of tables to its arguments).

Provisions (``provisions.tables``): at each month end a loan on the book adds its principal and
ECL, read from the flat tables and interpolated at the path's factor, to its stage in the
ledger.

Randomness: a borrower-month reads the four words of one Philox4x32-10 call whose counter is
(loan, path, month << 4 | purpose, scenario stream), a pure function of those: a borrower's
draws are the same under every policy (common random numbers) and in any chunk or block.
Borrower words: 0 prepayment (current) or the agency recovery event (charged off), 1 the
transition, 2 whether a current payer paid after the due date (a Day-1 miss paid within the
month), 3 its days to pay (current) or the recovered fraction (charged off). Policy words (only
drawn when the policy makes offers): 0 settlement acceptance, 1 re-instalment application (or
early-warning take-up), 2 approval, 3 holiday take-up. Legal words: 0 filing at charge-off, 1
success at judgement.

The kernel only adds, multiplies, rounds and looks up: every distribution function was turned
into integer thresholds or tables beforehand (``tables``, ``levers``), so that
``kernel_numpy.run_block``, the readable reference, gives the same integers.
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import prange

from simulator.accelerate import inline_jit, jit, parallel_jit
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
from simulator.engine.trace import RESTRUCTURED_SHIFT, no_trace
from simulator.provisions.tables import (
    CATEGORY_AT,
    E_AT,
    ENABLED,
    FLOOR,
    G_AT,
    L_AT,
    LEGAL_MIN_AT,
    M_AT,
    MAX_TERM_AT,
    N_AT,
    OBSERVATION,
    OVERDUE_FLOOR,
    PROBATION,
    S3_AT,
    S_AT,
    STAGE_2,
    STAGE_3,
    T_AT,
    kernel_rules,
)
from simulator.rng import philox4x32_10
from simulator.states import CHARGED_OFF, CURRENT, M1, M6, PAID_OFF, SETTLED

SERIOUS = 4  # dpd_91_120: the first bucket past 90 days, reported to the credit bureau
MISS = 6  # position of M1 among the worst-first thresholds: the current row's miss threshold
ALWAYS = np.int64(2**32)  # a threshold every 32-bit word is below
TWO32 = 2.0**32
RELIEF_NONE, RELIEF_TAPE, RELIEF_REINSTALMENT, RELIEF_HOLIDAY = 0, 1, 2, 3
"""Where a loan's relief memory comes from: none, the tape, a re-instalment, a holiday."""


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
def makes_offers(levers):
    """Whether the policy ever offers anything (else its random words are not even drawn)."""
    return (
        levers.settle_min_state < NO_STATE
        or levers.reinstal_cap > 0
        or levers.holiday_cap > 0
        or levers.ew_offer != OFFER_NONE
    )


@inline_jit
def ecl_fen(lifetime, twelve, rates, rules, stage, t, segment, tier, matrix, state, term,
            principal, monthly_rate, e, w):  # fmt: skip
    """ECL of a loan at the end of month index ``t`` in fen: the 12-month table in stage 1,
    the lifetime one otherwise (flat, sized by ``rules``: ``provisions.tables``), interpolated
    at the path's factor (``e``, ``w``)."""
    n = min(term, rules[MAX_TERM_AT])
    legal = 1 if rules[LEGAL_MIN_AT] > 0 and principal >= rules[LEGAL_MIN_AT] else 0
    table, states = (twelve, rules[S3_AT]) if stage == 0 else (lifetime, rules[S_AT])
    cell = (segment * rules[T_AT] + tier) * rules[M_AT] + matrix
    cell = ((cell * states + state) * rules[N_AT] + n) * rules[L_AT] + legal
    cells = rules[G_AT] * rules[T_AT] * rules[M_AT] * states * rules[N_AT] * rules[L_AT]
    at = 4 * (((t + 1) * rules[E_AT] + e) * cells + cell)  # both grid points, side by side
    value = np.float64(table[at]) + w * (np.float64(table[at + 2]) - np.float64(table[at]))
    slope = np.float64(table[at + 1]) + w * (np.float64(table[at + 3]) - np.float64(table[at + 1]))
    rate = value + (monthly_rate - rates[segment * rules[T_AT] + tier]) * slope
    return np.int64(np.rint(principal * rate))


@inline_jit
def book_provisions(lifetime, twelve, rates, rules, ledger, flows, t, segment, tier, matrix, state,
                    term, principal, monthly_rate, e, w, restructurings, since,
                    previous):  # fmt: skip
    """Stage and allowance of an active loan at the end of month ``t`` into ``ledger``
    (H, G, T, L), and the rare entries (probation, category floors, stage changes); returns
    the stage (the next month's ``previous``; -1: a new loan, no previous stage)."""
    cell = ledger[t, segment, tier]
    rare = flows[t, segment]
    by_state = 2 if state >= rules[STAGE_3] else (1 if state >= rules[STAGE_2] else 0)
    stage = by_state
    if restructurings > 0:
        if by_state == 0 and since < rules[PROBATION]:
            stage = 1
            rare[PROBATION_ACCOUNTS] += 1
        if since < rules[OBSERVATION]:
            category = rules[CATEGORY_AT + state]
            floor = rules[FLOOR] if state == CURRENT else rules[OVERDUE_FLOOR]
            if floor > category:
                rare[CATEGORY_RAISED_FROM + category] += principal
                rare[CATEGORY_RAISED_TO + floor] += principal
    cell[STAGE_BALANCE + 2 * stage] += principal
    cell[ALLOWANCE + 2 * stage] += ecl_fen(
        lifetime,
        twelve,
        rates,
        rules,
        stage,
        t,
        segment,
        tier,
        matrix,
        state,
        term,
        principal,
        monthly_rate,
        e,
        w,
    )
    if previous != stage:
        if previous < 0:
            rare[NEW_ACCOUNTS] += 1
        else:
            rare[STAGE_TRANSFERS + 3 * previous + stage] += 1
    return stage


@inline_jit
def settle(flows, stocks, ledger, t, segment, tier, principal, accrued, levers):
    """A settlement: (1 - haircut) of principal + accrued paid, interest first; the principal
    not covered is the loss; the mediator's fee out of the cash."""
    cash = np.int64(np.rint((principal + accrued) * (1.0 - levers.settle_haircut)))
    principal_part = cash - min(cash, accrued)
    flows[t, segment, SETTLED_PRINCIPAL] += principal
    flows[t, segment, SETTLED_BALANCE] += principal + accrued
    flows[t, segment, SETTLEMENT_CASH] += cash
    flows[t, segment, SETTLEMENT_LOSS] += principal - principal_part
    ledger[t, segment, tier, TIER_NET_CREDIT_LOSS] += principal - principal_part
    flows[t, segment, MEDIATION_FEE] += np.int64(np.rint(cash * levers.mediation_fee))
    flows[t, segment, SETTLEMENTS] += 1
    stocks[t, segment, SETTLED, ACCOUNTS] += 1
    return cash


@inline_jit
def record(trace, b, loan, t, state, restructurings, principal, paid, recovery):
    """A loan-month of the panel (``engine.trace``) when path ``b`` is traced: its state and
    restructurings packed in one word, its principal, what it paid and what was recovered."""
    if b < trace.shape[0]:
        row = trace[b, loan, t]
        row[0] = state + 1 + (restructurings << RESTRUCTURED_SHIFT)
        row[1] = principal
        row[2] = paid
        row[3] = recovery


@inline_jit
def record_schedule(trace, b, loan, t, term, instalment):
    """The schedule of a loan on the book at the month end, on its trace row (``term + 1``)."""
    if b < trace.shape[0]:
        row = trace[b, loan, t]
        row[4] = term + 1
        row[5] = instalment


@inline_jit
def quick_threshold(miss, quick):
    """Threshold of a Day-1 miss paid within the month, given the instalment was paid by the
    month end: ``quick / (1 - m)`` for a month-end miss probability m."""
    m = miss / TWO32
    if m >= 1.0:
        return ALWAYS
    return min(np.int64(np.floor(quick / (1.0 - m) * TWO32)), ALWAYS)


@inline_jit
def paid_late(flows, t, segment, tier, w3, instalment, rate, penalty_multiplier, days_to_pay,
              grace_days):  # fmt: skip
    """A Day-1 miss paid within the month, after ``days`` days (word 3): covered by the grace
    days, or reported overdue - a contact, penalty interest on the instalment for the days."""
    flows[t, segment, DAY1_UNPAID] += instalment
    flows[t, segment, COLLECTED_30D] += instalment
    days = 1
    while days < 30 and np.int64(w3) >= days_to_pay[days]:
        days += 1
    if days <= grace_days[tier]:
        flows[t, segment, GRACE_CURES] += 1
    else:
        flows[t, segment, REPORTED_OVERDUE] += 1
        flows[t, segment, EARLY_CONTACTS] += 1
        late = instalment * (rate * penalty_multiplier) * days / 30.0
        flows[t, segment, LATE_INTEREST] += np.int64(np.rint(late))


@inline_jit
def after_relief(flows, t, segment, relief, since, state):
    """The re-default curve of re-instalmented loans (30+ DPD 3, 6 and 12 months after) and
    holiday loans current three months after the holiday."""
    if relief == RELIEF_REINSTALMENT and state > M1:
        if since == 3:
            flows[t, segment, REDEFAULT_30] += 1
        elif since == 6:
            flows[t, segment, REDEFAULT_30 + 1] += 1
        elif since == 12:
            flows[t, segment, REDEFAULT_30 + 2] += 1
    elif relief == RELIEF_HOLIDAY and since == 3 and state == CURRENT:
        flows[t, segment, HOLIDAY_CURRENT_3] += 1


@inline_jit
def charged_off_after_relief(flows, t, segment, since, horizon):
    """A re-instalmented loan charged off ``since`` months after: 30+ DPD and charged off at
    every point of the curve from then on, counted in the month of that point."""
    for k in range(3):
        months = 3 if k == 0 else (6 if k == 1 else 12)
        at = t + months - since
        if since <= months and at < horizon:
            flows[at, segment, REDEFAULT_30 + k] += 1
            flows[at, segment, REDEFAULT_CO + k] += 1


@parallel_jit
def _run_block(
    book_segment,
    book_tier,
    book_principal,
    book_monthly_rate,
    book_term,
    book_instalment,
    book_state,
    book_restructured,
    start,
    rank,
    book_bounds,
    pool_bounds,
    first_path,
    transitions,
    prepay,
    penalty_multiplier,
    recovery_hazard,
    recovery_quantiles,
    agency_fee,
    recovery_window,
    levers,
    approves,
    early_warnings,
    originations,
    key0,
    key1,
    stream,
    all_flows,
    all_stocks,
    lifetime,
    twelve,
    rates,
    rules,
    factor_indices,
    factor_weights,
    opening_stage,
    opening_since,
    all_ledgers,
    order,
    quick,
    days_to_pay,
    relief_memory,
    opening_relief,
    trace,
):
    """The loan loop of SPEC 4: every loan of a chunk on every path of the block, month by
    month, in local variables (no per-loan history is stored; a closed loan stops costing
    anything at once). One function, so that nothing is passed per loan."""
    quantile_shift = 32 - int(np.log2(len(recovery_quantiles)))
    offers = makes_offers(levers)
    for chunk in prange(len(book_bounds) - 1):
        book_first, book_loans = book_bounds[chunk], book_bounds[chunk + 1] - book_bounds[chunk]
        pool_first, pool_loans = pool_bounds[chunk], pool_bounds[chunk + 1] - pool_bounds[chunk]
        for b in range(transitions.shape[0]):
            path = first_path + b
            # this path's tables and accumulators (H, ...) for the chunk
            transition, approve, early_warning = transitions[b], approves[b], early_warnings[b]
            flows, stocks, ledger = all_flows[chunk, b], all_stocks[chunk, b], all_ledgers[chunk, b]
            factor_index, factor_weight = factor_indices[b], factor_weights[b]
            # the chunk's opening loans, then its candidate new loans
            for i in range(book_loans + pool_loans):
                loan = (
                    order[book_first + i] if i < book_loans else order[pool_first + i - book_loans]
                )
                segment, tier = book_segment[loan], book_tier[loan]
                principal, monthly_rate = book_principal[loan], book_monthly_rate[loan]
                term, instalment = book_term[loan], book_instalment[loan]
                state, restructurings = book_state[loan], book_restructured[loan]
                stage, since = opening_stage[loan], opening_since[loan]
                relief_from = opening_relief[loan]  # -1: never relieved
                t0 = start[loan]
                if t0 >= 0:
                    # a candidate exists on this path if its rank is among the month's
                    # originations; it is on the book, current, at the end of its start month
                    if rank[loan] >= originations[b, t0]:
                        continue
                    flows[t0, segment, ORIGINATED_PRINCIPAL] += principal
                    record(trace, b, loan, t0, CURRENT, restructurings, principal, 0, 0)
                    record_schedule(trace, b, loan, t0, term, instalment)
                    stocks[t0, segment, CURRENT, BALANCE] += principal
                    stocks[t0, segment, CURRENT, ACCOUNTS] += 1
                    if rules[ENABLED]:
                        stage = book_provisions(
                            lifetime,
                            twelve,
                            rates,
                            rules,
                            ledger,
                            flows,
                            t0,
                            segment,
                            tier,
                            0,
                            CURRENT,
                            term,
                            principal,
                            monthly_rate,
                            factor_index[t0],
                            factor_weight[t0],
                            0,
                            since,
                            -1,
                        )
                first_month = t0 + 1

                accrued = np.int64(0)  # interest due and unpaid, penalty interest included
                penalty = np.int64(0)  # the penalty part of it (waivable on re-instalment)
                rate = monthly_rate
                matrix = 1 if restructurings > 0 else 0
                affordability = 1.0  # miss-probability factor of a re-instalmented loan
                serious = state >= SERIOUS
                holiday_left = 0
                holidays = 0
                chargeoff_balance = np.int64(0)
                months_charged_off = 0
                legal_left = -1  # months to judgement when the loan is in the legal channel
                relief = RELIEF_TAPE if relief_from >= 0 else RELIEF_NONE  # its memory's source
                horizon = transition.shape[0]
                for t in range(first_month, horizon):
                    # --- 5. charged-off loans: recovery, by the legal or the agency channel ---
                    if state == CHARGED_OFF:
                        if legal_left >= 0:
                            legal_left -= 1
                            if legal_left == 0:
                                judgement = philox4x32_10(
                                    loan, path, (t << 4) | PURPOSE_LEGAL, stream, key0, key1
                                )
                                flows[t, segment, LEGAL_JUDGEMENTS] += 1
                                won = np.int64(0)
                                if np.int64(judgement[1]) < levers.legal_success:
                                    flows[t, segment, LEGAL_WINS] += 1
                                    won = np.int64(
                                        np.rint(chargeoff_balance * levers.legal_fraction)
                                    )
                                    flows[t, segment, RECOVERIES] += won
                                    ledger[t, segment, tier, TIER_NET_CREDIT_LOSS] -= won
                                record(trace, b, loan, t, CHARGED_OFF, restructurings,
                                       chargeoff_balance, 0, won)  # fmt: skip
                                break
                            record(trace, b, loan, t, CHARGED_OFF, restructurings,
                                   chargeoff_balance, 0, 0)  # fmt: skip
                            continue
                        if months_charged_off >= recovery_window:
                            break
                        months_charged_off += 1
                        w0, w1, w2, w3 = philox4x32_10(
                            loan, path, (t << 4) | PURPOSE_BORROWER, stream, key0, key1
                        )
                        if np.int64(w0) < recovery_hazard:
                            fraction = recovery_quantiles[np.int64(w3) >> quantile_shift]
                            gross = np.int64(np.rint(chargeoff_balance * fraction))
                            fee = np.int64(np.rint(gross * agency_fee))
                            flows[t, segment, RECOVERIES] += gross - fee
                            flows[t, segment, RECOVERY_FEES] += fee
                            ledger[t, segment, tier, TIER_NET_CREDIT_LOSS] -= gross - fee
                            record(trace, b, loan, t, CHARGED_OFF, restructurings,
                                   chargeoff_balance, 0, gross)  # fmt: skip
                            break
                        record(trace, b, loan, t, CHARGED_OFF, restructurings,
                               chargeoff_balance, 0, 0)  # fmt: skip
                        continue

                    since += 1  # months since the last restructuring, at the end of this month
                    # --- 2. policy offers: settlement, re-instalment, holiday; early warning ---
                    if offers and holiday_left == 0:
                        p0, p1, p2, p3 = philox4x32_10(
                            loan, path, (t << 4) | PURPOSE_POLICY, stream, key0, key1
                        )
                        reinstal = False
                        came_from = state
                        if state != CURRENT:
                            if state >= levers.settle_min_state:
                                flows[t, segment, SETTLEMENT_OFFERS] += 1
                                if np.int64(p0) < levers.settle_accept:
                                    cash = settle(flows, stocks, ledger, t, segment, tier,
                                                  principal, accrued, levers)  # fmt: skip
                                    record(trace, b, loan, t, SETTLED, restructurings, 0, cash, 0)
                                    break
                            offered = (
                                levers.reinstal_eligible[state]
                                and restructurings < levers.reinstal_cap
                            )
                            applied = offered and np.int64(p1) < levers.reinstal_apply[segment]
                            if offered:
                                flows[t, segment, REINSTAL_OFFERS] += 1
                            if applied:
                                flows[t, segment, REINSTAL_APPLICATIONS] += 1
                            if applied and np.int64(p2) < approve[t, segment, tier]:
                                reinstal = True
                            elif levers.holiday_eligible[state] and holidays < levers.holiday_cap:
                                flows[t, segment, HOLIDAY_OFFERS] += 1
                                if np.int64(p3) < levers.holiday_take_up:
                                    holiday_left = levers.holiday_months
                        elif early_warning[t, segment] and levers.ew_tier[tier]:
                            flows[t, segment, EARLY_WARNING_OFFERS] += 1
                            if levers.ew_offer == OFFER_HOLIDAY:
                                if (
                                    holidays < levers.holiday_cap
                                    and np.int64(p3) < levers.ew_take_up
                                ):
                                    holiday_left = levers.holiday_months
                            elif (
                                levers.ew_offer == OFFER_REINSTALMENT
                                and restructurings < levers.reinstal_cap
                                and np.int64(p1) < levers.ew_take_up
                                and np.int64(p2) < approve[t, segment, tier]
                            ):
                                reinstal = True
                        if holiday_left > 0:
                            holidays += 1
                            flows[t, segment, HOLIDAYS_STARTED] += 1
                            # its memory counts from the end of the holiday (``since`` 0 then)
                            relief, relief_from, since = RELIEF_HOLIDAY, came_from, -holiday_left
                        # re-instalment: arrears and interest capitalised, then a new annuity
                        # and back to current - or, with behaviour "bucket", nothing more: the
                        # loan keeps its state, schedule and matrix and gains no memory (a
                        # loan that already remembers an earlier relief keeps that and its clock)
                        if reinstal:
                            if levers.reinstal_waive:
                                accrued -= penalty
                                flows[t, segment, WAIVED_INTEREST] += penalty
                            penalty = np.int64(0)
                            principal += accrued
                            flows[t, segment, CAPITALISED_INTEREST] += accrued
                            accrued = np.int64(0)
                            restructurings += 1
                            flows[t, segment, RESTRUCTURED] += 1
                        if reinstal and levers.reinstal_keeps_bucket:
                            if relief_from < 0:
                                relief, since = RELIEF_REINSTALMENT, 0
                        elif reinstal:
                            new_instalment = np.int64(
                                np.rint(principal * levers.reinstal_factor[loan])
                            )
                            ratio = new_instalment / instalment if instalment > 0 else 1.0
                            affordability = levers.affordability[
                                min(int(ratio * AFFORDABILITY_STEPS), AFFORDABILITY_SIZE - 1)
                            ]
                            instalment = new_instalment
                            rate = monthly_rate * levers.reinstal_rate_multiplier
                            term = levers.reinstal_term
                            state = CURRENT
                            matrix = 1
                            relief, relief_from, since = RELIEF_REINSTALMENT, came_from, 0

                    flows[t, segment, ACTIVE_ACCOUNTS] += 1
                    # --- 1. payment holiday: nothing due, interest capitalised, the clock froze ---
                    if holiday_left > 0:
                        holiday_left -= 1
                        interest = np.int64(np.rint(principal * rate))
                        principal += interest
                        flows[t, segment, CAPITALISED_INTEREST] += interest
                        stocks[t, segment, state, BALANCE] += principal
                        stocks[t, segment, state, ACCOUNTS] += 1
                        record(trace, b, loan, t, state, restructurings, principal, 0, 0)
                        record_schedule(trace, b, loan, t, term, instalment)
                        if rules[ENABLED]:
                            stage = book_provisions(
                                lifetime,
                                twelve,
                                rates,
                                rules,
                                ledger,
                                flows,
                                t,
                                segment,
                                tier,
                                matrix,
                                state,
                                term,
                                principal,
                                monthly_rate,
                                factor_index[t],
                                factor_weight[t],
                                restructurings,
                                since,
                                stage,
                            )
                        continue

                    # --- interest accrues (at the penalty rate when delinquent); an instalment ---
                    interest = np.int64(np.rint(principal * rate))
                    if state != CURRENT:
                        flows[t, segment, DELINQUENT_ACCOUNTS] += 1
                        with_penalty = np.int64(np.rint(principal * (rate * penalty_multiplier)))
                        penalty += with_penalty - interest
                        interest = with_penalty
                    accrued += interest
                    due = term > 0
                    if due:
                        term -= 1

                    # --- 3. prepayment, then the transition draw (4. collections are in the row ---
                    w0, w1, w2, w3 = philox4x32_10(
                        loan, path, (t << 4) | PURPOSE_BORROWER, stream, key0, key1
                    )
                    if state == CURRENT and np.int64(w0) < prepay[segment]:
                        flows[t, segment, PREPAID_PRINCIPAL] += principal
                        flows[t, segment, COLLECTED_INTEREST] += accrued
                        stocks[t, segment, PAID_OFF, ACCOUNTS] += 1
                        record(trace, b, loan, t, PAID_OFF, restructurings, 0,
                               principal + accrued, 0)  # fmt: skip
                        break

                    row = transition[t, segment, tier, matrix, state]
                    paid = 0  # instalments paid this month
                    cash = np.int64(0)  # what they came to
                    if state == CURRENT:
                        miss = row[MISS]
                        factor = affordability if matrix == 1 else 1.0
                        if relief_from >= 0 and since >= 0:  # a relieved loan remembers
                            factor *= relief_memory[relief_from, min(since, MEMORY_MONTHS)]
                        if factor != 1.0:
                            miss = min(np.int64(np.floor(miss * factor)), ALWAYS)
                        if due:
                            flows[t, segment, DUE_AMOUNT] += instalment
                        if np.int64(w1) < miss:  # still unpaid at the month end: 1-30 DPD
                            state = M1
                            if due:
                                flows[t, segment, DAY1_UNPAID] += instalment
                            flows[t, segment, REPORTED_OVERDUE] += 1
                        else:
                            paid = 1
                            if due and np.int64(w2) < quick_threshold(
                                miss, quick[segment, tier, matrix]
                            ):
                                paid_late(flows, t, segment, tier, w3, instalment, rate,
                                          penalty_multiplier, days_to_pay,
                                          levers.grace_days)  # fmt: skip
                    else:
                        destination = CURRENT
                        for w in range(
                            row.shape[0]
                        ):  # worst first: charged_off, M6, ..., M1, current
                            if np.int64(w1) < row[w]:
                                destination = CHARGED_OFF - w
                                break
                        if (
                            destination < state
                        ):  # cure, fully or partly: arrears paid down, plus the due one
                            paid = state - destination + (1 if due else 0)
                            state = destination
                        elif (
                            destination == state and due
                        ):  # pays the instalment due, arrears unchanged
                            paid = 1
                        else:  # roll (or, after maturity, the debt ages a bucket a month)
                            state = state + 1 if state < M6 else CHARGED_OFF

                    if paid > 0:
                        interest_part, principal_part = payment(
                            paid, instalment, principal, accrued, state == CURRENT and term == 0
                        )
                        accrued -= interest_part
                        penalty = min(penalty, accrued)  # penalty interest is paid last
                        principal -= principal_part
                        cash = interest_part + principal_part
                        flows[t, segment, COLLECTED_INTEREST] += interest_part
                        flows[t, segment, COLLECTED_PRINCIPAL] += principal_part
                        if principal == 0 and accrued == 0:
                            stocks[t, segment, PAID_OFF, ACCOUNTS] += 1
                            record(trace, b, loan, t, PAID_OFF, restructurings, 0, cash, 0)
                            break

                    if state == CHARGED_OFF:  # past 180 DPD: written off, into recovery
                        flows[t, segment, CHARGEOFF_PRINCIPAL] += principal
                        flows[t, segment, CHARGEOFF_INTEREST] += accrued
                        ledger[t, segment, tier, TIER_NET_CREDIT_LOSS] += principal
                        if relief == RELIEF_REINSTALMENT:
                            charged_off_after_relief(flows, t, segment, since, horizon)
                        stocks[t, segment, CHARGED_OFF, ACCOUNTS] += 1
                        chargeoff_balance = principal + accrued
                        record(trace, b, loan, t, CHARGED_OFF, restructurings, chargeoff_balance,
                               cash, 0)  # fmt: skip
                        principal = np.int64(0)
                        accrued = np.int64(0)
                        if levers.legal_share > 0 and chargeoff_balance >= levers.legal_min_balance:
                            filing = philox4x32_10(
                                loan, path, (t << 4) | PURPOSE_LEGAL, stream, key0, key1
                            )
                            if np.int64(filing[0]) < levers.legal_share:
                                legal_left = levers.legal_lag
                                flows[t, segment, LEGAL_CASES] += 1
                                flows[t, segment, LEGAL_COST] += levers.legal_filing_cost
                        continue

                    # --- 6. first serious delinquency: reported to the credit bureau ---
                    if state >= SERIOUS and not serious:
                        serious = True
                        flows[t, segment, NEW_SERIOUS_DELINQUENCIES] += 1
                    stocks[t, segment, state, BALANCE] += principal
                    stocks[t, segment, state, ACCOUNTS] += 1
                    record(trace, b, loan, t, state, restructurings, principal, cash, 0)
                    record_schedule(trace, b, loan, t, term, instalment)
                    if t0 >= 0 and state > M1:  # a new loan 31+ DPD: its vintage curve
                        flows[t - t0 - 1, segment, VINTAGE_DPD30] += principal
                    if relief != RELIEF_NONE:
                        after_relief(flows, t, segment, relief, since, state)
                    if rules[ENABLED]:
                        stage = book_provisions(
                            lifetime,
                            twelve,
                            rates,
                            rules,
                            ledger,
                            flows,
                            t,
                            segment,
                            tier,
                            matrix,
                            state,
                            term,
                            principal,
                            monthly_rate,
                            factor_index[t],
                            factor_weight[t],
                            restructurings,
                            since,
                            stage,
                        )


def loan_order(book: Book, bounds: np.ndarray) -> np.ndarray:
    """The order in which a chunk runs its loans: within each chunk (``bounds``), by segment,
    tier, matrix, state and term, so that loan after loan reads the same table rows (the
    transition thresholds, the ECL tables) from the cache. Only the order changes: each loan
    keeps its index, hence its random draws, and the totals are sums of integers."""
    key = (
        (book.segment.astype(np.int64) * 64 + book.tier) * 2 + (book.restructured > 0)
    ) * 8 + book.state
    key = key * 1024 + np.minimum(book.remaining_term, 1023)
    order = np.empty(len(key), np.int64)
    for first, last in itertools.pairwise(bounds):
        order[first:last] = first + np.argsort(key[first:last], kind="stable")
    return order


def new_ledger(shape: tuple[int, ...], tiers: int) -> np.ndarray:
    """A zero ledger (C, B, H, G, T, L) for flows of shape (C, B, H, G, ...)."""
    from simulator.engine.layout import N_LEDGER

    return np.zeros((*shape, tiers, N_LEDGER), np.int64)


def run_block(
    book: Book,
    tables: Tables,
    flows: np.ndarray,
    stocks: np.ndarray,
    ledger: np.ndarray | None = None,
    trace: np.ndarray | None = None,
) -> None:
    """Add one block of paths into ``flows`` (C, B, H, G, F), ``stocks`` (C, B, H, G, S, 2) and
    ``ledger`` (C, B, H, G, T, L; provisions, when ``tables.provisions`` is enabled).

    The number of chunks C is ``flows.shape[0]``; the opening loans and the candidate new loans
    are each split evenly among them.
    """
    levers: Levers = tables.levers
    if levers.reinstal_cap > 0 and len(levers.reinstal_factor) != len(book.principal):
        raise ValueError("the levers were built for another book")
    chunks = flows.shape[0]
    n, opening = len(book.principal), book.opening_loans
    prov = tables.provisions
    if ledger is None:  # provisions not wanted: a scratch ledger
        ledger = new_ledger(flows.shape[:4], len(tables.levers.grace_days))
    book_bounds = np.linspace(0, opening, chunks + 1).astype(np.int64)
    pool_bounds = np.linspace(opening, n, chunks + 1).astype(np.int64)
    order = loan_order(book, np.concatenate([book_bounds, pool_bounds[1:]]))
    _run_block(
        book.segment, book.tier, book.principal, book.monthly_rate, book.remaining_term,
        book.instalment, book.state, book.restructured, book.start, book.rank,
        book_bounds, pool_bounds, tables.first_path, tables.transition, tables.prepay,
        tables.penalty_multiplier, tables.recovery_hazard, tables.recovery_quantiles,
        tables.agency_fee, tables.recovery_window,
        levers, tables.path_levers.reinstal_approve, tables.path_levers.ew_active,
        tables.originations, tables.key[0], tables.key[1], tables.stream, flows, stocks,
        prov.lifetime.ravel(), prov.twelve_month.ravel(), prov.reference_rate.ravel(),
        tuple(kernel_rules(prov).tolist()),
        tables.factor_position.lower, tables.factor_position.weight,
        book.opening_stage, book.opening_since, ledger, order,
        tables.quick, tables.days_to_pay, tables.relief_memory, book.opening_relief,
        no_trace() if trace is None else trace,
    )  # fmt: skip
