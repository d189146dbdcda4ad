"""The industry KPIs as outputs (SPEC 12) and the shipped defaults against what lenders publish.

The KPIs: the 90+ DPD ratio (principal 91-180 DPD over principal on book, per path and month),
with the Day-1 delinquency and 30-day collection rates, in the Dataset and in ``summarize``.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulator import simulate, summarize
from simulator.states import STATES

ACTIVE = list(STATES[:7])
SERIOUS = ["dpd_91_120", "dpd_121_150", "dpd_151_180"]


@pytest.fixture(scope="module")
def small_run():
    return simulate(2_000, ["baseline", "severe"], ["standard", "settlement"], paths=6,
                    horizon=9, seed=5)  # fmt: skip


def test_the_90_plus_ratio_is_the_serious_balance_over_the_book(small_run) -> None:
    ds = small_run
    expected = ds.balance.sel(state=SERIOUS).sum("state") / ds.balance.sel(state=ACTIVE).sum(
        "state"
    )
    np.testing.assert_allclose(ds.dpd90_ratio.values, expected.values, rtol=1e-12)
    assert ds.dpd90_ratio.attrs["units"] == "1"
    assert float(ds.dpd90_ratio.sel(scenario="severe").mean()) > float(
        ds.dpd90_ratio.sel(scenario="baseline").mean()
    )


def test_summarize_reports_the_published_kpis(small_run) -> None:
    ds, sm = small_run, summarize(small_run)
    at_horizon = ds.dpd90_ratio.isel(month=-1)
    np.testing.assert_allclose(sm.kpi_dpd90_ratio.values, at_horizon.mean("path").values)
    np.testing.assert_allclose(
        sm.kpi_dpd90_ratio_se.values, (at_horizon.std("path", ddof=1) / np.sqrt(6)).values
    )
    day1 = ds.day1_unpaid.sum("month") / ds.due_amount.sum("month")
    np.testing.assert_allclose(sm.kpi_day1_delinquency_rate.values, day1.mean("path").values)
    collected = ds.collected_30d.sum("month") / ds.day1_unpaid.sum("month")
    np.testing.assert_allclose(sm.kpi_collection_rate_30d.values, collected.mean("path").values)
