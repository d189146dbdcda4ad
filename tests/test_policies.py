"""Post-loan policy levers (SPEC 3.4, SPEC 4 steps 1-6), on both engines.

* Hand-checked cases (probabilities 0 or 1, a loan or two, the transition rows forced): every
  lever's cash flows, computed here month by month, to the fen - grace cures and the moral-hazard
  shift of the miss probability; re-instalment (capitalisation, penalty waiver, new annuity, cap);
  payment holidays (capitalised interest, frozen clock, extended term); settlement (cash, loss,
  mediation fee); collections intensity (the rows and the cost); legal recovery (filing cost,
  lag, recovered fraction, no agency); early warning (offers only in months where Z is below the
  trigger); serious delinquency counted once per loan.
* Directions under ``adverse`` against ``standard``, on the same seed and paths (common random
  numbers): each claim must hold for the mean per-path difference beyond 3 standard errors of
  that paired difference.
* A policy file with every lever present but switched off gives exactly the ``standard``
  Dataset; loans a policy cannot touch have identical paths under every policy, and the macro
  paths are the same; the accounting identity holds to the fen on every path with every lever on.

Hand-checked cases run one kernel call on tables built as ``simulate`` builds them
(``build_tables(..., levers=policy_levers(model, policy, book))``) and then forced; the
statistical ones go through ``simulate``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import numpy as np
import pytest
import xarray as xr
from scipy import special

from simulator import load_model, load_policy, load_scenario, synthetic_portfolio
from simulator.engine import kernel_numba, kernel_numpy
from simulator.engine.arrays import Book, Tables
from simulator.engine.layout import (
    ACCOUNTS,
    ACTIVE_ACCOUNTS,
    BALANCE,
    CAPITALISED_INTEREST,
    CHARGEOFF_INTEREST,
    CHARGEOFF_PRINCIPAL,
    COLLECTED_INTEREST,
    COLLECTED_PRINCIPAL,
    DELINQUENT_ACCOUNTS,
    FLOW,
    GRACE_CURES,
    HOLIDAYS_STARTED,
    LEGAL_CASES,
    LEGAL_COST,
    MEDIATION_FEE,
    NEW_SERIOUS_DELINQUENCIES,
    RECOVERIES,
    RECOVERY_FEES,
    RESTRUCTURED,
    SETTLED_PRINCIPAL,
    SETTLEMENT_CASH,
    SETTLEMENT_LOSS,
    SETTLEMENTS,
    WAIVED_INTEREST,
)
from simulator.engine.levers import policy_levers
from simulator.engine.tables import (
    WORST_FIRST,
    base_probits,
    build_tables,
    days_to_pay,
    transition_thresholds,
    with_collections,
)
from simulator.inputs.files import shipped_dir, shipped_names
from simulator.inputs.model import Model
from simulator.inputs.policy import Policy
from simulator.inputs.portfolio import Portfolio, annuity_fen
from simulator.provisions.tables import NOT_RESTRUCTURED
from simulator.run import simulate
from simulator.states import CHARGED_OFF, CURRENT, M1, M6, PAID_OFF, SETTLED
from tests.test_engines import (
    EVERY_LEVER,  # every lever at once, each firing often
    forced,  # transition rows that always go one way
)
from tests.test_engines import simulate as run_tables  # one block through a kernel

ENGINES = {"numba": kernel_numba, "numpy": kernel_numpy}
ENGINE_NAME = {module: name for name, module in ENGINES.items()}
ALWAYS = 2**32  # a threshold every 32-bit word is below: the event always happens
MISS = WORST_FIRST.tolist().index(M1)  # the current row's miss threshold: column of M1
M2 = M1 + 1
SEED = 20240917
ACTIVE = slice(CURRENT, M6 + 1)
TERMINAL = [PAID_OFF, CHARGED_OFF, SETTLED]


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> ModuleType:
    return ENGINES[request.param]


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model()


# --- helpers ----------------------------------------------------------------------------------


def derived(tmp_path: Path, kind: str, base: str, changes: dict[str, str], name: str) -> Path:
    """A copy of the shipped ``kind/base.toml`` with each ``old`` text replaced by ``new``."""
    text = (shipped_dir() / kind / f"{base}.toml").read_text(encoding="utf-8")
    for old, new in changes.items():
        assert old in text, f"{old!r} not in {kind}/{base}.toml"
        text = text.replace(old, new)
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def derived_policy(tmp_path: Path, base: str, changes: dict[str, str], name: str) -> Policy:
    return load_policy(derived(tmp_path, "policy", base, changes, name))


class Loan(NamedTuple):
    principal: int  # fen
    annual_rate: float
    term: int
    state: int = CURRENT
    segment: int = 0
    tier: int = 2
    instalment: int | None = None  # fen; the level annuity over ``term`` when None


def book_of(*loans: Loan) -> Book:
    """A hand-built book; a loan's instalment is its level annuity (fen) unless given."""
    principal = np.array([loan.principal for loan in loans], dtype=np.int64)
    rate = np.array([loan.annual_rate for loan in loans])
    term = np.array([loan.term for loan in loans], dtype=np.int32)
    instalment = annuity_fen(principal, rate, term)
    for i, loan in enumerate(loans):
        if loan.instalment is not None:
            instalment[i] = loan.instalment
    return Book(
        segment=np.array([loan.segment for loan in loans], dtype=np.int8),
        tier=np.array([loan.tier for loan in loans], dtype=np.int8),
        principal=principal,
        monthly_rate=rate / 12.0,
        remaining_term=term,
        instalment=instalment,
        state=np.array([loan.state for loan in loans], dtype=np.int8),
        restructured=np.zeros(len(loans), dtype=np.int32),
        start=np.full(len(loans), -1, dtype=np.int32),
        rank=np.zeros(len(loans), dtype=np.int32),
        opening_loans=len(loans),
        opening_stage=np.zeros(len(loans), dtype=np.int8),
        opening_since=np.full(len(loans), NOT_RESTRUCTURED, dtype=np.int32),
        opening_relief=np.full(len(loans), -1, dtype=np.int8),
    )


def tables_for(
    model: Model,
    book: Book,
    policy: Policy | str,
    *,
    scenario: str = "baseline",
    paths: int = 2,
    horizon: int = 12,
    seed: int = SEED,
) -> Tables:
    """The tables of paths 0..paths-1, with the policy's levers for ``book``."""
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    return build_tables(
        model,
        load_scenario(scenario),
        policy,
        seed=seed,
        paths=range(paths),
        horizon=horizon,
        levers=policy_levers(model, policy, book),
    )


