"""``judgelab run CONFIG --dry-run``: the plan of a run, printed without loading a model or touching
the network: its stages, models (with their sizes), how many judges and policies, where they run,
and an estimate of GPU-hours and GPU memory per stage (judgelab.pipeline.estimate; method in
docs/estimate.md). Reads the run config (already validated by ``load_run_config``), its prompt
file (a shipped set or local JSONL: the selection is checked), local models' config.json and the
accelerate config file; writes nothing.
"""

from __future__ import annotations

import math
from typing import Any

from judgelab.data.rundir import RunDir
from judgelab.judges.config import JudgeConfig
from judgelab.pipeline.config import RunConfig
from judgelab.pipeline.estimate import (GPU_NAME, HF_STEP_S, JUDGE_TEMPLATE_TOKENS, VLLM_STEP_S, PROMPT_TOKENS, Model, StageCost, decode_s,
                                        forward_s, infer_gb, judge_call, param_count, sharding, train_gb, train_s)
from judgelab.pipeline.launch import Launch
from judgelab.pipeline.plan import policy_runs
from judgelab.train.common import TrainJudgeConfig

GRPO_KINDS = ("reasoning-grpo", "reasoning-sft-grpo", "verdict-sft-grpo", "grpo-only")
SFT_KINDS = ("direct-sft", "reasoning-sft", "reasoning-sft-grpo", "verdict-sft-grpo")
REASONING_TARGET_TOKENS = 256  # a distilled reasoning trace plus its verdict
_W = 34  # width of the models' label column


def local(spec: str) -> Model:
    p, source = param_count(spec)
    return Model(spec, "local", p, source)


def judge_model(spec: Any, trained: dict[str, TrainJudgeConfig]) -> Model:
    """How a judge spec runs: a trained judge of this run, a local model, an API model or a rubric."""
    if isinstance(spec, str):
        jc = trained.get(spec)
        return local(jc.model) if jc is not None else Model(spec, "free", source="registered")
    backend = getattr(spec, "backend", None)
    btype = getattr(backend, "type", "")
    if btype in ("transformers", "reward_model"):
        return local(backend.model)  # type: ignore[union-attr]
    if btype == "rubric" or backend is None:
        return Model(getattr(backend, "rubric", "ensemble"), "free", source="programmatic")
    return Model(getattr(backend, "model", btype), "api", source=btype)


def _judge_tokens(spec: Any, trained: dict[str, TrainJudgeConfig]) -> tuple[int, int, bool]:
    """(new tokens, batch, scalar) of a judge's call."""
    if isinstance(spec, str) and spec in trained:
        jc = trained[spec]
        new = 16 if jc.style == "direct" else jc.grpo.max_completion_length
        return new, jc.inference_batch_size, jc.kind == "reward-model"
    if isinstance(spec, JudgeConfig):
        btype = getattr(spec.backend, "type", "")
        return spec.sampling.max_new_tokens, int(getattr(spec.backend, "batch_size", 8)), btype == "reward_model"
    return 16, 8, False


