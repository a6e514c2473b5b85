"""Logprob verdicts (judgelab.judges.logprob, ``verdict_from: logprobs``): the reader on token
sequences (pure function, like the parser tests), on a real model's distributions (a tiny random
Llama with the SmolLM2 tokenizer), through LLMJudge with the transformers backend, and as a GRPO
reward through JudgeReward (smooth, in-range, non-constant). Also ``response_format: json``."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from judgelab.errors import ConfigError
from judgelab.judges.config import JudgeConfig, logprob_variant
from judgelab.judges.llm import LLMJudge
from judgelab.judges.logprob import read_preference, read_score, verdict_schema
from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.parsing.pointwise import parse_pointwise
from judgelab.judges.types import PairwiseItem, PointwiseItem
from judgelab.lm.types import Generation, GenerationRequest, TokenLogprob

L = math.log


def T(token: str, p: float = 1.0, top: list[tuple[str, float]] | None = None) -> TokenLogprob:
    return TokenLogprob(token=token, logprob=L(p), top=[(t, L(q)) for t, q in (top or [])])


# ----------------------------------------------------------------------------- the reader


def test_expected_score_renormalises_over_valid_score_tokens() -> None:
    toks = [T("Score"), T(":"), T(" "), T("7", .5, [("7", .5), ("8", .3), ("The", .1), ("6", .05)])]
    r = read_score(toks, (1, 10))
    assert r.parsed and r.position == 3
    assert r.probs == pytest.approx({"6": .05 / .85, "7": .5 / .85, "8": .3 / .85})
    assert r.score == pytest.approx((6 * .05 + 7 * .5 + 8 * .3) / .85)
    assert r.mass == pytest.approx(.85)


def test_scores_off_the_scale_do_not_count() -> None:
    toks = [T("Rating"), T(": "), T("4", .6, [("4", .6), ("9", .3), ("5", .1)])]
    r = read_score(toks, (1, 5))
    assert r.probs == pytest.approx({"4": .6 / .7, "5": .1 / .7}) and r.score == pytest.approx((4 * .6 + 5 * .1) / .7)


def test_ten_spelled_as_two_tokens() -> None:
    # "1" emitted, then "0" with p=0.8: 80% of "1"'s mass is the score 10
    toks = [T("Score"), T(":"), T(" "), T("1", .5, [("1", .5), ("9", .5)]), T("0", .8, [("0", .8), ("\n", .2)])]
    r = read_score(toks, (1, 10))
    assert r.probs == pytest.approx({"1": .1, "9": .5, "10": .4})
    assert r.score == pytest.approx(.1 + 4.5 + 4.0)
    # on a 1-5 scale there is no 10 to split off
    assert read_score(toks, (1, 5)).probs == pytest.approx({"1": 1.0})


def test_markers_brackets_and_merged_tokens() -> None:
    assert read_score([T("Rating"), T(": [["), T("6", .9, [("6", .9), ("5", .1)]), T("]]")], (1, 10)).score == pytest.approx(5.9)
    assert read_score([T("[RESULT]"), T(" 4", .5, [(" 4", .5), (" 3", .5)])], (1, 5)).score == pytest.approx(3.5)
    # a direct answer that is only the score (G-Eval's "- Coherence:" prompts): the first token
    assert read_score([T("3", .75, [("3", .75), ("2", .25)])], (1, 5)).score == pytest.approx(2.75)
    # the last marker followed by a score counts; a later mention of "score" without one does not
    toks = [T("Score"), T(":"), T(" 3", 1, [(" 3", 1)]), T(" no wait. Score"), T(":"), T(" 9", .5, [(" 9", .5), (" 8", .5)]),
            T(". The score reflects"), T(" clarity.")]
    assert read_score(toks, (1, 10)).score == pytest.approx(8.5)


def test_verdict_inside_thinking_never_counts() -> None:
    toks = [T("<think>"), T("Score"), T(":"), T(" 2", .9, [(" 2", .9)]), T("</think>"), T("\n"), T("Score"), T(":"),
            T(" 8", .6, [(" 8", .6), (" 9", .4)])]
    assert read_score(toks, (1, 10)).score == pytest.approx(8.4)
    r = read_score([T("<think>"), T("Score"), T(":"), T(" 2", .9, [(" 2", .9)])], (1, 10))
    assert not r.parsed and "unterminated" in (r.error or "")
    r = read_score([T("<think>"), T("Score: 2"), T("</think>"), T("I cannot judge this.")], (1, 10))
    assert not r.parsed and "no verdict position" in (r.error or "")


@pytest.mark.parametrize("tokens,why", [
    (None, "no logprobs"),
    ([], "no logprobs"),
    ([T("The"), T(" response"), T(" is"), T(" fine")], "no verdict position"),
    ([T("Score"), T(":"), T(" high", .9, [(" high", .9), (" good", .1)])], "no verdict position"),
    ([T("Score"), T(":"), T(" 9", .9, [(" 9", .9)])], "no score on the scale"),  # on 1-5
])
def test_no_marker_or_no_valid_token_is_unparsed(tokens: Any, why: str) -> None:
    r = read_score(tokens, (1, 5))
    assert not r.parsed and r.score is None and why in (r.error or ""), r


def test_pairwise_probability_of_a() -> None:
    toks = [T("[["), T("A", .6, [("A", .6), ("B", .2), ("C", .1), ("The", .1)]), T("]]")]
    r = read_preference(toks)
    assert r.probs == pytest.approx({"A": 6 / 9, "B": 2 / 9, "tie": 1 / 9})
    assert r.p_a == pytest.approx(6 / 9 + 0.5 / 9) and r.preference == "A" and r.strength == pytest.approx(6 / 9)
    no_tie = read_preference(toks, allow_tie=False)
    assert no_tie.probs == pytest.approx({"A": .75, "B": .25}) and no_tie.p_a == pytest.approx(.75)
    labelled = [T("Ver"), T("dict"), T(":"), T(" Assistant"), T(" B", .7, [(" B", .7), (" A", .3)])]
    assert read_preference(labelled).p_a == pytest.approx(.3)
    prometheus = [T("Feedback: fine."), T(" [RESULT]"), T(" A", .9, [(" A", .9), (" B", .1)])]
    assert read_preference(prometheus).p_a == pytest.approx(.9)


def test_alpaca_eval_model_identifiers() -> None:
    # weighted_alpaca_eval_gpt4_turbo: one token "m" (output_1) or "M" (output_2), top_logprobs 5
    r = read_preference([T("M", .7, [("M", .7), ("m", .25), ("Both", .05)])], allow_tie=False)
    assert r.parsed and r.preference == "B" and r.p_a == pytest.approx(.25 / .95)
    # with a letter verdict written, m/M alternatives are no answer to that prompt
    r = read_preference([T("[["), T("A", .5, [("A", .5), ("M", .3), ("B", .2)]), T("]]")])
    assert r.probs == pytest.approx({"A": .5 / .7, "B": .2 / .7, "tie": 0.0})


def test_arena_labels_have_no_single_verdict_token() -> None:
    r = read_preference([T("[["), T("A", .7, [("A", .7), ("B", .3)]), T(">>"), T("B"), T("]]")])
    assert not r.parsed and "five-level" in (r.error or "")


def test_reader_never_raises_on_random_tokens() -> None:
    rnd = random.Random(0)
    vocab = ["Score", ":", " ", "7", "10", "1", "0", "[[", "]]", "A", "B", "C", "<think>", "</think>", "\n", "**",
             "Verdict", " tie", "x", "", "\x00", "９", "nan", "[RESULT]"]
    for _ in range(2000):
        toks = [TokenLogprob(rnd.choice(vocab), rnd.choice([-0.1, -3.0, float("-inf"), float("nan"), 0.0]),
                             [(rnd.choice(vocab), rnd.uniform(-10, 0)) for _ in range(rnd.randint(0, 4))])
                for _ in range(rnd.randint(0, 12))]
        s = read_score(toks, (1, 10))
        assert isinstance(s.parsed, bool)
        if s.parsed:
            assert 1 <= s.score <= 10 and math.isclose(sum(s.probs.values()), 1.0)  # type: ignore[operator]
        p = read_preference(toks, rnd.random() < .5)
        if p.parsed:
            assert 0 <= p.p_a <= 1 and p.preference in ("A", "B", "tie")  # type: ignore[operator]


def _tokens(text_tokens: list[str], at: int, top: list[tuple[str, float]]) -> list[TokenLogprob]:
    return [T(t, top[0][1], top) if i == at else T(t) for i, t in enumerate(text_tokens)]


def test_judge_reads_probabilities_only_where_the_text_holds_that_verdict() -> None:
    judge = LLMJudge(JudgeConfig(name="lp", verdict_from="logprobs"), backend=object())
    ok = judge.parse("pointwise", "Score: 7", _tokens(["Score", ":", " ", "7"], 3, [("7", .6), ("8", .4)]))
    assert ok.parsed and ok.score == pytest.approx(7.4) and ok.verdict_probs == pytest.approx({"7": .6, "8": .4})
    # a list number opening the answer is no score, whatever its probabilities
    listed = judge.parse("pointwise", "1. Keep a fixed wake-up time.", _tokens(["1", ".", " Keep", " a", " fixed"], 0, [("1", .9), ("2", .1)]))
    assert not listed.parsed and listed.score is None and "no verdict in the text" in (listed.parse_error or "")
    # the tokens must spell the written verdict at the position read
    other = judge.parse("pointwise", "Score: 7", _tokens(["Score", ":", " ", "8"], 3, [("8", .6), ("7", .4)]))
    assert not other.parsed and "not the written verdict" in (other.parse_error or "")
    # an echoed "[Response A]" header is no verdict either
    echo = judge.parse("pairwise", "[Response A]\nSleep more.", _tokens(["[", "Response", " A", "]", "\n", "Sleep", " more", "."], 2,
                                                                   [(" A", .9), (" B", .1)]))
    assert not echo.parsed and echo.p_a is None
    tied = judge.parse("pairwise", "[[C]]", _tokens(["[[", "C", "]]"], 1, [("C", .5), ("A", .3), ("B", .2)]))
    assert tied.parsed and tied.preference == "tie" and tied.p_a == pytest.approx(.55)


# ----------------------------------------------------------------------------- a real model


class ForcedMarkerBackend:
    """A text backend on a real (tiny) causal LM that answers in a fixed verdict format: the marker
    ("Score: " / "[[") is forced -- what servers offer as a prefilled assistant turn -- then the
    verdict token is decoded greedily with the model's real logprob and top alternatives, then the
    closing ``suffix`` ("]]") is forced. A stand-in for a judge trained to answer "Score: N"."""

    name = "forced-marker"

    def __init__(self, model: Any, tokenizer: Any, prefix: str, suffix: str = "", new_tokens: int = 1, k: int = 20):
        self.model, self.tok, self.prefix, self.suffix, self.new_tokens, self.k = model, tokenizer, prefix, suffix, new_tokens, k
        self.requests: list[GenerationRequest] = []

    async def generate(self, request: GenerationRequest) -> Generation:
        import torch

        self.requests.append(request)
        text = self.tok.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True) + self.prefix
        ids = self.tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
        out = [TokenLogprob(self.tok.decode([i]), 0.0) for i in self.tok(self.prefix, add_special_tokens=False)["input_ids"]]
        with torch.inference_mode():
            for _ in range(self.new_tokens):
                lp = torch.log_softmax(self.model(ids).logits[0, -1].float(), dim=-1)
                v, i = lp.topk(self.k)
                top = [(self.tok.decode([int(t)]), float(x)) for t, x in zip(i, v)]
                out.append(TokenLogprob(top[0][0], top[0][1], top, id=int(i[0])))
                ids = torch.cat([ids, i[:1].view(1, 1)], dim=1)
        out += [TokenLogprob(self.tok.decode([i]), 0.0) for i in self.tok(self.suffix, add_special_tokens=False)["input_ids"]]
        return Generation(text="".join(t.token for t in out), logprobs=out if request.params.top_logprobs else None)

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "prefix": self.prefix}

    async def aclose(self) -> None:
        return None


def _digit_ids(tok: Any) -> dict[int, int]:
    return {d: tok(str(d), add_special_tokens=False)["input_ids"][0] for d in range(10)}


def _verdict_tokens_learned(model: Any, tok: Any, texts: list[str], factor: float = 40.0) -> None:
    """Make the random model behave like a judge that learned its answer format: scale the output
    rows of the verdict tokens, so after the marker most mass is on them (which ones, and how
    much, still depends on the input, as a trained judge's would)."""
    import torch

    ids = [tok(t, add_special_tokens=False)["input_ids"][0] for t in texts]
    with torch.no_grad():
        model.get_output_embeddings().weight[ids] *= factor


def test_expected_score_matches_the_models_distribution(tiny_causal_lm) -> None:
    """On a real tokenizer and model: the expectation equals the one computed from the model's
    softmax over the digit tokens after "Score:" directly."""
    import torch

    model, tok = tiny_causal_lm
    _verdict_tokens_learned(model, tok, [str(d) for d in range(10)], factor=8.0)
    # every alternative, so the whole distribution over the digits is there to compare with
    backend = ForcedMarkerBackend(model, tok, "Score: ", new_tokens=1, k=len(tok))
    judge = LLMJudge(JudgeConfig(name="lp", verdict_from="logprobs", scale=(1, 9)), backend=backend)
    item = PointwiseItem(id="p", prompt="Write a haiku.", response="Rain on the roof.")
    v = judge.judge([item])[0]
    assert v.parsed and v.verdict_probs, v.parse_error
    text = tok.apply_chat_template(backend.requests[0].messages, tokenize=False, add_generation_prompt=True) + "Score: "
    with torch.inference_mode():
        p = torch.softmax(model(tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]).logits[0, -1].float(), -1)
    ids = _digit_ids(tok)
    mass = sum(float(p[ids[d]]) for d in range(1, 10))
    assert v.score == pytest.approx(sum(d * float(p[ids[d]]) for d in range(1, 10)) / mass, rel=1e-4)
    assert backend.requests[0].params.top_logprobs == 20  # what the judge asked the backend for


