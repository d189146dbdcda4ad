"""From a panel to counts: transitions by period and row, prepayments, recovery histories.

A *transition* is a loan's move from its state at the end of one month to its state at the end of
the next (the *period*, named by that next month and the path). Its row is the model's row:
segment, score tier and normal/restructured matrix from the earlier month, and the state it
left. What the model's rows cannot explain is left out, and counted, not hidden:

* a current loan whose next instalment repays it - its last (``remaining_term`` <= 1), or one
  larger than what it owes (``principal`` plus a month's interest, after catching up arrears):
  its payment closes it, so a payment and a prepayment look the same;
* a delinquent loan past maturity (nothing falls due, so a "stay" ages it: stay and roll are one);
* a move to ``settled`` (a policy outcome) and the month a loan is restructured (the policy moved
  it: from then on it is on the restructured matrix).

From ``current`` a move to ``paid_off`` is a prepayment; from a bucket it is a cure (the loan
paid its arrears, and everything it owed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.inputs.panel import Panel
from simulator.states import CHARGED_OFF, CURRENT, DESTINATIONS, M6, PAID_OFF, SETTLED

N_ROWS = M6 + 1
N_DESTINATIONS = len(DESTINATIONS)


def consecutive_pairs(entity: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Indices ``i`` of observations followed by one of the same entity one step later
    (the data sorted by entity, then time)."""
    same = (entity[1:] == entity[:-1]) & (time[1:] == time[:-1] + 1)
    return np.flatnonzero(same)


def cohort_counts(
    entity: np.ndarray, time: np.ndarray, state: np.ndarray, states: int
) -> np.ndarray:
    """The cohort estimator's counts: moves from state i at time t to state j at t + 1,
    shape (periods, states, states), period 0 starting at the earliest time."""
    i = consecutive_pairs(entity, time)
    period = time[i] - time.min()
    flat = (period * states + state[i]) * states + state[i + 1]
    periods = int(time.max() - time.min())
    return np.bincount(flat, minlength=periods * states * states).reshape(periods, states, states)


def cohort_matrix(counts: np.ndarray) -> np.ndarray:
    """Maximum-likelihood transition matrix of a homogeneous chain: N_ij / N_i over the given
    counts (summed over any leading axes); rows never left are NaN."""
    total = counts.reshape(-1, *counts.shape[-2:]).sum(axis=0).astype(float)
    n = total.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / n, np.nan)


@dataclass(frozen=True)
class Transitions:
    """Counts from a panel. Periods are (path, month) of the month moved into."""

    counts: np.ndarray  # (U, G, T, 2, 7, 8) int64: period, segment, tier, restructured, from, to
    period_path: np.ndarray  # (U,) int64
    period_month: np.ndarray  # (U,) int64 month index
    prepay_events: np.ndarray  # (U, G) int64
    prepay_at_risk: np.ndarray  # (U, G) int64: current loans not at their last instalment
    excluded: dict[str, int]  # loan-months left out, by reason