class Totals(NamedTuple):
    flows: np.ndarray  # (P, H, G, F) int64
    stocks: np.ndarray  # (P, H, G, S, 2) int64
    z: np.ndarray  # (P, H, G)

    def flow(self, name: str) -> np.ndarray:
        """(P, H) a flow summed over segments."""
        return self.flows[..., FLOW[name]].sum(axis=-1)


def run(
    engine: ModuleType,
    model: Model,
    book: Book,
    scenario: str,
    policy: Policy | str,
    *,
    paths: int,
    horizon: int,
    seed: int = SEED,
    block: int = 64,
) -> Totals:
    """Kernel totals of every path (in blocks of ``block`` paths), as ``simulate`` gathers them."""
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    levers = policy_levers(model, policy, book)
    probits = base_probits(model, policy)
    parts = []
    for first in range(0, paths, block):
        tables = build_tables(
            model,
            load_scenario(scenario),
            policy,
            seed=seed,
            paths=range(first, min(first + block, paths)),
            horizon=horizon,
            probits=probits,
            levers=levers,
        )
        parts.append((*run_tables(engine, book, tables, chunks=4), tables.z))
    return Totals(*(np.concatenate(arrays) for arrays in zip(*parts, strict=True)))


def schedule(
    principal: int, monthly_rate: float, instalment: int, term: int
) -> list[tuple[int, int]]:
    """(interest, principal) paid in each month of a loan that pays every instalment: interest
    round(balance * rate) first, the last instalment pays whatever is left."""
    rows = []
    for month in range(term):
        interest = round(principal * monthly_rate)  # round half to even, like np.rint
        paid = principal + interest if month == term - 1 else min(instalment, principal + interest)
        rows.append((interest, paid - interest))
        principal -= paid - interest
    assert principal == 0
    return rows


def annuity(principal: int, monthly_rate: float, term: int) -> int:
    """round(principal * r / (1 - (1 + r)^-term)), computed the schoolbook way."""
    return round(principal * (monthly_rate / (1.0 - (1.0 + monthly_rate) ** -term)))


# --- grace ------------------------------------------------------------------------------------


def test_grace_days_per_tier_and_the_days_to_pay_thresholds(model) -> None:
    levers = policy_levers(model, load_policy("grace"), None)
    np.testing.assert_array_equal(levers.grace_days, [3, 2, 1, 0, 0])  # A..E in grace.toml
    assert (policy_levers(model, load_policy("standard"), None).grace_days == 0).all()
    d = model.payments.pay_per_day
    thresholds = days_to_pay(d)
    days = np.arange(31)
    within = (1 - (1 - d) ** days) / (1 - (1 - d) ** 30)  # paid within k days, given 30
    np.testing.assert_array_equal(thresholds[:30], np.floor(within[:30] * 2**32))
    assert thresholds[0] == 0 and thresholds[30] == ALWAYS
    assert (np.diff(thresholds) > 0).all()


def test_grace_moral_hazard_raises_the_miss_probability_by_the_days(model) -> None:
    grace = base_probits(model, load_policy("grace"))
    standard = base_probits(model, load_policy("standard"))
    hazard = model.grace.moral_hazard_per_day
    for g, segment in enumerate(model.segments):
        for k, (tier, days) in enumerate(zip(model.tiers, [3, 2, 1, 0, 0], strict=True)):
            for m, matrix in enumerate([segment.normal, segment.restructured]):
                p = matrix[CURRENT, M1]
                expected = special.ndtri(p * (1.0 + hazard * days)) + tier.delta
                assert grace[g, k, m, CURRENT, MISS] == pytest.approx(expected, abs=1e-12)
                if days == 0:
                    assert grace[g, k, m, CURRENT, MISS] == standard[g, k, m, CURRENT, MISS]
    # Only the current row moves: delinquent rows are untouched by grace.
    np.testing.assert_array_equal(grace[..., M1:, :], standard[..., M1:, :])
    # At Z = 0 the miss threshold is floor(Phi((Phi^-1(p (1 + h days)) + delta) / sqrt(1 - rho))
    # * 2^32).
    rho = np.array([segment.rho for segment in model.segments])
    at_zero = transition_thresholds(grace, rho, np.zeros((1, 1, len(rho))))[0, 0]
    for g, segment in enumerate(model.segments):
        for k, (tier, days) in enumerate(zip(model.tiers, [3, 2, 1, 0, 0], strict=True)):
            p = segment.normal[CURRENT, M1] * (1.0 + hazard * days)
            shifted = special.ndtr((special.ndtri(p) + tier.delta) / math.sqrt(1.0 - segment.rho))
            assert abs(at_zero[g, k, 0, CURRENT, MISS] - math.floor(shifted * 2**32)) <= 1


