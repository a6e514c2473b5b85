"""Drop-in rewards (judgelab.integrations), called exactly as each framework's loader calls them:

- TRL: the example script runs 2 real GRPO steps of a tiny random policy with the rubric gold as
  its reward function;
- verl: the file is imported by path as ``verl.utils.import_utils.load_module`` does, the function
  wrapped with ``reward_kwargs`` as ``verl.trainer.ppo.reward.get_custom_reward_fn`` does, and
  called with the keyword shapes of the naive, batch and reward-loop managers;
- OpenRLHF: the file is imported as ``SingleTurnAgentExecutor`` does
  (``spec_from_file_location("reward_func", path)``), called from ``asyncio.to_thread`` inside a
  running loop with a query decoded from real token ids, and its answer consumed as
  ``_process_response_into_experience`` consumes it.

Expected rewards come from the judge itself (its verdict, normalised over its scale), never typed in.
No verl/OpenRLHF install: their loader code is mirrored here in a few lines (read from verl
b178a3c and OpenRLHF 3c3be62).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import os
from functools import partial
from pathlib import Path

import pytest

from judgelab.errors import ConfigError
from judgelab.integrations import common

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

PROMPT = 'Write a 4-line poem about a lighthouse at night. Use the word "lighthouse".'
CONSTRAINTS = {"form": "poem", "lines": 4, "min_words": 12, "max_words": 40, "must_include": ["lighthouse"]}
GOOD = ("The lighthouse hums beside the sea,\nits beam a slow and patient key,\n"
        "it sweeps the dark for ships that roam,\nand lights the weary sailors home.")
BAD = "ok"


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch):
    for var in (common.ENV_JUDGE, common.ENV_MODE, common.ENV_UNPARSED):
        monkeypatch.delenv(var, raising=False)
    common.reset()
    yield
    common.reset()


def gold_reward(response: str, constraints: dict | None = CONSTRAINTS, judge: str = "rubric-gold") -> float:
    """The judge's own pointwise verdict for ``response``, normalised to [0, 1]."""
    from judgelab.judges.registry import load_judge
    from judgelab.judges.types import PointwiseItem

    j = load_judge(judge)
    v = j.judge([PointwiseItem(id="x", prompt=PROMPT, response=response, meta={"constraints": constraints} if constraints else {})])[0]
    lo, hi = j.scale
    return (v.score - lo) / (hi - lo)


# -- verl ------------------------------------------------------------------------------------------