class Estimator:
    """The plan's counts and the per-stage costs of one run config."""

    def __init__(self, cfg: RunConfig, launch: Launch):
        self.cfg, self.launch = cfg, launch
        self.shard = sharding(launch.num_processes, launch.config_file)
        self.rd = RunDir(cfg.run_dir)
        self.trained = {str(self.rd.judge_dir(j.judge_name)): j for j in cfg.judges}
        self.runs = policy_runs(cfg, self.rd)
        s = cfg.sample
        self.responses_per_prompt = s.n * len(s.policies)
        self.prompts = cfg.prompts.train_limit + cfg.prompts.test_limit
        r = self.responses_per_prompt
        pairs = cfg.annotate.pairs
        per_prompt = {"random": min(pairs.k, math.comb(r, 2)), "all": min(math.comb(r, 2), pairs.max_per_prompt),
                      "reference": max(r - 1, 0)}[pairs.strategy] if cfg.annotate.pairwise else 0
        self.train_pairs = cfg.prompts.train_limit * per_prompt
        self.test_pairs = cfg.prompts.test_limit * per_prompt
        self.response_tokens = s.max_new_tokens

    def stages(self) -> list[StageCost]:
        out = [StageCost("prompts"), self.sample(), self.annotate()]
        out += [self.train_judge(j) for j in self.cfg.judges]
        if self.cfg.eval_judges:
            out.append(self.eval_judges())
        out += [self.train_policies(), self.evaluate()]
        if self.cfg.adversarial.enabled:
            out.append(self.adversarial())
        out += self.optional()
        return out

    def sample(self) -> StageCost:
        cost = StageCost("sample")
        seqs = self.prompts * self.cfg.sample.n
        for pol in self.cfg.sample.policies:
            b = pol.backend
            if b.type != "transformers":
                cost.api_requests += seqs
                cost.api_tokens += seqs * (PROMPT_TOKENS + self.cfg.sample.max_new_tokens)
                continue
            m = local(b.model)
            batch = self.cfg.sample.batch_size or b.batch_size
            cost.add_s(None if m.params is None else decode_s(m.params, seqs, self.cfg.sample.max_new_tokens, batch))
            cost.need_gb(None if m.params is None else infer_gb(m.params))
        return cost

    def annotate(self) -> StageCost:
        cost = StageCost("annotate")
        gold = judge_model(self.cfg.gold, self.trained)
        new, batch, scalar = _judge_tokens(self.cfg.gold, self.trained)
        calls = 2 * (self.train_pairs + self.test_pairs)
        gb = judge_call(cost, gold, calls, 2 * self.response_tokens, new, batch, scalar)
        if self.cfg.annotate.pointwise:
            points = self.prompts * self.responses_per_prompt
            gb = judge_call(cost, gold, points, self.response_tokens, new, batch, scalar) if gb is not None else None
        cost.need_gb(gb)
        return cost

    def train_judge(self, jc: TrainJudgeConfig) -> StageCost:
        cost = StageCost(f"train-judge {jc.judge_name}")
        p = param_count(jc.model)[0]
        if p is None:
            cost.add_s(None)
            cost.need_gb(None)
            return cost
        pairwise = jc.mode == "pairwise"
        seq = JUDGE_TEMPLATE_TOKENS + PROMPT_TOKENS + self.response_tokens * (2 if pairwise else 1)
        if jc.kind in SFT_KINDS or jc.kind == "reward-model":
            examples = (self.train_pairs * (2 if jc.swap_augment else 1) if pairwise
                        else self.cfg.prompts.train_limit * self.responses_per_prompt)
            examples = min(examples, jc.max_examples or examples)
            per_step = jc.batch_size * jc.grad_accum
            steps = jc.max_steps if jc.max_steps > 0 else math.ceil(jc.epochs * examples / per_step)
            target = 16 if jc.style == "direct" else REASONING_TARGET_TOKENS
            cost.add_s(train_s(p, steps * per_step * min(jc.max_length, seq + target), jc.gradient_checkpointing))
        if jc.kind in GRPO_KINDS:
            g = jc.grpo
            group = g.prompts_per_step * g.num_generations
            cost.add_s(g.max_steps * decode_s(p, group, g.max_completion_length, group))
            cost.add_s(train_s(p, g.max_steps * group * (seq + g.max_completion_length), jc.gradient_checkpointing))
        cost.need_gb(train_gb(p, jc.lora is not None, self.shard))
        return cost

    def eval_judges(self) -> StageCost:
        specs = ([self.cfg.gold] + [u.judge for u in self.cfg.untrained_judges] + list(self.trained))
        cost = StageCost("eval-judge", runs=len(specs) * (2 if self.cfg.logprob_ablation else 1))
        for spec in specs:
            new, batch, scalar = _judge_tokens(spec, self.trained)
            cost.need_gb(judge_call(cost, judge_model(spec, self.trained), 2 * self.test_pairs,
                                    2 * self.response_tokens, new, batch, scalar))
        return cost

    def train_policies(self) -> StageCost:
        cost = StageCost("train-policy", runs=len(self.runs))
        for _, pc in self.runs:
            self._policy(cost, pc)
        return cost

    def _policy(self, cost: StageCost, pc: Any) -> None:
        g = pc.grpo
        p = param_count(pc.model)[0]
        if p is None:
            cost.add_s(None)
            cost.need_gb(None)
            return
        n = self.shard[1] if self.launch.active else 1
        per_step = (getattr(g, "prompts_per_step", None) or 0) * g.num_generations or (
            g.per_device_train_batch_size * g.gradient_accumulation_steps * n if g.per_device_train_batch_size
            else g.gradient_accumulation_steps * g.num_generations)
        completions = g.max_steps * per_step
        rank_batch = max(per_step // n, 1)  # each process rolls out its share at once
        floor = VLLM_STEP_S if g.use_vllm else HF_STEP_S
        cost.add_s(n * g.max_steps * decode_s(p, rank_batch, g.max_completion_length, rank_batch, floor))
        tokens = completions * (PROMPT_TOKENS + g.max_completion_length)
        cost.add_s(train_s(p, tokens, g.gradient_checkpointing) + (forward_s(p, tokens) if g.beta > 0 else 0.0))
        mode = pc.reward.mode
        orders = 2 if pc.reward.both_orders else 1
        calls = {"pointwise": completions, "pairwise-reference": completions * orders,
                 "group-tournament": g.max_steps * (per_step // g.num_generations) * math.comb(g.num_generations, 2) * orders}[mode]
        new, batch, scalar = _judge_tokens(pc.judge, self.trained)
        resp = g.max_completion_length * (1 if mode == "pointwise" else 2)
        judge_gb = judge_call(cost, judge_model(pc.judge, self.trained), calls, resp, new, batch, scalar)
        if pc.monitor is not None:
            m = pc.monitor
            evals = g.max_steps // m.every + 1
            seqs = m.prompts * m.samples
            cost.add_s(evals * decode_s(p, seqs, m.max_new_tokens or g.max_completion_length, m.batch_size))
            gnew, gbatch, gscalar = _judge_tokens(m.judge, self.trained)
            judge_call(cost, judge_model(m.judge, self.trained), evals * seqs, g.max_completion_length, gnew, gbatch, gscalar)
        gb = train_gb(p, pc.lora.enabled, self.shard) + (infer_gb(p) if g.beta > 0 else 0.0)
        if g.use_vllm and g.vllm_mode == "colocate":
            gb += infer_gb(p)
        cost.need_gb(None if judge_gb is None else gb + judge_gb)

    def evaluate(self) -> StageCost:
        ec = self.cfg.evaluate
        cost = StageCost("evaluate", runs=len(self.runs))
        limit = min(ec.limit or self.cfg.prompts.test_limit, self.cfg.prompts.test_limit)
        seqs = limit * (ec.samples_per_prompt + (1 if ec.greedy else 0))
        gnew, gbatch, gscalar = _judge_tokens(self.cfg.gold, self.trained)
        gold = judge_model(self.cfg.gold, self.trained)
        for _, pc in self.runs:
            g = pc.grpo
            checkpoints = len(range(g.save_steps, g.max_steps + 1, g.save_steps)) + (g.max_steps % g.save_steps > 0)
            p = param_count(pc.model)[0]
            new = ec.max_new_tokens or g.max_completion_length
            cost.add_s(None if p is None else checkpoints * decode_s(p, seqs, new, ec.batch_size))
            cost.need_gb(None if p is None else infer_gb(p))
            judge_call(cost, gold, checkpoints * seqs, new, gnew, gbatch, gscalar)
        if ec.arena.enabled:
            referees = len(ec.arena.judges or [1])
            judge_call(cost, gold, referees * math.comb(len(self.runs) + 1, 2) * limit * 2, 2 * self.response_tokens,
                       gnew, gbatch, gscalar)
        return cost

    def adversarial(self) -> StageCost:
        ac = self.cfg.adversarial
        cost = StageCost("adversarial")
        limit = min(ac.limit or self.cfg.prompts.test_limit, self.cfg.prompts.test_limit)
        specs = [self.cfg.gold] + [u.judge for u in self.cfg.untrained_judges] + list(self.trained)
        for spec in specs:
            new, batch, scalar = _judge_tokens(spec, self.trained)
            cost.need_gb(judge_call(cost, judge_model(spec, self.trained), len(ac.keys) * limit, 16, new, batch, scalar))
        return cost

    def optional(self) -> list[StageCost]:
        out = []
        cfg = self.cfg
        if cfg.attacks is not None and cfg.attacks.enabled:
            out.append(StageCost("attacks", seconds=None, memory_gb=None,
                                 notes=["not estimated: re-judges the evaluated samples (about evaluate's judge calls)"]))
        if cfg.best_of_n is not None and cfg.best_of_n.enabled:
            bc = cfg.best_of_n
            cost = StageCost("best-of-n")
            seqs = min(bc.prompts.limit or cfg.prompts.test_limit, cfg.prompts.test_limit) * max(bc.ns)
            p = param_count(bc.model or cfg.policy.base.model)[0]
            if not bc.responses:
                cost.add_s(None if p is None else decode_s(p, seqs, bc.max_new_tokens, bc.batch_size))
                cost.need_gb(None if p is None else infer_gb(p))
            gnew, gbatch, gscalar = _judge_tokens(cfg.gold, self.trained)
            judge_call(cost, judge_model(cfg.gold, self.trained), seqs, bc.max_new_tokens, gnew, gbatch, gscalar)
            out.append(cost)
        if cfg.judge_scaling is not None and cfg.judge_scaling.enabled:
            out.append(StageCost("judge-scaling", seconds=None, memory_gb=None,
                                 notes=["not estimated: votes x budgets per held-out pair and judge"]))
        return out


def _fmt_h(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    return "-" if seconds == 0 else f"{seconds / 3600:.2g}" if seconds < 360 else f"{seconds / 3600:.3g}" \
        if seconds < 3.6e6 else f"{seconds / 3600:,.0f}"


def _fmt_gb(gb: float | None) -> str:
    return "unknown" if gb is None else "-" if gb == 0 else f"{gb:.0f} GB" if gb >= 10 else f"{gb:.1f} GB"


def _api(cost: StageCost) -> str:
    if not cost.api_requests:
        return ""
    return f"API: {cost.api_requests:,} requests, ~{cost.api_tokens / 1e6:.1f}M tokens"


def estimate_lines(cfg: RunConfig, launch: Launch) -> list[str]:
    """The per-stage table and the totals."""
    est = Estimator(cfg, launch)
    stages = est.stages()
    w = max(len(s.name) for s in stages)
    lines = [f"estimate (one {GPU_NAME} per process; order of magnitude, method: docs/estimate.md):",
             f"  {'stage':<{w}} {'runs':>4} {'GPU-hours':>10} {'mem/GPU':>9}  notes"]
    for s in stages:
        notes = "; ".join(filter(None, [_api(s), *s.notes]))
        lines.append(f"  {s.name:<{w}} {s.runs:>4} {_fmt_h(s.seconds):>10} {_fmt_gb(s.memory_gb):>9}  {notes}".rstrip())
    known = [s.seconds for s in stages if s.seconds is not None]
    unknown = [s.name for s in stages if s.seconds is None]
    total = _fmt_h(sum(known)) + (f" + unknown ({', '.join(unknown)})" if unknown else "")
    peak = max((s.memory_gb or 0) for s in stages)
    lines.append(f"  total GPU-hours: {total}; peak memory per GPU: {_fmt_gb(peak)}")
    api = sum(s.api_requests for s in stages)
    if api:
        lines.append(f"  API models: {api:,} requests, ~{sum(s.api_tokens for s in stages) / 1e6:.1f}M tokens")
    return lines


def _devices(node: Any, found: set[str]) -> set[str]:
    """Every ``device`` value in a config tree."""
    from pydantic import BaseModel

    if isinstance(node, BaseModel):
        if "device" in type(node).model_fields and isinstance(getattr(node, "device"), str):
            found.add(getattr(node, "device"))
        for name in type(node).model_fields:
            _devices(getattr(node, name), found)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _devices(item, found)
    return found


def _describe(label: str, m: Model) -> str:
    if m.kind == "api":
        what = f"over the {m.source} API"
    elif m.kind == "free":
        what = f"{m.source}, no GPU"
    else:
        what = (f"{m.params:.2f} B params" if m.params is not None else "size unknown") + f", {m.source}"
    return f"  {label:<{_W}} {m.spec} ({what})"


def check_prompts(cfg: RunConfig) -> None:
    """The run's prompt selection as the run makes it (source, families, a prompt in every split it
    uses) where that is cheap: a shipped set or a local JSONL file is read; a dataset folder or an HF
    hub id is only named (loading it means importing datasets or the network)."""
    from judgelab.data.prompts import check_source
    from judgelab.pipeline.plan import select_prompts

    if check_source(cfg.prompts.source) in ("shipped", "file"):
        select_prompts(cfg.prompts)


def plan_lines(cfg: RunConfig, launch: Launch, source: str) -> list[str]:
    """The whole dry-run output: what runs, on what, and what it costs."""
    import importlib.util

    from judgelab.pipeline.plan import check_models

    check_models(cfg)
    check_prompts(cfg)
    est = Estimator(cfg, launch)
    trained = cfg.judges
    lines = [f"dry run of {source}: valid; run_dir {cfg.run_dir} (nothing loaded, nothing written)"]
    stages = ["prompts", "sample", "annotate", f"train-judge x{len(trained)}"]
    if cfg.eval_judges:
        stages.append(f"eval-judge x{1 + len(cfg.untrained_judges) + len(trained)}")
    stages += [f"train-policy x{len(est.runs)}", "evaluate"]
    stages += ["adversarial"] if cfg.adversarial.enabled else []
    for name in ("attacks", "best_of_n", "judge_scaling"):
        block = getattr(cfg, name)
        stages += [name.replace("_", "-")] if block is not None and block.enabled else []
    lines.append("stages: " + ", ".join([*stages, "report"]))
    lines.append("models:")
    global _W
    _W = 2 + max(len(j.judge_name) + len(j.kind) + len(j.mode) + 10 for j in trained) if trained else 34
    lines += [_describe(f"sample policy {p.label}", local(p.backend.model) if p.backend.type == "transformers"
                        else Model(p.backend.model, "api", source=p.backend.type)) for p in cfg.sample.policies]
    lines.append(_describe(f"gold {cfg.gold.name}", judge_model(cfg.gold, {})))
    lines += [_describe(f"judge {j.judge_name} ({j.kind}, {j.mode})", local(j.model)) for j in trained]
    lines += [_describe(f"untrained judge {u.name}", judge_model(u.judge, {})) for u in cfg.untrained_judges]
    lines.append(_describe("policy (GRPO)", local(cfg.policy.base.model)))
    reasoning = sum(j.style == "reasoning" for j in trained)
    pointwise = sum(j.mode == "pointwise" for j in trained)
    lines.append(f"judges: {len(trained)} trained ({len(trained) - reasoning} non-reasoning, {reasoning} reasoning; "
                 f"{pointwise} pointwise, {len(trained) - pointwise} pairwise), {len(cfg.untrained_judges)} untrained, 1 gold")
    proxies = len(est.runs) // len(cfg.policy.seeds)
    lines.append(f"policies: {len(est.runs)} = {proxies} reward judges x {len(cfg.policy.seeds)} seeds "
                 f"(oracle baseline {'on' if cfg.policy.oracle_baseline else 'off'}, "
                 f"negative control {'on' if cfg.policy.negative_control else 'off'}, "
                 f"specificity control {'on' if cfg.policy.specificity_control else 'off'})")
    lines.append(_devices_line(cfg, launch, est))
    g = cfg.policy.base.grpo
    if g.use_vllm or g.extra.get("use_vllm"):
        have = importlib.util.find_spec("vllm") is not None
        lines.append(f"rollouts: vLLM, {g.vllm_mode} mode (vllm {'installed' if have else 'NOT installed here'}"
                     + ("" if have else ": pip install 'judgelab[vllm]'") + ")")
    return lines + estimate_lines(cfg, launch)


def _gpus_here() -> int:
    """CUDA devices of this machine, without importing torch (seconds) when it is not loaded yet."""
    import os
    import sys
    from pathlib import Path

    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    gpus = Path("/proc/driver/nvidia/gpus")
    count = len(list(gpus.iterdir())) if gpus.is_dir() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return count if visible is None else min(count, len([v for v in visible.split(",") if v.strip()]))


def _devices_line(cfg: RunConfig, launch: Launch, est: Estimator) -> str:
    count = _gpus_here()
    here = f"{count} CUDA device(s) here, auto = cuda:LOCAL_RANK" if count else "no CUDA here, auto = cpu"
    stage, n = est.shard
    how = "one process" if not launch.active else (
        f"{n} processes via accelerate" + (f" ({launch.config_file}" + (f", ZeRO-{stage}" if stage else "") + ")"
                                           if launch.config_file else " (data parallel)"))
    return f"devices: {', '.join(sorted(_devices(cfg, set())))} ({here}); training stages: {how}"
