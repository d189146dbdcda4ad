"""summarize() and compare(): estimators against known distributions, interval coverage over
repeated seeds, and the variance reduction of paired comparisons (SPEC 6)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from simulator.metrics import compare, summarize, tail_estimates
from simulator.run import simulate


def coverage_floor(confidence: float, reps: int) -> float:
    """The lowest coverage count share consistent (4 binomial s.e.) with nominal coverage."""
    return confidence - 4 * math.sqrt(confidence * (1 - confidence) / reps)


def test_var_and_es_match_the_normal_closed_form() -> None:
    sample = np.random.default_rng(1).standard_normal(200_000)
    for level in (0.95, 0.99):
        var, var_low, var_high, _, es_low, es_high = tail_estimates(sample, level)
        true_var = stats.norm.ppf(level)
        true_es = stats.norm.pdf(true_var) / (1 - level)
        assert var_low <= true_var <= var_high
        assert es_low <= true_es <= es_high
        assert var == pytest.approx(np.quantile(sample, level, method="inverted_cdf"))


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_interval_coverage_over_repeated_seeds(level: float) -> None:
    """Exponential(1) losses: VaR = -log(1 - a), ES = VaR + 1. Over 300 seeds the 95%
    intervals cover the truth at least as often as 95% allows, within 4 binomial s.e."""
    reps, n = 300, 2_000
    true_var = -math.log(1 - level)
    true_es = true_var + 1
    var_hits = es_hits = 0
    for seed in range(reps):
        sample = np.random.default_rng(seed).exponential(size=n)
        _, var_low, var_high, _, es_low, es_high = tail_estimates(sample, level)
        var_hits += var_low <= true_var <= var_high
        es_hits += es_low <= true_es <= es_high
    assert var_hits / reps >= coverage_floor(0.95, reps)
    assert es_hits / reps >= coverage_floor(0.95, reps)


PD, RHO = 0.05, 0.12  # a one-factor (Vasicek) book: the loss-rate law of a large credit book


def vasicek_losses(rng: np.random.Generator, n: int, pd: float = PD) -> np.ndarray:
    z = rng.standard_normal(n)
    return stats.norm.cdf((stats.norm.ppf(pd) - math.sqrt(RHO) * z) / math.sqrt(1 - RHO))


def vasicek_tail(level: float, pd: float = PD) -> tuple[float, float]:
    """VaR and ES of the Vasicek loss rate in closed form (ES by quadrature of the quantile)."""
    from scipy import integrate

    def quantile(u: float) -> float:
        return float(
            stats.norm.cdf((stats.norm.ppf(pd) + math.sqrt(RHO) * stats.norm.ppf(u))
                           / math.sqrt(1 - RHO))
        )  # fmt: skip

    es = integrate.quad(quantile, level, 1, limit=200)[0] / (1 - level)
    return quantile(level), es


@pytest.mark.parametrize(("paths", "level"), [(1_000, 0.99), (5_000, 0.999)])
def test_var_and_es_intervals_cover_at_least_93_percent_with_few_tail_paths(
    paths: int, level: float
) -> None:
    """Issue #13: the 95% intervals of VaR and ES, measured over 2,000 seeds on Vasicek losses
    with 10 and 5 paths beyond the VaR, hold the truth at least 93% of the time (the coverage's
    own Monte Carlo error is 0.5 points). Measured: VaR 97.4% and 98.3%, ES 94.2% and 94.5%
    (the earlier symmetric normal ES interval: about 86% and 80%)."""
    true_var, true_es = vasicek_tail(level)
    reps = 2_000
    rng = np.random.default_rng(2026)
    var_hits = es_hits = 0
    for _ in range(reps):
        _, var_low, var_high, _, es_low, es_high = tail_estimates(vasicek_losses(rng, paths), level)
        var_hits += var_low <= true_var <= var_high
        es_hits += es_low <= true_es <= es_high
    print(f"coverage at {level}: VaR {var_hits / reps:.3f}, ES {es_hits / reps:.3f}")
    assert var_hits / reps >= 0.93
    assert es_hits / reps >= 0.93


def test_the_paired_es_difference_interval_covers_at_least_93_percent() -> None:
    """Two policies on the same paths (the same factor; the second with a lower PD and its
    borrowers' own noise, 3% of its loss): the paired interval of ES 99% (policy - baseline),
    1,000 paths, over 300 seeds, holds the true difference at least 93% of the time (measured
    98.0%, 96% on other seeds; the coverage's Monte Carlo error is about 1 point; the bootstrap
    percentile interval it replaced: 90%)."""
    from simulator.metrics.tails import paired_es

    level, paths, reps = 0.99, 1_000, 300
    rng = np.random.default_rng(7)

    def pair(n: int) -> tuple[np.ndarray, np.ndarray]:
        z, noise = rng.standard_normal(n), rng.standard_normal(n)
        base = stats.norm.cdf((stats.norm.ppf(PD) - math.sqrt(RHO) * z) / math.sqrt(1 - RHO))
        lower = stats.norm.cdf((stats.norm.ppf(0.045) - math.sqrt(RHO) * z) / math.sqrt(1 - RHO))
        return lower * (1 + 0.03 * noise), base

    def es(x: np.ndarray) -> float:
        ordered = np.sort(x)
        return float(ordered[int(np.ceil(level * len(x))) - 1 :].mean())

    policy, base = pair(4_000_000)
    truth = es(policy) - es(base)  # the 4,000 tail paths of 4 million: error 1e-4 of it
    hits = 0
    for seed in range(reps):
        policy, base = pair(paths)
        loss = xr.DataArray(np.stack([policy, base]), dims=("policy", "path"),
                            coords={"policy": ["policy", "baseline"]})  # fmt: skip
        _, low, high, _ = paired_es(loss, "baseline", level, 0.95, resamples=500, seed=seed)
        hits += float(low.sel(policy="policy")) <= truth <= float(high.sel(policy="policy"))
    print(f"paired ES coverage {hits / reps:.3f}")
    assert hits / reps >= 0.93


@pytest.fixture(scope="module")
def default_book_run() -> xr.Dataset:
    """The default book (100,000 synthetic loans) under adverse: standard, a close policy
    (holiday-3) and a clearly different one (grace: its moral hazard raises the loss)."""
    return simulate(None, ["adverse"], ["standard", "holiday-3", "grace"], paths=100, seed=4)


def test_paired_intervals_are_five_times_narrower_on_the_default_book(default_book_run) -> None:
    c = compare(default_book_run, baseline="standard").sel(scenario="adverse")
    close = c.sel(policy="holiday-3")
    ratio = float(close.loss_rate_unpaired_se / close.loss_rate_diff_se)
    assert ratio >= 5, ratio  # 13.7 with this seed
    # grace is genuinely worse on loss (moral hazard), and the paired interval excludes zero
    assert float(c.sel(policy="grace").loss_rate_diff_low) > 0


def test_compare_against_itself_is_zero_and_names_the_baseline(default_book_run) -> None:
    c = compare(default_book_run, baseline="grace")
    same = c.sel(policy="grace")
    assert float(same.loss_rate_diff.squeeze()) == 0 and float(same.es_diff.squeeze()) == 0
    assert c.attrs["baseline"] == "grace"
    with pytest.raises(ValueError, match="baseline policy 'nope'"):
        compare(default_book_run, baseline="nope")


def test_summary_contents(default_book_run) -> None:
    s = summarize(default_book_run, levels=(0.95, 0.99))
    run = s.sel(scenario="adverse", policy="standard")
    assert float(run.var_low.sel(level=0.99)) <= float(run["var"].sel(level=0.99))
    assert float(run["var"].sel(level=0.99)) <= float(run.var_high.sel(level=0.99))
    assert float(run.es.sel(level=0.99)) >= float(run["var"].sel(level=0.99))
    assert float(run.survival_distribution.sum()) == pytest.approx(1.0)
    assert run.buffer_fan.sizes["quantile"] == 7
    # segment losses weighted by segment exposure give the total
    opening = default_book_run.segment_opening_principal.sel(scenario="adverse", policy="standard")
    weighted = float((run.segment_expected_loss * opening).sum() / opening.sum())
    assert weighted == pytest.approx(float(run.expected_loss), rel=1e-12)
    months = default_book_run.sizes["month"]
    assert run.shortfall_probability.sizes == {"month": months}
