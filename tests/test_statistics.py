"""Statistical properties of the engine against closed forms (SPEC 4), on both engines.

Tolerances come from the Monte Carlo error of each estimate, with fixed seeds:
* transition frequencies: the mean over paths of a path's frequency estimates the base
  probability (the probit shift leaves the matrix unchanged on average when Z ~ N(0, 1)); its
  standard error is estimated from the paths and the test allows 5 of them;
* the Vasicek limit: the empirical CDF of the loss rate at the closed-form a-quantile is within
  5 binomial standard errors sqrt(a (1 - a) / paths) of a, widened by the granularity of a
  finite book (conditional default-rate noise times the Vasicek density).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from simulator import load_model, load_scenario
from simulator.inputs.portfolio import Portfolio
from simulator.run import simulate
from simulator.states import ACTIVE_STATES, DESTINATIONS, STATES

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(params=["numba", "numpy"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def flat_scenario(tmp_path: Path, phi: float, sigma: float) -> Path:
    """A scenario whose macro variables never move: Z is sigma * eta alone."""
    text = f"""
description = "flat"
horizon = 1
start = 2027-01-01
[factor]
phi = {phi}
sigma = {sigma}
[macro]
unemployment_rate = [[0, 5.0]]
gdp_growth = [[0, 5.0]]
self_employed_income = [[0, 100.0]]
input_cost_index = [[0, 100.0]]
funding_spread_bp = [[0, 80.0]]
"""
    path = tmp_path / "flat.toml"
    path.write_text(text)
    return path


def model_without(
    tmp_path: Path,
    *,
    prepayment: bool = True,
    recovery: bool = True,
    rows: dict[str, str] | None = None,
) -> Path:
    """The default model with prepayment and/or recoveries switched off, rows replaced."""
    text = (SCENARIOS / "model" / "default.toml").read_text()
    if not prepayment:
        for value in ("0.02", "0.015", "0.01"):
            text = text.replace(f"prepayment = {value}\n", "prepayment = 0.0\n")
    if not recovery:
        text = text.replace("monthly_hazard = 0.06", "monthly_hazard = 0.0")
    for old, new in (rows or {}).items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "model.toml"
    path.write_text(text)
    return path


def uniform_book(n: int, *, dpd: int, segment: str, score: int, term: int, model) -> Portfolio:
    """n identical loans of 10,000 CNY, all in one state, segment and tier."""
    code = model.segment_names.index(segment)
    return Portfolio(
        loan_id=np.arange(n),
        segment=np.full(n, code, np.int8),
        tier=model.tier_of(np.full(n, score)),
        score=np.full(n, score, np.int32),
        principal=np.full(n, 1_000_000, np.int64),
        annual_rate=np.full(n, 0.12),
        remaining_term=np.full(n, term, np.int32),
        instalment=np.full(n, 1_000_000 // term + 10_000, np.int64),
        dpd=np.full(n, dpd, np.int32),
        restructured=np.zeros(n, np.int32),
        monthly_income=np.zeros(n, np.int64),
        segment_names=model.segment_names,
        tier_names=model.tier_names,
    )


@pytest.mark.parametrize("row", range(len(ACTIVE_STATES)), ids=list(ACTIVE_STATES))
def test_one_month_transition_frequencies_match_the_base_matrix(
    tmp_path: Path, engine: str, row: int
) -> None:
    model = load_model(model_without(tmp_path, prepayment=False))
    segment = model.segments[0]
    tier_c = 640  # tier C has delta = 0: its rows are the base rows
    assert model.tiers[model.tier_of(np.array([tier_c]))[0]].delta == 0.0
    loans, paths = (20_000, 200) if engine == "numba" else (4_000, 60)
    book = uniform_book(
        loans,
        dpd=30 * row - 15 if row else 0,
        segment=segment.name,
        score=tier_c,
        term=12,
        model=model,
    )
    ds = simulate(
        book,
        [load_scenario(flat_scenario(tmp_path, phi=0.5, sigma=1.0))],
        model=model,
        treasury="run-off",  # the book alone: no new loans in the frequencies or the loss
        paths=paths,
        horizon=1,
        seed=11,
        engine=engine,
    )
    accounts = ds["accounts"].isel(scenario=0, policy=0, month=0)  # (path, state)
    frequency = accounts.values[:, : len(DESTINATIONS)] / loans  # destinations of the row
    mean = frequency.mean(axis=0)
    se = frequency.std(axis=0, ddof=1) / math.sqrt(paths)
    expected = segment.normal[row]
    tolerance = 5 * se + 1e-12  # zero-probability destinations must be exactly zero
    assert np.all(np.abs(mean - expected) <= tolerance), (
        f"{STATES[row]}: simulated {mean.round(4)} vs base {expected} (tolerance "
        f"{tolerance.round(4)})"
    )


def vasicek_quantile(pd: float, rho: float, level: float) -> float:
    return float(
        stats.norm.cdf(
            (stats.norm.ppf(pd) + math.sqrt(rho) * stats.norm.ppf(level)) / math.sqrt(1 - rho)
        )
    )


def vasicek_cdf(x: float, pd: float, rho: float) -> float:
    return float(
        stats.norm.cdf(
            (math.sqrt(1 - rho) * stats.norm.ppf(x) - stats.norm.ppf(pd)) / math.sqrt(rho)
        )
    )


def test_vasicek_limit_loss_quantiles_match_the_closed_form(tmp_path: Path, engine: str) -> None:
    """Term-1 loans starting in M6 whose only outcomes are full cure or charge-off with
    probability PD: one period, default only, LGD 1 (no recoveries), homogeneous; phi = 0,
    sigma = 1, flat macro. The loss rate is then Vasicek-distributed."""
    pd, rho = 0.05, 0.10
    m6 = "dpd_151_180 = [0.0039, 0.0, 0.0019, 0.0019, 0.0038, 0.0057, 0.0114, 0.9714]"
    model = load_model(
        model_without(
            tmp_path,
            recovery=False,
            rows={
                m6: f"dpd_151_180 = [{1 - pd}, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, {pd}]",
                "[segments.salaried]\nrho = 0.08": f"[segments.salaried]\nrho = {rho}",
            },
        )
    )
    loans, paths = (50_000, 4_000) if engine == "numba" else (5_000, 600)
    book = uniform_book(loans, dpd=160, segment="salaried", score=640, term=1, model=model)
    ds = simulate(
        book,
        [load_scenario(flat_scenario(tmp_path, phi=0.0, sigma=1.0))],
        model=model,
        treasury="run-off",  # the book alone: no new loans in the frequencies or the loss
        paths=paths,
        horizon=1,
        seed=5,
        engine=engine,
    )
    loss = np.sort(ds["loss_rate"].isel(scenario=0, policy=0).values)
    for level in (0.5, 0.9, 0.99):
        q = vasicek_quantile(pd, rho, level)
        empirical_cdf = np.searchsorted(loss, q, side="right") / paths
        granularity = math.sqrt(q * (1 - q) / loans)  # default-rate noise given Z
        density = vasicek_cdf(q + granularity, pd, rho) - vasicek_cdf(q - granularity, pd, rho)
        tolerance = 5 * math.sqrt(level * (1 - level) / paths) + density
        assert abs(empirical_cdf - level) <= tolerance, (level, q, empirical_cdf, tolerance)
