"""Reverse stress testing (SPEC 13, issue #15 item 3): what would it take to fail, and how likely
is it? (A consumer of ``run``, ``tail`` and ``metrics``, like ``calibration``: nothing below
imports it.)

The failure (:class:`Failure`) is a loss rate over the horizon of at least x, a capital ratio at
or below x, or a liquidity buffer at or below x CNY (0: it runs out) in some month up to
``month`` (default: the horizon). Each is a score per path, larger is worse - the loss rate, or
minus the lowest capital ratio or buffer of the months - with the failure at ``score >= x'``
(x, or -x); "the loss" below stands for that score. For a scenario and a failure:

1. **The path.** ``pilot`` plain paths (their own seed, :mod:`simulator.run.pilot`) fit the score
   on the factor's innovations, ``L ~ c + b'eps`` (least squares). The most likely
   innovation path that reaches x - the large-deviations mode of the fit - is
   ``mu = (x - c) / |b|^2 * b`` (0 when the expected score already reaches x).
2. **Its plausibility.** ``|mu| = (x - c) / |b|``: the distance in standard deviations; a
   linear score passes x with probability ``Phi(-|mu|)``, "one horizon in ``1 / Phi(-|mu|)``",
   given as years (horizon / 12 each). It falls as the target rises.
3. **The scenario that replays it**: the scenario's own file with ``[factor] innovation_mean =
   mu``: its plain run draws the innovations around the path. The loss is convex in the factor
   and the fit linear, so the replayed mean loss overshoots x; up to ``REFINEMENTS`` times the
   path is scaled by ``(x - c) / (replayed - c)`` and replayed again (within 2% of x: done).
4. **The probability of reaching x** under the scenario, ``P(L >= x)``, with its 95% interval:
   from a run with tail sampling (:mod:`simulator.tail`) aimed along the loss rate's gradient at
   that distance (capital and buffer fall with the loss; weighted, the estimate is unbiased
   whatever the aim).
5. **Where the damage is**: the months whose innovations the path moves most, and the segments'
   shares of the loss on the replayed scenario's paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special

from simulator.errors import InputError

PILOT_PATHS = 256
REFINEMENTS = 2
"""Rescalings of the path after its replay (the loss is convex in the factor, the fit linear):
each scales the path's excess over the fit's loss at no shift to the target's."""
Z95 = 1.959963984540054


METRICS = ("loss_rate", "capital_ratio", "buffer")


@dataclass(frozen=True)
class Failure:
    """What the reverse stress test must reach: the loss rate over the horizon at least
    ``value``, or the capital ratio or the liquidity buffer (CNY) at or below ``value`` in some
    month up to ``month`` (None: the horizon)."""

    metric: str
    value: float
    month: int | None = None

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise InputError(None, f"unknown target '{self.metric}': expected one of "
                             f"{', '.join(METRICS)}")  # fmt: skip
        if self.metric != "buffer" and not 0.0 < self.value < 1.0:
            raise InputError(None, f"the target {self.metric} must be between 0 and 1, "
                             f"got {self.value}")  # fmt: skip
        if self.month is not None and (self.metric == "loss_rate" or self.month < 1):
            raise InputError(None, "--month takes a month of at least 1, and applies to the "
                             "capital_ratio and buffer targets")  # fmt: skip

    def score(self, ds: Any) -> np.ndarray:
        """(P,) per path of the first scenario and policy, larger is worse."""
        at = ds.isel(scenario=0, policy=0)
        if self.metric == "loss_rate":
            return np.asarray(at["loss_rate"].values, dtype=float)
        name = "capital_ratio" if self.metric == "capital_ratio" else "liquidity_buffer"
        if name not in at:
            raise InputError(None, f"a {self.metric} target needs {name} in the run (provisions)")
        return -np.asarray(at[name].sel(month=slice(1, self.month)).min("month").values)

    @property
    def threshold(self) -> float:
        """The score at which the failure is reached."""
        return self.value if self.metric == "loss_rate" else -self.value

    def value_of(self, score: float) -> float:
        """A score in the metric's own units."""
        return score if self.metric == "loss_rate" else -score

    def describe(self, horizon: int) -> str:
        months = f"in months 1-{self.month or horizon}"
        if self.metric == "loss_rate":
            return f"a loss rate of {self.value:.1%} over {horizon} months"
        if self.metric == "capital_ratio":
            return f"a capital ratio at or below {self.value:.2%} {months}"
        return f"a liquidity buffer at or below {self.value:,.0f} CNY {months}"


@dataclass(frozen=True)
class ReverseStress:
    """The answer for one failure (module docstring); ``expected`` and ``replayed`` are in the
    metric's units (the mean of each path's worst month for capital and buffer)."""

    scenario: str
    failure: Failure
    expected: float  # c: the pilot fit's value at mu = 0
    mu: np.ndarray  # (H,) innovation path
    distance: float  # |mu|, in standard deviations
    horizon: int
    probability: float  # P(failure) under the scenario
    probability_low: float
    probability_high: float
    replayed: float  # the mean value of the replaying scenario's plain run
    segment_shares: dict[str, float]  # of the replayed loss
    toml: str  # the replaying scenario file

    @property
    def target(self) -> float:
        return self.failure.value

    @property
    def one_in_years(self) -> float:
        """The path's plausibility: one horizon in 1 / Phi(-|mu|), as years."""
        tail = float(special.ndtr(-self.distance))
        return float("inf") if tail == 0.0 else self.horizon / 12.0 / tail

    def worst_months(self, k: int = 3) -> list[int]:
        """The months (1-based) whose innovations the path moves most towards the loss."""
        return [int(m) + 1 for m in np.argsort(-np.abs(self.mu), kind="stable")[:k]]


