"""New-loan cohorts (SPEC 3.5, 12): the treasury's new lending, throttled by the macro index.

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

The month's amount is the treasury's ``plan`` (mode ``plan``) or, in mode ``replace``, the
book's *expected run-off* that month (the fall of :func:`expected_balance`): what the opening
book and the candidates of the earlier months repay, prepay or lose, so that the book stays
about its opening size (the static-balance-sheet convention). Originations are fixed per path
and month before the kernels run, so the run-off replaced is an expectation, not the path's
own: each loan's
contractual annuity balance times its survival to prepayment, ``(1 - prepayment)^k`` after k
months, every candidate counted as originated. A loan that defaults instead of paying is
counted as running off on schedule (its balance leaves the book by charge-off some months
later instead of by instalments; the two agree over a loan's life and differ by the few
percent of the book in arrears at a time). The throttle then scales that amount on each path,
as it scales a plan. The amounts depend on the book, the model's prepayment, the seed and the
horizon only - not on the scenario, the policy, the path, the threads, chunks or blocks, nor on
the engine - so results stay bit-identical across them.

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
    """Planned new lending for months 1..horizon in fen (linear between anchors, flat beyond);
    zeros in mode ``replace``, whose amounts :func:`new_lending_pool` sets from the expected
    run-off instead."""
    if treasury.lending_mode == "replace":
        return np.zeros(horizon, np.int64)
    months, amounts = zip(*treasury.lending_plan, strict=True)
    per_month = np.interp(np.arange(1, horizon + 1), months, amounts)
    scale = opening_fen if treasury.basis == "book" else 100
    return np.rint(per_month * scale).astype(np.int64)


def new_loan_term(portfolio: Portfolio) -> np.ndarray:
    """The term of a new loan drawn from each loan of the book: its original term where known,
    else its remaining term rounded up to a whole quarter."""
    rounded = -(-portfolio.remaining_term // QUARTER) * QUARTER
    return np.where(portfolio.original_term > 0, portfolio.original_term, rounded).astype(np.int32)


def expected_balance(
    principal: np.ndarray,
    monthly_rate: np.ndarray,
    instalment: np.ndarray,
    term: np.ndarray,
    prepayment: np.ndarray,
    months: int,
) -> np.ndarray:
    """Expected principal (fen, float) of loans 0..months instalments after now, summed over
    the loans: the contractual annuity balance (interest first, the last instalment clears it)
    times the survival to prepayment ``(1 - prepayment)^k``. Shape (months + 1,)."""
    balance = principal.astype(np.float64)
    survival = np.ones(len(balance))
    out = np.zeros(months + 1)
    out[0] = balance.sum()
    for k in range(1, months + 1):
        balance = np.maximum(balance * (1.0 + monthly_rate) - instalment, 0.0)
        balance[term <= k] = 0.0
        survival *= 1.0 - prepayment
        out[k] = (balance * survival).sum()
    return out


class _ExpectedRunoff:
    """The expected balance of the opening book and of the candidates drawn so far, by month
    (index t + 1 is the end of month t), for mode ``replace``: month t lends its fall from t to
    t + 1."""

    def __init__(self, portfolio: Portfolio, prepayment: np.ndarray | None, horizon: int) -> None:
        self.portfolio, self.horizon = portfolio, horizon
        self.rates = np.zeros(len(portfolio.segment_names)) if prepayment is None else prepayment
        self.terms = new_loan_term(portfolio)
        self.balance = expected_balance(
            portfolio.principal,
            portfolio.annual_rate / 12.0,
            portfolio.instalment,
            portfolio.remaining_term,
            self.rates[portfolio.segment],
            horizon,
        )

    def of_month(self, t: int) -> int:
        return max(int(np.rint(self.balance[t] - self.balance[t + 1])), 0)

    def originate(self, chosen: np.ndarray, t: int) -> None:
        """Month t's new loans: on the book at its end, paying from month t + 1."""
        if not len(chosen) or t + 1 >= self.horizon:
            return
        book = self.portfolio
        term, principal, annual_rate = (
            self.terms[chosen],
            book.principal[chosen],
            book.annual_rate[chosen],
        )
        self.balance[t + 1 :] += expected_balance(
            principal,
            annual_rate / 12.0,
            annuity_fen(principal, annual_rate, term),
            term,
            self.rates[book.segment[chosen]],
            self.horizon - t - 1,
        )


def new_lending_pool(
    portfolio: Portfolio,
    treasury: Treasury,
    horizon: int,
    seed: int,
    prepayment: np.ndarray | None = None,
) -> Pool:
    """Draw the candidate new loans of every month. ``prepayment``: the model's monthly
    prepayment probability by segment, for the expected run-off of mode ``replace`` (None:
    no prepayment)."""
    opening_fen = int(portfolio.principal.sum())
    plan = lending_plan_fen(treasury, opening_fen, horizon).copy()
    replace = treasury.lending_mode == "replace"
    runoff = _ExpectedRunoff(portfolio, prepayment, horizon) if replace else None
    current = np.flatnonzero((portfolio.state == CURRENT) & (portfolio.principal > 0))
    eligible = current if len(current) else np.flatnonzero(portfolio.principal > 0)
    rng = np.random.default_rng([seed, ORIGINATION_SEED])
    mean_principal = max(float(portfolio.principal[eligible].mean()), 1.0) if len(eligible) else 1.0

    templates, starts, ranks, cumulatives = [], [], [], []
    for t in range(horizon):
        if runoff is not None:
            plan[t] = runoff.of_month(t)
        amount = plan[t]
        chosen = np.zeros(0, np.int64)
        if amount > 0 and len(eligible):
            # draw in batches until the month's plan is covered, then keep what fits in it
            while portfolio.principal[chosen].sum() <= amount:
                size = int(1.2 * (amount - portfolio.principal[chosen].sum()) / mean_principal)
                chosen = np.concatenate([chosen, rng.choice(eligible, size=size + 16)])
            cumulative = np.cumsum(portfolio.principal[chosen])
            chosen = chosen[: np.searchsorted(cumulative, amount, side="right")]
        if runoff is not None:
            runoff.originate(chosen, t)
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
