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
    i, before, after, excluded = _moves(panel)
    first, span = panel.first_month, panel.last_month - panel.first_month + 1
    key = panel.path[i + 1] * span + (panel.month[i + 1] - first)
    used = np.bincount(key, minlength=panel.paths * span) > 0
    periods = np.flatnonzero(used)
    period = (np.cumsum(used) - 1)[key]  # the rank of each key among the periods used
    U = len(periods)
    group = period * G + panel.segment[i]  # (period, segment)
    prepaid = (before == CURRENT) & (after == PAID_OFF)
    prepay_events = np.bincount(group[prepaid], minlength=U * G)
    prepay_at_risk = np.bincount(group[before == CURRENT], minlength=U * G)

    move = ~prepaid
    i, group, before, after = i[move], group[move], before[move], after[move]
    destination = np.where(after == PAID_OFF, CURRENT, np.minimum(after, CHARGED_OFF))
    cell = (group * T + panel.tier[i]) * 2 + (panel.restructured[i] > 0)
    cell = (cell * N_ROWS + before) * N_DESTINATIONS + destination
    counts = np.bincount(cell, minlength=U * G * T * 2 * N_ROWS * N_DESTINATIONS)
    return Transitions(
        counts=counts.reshape(U, G, T, 2, N_ROWS, N_DESTINATIONS),
        period_path=periods // span,
        period_month=periods % span + first,
        prepay_events=prepay_events.reshape(U, G),
        prepay_at_risk=prepay_at_risk.reshape(U, G),
        excluded=excluded,
    )


def _moves(panel: Panel) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Rows ``i`` whose move to row ``i + 1`` the rows explain, with the states before and
    after (int64), and the loan-months left out by reason."""
    i = consecutive_pairs(panel.loan, panel.month)
    i = i[panel.state[i] <= M6]
    before = panel.state[i].astype(np.int64)
    after = panel.state[i + 1].astype(np.int64)
    term = panel.remaining_term[i]
    known = term >= 0
    reasons = {
        "current, next instalment repays it (payment and prepayment look alike)": (
            (before == CURRENT) & (known & (term <= 1) | _repays(panel, i))
        ),
        "delinquent past maturity (stay and roll are one)": (before > CURRENT)
        & known
        & (term == 0),
        "settled": after == SETTLED,
        "restructured in the month": panel.restructured[i + 1] > panel.restructured[i],
    }
    out, left = {}, np.zeros(len(i), dtype=bool)
    for reason, mask in reasons.items():  # each loan-month counted under its first reason
        out[reason] = int(np.count_nonzero(mask & ~left))
        left |= mask
    keep = ~left
    return i[keep], before[keep], after[keep], out


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
    rows = np.flatnonzero(panel.state == CHARGED_OFF)  # the work is on these rows only
    loan = panel.loan[rows]
    before = np.maximum(rows - 1, 0)
    after_active = (rows > 0) & (panel.loan[before] == loan) & (panel.state[before] <= M6)
    start = np.flatnonzero(after_active)  # positions (in rows) where a charge-off starts
    # each charged-off row's latest start at or before it, if of the same loan
    last = np.maximum.accumulate(np.where(after_active, np.arange(len(rows)), -1))
    owned = (last >= 0) & (loan == loan[np.maximum(last, 0)])
    lag = np.where(owned, panel.month[rows] - panel.month[rows[np.maximum(last, 0)]], -1)
    index = np.full(len(rows), -1)
    index[start] = np.arange(len(start))
    owner = np.where(owned, index[np.maximum(last, 0)], -1)
    later = owned & (lag >= 1)
    observed = np.zeros(len(start), dtype=np.int64)
    np.maximum.at(observed, owner[later], lag[later])
    event = np.flatnonzero(later & (panel.recovery[rows] > 0))
    first_lag = np.zeros(len(start), dtype=np.int64)
    amount = np.zeros(len(start))
    owners, first = np.unique(owner[event], return_index=True)  # the first recovery of each
    first_lag[owners] = lag[event[first]]
    amount[owners] = panel.recovery[rows[event[first]]]
    return Recoveries(
        segment=panel.segment[rows[start]].astype(np.int64),
        balance=panel.principal[rows[start]],
        event_lag=first_lag,
        observed_lags=np.where(first_lag > 0, first_lag, observed),
        amount=amount,
    )
