"""``compare``: each policy against a baseline on the same paths (common random numbers).

For each measure of ``COMPARED`` - the horizon loss rate, the minimum buffer, new serious
delinquencies, the policy's costs and its interest income over the horizon, and (with
provisions) the lifetime loss rate, the credit loss expense, the net income and the capital
ratio at the horizon - the mean paired difference with its normal interval, the share of paths
on which the policy does better, and the paired and unpaired standard errors; for ES, the
paired interval of :func:`.tails.paired_es`. A policy is ranked on its lifetime loss (what it
defers past the horizon counted), the horizon loss beside it.

Under tail sampling (SPEC 13) the paths are weighted (:mod:`.weighted`): the mean differences
and their standard errors are the weighted ones, and the ES difference's interval comes from
sectioning instead of the bootstrap (``es_better_share``: the share of sections in which the
policy's ES is the lower).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from simulator.errors import InputError
from simulator.metrics.books import has_books
from simulator.metrics.tails import CONFIDENCE, paired_es
from simulator.metrics.weighted import Plain, Weighted, estimator, weighted_es_difference
from simulator.variables import MONTH, PATH, POLICY

COMPARED = {
    # measure: better when lower?
    "loss_rate": True,
    "min_buffer": False,
    "serious_delinquencies": True,
    "policy_costs": True,  # collection, legal, mediation and waived interest: CNY
    "interest_income": False,  # interest collected, penalty and settlement interest: CNY
    "lifetime_loss_rate": True,  # with provisions (SPEC 10)
    "credit_loss_expense": True,  # with provisions: summed over the horizon, CNY
    "net_income": False,  # with provisions: after-tax profit over the horizon, CNY
    "capital_ratio": False,  # with provisions: at the horizon's last month
}
COSTS = ("collection_cost", "legal_cost", "mediation_fee", "waived_interest")
"""What a policy spends, or gives up, to get its loss: its cost side in ``compare``."""


def interest_income(ds: xr.Dataset) -> xr.DataArray:
    """Interest earned per path and month: instalment and prepayment interest, late payers'
    penalty interest and the interest part of settlement cash (a policy's forgone interest is
    the fall in it)."""
    settled = ds["settlement_cash"] - (ds["settled_principal"] - ds["settlement_loss"])
    return ds["collected_interest"] + ds["late_interest"] + settled


def _per_path(ds: xr.Dataset) -> xr.Dataset:
    values = {
        "loss_rate": ds["loss_rate"],
        "min_buffer": ds["min_buffer"],
        "serious_delinquencies": ds["new_serious_delinquencies"].sum(MONTH),
        "policy_costs": ds[list(COSTS)].to_dataarray().sum(["variable", MONTH]),
        "interest_income": interest_income(ds).sum(MONTH),
    }
    if has_books(ds):
        values["lifetime_loss_rate"] = ds["lifetime_loss_rate"]
        values["credit_loss_expense"] = ds["credit_loss_expense"].sum(MONTH)
        values["net_income"] = ds["capital"].isel({MONTH: -1}, drop=True) - ds["opening_capital"]
        values["capital_ratio"] = ds["capital_ratio"].isel({MONTH: -1}, drop=True)
    return xr.Dataset(values)


def compare(
    ds: xr.Dataset,
    baseline: str = "standard",
    level: float = 0.99,
    confidence: float = CONFIDENCE,
    resamples: int = 1000,
    seed: int = 0,
) -> xr.Dataset:
    """Each policy against ``baseline`` on the same paths (scenario by scenario).

    For the loss rate, the minimum buffer and the number of new serious delinquencies: the mean
    paired difference (policy - baseline), its confidence interval, the share of paths on which
    the policy does better, and the standard errors of the paired and of an unpaired comparison
    (their ratio is the variance reduction that common random numbers bring). For ES at
    ``level``: the difference of the ES estimates with its paired asymptotic interval
    (:func:`.tails.paired_es`), and the share of paired bootstrap draws (paths resampled jointly
    for both policies; ``resamples`` draws from ``seed``) in which the policy's ES is the lower.
    """
    if baseline not in ds[POLICY].values:
        known = ", ".join(map(str, ds[POLICY].values))
        raise InputError(None, f"baseline policy '{baseline}' is not in the results ({known})")
    est = estimator(ds)
    out = _paired_means(_per_path(ds), baseline, confidence, est)
    if isinstance(est, Weighted):  # sectioning on the weighted paths instead of the bootstrap
        base = ds["loss_rate"].sel({POLICY: baseline})
        table = weighted_es_difference(ds["loss_rate"], base, est.w, level, confidence)
        es_diff, es_low, es_high, es_better = (table.isel(measure=i, drop=True) for i in range(4))
    else:
        es_diff, es_low, es_high, es_better = paired_es(
            ds["loss_rate"], baseline, level, confidence, resamples, seed
        )
    out["es_diff"], out["es_diff_low"], out["es_diff_high"] = es_diff, es_low, es_high
    out["es_better_share"] = es_better
    out.attrs.update(baseline=baseline, level=level, confidence=confidence, paths=ds.sizes[PATH])
    return out


def _paired_means(
    values: xr.Dataset, baseline: str, confidence: float, est: Plain | Weighted
) -> xr.Dataset:
    """Mean paired differences, intervals, standard errors and the share of better paths."""
    base = values.sel({POLICY: baseline})
    diff = values - base
    n = est.n
    z = stats.norm.ppf(0.5 + confidence / 2)
    out = xr.Dataset()
    for measure, lower_is_better in COMPARED.items():
        if measure not in values:
            continue
        d = diff[measure]
        if isinstance(est, Plain):
            mean = d.mean(PATH)
            se = d.std(PATH, ddof=1) / np.sqrt(n)
            unpaired = np.sqrt(
                values[measure].var(PATH, ddof=1) / n + base[measure].var(PATH, ddof=1) / n
            )
        else:
            mean, se = est.mean(d), est.mean_se(d)
            unpaired = np.sqrt(est.mean_se(values[measure]) ** 2 + est.mean_se(base[measure]) ** 2)
        better = (d < 0) if lower_is_better else (d > 0)
        out[f"{measure}_diff"] = mean
        out[f"{measure}_diff_low"] = mean - z * se
        out[f"{measure}_diff_high"] = mean + z * se
        out[f"{measure}_diff_se"] = se
        out[f"{measure}_unpaired_se"] = unpaired
        out[f"{measure}_better_share"] = est.probability(better)
    return out