def test_a_day1_miss_paid_within_the_month_is_recorded_by_the_grace_days(engine, model) -> None:
    """Every due debit fails and every borrower pays two days later (the Day-1 miss of a quick
    payer): all three loans pay their schedule to the fen and stay current. Tier A (3 grace
    days) has a grace cure a month, nothing reported; tier C (1 day) and tier E (none) are
    reported overdue a month, with a contact and two days' penalty interest on the instalment.
    A fourth loan, still unpaid at the month end, is a Day-1 miss not collected in 30 days."""
    loans = [Loan(1_234_500, 0.15, 6, segment=0, tier=tier) for tier in (0, 2, 4)]
    loans.append(Loan(800_000, 0.15, 6, segment=1, tier=0))
    book = book_of(*loans)
    tables = tables_for(model, book, "grace", horizon=8)
    never = forced(tables, {CURRENT: CURRENT, **{s: s for s in range(M1, M6 + 1)}})
    never[:, :, 1] = forced(tables, {CURRENT: M1, **{s: s for s in range(M1, M6 + 1)}})[:, :, 1]
    two_days = np.zeros_like(tables.days_to_pay)
    two_days[2:] = ALWAYS  # not within one day, always within two
    tables = dataclasses.replace(
        tables, transition=never, prepay=np.zeros_like(tables.prepay),
        quick=np.ones_like(tables.quick), days_to_pay=two_days,
    )  # fmt: skip
    flows, stocks = run_tables(engine, book, tables)
    rate, instalment = book.monthly_rate[0], int(book.instalment[0])
    rows = schedule(loans[0].principal, rate, instalment, 6)
    late = int(np.rint(instalment * (rate * tables.penalty_multiplier) * 2 / 30.0))
    for t in range(8):
        f = flows[:, t, 0]
        interest, principal = rows[t] if t < 6 else (0, 0)
        due = instalment if t < 6 else 0
        np.testing.assert_array_equal(f[:, COLLECTED_INTEREST], 3 * interest)
        np.testing.assert_array_equal(f[:, COLLECTED_PRINCIPAL], 3 * principal)
        np.testing.assert_array_equal(f[:, FLOW["due_amount"]], 3 * due)
        np.testing.assert_array_equal(f[:, FLOW["day1_unpaid"]], 3 * due)
        np.testing.assert_array_equal(f[:, FLOW["collected_30d"]], 3 * due)
        np.testing.assert_array_equal(f[:, GRACE_CURES], 1 if t < 6 else 0)
        np.testing.assert_array_equal(f[:, FLOW["reported_overdue"]], 2 if t < 6 else 0)
        np.testing.assert_array_equal(f[:, FLOW["early_contacts"]], 2 if t < 6 else 0)
        np.testing.assert_array_equal(f[:, FLOW["late_interest"]], 2 * late if t < 6 else 0)
        np.testing.assert_array_equal(f[:, DELINQUENT_ACCOUNTS], 0)
    np.testing.assert_array_equal(stocks[:, 5, 0, PAID_OFF, ACCOUNTS], 3)
    # the month-end miss: due and unpaid, reported, nothing collected within 30 days
    first = flows[:, 0, 1]
    np.testing.assert_array_equal(first[:, FLOW["due_amount"]], int(book.instalment[3]))
    np.testing.assert_array_equal(first[:, FLOW["day1_unpaid"]], int(book.instalment[3]))
    np.testing.assert_array_equal(first[:, FLOW["collected_30d"]], 0)
    np.testing.assert_array_equal(first[:, FLOW["reported_overdue"]], 1)
    np.testing.assert_array_equal(stocks[:, 0, 1, M1, ACCOUNTS], 1)


# --- re-instalment ----------------------------------------------------------------------------


def reinstalment_policy(tmp_path: Path, *, eligible: str, cap: int = 1, waive: bool = True):
    """reinstalment-12 with certain application and approval, a 6-month term at half the rate."""
    return derived_policy(
        tmp_path,
        "reinstalment-12",
        {
            'eligible = ["dpd_1_30", "dpd_31_60", "dpd_61_90"]': f"eligible = [{eligible}]",
            "salaried = 0.20, self_employed = 0.30, micro_business = 0.30": (
                "salaried = 1.0, self_employed = 1.0, micro_business = 1.0"
            ),
            "A = 0.90, B = 0.80, C = 0.65, D = 0.45, E = 0.25": (
                "A = 1.0, B = 1.0, C = 1.0, D = 1.0, E = 1.0"
            ),
            "approval_macro_sensitivity = 0.1": "approval_macro_sensitivity = 0.0",
            "term = 12": "term = 6",
            "rate_multiplier = 1.0": "rate_multiplier = 0.5",
            "max_per_loan = 1": f"max_per_loan = {cap}",
            "waive_penalty = true": f"waive_penalty = {str(waive).lower()}",
        },
        f"reinstal-{cap}-{waive}",
    )


@pytest.mark.parametrize("waive", [True, False])
def test_reinstalment_capitalises_arrears_and_pays_a_new_annuity(
    engine, model, tmp_path, waive
) -> None:
    """Misses in months 1 and 2 (M1, then M2 with penalty interest); restructured in month 3:
    accrued interest capitalised (the penalty part waived or not), a new 6-month annuity at half
    the rate, back to current; it then pays the new schedule and is paid off in month 8."""
    policy = reinstalment_policy(tmp_path, eligible='"dpd_31_60"', waive=waive)
    loan = Loan(1_000_000, 0.18, 12, segment=1, tier=3)
    book = book_of(loan)
    tables = tables_for(model, book, policy, horizon=10)
    transition = forced(tables, {CURRENT: M1, M1: M2}, months=slice(0, 2))
    tables = dataclasses.replace(tables, transition=transition, prepay=np.zeros_like(tables.prepay))
    tables = dataclasses.replace(
        tables, transition=forced(tables, {CURRENT: CURRENT}, months=slice(2, None))
    )
    flows, stocks = run_tables(engine, book, tables)
    f, s = flows[:, :, 1], stocks[:, :, 1]

    r = float(book.monthly_rate[0])
    contract = round(loan.principal * r)  # month 1: current at the start, misses
    penalty_rate = round(loan.principal * (r * model.penalty_multiplier))  # month 2: M1 -> M2
    penalty = penalty_rate - round(loan.principal * r)
    accrued = contract + penalty_rate
    capitalised = accrued - penalty if waive else accrued
    principal = loan.principal + capitalised
    new_rate = r * 0.5
    instalment = annuity(principal, new_rate, 6)
    assert instalment == round(principal * tables.levers.reinstal_factor[0])

    np.testing.assert_array_equal(f[:, :2, DELINQUENT_ACCOUNTS], [[0, 1]] * 2)
    np.testing.assert_array_equal(s[:, 1, M2, BALANCE], loan.principal)
    np.testing.assert_array_equal(f[:, :, RESTRUCTURED].sum(axis=1), 1)
    np.testing.assert_array_equal(f[:, 2, RESTRUCTURED], 1)
    np.testing.assert_array_equal(f[:, 2, CAPITALISED_INTEREST], capitalised)
    np.testing.assert_array_equal(f[:, 2, WAIVED_INTEREST], penalty if waive else 0)
    assert f[..., [CAPITALISED_INTEREST, WAIVED_INTEREST]].sum() == 2 * (
        capitalised + (penalty if waive else 0)
    )
    assert f[:, :2, [COLLECTED_INTEREST, COLLECTED_PRINCIPAL]].sum() == 0
    for month, (interest, paid) in enumerate(schedule(principal, new_rate, instalment, 6)):
        t = 2 + month
        np.testing.assert_array_equal(f[:, t, COLLECTED_INTEREST], interest)
        np.testing.assert_array_equal(f[:, t, COLLECTED_PRINCIPAL], paid)
        np.testing.assert_array_equal(f[:, t, DELINQUENT_ACCOUNTS], 0)
    np.testing.assert_array_equal(s[:, 7, PAID_OFF, ACCOUNTS], 1)
    np.testing.assert_array_equal(f[:, 8:, ACTIVE_ACCOUNTS], 0)
    assert f[..., COLLECTED_PRINCIPAL].sum() == 2 * principal


