"""JudgeReward: every mode against a deterministic programmatic backend (longer = better), both
TRL input forms (plain and conversational), failures mapped to the configured reward, metrics
logged through TRL's ``log_metric`` keyword."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from judgelab.judges.config import JudgeConfig, RubricBackendConfig
from judgelab.judges.base import Judge
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PairwiseItem, PointwiseItem
from judgelab.lm.types import Generation
from judgelab.judges.ratings import bradley_terry_probs, elo_expected, mean_win_prob
from judgelab.train.rewards import JudgeReward


class LengthBackend:
    """Scores by word count (1..10); prefers the longer response; says nothing parseable when a
    response contains 'BREAK' (a judge-format failure the reward must survive)."""
    reads_items = True  # a programmatic backend: it reads the JudgeRequest's item

    name = "length"

    def __init__(self) -> None:
        self.requests = 0

    async def generate(self, request: JudgeRequest) -> Generation:
        self.requests += 1
        it = request.item
        if isinstance(it, PointwiseItem):
            if "BREAK" in it.response:
                return Generation(text="I cannot decide.")
            return Generation(text=f"Score: {min(10, max(1, len(it.response.split())))}")
        assert isinstance(it, PairwiseItem)
        if "BREAK" in it.response_a or "BREAK" in it.response_b:
            return Generation(text="hmm")
        la, lb = len(it.response_a.split()), len(it.response_b.split())
        return Generation(text="[[A]]" if la > lb else "[[B]]" if lb > la else "[[C]]")

    def identity(self) -> dict:
        return {"name": "length"}

    async def aclose(self) -> None:
        pass


def make_judge() -> Judge:
    return LLMJudge(JudgeConfig(name="len", backend=RubricBackendConfig()), backend=LengthBackend())


def texts(*n_words: int) -> list[str]:
    return [" ".join(["w"] * n) for n in n_words]


def test_pointwise_normalises_and_maps_failures():
    logged: dict[str, list[float]] = {}
    r = JudgeReward(make_judge(), "pointwise")
    assert r.__name__ == "judge_len"
    comps = texts(1, 10, 4) + ["BREAK it"]
    out = asyncio.run(r(prompts=["p"] * 4, completions=comps, log_metric=lambda k, v: logged.setdefault(k, []).append(v)))
    assert out == pytest.approx([0.0, 1.0, 3 / 9, 0.0])
    assert logged["judge_len/parse_failure_rate"] == [0.25]
    assert "judge_len/latency_mean_s" in logged
    r2 = JudgeReward(make_judge(), "pointwise", unparsed_reward=0.5)
    assert r2.score(["p"], ["BREAK"]) == [0.5]


def test_conversational_inputs_and_meta():
    seen = []

    class Spy(LengthBackend):
        async def generate(self, request):
            seen.append(request.item)
            return await super().generate(request)

    judge = LLMJudge(JudgeConfig(name="len", backend=RubricBackendConfig()), backend=Spy())
    r = JudgeReward(judge, "pointwise")
    prompts = [[{"role": "system", "content": "sys"}, {"role": "user", "content": "Write a poem"}]] * 2
    comps = [[{"role": "assistant", "content": t}] for t in texts(2, 5)]
    out = r.score(prompts, comps, prompt_id=["a", "a"], family=["poem", "poem"], constraints=['{"lines": 4}', '{"lines": 4}'])
    assert out == pytest.approx([1 / 9, 4 / 9])
    assert seen[0].prompt == "Write a poem"
    assert seen[0].meta == {"prompt_id": "a", "family": "poem", "constraints": {"lines": 4}}


def test_pairwise_reference_both_orders():
    b = LengthBackend()
    judge = LLMJudge(JudgeConfig(name="len", backend=RubricBackendConfig()), backend=b)
    r = JudgeReward(judge, "pairwise-reference", references={"x": "w w w"})
    logged: dict[str, list[float]] = {}
    out = r.score(["p"] * 4, texts(5, 3, 1) + ["BREAK"], prompt_id=["x"] * 4,
                  log_metric=lambda k, v: logged.setdefault(k, []).append(v))
    assert out == pytest.approx([1.0, 0.5, 0.0, 0.0])
    assert b.requests == 8  # both orders
    assert logged["judge_len/tie_rate"] == [pytest.approx(2 / 6)]
    assert logged["judge_len/parse_failure_rate"] == [0.25]
    # a 'reference' dataset column wins over the references dict
    assert r.score(["p"], texts(2), prompt_id=["x"], reference=["w"]) == [1.0]


@pytest.mark.parametrize("tournament", ["round-robin", "knockout", "elo"])
def test_group_tournament_orders_each_group(tournament):
    r = JudgeReward(make_judge(), "group-tournament", tournament=tournament, num_generations=4)
    # two prompts, 4 completions each, consecutive (as TRL passes them)
    comps = texts(3, 9, 1, 5) + texts(2, 2, 8, 4)
    out = r.score(["p1"] * 4 + ["p2"] * 4, comps)
    g1, g2 = np.array(out[:4]), np.array(out[4:])
    assert all(0.0 <= x <= 1.0 for x in out)
    assert int(np.argmax(g1)) == 1 and int(np.argmax(g2)) == 2  # the longest wins its group
    if tournament == "knockout":
        assert g1.max() == 1.0 and sorted(g1)[:2] == [0.0, 0.0]  # two first-round losers
    else:
        assert list(np.argsort(g1)) == [2, 0, 3, 1]  # full ranking recovered


def test_tournament_groups_cut_at_num_generations():
    r = JudgeReward(make_judge(), "group-tournament", num_generations=2)
    out = r.score(["p"] * 4, texts(1, 2, 3, 4))
    assert out[1] > out[0] and out[3] > out[2]
    assert out[0] == pytest.approx(out[2])  # two separate groups of two


def test_bt_and_elo_helpers():
    wins = np.array([[0, 3, 3], [0, 0, 3], [0, 0, 0]], dtype=float)
    s = mean_win_prob(bradley_terry_probs(wins))
    assert s[0] > s[1] > s[2]
    e = elo_expected([(0, 1, 1.0), (1, 2, 1.0), (0, 2, 1.0)] * 3, 3)
    assert e[0] > e[1] > e[2]


@pytest.mark.parametrize("tournament", ["knockout", "elo"])
def test_brackets_follow_the_trainer_step_so_a_resumed_run_draws_the_same(tournament):
    """TRL passes ``trainer_state``: a reward object built fresh after a resume at step 3 seeds its
    brackets / ELO orders as the one that ran steps 0-2 does at step 3."""
    from types import SimpleNamespace

    prompts, comps = ["p"] * 8, texts(3, 9, 1, 5, 7, 2, 8, 4)
    continuous = JudgeReward(make_judge(), "group-tournament", tournament=tournament, num_generations=8)
    by_step = [continuous.score(prompts, comps, trainer_state=SimpleNamespace(global_step=s)) for s in range(6)]
    assert len({tuple(o) for o in by_step}) > 1  # the draw depends on the step, so the check below can fail
    resumed = JudgeReward(make_judge(), "group-tournament", tournament=tournament, num_generations=8)
    for s in (3, 4, 5):
        assert resumed.score(prompts, comps, trainer_state=SimpleNamespace(global_step=s)) == by_step[s]


def test_tournament_refuses_an_incomplete_group():
    """A group split across processes would be ranked as a smaller tournament: an error, not a silent reward."""
    from judgelab.errors import ConfigError

    r = JudgeReward(make_judge(), "group-tournament", num_generations=4)
    with pytest.raises(ConfigError, match="incomplete group"):
        r.score(["p"] * 2, texts(1, 2))
