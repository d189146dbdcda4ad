"""Borrower states (SPEC 4), their integer codes in the engine, and the delinquency buckets.

Codes are the positions in :data:`STATES`. Transition matrices have one row per *active* state
(``current`` and the six buckets M1..M6) and one column per destination a transition can reach:
the same seven states plus ``charged_off`` (a roll out of M6).
"""

from __future__ import annotations

import numpy as np

STATES: tuple[str, ...] = (
    "current",
    "dpd_1_30",
    "dpd_31_60",
    "dpd_61_90",
    "dpd_91_120",
    "dpd_121_150",
    "dpd_151_180",
    "charged_off",
    "paid_off",
    "settled",
)
CURRENT = 0
M1, M6 = 1, 6
CHARGED_OFF, PAID_OFF, SETTLED = 7, 8, 9

ACTIVE_STATES = STATES[: M6 + 1]
"""Rows of a transition matrix: states from which a loan can still move."""
DESTINATIONS = STATES[: CHARGED_OFF + 1]
"""Columns of a transition matrix."""
BUCKETS = STATES[M1 : M6 + 1]
"""Delinquency buckets M1..M6, 30 days each."""
MAX_DPD = 180


def state_from_dpd(dpd: np.ndarray) -> np.ndarray:
    """Bucket code of each days-past-due value (0 -> current, 1-30 -> M1, ... 151-180 -> M6)."""
    return ((np.asarray(dpd) + 29) // 30).astype(np.int8)