@pytest.mark.parametrize(("cap", "months"), [(1, [2]), (2, [2, 4])])
def test_reinstalment_is_refused_beyond_the_cap_per_loan(engine, model, tmp_path, cap, months):
    """A loan that always misses: M2 in month 2, restructured in month 3 (then misses again), M2
    again in month 4: restructured again only if the cap allows a second time."""
    policy = reinstalment_policy(tmp_path, eligible='"dpd_31_60"', cap=cap)
    book = book_of(Loan(1_000_000, 0.12, 12))
    tables = tables_for(model, book, policy, horizon=10)
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, {s: s + 1 for s in range(M6 + 1)}),
        prepay=np.zeros_like(tables.prepay),
    )
    flows, _ = run_tables(engine, book, tables)
    restructured = flows[..., RESTRUCTURED].sum(axis=-1)  # (P, H)
    expected = np.zeros(10, dtype=np.int64)
    expected[months] = 1
    np.testing.assert_array_equal(restructured, [expected] * 2)


@pytest.mark.parametrize(("factor", "misses"), [(0.0, False), (2.0, True)])
def test_the_affordability_factor_scales_a_restructured_loans_miss_threshold(
    engine, model, tmp_path, factor, misses
) -> None:
    """Restructured in month 3, then on the restructured matrix whose current row misses half
    the time (threshold 2^31): an affordability factor of 0 makes it never miss, a factor of 2
    always (floor(2^31 * 2) = 2^32)."""
    policy = reinstalment_policy(tmp_path, eligible='"dpd_31_60"')
    book = book_of(Loan(1_000_000, 0.12, 12))
    tables = tables_for(model, book, policy, horizon=6)
    levers = tables.levers
    ratio = (np.arange(len(levers.affordability)) + 0.5) / 1024
    np.testing.assert_array_equal(levers.affordability, ratio**model.affordability_power)
    transition = forced(tables, {s: s + 1 for s in range(M6 + 1)})
    transition[:, 2:, :, :, 1, CURRENT, MISS] = 2**31  # restructured, from current, months 3..
    tables = dataclasses.replace(
        tables,
        transition=transition,
        prepay=np.zeros_like(tables.prepay),
        levers=tables.levers._replace(affordability=np.full_like(levers.affordability, factor)),
    )
    flows, stocks = run_tables(engine, book, tables)
    np.testing.assert_array_equal(flows[:, 2, 0, RESTRUCTURED], 1)
    # End of month 3: missed (M1), or paid (current) - and then every month after.
    np.testing.assert_array_equal(stocks[:, 2, 0, M1, ACCOUNTS], 1 if misses else 0)
    np.testing.assert_array_equal(stocks[:, 2:, 0, CURRENT, ACCOUNTS], 0 if misses else 1)


# --- payment holiday --------------------------------------------------------------------------


def test_a_payment_holiday_capitalises_interest_freezes_the_clock_and_extends_the_term(
    engine, model, tmp_path
) -> None:
    """An M1 loan (one instalment in arrears, 6 still to fall due: a 7-instalment annuity) takes
    a 3-month holiday in month 1: interest capitalised, no payment, still M1. In month 4 it
    cures (the arrears and the instalment due), then pays the rest of its schedule: the last
    instalment falls due in month 9, 3 months later than it would have."""
    policy = derived_policy(tmp_path, "holiday-3", {"take_up = 0.40": "take_up = 1.0"}, "hol")
    instalment = int(annuity_fen(np.array([1_000_000]), np.array([0.12]), np.array([7]))[0])
    loan = Loan(1_000_000, 0.12, 6, state=M1, segment=2, tier=1, instalment=instalment)
    book = book_of(loan)
    tables = tables_for(model, book, policy, horizon=12)
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, dict.fromkeys(range(M6 + 1), CURRENT)),
        prepay=np.zeros_like(tables.prepay),
    )
    flows, stocks = run_tables(engine, book, tables)
    f, s = flows[:, :, 2], stocks[:, :, 2]

    r = float(book.monthly_rate[0])
    principal = loan.principal
    for t in range(3):  # the holiday: interest added to principal, the loan stays in M1
        interest = round(principal * r)
        principal += interest
        np.testing.assert_array_equal(f[:, t, CAPITALISED_INTEREST], interest)
        np.testing.assert_array_equal(s[:, t, M1, BALANCE], principal)
        np.testing.assert_array_equal(s[:, t, M1, ACCOUNTS], 1)
        np.testing.assert_array_equal(f[:, t, ACTIVE_ACCOUNTS], 1)
        np.testing.assert_array_equal(f[:, t, DELINQUENT_ACCOUNTS], 0)  # not worked meanwhile
    np.testing.assert_array_equal(f[:, :, HOLIDAYS_STARTED], [[1] + [0] * 11] * 2)
    assert f[:, :3, [COLLECTED_INTEREST, COLLECTED_PRINCIPAL]].sum() == 0
    assert f[:, 3:, CAPITALISED_INTEREST].sum() == 0  # one holiday per loan

    # Month 4: delinquent (penalty interest), cured: one instalment of arrears + the one due.
    accrued = round(principal * (r * model.penalty_multiplier))
    paid = min(2 * instalment, principal + accrued)
    np.testing.assert_array_equal(f[:, 3, DELINQUENT_ACCOUNTS], 1)
    np.testing.assert_array_equal(f[:, 3, COLLECTED_INTEREST], accrued)
    np.testing.assert_array_equal(f[:, 3, COLLECTED_PRINCIPAL], paid - accrued)
    principal -= paid - accrued
    # Then current, one instalment a month: 5 were left to fall due, the last one in month 9.
    for month, (interest, part) in enumerate(schedule(principal, r, instalment, 5)):
        t = 4 + month
        np.testing.assert_array_equal(f[:, t, COLLECTED_INTEREST], interest)
        np.testing.assert_array_equal(f[:, t, COLLECTED_PRINCIPAL], part)
    paid_off = 3 + loan.term - 1  # month 9 rather than month 6
    np.testing.assert_array_equal(s[:, paid_off, PAID_OFF, ACCOUNTS], 1)
    np.testing.assert_array_equal(s[:, :, PAID_OFF, ACCOUNTS].sum(axis=1), 1)
    capitalised = f[:, :, CAPITALISED_INTEREST].sum(axis=1)
    np.testing.assert_array_equal(
        f[:, :, COLLECTED_PRINCIPAL].sum(axis=1), loan.principal + capitalised
    )


