"""The table builder's fast paths give the tables the plain NumPy/SciPy formulas give.

``transition_thresholds`` runs in Numba, once per distinct probit, with Phi from ``erfc``;
``beta_quantiles`` is cached. Both engines read the same tables, so these tests pin the tables
themselves against the formulas of SPEC 3.3 written out with SciPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from simulator.engine.arrays import thresholds
from simulator.engine.tables import (
    QUANTILE_BITS,
    base_probits,
    beta_quantiles,
    credit_cycle_index,
    transition_thresholds,
)
from simulator.inputs.model import load_model
from simulator.inputs.policy import load_policy
from simulator.inputs.scenario import load_scenario


def scipy_thresholds(probits: np.ndarray, rho: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``floor(Phi((probit - sqrt(rho) Z) / sqrt(1 - rho)) * 2^32)`` over the whole array."""
    shift = (np.sqrt(rho)[None, None, :] * z)[:, :, :, None, None, None, None]
    scale = np.sqrt(1.0 - rho)[None, None, :, None, None, None, None]
    with np.errstate(invalid="ignore"):
        return thresholds(special.ndtr((probits[None, None] - shift) / scale))


@pytest.mark.parametrize("policy", ["standard", "harsh-collections", "grace"])
@pytest.mark.parametrize("scenario", ["baseline", "severe", "pandemic"])
def test_transition_thresholds_match_scipy(scenario: str, policy: str) -> None:
    model = load_model("default")
    rho = np.array([s.rho for s in model.segments])
    probits = base_probits(model, load_policy(policy))
    z = credit_cycle_index(model, load_scenario(scenario), 11, range(40, 72), 36)
    fast, plain = transition_thresholds(probits, rho, z), scipy_thresholds(probits, rho, z)
    assert fast.shape == plain.shape == (32, 36, *probits.shape)
    assert fast.dtype == np.int64
    structural = ~np.isfinite(np.broadcast_to(probits, fast.shape))
    assert np.array_equal(fast[structural], plain[structural])  # 0 and 2^32 exactly
    differ = fast != plain
    assert np.abs(fast - plain).max() <= 1  # Phi within 2^-52 of SciPy's: floor may move by 1
    assert differ.sum() <= 5e-6 * differ.size


def test_transition_thresholds_do_not_depend_on_the_block() -> None:
    model = load_model("default")
    rho = np.array([s.rho for s in model.segments])
    probits = base_probits(model, load_policy("standard"))
    z = credit_cycle_index(model, load_scenario("adverse"), 3, range(10), 12)
    whole = transition_thresholds(probits, rho, z)
    assert np.array_equal(whole[4:7], transition_thresholds(probits, rho, z[4:7]))


def test_beta_quantiles_are_the_beta_ppf_and_each_call_gets_its_own() -> None:
    levels = (np.arange(2**QUANTILE_BITS) + 0.5) / 2**QUANTILE_BITS
    first = beta_quantiles(2.0, 5.0)
    assert np.array_equal(first, stats.beta.ppf(levels, 2.0, 5.0))
    first[:] = -1.0
    assert np.array_equal(beta_quantiles(2.0, 5.0), stats.beta.ppf(levels, 2.0, 5.0))
