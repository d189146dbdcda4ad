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
    lifetime: np.ndarray  # (H + 1, G, K, M, S, N, L, E, 2) float64
    twelve_month: np.ndarray  # (H + 1, G, K, M, S3, N, L, E, 2)
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
