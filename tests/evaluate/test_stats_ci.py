"""Intervals that hold at small n (``evaluate.stats.mean_ci``): coverage near the nominal 95% for
agreement-style credits (0, 0.5, 1) at small and larger n, the method named, bounded values never
given a zero-width interval; paired differences."""

from __future__ import annotations

import numpy as np
import pytest

from judgelab.evaluate.stats import T_BELOW, mean_ci, paired_difference


@pytest.mark.parametrize("n", [8, 20, 60])
def test_coverage_of_agreement_credits(n: int) -> None:
    rng = np.random.default_rng(n)
    probs, values = [0.25, 0.15, 0.60], np.array([0.0, 0.5, 1.0])  # wrong, tie, right
    true = float(np.dot(probs, values))
    hits = 0
    trials = 300
    for t in range(trials):
        ci = mean_ci(list(rng.choice(values, size=n, p=probs)), n_boot=400, seed=t, bounds=(0, 1))
        hits += ci.lo <= true <= ci.hi
        assert ci.method in (("t", "t+wilson", "wilson") if n < T_BELOW else ("bca", "wilson"))
    assert 0.90 <= hits / trials <= 0.99, hits / trials


def test_degenerate_and_small() -> None:
    assert mean_ci([]) is None
    one = mean_ci([0.7])
    assert (one.mean, one.lo, one.hi, one.method) == (0.7, 0.7, 0.7, "single")
    bounded = mean_ci([1.0], bounds=(0, 1))  # one agreeing pair is not certainty
    assert bounded.method == "wilson" and bounded.lo < 0.25 and bounded.hi == pytest.approx(1.0)
    allright = mean_ci([1.0] * 6, bounds=(0, 1))
    assert allright.method == "wilson" and allright.hi == pytest.approx(1.0) and allright.lo < 0.7  # not [1, 1]
    clipped = mean_ci([1.0, 1.0, 0.0], bounds=(0, 1))
    assert clipped.method in ("t", "t+wilson") and clipped.lo >= 0.0 and clipped.hi <= 1.0


def test_paired_difference() -> None:
    x = {f"p{i}": 1.0 if i % 4 else 0.5 for i in range(40)}
    y = {f"p{i}": 0.5 for i in range(40)}
    y["extra"] = 1.0  # not in x: not paired
    d = paired_difference(x, y)
    assert d.n == 40 and d.diff == pytest.approx(0.375) and d.lo > 0 and d.method == "bca"
    assert paired_difference({"a": 1.0}, {"b": 1.0}) is None
    same = paired_difference(y, y)
    assert same.diff == 0 and same.lo == same.hi == 0  # identical judges: no difference at all


def test_t_quantiles_match_the_tables_without_scipy():
    from judgelab.evaluate.stats import norm_ppf, t_ppf

    table = {1: 12.7062, 2: 4.3027, 4: 2.7764, 10: 2.2281, 29: 2.0452, 100: 1.9840}
    for df, want in table.items():
        assert t_ppf(0.975, df) == pytest.approx(want, abs=1e-4)
    assert t_ppf(0.025, 10) == pytest.approx(-2.2281, abs=1e-4) and norm_ppf(0.975) == pytest.approx(1.95996, abs=1e-5)
