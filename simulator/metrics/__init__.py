"""Risk metrics of a result Dataset, with their Monte Carlo error (SPEC 6).

* :func:`summarize` (``summary``): expected loss, VaR and ES, liquidity and delinquency per
  scenario and policy;
* :func:`compare` (``paired``): each policy against a baseline on the same paths;
* :func:`diagnostics` (``diagnostics``): each policy's mechanisms at work (offers, take-up,
  re-default, the payment KPIs);
* ``tails``: the VaR and ES estimators both use, with their confidence intervals.
"""

from simulator.metrics.diagnostics import diagnostics
from simulator.metrics.paired import compare
from simulator.metrics.summary import DEFAULT_LEVELS, FAN_QUANTILES, summarize
from simulator.metrics.tails import CONFIDENCE, tail_estimates, value_at_risk

__all__ = [
    "CONFIDENCE",
    "DEFAULT_LEVELS",
    "FAN_QUANTILES",
    "compare",
    "diagnostics",
    "summarize",
    "tail_estimates",
    "value_at_risk",
]
