"""New-loan cohorts (treasury new-lending plan): how many loans originate, and how they behave.

Every test runs on both engines; the Dataset checks go through ``simulate``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from simulator import load_model, load_scenario, load_treasury, simulate, synthetic_portfolio
from simulator.engine import kernel_numba, kernel_numpy
from simulator.engine.arrays import Book
from simulator.engine.cohorts import lending_plan_fen, new_lending_pool
from simulator.engine.layout import (
    BALANCE,
    COLLECTED_INTEREST,
    COLLECTED_PRINCIPAL,
    N_FLOWS,
    N_STOCKS,
    ORIGINATED_PRINCIPAL,
)
from simulator.engine.levers import policy_levers
from simulator.engine.tables import build_tables
from simulator.inputs.policy import load_policy
from simulator.inputs.portfolio import Portfolio, annuity_fen
from simulator.inputs.treasury import MacroResponse, Treasury
from simulator.states import CURRENT, M6, STATES
from tests.test_engines import annuity_schedule, forced

ENGINES = {"numba": kernel_numba, "numpy": kernel_numpy}
RUN = {"paths": 12, "horizon": 18, "seed": 4}
PLAN = ((1, 0.08), (24, 0.08))


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def book() -> Portfolio:
    return synthetic_portfolio(1_500, seed=2)


def treasury(
    throttle: tuple[float, float, float],
    plan: tuple[tuple[int, float], ...] | None = None,
    basis: str = "book",
) -> Treasury:
    """The run-off treasury (the default's buffer, costs and a funding that shrinks with the
    book) in mode ``plan`` with a throttle (base, sensitivity, floor) and plan (by default 8% of
    the opening book a month, the default treasury's plan before it replaced run-off)."""
    return dataclasses.replace(
        load_treasury("run-off"),
        basis=basis,
        lending_mode="plan",
        lending_plan=PLAN if plan is None else plan,
        lending_throttle=MacroResponse(*throttle),
    )


def fen(values: xr.DataArray) -> np.ndarray:
    return np.rint(values.values * 100).astype(np.int64)


def test_a_throttle_at_zero_originates_nothing(book, engine: str) -> None:
    closed = simulate(book, ["severe"], ["reinstalment-12"], treasury=treasury((0.0, 0.0, 0.0)),
                      engine=engine, **RUN)  # fmt: skip
    assert float(abs(closed.originated_principal).max()) == 0.0
    # ...and the candidates that never originate change nothing: the run-off book, exactly
    run_off = simulate(book, ["severe"], ["reinstalment-12"], treasury="run-off", engine=engine,
                       **RUN)  # fmt: skip
    xr.testing.assert_identical(closed.drop_attrs(), run_off.drop_attrs())


def test_a_flat_plan_originates_the_plan_every_month(book, engine: str) -> None:
    share = 0.05
    flat = treasury((1.0, 0.0, 1.0), plan=((1, share),))
    ds = simulate(book, ["adverse"], ["standard"], treasury=flat, engine=engine, **RUN)
    opening = int(book.principal.sum())
    plan = lending_plan_fen(flat, opening, RUN["horizon"])
    np.testing.assert_array_equal(plan, round(share * opening))
    pool = new_lending_pool(book, flat, RUN["horizon"], RUN["seed"])
    largest = int(book.principal.max())
    originated = fen(ds.originated_principal.isel(scenario=0, policy=0))  # (path, month)
    for t, cumulative in enumerate(pool.cumulative):
        # the month's candidates, all originated on every path, fill the plan to within a loan
        assert plan[t] - largest < cumulative[-1] <= plan[t]
        np.testing.assert_array_equal(originated[:, t], cumulative[-1])
    z = np.zeros((3, RUN["horizon"], len(book.segment_names)))
    sizes = [len(c) for c in pool.cumulative]
    np.testing.assert_array_equal(pool.originations(z), np.tile(sizes, (3, 1)))
    assert len(pool) == sum(sizes)


def test_originations_follow_the_macro_index(book, engine: str) -> None:
    """Each month originates the most candidates that fit plan x clip(base + s Z, floor, 1)."""
    response = (1.0, 0.6, 0.2)
    ds = simulate(book, ["baseline", "severe"], ["standard"], treasury=treasury(response),
                  engine=engine, **RUN)  # fmt: skip
    opening = int(book.principal.sum())
    plan = lending_plan_fen(treasury(response), opening, RUN["horizon"])
    weights = fen(ds.segment_opening_principal.isel(scenario=0, policy=0)) / opening
    book_z = ds.macro_index.isel(policy=0).values @ weights  # (scenario, path, month)
    allowed = np.rint(plan * np.clip(1.0 + 0.6 * book_z, 0.2, 1.0))
    originated = fen(ds.originated_principal.isel(policy=0))
    assert np.all(originated <= allowed)
    assert np.all(originated > allowed - int(book.principal.max()))
    baseline, severe = originated.sum(axis=(1, 2))
    assert severe < baseline


def test_new_loans_enter_the_accounting_identity(book, engine: str) -> None:
    ds = simulate(book, ["severe"], ["settlement", "holiday-3"], engine=engine, **RUN)
    month = "month"
    originated = fen(ds.originated_principal).sum(axis=-1)
    assert originated.min() > 0
    closing = fen(ds.balance.isel(month=-1)).sum(axis=-1)
    out = sum(
        fen(ds[name]).sum(axis=-1)
        for name in ("collected_principal", "prepaid_principal", "settled_principal",
                     "chargeoff_principal")
    )  # fmt: skip
    into = (
        fen(ds.opening_principal)[..., None] + originated + fen(ds.capitalised_interest.sum(month))
    )
    np.testing.assert_array_equal(into, out + closing)


def test_engines_agree_with_new_lending_and_every_policy(book) -> None:
    policies = ["standard", "reinstalment-12", "early-warning", "settlement"]
    runs = [simulate(book, ["pandemic"], policies, engine=e, **RUN).drop_attrs() for e in ENGINES]
    assert float(runs[0].originated_principal.sum()) > 0
    xr.testing.assert_identical(*runs)


def test_a_new_loan_pays_its_annuity_from_the_month_after_origination(engine: str) -> None:
    """One opening loan that always pays, and one new loan like it originated in month 1: its
    first instalment falls due in month 2, and its schedule is the annuity over the template's
    remaining term rounded up to a quarter."""
    model = load_model("default")
    principal, rate, remaining = 800_000, 0.12, 5  # the new loan's term: 6 months
    portfolio = Portfolio(
        loan_id=np.array([1]),
        segment=np.array([0], np.int8),
        tier=np.array([1], np.int8),
        score=np.array([700], np.int32),
        principal=np.array([principal], np.int64),
        annual_rate=np.array([rate]),
        remaining_term=np.array([remaining], np.int32),
        instalment=annuity_fen(np.array([principal]), np.array([rate]), np.array([remaining])),
        dpd=np.array([0], np.int32),
        restructured=np.array([0], np.int32),
        monthly_income=np.array([0], np.int64),
        segment_names=model.segment_names,
        tier_names=model.tier_names,
    )
    one_loan = treasury((1.0, 0.0, 1.0), plan=((1, principal / 100), (2, 0.0)), basis="absolute")
    horizon = 12
    pool = new_lending_pool(portfolio, one_loan, horizon, seed=1)
    assert len(pool) == 1 and pool.start[0] == 0 and pool.remaining_term[0] == 6
    kernel_book = Book.from_portfolio(portfolio, pool)
    policy = load_policy("standard")
    tables = build_tables(model, load_scenario("adverse"), policy, seed=1, paths=range(2),
                          horizon=horizon, levers=policy_levers(model, policy, kernel_book),
                          pool=pool)  # fmt: skip
    tables = dataclasses.replace(
        tables,
        transition=forced(tables, {s: CURRENT for s in range(M6 + 1)}),
        prepay=np.zeros_like(tables.prepay),
    )
    shape = (1, tables.paths, horizon, 3)
    flows = np.zeros((*shape, N_FLOWS), np.int64)
    stocks = np.zeros((*shape, len(STATES), N_STOCKS), np.int64)
    ENGINES[engine].run_block(kernel_book, tables, flows, stocks)
    f, s = flows[0, :, :, 0], stocks[0, :, :, 0]

    old = annuity_schedule(principal, rate, remaining)
    new = annuity_schedule(principal, rate, 6)
    for t in range(horizon):
        interest = (old[t][0] if t < remaining else 0) + (new[t - 1][0] if 1 <= t <= 6 else 0)
        paid = (old[t][1] if t < remaining else 0) + (new[t - 1][1] if 1 <= t <= 6 else 0)
        balance = (old[t][2] if t < remaining else 0) + (
            principal if t == 0 else new[t - 1][2] if t <= 6 else 0
        )
        np.testing.assert_array_equal(f[:, t, COLLECTED_INTEREST], interest, err_msg=str(t))
        np.testing.assert_array_equal(f[:, t, COLLECTED_PRINCIPAL], paid, err_msg=str(t))
        np.testing.assert_array_equal(s[:, t, CURRENT, BALANCE], balance, err_msg=str(t))
    np.testing.assert_array_equal(f[:, 0, ORIGINATED_PRINCIPAL], principal)
    np.testing.assert_array_equal(f[:, 1:, ORIGINATED_PRINCIPAL], 0)


# --- mode "replace": new lending replaces the expected run-off (SPEC 12) ------------------------


def replacing(throttle: tuple[float, float, float] = (1.0, 0.0, 1.0)) -> Treasury:
    return dataclasses.replace(load_treasury("default"), lending_throttle=MacroResponse(*throttle))


def test_the_default_treasury_replaces_run_off() -> None:
    default = load_treasury("default")
    assert default.lending_mode == "replace" and default.lending_plan == ()
    assert load_treasury("run-off").lending_mode == "plan"


def test_replace_lends_the_expected_run_off_of_the_book_and_its_new_loans(book) -> None:
    """Month t lends the fall of the expected balance (contractual annuity balance times the
    survival to prepayment) of the opening book and of every earlier month's candidates: checked
    against a loan-by-loan recomputation of those balances."""
    model = load_model("default")
    prepayment = np.array([s.prepayment for s in model.segments])
    horizon = 8
    pool = new_lending_pool(book, replacing(), horizon, seed=3, prepayment=prepayment)

    def expected(principal, annual_rate, instalment, term, segment, months):
        out = np.zeros(months + 1)
        for p, r, i, n, g in zip(principal, annual_rate, instalment, term, segment, strict=True):
            balance, survival = float(p), 1.0
            out[0] += balance
            for k in range(1, months + 1):
                balance = 0.0 if k >= n else max(balance * (1 + r / 12) - i, 0.0)
                survival *= 1 - prepayment[g]
                out[k] += balance * survival
        return out

    balance = expected(book.principal, book.annual_rate, book.instalment, book.remaining_term,
                       book.segment, horizon)  # fmt: skip
    for t in range(horizon):
        runoff = round(balance[t] - balance[t + 1])
        assert pool.plan_fen[t] == runoff
        cumulative = pool.cumulative[t]
        assert runoff - int(book.principal.max()) < cumulative[-1] <= runoff
        mine = pool.start == t
        order = np.argsort(pool.rank[mine])
        template = pool.template[mine][order]
        balance[t + 1 :] += expected(book.principal[template], book.annual_rate[template],
                                     pool.instalment[mine][order], pool.remaining_term[mine][order],
                                     book.segment[template], horizon - t - 1)  # fmt: skip


def test_replace_keeps_the_book_about_its_size_and_is_throttled(book, engine: str) -> None:
    """Without a throttle the book stays within a few percent of its opening size (what differs
    is the run-off of loans in arrears, replaced on schedule); a throttle lends less."""
    ds = simulate(book, ["baseline"], ["standard"], treasury=replacing(), engine=engine, **RUN)
    on_book = ds.balance.sel(state=list(STATES[: M6 + 1])).sum("state").mean("path")
    size = on_book.isel(scenario=0, policy=0) / float(ds.opening_principal.squeeze())
    assert float(abs(size - 1).max()) < 0.1, size.values
    originated = float(ds.originated_principal.sum())
    throttled = simulate(book, ["baseline"], ["standard"], treasury=replacing((1.0, 0.6, 0.2)),
                         engine=engine, **RUN)  # fmt: skip
    assert 0 < float(throttled.originated_principal.sum()) < originated


def test_the_lending_mode_is_checked(tmp_path) -> None:
    from simulator.errors import InputError

    text = Path(load_treasury("default").source).read_text()
    line = '\nmode = "replace"\n'
    assert line in text
    for replacement, fragment in [
        ('\nmode = "plan"\n', 'mode "plan" needs a plan'),
        ('\nmode = "replace"\nplan = [[1, 0.1]]\n', 'mode "replace" lends what runs off'),
        ('\nmode = "grow"\n', "new_lending.mode"),
    ]:
        bad = tmp_path / "t.toml"
        bad.write_text(text.replace(line, replacement))
        with pytest.raises(InputError, match=fragment):
            load_treasury(bad)
