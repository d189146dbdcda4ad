"""Estimators under tail sampling: every path weighted by its likelihood ratio (SPEC 13).

A run with ``simulate(..., tail=...)`` draws its paths from a law shifted towards the tail and
gives each path its likelihood ratio ``w`` (the ``weight`` variable; :mod:`simulator.tail`).
Every metric of :mod:`simulator.metrics` then takes its estimator from :func:`estimator`: the
plain one (:class:`Plain`, the formulas the metrics always used) when every weight is 1, the
weighted one (:class:`Weighted`) otherwise. Weighted, over n paths with weights ``w_i``:

* means and probabilities are self-normalised, ``m = sum w x / sum w`` (an event's indicator
  for ``x``): consistent, and a probability stays in [0, 1]. Standard error (delta method for
  the ratio of two means of iid paths) ``sqrt(sum w^2 (x - m)^2) / sum w``;
* quantiles (the fans, the median survival) invert the weighted distribution function: the
  smallest ``x_(i)`` with ``sum_{j <= i} w_(j) / sum w >= q``;
* VaR at level a is the smallest ``x_(i)`` whose weighted tail mass above,
  ``sum_{j > i} w_(j) / sum w``, is at most ``1 - a`` (with weights of 1, the plain order
  statistic ``x_(ceil(a n))``); ES is Rockafellar and Uryasev's ``VaR + sum w (x - VaR)^+ /
  ((1 - a) sum w)``;
* their intervals come from **sectioning** (Asmussen and Glynn 2007, III.5): the paths, in path
  order, are cut into K = 20 sections; the estimator on each section, ``t_k``, gives
  ``S^2 = sum (t_k - t)^2 / (K - 1)`` around the estimate ``t`` on all paths, and the interval
  ``t -+ t_{K-1, 1-alpha/2} S / sqrt(K)``. The delta-method interval of a weighted quantile
  under-covers (81-83% for a nominal 95% in issue 15's quick test); sectioning needs no
  density estimate and covers (``tests/test_tail.py``);
* the **tail effective sample size**: among the paths at or beyond VaR, ``(sum w)^2 / sum w^2``
  (the Kish number over all paths says nothing about the tail), and the **largest weight's
  share** of the tail's weight, with a :class:`TailWeightWarning` above
  :data:`WARN_SHARE`: one path then carries the tail estimate.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import xarray as xr
from scipy import stats

from simulator.variables import LEVEL, PATH

SECTIONS = 20
WARN_SHARE = 0.25
"""The largest weight's share of the tail's weight above which the summary warns."""
TAIL_MEASURES = ("var", "var_low", "var_high", "es", "es_low", "es_high", "tail_ess",
                 "max_weight_share")  # fmt: skip


class TailWeightWarning(UserWarning):
    """One path carries too large a share of a tail estimate's weight."""


def is_weighted(ds: xr.Dataset) -> bool:
    """Whether the run sampled its tail: a weight that is not 1 on some path."""
    return "weight" in ds and not bool((ds["weight"] == 1.0).all())


# --- the estimators on one sample (1-D arrays) ------------------------------------------------


def weighted_var(x: np.ndarray, w: np.ndarray, level: float) -> float:
    """The smallest x whose weighted tail mass above is at most ``1 - level``."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    above = (ws.sum() - np.cumsum(ws)) / ws.sum()
    return float(xs[int(np.argmax(above <= (1.0 - level) * (1 + 1e-12)))])


def weighted_es(x: np.ndarray, w: np.ndarray, level: float) -> float:
    var = weighted_var(x, w, level)
    return var + float(np.sum(w * np.maximum(x - var, 0.0)) / ((1.0 - level) * w.sum()))


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The smallest x whose weighted distribution function reaches ``q`` (NaNs left out)."""
    keep = ~np.isnan(x)
    if not keep.any():
        return float("nan")
    order = np.argsort(x[keep], kind="stable")
    xs, ws = x[keep][order], w[keep][order]
    share = np.cumsum(ws) / ws.sum()
    return float(xs[min(int(np.searchsorted(share, q * (1 - 1e-12))), len(xs) - 1)])


