"""The two engines: the Numba kernel and the NumPy reference give identical integers (SPEC 4-5).

* Agreement: every element of flows and stocks (summed over chunks) is equal on a synthetic book
  for every shipped scenario under every shipped policy and under a policy with every lever on at
  once (each lever firing, checked), over 36 months (loans mature, recoveries and legal cases
  play out; a shorter horizon is a prefix of it), and for ``standard`` over 24 months too.
* Reproducibility (SPEC 5): the same totals whatever the chunking, the thread count or the split
  of paths into blocks.
* Accounting: principal is conserved exactly, in fen, on every path under every policy
  (capitalised interest included); every loan is somewhere.
* Hand-checked cases: a book that always pays follows its annuity schedule to the fen; a loan
  that always misses rolls M1..M6 and is charged off in its 7th month with the interest accrued
  at the penalty rate; a matured debt ages a bucket a month, and a cure after maturity pays all.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType

import numba
import numpy as np
import pytest

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
    GRACE_CURES,
    HOLIDAYS_STARTED,
    LEGAL_CASES,
    MEDIATION_FEE,
    N_FLOWS,
    N_STOCKS,
    NEW_SERIOUS_DELINQUENCIES,
    ORIGINATED_PRINCIPAL,
    PREPAID_PRINCIPAL,
    RECOVERIES,
    RECOVERY_FEES,
    RESTRUCTURED,
    SETTLED_PRINCIPAL,
    SETTLEMENTS,
    WAIVED_INTEREST,
)
from simulator.engine.levers import policy_levers
from simulator.engine.tables import QUANTILE_BITS, build_tables
from simulator.inputs.files import shipped_names
from simulator.inputs.model import Model
from simulator.inputs.policy import Policy
from simulator.inputs.portfolio import annuity_fen
from simulator.provisions.tables import NOT_RESTRUCTURED
from simulator.rng import philox4x32_10_numpy
from simulator.states import CHARGED_OFF, CURRENT, M1, M6, PAID_OFF, SETTLED, STATES

ENGINES = {"numba": kernel_numba, "numpy": kernel_numpy}
SCENARIOS = shipped_names("scenario")
POLICIES = [*shipped_names("policy"), "every-lever"]
LEVER_EVENTS = {  # what each policy's levers do, so that agreement is not vacuous
    "grace": [GRACE_CURES],
    "reinstalment-12": [RESTRUCTURED, CAPITALISED_INTEREST, WAIVED_INTEREST],
    "holiday-3": [HOLIDAYS_STARTED, CAPITALISED_INTEREST],
    "settlement": [SETTLEMENTS, MEDIATION_FEE],
    "early-warning": [HOLIDAYS_STARTED],
    "harsh-collections": [LEGAL_CASES],
    "every-lever": [
        GRACE_CURES,
        RESTRUCTURED,
        WAIVED_INTEREST,
        HOLIDAYS_STARTED,
        SETTLEMENTS,
        MEDIATION_FEE,
        LEGAL_CASES,
    ],
}
EVERY_LEVER = """
description = "every lever at once, with probabilities high enough that each fires often"

[collections]
intensity = 1.5
cost_per_account = 20.0

[grace]
days = { A = 3, B = 2, C = 1, D = 1, E = 0 }

[reinstalment]
eligible = ["dpd_1_30", "dpd_31_60"]
application = { salaried = 0.4, self_employed = 0.5, micro_business = 0.5 }
approval = { A = 0.9, B = 0.8, C = 0.7, D = 0.6, E = 0.5 }
approval_macro_sensitivity = 0.1
term = 9
rate_multiplier = 0.8
max_per_loan = 2
waive_penalty = true

[holiday]
eligible = ["dpd_1_30", "dpd_61_90"]
months = 2
take_up = 0.5
max_per_loan = 2

[settlement]
min_bucket = "dpd_91_120"
haircut = 0.35
acceptance = 0.2
channel = "mediation"
mediation_fee = 0.07

[legal]
share = 0.7
min_balance = 100.0
filing_cost = 500.0
lag_months = 3
success = 0.6
recovered_fraction = 0.4

