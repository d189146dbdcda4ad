"""What the engine's layers hand one another: the loan arrays, the candidate new loans, a
policy's levers and the tables of one kernel call, with the constants they are encoded with.

The lowest floor of the engine: ``cohorts`` builds a :class:`Pool`, ``levers`` the
:class:`Levers` and :class:`PathLevers`, ``tables`` the :class:`Tables` of a block of paths,
and the two kernels read them with a :class:`Book`; each of those modules imports from here and
none of them from another above it. Probabilities are integer :func:`thresholds` for raw 32-bit
Philox words, so that both kernels only compare integers. What a kernel *writes* is laid out in
``layout``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from simulator.inputs.accounting import ProvisionRules, provision_rules
from simulator.inputs.portfolio import Portfolio
from simulator.provisions.tables import NOT_RESTRUCTURED, FactorPosition, ProvisionTables
from simulator.states import CURRENT

TWO_32 = 2.0**32

AFFORDABILITY_STEPS = 1024
"""Grid steps per unit of the affordability ratio (new instalment / old)."""
AFFORDABILITY_SIZE = 4 * AFFORDABILITY_STEPS
"""Ratios from 0 to 4 are tabulated; larger ones use the last entry."""
NO_STATE = 127
"""A state code no loan reaches: a settlement threshold that is off."""
OFFER_NONE, OFFER_HOLIDAY, OFFER_REINSTALMENT = 0, 1, 2


def thresholds(probability: npt.ArrayLike) -> np.ndarray:
    """``floor(p * 2^32)``: a uint32 word ``x`` satisfies ``x < threshold`` with probability p."""
    return np.floor(np.asarray(probability, dtype=float) * TWO_32).astype(np.int64)


def book_index(z: np.ndarray, segment_principal: np.ndarray) -> np.ndarray:
    """The book-weighted credit-cycle index (P, H) from Z (P, H, G) and exposure by segment
    (what the treasury's macro responses read)."""
    weights = segment_principal / max(segment_principal.sum(), 1)
    return z @ weights


class Levers(NamedTuple):
    """A policy's levers for one book (everything that does not depend on the path)."""

    grace_days: np.ndarray  # (T,) int64: a Day-1 miss paid within them is not reported overdue
    reinstal_eligible: np.ndarray  # (7,) int8 by state
    reinstal_apply: np.ndarray  # (G,) thresholds
    reinstal_cap: int  # restructurings allowed per loan
    reinstal_term: int
    reinstal_rate_multiplier: float
    reinstal_waive: bool  # accrued penalty interest forgiven on restructuring
    reinstal_keeps_bucket: bool  # behaviour "bucket": only the restructuring's accounting
    reinstal_factor: np.ndarray  # (N,) annuity payment per unit of principal, new rate and term
    affordability: np.ndarray  # (AFFORDABILITY_SIZE,) miss-probability factor by ratio
    holiday_eligible: np.ndarray  # (7,) int8 by state
    holiday_take_up: int  # threshold
    holiday_months: int
    holiday_cap: int
    settle_min_state: int  # first state offered settlement (NO_STATE: off)
    settle_accept: int  # threshold
    settle_haircut: float
    mediation_fee: float  # share of settlement cash
    legal_share: int  # threshold (0: off)
    legal_min_balance: int  # fen
    legal_filing_cost: int  # fen
    legal_lag: int  # months from filing to judgement (at least 1: see policy_levers)
    legal_success: int  # threshold
    legal_fraction: float  # of the charged-off balance, when successful
    ew_offer: int  # OFFER_NONE, OFFER_HOLIDAY or OFFER_REINSTALMENT
    ew_take_up: int  # threshold
    ew_tier: np.ndarray  # (T,) int8: tiers offered under early warning


class PathLevers(NamedTuple):
    """The levers that move with the credit-cycle index, for one block of paths."""

    reinstal_approve: np.ndarray  # (B, H, G, T) thresholds: approval by ability
    ew_active: np.ndarray  # (B, H, G) int8: Z below the early-warning trigger


@dataclass(frozen=True)
class Pool:
    """The candidate new loans of a run, as loan arrays, and what decides how many originate."""

    template: np.ndarray  # (K,) index of each candidate's template loan in the book
    start: np.ndarray  # (K,) int32 month index (0-based) of origination
    rank: np.ndarray  # (K,) int32 position within its month (originated when rank < n)
    remaining_term: np.ndarray  # (K,) int32 instalments of the new loan
    instalment: np.ndarray  # (K,) int64 fen
    cumulative: tuple[np.ndarray, ...]  # per month: candidates' cumulative principal, fen
    plan_fen: np.ndarray  # (H,) planned new lending per month, fen
    throttle: tuple[float, float, float]  # (base, sensitivity, floor) of the macro response
    segment_principal: np.ndarray  # (G,) opening principal by segment, fen (weights of Z)

    def __len__(self) -> int:
        return len(self.start)

    def originations(self, z: np.ndarray) -> np.ndarray:
        """Loans originated per path and month, (B, H) int64, from Z (B, H, G) of a block."""
        base, sensitivity, floor = self.throttle
        book_z = book_index(z, self.segment_principal)
        allowed = np.rint(self.plan_fen * np.clip(base + sensitivity * book_z, floor, 1.0))
        out = np.zeros(book_z.shape, np.int64)
        for t, cumulative in enumerate(self.cumulative):
            out[:, t] = np.searchsorted(cumulative, allowed[:, t], side="right")
        return out


@dataclass(frozen=True)
class Book:
    """The loan arrays a kernel reads (contiguous, fixed dtypes): the opening book, then the
    candidate new loans of :mod:`~simulator.engine.cohorts` (``start >= 0``)."""

    segment: np.ndarray  # int8
    tier: np.ndarray  # int8
    principal: np.ndarray  # int64 fen
    monthly_rate: np.ndarray  # float64: annual_rate / 12
    remaining_term: np.ndarray  # int32
    instalment: np.ndarray  # int64 fen
    state: np.ndarray  # int8: current or bucket
    restructured: np.ndarray  # int32
    start: np.ndarray  # int32: -1 on the opening book, else the month index of origination
    rank: np.ndarray  # int32: a candidate's rank within its month (0 on the opening book)
    opening_loans: int  # the first ``opening_loans`` loans are the opening book
    opening_stage: np.ndarray  # int8: IFRS 9 stage code (0-2) at the as-of date (0 for new)
    opening_since: np.ndarray  # int32: months since the last restructuring at the as-of date
    opening_relief: np.ndarray  # int8: state a tape's restructured loan was relieved from, -1

    @classmethod
    def from_portfolio(
        cls,
        portfolio: Portfolio,
        pool: Pool | None = None,
        rules: ProvisionRules | None = None,
        tape_from: int | None = None,
    ) -> Book:
        """The book's loans, followed by ``pool``'s candidate new loans if given; ``rules``
        stage the opening book (by default, the rules of SPEC 10's defaults); ``tape_from``: the
        state a restructured loan of the tape is taken to have been relieved from (the model's
        relief memory; None: no memory).

        A restructured loan of the tape is taken as restructured at the as-of date (the tape
        does not say when: the conservative reading, in probation and under observation)."""

        def c(*parts: np.ndarray, dtype: type) -> np.ndarray:
            return np.ascontiguousarray(np.concatenate(parts), dtype=dtype)

        n = len(portfolio)
        rules = rules or provision_rules(None)
        restructured = portfolio.restructured > 0
        stage = rules.stage(portfolio.state, in_probation=restructured)
        if pool is None:
            new = np.zeros(0, np.int64)
            start, rank = np.zeros(0, np.int32), np.zeros(0, np.int32)
            term, instalment = np.zeros(0, np.int32), np.zeros(0, np.int64)
        else:
            new, start, rank = pool.template, pool.start, pool.rank
            term, instalment = pool.remaining_term, pool.instalment
        return cls(
            segment=c(portfolio.segment, portfolio.segment[new], dtype=np.int8),
            tier=c(portfolio.tier, portfolio.tier[new], dtype=np.int8),
            principal=c(portfolio.principal, portfolio.principal[new], dtype=np.int64),
            monthly_rate=c(
                portfolio.annual_rate / 12.0, portfolio.annual_rate[new] / 12.0, dtype=np.float64
            ),
            remaining_term=c(portfolio.remaining_term, term, dtype=np.int32),
            instalment=c(portfolio.instalment, instalment, dtype=np.int64),
            state=c(portfolio.state, np.full(len(new), CURRENT), dtype=np.int8),
            restructured=c(portfolio.restructured, np.zeros(len(new)), dtype=np.int32),
            start=c(np.full(n, -1), start, dtype=np.int32),
            rank=c(np.zeros(n), rank, dtype=np.int32),
            opening_loans=n,
            opening_stage=c(stage, np.zeros(len(new)), dtype=np.int8),
            opening_since=c(
                np.where(restructured, 0, NOT_RESTRUCTURED),
                np.full(len(new), NOT_RESTRUCTURED),
                dtype=np.int32,
            ),
            opening_relief=c(
                np.where(restructured, -1 if tape_from is None else tape_from, -1),
                np.full(len(new), -1),
                dtype=np.int8,
            ),
        )


@dataclass(frozen=True)
class Tables:
    """Everything one kernel call reads, for one scenario, one policy and one block of paths."""

    first_path: int
    z: np.ndarray  # (B, H, G) credit-cycle index, reported as macro_index
    transition: np.ndarray  # (B, H, G, T, 2, 7, 8) int64 thresholds, destinations worst first
    prepay: np.ndarray  # (G,) int64 thresholds
    penalty_multiplier: float
    recovery_hazard: int  # threshold
    recovery_quantiles: np.ndarray  # (2^QUANTILE_BITS,) recovered fraction
    agency_fee: float
    recovery_window: int
    key: tuple[int, int]
    stream: int
    levers: Levers
    path_levers: PathLevers
    originations: np.ndarray  # (B, H) int64: new loans originated per path and month
    provisions: ProvisionTables
    factor_position: FactorPosition  # (B, H): the factor on the ECL tables' grid
    quick: np.ndarray  # (G, T, 2) probability that a current loan misses the due date and pays
    # within the month, in normal times (the quick payers do not grow with stress)
    days_to_pay: np.ndarray  # (31,) thresholds: a quick payer pays within d days (d = 0..30)
    relief_memory: np.ndarray  # (7, MEMORY_MONTHS + 1): miss factor by state relieved from
    weight: np.ndarray  # (B,) likelihood ratio of each path (tail sampling; 1 without), not
    # read by the kernel: it travels with the block's totals

    @property
    def paths(self) -> int:
        return self.transition.shape[0]

    @property
    def horizon(self) -> int:
        return self.transition.shape[1]
