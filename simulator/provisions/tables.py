"""What the kernels read to book provisions: the ECL tables and the staging and category rules.

One :class:`ProvisionTables` per scenario and policy (the ECL tables of ``provisions.ecl``
depend on both), and per block of paths the position of each path-month's factor on the
tables' grid (:class:`FactorPosition`). Both kernels compute, at the end of every month, for
every loan on the book:

* its stage and category from its state, whether it is restructured and the months since its
  last restructuring (``ProvisionRules.stage`` and ``classify`` in ``inputs.accounting``);
* its ECL in fen, ``rint(principal * (V + (r - r_ref) * dV/dr))``, V and dV/dr read at the two
  grid points around the path's factor and interpolated linearly, from the 12-month table in
  stage 1 and the lifetime table otherwise.

The arithmetic is written in the same order in both engines, so they agree to the fen. This
module is the low floor of provisions: it imports nothing of the engine.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

NOT_RESTRUCTURED = 1 << 30
"""Months since restructuring of a loan never restructured: beyond any probation."""


class ProvisionTables(NamedTuple):
    """Kernel inputs of provisions for one scenario and policy (``enabled`` False: none)."""

    enabled: bool
    lifetime: np.ndarray  # (H + 1, E - 1, G, K, M, S, N, L, 4) float32: value and rate slope
    # at the grid points e and e + 1 (``provisions.ecl.lookup_layout``)
    twelve_month: np.ndarray  # (H + 1, E - 1, G, K, M, S3, N, L, 4)
    reference_rate: np.ndarray  # (G, K) monthly
    max_term: int
    legal_min_balance: int  # fen (0: the legal index is always 0)
    stage_2_state: int
    stage_3_state: int
    probation_months: int
    category: np.ndarray  # (7,) int8
    observation_months: int
    restructured_floor: int
    restructured_overdue_floor: int
    grid_start: float  # the factor grid: grid_start + i * grid_step, i < grid_points
    grid_step: float
    grid_points: int


DISABLED = ProvisionTables(
    False,
    np.zeros((1,) * 9),
    np.zeros((1,) * 9),
    np.zeros((1, 1)),
    0,
    0,
    127,
    127,
    0,
    np.zeros(7, np.int8),
    0,
    0,
    0,
    0.0,
    1.0,
    2,
)
"""No provisions: the kernels book nothing in the ledger but the losses by tier."""


class FactorPosition(NamedTuple):
    """Where each path-month's factor falls on the ECL grid, for one block of paths."""

    lower: np.ndarray  # (B, H) int64: the lower grid point
    weight: np.ndarray  # (B, H) float64: linear weight of the upper one


def factor_position(provisions: ProvisionTables, eta: np.ndarray) -> FactorPosition:
    """Grid index and weight of each path-month's factor ``eta`` (B, H)."""
    x = (np.asarray(eta, dtype=np.float64) - provisions.grid_start) / provisions.grid_step
    index = np.clip(np.floor(x), 0, provisions.grid_points - 2).astype(np.int64)
    return FactorPosition(index, np.clip(x - index, 0.0, 1.0))


# The Numba kernel reads the tables flat, with their sizes and the rules in one tuple of
# integers (values, not an array: they stay in registers, where an array's would be loaded
# again after every store to the accumulators, which might alias it).
ENABLED, STAGE_2, STAGE_3, PROBATION, OBSERVATION, FLOOR, OVERDUE_FLOOR = range(7)
MAX_TERM_AT, LEGAL_MIN_AT, CATEGORY_AT = 7, 8, 9  # CATEGORY_AT + state: the state's category
SIZES_AT = CATEGORY_AT + 7  # G, T, M, S, S3, N, L, E
G_AT, T_AT, M_AT, S_AT, S3_AT, N_AT, L_AT, E_AT = range(SIZES_AT, SIZES_AT + 8)
N_RULES = SIZES_AT + 8


def kernel_rules(provisions: ProvisionTables) -> np.ndarray:
    """The rules and table sizes as one int64 array (``*_AT`` and the indices above)."""
    rules = np.zeros(N_RULES, np.int64)
    rules[:OVERDUE_FLOOR + 1] = (
        provisions.enabled, provisions.stage_2_state, provisions.stage_3_state,
        provisions.probation_months, provisions.observation_months,
        provisions.restructured_floor, provisions.restructured_overdue_floor,
    )  # fmt: skip
    rules[MAX_TERM_AT] = provisions.max_term
    rules[LEGAL_MIN_AT] = provisions.legal_min_balance
    rules[CATEGORY_AT : CATEGORY_AT + 7] = provisions.category
    _, e, g, t, m, s, n, legal, _ = provisions.lifetime.shape  # e: grid intervals
    rules[SIZES_AT : SIZES_AT + 8] = (g, t, m, s, provisions.twelve_month.shape[5], n, legal, e)
    return rules
