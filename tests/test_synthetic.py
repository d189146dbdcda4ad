"""The synthetic loan tape (SPEC 3.1): ``simulator.inputs.synthetic.synthetic_portfolio`` and
``stress-sim portfolio synth``.

Distribution checks use tolerances from the sampling error of the statistic, at five standard
errors so that they hold for any seed while still catching a wrong parameter:

* a share p estimated from n loans: ``tol = 5 * sqrt(p * (1 - p) / n)``;
* the median of a log-normal sample of n loans with log-sd sigma, on the log scale: the sample
  median of a normal has standard error ``sigma * sqrt(pi / 2) / sqrt(n)``, so
  ``tol = 5 * sigma * sqrt(pi / 2) / sqrt(n)``.

Also covered: seeding (same seed, same book; another seed, another book), the ``mix`` argument,
the n >= 1 check, speed (1M loans in seconds), and that ``portfolio synth`` writes a tape that
``portfolio check`` accepts with the generator's digest.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from simulator.errors import InputError
from simulator.inputs.model import load_model
from simulator.inputs.portfolio import Portfolio, load_portfolio
from simulator.inputs.synthetic import (
    PRINCIPAL_RANGE,
    PRINCIPAL_SIGMA,
    PROFILES,
    TERM_SHARES,
    TERMS,
    synthetic_portfolio,
)
from simulator.states import MAX_DPD

N = 200_000
SEED = 2027


def share_tolerance(p: float, n: int) -> float:
    """Five standard errors of a share p estimated from n independent loans."""
    return 5 * math.sqrt(p * (1 - p) / n)


@pytest.fixture(scope="module")
def book() -> Portfolio:
    return synthetic_portfolio(N, seed=SEED)


def test_segment_mix_matches_the_defaults(book: Portfolio):
    expected = {"salaried": 0.60, "self_employed": 0.25, "micro_business": 0.15}
    assert {name: PROFILES[name].share for name in expected} == expected
    counts = np.bincount(book.segment, minlength=len(book.segment_names))
    for code, name in enumerate(book.segment_names):
        p = expected[name]
        assert abs(counts[code] / N - p) < share_tolerance(p, N), name


def test_terms(book: Portfolio):
    """Original terms are 3, 6 or 12 months and the remaining term is uniform on 1..original.

    So P(remaining = k) = sum over terms T >= k of share(T) / T: a step down after 3 and after 6.
    """
    assert TERMS.tolist() == [3, 6, 12]
    assert TERM_SHARES.sum() == pytest.approx(1.0)
    assert book.remaining_term.min() >= 1
    assert book.remaining_term.max() <= 12
    counts = np.bincount(book.remaining_term, minlength=13)[1:]
    for k in range(1, 13):
        p = sum(s / t for t, s in zip(TERMS, TERM_SHARES, strict=True) if t >= k)
        assert abs(counts[k - 1] / N - p) < share_tolerance(p, N), k
    # every original term is represented: 12-month loans are the only ones with 7-12 left,
    # 6-month loans add to 4-6, 3-month loans add to 1-3
    per_k = counts / N
    assert per_k[6:].min() > 0
    assert per_k[3:6].mean() - per_k[6:].mean() > 5 * share_tolerance(per_k[3:6].mean(), N)
    assert per_k[:3].mean() - per_k[3:6].mean() > 5 * share_tolerance(per_k[:3].mean(), N)


def test_rates(book: Portfolio):
    # daily rates 0.02%-0.05%: 7.3%-18.25% a year
    assert book.annual_rate.min() >= 0.0002 * 365 - 1e-12
    assert book.annual_rate.max() <= 0.0005 * 365 + 1e-12
    assert book.annual_rate.min() == pytest.approx(0.073)
    assert book.annual_rate.max() == pytest.approx(0.1825)
    # riskier (lower) scores pay more
    assert np.corrcoef(book.score, book.annual_rate)[0, 1] < -0.5


def test_principal(book: Portfolio):
    lo, hi = PRINCIPAL_RANGE
    assert book.principal.min() >= lo * 100
    assert book.principal.max() <= hi * 100
    for code, name in enumerate(book.segment_names):
        cny = book.principal[book.segment == code] / 100
        tol = 5 * PRINCIPAL_SIGMA * math.sqrt(math.pi / 2) / math.sqrt(len(cny))
        median = PROFILES[name].median_principal
        assert abs(math.log(np.median(cny)) - math.log(median)) < tol, name
    # the spread is log-normal: the middle 90% span exp(2 * 1.645 * sigma), about 18x
    salaried = book.principal[book.segment == 0]
    q05, q95 = np.quantile(salaried, [0.05, 0.95])
    assert q95 / q05 == pytest.approx(math.exp(2 * 1.6449 * PRINCIPAL_SIGMA), rel=0.1)


def test_scores_and_tiers(book: Portfolio):
    model = load_model("default")
    assert book.score.min() >= 350
    assert book.score.max() <= 950
    upper = math.inf
    for code, tier in enumerate(model.tiers):  # best first
        scores = book.score[book.tier == code]
        assert len(scores) > 0, tier.name
        assert scores.min() >= tier.min_score
        assert scores.max() < upper
        upper = tier.min_score


def test_delinquency(book: Portfolio):
    delinquent = book.dpd > 0
    share = delinquent.mean()
    # between 1.5% (best scores) and 9% (worst) of loans are already delinquent
    assert 0.015 - share_tolerance(0.015, N) < share < 0.09 + share_tolerance(0.09, N)
    assert book.dpd.min() >= 0
    assert book.dpd.max() <= MAX_DPD
    buckets = np.bincount(book.state, minlength=7)
    assert (buckets[1:7] > 0).all(), "every bucket M1..M6 is represented"
    assert buckets[1] == buckets[1:7].max(), "M1 is the most common bucket"
    # riskier tiers are more often delinquent
    best, worst = 0, len(book.tier_names) - 1
    assert delinquent[book.tier == worst].mean() > delinquent[book.tier == best].mean()


def test_instalment_is_the_annuity(book: Portfolio):
    """The level payment over the instalments still owed: the remaining term and, for a
    delinquent loan, the instalments in arrears (one per 30 days past due)."""
    r = book.annual_rate / 12
    n = book.remaining_term + book.state
    expected = book.principal * r / (1 - (1 + r) ** -n.astype(float))
    np.testing.assert_allclose(book.instalment, expected, atol=1.0)  # fen, after rounding


def test_other_columns(book: Portfolio):
    assert len(np.unique(book.loan_id)) == N
    assert (book.restructured >= 0).all()
    assert (book.monthly_income >= 0).all()
    assert 0 < (book.monthly_income == 0).mean() < 0.5  # income is sometimes unknown
    assert book.source == f"synthetic(n={N}, seed={SEED})"
    assert book.warnings == ()


def test_same_seed_same_book():
    a, b = synthetic_portfolio(5_000, seed=11), synthetic_portfolio(5_000, seed=11)
    assert a.sha256 == b.sha256
    for name in ("segment", "score", "principal", "annual_rate", "remaining_term", "dpd"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_different_seed_different_book():
    a, b = synthetic_portfolio(5_000, seed=11), synthetic_portfolio(5_000, seed=12)
    assert a.sha256 != b.sha256
    assert not np.array_equal(a.principal, b.principal)


def test_custom_mix():
    n = 20_000
    book = synthetic_portfolio(n, seed=1, mix={"self_employed": 0.5, "micro_business": 0.5})
    counts = dict(zip(book.segment_names, np.bincount(book.segment, minlength=3), strict=True))
    assert counts["salaried"] == 0
    assert abs(counts["self_employed"] / n - 0.5) < share_tolerance(0.5, n)
    only = synthetic_portfolio(1_000, seed=1, mix={"micro_business": 1.0})
    assert set(only.segment.tolist()) == {book.segment_names.index("micro_business")}


def test_mix_with_unknown_segment():
    with pytest.raises(InputError, match="students"):
        synthetic_portfolio(10, mix={"salaried": 0.5, "students": 0.5})


@pytest.mark.parametrize("n", [0, -1])
def test_needs_at_least_one_loan(n):
    with pytest.raises(InputError, match="at least 1 loan"):
        synthetic_portfolio(n)


def test_one_loan():
    assert len(synthetic_portfolio(1)) == 1


@pytest.mark.slow
def test_a_million_loans_in_seconds():
    start = time.perf_counter()
    book = synthetic_portfolio(1_000_000, seed=3)
    elapsed = time.perf_counter() - start
    assert len(book) == 1_000_000
    assert elapsed < 10, f"{elapsed:.1f} s for 1M loans"


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_cli_synth_writes_a_checkable_tape(cli, tmp_path, suffix):
    out = tmp_path / f"x{suffix}"
    result = cli("portfolio", "synth", "500", "--out", out, "--seed", "9")
    assert result.exit_code == 0, result.output
    expected = synthetic_portfolio(500, seed=9).sha256
    assert expected[:12] in result.output
    assert load_portfolio(out).sha256 == expected
    checked = cli("portfolio", "check", out)
    assert checked.exit_code == 0, checked.output
    assert expected[:12] in checked.output
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"


def test_cli_synth_default_seed_is_zero(cli, tmp_path):
    out = tmp_path / "x.parquet"
    assert cli("portfolio", "synth", "50", "--out", out).exit_code == 0
    assert load_portfolio(out).sha256 == synthetic_portfolio(50, seed=0).sha256


def test_cli_synth_bad_suffix(cli, bad_input, tmp_path):
    out = tmp_path / "x.txt"
    bad_input(cli("portfolio", "synth", "10", "--out", out), "x.txt", ".parquet or .csv")
    assert not out.exists()


def test_cli_synth_needs_a_positive_n(cli, tmp_path):
    result = cli("portfolio", "synth", "0", "--out", tmp_path / "x.parquet")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.parquet").exists()
