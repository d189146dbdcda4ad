"""Tail sampling: importance sampling of the systematic factor path (SPEC 13).

The public API, in the order a run uses it:

* :class:`TailSampling` - what to aim at (``loss``, ``buffer`` or ``capital``), how far (the
  tail level) and the defensive share of paths left at the plain law;
* :func:`linear_mode_shift` - the mean shift ``mu`` of the factor innovations, found once per
  scenario before the run from pilot paths the caller runs (:mod:`.shift`);
* :class:`Shift` and :func:`shift_innovations` - the draws of a block of paths moved by ``mu``
  and each path's likelihood ratio, its ``weight`` (:mod:`.sampling`).

The package is plain NumPy on plain arrays: it knows nothing of the model, the engine or the
metrics (the engine tables call :func:`shift_innovations`; ``simulate`` calls the optimiser;
the weighted estimators are in :mod:`simulator.metrics.weighted`).
"""

from simulator.tail.sampling import DEFENSIVE_SHARE, Shift, shift_innovations
from simulator.tail.shift import (
    PILOT_PATHS,
    TARGETS,
    WINDOW_MONTHS,
    TailSampling,
    linear_mode_shift,
)

__all__ = [
    "DEFENSIVE_SHARE",
    "PILOT_PATHS",
    "TARGETS",
    "WINDOW_MONTHS",
    "Shift",
    "TailSampling",
    "linear_mode_shift",
    "shift_innovations",
]