def sectioned(
    estimate: float, sections: Sequence[float], confidence: float
) -> tuple[float, float, float]:
    """(standard error, low, high) of ``estimate`` from its values on K sections."""
    t = np.asarray(sections, dtype=np.float64)
    k = len(t)
    if k < 2:
        return float("nan"), float("nan"), float("nan")
    se = float(np.sqrt(np.sum((t - estimate) ** 2) / (k - 1) / k))
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1)) * se
    return se, estimate - half, estimate + half


def sections_of(n: int) -> list[np.ndarray]:
    """The K sections of n paths, in path order (fewer than 20 when n < 40)."""
    return np.array_split(np.arange(n), max(1, min(SECTIONS, n // 2)))


def weighted_tail(x: np.ndarray, w: np.ndarray, level: float, confidence: float) -> np.ndarray:
    """[VaR, low, high, ES, low, high, tail ESS, largest weight's share] of one sample."""
    var, es = weighted_var(x, w, level), weighted_es(x, w, level)
    parts = sections_of(len(x))
    _, var_low, var_high = sectioned(var, [weighted_var(x[i], w[i], level) for i in parts],
                                     confidence)  # fmt: skip
    _, es_low, es_high = sectioned(es, [weighted_es(x[i], w[i], level) for i in parts],
                                   confidence)  # fmt: skip
    tail = w[x >= var]
    ess = float(tail.sum() ** 2 / np.sum(tail**2))
    share = float(tail.max() / tail.sum())
    return np.array([var, var_low, var_high, es, es_low, es_high, ess, share])


# --- the estimators along ``path`` of a Dataset's variables -----------------------------------


def weighted_mean(x: xr.DataArray, w: xr.DataArray) -> xr.DataArray:
    """``sum w x / sum w`` along path (paths where x is NaN left out)."""
    w = w.where(x.notnull(), 0.0)
    return (x.fillna(0.0) * w).sum(PATH) / w.sum(PATH)


def weighted_mean_se(x: xr.DataArray, w: xr.DataArray) -> xr.DataArray:
    w = w.where(x.notnull(), 0.0)
    m = weighted_mean(x, w)
    return cast(xr.DataArray, np.sqrt((w**2 * (x.fillna(0.0) - m) ** 2).sum(PATH)) / w.sum(PATH))


def weighted_quantiles(x: xr.DataArray, w: xr.DataArray, qs: Sequence[float]) -> xr.DataArray:
    def along(sample: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.array([weighted_quantile(sample, weights, q) for q in qs])

    out = xr.apply_ufunc(along, x, w, input_core_dims=[[PATH], [PATH]],
                         output_core_dims=[["quantile"]], vectorize=True)  # fmt: skip
    return out.assign_coords(quantile=list(qs)).transpose("quantile", ...)


def weighted_value_at_risk(
    x: xr.DataArray, w: xr.DataArray, levels: Sequence[float], confidence: float
) -> xr.Dataset:
    """VaR and ES at each level with their sectioning intervals, the tail ESS and the largest
    weight's share (a :class:`TailWeightWarning` when it passes :data:`WARN_SHARE`)."""

    def along(sample: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return np.stack([weighted_tail(sample, weights, a, confidence) for a in levels], -1)

    table = xr.apply_ufunc(
        along, x, w, input_core_dims=[[PATH], [PATH]], output_core_dims=[["measure", LEVEL]],
        vectorize=True,
    ).assign_coords({LEVEL: list(levels)})  # fmt: skip
    out = xr.Dataset({name: table.isel(measure=i, drop=True)
                      for i, name in enumerate(TAIL_MEASURES)})  # fmt: skip
    largest = float(out["max_weight_share"].max())
    if largest > WARN_SHARE:
        warnings.warn(
            f"one path carries {largest:.0%} of the weight beyond VaR (tail effective sample "
            f"size {float(out['tail_ess'].min()):.1f}): the tail estimate rests on it; run "
            "more paths or a milder shift",
            TailWeightWarning,
            stacklevel=2,
        )
    return out


def weighted_es_difference(
    x: xr.DataArray, base: xr.DataArray, w: xr.DataArray, level: float, confidence: float
) -> xr.DataArray:
    """ES(x) - ES(base) on the same weighted paths, its sectioning interval and the share of
    sections in which x has the lower ES (measure: point, low, high, better share)."""

    def along(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
        point = weighted_es(a, weights, level) - weighted_es(b, weights, level)
        parts = [weighted_es(a[i], weights[i], level) - weighted_es(b[i], weights[i], level)
                 for i in sections_of(len(a))]  # fmt: skip
        _, low, high = sectioned(point, parts, confidence)
        return np.array([point, low, high, float(np.mean(np.asarray(parts) < 0))])

    return xr.apply_ufunc(along, x, base, w, input_core_dims=[[PATH], [PATH], [PATH]],
                          output_core_dims=[["measure"]], vectorize=True)  # fmt: skip


# --- one interface for the metrics: the plain estimators or the weighted ones -----------------


@dataclass(frozen=True)
class Plain:
    """Every path weighs 1: the estimators the metrics used before tail sampling, unchanged."""

    n: int

    def mean(self, x: xr.DataArray) -> xr.DataArray:
        return x.mean(PATH)

    def mean_se(self, x: xr.DataArray) -> xr.DataArray:
        if self.n < 2:
            return xr.full_like(x.mean(PATH), np.nan)
        return x.std(PATH, ddof=1) / np.sqrt(self.n)

    def probability(self, event: xr.DataArray) -> xr.DataArray:
        return event.mean(PATH)

    def probability_se(self, event: xr.DataArray) -> xr.DataArray:
        p = event.mean(PATH)
        return cast(xr.DataArray, np.sqrt(p * (1 - p) / self.n))

    def quantiles(self, x: xr.DataArray, qs: Sequence[float]) -> xr.DataArray:
        return x.quantile(list(qs), PATH, skipna=True)

    def median(self, x: xr.DataArray) -> xr.DataArray:
        return x.median(PATH)

    def tails(self, x: xr.DataArray, levels: Sequence[float], confidence: float) -> xr.Dataset:
        from simulator.metrics.tails import value_at_risk

        return value_at_risk(x, levels, confidence)


@dataclass(frozen=True)
class Weighted:
    """Paths weighted by their likelihood ratios ``w`` (the module's estimators)."""

    n: int
    w: xr.DataArray

    def mean(self, x: xr.DataArray) -> xr.DataArray:
        return weighted_mean(x, self.w)

    def mean_se(self, x: xr.DataArray) -> xr.DataArray:
        return weighted_mean_se(x, self.w)

    def probability(self, event: xr.DataArray) -> xr.DataArray:
        return weighted_mean(event.astype(np.float64), self.w)

    def probability_se(self, event: xr.DataArray) -> xr.DataArray:
        return weighted_mean_se(event.astype(np.float64), self.w)

    def quantiles(self, x: xr.DataArray, qs: Sequence[float]) -> xr.DataArray:
        return weighted_quantiles(x, self.w, qs)

    def median(self, x: xr.DataArray) -> xr.DataArray:
        return weighted_quantiles(x, self.w, [0.5]).sel(quantile=0.5, drop=True)

    def tails(self, x: xr.DataArray, levels: Sequence[float], confidence: float) -> xr.Dataset:
        return weighted_value_at_risk(x, self.w, levels, confidence)


Estimator = Plain | Weighted


def estimator(ds: xr.Dataset) -> Estimator:
    """The estimators of a result Dataset's metrics: weighted when the run sampled its tail."""
    n = ds.sizes[PATH]
    return Weighted(n, ds["weight"]) if is_weighted(ds) else Plain(n)
