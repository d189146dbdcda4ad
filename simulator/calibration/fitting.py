"""``fit``: a panel (and a macro history) in, a :class:`Calibration` of the model out.

Steps, one estimator module each: counts (:mod:`.counts`) -> per segment, the latent rows, tier
offsets and period index (:mod:`.rows`) -> the index's level, ``rho`` and ``beta``
(:mod:`.systematic`) -> base rows and tier offsets in the model's terms, with intervals ->
prepayment and recoveries (:mod:`.recovery`). Whatever the panel cannot tell comes from the base
model, and says so.

Base rows: the latent thresholds at the reference macro and eta = 0 are ``a - c``; the model's
rows are ``C = Phi((a - c) sqrt(1 - rho))`` (the average over Z ~ N(0, 1)), the tier offsets
``delta = d sqrt(1 - rho)``. Their intervals combine the counts' information (the thresholds'
covariance), the index level's uncertainty (few independent periods: it dominates on a short
history) and rho's, by the delta method, on the logit scale for each cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from simulator.calibration.counts import (
    N_DESTINATIONS,
    N_ROWS,
    Transitions,
    cohort_matrix,
    recoveries,
    transitions,
)
from simulator.calibration.macro import EXPECTED_SIGN, MacroHistory
from simulator.calibration.recovery import RecoveryFit, fit_recoveries, jeffreys
from simulator.calibration.rows import MIN_MOVES, RowFit, _allowed_destinations, fit_rows
from simulator.calibration.systematic import (
    LEVEL,
    Estimate,
    Systematic,
    fit_systematic,
    vasicek_rho,
)
from simulator.errors import InputError
from simulator.inputs.model import Model
from simulator.inputs.panel import Panel, month_text
from simulator.states import CURRENT, M1

ALLOWED = _allowed_destinations()


@dataclass(frozen=True)
class RowEstimate:
    """One row of a transition matrix: the model's probabilities with intervals and counts."""

    probabilities: np.ndarray  # (8,) the model's row, destinations in DESTINATIONS order
    lower: np.ndarray
    upper: np.ndarray
    moves: np.ndarray  # (8,) observed moves
    observed: np.ndarray  # (8,) observed frequencies over the window (cohort estimator)
    fitted: np.ndarray  # (8,) the model's frequencies at the fitted index, same weights
    source: str  # "fitted", "pooled over segments (...)" or "base model (...)"


@dataclass(frozen=True)
class SegmentCalibration:
    name: str
    loans: int
    moves: int
    normal: tuple[RowEstimate, ...]
    restructured: tuple[RowEstimate, ...]
    rho: Estimate | None
    vasicek_rho: float | None  # the moment estimator on the miss-rate series, as a check
    prepayment: Estimate | None
    prepay_counts: tuple[int, int]  # (prepayments, current loan-months at risk)
    systematic: Systematic | None
    periods: tuple[str, ...]  # "YYYY-MM" (with "pN/" for simulated paths) of each index value
    sign: dict[str, str] = field(default_factory=dict)
    source: str = "fitted"


@dataclass(frozen=True)
class TierEstimate:
    name: str
    min_score: int
    delta: Estimate
    moves: int
    source: str


@dataclass(frozen=True)
class Calibration:
    base: Model
    panel_source: str
    first_month: int
    last_month: int
    paths: int
    loans: int
    loan_months: int
    reference_month: int
    reference_tier: str
    sigma: float
    macro_source: str | None
    macro_reference: dict[str, float]
    segments: tuple[SegmentCalibration, ...]
    tiers: tuple[TierEstimate, ...]
    recovery: RecoveryFit | None
    excluded: dict[str, int]

    @property
    def window(self) -> str:
        return f"{month_text(self.first_month)} to {month_text(self.last_month)}"