def verl_load(path: Path, name: str, reward_kwargs: dict | None = None):
    """verl's get_custom_reward_fn: load_module(path) + getattr(name), wrapped with reward_kwargs."""
    spec = importlib.util.spec_from_file_location(f"custom_module_{hash(os.path.abspath(path))}", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw_fn = getattr(module, name)
    kw = dict(reward_kwargs or {})
    if not inspect.iscoroutinefunction(raw_fn):
        return partial(lambda f, extra, *a, **k: f(*a, **{**k, **extra}), raw_fn, kw)

    async def call(*a, **k):
        return await raw_fn(*a, **{**k, **kw})
    return call


def verl_module_path() -> Path:
    import judgelab.integrations.verl as m

    return Path(m.__file__)


def test_verl_naive_manager_call_gives_the_judges_normalised_reward():
    fn = verl_load(verl_module_path(), "compute_score", {"judgelab_judge": "rubric-gold"})
    extra = {"prompt": PROMPT, "constraints": CONSTRAINTS, "index": 0, "num_turns": None, "rollout_reward_scores": {}}
    good = fn(data_source="creative", solution_str=GOOD, ground_truth=None, extra_info=dict(extra))
    bad = fn(data_source="creative", solution_str=BAD, ground_truth=None, extra_info=dict(extra))
    assert isinstance(good, float) and isinstance(bad, float)
    assert good == pytest.approx(gold_reward(GOOD)) and bad == pytest.approx(gold_reward(BAD))
    assert 0.0 <= bad < good <= 1.0


def test_verl_batch_manager_and_tournament_need_the_group():
    fn = verl_load(verl_module_path(), "compute_score_batch")
    extras = [{"prompt": PROMPT, "constraints": json.dumps(CONSTRAINTS)} for _ in range(3)]
    out = fn(data_sources=["c"] * 3, solution_strs=[GOOD, BAD, GOOD], ground_truths=[None] * 3, extra_infos=extras)
    assert out == pytest.approx([gold_reward(GOOD), gold_reward(BAD), gold_reward(GOOD)])
    # group-tournament: the batch holds each prompt's rollouts consecutively, so it can compare them
    t = fn(data_sources=["c"] * 2, solution_strs=[GOOD, BAD], ground_truths=[None] * 2, extra_infos=extras[:2],
           judgelab_mode="group-tournament")
    assert t[0] > 0.5 > t[1]
    # ...which one response at a time cannot
    single = verl_load(verl_module_path(), "compute_score", {"judgelab_mode": "group-tournament"})
    with pytest.raises(ConfigError, match="group-tournament"):
        single(data_source="c", solution_str=GOOD, ground_truth=None, extra_info={"prompt": PROMPT})


def test_verl_reward_loop_awaits_the_async_variant_and_the_sync_one_works_inside_a_running_loop():
    afn = verl_load(verl_module_path(), "compute_score_async")
    sfn = verl_load(verl_module_path(), "compute_score")
    assert inspect.iscoroutinefunction(afn)
    kw = dict(data_source="c", solution_str=GOOD, ground_truth=None, extra_info={"prompt": PROMPT, "constraints": CONSTRAINTS})

    async def reward_loop():
        awaited = await asyncio.gather(*(afn(**kw) for _ in range(4)))
        in_loop = sfn(**kw)  # a sync reward called on the loop's own thread: no nested-loop error
        offloaded = await asyncio.get_running_loop().run_in_executor(None, lambda: sfn(**kw))
        return awaited, in_loop, offloaded

    awaited, in_loop, offloaded = asyncio.run(reward_loop())
    assert awaited == [in_loop] * 4 and offloaded == in_loop
    assert in_loop == pytest.approx(gold_reward(GOOD))


def test_verl_pairwise_reference_uses_ground_truth_and_a_missing_prompt_is_named(caplog):
    fn = verl_load(verl_module_path(), "compute_score", {"judgelab_mode": "pairwise-reference"})
    extra = {"prompt": PROMPT, "constraints": CONSTRAINTS}
    assert fn(data_source="c", solution_str=GOOD, ground_truth=BAD, extra_info=extra) == 1.0  # beats the reference both orders
    assert fn(data_source="c", solution_str=BAD, ground_truth=GOOD, extra_info=extra) == 0.0
    # A row without prompt text (gsm8k-style extra_info): judged on the response alone, one warning.
    r = verl_load(verl_module_path(), "compute_score")(data_source="c", solution_str=GOOD, ground_truth=None,
                                                       extra_info={"index": 3})
    assert 0.0 <= r <= 1.0
    assert "judged without the request" in caplog.text


def test_verl_example_file_loads_by_path(monkeypatch):
    fn = verl_load(EXAMPLES / "verl_reward.py", "compute_score")
    assert fn(data_source="c", solution_str=GOOD, ground_truth=None,
              extra_info={"prompt": [{"role": "user", "content": PROMPT}], "constraints": CONSTRAINTS}) == pytest.approx(gold_reward(GOOD))


def test_an_llm_judge_on_a_tiny_model_through_verl(tmp_path, tiny_causal_lm):
    """A text judge (transformers backend, tiny random model): its unparsable outputs are the
    unparsed reward, never an exception; the model loads once for all calls."""
    model, tok = tiny_causal_lm
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    spec = {"name": "tiny", "style": "direct", "scale": [1, 10],
            "backend": {"type": "transformers", "model": str(tmp_path / "m"), "device": "cpu"},
            "sampling": {"max_new_tokens": 4, "temperature": 0.0}}
    fn = verl_load(verl_module_path(), "compute_score_batch", {"judgelab_judge": json.dumps(spec)})
    extras = [{"prompt": PROMPT}] * 2
    out = fn(data_sources=["c", "c"], solution_strs=[GOOD, BAD], ground_truths=[None, None], extra_infos=extras)
    out2 = fn(data_sources=["c"], solution_strs=[GOOD], ground_truths=[None], extra_infos=extras[:1])
    assert all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in out + out2)
    assert len(common._judges) == 1  # loaded once
    judge = next(iter(common._judges.values()))
    assert judge.name == "tiny"
    # each reward is that judge's own verdict, normalised, or the unparsed reward (0.0)
    from judgelab.judges.types import PointwiseItem

    verdicts = judge.judge([PointwiseItem(id=str(i), prompt=PROMPT, response=r) for i, r in enumerate((GOOD, BAD))])
    expected = [(v.score - 1) / 9 if v.ok and v.score is not None else 0.0 for v in verdicts]
    assert out == pytest.approx(expected) and out2 == pytest.approx(expected[:1])


