"""Monte Carlo portfolio stress simulator for consumer and small-business instalment credit.

The public API is importable from here; importing it compiles nothing (kernels are imported by
the functions that run them).
"""

from importlib.metadata import PackageNotFoundError, version

from simulator.errors import InputError
from simulator.inputs.model import load_model
from simulator.inputs.policy import load_policy
from simulator.inputs.portfolio import Portfolio, load_portfolio
from simulator.inputs.scenario import load_scenario
from simulator.inputs.synthetic import synthetic_portfolio
from simulator.inputs.treasury import load_treasury

try:
    __version__ = version("simulator")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"

__all__ = [
    "InputError",
    "Portfolio",
    "__version__",
    "load_model",
    "load_policy",
    "load_portfolio",
    "load_scenario",
    "load_treasury",
    "synthetic_portfolio",
]