[early_warning]   # trigger 0: offers in about half the path-months
trigger = 0.0
tiers = ["C", "D", "E"]
offer = "reinstalment"
take_up = 0.3
"""
PATHS = 8
SEED = 20240601
ALWAYS = 2**32  # a threshold no 32-bit word reaches: the destination is always taken
ACTIVE = slice(CURRENT, M6 + 1)


@pytest.fixture(params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> ModuleType:
    return ENGINES[request.param]


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model()


@pytest.fixture(scope="module")
def book() -> Book:
    return Book.from_portfolio(synthetic_portfolio(2000, seed=3))


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Policy]:
    """Every policy of POLICIES by name: the shipped ones and ``every-lever``."""
    path: Path = tmp_path_factory.mktemp("policies") / "every-lever.toml"
    path.write_text(EVERY_LEVER, encoding="utf-8")
    return {name: load_policy(path if name == "every-lever" else name) for name in POLICIES}


def tables_for(
    model: Model,
    scenario: str,
    policy: str | Policy,
    paths: range,
    horizon: int,
    book: Book | None = None,
) -> Tables:
    """The tables of a block; the policy's levers are built for ``book`` (needed by a policy
    with re-instalment)."""
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    return build_tables(
        model,
        load_scenario(scenario),
        policy,
        seed=SEED,
        paths=paths,
        horizon=horizon,
        levers=policy_levers(model, policy, book),
    )


def simulate(
    engine: ModuleType, book: Book, tables: Tables, chunks: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """flows (B, H, G, F) and stocks (B, H, G, S, 2) of one block, summed over chunks."""
    shape = (chunks, tables.paths, tables.horizon, tables.transition.shape[2])
    flows = np.zeros((*shape, N_FLOWS), dtype=np.int64)
    stocks = np.zeros((*shape, len(STATES), N_STOCKS), dtype=np.int64)
    engine.run_block(book, tables, flows, stocks)
    return flows.sum(axis=0), stocks.sum(axis=0)


def one_loan_book(
    principal: int, annual_rate: float, term: int, segment: int = 0, tier: int = 2
) -> Book:
    """A book of one current, never-restructured loan with its level annuity instalment."""
    return Book(
        segment=np.array([segment], dtype=np.int8),
        tier=np.array([tier], dtype=np.int8),
        principal=np.array([principal], dtype=np.int64),
        monthly_rate=np.array([annual_rate / 12.0]),
        remaining_term=np.array([term], dtype=np.int32),
        instalment=annuity_fen(np.array([principal]), np.array([annual_rate]), np.array([term])),
        state=np.array([CURRENT], dtype=np.int8),
        restructured=np.array([0], dtype=np.int32),
        start=np.array([-1], dtype=np.int32),
        rank=np.array([0], dtype=np.int32),
        opening_loans=1,
        opening_stage=np.zeros(1, dtype=np.int8),
        opening_since=np.full(1, NOT_RESTRUCTURED, dtype=np.int32),
        opening_relief=np.full(1, -1, dtype=np.int8),
    )


def forced(tables: Tables, destination: dict[int, int], months: slice | None = None) -> np.ndarray:
    """Transition thresholds sending a loan in state s to ``destination[s]`` (in ``months``;
    the other months and states keep the tables' rows)."""
    transition = tables.transition.copy()
    at = slice(None) if months is None else months
    for state, to in destination.items():
        # Destinations are worst first: column w is destination CHARGED_OFF - w. Thresholds of
        # 0 before that column (never taken) and 2^32 from it on (always taken).
        transition[:, at, ..., state, : CHARGED_OFF - to] = 0
        transition[:, at, ..., state, CHARGED_OFF - to :] = ALWAYS
    return transition


# --- the engines agree ------------------------------------------------------------------------


AGREEMENT = [
    *[(scenario, policy, 36) for policy in POLICIES for scenario in SCENARIOS],
    *[(scenario, "standard", 24) for scenario in SCENARIOS],
]


@pytest.mark.parametrize(("scenario", "policy", "horizon"), AGREEMENT)
def test_numba_and_numpy_agree_exactly(model, book, policies, scenario, policy, horizon) -> None:
    tables = tables_for(model, scenario, policies[policy], range(PATHS), horizon, book)
    flows_nb, stocks_nb = simulate(kernel_numba, book, tables, chunks=3)
    flows_np, stocks_np = simulate(kernel_numpy, book, tables)
    # Not a vacuous comparison: loans pay, prepay, roll, are charged off and recovered, and the
    # policy's levers fire.
    for flow in (COLLECTED_PRINCIPAL, PREPAID_PRINCIPAL, CHARGEOFF_PRINCIPAL, RECOVERIES):
        assert flows_nb[..., flow].sum() > 0
    for flow in LEVER_EVENTS.get(policy, []):
        assert flows_nb[..., flow].sum() > 0, flow
    assert stocks_nb[..., M6, ACCOUNTS].sum() > 0
    np.testing.assert_array_equal(flows_np, flows_nb)
    np.testing.assert_array_equal(stocks_np, stocks_nb)


def test_harsh_collections_changes_the_tables(model) -> None:
    standard = tables_for(model, "adverse", "standard", range(2), 6)
    harsh = tables_for(model, "adverse", "harsh-collections", range(2), 6)
    assert not np.array_equal(standard.transition, harsh.transition)


def test_chunking_and_threads_do_not_change_numba_results(model, book) -> None:
    tables = tables_for(model, "severe", "standard", range(PATHS), 24)
    reference = simulate(kernel_numba, book, tables, chunks=1)
    for chunks in (3, 7):
        result = simulate(kernel_numba, book, tables, chunks=chunks)
        np.testing.assert_array_equal(result[0], reference[0])
        np.testing.assert_array_equal(result[1], reference[1])

    if numba.config.NUMBA_NUM_THREADS < 2:  # type: ignore[attr-defined]
        pytest.skip("Numba has a single thread here")
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = simulate(kernel_numba, book, tables, chunks=7)
        numba.set_num_threads(2)
        two = simulate(kernel_numba, book, tables, chunks=7)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[0], reference[0])