def test_transformers_backend_logprob_judge_never_raises(tiny_causal_lm) -> None:
    """The real path: the transformers backend returns logprobs; a random model writes no verdict
    marker, so verdicts are unparsed values naming why (never a backend error, never a guess)."""
    from judgelab.lm.transformers import TransformersBackend

    backend = TransformersBackend.from_model(*tiny_causal_lm, name="tiny", batch_size=4, max_wait_ms=20)
    judge = LLMJudge(JudgeConfig(name="lp", verdict_from="logprobs", sampling={"max_new_tokens": 6}), backend=backend)
    items = [PointwiseItem(id="p", prompt="Say hi.", response="hi"), PairwiseItem(id="q", prompt="Say hi.", response_a="hi", response_b="yo")]
    for v in judge.judge(items):
        assert v.error is None and v.raw
        assert v.parsed or "no verdict" in (v.parse_error or "") or "no score" in (v.parse_error or ""), v.parse_error
    assert judge.identity()["verdict_from"] == "logprobs"
    assert "verdict_from" not in LLMJudge(JudgeConfig(name="t"), backend=backend).identity()  # text judges keep their keys
    judge.close()


def test_logprob_judge_is_a_smooth_grpo_reward(tiny_causal_lm) -> None:
    """Through the reward builder (JudgeReward, pointwise mode): rewards in [0, 1], not constant,
    not the unparsed reward, and not restricted to the 10 values a text score can give."""
    from judgelab.train.rewards import JudgeReward

    model, tok = tiny_causal_lm
    _verdict_tokens_learned(model, tok, [str(d) for d in range(10)])
    judge = LLMJudge(JudgeConfig(name="lp", verdict_from="logprobs", scale=(1, 10)), backend=ForcedMarkerBackend(model, tok, "Score: "))
    reward = JudgeReward(judge, "pointwise")
    prompts = ["Write a haiku about rain."] * 4 + ["Describe a cat in one line."] * 4
    completions = ["Rain taps the roof.", "rain rain rain", "Puddles hold the sky.", "I like turtles.",
                   "A cat naps in the sun.", "cat", "Whiskers twitch at dawn.", "The cat, the cat, the cat."]
    rewards = reward.score(prompts, completions)
    assert len(rewards) == 8 and all(0.0 <= r <= 1.0 for r in rewards)
    assert len({round(r, 9) for r in rewards}) > 1, rewards
    assert any(abs(r * 9 - round(r * 9)) > 1e-6 for r in rewards), rewards  # fractional: smooth, not text scores
    assert reward.last_stats is not None and reward.last_stats.metrics()["parse_failure_rate"] == 0.0