def fit(
    panel: Panel,
    base: Model,
    macro: MacroHistory | None = None,
    *,
    reference: int | None = None,
    sigma: float = 1.0,
    min_moves: int = MIN_MOVES,
) -> Calibration:
    """Calibrate ``base``'s segments, tiers, prepayment and recoveries to ``panel``.

    ``reference``: the month (index) whose macro values the base rows correspond to - a
    scenario's month 0 (default: the panel's last month, the as-of date of today's book).
    ``sigma``: the factor scale of the scenarios the model will run with (``[factor] sigma``).
    """
    from threadpoolctl import threadpool_limits

    if panel.segment_names != base.segment_names or panel.tier_names != base.tier_names:
        raise InputError(panel.source, "the panel was read against another model")
    reference = panel.last_month if reference is None else reference
    counts = transitions(panel)
    if counts.counts.sum() == 0:
        raise InputError(
            panel.source, "no month-to-month moves: the panel needs two months or more"
        )
    ref_tier = int(np.argmin([abs(t.delta) for t in base.tiers]))
    macro_x, macro_reference = _macro_design(counts, macro, base, reference)
    with threadpool_limits(1, "blas"):  # small matrices: threads only contend
        fits = [_fit_segment(counts, g, ref_tier, min_moves) for g in range(len(base.segments))]
        systematic = [
            None if f is None else _systematic(f, counts, macro_x, macro, sigma) for f in fits
        ]
    loans = panel.loans()
    segments = tuple(
        _segment(panel, counts, base, g, fits[g], systematic[g], int(loans[g]))
        for g in range(len(base.segments))
    )
    segments = _pool_sparse_rows(segments, counts, base, min_moves)
    return Calibration(
        base=base,
        panel_source=panel.source,
        first_month=panel.first_month,
        last_month=panel.last_month,
        paths=panel.paths,
        loans=int(loans.sum()),
        loan_months=len(panel),
        reference_month=reference,
        reference_tier=base.tiers[ref_tier].name,
        sigma=sigma,
        macro_source=None if macro is None else macro.source,
        macro_reference=macro_reference,
        segments=segments,
        tiers=_tiers(base, counts, fits, systematic, ref_tier),
        recovery=fit_recoveries(recoveries(panel), base.recovery.window_months),
        excluded=counts.excluded,
    )


def _macro_design(
    counts: Transitions, macro: MacroHistory | None, base: Model, reference: int
) -> tuple[np.ndarray, dict[str, float]]:
    """Scaled macro moves (x - x_ref) / scale of each period, and x_ref."""
    if macro is None:
        return np.zeros((len(counts.period_month), 0)), {}
    x = macro.at(counts.period_month)
    ref = macro.at(np.array([reference]))[0]
    scale = np.array([base.macro_scale[v] for v in macro.variables])
    return (x - ref) / scale, dict(zip(macro.variables, ref.tolist(), strict=True))


def _fit_segment(counts: Transitions, g: int, ref_tier: int, min_moves: int) -> RowFit | None:
    data = counts.counts[:, g]
    if data.sum() < min_moves:
        return None
    try:
        return fit_rows(data, ref_tier, min_moves=min_moves)
    except ValueError:
        return None


def _systematic(
    fit: RowFit,
    counts: Transitions,
    macro_x: np.ndarray,
    macro: MacroHistory | None,
    sigma: float,
) -> Systematic | None:
    seen = fit.has_period
    if seen.sum() < macro_x.shape[1] + 3:
        return None
    names = () if macro is None else macro.variables
    return fit_systematic(
        fit.z[seen], fit.z_var[seen], macro_x[seen], names, counts.period_path[seen], sigma
    )


def _segment(
    panel: Panel,
    counts: Transitions,
    base: Model,
    g: int,
    fit: RowFit | None,
    systematic: Systematic | None,
    loans: int,
) -> SegmentCalibration:
    data = counts.counts[:, g]
    seg = base.segments[g]
    events, at_risk = int(counts.prepay_events[:, g].sum()), int(counts.prepay_at_risk[:, g].sum())
    rows = [
        [_base_row(seg.normal if m == 0 else seg.restructured, data, m, s) for s in range(N_ROWS)]
        for m in range(2)
    ]
    if fit is not None and systematic is not None:
        for m, s in zip(*np.nonzero(fit.fitted), strict=True):
            rows[m][s] = _fitted_row(fit, systematic, data, m, s)
    several = panel.paths > 1
    periods = tuple(
        (f"p{p}/" if several else "") + month_text(int(mo))
        for p, mo in zip(counts.period_path, counts.period_month, strict=True)
    )
    seen = () if fit is None else tuple(np.array(periods)[fit.has_period])
    return SegmentCalibration(
        name=seg.name,
        loans=loans,
        moves=int(data.sum()),
        normal=tuple(rows[0]),
        restructured=tuple(rows[1]),
        rho=None if systematic is None else systematic.rho,
        vasicek_rho=_vasicek(counts, g, fit),
        prepayment=jeffreys(events, at_risk) if at_risk else None,
        prepay_counts=(events, at_risk),
        systematic=systematic,
        periods=seen,
        sign=_signs(systematic),
        source="fitted" if systematic is not None else "base model (too few moves in the panel)",
    )