def test_paths_do_not_depend_on_the_block(engine, model, book) -> None:
    whole = simulate(engine, book, tables_for(model, "pandemic", "standard", range(8), 24))
    first = simulate(engine, book, tables_for(model, "pandemic", "standard", range(0, 4), 24))
    second = simulate(engine, book, tables_for(model, "pandemic", "standard", range(4, 8), 24))
    for i in (0, 1):
        np.testing.assert_array_equal(np.concatenate([first[i], second[i]]), whole[i])


# --- accounting -------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
def test_principal_is_conserved_on_every_path(engine, model, book, policies, policy) -> None:
    tables = tables_for(model, "severe", policies[policy], range(PATHS), 36, book)
    flows, stocks = simulate(engine, book, tables)
    total = flows.sum(axis=(1, 2))  # (B, F): whole horizon, all segments
    opening = book.principal.sum()
    closing = stocks[:, -1, :, :, BALANCE].sum(axis=(1, 2))  # (B,)
    sources = opening + total[:, ORIGINATED_PRINCIPAL] + total[:, CAPITALISED_INTEREST]
    uses = (
        total[:, COLLECTED_PRINCIPAL]
        + total[:, PREPAID_PRINCIPAL]
        + total[:, SETTLED_PRINCIPAL]
        + total[:, CHARGEOFF_PRINCIPAL]
        + closing
    )
    np.testing.assert_array_equal(sources, uses)
    assert (total[:, CHARGEOFF_PRINCIPAL] > 0).all()

    # Every loan is somewhere at the end of every month: in an active state, or it has entered
    # paid_off, charged_off or settled in that month or before.
    accounts = stocks[..., ACCOUNTS].sum(axis=2)  # (B, H, S)
    entered = np.cumsum(accounts[..., [PAID_OFF, CHARGED_OFF, SETTLED]], axis=1).sum(axis=-1)
    np.testing.assert_array_equal(accounts[..., ACTIVE].sum(axis=-1) + entered, len(book.segment))
    # Recovered cash and fees never exceed what was written off.
    recovered = total[:, RECOVERIES] + total[:, RECOVERY_FEES]
    assert (recovered <= total[:, CHARGEOFF_PRINCIPAL] + total[:, CHARGEOFF_INTEREST]).all()


# --- hand-checked cases -----------------------------------------------------------------------

SCHEDULE_LOANS = [  # (principal in fen, annual rate, term, segment, tier)
    (1_000_000, 0.073, 3, 0, 0),
    (2_345_678, 0.1825, 12, 1, 4),
    (5_000_000, 0.12, 7, 2, 2),
    (999_999, 0.0, 5, 0, 1),
    (12_345_601, 0.24, 18, 1, 3),
]


def annuity_schedule(principal: int, annual_rate: float, term: int) -> list[tuple[int, int, int]]:
    """(interest, principal, balance after) for each month, computed by hand: interest is
    round(balance * rate / 12), the level instalment pays interest first, the last one pays
    whatever is left."""
    monthly = annual_rate / 12.0
    instalment = int(
        annuity_fen(np.array([principal]), np.array([annual_rate]), np.array([term]))[0]
    )
    balance, rows = principal, []
    for month in range(term):
        interest = round(balance * monthly)  # round half to even, like np.rint
        owed = balance + interest
        paid = owed if month == term - 1 else min(instalment, owed)
        interest_paid = min(paid, interest)
        assert interest_paid == interest  # these loans always cover their interest
        balance -= paid - interest_paid
        rows.append((interest_paid, paid - interest_paid, balance))
    assert balance == 0
    return rows


