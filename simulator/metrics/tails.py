"""Tail estimators of a loss sample, with their Monte Carlo error (SPEC 6).

* VaR at level a: the order statistic ``L_(k)``, ``k = ceil(a n)`` (the empirical a-quantile),
  with a distribution-free confidence interval ``[L_(l), L_(u)]`` from the binomial
  distribution of the number of paths below the true quantile (coverage >= the confidence);
* ES at level a: the mean of the ``n - k + 1`` losses from ``L_(k)`` up, with the asymptotic
  normal interval of Brazauskas et al. (2008): ``Var(ES) ~ (Var(L | L >= VaR) + a (ES - VaR)^2)
  / (n (1 - a))``; being asymptotic, it undercovers a little when few paths are in the tail
  (measured on exponential losses, 2,000 paths: 93% coverage for a 95% interval at a = 0.9 and
  0.95, 91% at a = 0.99 with 20 tail paths);
* the difference of two policies' ES on the same paths, with a paired bootstrap interval.

Every path has the same weight here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import stats

from simulator.variables import LEVEL, PATH, POLICY

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


def paired_es(
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