def test_pairwise_logprob_verdicts_carry_p_a(tiny_causal_lm) -> None:
    model, tok = tiny_causal_lm
    _verdict_tokens_learned(model, tok, ["A", "B", "C"])
    judge = LLMJudge(JudgeConfig(name="lp", verdict_from="logprobs", mode="pairwise"), backend=ForcedMarkerBackend(model, tok, "[[", "]]"))
    items = [PairwiseItem(id=f"q{i}", prompt="Write a haiku.", response_a=a, response_b=b)
             for i, (a, b) in enumerate([("Rain taps.", "Wet."), ("Sun.", "The sun rises slowly."), ("x", "y")])]
    verdicts = judge.judge(items)
    for v in verdicts:
        assert v.parsed, v.parse_error
        assert 0.0 <= v.p_a <= 1.0 and v.preference in ("A", "B", "tie")  # type: ignore[operator]
        assert sum(v.verdict_probs.values()) == pytest.approx(1.0)  # type: ignore[union-attr]
        assert v.p_a == pytest.approx(v.verdict_probs["A"] + v.verdict_probs["tie"] / 2)  # type: ignore[index]
    assert len({round(v.p_a, 9) for v in verdicts}) > 1  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- config


def test_config_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="text backend"):
        JudgeConfig(verdict_from="logprobs", backend={"type": "rubric"})
    with pytest.raises(ValueError, match="within 0-10"):
        JudgeConfig(verdict_from="logprobs", scale=(0, 100))
    JudgeConfig(verdict_from="logprobs", scale=(0, 100), mode="pairwise")  # no scores read: fine
    with pytest.raises(ValueError, match="one or the other"):
        JudgeConfig(verdict_from="logprobs", response_format="json")


