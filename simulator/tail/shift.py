"""The shift: the most likely innovation path that reaches the tail (large-deviations mode).

Choice. The shift is the large-deviations mode of the target's *linear response* to the factor
innovations, measured on pilot paths of the engine itself (one cross-entropy step with a
linear model), rather than the mode of an analytic conditional expected loss. An analytic
large-pool chain (start current, no amortisation) points at the wrong months: on the default
book the loss over the horizon hangs mostly on the first months' shocks (the loans already in
arrears, the book amortising), which a pilot sees and a stylised chain does not (measured:
cosine 0.4 between the chain's mode and the pilot's direction, against R^2 = 0.86 for the
pilot's linear fit of the loss rate). The pilot is deterministic (its own seed, plain draws),
runs before the blocks in the process that calls ``simulate``, and its shift travels with the
inputs, so Dask workers and a resumed run use the very same shift. A poor shift costs variance,
never bias: the weights correct for whatever shift is used.

Formulas. A path's factor is AR(1), stationary N(0, 1), driven by H standard normal
innovations ``eps`` (``eta_1 = eps_1``, ``eta_t = phi eta_{t-1} + sqrt(1 - phi^2) eps_t``). On
P pilot paths the target's score ``y`` (larger is worse: the loss rate; minus the lowest buffer
or capital ratio of the first 12 months) is fitted by least squares, ``y ~ c + b'eps``. For a
linear score the tail event ``{c + b'eps >= x}`` has probability ``Phi(-(x - c) / |b|)`` and its
mode, the minimum-norm innovation path reaching ``x``, is

    mu = (x - c) / |b|^2 * b,     |mu| = (x - c) / |b|,

(Glasserman and Li 2005 shift to this mode). ``loss`` aims at the level-a tail:
``|mu| = Phi^-1(a)``. ``buffer`` and ``capital`` aim at their event (buffer below 0, capital
ratio below the minimum, within 12 months): along the fit's gradient ``b``, at the distance
``Phi^-1(1 - p)`` that a linear score's event of the pilot's frequency p has (more robust than
``(x - c) / |b|`` when the fit explains only part of the score: the buffer's 12-month low has
R^2 of about 0.55, its event hanging on the funding lines' roll-over months; ``(x - c) / |b|``
when no pilot path reaches the event), capped at ``Phi^-1(a)``, and 0 when the event is not
rare (p >= 1/2: nothing to sample; the run is the plain run, weights 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from simulator.tail.sampling import DEFENSIVE_SHARE

TARGETS = ("loss", "buffer", "capital")
WINDOW_MONTHS = 12
"""The months over which ``buffer`` and ``capital`` look for their event."""
DEFAULT_LEVEL = 0.999
PILOT_PATHS = 256


@dataclass(frozen=True)
class TailSampling:
    """What tail sampling aims at: ``target``, the tail ``level`` (the largest shift's norm is
    ``Phi^-1(level)``), the ``defensive`` share of paths left at the plain law, the ``pilot``
    paths the shift is fitted on, and a ``scale`` of the shift (0: the plain run)."""

    target: str = "loss"
    level: float = DEFAULT_LEVEL
    defensive: float = DEFENSIVE_SHARE
    pilot: int = PILOT_PATHS
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(
                f"unknown tail-sampling target '{self.target}': expected one of "
                f"{', '.join(TARGETS)}"
            )
        if not 0.5 < self.level < 1.0:
            raise ValueError(f"the tail level must be in (0.5, 1), got {self.level}")
        if not 0.0 <= self.defensive < 1.0:
            raise ValueError(f"the defensive share must be in [0, 1), got {self.defensive}")
        if not 0.0 <= self.scale <= 2.0:
            raise ValueError(f"the shift scale must be in [0, 2], got {self.scale}")
        if self.pilot < 16:
            raise ValueError(f"the pilot needs at least 16 paths, got {self.pilot}")

    @property
    def radius(self) -> float:
        """The norm of the shift aimed at the level-a tail: ``Phi^-1(level)``."""
        return float(special.ndtri(self.level))


def linear_mode_shift(
    eps: np.ndarray, score: np.ndarray, radius: float, threshold: float | None = None
) -> np.ndarray:
    """``mu`` (H,): the mode of the tail of the score's linear fit on pilot paths.

    ``eps`` (P, H) the pilot's innovations, ``score`` (P,) larger is worse. Without a
    ``threshold``: the shift of norm ``radius`` along the fit's gradient (the level's tail);
    with one: along the same gradient, as far as the event's pilot frequency says
    (``Phi^-1(1 - p)``, the module docstring; the fitted distance when no pilot path reaches
    it), at most ``radius``, 0 when the event is not rare. 0 if the score does not move.
    """
    design = np.column_stack([np.ones(len(score)), eps])
    coefficients = np.linalg.lstsq(design, score, rcond=None)[0]
    c, b = float(coefficients[0]), coefficients[1:]
    norm = float(np.sqrt(np.sum(b * b)))
    if norm == 0.0 or not np.isfinite(norm):
        return np.zeros(eps.shape[1])
    return _distance(c, norm, score, radius, threshold) * b / norm


def _distance(
    c: float, norm: float, score: np.ndarray, radius: float, threshold: float | None
) -> float:
    if threshold is None:
        return radius
    share = float(np.mean(score >= threshold))
    if share >= 0.5:
        return 0.0
    fitted = (threshold - c) / norm if share == 0.0 else float(special.ndtri(1.0 - share))
    return min(max(fitted, 0.0), radius)