def _signs(systematic: Systematic | None) -> dict[str, str]:
    out = {}
    for name, b in ({} if systematic is None else systematic.beta).items():
        expected = EXPECTED_SIGN.get(name, 0)
        if b.lower <= 0 <= b.upper:
            out[name] = "not significant (its interval contains 0)"
        elif expected == 0:
            out[name] = "no expected sign"
        elif np.sign(b.value) == expected:
            out[name] = "as expected"
        else:
            out[name] = "opposite to the expected sign"
    return out


def _observed(data: np.ndarray, m: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    moves = data[:, :, m, s].sum(axis=(0, 1))
    return moves, cohort_matrix(moves[None, None, :])[0] if moves.sum() else np.full(
        N_DESTINATIONS, np.nan
    )


def _base_row(matrix: np.ndarray, data: np.ndarray, m: int, s: int) -> RowEstimate:
    moves, observed = _observed(data, m, s)
    row = matrix[s]
    return RowEstimate(
        row,
        row,
        row,
        moves,
        observed,
        np.full(N_DESTINATIONS, np.nan),
        f"base model (only {int(moves.sum())} moves observed)",
    )


def _fitted_row(fit: RowFit, sys: Systematic, data: np.ndarray, m: int, s: int) -> RowEstimate:
    k = s + 1  # thresholds of the row: destinations 1..s+1
    a = fit.a[m, s, :k]
    scale = np.sqrt(1 - sys.rho.value)
    b = (a - sys.level.value) * scale
    var_scale = sys.rho.se**2 / (4 * scale**2)
    cov = scale**2 * (fit.a_cov[m, s, :k, :k] + sys.level.se**2) + var_scale * np.outer(
        a - sys.level.value, a - sys.level.value
    )
    tails = special.ndtr(b)
    p = -np.diff(np.concatenate([[1.0], tails, [0.0]]))
    jac = np.zeros((k + 1, k))  # d p_j / d b_i, p_0 = 1 - T_1, p_j = T_j - T_(j+1)
    density = stats.norm.pdf(b)
    for j in range(k + 1):
        if j >= 1:
            jac[j, j - 1] += density[j - 1]
        if j < k:
            jac[j, j] -= density[j]
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac, cov, jac), 0))
    zq = float(stats.norm.ppf(0.5 + LEVEL / 2))
    logit = special.logit(np.clip(p, 1e-12, 1 - 1e-12))
    half = zq * se / np.maximum(p * (1 - p), 1e-12)
    probabilities = np.zeros(N_DESTINATIONS)
    lower, upper = np.zeros(N_DESTINATIONS), np.zeros(N_DESTINATIONS)
    probabilities[: k + 1] = p
    lower[: k + 1] = special.expit(logit - half)
    upper[: k + 1] = special.expit(logit + half)
    moves, observed = _observed(data, m, s)
    return RowEstimate(
        probabilities, lower, upper, moves, observed, _fitted_average(fit, data, m, s), "fitted"
    )


def _fitted_average(fit: RowFit, data: np.ndarray, m: int, s: int) -> np.ndarray:
    """The fitted model's frequencies over the window: each period and tier at its fitted index,
    weighted by its moves (comparable with the observed frequencies)."""
    from simulator.calibration.rows import shifted_cells

    weights = data[:, :, m, s].sum(axis=-1)  # (U, T)
    cells = shifted_cells(fit.a[m, s], fit.d[None, :] - fit.z[:, None])  # (U, T, 8)
    total = weights.sum()
    return (
        (cells * weights[..., None]).sum(axis=(0, 1)) / total
        if total
        else np.full(N_DESTINATIONS, np.nan)
    )