def test_logprob_variant_of_a_trained_judge_config() -> None:
    cfg = JudgeConfig(name="direct-sft-s0", mode="pointwise", sampling={"max_new_tokens": 8, "temperature": 0.7})
    v = logprob_variant(cfg)
    assert v.name == "direct-sft-s0-logprob" and v.verdict_from == "logprobs" and v.mode == "pointwise"
    assert v.sampling.temperature == 0.0 and cfg.verdict_from == "text"
    with pytest.raises(ConfigError):
        logprob_variant(JudgeConfig(name="r", backend={"type": "rubric"}))


def test_example_yaml_loads() -> None:
    from pathlib import Path

    from judgelab.judges.registry import resolve_judge_spec

    cfg = resolve_judge_spec(str(Path(__file__).parents[2] / "examples" / "judge_smollm2_logprob.yaml"))
    assert isinstance(cfg, JudgeConfig) and cfg.verdict_from == "logprobs"


# ----------------------------------------------------------------------------- structured output


@pytest.mark.parametrize("mode,allow_tie", [("pointwise", True), ("pairwise", True), ("pairwise", False)])
def test_json_schema_matches_the_parser(mode: str, allow_tie: bool) -> None:
    """Every value the schema allows, written as the backend would, parses to that verdict."""
    rf = verdict_schema(mode, (1, 5), allow_tie)
    schema = rf["json_schema"]["schema"]
    assert rf["type"] == "json_schema" and schema["additionalProperties"] is False
    import json

    if mode == "pointwise":
        for s in range(schema["properties"]["score"]["minimum"], schema["properties"]["score"]["maximum"] + 1):
            r = parse_pointwise(json.dumps({"reasoning": "Clear; one error.", "score": s}), (1, 5))
            assert r.parsed and r.score == s
    else:
        for w in schema["properties"]["winner"]["enum"]:
            r = parse_pairwise(json.dumps({"reasoning": "A is vivid; B is flat.", "winner": w}), allow_tie)
            assert r.parsed and r.preference == w