def mode_path(eps: np.ndarray, loss: np.ndarray, target: float) -> tuple[np.ndarray, float]:
    """(mu, c): the least-norm innovation path on which the loss's linear fit reaches
    ``target``, and the fit's loss at no shift."""
    design = np.column_stack([np.ones(len(loss)), eps])
    coefficients = np.linalg.lstsq(design, loss, rcond=None)[0]
    c, b = float(coefficients[0]), coefficients[1:]
    norm2 = float(b @ b)
    if norm2 == 0.0 or target <= c:
        return np.zeros(eps.shape[1]), c
    return (target - c) / norm2 * b, c


def replay_toml(text: str, mu: np.ndarray, header: str) -> str:
    """The scenario file ``text`` with ``innovation_mean = mu`` in its ``[factor]`` table."""
    values = ", ".join(f"{x:.6f}" for x in mu)
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == "[factor]"), None)
    if at is None:
        raise InputError(None, "the scenario file has no [factor] table to steer")
    lines.insert(at + 1, f"innovation_mean = [{values}]")
    return "\n".join([*(f"# {h}" for h in header.splitlines()), *lines]) + "\n"


def reverse_stress(
    portfolio: Any,
    scenario: str | Path,
    failure: Failure | float,
    *,
    seed: int = 0,
    paths: int = 1000,
    pilot: int = PILOT_PATHS,
    **options: Any,
) -> ReverseStress:
    """The reverse stress test of ``scenario`` for a ``failure`` (a number: a loss-rate target;
    module docstring); ``options`` go to ``simulate`` (model, treasury, horizon, threads ...)."""
    import tempfile

    from simulator.engine.tables import factor_shocks
    from simulator.inputs.scenario import load_scenario
    from simulator.run import simulate
    from simulator.run.pilot import pilot_seed

    if not isinstance(failure, Failure):
        failure = Failure("loss_rate", float(failure))
    x = failure.threshold
    base = load_scenario(scenario)
    plain = simulate(portfolio, [base], paths=pilot, seed=pilot_seed(seed), **options)
    horizon = plain.sizes["month"]
    eps = factor_shocks(pilot_seed(seed), base, range(pilot), horizon)
    mu, c = mode_path(eps, failure.score(plain), x)
    with tempfile.TemporaryDirectory() as tmp:

        def replay(path_mu: np.ndarray) -> tuple[str, Any]:
            header = _header(base, failure.describe(horizon), path_mu)
            toml = replay_toml(base.text, path_mu, header)
            path = Path(tmp) / f"{base.name}-reverse.toml"
            path.write_text(toml, encoding="utf-8")
            return toml, simulate(portfolio, [path], paths=max(paths // 2, 50), seed=seed,
                                  **options)  # fmt: skip

        toml, replayed = replay(mu)
        for _ in range(REFINEMENTS):  # the fit is linear, the score convex: scale the path
            excess = float(failure.score(replayed).mean()) - c
            if not mu.any() or excess <= 0 or abs(excess - (x - c)) < 0.02 * abs(x):
                break
            mu = mu * (x - c) / excess
            toml, replayed = replay(mu)
    distance = float(np.sqrt(mu @ mu))
    probability = _probability(portfolio, base, failure, distance, seed, paths, options)
    return ReverseStress(base.name, failure, failure.value_of(c), mu, distance, horizon,
                         *probability, failure.value_of(float(failure.score(replayed).mean())),
                         _shares(replayed), toml)  # fmt: skip


def _header(base: Any, failure: str, mu: np.ndarray) -> str:
    return (
        f"Reverse stress of {base.name} ({base.source}): the most likely factor path to\n"
        f"{failure}, |mu| = {np.sqrt(mu @ mu):.2f} standard deviations (stress-sim reverse)."
    )


def _probability(portfolio: Any, scenario: Any, failure: Failure, distance: float, seed: int,
                 paths: int, options: dict[str, Any]) -> tuple[float, float, float]:  # fmt: skip
    """P(failure) with its 95% interval, from a run sampled towards it (module docstring)."""
    from simulator.metrics.weighted import weighted_mean, weighted_mean_se
    from simulator.run import simulate
    from simulator.tail import TailSampling

    level = float(min(max(special.ndtr(distance), 0.6), 0.99999))
    ds = simulate(portfolio, [scenario], paths=paths, seed=seed,
                  tail=TailSampling("loss", level=level), **options)  # fmt: skip
    w = ds["weight"].isel(scenario=0, policy=0)
    hit = w.copy(data=(failure.score(ds) >= failure.threshold).astype(np.float64))
    p = float(weighted_mean(hit, w))
    se = float(weighted_mean_se(hit, w))
    return p, max(p - Z95 * se, 0.0), min(p + Z95 * se, 1.0)


def _shares(ds: Any) -> dict[str, float]:
    by_segment = ds["segment_net_credit_loss"].sum("month").mean("path").isel(scenario=0, policy=0)
    total = float(by_segment.sum())
    names, values = by_segment["segment"].values, by_segment.values
    return {str(g): float(v) / total if total else float("nan")
            for g, v in zip(names, values, strict=True)}  # fmt: skip
