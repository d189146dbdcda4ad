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

# The run and metrics functions pull in xarray and the engines: imported on first use, so that
# `import simulator` and `stress-sim --help` stay quick.
_LAZY = {
    "simulate": "simulator.run",
    "summarize": "simulator.metrics",
    "compare": "simulator.metrics",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")


try:
    __version__ = version("simulator")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0+unknown"

__all__ = [
    "InputError",
    "Portfolio",
    "__version__",
    "compare",
    "load_model",
    "load_policy",
    "load_portfolio",
    "load_scenario",
    "load_treasury",
    "simulate",
    "summarize",
    "synthetic_portfolio",
]
