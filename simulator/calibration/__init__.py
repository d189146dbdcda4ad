"""Calibration and backtesting (SPEC 12): the model fitted to a lender's loan-month panel, and
tested out of time. This room reaches the engine only through :func:`simulator.simulate`.

* :func:`fit` - a panel (:func:`simulator.inputs.panel.load_panel`) and optionally a macro
  history (:func:`load_macro`) in, a :class:`Calibration` out: transition rows per segment
  (normal and restructured), tier offsets, prepayment, recoveries, the credit-cycle index,
  ``rho`` and ``beta``, each with its interval and counts;
* :func:`write_model` - the calibration as a model file that ``load_model`` reads, every number
  commented with its estimate, interval, counts and data window;
* :func:`backtest` - a model run from the panel's as-of book on the realised macro path and
  compared with what happened, month by month, with traffic lights.

Modules, one per estimator family: ``counts`` (panel -> counts), ``rows`` (ordered-probit rows,
tier offsets and period index), ``systematic`` (rho, beta), ``recovery`` (prepayment,
recoveries), ``fitting`` (the steps together), ``output`` (model file, JSON), ``backtesting``,
``report`` (HTML).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.calibration.backtesting import Backtest, backtest
    from simulator.calibration.fitting import Calibration, fit
    from simulator.calibration.macro import MacroHistory, load_macro
    from simulator.calibration.output import write_model

_LAZY = {
    "fit": "fitting",
    "Calibration": "fitting",
    "write_model": "output",
    "backtest": "backtesting",
    "Backtest": "backtesting",
    "load_macro": "macro",
    "MacroHistory": "macro",
}

__all__ = [
    "Backtest",
    "Calibration",
    "MacroHistory",
    "backtest",
    "fit",
    "load_macro",
    "write_model",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"simulator.calibration.{_LAZY[name]}"), name)
    raise AttributeError(name)
