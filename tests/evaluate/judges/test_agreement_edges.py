"""Agreement metrics at their edges, found by comparing with the peers' conventions: a failed order
(Arena-Hard-Auto drops the battle), a parsed verdict without a preference, all-failed samples, and
intervals that must not have zero width."""

from __future__ import annotations

import math

import pytest

from judgelab.data.records import PairAnnotation
from judgelab.evaluate.judges.agreement import accuracy_metrics, compare_judges
from judgelab.evaluate.judges.judge_eval import majority_agreement
from judgelab.evaluate.stats import mean_ci, paired_difference
from judgelab.judges.types import Verdict


def pair(i: int, label: str) -> PairAnnotation:
    return PairAnnotation(id=f"pair{i}", prompt_id=f"p{i}", prompt=f"prompt {i}", response_a_id=f"r{i}a",
                          response_b_id=f"r{i}b", response_a="a", response_b="b", label=label, family="f", split="test")


def said(i: int, pref: str | None) -> Verdict:
    return Verdict(item_id=f"pair{i}", mode="pairwise", parsed=True, preference=pref)  # type: ignore[arg-type]


def failed(i: int) -> Verdict:
    return Verdict(item_id=f"pair{i}", mode="pairwise", parsed=False, parse_error="no verdict")


def test_a_failed_order_does_not_turn_position_bias_into_agreement():
    """A judge that always answers "A", whose BA verdict fails on the pairs whose gold is A: scoring
    the AB order alone gave those pairs full credit (0.9 [0.60, 1.0]: through the gate). Dropping the
    half-swapped pairs leaves the position bias at chance, exactly."""
    pairs = [pair(i, "A" if i < 8 else "B") for i in range(10)]
    ab = [said(i, "A") for i in range(10)]
    ba = [failed(i) if i < 8 else said(i, "A") for i in range(10)]
    m, _ = accuracy_metrics(pairs, ab, ba, 200, 0)
    assert m["agreement"] == pytest.approx(0.5)
    assert m["n_agreement"] == 2 and m["n_unparsed_pairs"] == 8
    assert m["agreement_ci95"][0] < 0.5 < m["agreement_ci95"][1]
    # One order only (the judge saw AB alone): a parsed AB verdict still counts.
    m1, _ = accuracy_metrics(pairs, ab, None, 200, 0)
    assert m1["n_agreement"] == 10 and m1["agreement"] == pytest.approx(0.8)


def test_a_parsed_verdict_without_a_preference_is_no_crash():
    pairs = [pair(i, "A") for i in range(3)]
    ab = [said(i, "A") for i in range(3)]
    ba = [said(0, "B"), said(1, None), said(2, "A")]
    m, _ = accuracy_metrics(pairs, ab, ba, 100, 0)
    assert m["n_position_checked"] == 2 and m["position_consistency"] == 0.5


def test_self_consistency_of_a_judge_whose_samples_all_fail_is_zero():
    assert majority_agreement([None, None, None]) == 0.0  # counted as one label "fail" it was 1.0
    assert majority_agreement(["A", "A", None, "B"]) == 0.5
    with pytest.raises(ValueError):
        majority_agreement([])


def test_equal_paired_differences_of_credits_get_an_interval_of_width():
    d = paired_difference({f"k{i}": 1.0 for i in range(6)}, {f"k{i}": 0.5 for i in range(6)}, bounds=(-1.0, 1.0))
    assert d is not None and d.lo < 0.5 < d.hi  # six equal differences: t alone gave [0.5, 0.5]
    rows = compare_judges({"a": {"k0": 1.0}, "b": {"k0": 0.5}})
    lo, hi = rows[0]["ci95"]
    assert lo < 0.5 < hi  # one pair: not a zero-width "single" interval


def test_mean_ci_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([math.nan, 1.0, 0.0, 1.0])
    assert mean_ci([None, 1.0, 0.0]) is not None  # None stays "missing"