# --- settlement -------------------------------------------------------------------------------


def test_settlement_pays_the_balance_less_the_haircut_and_closes_the_loan(
    engine, model, tmp_path
) -> None:
    """An M3 loan rolls to M4 in month 1 (not yet offered: the minimum bucket is M4) and settles
    in month 2: cash = round((principal + accrued) * 0.6), interest first; the principal not
    covered is the settlement loss; the mediator takes round(cash * 0.08)."""
    policy = derived_policy(tmp_path, "settlement", {"acceptance = 0.10": "acceptance = 1.0"}, "s")
    loan = Loan(2_000_000, 0.15, 12, state=3, segment=0, tier=4)
    book = book_of(loan)
    tables = tables_for(model, book, policy, horizon=6)
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, {s: s + 1 for s in range(M6 + 1)}),
        prepay=np.zeros_like(tables.prepay),
    )
    flows, stocks = run_tables(engine, book, tables)
    f, s = flows[:, :, 0], stocks[:, :, 0]

    accrued = round(loan.principal * (book.monthly_rate[0] * model.penalty_multiplier))
    cash = round((loan.principal + accrued) * (1.0 - 0.40))
    principal_part = cash - min(cash, accrued)
    np.testing.assert_array_equal(s[:, 0, 4, BALANCE], loan.principal)  # month 1: M4
    np.testing.assert_array_equal(f[:, 0, NEW_SERIOUS_DELINQUENCIES], 1)
    assert f[:, 0, [SETTLEMENTS, SETTLEMENT_CASH]].sum() == 0
    np.testing.assert_array_equal(f[:, 1, SETTLEMENTS], 1)
    np.testing.assert_array_equal(f[:, 1, SETTLED_PRINCIPAL], loan.principal)
    np.testing.assert_array_equal(f[:, 1, SETTLEMENT_CASH], cash)
    np.testing.assert_array_equal(f[:, 1, SETTLEMENT_LOSS], loan.principal - principal_part)
    np.testing.assert_array_equal(f[:, 1, MEDIATION_FEE], round(cash * 0.08))
    np.testing.assert_array_equal(s[:, 1, SETTLED, ACCOUNTS], 1)
    # Settled before anything else happens that month, and gone afterwards.
    np.testing.assert_array_equal(f[:, 1:, ACTIVE_ACCOUNTS], 0)
    assert s[:, 1:, ACTIVE, ACCOUNTS].sum() == 0
    assert f[..., [CHARGEOFF_PRINCIPAL, COLLECTED_INTEREST, COLLECTED_PRINCIPAL]].sum() == 0
    assert f[..., SETTLEMENTS].sum() == 2


# --- collections intensity --------------------------------------------------------------------


def test_collections_intensity_scales_cures_and_rolls_in_the_rows(model) -> None:
    intensity = 2.0
    response = model.collections
    for segment in model.segments:
        for base in (segment.normal, segment.restructured):
            rows = with_collections(base, intensity, response)
            np.testing.assert_array_equal(rows[CURRENT], base[CURRENT])
            for k in range(M1, M6 + 1):
                cure = base[k, :k] * intensity**response.cure_elasticity
                roll = base[k, k + 1] * (1.0 + response.backlash * (intensity - 1.0))
                stay = 1.0 - cure.sum() - roll
                if stay < 0:  # more than the whole row: cures and roll share it
                    cure, roll, stay = cure / (1 - stay), roll / (1 - stay), 0.0
                np.testing.assert_allclose(rows[k, :k], cure, rtol=1e-12)
                assert rows[k, k + 1] == pytest.approx(roll, rel=1e-12)
                assert rows[k, k] == pytest.approx(stay, abs=1e-12)
                assert rows[k].sum() == pytest.approx(1.0, abs=1e-12)
    assert with_collections(model.segments[0].normal, 1.0, response) is model.segments[0].normal


def test_collection_cost_is_delinquent_account_months_times_cost_times_intensity(engine) -> None:
    """Plus the early contacts (a Day-1 miss paid after the grace days) at ``contact_cost``."""
    book = synthetic_portfolio(300, seed=5)
    ds = simulate(
        book,
        ["adverse"],
        ["standard", "harsh-collections"],
        paths=3,
        horizon=12,
        seed=1,
        engine=ENGINE_NAME[engine],
    )
    for policy, fen_per_account in (("standard", 1_500), ("harsh-collections", 3_000)):
        run_ = ds.sel(scenario="adverse", policy=policy)
        assert run_.delinquent_accounts.sum() > 0
        np.testing.assert_array_equal(
            np.rint(run_.collection_cost.values * 100),
            run_.delinquent_accounts.values * fen_per_account + run_.early_contacts.values * 200,
        )
        assert run_.early_contacts.sum() > 0


# --- legal recovery ---------------------------------------------------------------------------


def legal_policy(tmp_path: Path, *, success: float = 1.0, lag: int = 3, name: str = "legal"):
    """standard plus harsh-collections' legal channel, every case filed (and won if success)."""
    return derived_policy(
        tmp_path,
        "harsh-collections",
        {
            "intensity = 2.0": "intensity = 1.0",
            "share = 0.5 ": "share = 1.0 ",
            "success = 0.5 ": f"success = {success} ",
            "lag_months = 9 ": f"lag_months = {lag} ",
        },
        name,
    )


