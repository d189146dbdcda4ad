"""``summarize``: the loss and liquidity distributions of a result Dataset (SPEC 6).

Per scenario and policy (n paths):

* expected loss rate and its standard error ``s / sqrt(n)``, in total and by segment;
* VaR and ES of the loss rate at each level, with confidence intervals (:mod:`.tails`);
* liquidity: probability of a shortfall (buffer < 0) by month with its binomial standard error,
  the buffer fan (quantiles by month), the survival-horizon distribution and its median;
* the mean delinquency balance by state over time, in total and by segment;
* the industry KPIs lenders publish (SPEC 12), each with its standard error over paths: the 90+
  DPD ratio at the horizon (``kpi_dpd90_ratio``), the Day-1 delinquency and 30-day collection
  rates over the horizon (``kpi_day1_delinquency_rate``, ``kpi_collection_rate_30d``: each
  path's amounts summed over the months, then divided) and the new loans' vintage curve by
  months on book (``kpi_vintage_dpd30``; NaN without new lending);
* with provisions (SPEC 10, :mod:`.books`): the opening allowance, the lifetime loss rate with
  its error and tail, the allowance by stage, the NPL, coverage and capital ratio fans, the
  probability of a capital breach, and probability-weighted figures across weighted scenarios.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from simulator.metrics.books import books_summary, has_books
from simulator.metrics.contributions import risk_contributions
from simulator.metrics.tails import CONFIDENCE
from simulator.metrics.weighted import Estimator, Plain, estimator
from simulator.variables import MONTH, PATH

DEFAULT_LEVELS = (0.95, 0.99, 0.999)
FAN_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


KPIS = {
    # name: (numerator, denominator) summed over months per path, or a stock at the horizon
    "kpi_day1_delinquency_rate": ("day1_unpaid", "due_amount", "Day-1 delinquency rate"),
    "kpi_collection_rate_30d": ("collected_30d", "day1_unpaid", "30-day collection rate"),
}


def kpi_summary(
    ds: xr.Dataset, est: Estimator | None = None
) -> dict[str, tuple[xr.DataArray, str, str]]:
    """The published KPIs of a run (module docstring): mean over paths and standard error
    (weighted under tail sampling)."""
    est = est or estimator(ds)
    per_path = {"kpi_dpd90_ratio": (ds["dpd90_ratio"].isel({MONTH: -1}), "90+ DPD ratio at "
                                    "the horizon")}  # fmt: skip
    if "vintage_dpd30" in ds:
        per_path["kpi_vintage_dpd30"] = (ds["vintage_dpd30"], "vintage 30+ DPD rate of the new "
                                         "loans by months on book")  # fmt: skip
    for name, (top, bottom, long_name) in KPIS.items():
        denominator = ds[bottom].sum(MONTH)
        per_path[name] = (ds[top].sum(MONTH) / denominator.where(denominator > 0), long_name)
    out: dict[str, tuple[xr.DataArray, str, str]] = {}
    for name, (values, long_name) in per_path.items():
        n = int(values.notnull().sum(PATH).min())
        out[name] = (est.mean(values), "1", f"{long_name} (mean over paths)")
        se = values.std(PATH, ddof=1) / np.sqrt(max(n, 1)) if n > 1 else values.mean(PATH) * np.nan
        if not isinstance(est, Plain):
            se = est.mean_se(values)
        out[f"{name}_se"] = (se, "1", f"standard error of the {long_name}")
    return out


def summarize(
    ds: xr.Dataset, levels: Sequence[float] = DEFAULT_LEVELS, confidence: float = CONFIDENCE
) -> xr.Dataset:
    """Loss and liquidity distributions per scenario and policy, with Monte Carlo errors.

    Under tail sampling (a ``weight`` that is not 1) every figure is the weighted estimate
    (:mod:`.weighted`), and the summary adds each level's tail effective sample size
    (``tail_ess``) and the largest weight's share of the tail (``max_weight_share``)."""
    n = ds.sizes[PATH]
    est = estimator(ds)
    segment_loss = ds["segment_net_credit_loss"].sum(MONTH) / ds["segment_opening_principal"]
    tails = est.tails(ds["loss_rate"], levels, confidence)
    survival = ds["survival_months"]
    horizon = ds.sizes[MONTH]
    out = xr.Dataset(
        {
            "expected_loss": est.mean(ds["loss_rate"]),
            "expected_loss_se": est.mean_se(ds["loss_rate"]),
            "segment_expected_loss": est.mean(segment_loss),
            "segment_expected_loss_se": est.mean_se(segment_loss),
            **tails.data_vars,
            "expected_net_loss": est.mean(ds["cumulative_net_loss"]),
            "shortfall_probability": est.probability(ds["liquidity_buffer"] < 0),
            "shortfall_probability_se": est.probability_se(ds["liquidity_buffer"] < 0),
            "buffer_fan": est.quantiles(ds["liquidity_buffer"], FAN_QUANTILES),
            "min_buffer_fan": est.quantiles(ds["min_buffer"], FAN_QUANTILES),
            "survival_distribution": xr.concat(
                [est.probability(survival == m) for m in range(1, horizon + 2)],
                dim="survival_month",
            ).assign_coords(survival_month=np.arange(1, horizon + 2)),
            "median_survival": est.median(survival),
            "shortfall_within_12": est.probability(survival <= 12),
            "shortfall_within_12_se": est.probability_se(survival <= 12),
            "shortfall_within_horizon": est.probability(survival <= horizon),
            "delinquency_balance": est.mean(ds["balance"]),
            "segment_delinquency_balance": est.mean(ds["segment_balance"]),
        }
    )
    docs = _docs(confidence)
    if "tail_ess" in out:
        docs["tail_ess"] = ("1", "effective number of paths at or beyond VaR")
        docs["max_weight_share"] = ("1", "largest path weight's share of the weight beyond VaR")
    for name, (units, long_name) in docs.items():
        out[name].attrs.update(units=units, long_name=long_name)
    if "dpd90_ratio" in ds:
        for name, (value, units, long_name) in kpi_summary(ds, est).items():
            out[name] = value
            out[name].attrs.update(units=units, long_name=long_name)
    if has_books(ds):
        for name, (value, units, long_name) in books_summary(ds, levels, confidence, est).items():
            out[name] = value
            out[name].attrs.update(units=units, long_name=long_name)
    contributions = risk_contributions(ds, levels, confidence)
    for key in contributions.data_vars:
        label = str(key)
        by = " by segment and tier" if label.startswith("tier_") else " by segment"
        out[label] = contributions[label]
        out[label].attrs.update(
            units="1", long_name=CONTRIBUTIONS[label.removeprefix("tier_")] + by
        )
    out.attrs.update(paths=n, confidence=confidence)
    if not isinstance(est, Plain):
        out.attrs.update(tail_sampling=str(ds.attrs.get("tail_sampling", "weighted")))
    return out


