"""Risk metrics of a result Dataset: expected loss with its Monte Carlo error, VaR and ES.

Estimators (over the n paths of each scenario and policy):
* expected loss: the mean loss rate, with standard error ``s / sqrt(n)``;
* VaR at level a: the order statistic ``L_(ceil(a n))`` (the empirical a-quantile, no
  interpolation), so that ``P(L <= VaR) >= a`` on the sample;
* ES at level a: the mean of the ``n - ceil(a n) + 1`` largest losses (those at or beyond VaR).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from simulator.variables import LEVEL, PATH

DEFAULT_LEVELS = (0.95, 0.99, 0.999)


def _tail(losses: np.ndarray, level: float) -> tuple[float, float]:
    """(VaR, ES) of a 1-D sample at ``level``."""
    ordered = np.sort(losses)
    k = int(np.ceil(level * len(ordered))) - 1  # index of the a-quantile order statistic
    k = min(max(k, 0), len(ordered) - 1)
    return float(ordered[k]), float(ordered[k:].mean())


def value_at_risk(
    losses: xr.DataArray, levels: Sequence[float]
) -> tuple[xr.DataArray, xr.DataArray]:
    """VaR and ES along ``path`` at each level, as DataArrays with a ``level`` dim."""

    def both(sample: np.ndarray) -> np.ndarray:
        return np.array([_tail(sample, a) for a in levels]).T  # (2, levels)

    result = xr.apply_ufunc(
        both, losses, input_core_dims=[[PATH]], output_core_dims=[["measure", LEVEL]],
        vectorize=True,
    ).assign_coords({LEVEL: list(levels)})  # fmt: skip
    return result.isel(measure=0, drop=True), result.isel(measure=1, drop=True)


def summarize(ds: xr.Dataset, levels: Sequence[float] = DEFAULT_LEVELS) -> xr.Dataset:
    """Expected loss (with standard error) and VaR / ES of the loss rate, per run."""
    loss = ds["loss_rate"]
    n = loss.sizes[PATH]
    se = loss.std(PATH, ddof=1) / np.sqrt(n) if n > 1 else xr.full_like(loss.mean(PATH), np.nan)
    var, es = value_at_risk(loss, levels)
    out = xr.Dataset(
        {
            "expected_loss": loss.mean(PATH),
            "expected_loss_se": se,
            "var": var,
            "es": es,
            "expected_net_loss": ds["cumulative_net_loss"].mean(PATH),
        }
    )
    out["expected_loss"].attrs.update(units="1", long_name="expected loss rate")
    out["expected_loss_se"].attrs.update(units="1", long_name="standard error of expected loss")
    out["var"].attrs.update(units="1", long_name="value at risk of the loss rate")
    out["es"].attrs.update(units="1", long_name="expected shortfall of the loss rate")
    out["expected_net_loss"].attrs.update(units="CNY", long_name="expected cumulative net loss")
    out.attrs.update(paths=n)
    return out