def _pool_sparse_rows(
    segments: tuple[SegmentCalibration, ...], counts: Transitions, base: Model, min_moves: int
) -> tuple[SegmentCalibration, ...]:
    """Rows a segment saw too little of: the pooled frequencies of all segments if they saw
    enough, else the base model's; a segment absent from the panel keeps the base model's."""
    from dataclasses import replace

    pooled = counts.counts.sum(axis=(0, 1, 2))  # (2, 7, 8)

    def pool(row: RowEstimate, m: int, s: int, seen: int) -> RowEstimate:
        total = int(pooled[m, s].sum())
        if seen == 0 or row.source == "fitted" or total < min_moves:
            return row
        return _pooled_row(row, pooled[m, s], s)

    return tuple(
        replace(
            seg,
            normal=tuple(pool(r, 0, s, seg.moves) for s, r in enumerate(seg.normal)),
            restructured=tuple(pool(r, 1, s, seg.moves) for s, r in enumerate(seg.restructured)),
        )
        for seg in segments
    )


def _pooled_row(row: RowEstimate, moves: np.ndarray, s: int) -> RowEstimate:
    """Cohort frequencies of the pooled moves (with Jeffreys' pseudo-counts), Goodman's
    simultaneous intervals on the pooled counts."""
    from dataclasses import replace

    from statsmodels.stats.proportion import multinomial_proportions_confint

    allowed = ALLOWED[s]
    total = int(moves.sum())
    freq = (moves + 0.5 * allowed) / (total + 0.5 * allowed.sum())
    ci = np.zeros((N_DESTINATIONS, 2))
    ci[allowed] = multinomial_proportions_confint(moves[allowed], alpha=1 - LEVEL, method="goodman")
    own = int(row.moves.sum())
    return replace(
        row,
        probabilities=np.where(allowed, freq, 0.0),
        lower=ci[:, 0],
        upper=ci[:, 1],
        source=f"pooled over segments ({total} moves; this segment: {own})",
    )


def _tiers(
    base: Model,
    counts: Transitions,
    fits: list[RowFit | None],
    systematic: list[Systematic | None],
    ref_tier: int,
) -> tuple[TierEstimate, ...]:
    """Tier offsets: each segment's latent offsets in the model's scale, combined across
    segments by inverse-variance weights."""
    moves = counts.counts.sum(axis=(0, 1, 3, 4, 5))
    out = []
    for k, tier in enumerate(base.tiers):
        values, weights = [], []
        for f, sys in zip(fits, systematic, strict=True):
            if f is None or sys is None or not f.d_fitted[k] or f.d_var[k] <= 0:
                continue
            s = np.sqrt(1 - sys.rho.value)
            var = s**2 * f.d_var[k] + f.d[k] ** 2 * sys.rho.se**2 / (4 * s**2)
            values.append(f.d[k] * s)
            weights.append(1 / var)
        if k == ref_tier:
            est, source = Estimate(0.0, 0.0, 0.0, 0.0), "reference tier (0 by construction)"
        elif values:
            w = np.array(weights)
            value = float(np.dot(w, values) / w.sum())
            se = float(1 / np.sqrt(w.sum()))
            zq = float(stats.norm.ppf(0.5 + LEVEL / 2))
            est, source = Estimate(value, value - zq * se, value + zq * se, se), "fitted"
        else:
            est = Estimate(tier.delta, tier.delta, tier.delta)
            source = "base model (no moves of this tier)"
        out.append(TierEstimate(tier.name, tier.min_score, est, int(moves[k]), source))
    return tuple(out)


def _vasicek(counts: Transitions, g: int, fit: RowFit | None) -> float | None:
    if fit is None:
        return None
    rates = miss_rates(counts, g)[fit.has_period]
    return vasicek_rho(rates) if np.all((rates > 0) & (rates < 1)) and len(rates) > 2 else None


def miss_rates(counts: Transitions, g: int) -> np.ndarray:
    """Monthly current -> 1-30 DPD rate of a segment's normal loans (all tiers), by period."""
    current = counts.counts[:, g, :, 0, CURRENT].sum(axis=1)  # (U, 8)
    return current[:, M1] / np.maximum(current.sum(axis=1), 1)
