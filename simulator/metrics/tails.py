"""Tail estimators of a loss sample, with their Monte Carlo error (SPEC 6).

* VaR at level a: the order statistic ``L_(k)``, ``k = ceil(a n)`` (the empirical a-quantile),
  with a distribution-free confidence interval ``[L_(l), L_(u)]`` from the binomial
  distribution of the number of paths below the true quantile (coverage >= the confidence);
* ES at level a: the mean of the ``m = n - k + 1`` losses from ``L_(k)`` up, with the asymptotic
  standard error of Brazauskas et al. (2008), ``Var(ES) ~ (Var(L | L >= VaR) + a (ES - VaR)^2)
  / (n (1 - a))``. The symmetric normal interval ``ES +- z se`` undercovers with few paths in the
  tail, as the estimator is skewed (measured on Vasicek losses, 1,000 paths at a = 0.99: 86% for
  a nominal 95%; 77% with 400 paths). The interval is therefore taken on the log of the excess
  ``x = ES - VaR_low`` over the VaR's lower confidence bound (positive, right-skewed; the delta
  method gives ``se / x`` for its log) with Student's t at ``m - 2`` degrees of freedom (the
  tail's mean and the VaR's position both come from the m tail paths):
  ``[VaR_low + x exp(-t se / x), VaR_low + x exp(t se / x)]``. Measured coverage for a nominal
  95% (``tests/test_metrics.py``): 93.5-95% on Vasicek and exponential losses from 400 paths
  at a = 0.99 to 5,000 at a = 0.999; heavier tails (Pareto, index 4) 90-94%;
* the difference D of two policies' ES on the same paths, with a paired asymptotic interval:
  each path's influence on D, ``(max(L_p - VaR_p, 0) - max(L_b - VaR_b, 0)) / (1 - a)``, has
  the variance of D times n (the paired form of the variance above), and the interval is
  ``D +- t se`` with Student's t at ``m - 2`` degrees of freedom. Measured coverage for a
  nominal 95% at a = 0.99 with 1,000 paths (Vasicek losses, the policy with its own
  borrower-level noise): 96-98%; the percentile interval of the paired bootstrap it replaces: 90%.
  In the limit where one policy's loss is an exact increasing function of the other's the
  interval covers 92% (the bootstrap 86%). The bootstrap still gives the share of resamples in
  which the policy's ES is the lower.

Every path has the same weight here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import stats

from simulator.variables import LEVEL, PATH, POLICY

CONFIDENCE = 0.95


def tail_rank(n: int, level: float) -> int:
    """The 1-based rank ``k = ceil(a n)`` of the a-quantile among n ordered losses (1..n)."""
    return min(max(int(np.ceil(level * n)), 1), n)


def tail_estimates(losses: np.ndarray, level: float, confidence: float = CONFIDENCE) -> np.ndarray:
    """[VaR, VaR low, VaR high, ES, ES low, ES high] of a 1-D sample at ``level``."""
    ordered = np.sort(losses)
    n = len(ordered)
    k = tail_rank(n, level)
    var = ordered[k - 1]
    tail = ordered[k - 1 :]
    es = tail.mean()
    alpha = 1.0 - confidence
    low = int(stats.binom.ppf(alpha / 2, n, level))  # ranks l, u with P(l <= B < u) >= 1 - alpha
    high = int(stats.binom.ppf(1 - alpha / 2, n, level)) + 1
    var_low, var_high = ordered[max(low, 1) - 1], ordered[min(high, n) - 1]
    spread = tail.var(ddof=1) if len(tail) > 1 else 0.0
    es_se = np.sqrt((spread + level * (es - var) ** 2) / (n * (1.0 - level)))
    t = stats.t.ppf(1 - alpha / 2, max(len(tail) - 2, 1))
    excess = es - var_low
    if excess <= 0:  # a flat tail: nothing to take the log of
        return np.array([var, var_low, var_high, es, es - t * es_se, es + t * es_se])
    stretch = np.exp(t * es_se / excess)
    return np.array([var, var_low, var_high, es, var_low + excess / stretch,
                     var_low + excess * stretch])  # fmt: skip


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
    """ES(policy) - ES(baseline), its paired asymptotic interval (module docstring) and the
    paired bootstrap's share of resamples below 0."""

    def es(sample: np.ndarray) -> np.ndarray:  # ES along the last axis
        ordered = np.sort(sample, axis=-1)
        return ordered[..., tail_rank(ordered.shape[-1], level) - 1 :].mean(axis=-1)

    def half_width(policy: np.ndarray, reference: np.ndarray) -> float:
        n = len(policy)
        k = tail_rank(n, level)
        var_p, var_b = np.sort(policy)[k - 1], np.sort(reference)[k - 1]
        influence = (np.maximum(policy - var_p, 0) - np.maximum(reference - var_b, 0)) / (1 - level)
        tail = n - k + 1
        t = stats.t.ppf(1 - (1 - confidence) / 2, max(tail - 2, 1))
        return float(t * influence.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0

    rng = np.random.default_rng(seed)
    n = loss.sizes[PATH]
    draws = rng.integers(0, n, size=(resamples, n))
    base = loss.sel({POLICY: baseline})

    def estimate(policy: np.ndarray, reference: np.ndarray) -> np.ndarray:
        point = es(policy) - es(reference)
        boot = es(policy[draws]) - es(reference[draws])
        width = half_width(policy, reference)
        return np.array([point, point - width, point + width, (boot < 0).mean()])

    table = xr.apply_ufunc(
        estimate, loss, base, input_core_dims=[[PATH], [PATH]], output_core_dims=[["measure"]],
        vectorize=True,
    )  # fmt: skip
    return (table.isel(measure=0, drop=True), table.isel(measure=1, drop=True),
            table.isel(measure=2, drop=True), table.isel(measure=3, drop=True))  # fmt: skip