@pytest.mark.parametrize(("principal", "rate", "term", "segment", "tier"), SCHEDULE_LOANS)
def test_a_loan_that_always_pays_follows_its_annuity_schedule(
    engine, model, principal, rate, term, segment, tier
) -> None:
    horizon = 24
    tables = tables_for(model, "adverse", "standard", range(3), horizon)
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, {s: CURRENT for s in range(M6 + 1)}),
        prepay=np.zeros_like(tables.prepay),
    )
    flows, stocks = simulate(engine, one_loan_book(principal, rate, term, segment, tier), tables)
    schedule = annuity_schedule(principal, rate, term)
    zero = (0, 0, 0)
    for t in range(horizon):
        interest, paid_principal, balance = schedule[t] if t < term else zero
        for path in range(tables.paths):
            f, s = flows[path, t, segment], stocks[path, t, segment]
            assert f[COLLECTED_INTEREST] == interest, (path, t)
            assert f[COLLECTED_PRINCIPAL] == paid_principal, (path, t)
            assert f[ACTIVE_ACCOUNTS] == (1 if t < term else 0)
            assert f[DELINQUENT_ACCOUNTS] == 0
            assert s[CURRENT, BALANCE] == balance
            assert s[CURRENT, ACCOUNTS] == (1 if t < term - 1 else 0)  # paid off at maturity
            assert s[PAID_OFF, ACCOUNTS] == (1 if t == term - 1 else 0)
    assert flows[..., COLLECTED_PRINCIPAL].sum() == tables.paths * principal
    assert flows[..., [PREPAID_PRINCIPAL, CHARGEOFF_PRINCIPAL]].sum() == 0


def test_a_loan_that_always_misses_is_charged_off_in_its_seventh_month(engine, model) -> None:
    principal, rate, term, segment = 1_234_567, 0.15, 12, 1
    horizon = 12
    tables = tables_for(model, "baseline", "standard", range(2), horizon)
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, {s: s + 1 for s in range(M6 + 1)}),  # M6 + 1 is charged_off
        prepay=np.zeros_like(tables.prepay),
        recovery_hazard=ALWAYS,  # recovered in the first month of recovery work
    )
    flows, stocks = simulate(engine, one_loan_book(principal, rate, term, segment), tables)
    f, s = flows[:, :, segment], stocks[:, :, segment]  # (B, H, F), (B, H, S, 2)
    assert flows[:, :, [g for g in range(3) if g != segment]].sum() == 0

    # Month 1 accrues at the contract rate; months 2-7 start delinquent: the penalty rate.
    assert tables.penalty_multiplier == model.penalty_multiplier == 1.5
    contract = round(principal * (rate / 12.0))
    penalty = round(principal * (rate / 12.0 * model.penalty_multiplier))
    accrued = contract + 6 * penalty

    for t in range(M6):  # end of month t + 1: M(t + 1), nothing paid
        np.testing.assert_array_equal(s[:, t, M1 + t, BALANCE], principal)
        np.testing.assert_array_equal(s[:, t, ..., ACCOUNTS].sum(axis=-1), 1)
    np.testing.assert_array_equal(f[:, :7, ACTIVE_ACCOUNTS], 1)
    np.testing.assert_array_equal(f[:, :7, DELINQUENT_ACCOUNTS], [[0, 1, 1, 1, 1, 1, 1]] * 2)
    np.testing.assert_array_equal(f[:, 7:, ACTIVE_ACCOUNTS], 0)
    assert f[..., [COLLECTED_INTEREST, COLLECTED_PRINCIPAL, PREPAID_PRINCIPAL]].sum() == 0
    # Reported to the bureau once, when it first reaches 90+ DPD (M4, the 4th month).
    np.testing.assert_array_equal(f[:, :, NEW_SERIOUS_DELINQUENCIES].sum(axis=1), 1)
    np.testing.assert_array_equal(f[:, 3, NEW_SERIOUS_DELINQUENCIES], 1)

    # Charged off in the 7th month (index 6): principal and accrued interest written off.
    np.testing.assert_array_equal(f[:, 6, CHARGEOFF_PRINCIPAL], principal)
    np.testing.assert_array_equal(f[:, 6, CHARGEOFF_INTEREST], accrued)
    np.testing.assert_array_equal(s[:, 6, CHARGED_OFF, ACCOUNTS], 1)
    np.testing.assert_array_equal(s[:, 6, ACTIVE, ACCOUNTS].sum(axis=-1), 0)
    assert f[..., CHARGEOFF_PRINCIPAL].sum() == tables.paths * principal

    # Recovered in the 8th month: fraction from word 3's top bits of that borrower-month.
    for path in range(tables.paths):
        counter = np.array([0, path, 7 << 4, tables.stream], dtype=np.uint32)
        w3 = int(philox4x32_10_numpy(counter, np.array(tables.key, dtype=np.uint32))[3])
        fraction = tables.recovery_quantiles[w3 >> (32 - QUANTILE_BITS)]
        gross = round((principal + accrued) * fraction)
        fee = round(gross * model.recovery.agency_fee)
        assert f[path, 7, RECOVERIES] == gross - fee > 0
        assert f[path, 7, RECOVERY_FEES] == fee > 0
        assert f[path, :, RECOVERIES].sum() == gross - fee


