"""Model tables: everything the kernel needs, computed once per scenario, policy and path block.

The kernel never evaluates a distribution function. Here, with NumPy and SciPy:

* the scenario's macro variables are interpolated to months and turned into each segment's
  deterministic credit-cycle index ``-sum_v beta[g, v] (x[v, t] - x[v, 0]) / scale[v]``;
* each path gets a systematic factor ``eta`` (AR(1), stationary N(0, 1)) from its own Philox
  stream, so ``Z[p, t, g] = macro[t, g] + sigma * eta[p, t]`` (SPEC 3.3); under tail sampling
  (SPEC 13) its shocks are the same draws plus the scenario's shift ``mu`` on most paths, and
  each path's likelihood ratio is ``Tables.weight`` (:mod:`simulator.tail`);
* each base transition row, with destinations ordered worst first and cumulated to ``C``, is
  shifted by the tier offset and by Z with the one-parameter probit (Vasicek) shift
  ``C'(Z) = Phi((Phi^-1(C) + delta - sqrt(rho) Z) / sqrt(1 - rho))`` and stored as integer
  thresholds ``floor(C' * 2^32)``: a borrower goes to the first destination whose threshold
  exceeds a raw 32-bit Philox word. Both engines read the same integers, so they agree exactly.

Sizes are O(paths x months x segments) times the small constant tiers x 2 x 7 x 8; nothing is
per loan and path.
"""

from __future__ import annotations

import functools
import zlib

import numpy as np
from scipy import special, stats

from simulator.engine.arrays import TWO_32, Levers, Pool, Tables, thresholds
from simulator.engine.layout import MEMORY_MONTHS, PURPOSE_MACRO
from simulator.engine.levers import grace_days, path_levers, policy_levers
from simulator.inputs.model import CollectionsResponse, Model
from simulator.inputs.policy import Policy
from simulator.inputs.scenario import Scenario, macro_index
from simulator.provisions.tables import DISABLED, ProvisionTables, factor_position
from simulator.rng import philox4x32_10_numpy, uniform53_numpy
from simulator.states import ACTIVE_STATES, CHARGED_OFF, CURRENT, M1
from simulator.tail.sampling import Shift, shift_innovations

QUANTILE_BITS = 12
"""Recovered fractions are drawn from a table of 2^12 Beta quantiles (the top 12 bits of a word)."""

WORST_FIRST = np.arange(CHARGED_OFF, -1, -1)
MISS_COLUMN = CHARGED_OFF - M1
"""Position of M1 among the worst-first destinations: from current, the miss threshold."""
"""Destination codes in threshold order: charged_off, M6, ..., M1, current."""


def seed_key(seed: int) -> tuple[int, int]:
    """The two 32-bit words of the Philox key for a 64-bit seed."""
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed & 0xFFFFFFFF, seed >> 32


def scenario_stream(name: str) -> int:
    """The scenario's stream id (fourth counter word): a scenario's paths do not depend on which
    other scenarios are in the same run."""
    return zlib.crc32(name.encode("utf-8"))


# --- macro index ----------------------------------------------------------------------------


def macro_path_index(model: Model, scenario: Scenario, horizon: int) -> np.ndarray:
    """Deterministic part of Z for months 1..horizon, shape (horizon, segments)."""
    return macro_index(model, scenario, horizon)


def systematic_factor(
    seed: int, scenario: Scenario, paths: range, horizon: int, shift: Shift | None = None
) -> np.ndarray:
    """``eta[p, t]`` for the given paths, months 1..horizon: AR(1), stationary N(0, 1).

    Each path-month's shock comes from its own Philox counter (path, month), so a path's factor
    is the same whatever block of paths it is computed in. ``shift``: tail sampling's shift of
    the shocks (:func:`factor_and_weight` gives the paths' weights too).
    """
    return factor_and_weight(seed, scenario, paths, horizon, shift)[0]


def factor_and_weight(
    seed: int, scenario: Scenario, paths: range, horizon: int, shift: Shift | None
) -> tuple[np.ndarray, np.ndarray]:
    """``(eta, weight)``: the factor with the shocks moved by ``shift`` (SPEC 13; none: the
    plain draws) and each path's likelihood ratio (1 without a shift)."""
    shocks = factor_shocks(seed, scenario, paths, horizon)
    steer = np.asarray(scenario.innovation_mean[:horizon], dtype=np.float64)
    shocks[:, : len(steer)] += steer  # a scenario's own mean path (``stress-sim reverse``)
    shocks, weight = shift_innovations(shocks, paths, shift)
    eta = np.empty_like(shocks)
    eta[:, 0] = shocks[:, 0]  # start in the stationary distribution
    innovation = np.sqrt(1.0 - scenario.phi**2)
    for month in range(1, horizon):
        eta[:, month] = scenario.phi * eta[:, month - 1] + innovation * shocks[:, month]
    return eta, weight