def test_response_format_json_reaches_the_backend(tiny_causal_lm) -> None:
    from judgelab.lm.transformers import TransformersBackend

    backend = TransformersBackend.from_model(*tiny_causal_lm, name="tiny", batch_size=2, max_wait_ms=5)
    judge = LLMJudge(JudgeConfig(name="j", response_format="json", sampling={"max_new_tokens": 4}), backend=backend)
    assert judge.template("pointwise").name == "pointwise_json" and judge.template("pairwise").name == "pairwise_json"
    p = judge.params(0, "pairwise")
    assert p.response_format is not None and p.response_format["json_schema"]["schema"]["required"] == ["reasoning", "winner"]
    # the local backend has no constrained decoding: it says so, it never returns free text silently
    v = judge.judge([PointwiseItem(id="p", prompt="Say hi.", response="hi")])[0]
    assert not v.parsed and v.error and "response_format" in v.error
    assert judge.identity()["response_format"] == "json"
    judge.close()


# ----------------------------------------------------------------------------- the real SmolLM2


@pytest.mark.slow
def test_smollm2_logprob_judge(smollm2_path: str) -> None:
    """SmolLM2-135M as a direct pairwise judge in logprob mode (examples/judge_smollm2_logprob.yaml's
    model): the backend returns logprobs; every verdict is either P(A) where the text holds a verdict
    at that token, or unparsed with the reason (an untrained 135M model mostly echoes the prompt's
    "[Response A]" structure: no verdict, no guess)."""
    from judgelab.lm.aio import run_sync

    judge = LLMJudge(JudgeConfig(name="smol-lp", verdict_from="logprobs", mode="pairwise", sampling={"max_new_tokens": 8},
                                 backend={"type": "transformers", "model": smollm2_path, "batch_size": 8}))
    good = "Rain taps the window / soft grey hush over the town / puddles hold the sky"
    items = [PairwiseItem(id=f"q{i}", prompt="Write a haiku about rain.", response_a=a, response_b=b)
             for i, (a, b) in enumerate([(good, "rain rain rain"), ("rain rain rain", good), (good, "I don't know.")])]
    for v in judge.judge(items):
        if v.parsed:
            assert 0.0 <= v.p_a <= 1.0 and sum(v.verdict_probs.values()) == pytest.approx(1.0)  # type: ignore[operator, union-attr]
        else:
            assert v.parse_error and v.p_a is None and v.error is None
    msgs = judge.template("pairwise").render(items[0])
    gen = run_sync(judge.backend.generate(GenerationRequest(msgs, judge.params(0, "pairwise"))))
    assert gen.logprobs and all(len(t.top) == 20 for t in gen.logprobs)
    assert "".join(t.token for t in gen.logprobs) == gen.text
    judge.close()