# -- OpenRLHF ----------------------------------------------------------------------------------------

def openrlhf_load(path: Path):
    """SingleTurnAgentExecutor.__init__: the module is named "reward_func", the function too."""
    spec = importlib.util.spec_from_file_location("reward_func", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reward_func


def openrlhf_module_path() -> Path:
    import judgelab.integrations.openrlhf as m

    return Path(m.__file__)


def chat_query(prompt_text: str, response: str) -> tuple[str, str]:
    """(query, prompt) as OpenRLHF builds them: the chat-templated prompt, tokenized without
    special tokens added, + the response ids + EOS, decoded with skip_special_tokens=False."""
    from judgelab.models.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    prompt = tok.apply_chat_template([{"role": "user", "content": prompt_text}], tokenize=False, add_generation_prompt=True)
    ids = tok(text=prompt, add_special_tokens=False)["input_ids"]
    ids = ids + tok(text=response, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    return tok.decode(ids, skip_special_tokens=False), prompt


def experience(rewards_info: dict):
    """How OpenRLHF (0.10+) consumes one reward_func answer (agent.execute + _process_response_into_experience)."""
    import torch

    score_value = rewards_info.get("scores")
    if score_value is None:
        score_value = rewards_info.get("rewards")
    reward_val, extra_logs = rewards_info.get("rewards"), rewards_info.get("extra_logs") or {}
    info = {"reward": torch.tensor([reward_val]), "score": torch.tensor([score_value])}
    for key, value in extra_logs.items():
        if isinstance(value, torch.Tensor):
            value = value.flatten()[0].item()
        info[key] = torch.tensor([value])
    return info


def merged_experience(rewards_info: list[dict], samples_len: list[int]):
    """How OpenRLHF 0.8 merged batched answers (experience_maker.update_samples_with_rewards)."""
    import torch

    rewards = torch.cat([torch.as_tensor(i["rewards"]) for i in rewards_info], dim=0).split(samples_len)
    scores = torch.cat([torch.as_tensor(i["scores"]) for i in rewards_info], dim=0).split(samples_len)
    logs = {k: torch.cat([i["extra_logs"][k] for i in rewards_info], dim=0).split(samples_len)
            for k in rewards_info[0]["extra_logs"]}
    return rewards, scores, logs


def test_openrlhf_reward_func_strips_the_prompt_and_returns_its_dict(monkeypatch):
    import torch

    monkeypatch.setenv(common.ENV_JUDGE, "rubric-gold")
    reward_func = openrlhf_load(openrlhf_module_path())
    label = json.dumps({"constraints": CONSTRAINTS})
    queries, prompts = zip(*(chat_query(PROMPT, r) for r in (GOOD, BAD)))

    async def executor():  # one sample per call, each in a worker thread, concurrently
        return await asyncio.gather(*(asyncio.to_thread(reward_func, [q], [p], [label]) for q, p in zip(queries, prompts)))

    good, bad = asyncio.run(executor())
    for out in (good, bad):
        assert set(out) == {"rewards", "scores", "extra_logs"}
        assert isinstance(out["rewards"], torch.Tensor) and out["rewards"].shape == (1,)
        assert torch.equal(out["rewards"], out["scores"])
        assert out["extra_logs"]["judge_parse_failure_rate"] == 0.0
        experience(out)  # OpenRLHF's own consumption does not fail
    assert good["rewards"].item() == pytest.approx(gold_reward(GOOD), abs=1e-6)
    assert bad["rewards"].item() == pytest.approx(gold_reward(BAD), abs=1e-6)
    # OpenRLHF 0.8 passed batches and concatenated the answers
    batch = reward_func(list(queries), list(prompts), [label, label])
    rewards, scores, logs = merged_experience([batch, good], [2, 1])
    assert rewards[0].tolist() == pytest.approx([good["rewards"].item(), bad["rewards"].item()])
    assert logs["judge_parse_failure_rate"][0].tolist() == [0.0, 0.0]

    from judgelab.integrations.openrlhf import samples_from

    s = samples_from([queries[0]], [prompts[0]], [label])[0]
    assert s.response == GOOD and s.prompt == PROMPT and s.meta["constraints"] == CONSTRAINTS


def test_openrlhf_env_picks_the_judge_and_a_plain_label_is_the_reference(monkeypatch):
    reward_func = openrlhf_load(openrlhf_module_path())
    q, p = chat_query(PROMPT, GOOD)
    monkeypatch.setenv(common.ENV_JUDGE, "rubric-flawed-brevity")
    flawed = reward_func([q], [p], [json.dumps({"constraints": CONSTRAINTS})])["rewards"].item()
    assert flawed == pytest.approx(gold_reward(GOOD, judge="rubric-flawed-brevity"), abs=1e-6)
    assert flawed != pytest.approx(gold_reward(GOOD), abs=1e-6)  # the env var chose another judge
    monkeypatch.setenv(common.ENV_JUDGE, "rubric-gold")
    monkeypatch.setenv(common.ENV_MODE, "pairwise-reference")
    assert reward_func([q], [p], [BAD])["rewards"].item() == 1.0  # the label is the reference it beats
    q2, p2 = chat_query(PROMPT, BAD)
    assert reward_func([q2], [p2], [GOOD])["rewards"].item() == 0.0


def test_openrlhf_example_file_configures_the_judge():
    reward_func = openrlhf_load(EXAMPLES / "openrlhf_reward_func.py")
    q, p = chat_query(PROMPT, GOOD)
    out = reward_func([q], [p], [None])
    assert out["rewards"].item() == pytest.approx(gold_reward(GOOD, constraints=None), abs=1e-6)


def test_response_after_prompt_without_a_verbatim_prompt():
    from judgelab.integrations.chat_text import response_after_prompt, user_request

    prompt = "<|im_start|>user\nHi  there<|im_end|>\n<|im_start|>assistant\n"
    query = "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|><|endoftext|>"
    assert response_after_prompt(query, prompt) == "Hello!"  # after the assistant marker
    assert user_request(prompt) == "Hi  there"
    assert user_request("plain request") == "plain request"


def test_bad_settings_are_named(monkeypatch):
    monkeypatch.setenv(common.ENV_MODE, "best")
    with pytest.raises(ConfigError, match="JUDGELAB|reward mode"):
        common.current_settings()
    monkeypatch.setenv(common.ENV_MODE, "pointwise")
    monkeypatch.setenv(common.ENV_JUDGE, "{not json")
    with pytest.raises(ConfigError, match="JUDGELAB_JUDGE"):
        common.current_settings()


# -- TRL ----------------------------------------------------------------------------------------------

def test_trl_example_runs_two_grpo_steps_with_the_rubric_gold(tmp_path, tiny_causal_lm, capsys):
    model, tok = tiny_causal_lm
    model.save_pretrained(tmp_path / "policy")
    tok.save_pretrained(tmp_path / "policy")
    spec = importlib.util.spec_from_file_location("trl_example", EXAMPLES / "trl_grpo_with_judgelab_reward.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--model", str(tmp_path / "policy"), "--steps", "2", "--num-generations", "2",
                  "--max-completion-length", "8", "--output-dir", str(tmp_path / "out")])
    out = capsys.readouterr().out
    steps = [line for line in out.splitlines() if line.startswith("step ") and "judge reward" in line]
    assert len(steps) == 2, out
    for line in steps:
        r = float(line.split("judge reward ")[1].split(",")[0])
        assert 0.0 <= r <= 1.0
        assert "parse failures 0.00" in line  # the rubric always writes a parsable verdict
    assert "done: 2 GRPO steps" in out


def test_judge_reward_is_judgelabs_reward():
    from judgelab.integrations.trl import judge_reward
    from judgelab.train.rewards import JudgeReward

    r = judge_reward()  # the rubric gold, pointwise (it scores)
    assert isinstance(r, JudgeReward) and r.mode == "pointwise" and r.__name__ == "judge_gold"
    got = r.score([[{"role": "user", "content": PROMPT}]] * 2, [[{"role": "assistant", "content": GOOD}], BAD],
                  constraints=[json.dumps(CONSTRAINTS)] * 2)
    assert got == pytest.approx([gold_reward(GOOD), gold_reward(BAD)])
    assert judge_reward("rubric-gold", mode="pairwise-reference").mode == "pairwise-reference"
    with pytest.raises(ConfigError):
        judge_reward(mode="nope")