CONTRIBUTIONS = {
    "var_contribution": "contribution to the VaR of the loss rate (Euler)",
    "es_contribution": "contribution to the ES of the loss rate (Euler: the expected loss in the "
    "tail)",
    "es_contribution_low": "lower bound of the contribution to the ES",
    "es_contribution_high": "upper bound of the contribution to the ES",
}


def _docs(confidence: float) -> dict[str, tuple[str, str]]:
    """name -> (units, long name) of the summary's variables."""
    return {
        "expected_loss": ("1", "expected loss rate"),
        "expected_loss_se": ("1", "standard error of the expected loss rate"),
        "segment_expected_loss": ("1", "expected loss rate by segment"),
        "segment_expected_loss_se": ("1", "standard error of the segment expected loss rate"),
        "var": ("1", "value at risk of the loss rate"),
        "var_low": ("1", f"lower {confidence:.0%} bound of the VaR"),
        "var_high": ("1", f"upper {confidence:.0%} bound of the VaR"),
        "es": ("1", "expected shortfall of the loss rate"),
        "es_low": ("1", f"lower {confidence:.0%} bound of the ES"),
        "es_high": ("1", f"upper {confidence:.0%} bound of the ES"),
        "expected_net_loss": ("CNY", "expected cumulative net credit loss"),
        "shortfall_probability": ("1", "probability that the buffer is below zero"),
        "shortfall_probability_se": ("1", "standard error of the shortfall probability"),
        "buffer_fan": ("CNY", "quantiles of the liquidity buffer by month"),
        "min_buffer_fan": ("CNY", "quantiles of the minimum buffer"),
        "survival_distribution": ("1", "share of paths whose buffer first goes below zero in "
                                  "each month (horizon + 1: never)"),
        "median_survival": ("month", "median survival horizon"),
        "shortfall_within_12": ("1", "probability of a liquidity shortfall within 12 months"),
        "shortfall_within_12_se": ("1", "standard error of the 12-month shortfall "
                                   "probability"),
        "shortfall_within_horizon": ("1", "probability of a liquidity shortfall within the "
                                     "horizon"),
        "delinquency_balance": ("CNY", "mean principal by state and month"),
        "segment_delinquency_balance": ("CNY", "mean principal by segment, state and month"),
    }  # fmt: skip