@pytest.mark.parametrize(
    ("principal", "success", "lag", "judged"),
    [
        (5_000_000, 1.0, 3, 9),  # filed at charge-off (month 7), recovered 3 months later
        (5_000_000, 0.0, 3, 9),  # lost: nothing recovered, and no agency afterwards
        (5_000_000, 1.0, 0, 7),  # regression: a lag of 0 used to be never judged (see levers)
        (1_000_000, 1.0, 3, None),  # below the minimum balance: the agency channel
    ],
)
def test_legal_recovery_at_charge_off(
    engine, model, tmp_path, principal, success, lag, judged
) -> None:
    policy = legal_policy(tmp_path, success=success, lag=lag, name=f"legal-{success}-{lag}")
    book = book_of(Loan(principal, 0.15, 12, segment=2, tier=2))
    tables = tables_for(model, book, policy, horizon=14)
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, {s: s + 1 for s in range(M6 + 1)}),
        prepay=np.zeros_like(tables.prepay),
        recovery_hazard=ALWAYS,  # the agency would recover in the first month it works
    )
    flows, _ = run_tables(engine, book, tables)
    f = flows[:, :, 2]
    r = float(book.monthly_rate[0])
    balance = (
        principal + round(principal * r) + 6 * round(principal * (r * model.penalty_multiplier))
    )
    np.testing.assert_array_equal(
        f[:, 6, CHARGEOFF_PRINCIPAL] + f[:, 6, CHARGEOFF_INTEREST], balance
    )
    assert balance >= 2_000_000 if judged is not None else balance < 2_000_000  # 20,000 CNY

    if judged is None:
        assert f[..., [LEGAL_CASES, LEGAL_COST]].sum() == 0
        np.testing.assert_array_equal(f[:, 7, RECOVERY_FEES] > 0, True)
        return
    np.testing.assert_array_equal(f[:, :, LEGAL_CASES], [[0] * 6 + [1] + [0] * 7] * 2)
    np.testing.assert_array_equal(f[:, 6, LEGAL_COST], 200_000)  # filing cost 2,000 CNY
    assert f[..., LEGAL_COST].sum() == 2 * 200_000
    recovered = round(balance * 0.5) if success else 0
    np.testing.assert_array_equal(f[:, judged, RECOVERIES], recovered)
    np.testing.assert_array_equal(f[:, :, RECOVERIES].sum(axis=1), recovered)
    assert f[..., RECOVERY_FEES].sum() == 0  # no agency for a loan taken to court


# --- early warning ----------------------------------------------------------------------------


@pytest.mark.parametrize("offer", ["holiday", "reinstalment"])
def test_early_warning_offers_only_in_months_below_the_trigger(
    engine, model, tmp_path, offer
) -> None:
    """Three loans: current tier D (vulnerable), current tier A, and tier D in M1. Z is below
    the trigger in months 3 and 6 only: only the first loan gets the offer, in those months."""
    changes = {
        "months = 2": "months = 1",
        "max_per_loan = 1": "max_per_loan = 5",
        'offer = "holiday"\ntake_up = 0.30': f'offer = "{offer}"\ntake_up = 1.0',
    }
    if offer == "reinstalment":  # the terms of reinstalment-12, approved, through EW only
        terms = (shipped_dir() / "policy" / "reinstalment-12.toml").read_text(encoding="utf-8")
        terms = terms[terms.index("[reinstalment]") :]
        for old, new in {
            'eligible = ["dpd_1_30", "dpd_31_60", "dpd_61_90"]': "eligible = []",
            "A = 0.90, B = 0.80, C = 0.65, D = 0.45, E = 0.25": "D = 1.0",
            "approval_macro_sensitivity = 0.1": "approval_macro_sensitivity = 0.0",
            "max_per_loan = 1": "max_per_loan = 5",
        }.items():
            assert old in terms
            terms = terms.replace(old, new)
        changes["[early_warning]"] = f"{terms}\n[early_warning]"
    policy = derived_policy(tmp_path, "early-warning", changes, f"ew-{offer}")
    book = book_of(
        Loan(1_000_000, 0.12, 12, segment=0, tier=3),
        Loan(1_000_000, 0.12, 12, segment=1, tier=0),
        Loan(1_000_000, 0.12, 12, state=M1, segment=2, tier=3),
    )
    tables = tables_for(model, book, policy, horizon=9)
    warning = np.zeros_like(tables.path_levers.ew_active)
    warning[:, [2, 5]] = 1  # months 3 and 6, every segment
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, {CURRENT: CURRENT, M1: M1}),
        prepay=np.zeros_like(tables.prepay),
        path_levers=tables.path_levers._replace(ew_active=warning),
    )
    flows, _ = run_tables(engine, book, tables)
    event = HOLIDAYS_STARTED if offer == "holiday" else RESTRUCTURED
    expected = np.zeros((2, 9, 3), dtype=np.int64)
    expected[:, [2, 5], 0] = 1
    np.testing.assert_array_equal(flows[..., event], expected)
    if offer == "holiday":  # interest capitalised in the holiday months only
        np.testing.assert_array_equal(
            flows[:, :, 0, CAPITALISED_INTEREST] > 0, expected[..., 0] > 0
        )


def test_early_warning_is_on_where_z_is_below_the_trigger(model) -> None:
    policy = load_policy("early-warning")
    tables = tables_for(model, book_of(Loan(100_000, 0.1, 3)), policy, scenario="severe", paths=8)
    on = tables.path_levers.ew_active
    assert policy.early_warning is not None
    np.testing.assert_array_equal(on, tables.z < policy.early_warning.trigger)
    assert 0 < on.sum() < on.size
    off = tables_for(model, book_of(Loan(100_000, 0.1, 3)), "standard", scenario="severe")
    assert off.path_levers.ew_active.sum() == 0


# --- serious delinquency ----------------------------------------------------------------------


def test_a_new_serious_delinquency_is_counted_once_per_loan(engine, model) -> None:
    """Rolls to M4 in month 4 (counted), cures to current in month 5, rolls to M4 again in month
    9 (not counted again). A loan already in M5 at the start is never counted."""
    book = book_of(
        Loan(1_000_000, 0.12, 24, segment=0), Loan(1_000_000, 0.12, 24, state=5, segment=1)
    )
    tables = tables_for(model, book, "standard", horizon=12)
    roll = {s: s + 1 for s in range(M6 + 1)}
    transition = forced(tables, roll)
    tables = dataclasses.replace(tables, transition=transition, prepay=np.zeros_like(tables.prepay))
    tables = dataclasses.replace(
        tables, transition=forced(tables, {4: CURRENT}, months=slice(4, 5))
    )
    flows, stocks = run_tables(engine, book, tables)
    np.testing.assert_array_equal(stocks[:, 3, 0, 4, ACCOUNTS], 1)
    np.testing.assert_array_equal(stocks[:, 4, 0, CURRENT, ACCOUNTS], 1)
    np.testing.assert_array_equal(stocks[:, 8, 0, 4, ACCOUNTS], 1)
    expected = np.zeros(12, dtype=np.int64)
    expected[3] = 1
    np.testing.assert_array_equal(flows[:, :, 0, NEW_SERIOUS_DELINQUENCIES], [expected] * 2)
    assert flows[:, :, 1, NEW_SERIOUS_DELINQUENCIES].sum() == 0


# --- every lever at once, and every lever off -------------------------------------------------

