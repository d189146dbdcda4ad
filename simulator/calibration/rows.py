"""Transition rows, tier offsets and the credit-cycle index of one segment, by maximum likelihood.

The engine's model (SPEC 4) in latent form: for a loan of tier k in period u, on row r (matrix,
state), the probability of ending at destination d or worse is

    P(dest >= d) = Phi(a[r, d] + d_k - z_u),   d = 1 .. s + 1 (the allowed destinations),

with ``a = Phi^-1(C) / sqrt(1 - rho)`` the row's thresholds, ``d_k = delta_k / sqrt(1 - rho)``
the tier offset and ``z_u = sqrt(rho / (1 - rho)) Z_u`` the index of the period: an ordered
probit with row-specific thresholds, tier effects and period effects, fitted jointly to the
counts of every period (multinomial likelihood, Belkin-Suchower-Forest's "Z that best fits each
period's shifted rows, weighted by counts"). Identification: ``d = 0`` for the reference tier
and the ``z`` sum to zero; the index's level and scale (hence the base rows ``C`` and ``rho``)
are fixed later from its time series (:mod:`.systematic`).

Shrinkage: an allowed destination that a fitted row never reached gets ``pseudo`` counts
(Jeffreys' 1/2) at ``z = 0``, spread over the tiers as the row's moves are, so that it has a
small positive probability instead of an infinite threshold; destinations seen get none
(pseudo-counts on them, or on one tier only, would pull the tier offsets). Rows with fewer than
``min_moves`` observed moves are not fitted here (the caller pools them). Standard errors from
the observed information (numerical derivative of the analytic gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from simulator.calibration.counts import N_DESTINATIONS, N_ROWS

N_THRESHOLDS = N_DESTINATIONS - 1
ALLOWED = np.arange(1, N_DESTINATIONS)[None, :] <= np.arange(N_ROWS)[:, None] + 1
"""(state, d - 1): destination d (1..7) is reachable from the state (one bucket worse at most)."""
MIN_MOVES = 30
PSEUDO = 0.5


@dataclass(frozen=True)
class RowFit:
    """The latent fit of one segment."""

    fitted: np.ndarray  # (2, 7) bool: rows fitted here
    a: np.ndarray  # (2, 7, 7) thresholds a[m, s, d - 1] (-inf where not allowed or not fitted)
    a_cov: np.ndarray  # (2, 7, 7, 7) covariance of each row's thresholds
    d: np.ndarray  # (T,) tier offsets, 0 for the reference tier and tiers not fitted
    d_var: np.ndarray  # (T,) their variances (0 where fixed)
    d_fitted: np.ndarray  # (T,) bool
    z: np.ndarray  # (U,) period index, sums to 0 over periods with moves
    z_var: np.ndarray  # (U,) variances (measurement error of each period's index)
    has_period: np.ndarray  # (U,) bool: periods with moves in this segment
    loglik: float
    converged: bool


class _Layout:
    """Where each parameter lives in the flat vector: thresholds of fitted rows, then the
    offsets of the tiers with moves (the reference tier excluded), then U - 1 period indices."""

    def __init__(self, fitted: np.ndarray, d_fitted: np.ndarray, periods: int) -> None:
        self.fitted, self.d_fitted, self.periods = fitted, d_fitted, periods
        self.row_mask = fitted[:, :, None] & ALLOWED[None]  # (2, 7, 7) threshold in use
        self.n_a = int(self.row_mask.sum())
        self.n_d = int(d_fitted.sum())
        self.size = self.n_a + self.n_d + periods - 1

    def unpack(self, x: np.ndarray, tiers: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        theta = np.zeros((2, N_ROWS, N_THRESHOLDS))
        theta[self.row_mask] = x[: self.n_a]
        a = _thresholds(theta, self.row_mask)
        d = np.zeros(tiers)
        d[self.d_fitted] = x[self.n_a : self.n_a + self.n_d]
        free = x[self.n_a + self.n_d :]
        z = np.append(free, -free.sum())
        return a, d, z

    def pack_gradient(
        self, theta: np.ndarray, ga: np.ndarray, gd: np.ndarray, gz: np.ndarray
    ) -> np.ndarray:
        # a_1 = theta_1, a_e = a_(e-1) - exp(theta_e): d a_j / d theta_1 = 1, and
        # d a_j / d theta_e = -exp(theta_e) for e <= j.
        tail = np.cumsum(ga[..., ::-1], axis=-1)[..., ::-1]  # sum over j >= e
        gtheta = np.where(np.arange(N_THRESHOLDS) == 0, tail, -np.exp(theta) * tail)
        return np.concatenate([gtheta[self.row_mask], gd[self.d_fitted], gz[:-1] - gz[-1]])


def _thresholds(theta: np.ndarray, mask: np.ndarray) -> np.ndarray:
    steps = np.where(np.arange(N_THRESHOLDS) == 0, theta, -np.exp(theta))
    a = np.cumsum(np.where(mask, steps, 0.0), axis=-1)
    return np.where(mask, a, -np.inf)


def _theta(x: np.ndarray, layout: _Layout) -> np.ndarray:
    theta = np.zeros((2, N_ROWS, N_THRESHOLDS))
    theta[layout.row_mask] = x[: layout.n_a]
    return theta


def _cells(u: np.ndarray) -> np.ndarray:
    """Destination probabilities from latent values u (..., 7) of P(dest >= d), d = 1..7."""
    upper = np.concatenate([np.full((*u.shape[:-1], 1), np.inf), u], axis=-1)
    lower = np.concatenate([u, np.full((*u.shape[:-1], 1), -np.inf)], axis=-1)
    # Phi(upper) - Phi(lower), computed on the side of the tail that keeps its precision
    return np.where(
        lower > 0,
        special.ndtr(-lower) - special.ndtr(-upper),
        special.ndtr(upper) - special.ndtr(lower),
    )


def _negloglik(
    x: np.ndarray, layout: _Layout, counts: np.ndarray, prior: np.ndarray, ref: int
) -> tuple[float, np.ndarray]:
    """Minus the log-likelihood (with the pseudo-counts) and its gradient.

    ``counts``: (U, T, 2, 7, 8) for this segment; ``prior``: (T, 2, 7, 8) pseudo-counts, an
    extra period at z = 0."""
    tiers = counts.shape[1]
    a, d, z = layout.unpack(x, tiers)
    u = a[None, None] + d[None, :, None, None, None] - z[:, None, None, None, None]
    u_prior = (a[None] + d[:, None, None, None])[None]
    total, ga, gd, gz = 0.0, np.zeros_like(a), np.zeros(tiers), np.zeros(len(z))
    for values, n in ((u, counts), (u_prior, prior[None])):
        p = _cells(values)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(n > 0, n / p, 0.0)
            total += float(np.where(n > 0, n * np.log(p), 0.0).sum())
        density = np.where(np.isfinite(values), np.exp(-0.5 * values**2) / np.sqrt(2 * np.pi), 0.0)
        g = density * (ratio[..., 1:] - ratio[..., :-1])  # d logL / d u_d
        ga += g.sum(axis=(0, 1))
        gd += g.sum(axis=(0, 2, 3, 4))
        if values is u:
            gz -= g.sum(axis=(1, 2, 3, 4))
    gd[ref] = 0.0
    grad = layout.pack_gradient(_theta(x, layout), ga, gd, gz)
    return -total, -grad


def _start(counts: np.ndarray, prior: np.ndarray, layout: _Layout) -> np.ndarray:
    """Thresholds from the pooled frequencies (with the pseudo-counts), d = 0, z = 0."""
    pooled = counts.sum(axis=(0, 1)) + prior.sum(axis=0)  # (2, 7, 8)
    tail = np.cumsum(pooled[..., ::-1], axis=-1)[..., ::-1][..., 1:]
    share = tail / np.maximum(pooled.sum(axis=-1, keepdims=True), 1e-12)
    a = special.ndtri(np.clip(share, 1e-6, 1 - 1e-6))
    steps = np.diff(a, axis=-1, prepend=0.0)
    theta = np.where(np.arange(N_THRESHOLDS) == 0, a, np.log(np.maximum(-steps, 1e-4)))
    return np.concatenate([theta[layout.row_mask], np.zeros(layout.n_d + layout.periods - 1)])


def fit_rows(
    counts: np.ndarray, ref: int, *, min_moves: int = MIN_MOVES, pseudo: float = PSEUDO
) -> RowFit:
    """Fit one segment's counts (U, T, 2, 7, 8): see the module docstring."""
    moves = counts.sum(axis=(0, 1, 4))  # (2, 7)
    fitted = moves >= min_moves
    by_period = counts[:, :, fitted].sum(axis=(1, 2, 3))
    has_period = by_period > 0
    data = counts[has_period]
    by_tier = data[:, :, fitted].sum(axis=(0, 2, 3))
    d_fitted = by_tier > 0
    reference_seen = bool(d_fitted[ref])
    d_fitted[ref] = False
    if not reference_seen:
        d_fitted[:] = False  # offsets relative to a tier with no moves: not identified here
    data = np.where(fitted[None, None, :, :, None], data, 0)
    unseen = data.sum(axis=(0, 1)) == 0  # (2, 7, 8): destinations never reached
    cells = np.where(fitted[:, :, None] & _allowed_destinations()[None] & unseen, pseudo, 0.0)
    row_moves = data.sum(axis=(0, 4))  # (T, 2, 7): spread over tiers as the row's moves are
    share = row_moves / np.maximum(row_moves.sum(axis=0, keepdims=True), 1)
    prior = cells[None] * share[..., None]  # (T, 2, 7, 8)
    layout = _Layout(fitted, d_fitted, int(has_period.sum()))
    if layout.size == 0 or layout.periods == 0:
        raise ValueError("no moves to fit")
    x0 = _start(data, prior, layout)
    result = optimize.minimize(
        _negloglik,
        x0,
        args=(layout, data, prior, ref),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "gtol": 1e-7},
    )
    cov = _covariance(result.x, layout, data, prior, ref)
    return _row_fit(result, cov, layout, counts.shape[1], has_period)


