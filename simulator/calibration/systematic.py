"""The systematic part: the index's level and scale, ``rho`` and the macro coefficients ``beta``.

The latent period index of a segment (:mod:`.rows`) is, in the engine's terms (SPEC 3.3),

    z_u = c + sqrt(rho / (1 - rho)) * Z_u,
    Z_u = -sum_v beta_v (x_v,u - x_v,ref) / scale_v + sigma eta_u,

so regressing ``z`` on the scaled macro moves ``(x - x_ref) / scale`` gives the level ``c`` (the
index at the reference macro and eta = 0) as the intercept, coefficients ``gamma = -k beta`` and a
residual ``k sigma eta`` with ``k = sqrt(rho / (1 - rho))``: AR(1), since eta is. With ``sigma``
the scale the model is meant to run with (the scenarios' ``[factor] sigma``, 1 by default: the
residual has unit variance in Z), ``k^2 = Var(residual) / sigma^2`` less the periods' own
measurement error, ``rho = k^2 / (1 + k^2)`` and ``beta = -gamma / k``. Without macro data the
regression is on the intercept alone, and ``rho`` is the Vasicek moment estimator of the index.

Standard errors are robust to the AR(1) residual: feasible GLS (statsmodels ``GLSAR``, iterated
Cochrane-Orcutt, then GLS at the bias-corrected phi) for one history; for several simulated
paths, OLS with Newey-West errors within paths (``cov_type="hac-panel"``). The interval for
``k^2`` is chi-square with the effective degrees of freedom of an AR(1) sample variance,
``n (1 - phi^2) / (1 + phi^2)`` (phi corrected for its small-sample bias, Kendall 1954); the
interval for ``beta = -gamma / k`` is Fieller's for a ratio (a delta-method interval undercovers
when k is uncertain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

LEVEL = 0.95


@dataclass(frozen=True)
class Estimate:
    value: float
    lower: float
    upper: float
    se: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.value, "lower": self.lower, "upper": self.upper, "se": self.se}


@dataclass(frozen=True)
class Systematic:
    """The fitted systematic part of one segment."""

    level: Estimate  # c
    k2: Estimate  # rho / (1 - rho)
    rho: Estimate
    beta: dict[str, Estimate]
    gamma: dict[str, Estimate]  # regression coefficients on (x - x_ref) / scale
    phi: Estimate  # AR(1) coefficient of the residual (eta's persistence)
    residual_sd: float  # of the residual in latent units (k sigma)
    index: np.ndarray  # Z_u = (z_u - c) / k, per period
    macro_part: np.ndarray  # -sum beta (x - x_ref) / scale, per period
    macro_moves: np.ndarray  # (periods, V) the regressors (x - x_ref) / scale
    measurement_var: float  # mean variance of z_u from the counts
    periods: int
    method: str


def _t(df: float) -> float:
    return float(stats.t.ppf(0.5 + LEVEL / 2, max(df, 1.0)))


def fit_systematic(
    z: np.ndarray,
    z_var: np.ndarray,
    x: np.ndarray,
    names: tuple[str, ...],
    path: np.ndarray,
    sigma: float = 1.0,
) -> Systematic:
    """``z`` (n,) index by period in time order within each path, ``z_var`` its measurement
    variances, ``x`` (n, V) scaled macro moves (x - x_ref) / scale, ``path`` (n,)."""
    import statsmodels.api as sm

    n, V = x.shape
    design = np.column_stack([np.ones(n), x])
    if len(np.unique(path)) == 1:
        model = sm.GLSAR(z, design, rho=1)
        model.iterative_fit(maxiter=20)
        phi_hat = float(np.atleast_1d(model.rho)[0])
        # GLS again with phi corrected for its small-sample bias: with the raw estimate the
        # intervals of the coefficients undercover on a few years of months (89% at 48 months)
        result = sm.GLSAR(z, design, rho=_unbiased_phi(phi_hat, n)).fit()
        method = "GLSAR (feasible GLS, AR(1) errors, phi bias-corrected)"
    else:
        lags = max(1, int(np.floor(4 * (n / len(np.unique(path)) / 100) ** (2 / 9))))
        result = sm.OLS(z, design).fit(
            cov_type="hac-panel", cov_kwds={"groups": path, "maxlags": lags}
        )
        phi_hat = _pooled_ar1(z - design @ result.params, path)
        method = f"OLS with Newey-West errors within paths ({lags} lags)"
    params, bse = np.asarray(result.params), np.asarray(result.bse)
    residual = z - design @ params
    phi_adj = _unbiased_phi(phi_hat, n)
    dof = max((n - V - 1) * (1 - phi_adj**2) / (1 + phi_adj**2), 2.0)
    measurement = float(np.mean(z_var))
    raw = float(np.sum(residual**2) / max(n - V - 1, 1))
    k2_value = max(raw - measurement, 1e-8) / sigma**2
    k2 = Estimate(
        k2_value,
        dof * k2_value / float(stats.chi2.ppf(0.5 + LEVEL / 2, dof)),
        dof * k2_value / float(stats.chi2.ppf(0.5 - LEVEL / 2, dof)),
        float(k2_value * np.sqrt(2 / dof)),
    )
    lo, hi = k2.lower / (1 + k2.lower), k2.upper / (1 + k2.upper)
    rho = Estimate(k2.value / (1 + k2.value), lo, hi, k2.se / (1 + k2.value) ** 2)
    k = np.sqrt(k2.value)
    tq = _t(n - V - 1)
    gamma, beta = {}, {}
    for j, name in enumerate(names, start=1):
        g, se = float(params[j]), float(bse[j])
        gamma[name] = Estimate(g, g - tq * se, g + tq * se, se)
        beta[name] = _fieller(g, se, float(k), k2.se / (2 * float(k)), tq)
    level_se = float(bse[0])
    phi_se = float(np.sqrt(max(1 - phi_hat**2, 1e-6) / n))
    return Systematic(
        level=Estimate(
            float(params[0]), params[0] - tq * level_se, params[0] + tq * level_se, level_se
        ),
        k2=k2,
        rho=rho,
        beta=beta,
        gamma=gamma,
        phi=Estimate(phi_hat, phi_hat - 1.96 * phi_se, phi_hat + 1.96 * phi_se, phi_se),
        residual_sd=float(np.sqrt(raw)),
        index=(z - params[0]) / k,
        macro_part=(x @ params[1:]) / k,
        macro_moves=x,
        measurement_var=measurement,
        periods=n,
        method=method,
    )


def _unbiased_phi(phi: float, n: int) -> float:
    """An AR(1) coefficient corrected for its small-sample bias (Kendall 1954)."""
    return float(np.clip(phi + (1 + 3 * phi) / n, -0.99, 0.99))


def _fieller(gamma: float, se_gamma: float, k: float, se_k: float, tq: float) -> Estimate:
    """``beta = -gamma / k`` with Fieller's interval for a ratio (gamma and k independent):
    the betas with ``(gamma + beta k)^2 <= t^2 (se_gamma^2 + beta^2 se_k^2)``. Unbounded (an
    infinite end) when k is not clearly above 0; the delta method's s.e. beside it."""
    value = -gamma / k
    se = float(np.sqrt(se_gamma**2 + value**2 * se_k**2) / k)
    a = k**2 - tq**2 * se_k**2
    b = 2 * gamma * k
    c = gamma**2 - tq**2 * se_gamma**2
    disc = b**2 - 4 * a * c
    if a <= 0 or disc < 0:
        return Estimate(value, -np.inf, np.inf, se)
    root = np.sqrt(disc)
    return Estimate(value, float((-b - root) / (2 * a)), float((-b + root) / (2 * a)), se)


def _pooled_ar1(residual: np.ndarray, path: np.ndarray) -> float:
    """Lag-1 autocorrelation of the residuals within paths, pooled."""
    same = path[1:] == path[:-1]
    num = float(np.sum(residual[1:][same] * residual[:-1][same]))
    den = float(np.sum(residual[:-1][same] ** 2))
    return num / den if den > 0 else 0.0


def vasicek_rho(default_rates: np.ndarray) -> float:
    """The Vasicek moment estimator of the asset correlation from a default-rate series:
    ``s^2 / (1 + s^2)`` with ``s^2`` the variance of ``Phi^-1(rate)``."""
    s2 = float(np.var(special.ndtri(np.asarray(default_rates, dtype=float)), ddof=1))
    return s2 / (1 + s2)
