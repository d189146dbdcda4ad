"""The conditional expected loss of a large book given its factor path (for tail sampling).

Given the factor path the loans move independently, so the share of a segment-and-tier's
opening loans charged off by month m is the ``charged_off`` entry of the state distribution
propagated through the month's shifted transition matrices (the large-pool limit of the
kernel's chain): start current, rows ``Phi((Phi^-1(C) + delta - sqrt(rho) Z) / sqrt(1 - rho))``
of the normal (not restructured) matrices, ``Z = macro + sigma eta``. The book's conditional
loss is those shares weighted by opening principal. It leaves out what the factor moves less
(amortisation, prepayment, recoveries, the policies' levers, new lending): it only has to point
the importance sampler at the bad paths; the weights correct for the rest.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from simulator.states import CHARGED_OFF


def conditional_chargeoff(
    probits: np.ndarray,
    rho: np.ndarray,
    macro: np.ndarray,
    sigma: float,
    exposure: np.ndarray,
    eta: np.ndarray,
    window: int,
) -> np.ndarray:
    """Share of opening principal charged off by month ``window`` given each factor path.

    ``probits`` (G, T, 2, 7, 8) worst first (``tables.base_probits``), ``rho`` (G,), ``macro``
    (H, G), ``exposure`` (G, T) opening principal, ``eta`` (K, H): returns (K,).
    """
    weights = exposure / max(float(exposure.sum()), 1.0)
    rows = probits[:, :, 0]  # (G, T, 7, 8) normal rows
    root, rest = np.sqrt(rho)[:, None, None, None], np.sqrt(1.0 - rho)[:, None, None, None]
    k, (g, t) = eta.shape[0], exposure.shape
    dist = np.zeros((k, g, t, CHARGED_OFF + 1))
    dist[..., 0] = 1.0
    for month in range(window):
        z = macro[month][None, :] + sigma * eta[:, month][:, None]  # (K, G)
        cumulative = special.ndtr((rows[None] - root[None] * z[:, :, None, None, None])
                                  / rest[None])  # fmt: skip
        probability = np.diff(cumulative, axis=-1, prepend=0.0)[..., ::-1]  # state codes 0..7
        moved = np.einsum("kgts,kgtsd->kgtd", dist[..., :CHARGED_OFF], probability)
        moved[..., CHARGED_OFF] += dist[..., CHARGED_OFF]
        dist = moved
    return np.einsum("kgt,gt->k", dist[..., CHARGED_OFF], weights)
