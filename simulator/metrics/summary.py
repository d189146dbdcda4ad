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
from simulator.metrics.tails import CONFIDENCE, value_at_risk
from simulator.variables import MONTH, PATH

DEFAULT_LEVELS = (0.95, 0.99, 0.999)
FAN_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _mean_and_se(values: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    n = values.sizes[PATH]
    mean = values.mean(PATH)
    se = values.std(PATH, ddof=1) / np.sqrt(n) if n > 1 else xr.full_like(mean, np.nan)
    return mean, se


KPIS = {
    # name: (numerator, denominator) summed over months per path, or a stock at the horizon
    "kpi_day1_delinquency_rate": ("day1_unpaid", "due_amount", "Day-1 delinquency rate"),
    "kpi_collection_rate_30d": ("collected_30d", "day1_unpaid", "30-day collection rate"),
}


def kpi_summary(ds: xr.Dataset) -> dict[str, tuple[xr.DataArray, str, str]]:
    """The published KPIs of a run (module docstring): mean over paths and standard error."""
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
        out[name] = (values.mean(PATH), "1", f"{long_name} (mean over paths)")
        se = values.std(PATH, ddof=1) / np.sqrt(max(n, 1)) if n > 1 else values.mean(PATH) * np.nan
        out[f"{name}_se"] = (se, "1", f"standard error of the {long_name}")
    return out


def summarize(
    ds: xr.Dataset, levels: Sequence[float] = DEFAULT_LEVELS, confidence: float = CONFIDENCE
) -> xr.Dataset:
    """Loss and liquidity distributions per scenario and policy, with Monte Carlo errors."""
    n = ds.sizes[PATH]
    expected, expected_se = _mean_and_se(ds["loss_rate"])
    segment_loss = ds["segment_net_credit_loss"].sum(MONTH) / ds["segment_opening_principal"]
    segment_expected, segment_se = _mean_and_se(segment_loss)
    tails = value_at_risk(ds["loss_rate"], levels, confidence)
    shortfall = (ds["liquidity_buffer"] < 0).mean(PATH)
    survival = ds["survival_months"]
    horizon = ds.sizes[MONTH]
    out = xr.Dataset(
        {
            "expected_loss": expected,
            "expected_loss_se": expected_se,
            "segment_expected_loss": segment_expected,
            "segment_expected_loss_se": segment_se,
            **tails.data_vars,
            "expected_net_loss": ds["cumulative_net_loss"].mean(PATH),
            "shortfall_probability": shortfall,
            "shortfall_probability_se": np.sqrt(shortfall * (1 - shortfall) / n),
            "buffer_fan": ds["liquidity_buffer"].quantile(list(FAN_QUANTILES), PATH),
            "min_buffer_fan": ds["min_buffer"].quantile(list(FAN_QUANTILES), PATH),
            "survival_distribution": xr.concat(
                [(survival == m).mean(PATH) for m in range(1, horizon + 2)], dim="survival_month"
            ).assign_coords(survival_month=np.arange(1, horizon + 2)),
            "median_survival": survival.median(PATH),
            "shortfall_within_12": (survival <= 12).mean(PATH),
            "shortfall_within_horizon": (survival <= horizon).mean(PATH),
            "delinquency_balance": ds["balance"].mean(PATH),
            "segment_delinquency_balance": ds["segment_balance"].mean(PATH),
        }
    )
    docs = {
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
        "shortfall_within_horizon": ("1", "probability of a liquidity shortfall within the "
                                     "horizon"),
        "delinquency_balance": ("CNY", "mean principal by state and month"),
        "segment_delinquency_balance": ("CNY", "mean principal by segment, state and month"),
    }  # fmt: skip
    for name, (units, long_name) in docs.items():
        out[name].attrs.update(units=units, long_name=long_name)
    if "dpd90_ratio" in ds:
        for name, (value, units, long_name) in kpi_summary(ds).items():
            out[name] = value
            out[name].attrs.update(units=units, long_name=long_name)
    if has_books(ds):
        for name, (value, units, long_name) in books_summary(ds, levels, confidence).items():
            out[name] = value
            out[name].attrs.update(units=units, long_name=long_name)
    out.attrs.update(paths=n, confidence=confidence)
    return out
