"""Risk contributions (``metrics.contributions``): the Euler allocation of VaR and ES of the loss
rate to segments and score tiers adds up to the portfolio VaR and ES exactly, plain and under
tail sampling; plain and weighted contributions agree within their intervals
(``tests/test_tail.py``, slow)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simulator import simulate, summarize, synthetic_portfolio
from simulator.metrics.contributions import risk_contributions
from simulator.tail import TailSampling

LEVELS = (0.9, 0.99)


@pytest.fixture(scope="module")
def runs() -> dict[str, xr.Dataset]:
    book = synthetic_portfolio(1_000, seed=4)
    options = {"paths": 120, "horizon": 12, "seed": 6}
    return {
        "plain": simulate(book, ["severe"], ["standard", "settlement"], **options),
        "weighted": simulate(
            book,
            ["severe"],
            ["standard", "settlement"],
            tail=TailSampling("loss", pilot=32),
            **options,
        ),
    }


@pytest.mark.filterwarnings("ignore::simulator.metrics.weighted.TailWeightWarning")  # few paths
@pytest.mark.parametrize("kind", ["plain", "weighted"])
def test_contributions_add_up_to_the_portfolio_var_and_es(runs, kind: str) -> None:
    ds = runs[kind]
    summary = summarize(ds, levels=LEVELS)
    assert ("tail_ess" in summary) == (kind == "weighted")
    for prefix, parts in (("", ["segment"]), ("tier_", ["segment", "tier"])):
        for measure in ("var", "es"):
            total = summary[f"{prefix}{measure}_contribution"].sum(parts)
            np.testing.assert_allclose(total, summary[measure], rtol=1e-10, atol=0)
        low, high = (
            summary[f"{prefix}es_contribution_low"],
            summary[f"{prefix}es_contribution_high"],
        )
        assert bool((low <= summary[f"{prefix}es_contribution"]).all())
        assert bool((summary[f"{prefix}es_contribution"] <= high).all())
    # every segment carries some of the tail, and the segments' shares of the ES are the tiers'
    assert bool((summary.es_contribution > 0).all())
    np.testing.assert_allclose(summary.tier_es_contribution.sum("tier"), summary.es_contribution,
                               rtol=1e-10)  # fmt: skip


def test_plain_es_contributions_are_the_tail_paths_segment_losses(runs) -> None:
    ds = runs["plain"].sel(scenario="severe", policy="standard")
    loss = ds.loss_rate.values
    k = int(np.ceil(0.99 * len(loss)))
    tail = np.argsort(loss, kind="stable")[k - 1 :]
    parts = (ds.segment_net_credit_loss.sum("month") / ds.opening_principal).values
    got = risk_contributions(runs["plain"], (0.99,)).sel(scenario="severe", policy="standard")
    np.testing.assert_allclose(got.es_contribution.sel(level=0.99), parts[tail].mean(axis=0))
