"""The treasury's liquidity waterfall against cash flows worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator.inputs.treasury import load_treasury
from simulator.liquidity import INFLOWS, amount_fen, waterfall
from simulator.run import simulate

TREASURY = """
description = "hand case"
basis = "{basis}"
initial_buffer = {buffer}
operating_cost_per_account = 1.0
[[funding]]
name = "one tranche"
amount = {amount}
maturity_month = 3
rate = 0.12
rollover = {{ base = 0.5, sensitivity = {sensitivity}, floor = 0.0 }}
[new_lending]
plan = [[1, 0.0]]
throttle = {{ base = 1.0, sensitivity = 0.0, floor = 0.0 }}
"""


def treasury(tmp_path: Path, *, basis: str = "absolute", buffer: float = 1000.0,
             amount: float = 10_000.0, sensitivity: float = 0.0):  # fmt: skip
    path = tmp_path / "treasury.toml"
    path.write_text(TREASURY.format(basis=basis, buffer=buffer, amount=amount,
                                    sensitivity=sensitivity))  # fmt: skip
    return load_treasury(path)


def flows(paths: int, months: int, inflow_cny: float, cost_cny: float) -> dict[str, np.ndarray]:
    zero = np.zeros((paths, months), np.int64)
    out = {
        name: zero.copy()
        for name in (
            *INFLOWS,
            "originated_principal",
            "collection_cost",
            "legal_cost",
            "mediation_fee",
            "operating_cost",
        )
    }
    out["collected_principal"] += round(inflow_cny * 100)
    out["operating_cost"] += round(cost_cny * 100)
    return out


def test_fixed_cash_flows_give_the_hand_computed_waterfall(tmp_path: Path) -> None:
    """Buffer 1,000; inflow 100 and cost 10 a month; a 10,000 tranche at 12% (100 a month)
    maturing every 3 months with half rolled over."""
    result = waterfall(flows(1, 6, 100.0, 10.0), np.zeros((1, 6)), treasury(tmp_path),
                       spread=np.zeros(6), opening_fen=0)  # fmt: skip
    # month:          1     2      3        4      5      6
    interest = [100, 100, 100, 50, 50, 50]
    repaid = [0, 0, 5_000, 0, 0, 2_500]
    net = [100 - 10 - i - r for i, r in zip(interest, repaid, strict=True)]  # -10 ... -2,460
    buffer = list(np.cumsum(net) + 1000)  # 990, 980, -4,030, -3,990, -3,950, -6,410
    assert list(result.funding_interest[0] / 100) == interest
    assert list(result.funding_repaid[0] / 100) == repaid
    assert list(result.net_cash_flow[0] / 100) == net
    assert list(result.liquidity_buffer[0] / 100) == buffer
    assert result.min_buffer[0] / 100 == -6_410
    assert result.survival_months[0] == 3


def test_spread_rollover_sensitivity_and_book_basis(tmp_path: Path) -> None:
    """Amounts as shares of a 1,000,000 CNY book; a 120 bp spread; rollover 0.5 + 0.2 Z."""
    t = treasury(tmp_path, basis="book", buffer=0.001, amount=0.01, sensitivity=0.2)
    opening = 100_000_000  # fen
    assert amount_fen(t, 0.01, opening) == 1_000_000  # 10,000 CNY
    z = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # two paths, bad and good month 3
    result = waterfall(flows(2, 3, 0.0, 0.0), z, t, spread=np.full(3, 0.012), opening_fen=opening)
    assert list(result.funding_interest[0] / 100) == [110, 110, 110]  # (12% + 1.2%) / 12
    assert result.funding_repaid[0, 2] / 100 == 7_000  # rolls 0.5 - 0.2 = 30%
    assert result.funding_repaid[1, 2] / 100 == 3_000  # rolls 0.5 + 0.2 = 70%
    assert list(result.survival_months) == [3, 3]
    assert list(result.min_buffer / 100) == [1_000 - 330 - 7_000, 1_000 - 330 - 3_000]


def test_never_short_means_survival_past_the_horizon(tmp_path: Path) -> None:
    result = waterfall(flows(1, 2, 1_000.0, 0.0), np.zeros((1, 2)), treasury(tmp_path),
                       spread=np.zeros(2), opening_fen=0)  # fmt: skip
    assert result.survival_months[0] == 3 and result.min_buffer[0] / 100 == 1_900


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_dataset_buffer_is_the_cumulative_net_cash_flow(engine: str) -> None:
    ds = simulate(400, ["severe"], paths=4, seed=2, engine=engine)
    net = ds.net_cash_flow.isel(scenario=0, policy=0)
    buffer = ds.liquidity_buffer.isel(scenario=0, policy=0)
    initial = 0.10 * float(ds.opening_principal.isel(scenario=0, policy=0))
    np.testing.assert_allclose(buffer, initial + net.cumsum("month"), rtol=0, atol=0.011)
    inflow = sum(ds[name] for name in INFLOWS)
    outflow = (ds.originated_principal + ds.collection_cost + ds.legal_cost + ds.mediation_fee
               + ds.operating_cost + ds.funding_interest + ds.funding_repaid)  # fmt: skip
    np.testing.assert_allclose(ds.net_cash_flow, inflow - outflow, rtol=0, atol=1e-6)
    assert np.array_equal(ds.min_buffer, ds.liquidity_buffer.min("month"))


def test_default_treasury_keeps_its_funding_while_it_keeps_its_book() -> None:
    # The default treasury replaces the book's run-off, so in ordinary months (Z >= -1) every
    # maturing tranche rolls over in full; lenders pull back only in bad months.
    from simulator.inputs.files import resolve
    from simulator.liquidity import response

    shipped = load_treasury(resolve("treasury", "default"))
    assert shipped.lending_mode == "replace"
    z = np.array([1.0, 0.0, -1.0, -2.0])
    for tranche in shipped.tranches:
        rolled = response(tranche.rollover, z)
        assert np.allclose(rolled[:3], 1.0, rtol=0.0, atol=1e-12), tranche.name
        assert rolled[3] < 1.0, tranche.name
