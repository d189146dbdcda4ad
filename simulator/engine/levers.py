"""Post-loan policy levers (SPEC 3.4) as kernel inputs.

A policy becomes two NamedTuples of arrays and numbers that both kernels read (defined in
``arrays``): :class:`~simulator.engine.arrays.Levers` (fixed for a policy and book) and
:class:`~simulator.engine.arrays.PathLevers` (per block of paths, where a lever depends on the
credit-cycle index Z). As for transitions, probabilities are
integer thresholds for raw 32-bit Philox words, and every transcendental function is evaluated
here, once, with NumPy: the kernels only add, multiply, round and look up, so the two engines
agree to the fen.

An absent lever is encoded so that it never fires (probability 0, no eligible state); a policy
whose levers are all off therefore gives exactly the ``standard`` results.
"""

from __future__ import annotations

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
    PathLevers,
    thresholds,
)
from simulator.inputs.model import Model
from simulator.inputs.policy import Policy
from simulator.states import ACTIVE_STATES, BUCKETS, M1


def grace_days(model: Model, policy: Policy) -> np.ndarray:
    """Grace days per tier (0 where the policy gives none)."""
    days = policy.grace.days if policy.grace else {}
    return np.array([days.get(t.name, 0) for t in model.tiers])


def _states(names: tuple[str, ...]) -> np.ndarray:
    """int8 mask over ACTIVE_STATES of the named buckets."""
    mask = np.zeros(len(ACTIVE_STATES), np.int8)
    for name in names:
        mask[M1 + BUCKETS.index(name)] = 1
    return mask


def annuity_factor(monthly_rate: np.ndarray, term: int) -> np.ndarray:
    """Level payment per unit of principal over ``term`` months."""
    r = np.asarray(monthly_rate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(r > 0, r / -np.expm1(-term * np.log1p(r)), 1.0 / term)


def policy_levers(model: Model, policy: Policy, book: Book | None) -> Levers:
    """The levers of ``policy`` for ``book`` (absent levers never fire).

    The book is needed only for re-instalment (each loan's new annuity factor).
    """
    n_states = len(ACTIVE_STATES)
    off = np.zeros(n_states, np.int8)
    ratio = (np.arange(AFFORDABILITY_SIZE) + 0.5) / AFFORDABILITY_STEPS
    re, hol, settle = policy.reinstalment, policy.holiday, policy.settlement
    legal, ew = policy.legal, policy.early_warning
    if re and book is None:
        raise ValueError("a policy with re-instalment needs the book for its annuity factors")
    monthly_rate = np.zeros(0) if book is None else book.monthly_rate
    return Levers(
        grace_days=grace_days(model, policy).astype(np.int64),
        reinstal_eligible=_states(re.eligible) if re else off,
        reinstal_apply=thresholds(
            [re.application.get(s, 0.0) if re else 0.0 for s in model.segment_names]
        ),
        reinstal_cap=re.max_per_loan if re else 0,
        reinstal_term=re.term if re else 1,
        reinstal_rate_multiplier=re.rate_multiplier if re else 1.0,
        reinstal_waive=re.waive_penalty if re else False,
        reinstal_keeps_bucket=bool(re and re.behaviour == "bucket"),
        reinstal_factor=annuity_factor(
            monthly_rate * (re.rate_multiplier if re else 1.0), re.term if re else 1
        ),
        affordability=ratio**model.affordability_power,
        holiday_eligible=_states(hol.eligible) if hol else off,
        holiday_take_up=int(thresholds(hol.take_up if hol else 0.0)),
        holiday_months=hol.months if hol else 0,
        holiday_cap=hol.max_per_loan if hol and hol.months > 0 else 0,  # 0 months: off
        settle_min_state=M1 + BUCKETS.index(settle.min_bucket) if settle else NO_STATE,
        settle_accept=int(thresholds(settle.acceptance if settle else 0.0)),
        settle_haircut=settle.haircut if settle else 0.0,
        mediation_fee=settle.mediation_fee if settle else 0.0,
        legal_share=int(thresholds(legal.share if legal else 0.0)),
        legal_min_balance=round(legal.min_balance * 100) if legal else 0,
        legal_filing_cost=round(legal.filing_cost * 100) if legal else 0,
        # The kernels count the lag down from the month after filing, so a lag of 0 would never
        # reach its judgement (and the loan would fall back to the agency channel): a case
        # filed at charge-off is judged the next month at the earliest.
        legal_lag=max(legal.lag_months, 1) if legal else 0,
        legal_success=int(thresholds(legal.success if legal else 0.0)),
        legal_fraction=legal.recovered_fraction if legal else 0.0,
        ew_offer={None: OFFER_NONE, "holiday": OFFER_HOLIDAY, "reinstalment": OFFER_REINSTALMENT}[
            ew.offer if ew else None
        ],
        ew_take_up=int(thresholds(ew.take_up if ew else 0.0)),
        ew_tier=np.array([ew is not None and t.name in ew.tiers for t in model.tiers], np.int8),
    )


def path_levers(model: Model, policy: Policy, z: np.ndarray) -> PathLevers:
    """Approval probabilities and the early-warning switch for a block's Z (B, H, G)."""
    re, ew = policy.reinstalment, policy.early_warning
    approval = np.array([re.approval.get(t.name, 0.0) if re else 0.0 for t in model.tiers])
    sensitivity = re.approval_macro_sensitivity if re else 0.0
    # ability to pay falls in bad times: approval + sensitivity * Z, within [0, 1]
    approve = np.clip(approval[None, None, None, :] + sensitivity * z[..., None], 0.0, 1.0)
    return PathLevers(
        reinstal_approve=thresholds(approve),
        ew_active=(z < ew.trigger).astype(np.int8) if ew else np.zeros(z.shape, np.int8),
    )
