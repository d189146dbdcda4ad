"""The loan-month trace of a path: what ``--panel-out`` writes (SPEC 12's panel format).

A traced kernel call (one path, ``run_block(..., trace=new_trace(loans, horizon))``) fills one
row per loan and month, ``trace[0, loan, t]`` (int64):

* ``STATE``: 0 where the loan has no row that month (not yet originated, closed before, or its
  recovery window over), else ``state + 1 + (restructurings << RESTRUCTURED_SHIFT)``: its state
  at the month end (``current`` .. ``dpd_151_180``; ``paid_off`` or ``settled`` in the month it
  closes, its last row; ``charged_off`` from the month it is written off until it recovers, is
  judged or its recovery window ends) and the times it was restructured so far;
* ``PRINCIPAL`` (fen): principal at the month end; for a charged-off loan the balance written
  off, principal and interest (the base of its recoveries); 0 once closed;
* ``PAID`` (fen): what the borrower paid in the month - instalments (interest and principal),
  a prepayment with its accrued interest, or the settlement cash;
* ``RECOVERY`` (fen): recovered on a charged-off loan in the month, before the agency's fee;
* ``TERM``, ``INSTALMENT``: on a row of a loan on the book at the month end, its instalments
  still to fall due plus 1 and its instalment (fen); 0 on the other rows (not applicable).

A new loan's first row is its origination month (current, nothing paid). Both kernels write the
same integers. Paths are traced one at a time, so the memory is O(loans x months), for the
traced path only; the opening snapshot (month 0) comes from the book itself.
"""

from __future__ import annotations

import numpy as np

STATE, PRINCIPAL, PAID, RECOVERY, TERM, INSTALMENT = 0, 1, 2, 3, 4, 5
N_TRACE = 6
RESTRUCTURED_SHIFT = 8
"""Bits of the packed word below the restructuring count: ``state + 1`` (0..10) fits."""


def new_trace(loans: int, horizon: int) -> np.ndarray:
    """A zero trace (1, loans, horizon, N_TRACE) for one path."""
    return np.zeros((1, loans, horizon, N_TRACE), np.int64)


def no_trace() -> np.ndarray:
    """The trace of an untraced call: no path (the kernels record nothing)."""
    return np.zeros((0, 1, 1, N_TRACE), np.int64)


def pack_state(state: np.ndarray | int, restructurings: np.ndarray | int) -> np.ndarray | int:
    """The ``STATE`` word of a loan-month: ``state + 1 + (restructurings << 8)``."""
    return state + 1 + (restructurings << RESTRUCTURED_SHIFT)


def unpack_state(word: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(state, restructurings) of ``STATE`` words that are not 0."""
    return (word & ((1 << RESTRUCTURED_SHIFT) - 1)) - 1, word >> RESTRUCTURED_SHIFT
