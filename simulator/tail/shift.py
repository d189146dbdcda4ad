"""The shift: the most likely factor path that reaches the tail (large-deviations mode).

Choice: the large-deviations mode rather than cross-entropy on pilot paths. It needs no engine
run (a pilot of the full engine on the default book costs as much as a tenth of the run), it is
deterministic (the same shift on every machine that resolves the inputs, so Dask workers and a
resumed run read it from the inputs), and it is the same optimiser the reverse stress test
needs. Its weakness, a shift found on an approximation of the loss, is paid for only in
variance, never in bias: the weights correct for whatever shift is used.

Formulas. A path's factor is AR(1), stationary N(0, 1), driven by innovations ``eps`` (H
standard normals): ``eta_1 = eps_1``, ``eta_t = phi eta_{t-1} + sqrt(1 - phi^2) eps_t``, i.e.
``eta = A eps`` with the lower-triangular ``A[t, k] = phi^(t-k) c_k`` (``c_1 = 1``, else
``c_k = sqrt(1 - phi^2)``; :func:`ar1_matrix`). Given the path, the loans default independently,
so a large book's loss is close to its conditional expected loss ``f(eps) = E[L | eta = A eps]``
(the caller supplies ``f``: ``simulator.engine.conditional``). The probability of the tail
``{f >= x}`` is ``exp(-|eps*|^2 / 2)`` to leading order, where ``eps*`` is the minimum-norm
innovation path with ``f(eps*) = x`` (the mode of the tail region, Glasserman and Li 2005). For
the tail of level ``a`` we take ``x`` such that ``|eps*| = r = Phi^-1(a)`` (a linear ``f`` would
make ``{f >= x}`` exactly of probability ``1 - a``), i.e. the dual problem

    mu = argmax_{|eps| = r} f(eps),

whose stationarity condition ``grad f(mu) = lambda mu`` is solved by the damped fixed point
``mu <- r normalise(mu + r normalise(grad f(mu))) `` from ``mu_0 = r normalise(grad f(0))``,
with forward-difference gradients (H + 1 evaluations of ``f`` a step, vectorised). Innovations
after the target's window do not move ``f``: their shift is 0.

Targets (:data:`TARGETS`): ``loss`` aims at the loss rate over the horizon (VaR and ES);
``buffer`` and ``capital`` at the conditional loss of the first 12 months, the window of the
12-month shortfall and capital-breach probabilities (a loss of that size is what empties the
buffer and eats the capital first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from simulator.tail.sampling import DEFENSIVE_SHARE

TARGETS = ("loss", "buffer", "capital")
WINDOW_MONTHS = {"loss": None, "buffer": 12, "capital": 12}
"""The months of conditional loss each target aims at (None: the whole horizon)."""
DEFAULT_LEVEL = 0.999


@dataclass(frozen=True)
class TailSampling:
    """What tail sampling aims at: ``target``, the tail ``level`` (the shift's norm is
    ``Phi^-1(level)``) and the ``defensive`` share of paths left at the plain law."""

    target: str = "loss"
    level: float = DEFAULT_LEVEL
    defensive: float = DEFENSIVE_SHARE
    scale: float = 1.0  # multiplies the shift; 0 gives the plain run, weights of 1

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(
                f"unknown tail-sampling target '{self.target}': expected one of "
                f"{', '.join(TARGETS)}"
            )
        if not 0.5 < self.level < 1.0:
            raise ValueError(f"the tail level must be in (0.5, 1), got {self.level}")
        if not 0.0 <= self.defensive < 1.0:
            raise ValueError(f"the defensive share must be in [0, 1), got {self.defensive}")
        if not 0.0 <= self.scale <= 2.0:
            raise ValueError(f"the shift scale must be in [0, 2], got {self.scale}")

    @property
    def radius(self) -> float:
        return float(special.ndtri(self.level)) * self.scale

    def window(self, horizon: int) -> int:
        months = WINDOW_MONTHS[self.target]
        return horizon if months is None else min(months, horizon)


def ar1_matrix(phi: float, horizon: int) -> np.ndarray:
    """``A`` (H, H) with ``eta = A eps`` for the stationary AR(1) factor."""
    months = np.arange(horizon)
    lag = months[:, None] - months[None, :]
    scale = np.full(horizon, np.sqrt(1.0 - phi**2))
    scale[0] = 1.0
    with np.errstate(invalid="ignore"):
        powers = np.where(lag >= 0, float(phi) ** np.maximum(lag, 0), 0.0)
    return powers * scale[None, :]


def large_deviation_shift(
    conditional_loss: Callable[[np.ndarray], np.ndarray],
    phi: float,
    horizon: int,
    radius: float,
    *,
    iterations: int = 200,
    tolerance: float = 1e-9,
) -> np.ndarray:
    """``mu`` (H,): the innovation path of norm ``radius`` with the largest conditional loss.

    ``conditional_loss`` maps factor paths ``eta`` (K, H) to their conditional expected loss
    (K,), increasing in loss. Radius 0, or a loss that does not move with the factor: 0.
    """
    if radius == 0.0:
        return np.zeros(horizon)
    a = ar1_matrix(phi, horizon)

    def gradient(eps: np.ndarray) -> np.ndarray:
        step = 1e-4
        trial = np.vstack([eps, eps + step * np.eye(horizon)])
        values = conditional_loss(trial @ a.T)
        return (values[1:] - values[0]) / step

    direction = _unit(gradient(np.zeros(horizon)))
    if direction is None:
        return np.zeros(horizon)
    mu = radius * direction
    for _ in range(iterations):
        ascent = _unit(gradient(mu))
        if ascent is None:
            break
        step = _unit(mu + radius * ascent)
        if step is None:  # the ascent points straight back: mu is a minimum, stop
            break
        new = radius * step
        done = float(np.abs(new - mu).max()) < tolerance
        mu = new
        if done:
            break
    return mu


def _unit(vector: np.ndarray) -> np.ndarray | None:
    norm = float(np.sqrt(np.sum(vector * vector)))
    return None if norm == 0.0 or not np.isfinite(norm) else vector / norm
