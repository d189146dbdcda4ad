"""Payments and relief outcomes (SPEC 11) from the kernels' counters, for the Dataset.

* ``day1_delinquency_rate`` (path, month): instalments unpaid on their due date over those due
  from current loans (the industry's Day-1 delinquency, 入催率); ``collection_rate_30d``: the
  share of those Day-1 amounts paid within the month (within 30 days, M1回款率);
  ``dpd90_ratio``: principal 91-180 DPD over principal on the book at the month end (the 90
  day+ delinquency ratio; past 180 DPD a loan is charged off);
* ``redefault_rate`` (path, months_since_restructuring, kind): of the loans re-instalmented at
  least m months before the horizon's end, the share 30+ DPD (charged-off ones included) and the
  share charged off m = 3, 6 and 12 months after, with its numerator ``redefault_loans`` and
  denominator ``restructured_observed``;
* ``holiday_current_share`` (path): of the loans whose holiday ended at least three months
  before the horizon's end, the share current three months after it;
* ``vintage_dpd30`` (path, months_on_book): the vintage curve of the horizon's new loans: at m
  months on book, their principal 31-180 DPD (``vintage_dpd30_balance``) over the principal
  originated in the months that have reached m by the horizon (the cohorts of months
  1..H - m), a charged-off loan counted in the denominator only.

Rates are NaN where there is nothing to count (no re-instalment, no Day-1 miss, no loan on
the book).
"""

from __future__ import annotations

import numpy as np

from simulator.engine.layout import REDEFAULT_MONTHS
from simulator.states import ACTIVE_STATES, M6

SERIOUS = 4  # dpd_91_120, the first bucket of the 90+ DPD ratio

KINDS = ("dpd_30_plus", "charged_off")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)


def payment_rates(by_path: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Day-1 delinquency and 30-day collection rates (P, H) from per-path flows in fen."""
    return {
        "day1_delinquency_rate": _ratio(by_path["day1_unpaid"], by_path["due_amount"]),
        "collection_rate_30d": _ratio(by_path["collected_30d"], by_path["day1_unpaid"]),
    }


def dpd90_ratio(balance: np.ndarray) -> np.ndarray:
    """The 90+ DPD ratio (P, H) from end-of-month principal by state (P, H, ..., state) in fen,
    any axes between month and state summed over."""
    balance = balance[..., : len(ACTIVE_STATES)]
    if balance.ndim > 3:
        balance = balance.sum(axis=tuple(range(2, balance.ndim - 1)))
    return _ratio(balance[..., SERIOUS : M6 + 1].sum(axis=-1), balance.sum(axis=-1))


def relief_outcomes(by_path: dict[str, np.ndarray], holiday_months: int) -> dict[str, np.ndarray]:
    """The re-default curve of re-instalmented loans and the holiday loans' outcome per path."""
    horizon = by_path["restructured"].shape[1]
    restructured = by_path["restructured"]
    observed = np.stack(
        [restructured[:, : max(horizon - months, 0)].sum(axis=1) for months in REDEFAULT_MONTHS],
        axis=1,
    )  # (P, 3): loans re-instalmented early enough to be seen m months after
    loans = np.stack(
        [
            np.stack(
                [by_path[f"redefault_{kind}_{m}"].sum(axis=1) for kind in ("30", "co")], axis=-1
            )
            for m in REDEFAULT_MONTHS
        ],
        axis=1,
    )  # (P, 3, 2)
    seen = holiday_months + 3  # three months after the holiday's last month
    started = by_path["holidays_started"][:, : max(horizon - seen, 0)].sum(axis=1)
    return {
        "restructured_observed": observed,
        "redefault_loans": loans,
        "redefault_rate": _ratio(loans, observed[..., None]),
        "holiday_observed": started,
        "holiday_current_share": _ratio(by_path["holiday_current_3"].sum(axis=1), started),
    }


def vintage_curve(by_path: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The vintage curve (P, H - 1) of the new loans, months on book 1..H - 1, and its 31+ DPD
    balance in fen (the kernels keep months on book m in row m - 1 of the month axis)."""
    balance = by_path["vintage_dpd30_balance"][:, :-1]  # m = H is never reached
    originated = by_path["originated_principal"]
    # a loan originated in month index o is seen at m months on book if o + m <= H - 1
    reached = np.cumsum(originated, axis=1)[:, ::-1][:, 1:]  # cohorts o <= H - 1 - m
    return {"vintage_dpd30_balance": balance, "vintage_dpd30": _ratio(balance, reached)}
