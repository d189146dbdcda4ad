"""A synthetic loan tape that looks like a Jiebei-type book (SPEC 3.1), seeded and vectorised.

The defaults below describe such a book [assumptions, orders of magnitude from the source
articles and shared/CALIBRATION.md]: mostly salaried borrowers; loans of a few thousand to a few
hundred thousand CNY (log-normal); terms of 3, 6 or 12 months; daily rates of 0.02%-0.05%
(7.3%-18.25% APR), higher for lower scores; a few percent of loans already delinquent, more in
the riskier tiers.

The delinquent loans' mix is the default model's steady state under baseline (SPEC 12): about
3.5% of loans in arrears (1.1% of the best scores, 6.5% of the worst), spread almost evenly over
the six buckets - what runs from 1-30 DPD onwards rarely cures - so that the opening book's 90+
DPD ratio (about 2%) is already the level the model holds (months 13-24 of a 64-path baseline
run of the default book, treasury and model: accounts 0.72% 1-30 DPD, 0.63%, 0.58%, 0.56%,
0.54%, 0.51% in the following buckets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.errors import InputError
from simulator.inputs.model import Model, load_model
from simulator.inputs.portfolio import Portfolio, annuity_fen
from simulator.states import state_from_dpd


@dataclass(frozen=True)
class SegmentProfile:
    share: float
    median_principal: float  # CNY, outstanding
    mean_score: float
    median_income: float  # CNY a month


PROFILES = {
    "salaried": SegmentProfile(0.60, 6_000.0, 700.0, 8_000.0),
    "self_employed": SegmentProfile(0.25, 12_000.0, 660.0, 10_000.0),
    "micro_business": SegmentProfile(0.15, 30_000.0, 650.0, 20_000.0),
}
FALLBACK = SegmentProfile(0.0, 10_000.0, 670.0, 10_000.0)  # for segments of a custom model

PRINCIPAL_SIGMA = 0.9  # log-normal spread: the middle 90% of loans span about 18x
PRINCIPAL_RANGE = (500.0, 300_000.0)
SCORE_SD, SCORE_RANGE = 75.0, (350, 950)
TERMS, TERM_SHARES = np.array([3, 6, 12]), np.array([0.2, 0.3, 0.5])
DAILY_RATE_RANGE = (0.0002, 0.0005)  # Jiebei daily rates, 7.3%-18.25% a year
DELINQUENT_BY_RISK = (0.011, 0.065)  # share already delinquent, best to worst score
BUCKET_SHARES = np.array([0.21, 0.18, 0.17, 0.16, 0.15, 0.13])  # M1..M6 among delinquent loans
INCOME_SIGMA, INCOME_MISSING = 0.5, 0.10


def synthetic_portfolio(
    n: int,
    seed: int = 0,
    model: Model | str = "default",
    mix: dict[str, float] | None = None,
) -> Portfolio:
    """``n`` synthetic loans, the same for the same ``seed`` (NumPy's PCG64).

    ``mix`` gives segment shares (default: 60% salaried, 25% self-employed, 15% micro-business;
    equal shares for the segments of a custom model that the defaults do not know).
    """
    if n < 1:
        raise InputError(None, f"the synthetic book needs at least 1 loan, got {n}")
    model = model if isinstance(model, Model) else load_model(model)
    names = model.segment_names
    profiles = [PROFILES.get(name, FALLBACK) for name in names]
    shares = np.array([mix.get(s, 0.0) for s in names] if mix else [p.share for p in profiles])
    if mix and set(mix) - set(names):
        raise InputError(None, f"unknown segment(s) in mix: {', '.join(set(mix) - set(names))}")
    if shares.sum() <= 0:
        shares = np.ones(len(names))
    rng = np.random.default_rng(seed)

    segment = rng.choice(len(names), size=n, p=shares / shares.sum()).astype(np.int8)

    def per_segment(attribute: str) -> np.ndarray:
        return np.array([getattr(p, attribute) for p in profiles])[segment]

    lowest = model.tiers[-1].min_score
    score = np.clip(
        np.rint(rng.normal(per_segment("mean_score"), SCORE_SD)),
        max(SCORE_RANGE[0], lowest),
        max(SCORE_RANGE[1], lowest),
    ).astype(np.int32)
    risk = 1.0 - (score - SCORE_RANGE[0]) / (SCORE_RANGE[1] - SCORE_RANGE[0])  # 0 best, 1 worst

    principal_cny = np.clip(
        rng.lognormal(np.log(per_segment("median_principal")), PRINCIPAL_SIGMA), *PRINCIPAL_RANGE
    )
    principal = np.rint(principal_cny * 100).astype(np.int64)

    original_term = rng.choice(TERMS, size=n, p=TERM_SHARES)
    remaining_term = rng.integers(1, original_term + 1).astype(np.int32)

    lo, hi = DAILY_RATE_RANGE
    daily = np.clip(lo + (hi - lo) * risk + rng.normal(0.0, 0.00003, n), lo, hi)
    annual_rate = np.round(daily, 5) * 365

    delinquent = rng.random(n) < np.interp(risk, [0, 1], DELINQUENT_BY_RISK)
    bucket = rng.choice(6, size=n, p=BUCKET_SHARES) + 1
    dpd = np.where(delinquent, (bucket - 1) * 30 + rng.integers(1, 31, size=n), 0).astype(np.int32)
    restructured = (rng.random(n) < np.where(delinquent, 0.10, 0.02)).astype(np.int32)

    income = np.rint(rng.lognormal(np.log(per_segment("median_income")), INCOME_SIGMA))
    income_fen = np.where(rng.random(n) < INCOME_MISSING, 0, income * 100).astype(np.int64)

    return Portfolio(
        loan_id=np.arange(1, n + 1, dtype=np.int64),
        segment=segment,
        tier=model.tier_of(score),
        score=score,
        principal=principal,
        annual_rate=annual_rate,
        remaining_term=remaining_term,
        # the arrears are owed besides the remaining term (see ``load_portfolio``)
        instalment=annuity_fen(principal, annual_rate, remaining_term + state_from_dpd(dpd)),
        dpd=dpd,
        restructured=restructured,
        monthly_income=income_fen,
        original_term=original_term.astype(np.int32),
        segment_names=names,
        tier_names=model.tier_names,
        source=f"synthetic(n={n}, seed={seed})",
    )
