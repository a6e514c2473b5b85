"""Aggregation over real Judges: position swap, self-consistency, weighted ensembles.

The backend here is a small, real, deterministic Backend (it implements the protocol and the
Judge renders, calls and parses exactly as with a model); each test scripts the text it
writes to inject a behaviour: position bias, content preference, seed-dependent votes, failures.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from judgelab.errors import ConfigError
from judgelab.judges.ensemble import EnsembleJudge
from judgelab.judges.aggregate import (
    consensus,
    judge_self_consistent_sync,
    judge_swapped_sync,
    majority_vote,
    summarize_swaps,
)
from judgelab.judges.config import JudgeConfig
from judgelab.judges.base import Judge
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PairwiseItem, PointwiseItem, Verdict
from judgelab.lm.types import TextBackend, Generation, GenerationRequest


class ScriptedBackend:
    """Deterministic programmatic backend: ``script(request)`` returns the text to emit, or a
    Generation (to inject a backend failure)."""
    reads_items = True  # a programmatic backend: it reads the JudgeRequest's item

    def __init__(self, script: Callable[[GenerationRequest], str | Generation], name: str = "scripted"):
        self.script = script
        self.name = name
        self.calls: list[GenerationRequest] = []

    async def generate(self, request: JudgeRequest) -> Generation:
        self.calls.append(request)
        out = self.script(request)
        return out if isinstance(out, Generation) else Generation(text=out, completion_tokens=len(out.split()))

    def identity(self) -> dict[str, Any]:
        return {"scripted": self.name}

    async def aclose(self) -> None:
        return None


def make(script: Callable[[GenerationRequest], str | Generation], name: str = "j", **cfg: Any) -> Judge:
    return LLMJudge(JudgeConfig(name=name, **cfg), backend=ScriptedBackend(script, name))


def pairs(n: int) -> list[PairwiseItem]:
    return [PairwiseItem(id=f"p{i}", prompt=f"prompt {i}", response_a="x" * (i + 2), response_b="y" * max(0, 7 - 2 * i))
            for i in range(n)]  # lengths never equal, both winners occur


def prefers_longer(req: GenerationRequest) -> str:
    """Content-based (position-free) judge: the longer response wins, equal length ties."""
    it = req.item
    assert isinstance(it, PairwiseItem)
    if len(it.response_a) == len(it.response_b):
        return "Both look alike.\n[[C]]"
    return "Some reasoning.\n[[A]]" if len(it.response_a) > len(it.response_b) else "Reasoning.\nVerdict: B"


def test_scripted_backend_is_a_backend() -> None:
    assert isinstance(ScriptedBackend(lambda r: ""), TextBackend)


# ------------------------------------------------------------------------------ position swap


def test_position_biased_judge_is_caught() -> None:
    judge = make(lambda r: "[[A]]")
    res = judge_swapped_sync(judge, pairs(6))
    assert all(r.preference == "tie" and not r.consistent and r.complete for r in res)
    assert res[0].verdict_ab.preference == "A" and res[0].verdict_ba.preference == "A"
    assert (res[0].pref_ab, res[0].pref_ba) == ("A", "B")  # both in the original positions
    assert res[0].verdict_ba.item_id == "p0::swap"
    s = summarize_swaps(res)
    assert (s.n, s.n_complete) == (6, 6)
    assert s.disagreement_rate == 1.0 and s.tie_rate == 1.0
    assert s.first_position_rate == 1.0 and s.parse_failure_rate == 0.0
    assert len(judge.backend.calls) == 12  # type: ignore[attr-defined]


def test_consistent_judge_keeps_its_preference() -> None:
    items = pairs(5) + [PairwiseItem(id="eq", prompt="p", response_a="ab", response_b="cd")]
    res = judge_swapped_sync(make(prefers_longer), items)
    expected = ["A" if len(i.response_a) > len(i.response_b) else "B" for i in items[:-1]] + ["tie"]
    assert [r.preference for r in res] == expected
    assert all(r.consistent for r in res)
    s = summarize_swaps(res)
    assert s.disagreement_rate == 0.0 and s.first_position_rate == 0.5 and s.tie_rate == pytest.approx(1 / 6)


def test_strength_kept_when_orders_agree() -> None:
    judge = make(lambda r: "[[A>>B]]" if len(r.item.response_a) > len(r.item.response_b) else "[[B>A]]")
    res = judge_swapped_sync(judge, [PairwiseItem(id="s", prompt="p", response_a="long one", response_b="x")])
    assert res[0].preference == "A" and res[0].consistent and res[0].strength == pytest.approx(0.75)


def swap_fails(req: GenerationRequest) -> str | Generation:
    if req.item.id.endswith("::swap"):
        return Generation(text="", error="HTTP 500 after 5 retries") if req.item.id.startswith("p0") else "no idea"
    return "[[B]]"


def test_one_order_failed_default_is_none() -> None:
    res = judge_swapped_sync(make(swap_fails), pairs(2))
    assert [r.preference for r in res] == [None, None]
    assert not any(r.consistent or r.complete for r in res)
    assert res[0].verdict_ba.error and res[1].verdict_ba.parse_error == "no verdict found"
    s = summarize_swaps(res)
    assert s.parse_failure_rate == 0.5 and math.isnan(s.disagreement_rate) and s.n_complete == 0


def test_one_order_failed_other_policy_uses_parsed_order() -> None:
    res = judge_swapped_sync(make(swap_fails), pairs(2), on_partial="other")
    assert [r.preference for r in res] == ["B", "B"] and not any(r.consistent for r in res)
    with pytest.raises(ConfigError):
        judge_swapped_sync(make(swap_fails), pairs(1), on_partial="bogus")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ self-consistency


def seed_vote(req: GenerationRequest) -> str:
    return "[[A]]" if req.params.seed % 2 == 0 else "Response B is better."


def test_self_consistency_pairwise_majority() -> None:
    res = judge_self_consistent_sync(make(seed_vote), pairs(3), k=5)  # seeds 0..4: A B A B A
    for r in res:
        assert r.preference == "A" and r.agreement == pytest.approx(0.6) and r.votes == {"A": 3, "B": 2}
        assert r.n_ok == 5 and sorted(v.preference for v in r.verdicts) == ["A", "A", "A", "B", "B"]
    v = res[0].to_verdict("sc")
    assert v.parsed and v.preference == "A" and v.strength == pytest.approx(0.6) and v.judge == "sc"
    # an even split is a tie
    assert judge_self_consistent_sync(make(seed_vote), pairs(1), k=2)[0].preference == "tie"


def test_self_consistency_pointwise_stats() -> None:
    judge = make(lambda r: f"Reasoning here.\nScore: {r.params.seed + 1}")
    items = [PointwiseItem(id="a", prompt="p", response="r")]
    r = judge_self_consistent_sync(judge, items, k=5)[0]
    assert (r.score, r.median, r.std) == (3.0, 3.0, pytest.approx(math.sqrt(2)))
    # unparsed samples are skipped; none parsed -> unparsed consensus
    judge = make(lambda r: "Score: 4" if r.params.seed == 0 else "hmm")
    r = judge_self_consistent_sync(judge, items, k=3)[0]
    assert r.n_ok == 1 and r.score == 4.0 and r.std == 0.0
    dead = judge_self_consistent_sync(make(lambda r: "???"), items, k=3)[0]
    assert not dead.parsed and dead.score is None and not dead.to_verdict().parsed
    with pytest.raises(ConfigError):
        judge_self_consistent_sync(judge, items, k=0)


# ------------------------------------------------------------------------------ ensembles


def test_ensemble_pointwise_normalises_scales() -> None:
    ten = make(lambda r: "Score: 10", name="ten", scale=(1, 10))
    five = make(lambda r: "Score: 1", name="five", scale=(1, 5))
    items = [PointwiseItem(id="a", prompt="p", response="r")]
    v = EnsembleJudge([ten, five], [1.0, 3.0]).judge(items)[0]
    assert v.parsed and v.score == pytest.approx(1 + 9 * 0.25)  # (1*1.0 + 3*0.0)/4 on the first scale
    assert v.judge == "ensemble(ten,five)"
    # reported on the first member's scale
    v = EnsembleJudge([five, ten], [3.0, 1.0]).judge(items)[0]
    assert v.score == pytest.approx(1 + 4 * 0.25)


def test_ensemble_skips_failed_members_and_renormalises() -> None:
    good = make(lambda r: "Score: 7", name="good")
    garbage = make(lambda r: "no idea", name="garbage")
    broken = make(lambda r: Generation(text="", error="connection refused"), name="broken")
    items = [PointwiseItem(id="a", prompt="p", response="r")]
    assert EnsembleJudge([good, garbage, broken], [1, 5, 5]).judge(items)[0].score == pytest.approx(7.0)
    v = EnsembleJudge([garbage, broken]).judge(items)[0]
    assert not v.parsed and v.score is None and "garbage: no score found" in (v.parse_error or "")
    assert v.error is None  # one member answered (unparseably), so not a pure backend failure
    v = EnsembleJudge([broken, broken]).judge(items)[0]
    assert not v.parsed and "connection refused" in (v.error or "")


def test_ensemble_pairwise_weighted_vote() -> None:
    a, b, tie = (make(lambda r, t=t: t, name=n) for n, t in (("a", "[[A]]"), ("b", "[[B]]"), ("t", "[[C]]")))
    items = pairs(1)
    assert EnsembleJudge([a, b, tie]).judge(items)[0].preference == "tie"
    v = EnsembleJudge([a, b], [2, 1]).judge(items)[0]
    assert v.preference == "A" and v.strength == pytest.approx(1 / 3)
    assert EnsembleJudge([a, b], [1.1, 1.0]).judge(items)[0].preference == "tie"  # |vote| < tie_margin
    assert EnsembleJudge([a, b], [1.1, 1.0], tie_margin=0.0).judge(items)[0].preference == "A"
    assert EnsembleJudge([a, b, tie], [0, 1, 0]).judge(items)[0].preference == "B"  # zero weight = no say


def test_ensemble_bad_weights() -> None:
    j = make(lambda r: "[[A]]")
    for judges, weights in (([], None), ([j], [1, 2]), ([j], [-1]), ([j], [0]), ([j], [math.nan])):
        with pytest.raises(ConfigError):
            EnsembleJudge(judges, weights)


def test_ensemble_composes_with_swap_and_self_consistency() -> None:
    ens = EnsembleJudge([make(prefers_longer, name="x"), make(prefers_longer, name="y")])
    res = judge_swapped_sync(ens, pairs(3))
    assert all(r.consistent for r in res)
    sc = judge_self_consistent_sync(ens, pairs(2), k=3)
    assert all(r.agreement == 1.0 for r in sc)


# ------------------------------------------------------------------------------ properties

_PROPS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
_prefs = st.sampled_from(["A", "B", "tie"])


@settings(max_examples=300, deadline=None, database=None)
@given(_prefs, st.integers(1, 9))
def test_majority_of_identical_votes_is_that_vote(p: str, k: int) -> None:
    assert majority_vote([p] * k) == (p, 1.0, {p: k})  # type: ignore[list-item]
    verdicts = [Verdict(item_id="i", mode="pairwise", parsed=True, preference=p) for _ in range(k)]  # type: ignore[arg-type]
    r = consensus("i", "pairwise", verdicts)
    assert r.preference == p and r.agreement == 1.0


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(_prefs, min_size=1, max_size=12))
def test_majority_vote_winner_is_a_leader(votes: list[str]) -> None:
    winner, agreement, counts = majority_vote(votes)  # type: ignore[arg-type]
    top = max(counts.values())
    leaders = [p for p, c in counts.items() if c == top]
    assert winner == (leaders[0] if len(leaders) == 1 else "tie")
    assert agreement == top / len(votes) and sum(counts.values()) == len(votes)


@_PROPS
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), min_size=1, max_size=6))
def test_swap_of_a_consistent_judge_is_consistent(texts: list[tuple[str, str]]) -> None:
    items = [PairwiseItem(id=f"i{n}", prompt="p", response_a=a, response_b=b) for n, (a, b) in enumerate(texts)]
    res = judge_swapped_sync(make(prefers_longer), items)
    for it, r in zip(items, res):
        assert r.consistent and r.complete
        assert r.preference == ("tie" if len(it.response_a) == len(it.response_b) else
                                "A" if len(it.response_a) > len(it.response_b) else "B")
    assert summarize_swaps(res).disagreement_rate == 0.0


_outputs = st.one_of(
    st.sampled_from(["[[A]]", "[[B]]", "[[C]]", "Verdict: B", "nonsense", "[[A>>B]]"]),
    st.integers(0, 12).map(lambda n: f"Score: {n}"),
    st.text(max_size=10),
)


@_PROPS
@given(st.lists(_outputs, min_size=1, max_size=5), st.floats(0.1, 10), st.sampled_from([(1, 10), (0, 5), (1, 7)]))
def test_ensemble_of_one_is_that_judge(outputs: list[str], w: float, scale: tuple[int, int]) -> None:
    by_id = {f"i{n}": o for n, o in enumerate(outputs)}
    judge = make(lambda r: by_id[r.item.id], scale=scale)
    items: list[Any] = []
    for n in range(len(outputs)):
        items.append(PointwiseItem(id=f"i{n}", prompt="p", response="r") if n % 2 == 0
                     else PairwiseItem(id=f"i{n}", prompt="p", response_a="a", response_b="b"))
    alone = judge.judge(items)
    together = EnsembleJudge([judge], [w]).judge(items)
    for a, e in zip(alone, together):
        assert (a.ok, a.preference) == (e.parsed, e.preference)
        assert (a.score is None and e.score is None) or e.score == pytest.approx(a.score)


_labels = st.sampled_from(["A>>B", "A>B", "A=B", "B>A", "B>>A", "unparsed"])


def _arena_verdict(label: str) -> Verdict:
    if label == "unparsed":
        return Verdict(item_id="x", mode="pairwise", parsed=False, parse_error="no verdict")
    from judgelab.judges.parsing.pairwise import parse_pairwise

    r = parse_pairwise(f"[[{label}]]")
    return Verdict(item_id="x", mode="pairwise", parsed=True, preference=r.preference, strength=r.strength)


@_PROPS
@given(_labels, _labels, st.sampled_from([1.0, 3.0]))
def test_arena_outcomes_are_swap_symmetric_and_weighted(ab: str, ba: str, weight: float) -> None:
    from judgelab.judges.aggregate import arena_outcomes, pair_outcome

    v_ab, v_ba = _arena_verdict(ab), _arena_verdict(ba)
    rows = arena_outcomes(v_ab, v_ba, strong_weight=weight)
    # seen from the other response: outcomes flip, weights stay
    other = arena_outcomes(v_ba, v_ab, strong_weight=weight)
    assert sorted((1 - p, w) for p, w in rows) == sorted(other)
    assert (rows == []) == ("unparsed" in (ab, ba))  # half a swap is dropped
    for (p, w), label in zip(rows, (ab, ba)):
        assert w == (weight if ">>" in label else 1.0)
        assert 0.0 <= p <= 1.0
    if rows:  # pair_outcome with the same weight is the weighted mean of the rows
        p = pair_outcome(v_ab, v_ba, strong_weight=weight)[0]
        assert p == pytest.approx(sum(q * w for q, w in rows) / sum(w for _, w in rows))


def test_a_logprob_verdict_is_its_expected_outcome_in_either_order():
    from judgelab.judges.aggregate import verdict_outcome
    from judgelab.judges.types import Verdict

    v = Verdict(item_id="x", mode="pairwise", parsed=True, preference="A", strength=1.0, p_a=0.7, verdict_probs={"A": 0.6, "B": 0.2, "tie": 0.2})
    assert verdict_outcome(v, first_is_a=True, strong_weight=3.0) == pytest.approx((0.7, 1.0))
    assert verdict_outcome(v, first_is_a=False, strong_weight=3.0) == pytest.approx((0.3, 1.0))
    text = Verdict(item_id="x", mode="pairwise", parsed=True, preference="A", strength=1.0)  # a stated '>>': a whole win, weighted
    assert verdict_outcome(text, first_is_a=True, strong_weight=3.0) == (1.0, 3.0)