def factor_shocks(seed: int, scenario: Scenario, paths: range, horizon: int) -> np.ndarray:
    """The standard normal shocks (B, H) of the factor: one Philox counter per path-month."""
    key = np.array(seed_key(seed), dtype=np.uint32)
    p, t = np.meshgrid(
        np.asarray(paths, dtype=np.uint32), np.arange(horizon, dtype=np.uint32), indexing="ij"
    )
    counter = np.stack(
        [
            np.zeros_like(p),
            p,
            (t << 4) | PURPOSE_MACRO,
            np.full_like(p, scenario_stream(scenario.name)),
        ],
        axis=-1,
    )
    words = philox4x32_10_numpy(counter, key)
    return np.asarray(special.ndtri(uniform53_numpy(words[..., 0], words[..., 1])))


def credit_cycle_index(
    model: Model, scenario: Scenario, seed: int, paths: range, horizon: int
) -> np.ndarray:
    """``Z[p, t, g]`` for the given paths: negative is bad times."""
    eta = systematic_factor(seed, scenario, paths, horizon)
    return index_from_factor(model, scenario, eta)


def index_from_factor(model: Model, scenario: Scenario, eta: np.ndarray) -> np.ndarray:
    """``Z[p, t, g] = macro[t, g] + sigma * eta[p, t]``."""
    macro = macro_path_index(model, scenario, eta.shape[1])
    return macro[None, :, :] + scenario.sigma * eta[:, :, None]


# --- transition thresholds ------------------------------------------------------------------


def with_collections(
    matrix: np.ndarray, intensity: float, response: CollectionsResponse
) -> np.ndarray:
    """Rows of a base matrix under a collections intensity (1.0 leaves them untouched).

    Cures from a bucket scale with intensity ** elasticity; above the baseline, the roll to the
    next bucket rises by ``backlash`` per unit of extra intensity; staying takes up the rest.
    """
    if intensity == 1.0:
        return matrix
    out = matrix.copy()
    for k in range(1, len(ACTIVE_STATES)):
        cure = out[k, :k] * intensity**response.cure_elasticity
        roll = out[k, k + 1] * (1.0 + response.backlash * max(intensity - 1.0, 0.0))
        stay = 1.0 - cure.sum() - roll
        if stay < 0.0:  # more cure and roll than probability: scale them to fill the row
            cure, roll, stay = cure / (1 - stay), roll / (1 - stay), 0.0
        out[k, :k], out[k, k], out[k, k + 1] = cure, stay, roll
    return out


def base_probits(model: Model, policy: Policy) -> np.ndarray:
    """``Phi^-1(C) + delta`` for every (segment, tier, normal/restructured, row, destination).

    Shape (G, T, 2, 7, 8), destinations worst first; -inf where C = 0, +inf where C = 1.
    """
    matrices = np.stack(
        [
            np.stack(
                [
                    with_collections(s.normal, policy.collections.intensity, model.collections),
                    with_collections(
                        s.restructured, policy.collections.intensity, model.collections
                    ),
                ]
            )
            for s in model.segments
        ]
    )  # (G, 2, 7, 8)
    # Grace periods invite reliance: the miss probability from current rises with the tier's
    # grace days (moral hazard). Misses cured within grace are decided in the kernel.
    hazard = 1.0 + model.grace.moral_hazard_per_day * grace_days(model, policy)  # (T,)
    matrices = np.repeat(matrices[:, None], len(model.tiers), axis=1)  # (G, T, 2, 7, 8)
    miss = np.minimum(matrices[..., CURRENT, M1] * hazard[None, :, None], 1.0)
    matrices[..., CURRENT, M1], matrices[..., CURRENT, CURRENT] = miss, 1.0 - miss
    cumulative = np.cumsum(matrices[..., WORST_FIRST], axis=-1)
    cumulative = np.clip(cumulative, 0.0, 1.0)
    cumulative[..., -1] = 1.0  # rows sum to 1 within 1e-9: make the last threshold exact
    delta = np.array([t.delta for t in model.tiers])
    return special.ndtri(cumulative) + delta[None, :, None, None, None]


