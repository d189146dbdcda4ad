"""Provisions, asset quality and capital of a result Dataset (SPEC 10), for ``summarize``.

Per scenario and policy: the opening allowance; the lifetime loss rate (horizon losses plus
the closing allowance: deferred losses counted) with its standard error, VaR and ES; the mean
allowance and principal by stage and month, the mean credit loss expense by month; fans (path
quantiles by month) of the NPL ratio, the provision coverage ratio and the capital ratio; the
probability of a capital breach (ratio below the minimum) within 12 months and within the
horizon with its binomial standard error; and the horizon's NPL, coverage and capital ratios.

Across scenarios, when every scenario file gives a ``weight`` (its probability; they are
normalised to sum to 1): the probability-weighted opening allowance, expected loss, expected
lifetime loss and probability of a capital breach (IFRS 9 5.5.17(a): one probability-weighted
number). The weights live in the Dataset as the coordinate ``scenario_weight``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from simulator.metrics.weighted import Estimator, Plain, estimator
from simulator.variables import MONTH, PATH, SCENARIO

FAN = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
WEIGHT = "scenario_weight"


def has_books(ds: xr.Dataset) -> bool:
    """Whether the run booked provisions (``simulate(..., provisions=True)``, the default)."""
    return "allowance" in ds


def books_summary(
    ds: xr.Dataset, levels: Sequence[float], confidence: float, est: Estimator | None = None
) -> dict[str, tuple[xr.DataArray, str, str]]:
    """name -> (value, units, long name) of the SPEC 10 summary figures (weighted under tail
    sampling: ``est``, by default :func:`.weighted.estimator`)."""
    est = est or estimator(ds)
    n = ds.sizes[PATH]
    horizon = ds.sizes[MONTH]
    lifetime = ds["lifetime_loss_rate"]
    tails = est.tails(lifetime, levels, confidence)
    breach = ds["capital_breach_month"]
    within_12, within = est.probability(breach <= 12), est.probability(breach <= horizon)
    last = {MONTH: horizon}
    lifetime_se = (
        lifetime.std(PATH, ddof=1) / np.sqrt(n) if isinstance(est, Plain) else est.mean_se(lifetime)
    )
    out = {
        "opening_allowance": (ds["opening_allowance"], "CNY", "allowance at the as-of date"),
        "expected_lifetime_loss": (est.mean(lifetime), "1", "expected lifetime loss rate"),
        "expected_lifetime_loss_se": (
            lifetime_se, "1", "standard error of the expected lifetime loss rate",
        ),
        "lifetime_var": (tails["var"], "1", "value at risk of the lifetime loss rate"),
        "lifetime_es": (tails["es"], "1", "expected shortfall of the lifetime loss rate"),
        "lifetime_es_low": (tails["es_low"], "1", f"lower {confidence:.0%} bound of the ES"),
        "lifetime_es_high": (tails["es_high"], "1", f"upper {confidence:.0%} bound of the ES"),
        "mean_allowance": (est.mean(ds["allowance"]), "CNY", "mean allowance by stage"),
        "mean_stage_balance": (est.mean(ds["stage_balance"]), "CNY", "mean principal by stage"),
        "mean_credit_loss_expense": (
            est.mean(ds["credit_loss_expense"]), "CNY", "mean credit loss expense by month"
        ),
        "npl_ratio_fan": (_fan(ds["npl_ratio"], est), "1", "quantiles of the NPL ratio by month"),
        "provision_coverage_fan": (
            _fan(ds["provision_coverage"], est), "1",
            "quantiles of the provision coverage by month",
        ),
        "capital_ratio_fan": (
            _fan(ds["capital_ratio"], est), "1", "quantiles of the capital ratio by month"
        ),
        "horizon_npl_ratio": (
            est.mean(ds["npl_ratio"].sel(last)), "1", "mean NPL ratio at the horizon"
        ),
        "horizon_provision_coverage": (
            est.mean(ds["provision_coverage"].sel(last)), "1",
            "mean provision coverage at the horizon",
        ),
        "horizon_capital_ratio": (
            est.mean(ds["capital_ratio"].sel(last)), "1", "mean capital ratio at the horizon"
        ),
        "capital_breach_within_12": (
            within_12, "1", "probability of a capital breach within 12 months"
        ),
        "capital_breach_within_12_se": (
            est.probability_se(breach <= 12), "1",
            "standard error of the 12-month capital breach probability",
        ),
        "capital_breach_probability": (
            within, "1", "probability of a capital breach within the horizon"
        ),
        "capital_breach_probability_se": (
            est.probability_se(breach <= horizon), "1",
            "standard error of the capital breach probability",
        ),
    }  # fmt: skip
    return out | _weighted(ds, out, est)


def _fan(values: xr.DataArray, est: Estimator) -> xr.DataArray:
    with warnings.catch_warnings():  # a month with no NPL at all has no coverage ratio
        warnings.simplefilter("ignore", RuntimeWarning)
        return est.quantiles(values, FAN)


def _weighted(
    ds: xr.Dataset, figures: dict[str, tuple[xr.DataArray, str, str]], est: Estimator
) -> dict[str, tuple[xr.DataArray, str, str]]:
    """Probability-weighted figures across scenarios (empty without a weight for each)."""
    if WEIGHT not in ds.coords or bool(np.isnan(ds[WEIGHT].values).any()):
        return {}
    weights = ds[WEIGHT] / ds[WEIGHT].sum()
    per_scenario: dict[str, tuple[xr.DataArray, str]] = {
        "opening_allowance": (figures["opening_allowance"][0], "CNY"),
        "expected_loss": (est.mean(ds["loss_rate"]), "1"),
        "expected_lifetime_loss": (figures["expected_lifetime_loss"][0], "1"),
        "capital_breach_probability": (figures["capital_breach_probability"][0], "1"),
    }
    out = {}
    for name, (value, units) in per_scenario.items():
        label = f"probability-weighted {name.replace('_', ' ')} across scenarios"
        out[f"weighted_{name}"] = ((value * weights).sum(SCENARIO), units, label)
    return out