@pytest.mark.parametrize("cure_month", [None, 3])
def test_after_maturity_a_debt_ages_and_a_cure_pays_everything(engine, model, cure_month) -> None:
    """Term 2: pays the first instalment, misses the last; then every draw says "stay", but with
    nothing due a debt ages a bucket a month (M1 in month 2, ..., M6 in month 7, charged off in
    month 8) - unless it is drawn back to current in month ``cure_month`` (index), which pays
    the whole debt."""
    principal, rate, segment = 800_000, 0.18, 0
    horizon = 10
    tables = tables_for(model, "baseline", "standard", range(2), horizon)
    stay = forced(tables, {CURRENT: CURRENT, **{s: s for s in range(M1, M6 + 1)}})
    stay[:, 0] = forced(tables, {CURRENT: CURRENT})[:, 0]
    stay[:, 1] = forced(tables, {CURRENT: M1})[:, 1]
    if cure_month is not None:
        stay[:, cure_month] = forced(tables, {s: CURRENT for s in range(M6 + 1)})[:, cure_month]
    tables = dataclasses.replace(
        tables, transition=stay, prepay=np.zeros_like(tables.prepay), recovery_hazard=0
    )
    book = one_loan_book(principal, rate, 2, segment)
    flows, stocks = simulate(engine, book, tables)
    f, s = flows[:, :, segment], stocks[:, :, segment]

    monthly = rate / 12.0
    interest0 = round(principal * monthly)
    balance = principal - (int(book.instalment[0]) - interest0)
    np.testing.assert_array_equal(f[:, 0, COLLECTED_INTEREST], interest0)
    np.testing.assert_array_equal(s[:, 0, CURRENT, BALANCE], balance)
    contract = round(balance * monthly)  # month 2: current at the start, then misses
    penalty = round(balance * (monthly * model.penalty_multiplier))
    np.testing.assert_array_equal(s[:, 1, M1, BALANCE], balance)

    if cure_month is None:
        for t in range(2, 7):  # ages one bucket a month
            np.testing.assert_array_equal(s[:, t, t, BALANCE], balance)
        np.testing.assert_array_equal(f[:, 7, CHARGEOFF_PRINCIPAL], balance)
        np.testing.assert_array_equal(f[:, 7, CHARGEOFF_INTEREST], contract + 6 * penalty)
        assert f[:, 1:, [COLLECTED_INTEREST, COLLECTED_PRINCIPAL]].sum() == 0
    else:
        months_late = cure_month - 1  # penalty months before the cure, the cure month included
        np.testing.assert_array_equal(s[:, cure_month - 1, cure_month - 1, BALANCE], balance)
        np.testing.assert_array_equal(f[:, cure_month, COLLECTED_PRINCIPAL], balance)
        np.testing.assert_array_equal(
            f[:, cure_month, COLLECTED_INTEREST], contract + months_late * penalty
        )
        np.testing.assert_array_equal(s[:, cure_month, PAID_OFF, ACCOUNTS], 1)
        assert f[:, cure_month + 1 :, ACTIVE_ACCOUNTS].sum() == 0
        assert f[..., CHARGEOFF_PRINCIPAL].sum() == 0
    assert f[..., RECOVERIES].sum() == 0