EVERY_LEVER_OFF = """
description = "every lever present, every lever off"

[collections]
intensity = 1.0
cost_per_account = 15.0
contact_cost = 2.0

[grace]
days = { A = 0, B = 0, C = 0, D = 0, E = 0 }

[holiday]
eligible = []
months = 3
take_up = 0.0
max_per_loan = 1

[settlement]
min_bucket = "dpd_31_60"
haircut = 0.4
acceptance = 0.0
channel = "direct"

[legal]
share = 0.0
min_balance = 0.0
filing_cost = 2000.0
lag_months = 9
success = 1.0
recovered_fraction = 0.5

[early_warning]
trigger = 10.0
tiers = ["A", "B", "C", "D", "E"]
offer = "holiday"
take_up = 0.0
"""

REINSTALMENT_OFF = """
[reinstalment]
eligible = ["dpd_1_30", "dpd_31_60", "dpd_61_90"]
application = { salaried = 0.0, self_employed = 0.0, micro_business = 0.0 }
approval = { A = 1.0, B = 1.0, C = 1.0, D = 1.0, E = 1.0 }
term = 12
rate_multiplier = 1.0
max_per_loan = 3
waive_penalty = true
"""

LEVER_COUNTS = [
    "grace_cures",
    "restructured",
    "holidays_started",
    "settlements",
    "legal_cases",
    "capitalised_interest",
    "waived_interest",
    "mediation_fee",
]


def write_policy(tmp_path: Path, name: str, text: str) -> Policy:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def synthetic_book() -> Book:
    return Book.from_portfolio(synthetic_portfolio(1_500, seed=21))


def test_the_accounting_identity_holds_on_every_path_with_every_lever_on(
    engine, model, synthetic_book, tmp_path
) -> None:
    """opening + capitalised interest = collected + prepaid + settled + charged off + closing
    principal, to the fen, on every path; every loan is active or has entered a terminal state."""
    book = synthetic_book
    policy = write_policy(tmp_path, "every-lever", EVERY_LEVER)
    totals = run(engine, model, book, "severe", policy, paths=6, horizon=36)
    for name in LEVER_COUNTS:  # not a vacuous identity: every lever fires on every path
        assert (totals.flow(name).sum(axis=1) > 0).all(), name
    total = totals.flows.sum(axis=(1, 2))  # (P, F)
    closing = totals.stocks[:, -1, :, :, BALANCE].sum(axis=(1, 2))
    sources = book.principal.sum() + total[:, FLOW["capitalised_interest"]]
    uses = closing + sum(
        total[:, FLOW[name]]
        for name in (
            "collected_principal",
            "prepaid_principal",
            "settled_principal",
            "chargeoff_principal",
        )
    )
    np.testing.assert_array_equal(sources, uses)
    accounts = totals.stocks[..., ACCOUNTS].sum(axis=2)  # (P, H, S)
    entered = np.cumsum(accounts[..., TERMINAL], axis=1).sum(axis=-1)
    np.testing.assert_array_equal(accounts[..., ACTIVE].sum(axis=-1) + entered, len(book.principal))
    # The principal part of settlement cash (settled principal less the loss) is within it.
    assert (
        total[:, FLOW["settled_principal"]] - total[:, FLOW["settlement_loss"]]
        <= total[:, FLOW["settlement_cash"]]
    ).all()


def test_a_policy_with_every_lever_off_gives_a_dataset_identical_to_standard(
    engine, model, tmp_path
) -> None:
    """Every table present, nothing can fire: the Dataset of ``standard`` bit for bit, apart
    from the policy's name and the offers it makes that nobody takes (the policy's random words
    are drawn, and change nothing)."""
    off = tmp_path / "all-off.toml"
    off.write_text(EVERY_LEVER_OFF + REINSTALMENT_OFF, encoding="utf-8")
    book = synthetic_portfolio(1_500, seed=2)
    assert kernel_numpy.makes_offers(
        policy_levers(model, load_policy(off), Book.from_portfolio(book))
    )
    ds = simulate(
        book,
        ["severe"],
        ["standard", off],
        paths=8,
        horizon=24,
        seed=9,
        engine=ENGINE_NAME[engine],
    )
    offers = ["settlement_offers", "reinstal_offers", "early_warning_offers"]
    standard = ds.sel(policy="standard", drop=True)
    all_off = ds.sel(policy="all-off", drop=True)
    assert all(float(all_off[name].sum()) > 0 for name in offers)
    assert all(float(standard[name].sum()) == 0 for name in offers)
    assert float(all_off.reinstal_applications.sum()) == 0
    xr.testing.assert_identical(all_off.drop_vars(offers), standard.drop_vars(offers))
    assert float(standard.chargeoff_principal.sum()) > 0
    assert float(standard.recoveries.sum()) > 0


# --- common random numbers --------------------------------------------------------------------


def never_missing_model(tmp_path: Path) -> Model:
    """The default model, except that current salaried loans never miss a payment."""
    row = "current     = [0.996, 0.004, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]"
    path = derived(
        tmp_path, "model", "default", {row: row.replace("0.996, 0.004", "1.0, 0.0")}, "nm"
    )
    return load_model(path)


def test_loans_no_policy_can_touch_have_identical_paths_under_every_policy(
    engine, tmp_path
) -> None:
    """Salaried tier-A loans that never miss, beside delinquent self-employed loans: under a
    policy with every lever on (none of which reaches a current tier-A loan that pays), the
    salaried segment's flows and stocks are those of ``standard`` to the fen; the self-employed
    segment's differ."""
    model = never_missing_model(tmp_path)
    n = 200
    book = book_of(
        *[Loan(500_000 + 1_000 * i, 0.12, 3 + i % 10, segment=0, tier=0) for i in range(n)],
        *[Loan(800_000, 0.15, 12, state=M1 + i % 6, segment=1, tier=3) for i in range(n)],
    )
    policy = write_policy(tmp_path, "every-lever", EVERY_LEVER)
    every = run(engine, model, book, "adverse", policy, paths=6, horizon=24)
    standard = run(engine, model, book, "adverse", "standard", paths=6, horizon=24)
    np.testing.assert_array_equal(every.flows[:, :, 0], standard.flows[:, :, 0])
    np.testing.assert_array_equal(every.stocks[:, :, 0], standard.stocks[:, :, 0])
    assert standard.flows[:, :, 0, FLOW["prepaid_principal"]].sum() > 0
    assert not np.array_equal(every.flows[:, :, 1], standard.flows[:, :, 1])
    np.testing.assert_array_equal(every.z, standard.z)