def transition_thresholds(probits: np.ndarray, rho: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Shifted cumulative thresholds, shape (B, H, G, T, 2, 7, 8), int64 in [0, 2^32].

    ``floor(Phi((probits - sqrt(rho) Z) / sqrt(1 - rho)) * 2^32)``, in parallel over path-months
    and once per distinct probit (see ``tables_numba``).
    """
    from simulator.engine.tables_numba import distinct_probits, shifted_thresholds

    values, counts, index = distinct_probits(probits)
    z = np.ascontiguousarray(z, dtype=np.float64)
    out = np.empty((*z.shape, index.shape[1]), dtype=np.int64)
    shifted_thresholds(values, counts, index, np.sqrt(rho), np.sqrt(1.0 - rho), z, out)
    return out.reshape(z.shape + probits.shape[1:])


def beta_quantiles(alpha: float, beta: float) -> np.ndarray:
    """Beta(alpha, beta) quantiles at the midpoints of 2^QUANTILE_BITS equal steps.

    The same for every block of a run and a few milliseconds of SciPy each time, so they are
    computed once per (alpha, beta); each call gets its own copy.
    """
    return _beta_quantiles(float(alpha), float(beta)).copy()


@functools.lru_cache(maxsize=16)
def _beta_quantiles(alpha: float, beta: float) -> np.ndarray:
    levels = (np.arange(2**QUANTILE_BITS) + 0.5) / 2**QUANTILE_BITS
    return np.asarray(stats.beta.ppf(levels, alpha, beta), dtype=np.float64)


# --- the tables of one run ------------------------------------------------------------------


def build_tables(
    model: Model,
    scenario: Scenario,
    policy: Policy,
    *,
    seed: int,
    paths: range,
    horizon: int,
    probits: np.ndarray | None = None,
    levers: Levers | None = None,
    pool: Pool | None = None,
    provisions: ProvisionTables = DISABLED,
    shift: Shift | None = None,
) -> Tables:
    """The tables for one block of paths (``probits`` and ``levers`` may be passed in when
    reused; ``levers`` must be, for a policy with re-instalment, as they depend on the book).

    ``pool``: the candidate new loans of the book the kernel will run (none if omitted);
    ``provisions``: the ECL tables and rules of this scenario and policy (default: none);
    ``shift``: tail sampling's shift of the factor shocks (SPEC 13; the paths' likelihood
    ratios are ``Tables.weight``)."""
    if probits is None:
        probits = base_probits(model, policy)
    if levers is None:
        levers = policy_levers(model, policy, book=None)
    rho = np.array([s.rho for s in model.segments])
    eta, weight = factor_and_weight(seed, scenario, paths, horizon, shift)
    z = index_from_factor(model, scenario, eta)
    recovery = model.recovery
    return Tables(
        first_path=paths.start,
        z=z,
        transition=transition_thresholds(probits, rho, z),
        prepay=thresholds([s.prepayment for s in model.segments]),
        penalty_multiplier=model.penalty_multiplier,
        recovery_hazard=int(thresholds(recovery.monthly_hazard)),
        recovery_quantiles=beta_quantiles(recovery.fraction_alpha, recovery.fraction_beta),
        agency_fee=recovery.agency_fee,
        recovery_window=recovery.window_months,
        key=seed_key(seed),
        stream=scenario_stream(scenario.name),
        levers=levers,
        path_levers=path_levers(model, policy, z),
        originations=(np.zeros(z.shape[:2], np.int64) if pool is None else pool.originations(z)),
        provisions=provisions,
        factor_position=factor_position(provisions, eta),
        quick=quick_payers(model, probits),
        days_to_pay=days_to_pay(model.payments.pay_per_day),
        relief_memory=relief_memory(model.relief.peak, model.relief.decay),
        weight=weight,
    )


def quick_payers(model: Model, probits: np.ndarray) -> np.ndarray:
    """Probability (G, T, 2) that a current loan misses the due date and pays within the month:
    in normal times (the unshifted row: Z's average), a share ``quick_share`` of the Day-1
    misses, so ``miss * q / (1 - q)``. Accidental misses do not grow with stress, so the
    month-end misses do and the 30-day collection rate falls, as lenders report in a
    downturn."""
    share = model.payments.quick_share
    miss = special.ndtr(probits[:, :, :, CURRENT, MISS_COLUMN])
    return np.ascontiguousarray(miss * share / (1.0 - share))


def days_to_pay(pay_per_day: float) -> np.ndarray:
    """Thresholds of the days a quick payer takes after the due date: a payment on each day
    with probability ``pay_per_day``, given that it comes within the month (30 days)."""
    days = np.arange(31)
    within = (1 - (1 - pay_per_day) ** days) / (1 - (1 - pay_per_day) ** 30)
    out = thresholds(within)
    out[30] = int(TWO_32)
    return out


def relief_memory(peak: np.ndarray, decay: float) -> np.ndarray:
    """Miss-probability factor (7, MEMORY_MONTHS + 1) by the state a loan was relieved from and
    the months since the relief ended: ``1 + (peak - 1) * decay^months``."""
    months = np.arange(MEMORY_MONTHS + 1)
    return np.ascontiguousarray(1.0 + (peak[:, None] - 1.0) * decay ** months[None, :])
