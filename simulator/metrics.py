"""Risk metrics of a result Dataset, with their Monte Carlo error (SPEC 6).

``summarize``, per scenario and policy (n paths):

* expected loss rate and its standard error ``s / sqrt(n)``, in total and by segment;
* VaR at level a: the order statistic ``L_(k)``, ``k = ceil(a n)`` (the empirical a-quantile),
  with a distribution-free confidence interval ``[L_(l), L_(u)]`` from the binomial
  distribution of the number of paths below the true quantile (coverage >= the confidence);
* ES at level a: the mean of the ``n - k + 1`` losses from ``L_(k)`` up, with the asymptotic
  normal interval of Brazauskas et al. (2008): ``Var(ES) ~ (Var(L | L >= VaR) + a (ES - VaR)^2)
  / (n (1 - a))``; being asymptotic, it undercovers a little when few paths are in the tail
  (measured on exponential losses, 2,000 paths: 93% coverage for a 95% interval at a = 0.9 and
  0.95, 91% at a = 0.99 with 20 tail paths);
* liquidity: probability of a shortfall (buffer < 0) by month with its binomial standard error,
  the buffer fan (quantiles by month), the survival-horizon distribution and its median;
* the mean delinquency balance by state over time, in total and by segment.

``compare`` pairs each policy with a baseline on the same paths (common random numbers).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import stats

from simulator.variables import LEVEL, MONTH, PATH, POLICY

DEFAULT_LEVELS = (0.95, 0.99, 0.999)
FAN_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
CONFIDENCE = 0.95


def tail_estimates(losses: np.ndarray, level: float, confidence: float = CONFIDENCE) -> np.ndarray:
    """[VaR, VaR low, VaR high, ES, ES low, ES high] of a 1-D sample at ``level``."""
    ordered = np.sort(losses)
    n = len(ordered)
    k = min(max(int(np.ceil(level * n)), 1), n)  # 1-based rank of the a-quantile
    var = ordered[k - 1]
    tail = ordered[k - 1 :]
    es = tail.mean()
    alpha = 1.0 - confidence
    low = int(stats.binom.ppf(alpha / 2, n, level))  # ranks l, u with P(l <= B < u) >= 1 - alpha
    high = int(stats.binom.ppf(1 - alpha / 2, n, level)) + 1
    var_low, var_high = ordered[max(low, 1) - 1], ordered[min(high, n) - 1]
    spread = tail.var(ddof=1) if len(tail) > 1 else 0.0
    es_se = np.sqrt((spread + level * (es - var) ** 2) / (n * (1.0 - level)))
    z = stats.norm.ppf(1 - alpha / 2)
    return np.array([var, var_low, var_high, es, es - z * es_se, es + z * es_se])


def value_at_risk(
    losses: xr.DataArray, levels: Sequence[float], confidence: float = CONFIDENCE
) -> xr.Dataset:
    """VaR and ES along ``path`` at each level, with confidence bounds."""

    def estimates(sample: np.ndarray) -> np.ndarray:
        return np.stack([tail_estimates(sample, a, confidence) for a in levels], axis=-1)

    table = xr.apply_ufunc(
        estimates, losses, input_core_dims=[[PATH]], output_core_dims=[["measure", LEVEL]],
        vectorize=True,
    ).assign_coords({LEVEL: list(levels)})  # fmt: skip
    names = ("var", "var_low", "var_high", "es", "es_low", "es_high")
    return xr.Dataset({name: table.isel(measure=i, drop=True) for i, name in enumerate(names)})


def _mean_and_se(values: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    n = values.sizes[PATH]
    mean = values.mean(PATH)
    se = values.std(PATH, ddof=1) / np.sqrt(n) if n > 1 else xr.full_like(mean, np.nan)
    return mean, se


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
    out.attrs.update(paths=n, confidence=confidence)
    return out


# --- paired comparison -------------------------------------------------------------------------

COMPARED = {
    # measure: (per-path value, better when lower?)
    "loss_rate": True,
    "min_buffer": False,
    "serious_delinquencies": True,
}


def _per_path(ds: xr.Dataset) -> xr.Dataset:
    return xr.Dataset(
        {
            "loss_rate": ds["loss_rate"],
            "min_buffer": ds["min_buffer"],
            "serious_delinquencies": ds["new_serious_delinquencies"].sum(MONTH),
        }
    )


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
    ``level``: the difference of the ES estimates with a paired bootstrap interval (paths
    resampled jointly for both policies; ``resamples`` draws from ``seed``), and the share of
    bootstrap draws in which the policy's ES is the lower.
    """
    if baseline not in ds[POLICY].values:
        known = ", ".join(map(str, ds[POLICY].values))
        from simulator.errors import InputError

        raise InputError(None, f"baseline policy '{baseline}' is not in the results ({known})")
    values = _per_path(ds)
    base = values.sel({POLICY: baseline})
    diff = values - base
    n = ds.sizes[PATH]
    z = stats.norm.ppf(0.5 + confidence / 2)
    out = xr.Dataset()
    for measure, lower_is_better in COMPARED.items():
        d = diff[measure]
        mean = d.mean(PATH)
        se = d.std(PATH, ddof=1) / np.sqrt(n)
        unpaired = np.sqrt(
            values[measure].var(PATH, ddof=1) / n + base[measure].var(PATH, ddof=1) / n
        )
        better = (d < 0) if lower_is_better else (d > 0)
        out[f"{measure}_diff"] = mean
        out[f"{measure}_diff_low"] = mean - z * se
        out[f"{measure}_diff_high"] = mean + z * se
        out[f"{measure}_diff_se"] = se
        out[f"{measure}_unpaired_se"] = unpaired
        out[f"{measure}_better_share"] = better.mean(PATH)
    es_diff, es_low, es_high, es_better = _paired_es(
        ds["loss_rate"], baseline, level, confidence, resamples, seed
    )
    out["es_diff"], out["es_diff_low"], out["es_diff_high"] = es_diff, es_low, es_high
    out["es_better_share"] = es_better
    out.attrs.update(baseline=baseline, level=level, confidence=confidence, paths=n)
    return out


def _paired_es(
    loss: xr.DataArray, baseline: str, level: float, confidence: float, resamples: int, seed: int
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray, xr.DataArray]:
    """ES(policy) - ES(baseline), a paired bootstrap interval and the bootstrap share below 0."""

    def es(sample: np.ndarray) -> np.ndarray:  # ES along the last axis
        ordered = np.sort(sample, axis=-1)
        k = min(max(int(np.ceil(level * ordered.shape[-1])), 1), ordered.shape[-1])
        return ordered[..., k - 1 :].mean(axis=-1)

    rng = np.random.default_rng(seed)
    n = loss.sizes[PATH]
    draws = rng.integers(0, n, size=(resamples, n))
    base = loss.sel({POLICY: baseline})

    def estimate(policy: np.ndarray, reference: np.ndarray) -> np.ndarray:
        point = es(policy) - es(reference)
        boot = es(policy[draws]) - es(reference[draws])
        alpha = 1 - confidence
        interval = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        return np.array([point, *interval, (boot < 0).mean()])

    table = xr.apply_ufunc(
        estimate, loss, base, input_core_dims=[[PATH], [PATH]], output_core_dims=[["measure"]],
        vectorize=True,
    )  # fmt: skip
    return (table.isel(measure=0, drop=True), table.isel(measure=1, drop=True),
            table.isel(measure=2, drop=True), table.isel(measure=3, drop=True))  # fmt: skip