def _allowed_destinations() -> np.ndarray:
    """(7, 8): destination reachable from each state (current always; one bucket worse)."""
    return np.arange(N_DESTINATIONS)[None, :] <= np.arange(N_ROWS)[:, None] + 1


def _covariance(
    x: np.ndarray, layout: _Layout, data: np.ndarray, prior: np.ndarray, ref: int
) -> np.ndarray:
    """Inverse of the observed information (central differences of the analytic gradient)."""
    size = len(x)
    hessian = np.empty((size, size))
    for j in range(size):
        h = 1e-5 * max(1.0, abs(x[j]))
        up, down = x.copy(), x.copy()
        up[j] += h
        down[j] -= h
        hessian[:, j] = (
            _negloglik(up, layout, data, prior, ref)[1]
            - _negloglik(down, layout, data, prior, ref)[1]
        ) / (2 * h)
    hessian = 0.5 * (hessian + hessian.T)
    return np.linalg.pinv(hessian)


def _row_fit(
    result: optimize.OptimizeResult,
    cov: np.ndarray,
    layout: _Layout,
    tiers: int,
    has_period: np.ndarray,
) -> RowFit:
    x = result.x
    a, d, z_seen = layout.unpack(x, tiers)
    theta = _theta(x, layout)
    # Jacobian of the thresholds with respect to theta, row by row (lower triangular)
    steps = np.where(np.arange(N_THRESHOLDS) == 0, 1.0, -np.exp(theta))
    a_cov = np.zeros((2, N_ROWS, N_THRESHOLDS, N_THRESHOLDS))
    position = np.full(layout.row_mask.shape, -1)
    position[layout.row_mask] = np.arange(layout.n_a)
    for m, s in zip(*np.nonzero(layout.fitted), strict=True):
        k = int(ALLOWED[s].sum())
        idx = position[m, s, :k]
        jac = np.tril(np.ones((k, k))) * steps[m, s, :k][None, :]
        a_cov[m, s, :k, :k] = jac @ cov[np.ix_(idx, idx)] @ jac.T
    d_var = np.zeros(tiers)
    d_idx = layout.n_a + np.arange(layout.n_d)
    d_var[layout.d_fitted] = np.diag(cov)[d_idx]
    # z = M zeta with the last period minus the sum of the others
    p = layout.periods
    z_idx = layout.n_a + layout.n_d + np.arange(p - 1)
    mapping = np.vstack([np.eye(p - 1), -np.ones((1, p - 1))])
    z_cov = mapping @ cov[np.ix_(z_idx, z_idx)] @ mapping.T
    z = np.zeros(len(has_period))
    z_var = np.zeros(len(has_period))
    z[has_period] = z_seen
    z_var[has_period] = np.diag(z_cov)
    return RowFit(
        fitted=layout.fitted,
        a=a,
        a_cov=a_cov,
        d=d,
        d_var=d_var,
        d_fitted=layout.d_fitted,
        z=z,
        z_var=z_var,
        has_period=has_period,
        loglik=-float(result.fun),
        converged=bool(result.success),
    )


def shifted_cells(a: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Destination probabilities (..., 8) of thresholds ``a`` (7,) shifted by ``shift`` (...),
    e.g. ``d_k - z_u`` for each period and tier."""
    return _cells(a + np.asarray(shift)[..., None])
