"""Prepayment and recoveries: binomial rates and a Beta fraction.

* Prepayment (per segment): the share of current loans, not at their last instalment, that
  repay everything in the month; a Jeffreys interval (Beta(x + 1/2, n - x + 1/2) quantiles).
* Recovery hazard (the agency's monthly chance of recovering, once, on a charged-off loan): events
  over loan-months at risk within the recovery window, loans censored at their last observed
  month; Jeffreys interval. Timing: the hazard by month since charge-off, and the window.
* Recovered fraction ~ Beta(alpha, beta) of the written-off balance: maximum likelihood
  (``scipy.stats.beta.fit`` on (0, 1)), intervals from the inverse Fisher information
  (trigamma functions), with method-of-moments starting values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from simulator.calibration.counts import Recoveries
from simulator.calibration.systematic import LEVEL, Estimate

FRACTION_EPS = 1e-6


def jeffreys(events: int, trials: int) -> Estimate:
    """A binomial proportion with its equal-tailed Jeffreys interval."""
    if trials <= 0:
        return Estimate(float("nan"), 0.0, 1.0)
    a, b = events + 0.5, trials - events + 0.5
    lower = 0.0 if events == 0 else float(stats.beta.ppf(0.5 - LEVEL / 2, a, b))
    upper = 1.0 if events == trials else float(stats.beta.ppf(0.5 + LEVEL / 2, a, b))
    p = events / trials
    return Estimate(p, lower, upper, float(np.sqrt(p * (1 - p) / trials)))


@dataclass(frozen=True)
class RecoveryFit:
    hazard: Estimate
    alpha: Estimate
    beta: Estimate
    window: int
    charge_offs: int  # charged-off loans seen charging off
    events: int
    at_risk: int  # loan-months
    clipped: int  # fractions outside (0, 1) clipped
    hazard_by_lag: list[tuple[int, int, int]]  # (months since charge-off, events, at risk)

    @property
    def mean_fraction(self) -> float:
        return self.alpha.value / (self.alpha.value + self.beta.value)


def fit_recoveries(data: Recoveries, window: int) -> RecoveryFit | None:
    """The recovery model from charge-offs seen in the panel; None if there are none."""
    if len(data.balance) == 0:
        return None
    lags = np.minimum(data.observed_lags, window)
    max_lag = int(max(lags.max(), 1))
    at_risk = np.array([(lags >= m).sum() for m in range(1, max_lag + 1)])
    within = (data.event_lag > 0) & (data.event_lag <= window)
    events = np.bincount(data.event_lag[within], minlength=max_lag + 1)[1:]
    hazard = jeffreys(int(events.sum()), int(at_risk.sum()))
    fractions = data.amount[within] / np.maximum(data.balance[within], 1e-9)
    clipped = int(((fractions <= 0) | (fractions >= 1)).sum())
    alpha, beta = _beta_fit(np.clip(fractions, FRACTION_EPS, 1 - FRACTION_EPS))
    return RecoveryFit(
        hazard=hazard,
        alpha=alpha,
        beta=beta,
        window=window,
        charge_offs=len(data.balance),
        events=int(events.sum()),
        at_risk=int(at_risk.sum()),
        clipped=clipped,
        hazard_by_lag=[
            (m + 1, int(e), int(r)) for m, (e, r) in enumerate(zip(events, at_risk, strict=True))
        ],
    )


def _beta_fit(fractions: np.ndarray) -> tuple[Estimate, Estimate]:
    n = len(fractions)
    if n < 2:
        nan = Estimate(float("nan"), float("nan"), float("nan"))
        return nan, nan
    mean, var = float(fractions.mean()), float(fractions.var(ddof=1))
    common = max(mean * (1 - mean) / max(var, 1e-12) - 1, 1e-3)  # method of moments
    a, b, _, _ = stats.beta.fit(fractions, mean * common, (1 - mean) * common, floc=0, fscale=1)
    t_ab = special.polygamma(1, a + b)
    info = n * np.array(
        [[special.polygamma(1, a) - t_ab, -t_ab], [-t_ab, special.polygamma(1, b) - t_ab]]
    )
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    zq = float(stats.norm.ppf(0.5 + LEVEL / 2))
    # intervals on the log scale (the parameters are positive)
    return tuple(  # type: ignore[return-value]
        Estimate(v, v * np.exp(-zq * s / v), v * np.exp(zq * s / v), float(s))
        for v, s in ((float(a), se[0]), (float(b), se[1]))
    )