def test_a_book_that_never_misses_gives_the_same_dataset_under_every_policy(
    engine, tmp_path
) -> None:
    """Current salaried tier-A loans that never miss: every shipped policy, and every lever at
    once, gives the ``standard`` Dataset (prepayments included: a borrower's draws are the same
    under every policy)."""
    model = never_missing_model(tmp_path)
    n = 300
    book = Portfolio(
        loan_id=np.arange(n),
        segment=np.zeros(n, np.int8),
        tier=np.zeros(n, np.int8),
        score=np.full(n, 800, np.int32),
        principal=np.full(n, 1_000_000, np.int64),
        annual_rate=np.full(n, 0.12),
        remaining_term=np.full(n, 12, np.int32),
        instalment=annuity_fen(np.full(n, 1_000_000), np.full(n, 0.12), np.full(n, 12)),
        dpd=np.zeros(n, np.int32),
        restructured=np.zeros(n, np.int32),
        monthly_income=np.zeros(n, np.int64),
        segment_names=model.segment_names,
        tier_names=model.tier_names,
    )
    every_lever = tmp_path / "every-lever.toml"
    every_lever.write_text(EVERY_LEVER, encoding="utf-8")
    policies = [*shipped_names("policy"), every_lever]
    ds = simulate(
        book,
        ["adverse"],
        policies,
        model=model,
        paths=4,
        horizon=15,
        seed=4,
        engine=ENGINE_NAME[engine],
    )
    standard = ds.sel(policy="standard", drop=True)
    assert float(standard.prepaid_principal.sum()) > 0
    for name in ds.policy.values:
        xr.testing.assert_identical(ds.sel(policy=name, drop=True), standard)


# --- directions under adverse ------------------------------------------------------------------


class Claim(NamedTuple):
    policy: str  # a shipped policy, or "legal": standard plus harsh-collections' legal channel
    measure: str
    per_path: Callable[[xr.Dataset], xr.DataArray]  # of one (scenario, policy): dims (path,)
    sign: int  # +1: the policy raises the measure against standard; -1: it lowers it


def horizon_total(name: str) -> Callable[[xr.Dataset], xr.DataArray]:
    return lambda ds: ds[name].sum("month")


CLAIMS = [
    # Grace changes what is recorded of a Day-1 miss paid within the grace days, not the month
    # end: fewer misses reported overdue; moral hazard adds month-end misses (M1 after month 1).
    Claim("grace", "reported overdue", horizon_total("reported_overdue"), -1),
    Claim("grace", "grace cures", horizon_total("grace_cures"), +1),
    Claim("grace", "M1 accounts after month 1", lambda ds: ds.accounts[:, 0, M1], +1),
    Claim("reinstalment-12", "charged-off principal", horizon_total("chargeoff_principal"), -1),
    # Month 1 again: the current row is unchanged. With the default model's rows fitted to Qifu's
    # KPIs (rolls of 72-98% a month) the backlash fills each bucket's row: no loan stays in its
    # bucket and cures hardly move (the cure-and-roll scaling of with_collections), so fewer
    # loans are 1-30 DPD after month 1. (With the earlier rule-of-thumb rows, rolls of 30-85%,
    # more delinquent loans cured fully; that claim no longer holds and was replaced.)
    Claim("harsh-collections", "M1 accounts after month 1", lambda ds: ds.accounts[:, 0, M1], -1),
    Claim("harsh-collections", "collection cost", horizon_total("collection_cost"), +1),
    Claim("settlement", "settlement cash", horizon_total("settlement_cash"), +1),
    Claim("settlement", "charged-off principal", horizon_total("chargeoff_principal"), -1),
    Claim("holiday-3", "capitalised interest", horizon_total("capitalised_interest"), +1),
    Claim("legal", "legal cost", horizon_total("legal_cost"), +1),
    Claim("legal", "recoveries", horizon_total("recoveries"), +1),
]
DIRECTION_SIZES = {"numba": (5_000, 200), "numpy": (2_000, 48)}  # loans, paths
"""The NumPy engine gives the same integers, slower: a smaller run, the same claims."""


@pytest.fixture(scope="module")
def adverse(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], xr.Dataset]:
    """``adverse(engine)``: 24 months of ``adverse`` on a synthetic book under standard and every
    policy of CLAIMS, in one run (the same paths for all), seed 7; one run per engine."""
    legal = derived(
        tmp_path_factory.mktemp("legal"),
        "policy",
        "harsh-collections",
        {"intensity = 2.0": "intensity = 1.0"},
        "legal",
    )
    policies = ["standard", *dict.fromkeys(c.policy for c in CLAIMS)]
    runs: dict[str, xr.Dataset] = {}

    def get(engine_name: str) -> xr.Dataset:
        if engine_name not in runs:
            loans, paths = DIRECTION_SIZES[engine_name]
            runs[engine_name] = simulate(
                synthetic_portfolio(loans, seed=17),
                ["adverse"],
                [legal if name == "legal" else name for name in policies],
                paths=paths,
                horizon=24,
                seed=7,
                engine=engine_name,
            ).sel(scenario="adverse")
        return runs[engine_name]

    return get


def paired_difference(ds: xr.Dataset, claim: Claim) -> tuple[float, float]:
    """Mean over paths of (policy - standard) and its standard error (same seed and paths)."""
    d = claim.per_path(ds.sel(policy=claim.policy)) - claim.per_path(ds.sel(policy="standard"))
    values = d.values.astype(float)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


@pytest.mark.parametrize("engine_name", ["numba", pytest.param("numpy", marks=pytest.mark.slow)])
@pytest.mark.parametrize("claim", CLAIMS, ids=[f"{c.policy}-{c.measure}" for c in CLAIMS])
def test_a_policy_moves_its_measure_in_the_claimed_direction(adverse, engine_name, claim) -> None:
    mean, se = paired_difference(adverse(engine_name), claim)
    assert claim.sign * mean > 3 * se, (
        f"{claim.policy}: {claim.measure} differs from standard by {mean:.2f} (s.e. {se:.2f})"
    )


def test_macro_paths_are_the_same_under_every_policy(adverse) -> None:
    ds = adverse("numba")
    standard = ds.macro_index.sel(policy="standard")
    assert float(standard.std()) > 0
    for name in ds.policy.values:
        np.testing.assert_array_equal(ds.macro_index.sel(policy=name), standard)
