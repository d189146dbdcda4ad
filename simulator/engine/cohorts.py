"""New-loan cohorts (SPEC 3.5): the treasury's lending plan, throttled by the macro index.

The kernels simulate a fixed set of loans, so new lending is a *pool* of candidate loans laid
out before the run, the same on every path, under every scenario and policy:

* for each month m of the horizon, template loans are drawn (seeded, with replacement) from the
  book's current loans until their principal would exceed the month's planned lending; each
  copy is a new loan of its template's segment, tier, rate and principal, with a fresh annuity
  over the template's original term when the tape gives it (``original_term``), else over its
  remaining term rounded up to a whole quarter (Jiebei terms are 3, 6, 9 or 12 months), current
  and never restructured;
* on a path, month m originates the first ``n`` candidates of that month (in their rank order),
  the most whose cumulative principal fits ``plan[m] * clip(base + sensitivity * Z, floor, 1)``,
  Z being the path's book-weighted credit-cycle index that month.

An originated loan is on the book, current, at the end of month m, and its first instalment
falls due in month m + 1. Candidates are stored in a seeded random order after the book's loans
(so that every chunk of loans holds a mix of months); the kernels look up ``originations[path,
month]`` to know whether a candidate exists on their path. The draws of a candidate's borrower
use its own index: common random numbers hold across policies, as the pool and Z do not depend
on the policy.
"""

from __future__ import annotations

import numpy as np

from simulator.engine.arrays import Pool
from simulator.inputs.portfolio import Portfolio, annuity_fen
from simulator.inputs.treasury import Treasury
from simulator.states import CURRENT

ORIGINATION_SEED = 0x6F726967  # "orig": the pool's own seed sequence entropy next to the seed
QUARTER = 3


def lending_plan_fen(treasury: Treasury, opening_fen: int, horizon: int) -> np.ndarray:
    """Planned new lending for months 1..horizon in fen (linear between anchors, flat beyond)."""
    months, amounts = zip(*treasury.lending_plan, strict=True)
    per_month = np.interp(np.arange(1, horizon + 1), months, amounts)
    scale = opening_fen if treasury.basis == "book" else 100
    return np.rint(per_month * scale).astype(np.int64)


def new_loan_term(portfolio: Portfolio) -> np.ndarray:
    """The term of a new loan drawn from each loan of the book: its original term where known,
    else its remaining term rounded up to a whole quarter."""
    rounded = -(-portfolio.remaining_term // QUARTER) * QUARTER
    return np.where(portfolio.original_term > 0, portfolio.original_term, rounded).astype(np.int32)


def new_lending_pool(portfolio: Portfolio, treasury: Treasury, horizon: int, seed: int) -> Pool:
    """Draw the candidate new loans of every month."""
    opening_fen = int(portfolio.principal.sum())
    plan = lending_plan_fen(treasury, opening_fen, horizon)
    current = np.flatnonzero((portfolio.state == CURRENT) & (portfolio.principal > 0))
    eligible = current if len(current) else np.flatnonzero(portfolio.principal > 0)
    rng = np.random.default_rng([seed, ORIGINATION_SEED])
    mean_principal = max(float(portfolio.principal[eligible].mean()), 1.0) if len(eligible) else 1.0

    templates, starts, ranks, cumulatives = [], [], [], []
    for t, amount in enumerate(plan):
        chosen = np.zeros(0, np.int64)
        if amount > 0 and len(eligible):
            # draw in batches until the month's plan is covered, then keep what fits in it
            while portfolio.principal[chosen].sum() <= amount:
                size = int(1.2 * (amount - portfolio.principal[chosen].sum()) / mean_principal)
                chosen = np.concatenate([chosen, rng.choice(eligible, size=size + 16)])
            cumulative = np.cumsum(portfolio.principal[chosen])
            chosen = chosen[: np.searchsorted(cumulative, amount, side="right")]
        templates.append(chosen)
        starts.append(np.full(len(chosen), t, np.int32))
        ranks.append(np.arange(len(chosen), dtype=np.int32))
        cumulatives.append(np.cumsum(portfolio.principal[chosen]))

    template = np.concatenate(templates)
    order = rng.permutation(len(template))
    template = template[order]
    term = new_loan_term(portfolio)[template]
    response = treasury.lending_throttle
    return Pool(
        template=template,
        start=np.concatenate(starts)[order],
        rank=np.concatenate(ranks)[order],
        remaining_term=term.astype(np.int32),
        instalment=annuity_fen(
            portfolio.principal[template], portfolio.annual_rate[template], term
        ).astype(np.int64),
        cumulative=tuple(cumulatives),
        plan_fen=plan,
        throttle=(response.base, response.sensitivity, response.floor),
        segment_principal=portfolio.segment_principal,
    )