@pytest.mark.slow
def test_smollm2_expected_score_after_the_marker(smollm2_path: str) -> None:
    """The real SmolLM2 distribution after a forced "Score: " (a prefilled answer): every verdict is
    an expected score on the scale, and they differ between responses."""
    from judgelab.models.loading import load_model

    model, tok = load_model(smollm2_path, device="cpu", dtype="float32")
    judge = LLMJudge(JudgeConfig(name="smol-forced", verdict_from="logprobs", scale=(1, 10)),
                     backend=ForcedMarkerBackend(model, tok, "Score: ", "\n"))
    responses = ["Rain taps the window / soft grey hush over the town / puddles hold the sky", "rain rain rain",
                 "I don't know.", "Drops on the tin roof / the garden drinks slowly / clouds drift to the east"]
    verdicts = judge.judge([PointwiseItem(id=f"p{i}", prompt="Write a haiku about rain.", response=r) for i, r in enumerate(responses)])
    assert all(v.parsed and 1.0 <= v.score <= 10.0 for v in verdicts), [v.parse_error for v in verdicts]  # type: ignore[operator]
    assert len({round(v.score, 6) for v in verdicts}) > 1  # type: ignore[arg-type]


@pytest.mark.slow
def test_logprob_judge_over_http_matches_local(serve_smollm2: str, smollm2_path: str) -> None:
    """The same judge through an OpenAI-compatible server (`judgelab serve`, logprobs/top_logprobs
    in OpenAI's shape) reads the same P(A) as the local transformers backend."""
    items = [PairwiseItem(id=f"q{i}", prompt="Write a haiku about rain.", response_a=a, response_b=b)
             for i, (a, b) in enumerate([("Rain taps the window / soft grey hush / puddles hold the sky", "rain rain rain"),
                                         ("rain rain rain", "Rain taps the window / soft grey hush / puddles hold the sky")])]
    base = {"verdict_from": "logprobs", "mode": "pairwise", "sampling": {"max_new_tokens": 8}}
    http = LLMJudge(JudgeConfig(name="http", **base, backend={"type": "openai", "model": "smollm2",  # type: ignore[arg-type]
                                                              "base_urls": [serve_smollm2], "max_retries": 1}))
    local = LLMJudge(JudgeConfig(name="local", **base, backend={"type": "transformers", "model": smollm2_path,  # type: ignore[arg-type]
                                                                "batch_size": 1}))
    vh, vl = http.judge(items), local.judge(items)
    http.close()
    local.close()
    for a, b in zip(vh, vl):
        assert a.error is None, a.error
        assert a.parsed == b.parsed and a.raw == b.raw, (a.parse_error, b.parse_error)
        if a.parsed:
            assert a.p_a == pytest.approx(b.p_a, abs=0.02)  # batch-1 vs served batching: float noise only
