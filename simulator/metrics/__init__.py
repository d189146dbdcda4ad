"""Risk metrics of a result Dataset, with their Monte Carlo error (SPEC 6).

* :func:`summarize` (``summary``): expected loss, VaR and ES, liquidity and delinquency per
  scenario and policy;
* :func:`compare` (``paired``): each policy against a baseline on the same paths;
* ``tails``: the VaR and ES estimators both use, with their confidence intervals.
"""

from simulator.metrics.paired import compare
from simulator.metrics.summary import DEFAULT_LEVELS, FAN_QUANTILES, summarize
from simulator.metrics.tails import CONFIDENCE, tail_estimates, value_at_risk

__all__ = [
    "CONFIDENCE",
    "DEFAULT_LEVELS",
    "FAN_QUANTILES",
    "compare",
    "summarize",
    "tail_estimates",
    "value_at_risk",
]
