"""Shifted factor innovations and their likelihood ratios.

A path's factor innovations ``eps`` (the standard normal shocks of its AR(1) factor, months
1..H; see ``simulator.engine.tables.systematic_factor``) come from counter-based Philox draws
``d ~ N(0, I)``. Under tail sampling a path draws from the defensive mixture

    q(eps) = s phi(eps) + (1 - s) phi(eps - mu)

by taking ``eps = d`` on a fixed share ``s`` of the paths (path ``p`` is one of them when
``floor((p + 1) s) > floor(p s)``: every ``1/s``-th path, whatever block it is in) and
``eps = d + mu`` on the others. The draws ``d`` are the plain run's, so common random numbers
across policies survive and a path's draws do not depend on its block. Its weight is the
likelihood ratio of the plain law to the mixture,

    w = phi(eps) / q(eps) = 1 / (s + (1 - s) exp(mu'eps - mu'mu / 2)),

(``exp(-mu'eps + mu'mu/2)`` when ``s = 0``), at most ``1/s``: the defensive share bounds every
weight and keeps the body of the distribution sampled as in a plain run. Assigning the
components by path index rather than at random leaves the estimator ``(1/n) sum w f(eps)``
unbiased: ``s E_phi[w f] + (1 - s) E_mu[w f] = E_q[w f] = E_phi[f]``.

With ``mu = 0`` every ``eps`` is ``d`` bit for bit and every weight is exactly 1 (the ratio is
computed as ``1 / (1 + (1 - s) expm1(.))``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFENSIVE_SHARE = 0.2
"""Share of paths left at the plain law by default: weights stay below 1 / 0.2 = 5."""


@dataclass(frozen=True)
class Shift:
    """The mean shift of one scenario's innovations, months 1..H, and the defensive share."""

    mu: np.ndarray  # (H,) float64
    defensive: float = DEFENSIVE_SHARE

    def __post_init__(self) -> None:
        if not 0.0 <= self.defensive < 1.0:
            raise ValueError(f"the defensive share must be in [0, 1), got {self.defensive}")
        if self.mu.ndim != 1 or not np.isfinite(self.mu).all():
            raise ValueError("the shift must be a finite vector, one value a month")

    def shifted(self, paths: range) -> np.ndarray:
        """Whether each path draws from the shifted component (bool, len(paths))."""
        p = np.arange(paths.start, paths.stop, dtype=np.float64)
        plain = np.floor((p + 1.0) * self.defensive) > np.floor(p * self.defensive)
        return ~plain

    def describe(self) -> str:
        """The shift as text, exactly (for the run directory's manifest and the attributes)."""
        values = ",".join(float(v).hex() for v in self.mu)
        return f"defensive={float(self.defensive).hex()};mu={values}"


def shift_innovations(
    draws: np.ndarray, paths: range, shift: Shift | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(eps, weight)`` for a block of paths: draws (B, H) moved by the shift on the paths of
    the shifted component, and each path's likelihood ratio (B,). No shift: the draws and 1."""
    weight = np.ones(draws.shape[0])
    if shift is None:
        return draws, weight
    mu = shift.mu[: draws.shape[1]]
    on = shift.shifted(paths)
    eps = draws + np.where(on[:, None], mu[None, :], 0.0)
    # mu'eps summed month by month: the same order of additions whatever the block's size
    dot = np.zeros(draws.shape[0])
    for month in range(draws.shape[1]):
        dot += mu[month] * eps[:, month]
    log_ratio = dot - 0.5 * float(np.sum(mu * mu))
    weight = 1.0 / (1.0 + (1.0 - shift.defensive) * np.expm1(log_ratio))
    return eps, weight