def transitions(panel: Panel) -> Transitions:
    G, T = len(panel.segment_names), len(panel.tier_names)
    i = consecutive_pairs(panel.loan, panel.month)
    before = panel.state[i].astype(np.int64)
    after = panel.state[i + 1].astype(np.int64)
    i, before, after = i[before <= M6], before[before <= M6], after[before <= M6]
    term = panel.remaining_term[i]
    known = term >= 0
    restructured_now = panel.restructured[i + 1] > panel.restructured[i]
    last_instalment = (before == CURRENT) & (known & (term <= 1) | _repays(panel, i))
    past_maturity = (before > CURRENT) & known & (term == 0)
    settled = after == SETTLED
    excluded = {
        "current, next instalment repays it (payment and prepayment look alike)": last_instalment,
        "delinquent past maturity (stay and roll are one)": past_maturity & ~last_instalment,
        "settled": settled & ~last_instalment & ~past_maturity,
        "restructured in the month": restructured_now
        & ~last_instalment
        & ~past_maturity
        & ~settled,
    }
    keep = ~(last_instalment | past_maturity | settled | restructured_now)
    i, before, after = i[keep], before[keep], after[keep]

    key = panel.path[i + 1] * (panel.last_month + 1) + panel.month[i + 1]
    periods, period = np.unique(key, return_inverse=True)
    U = len(periods)
    segment = panel.segment[i].astype(np.int64)
    prepaid = (before == CURRENT) & (after == PAID_OFF)
    at_risk = before == CURRENT
    prepay_events = np.bincount(period[prepaid] * G + segment[prepaid], minlength=U * G)
    prepay_at_risk = np.bincount(period[at_risk] * G + segment[at_risk], minlength=U * G)

    move = ~prepaid
    destination = np.where(after == PAID_OFF, CURRENT, after)[move]
    cell = np.ravel_multi_index(
        (
            period[move],
            segment[move],
            panel.tier[i][move].astype(np.int64),
            (panel.restructured[i][move] > 0).astype(np.int64),
            before[move],
            np.minimum(destination, CHARGED_OFF),
        ),
        (U, G, T, 2, N_ROWS, N_DESTINATIONS),
    )
    counts = np.bincount(cell, minlength=U * G * T * 2 * N_ROWS * N_DESTINATIONS)
    return Transitions(
        counts=counts.reshape(U, G, T, 2, N_ROWS, N_DESTINATIONS),
        period_path=periods // (panel.last_month + 1),
        period_month=periods % (panel.last_month + 1),
        prepay_events=prepay_events.reshape(U, G),
        prepay_at_risk=prepay_at_risk.reshape(U, G),
        excluded={k: int(v.sum()) for k, v in excluded.items()},
    )


def _repays(panel: Panel, i: np.ndarray) -> np.ndarray:
    """Loans whose instalment covers principal and a month's interest (where both are known)."""
    owed = panel.principal[i] * (1 + np.nan_to_num(panel.annual_rate[i]) / 12)
    with np.errstate(invalid="ignore"):
        return np.isfinite(panel.instalment[i]) & (owed <= panel.instalment[i] + 0.005)


@dataclass(frozen=True)
class Recoveries:
    """Charge-offs seen happening in the panel and what was recovered after them."""

    segment: np.ndarray  # (L,) per charged-off loan
    balance: np.ndarray  # (L,) CNY written off
    event_lag: np.ndarray  # (L,) months from charge-off to the first recovery, 0 if none seen
    observed_lags: np.ndarray  # (L,) months after charge-off the loan is observed
    amount: np.ndarray  # (L,) CNY of the first recovery (0 if none)


def recoveries(panel: Panel) -> Recoveries:
    """Loans charged off inside the panel (after an active month), with their recovery cash.
    Loans already charged off in their first month are left out: their lag is unknown."""
    state = panel.state
    n = len(state)
    same_loan = np.zeros(n, dtype=bool)
    same_loan[1:] = panel.loan[1:] == panel.loan[:-1]
    previous = np.full(n, -1)
    previous[1:] = state[:-1]
    start = (state == CHARGED_OFF) & same_loan & (previous <= M6) & (previous >= 0)
    # for each row, the latest charge-off start at or before it
    last_start = np.maximum.accumulate(np.where(start, np.arange(n), -1))
    valid = (last_start >= 0) & (state == CHARGED_OFF)
    valid &= panel.loan == panel.loan[np.maximum(last_start, 0)]
    lag = np.where(valid, panel.month - panel.month[np.maximum(last_start, 0)], -1)
    starts = np.flatnonzero(start)
    index = np.full(n, -1)
    index[starts] = np.arange(len(starts))
    owner = np.where(valid, index[np.maximum(last_start, 0)], -1)
    later = valid & (lag >= 1)
    observed = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(observed, owner[later], lag[later])
    event = later & (panel.recovery > 0)
    first_lag = np.zeros(len(starts), dtype=np.int64)
    amount = np.zeros(len(starts))
    rows = np.flatnonzero(event)
    owners, first = np.unique(owner[rows], return_index=True)
    first_lag[owners] = lag[rows[first]]
    amount[owners] = panel.recovery[rows[first]]
    return Recoveries(
        segment=panel.segment[starts].astype(np.int64),
        balance=panel.principal[starts],
        event_lag=first_lag,
        observed_lags=np.where(first_lag > 0, first_lag, observed),
        amount=amount,
    )
