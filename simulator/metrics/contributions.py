"""Risk contributions: the Euler allocation of VaR and ES of the loss rate to segments and score
tiers (SPEC 13, issue #15 item 4) - what drives the tail.

A path's loss rate is the sum of its parts, ``L = sum_g L_g`` (a segment's or a segment-tier's
net credit loss over the horizon, over the book's opening principal). The Euler contribution of
part g to ES at level a is its expected loss in the tail, ``E[L_g | L >= VaR]`` (Tasche 1999);
to VaR, its expected loss at the VaR, ``E[L_g | L = VaR]``. Estimated on the run's paths, with
each path's weight w (1 without tail sampling; :mod:`.weighted`):

* ES, plain: the mean of ``L_g`` over the paths from the VaR's order statistic up - the paths
  whose mean is the plain ES (:mod:`.tails`), so the contributions add up to it exactly;
  weighted: ``L_g(v) + sum w (L_g - L_g(v)) / ((1 - a) sum w)`` over the paths with
  ``L >= VaR``, ``v`` the VaR's path - the allocation of Rockafellar and Uryasev's ES that
  :mod:`.weighted` estimates, which it also adds up to exactly;
* VaR: one path's parts are too noisy, so the paths whose loss lies within the VaR's
  confidence interval are averaged and scaled to the VaR: ``VaR sum w L_g / sum w L`` over
  them (a kernel estimate of ``E[L_g | L = VaR]``; it adds up to the VaR exactly);
* intervals, plain: the tail mean's ``t`` interval, ``sd(L_g) / sqrt(m)`` over the m tail paths
  with Student's t at m - 1 degrees of freedom (it leaves out the VaR's own uncertainty);
  weighted: sectioning, as every weighted tail estimate (:mod:`.weighted`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from scipy import stats

from simulator.metrics.tails import CONFIDENCE, tail_estimates, tail_rank
from simulator.metrics.weighted import (
    is_weighted,
    sectioned,
    sections_of,
    weighted_tail,
    weighted_var,
)
from simulator.variables import LEVEL, MONTH, PATH, SEGMENT, TIER

MEASURES = ("var_contribution", "es_contribution", "es_contribution_low", "es_contribution_high")


def _plain(loss: np.ndarray, parts: np.ndarray, level: float, confidence: float) -> np.ndarray:
    """(parts, 4) contributions of one plain sample: loss (n,), parts (n, g)."""
    var, var_low, var_high = tail_estimates(loss, level, confidence)[:3]
    order = np.argsort(loss, kind="stable")
    tail = order[tail_rank(len(loss), level) - 1 :]
    es = parts[tail].mean(axis=0)
    m = len(tail)
    spread = parts[tail].std(axis=0, ddof=1) if m > 1 else np.full(parts.shape[1], np.nan)
    half = stats.t.ppf(0.5 + confidence / 2, max(m - 1, 1)) * spread / np.sqrt(m)
    at_var = _at_var(loss, parts, np.ones(len(loss)), var, var_low, var_high)
    return np.stack([at_var, es, es - half, es + half], axis=-1)


def _at_var(loss: np.ndarray, parts: np.ndarray, w: np.ndarray, var: float, low: float,
            high: float) -> np.ndarray:  # fmt: skip
    """The VaR allocated as the parts of the paths whose loss is in [low, high]."""
    near = (loss >= low) & (loss <= high)
    total = float(np.sum(w[near] * loss[near]))
    if total == 0.0:
        return np.zeros(parts.shape[1])
    return var * (w[near] @ parts[near]) / total


def _weighted_es_parts(loss: np.ndarray, parts: np.ndarray, w: np.ndarray,
                       level: float) -> np.ndarray:  # fmt: skip
    """The parts of Rockafellar and Uryasev's weighted ES: they add up to it exactly."""
    var = weighted_var(loss, w, level)
    beyond = loss >= var
    at = parts[int(np.flatnonzero(beyond & (loss == var))[0])]
    excess = w[beyond] @ (parts[beyond] - at)
    return at + excess / ((1.0 - level) * w.sum())


def _weighted(loss: np.ndarray, parts: np.ndarray, w: np.ndarray, level: float,
              confidence: float) -> np.ndarray:  # fmt: skip
    """(parts, 4) contributions of one weighted sample."""
    var, var_low, var_high = weighted_tail(loss, w, level, confidence)[:3]
    es = _weighted_es_parts(loss, parts, w, level)
    pieces = [_weighted_es_parts(loss[i], parts[i], w[i], level) for i in sections_of(len(loss))]
    bounds = np.array([sectioned(e, [p[g] for p in pieces], confidence)[1:]
                       for g, e in enumerate(es)])  # fmt: skip
    at_var = _at_var(loss, parts, w, var, var_low, var_high)
    return np.stack([at_var, es, bounds[:, 0], bounds[:, 1]], axis=-1)


def risk_contributions(
    ds: xr.Dataset, levels: Sequence[float], confidence: float = CONFIDENCE
) -> xr.Dataset:
    """Contributions to VaR and ES of the loss rate at each level, by segment and by segment
    and tier (``tier_var_contribution`` ...; present when the run booked provisions), per
    scenario and policy (module docstring)."""
    opening = ds["opening_principal"]
    by_segment = ds["segment_net_credit_loss"].sum(MONTH) / opening
    out = _allocate(ds, by_segment, [SEGMENT], levels, confidence)
    if "tier_net_credit_loss" in ds:
        by_tier = (ds["tier_net_credit_loss"] / opening).stack(part=[SEGMENT, TIER])
        tiers = _allocate(ds, by_tier, ["part"], levels, confidence).unstack("part")
        tiers = tiers.transpose(..., SEGMENT, TIER, LEVEL)
        out = out.merge(tiers.rename({name: f"tier_{name}" for name in tiers.data_vars}))
    return out


def _allocate(ds: xr.Dataset, parts: xr.DataArray, part_dims: list[str],
              levels: Sequence[float], confidence: float) -> xr.Dataset:  # fmt: skip
    weighted = is_weighted(ds)
    w = ds["weight"] if weighted else xr.ones_like(ds["loss_rate"])

    def along(loss: np.ndarray, by: np.ndarray, weight: np.ndarray) -> np.ndarray:
        one = (lambda a: _weighted(loss, by, weight, a, confidence)) if weighted else (
            lambda a: _plain(loss, by, a, confidence))  # fmt: skip
        return np.stack([one(a) for a in levels], axis=-1)  # (parts, 4, levels)

    table = xr.apply_ufunc(
        along, ds["loss_rate"], parts, w,
        input_core_dims=[[PATH], [PATH, *part_dims], [PATH]],
        output_core_dims=[[*part_dims, "measure", LEVEL]], vectorize=True,
    ).assign_coords({LEVEL: list(levels)})  # fmt: skip
    return xr.Dataset({name: table.isel(measure=i, drop=True) for i, name in enumerate(MEASURES)})
