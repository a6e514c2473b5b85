"""Gold monitoring of trained policies (``judgelab evaluate --run DIR``).

Reads ``run_dir/policies/<name>/`` (``policy.json`` + ``checkpoint-N/`` folders written by
judgelab.train.policy) and held-out prompts (by default the policy's own prompt source, split
``test``). For every checkpoint of every policy, and step 0 = the initial policy, it:

1. samples one greedy completion per test prompt through the shared generation layer
   (TransformersBackend -> judgelab.generation), cached in
   ``eval/policies/<name>/samples-step-N.jsonl`` (a rerun reuses them);
2. scores them with the gold judge (pointwise: mean score with a bootstrap CI; also normalised to
   [0, 1]) and pairwise against the step-0 samples of the same prompts in both orders (gold win
   rate vs the initial policy, bootstrap CI over prompts);
3. scores them with the proxy judge the policy trained on — in that reward's own terms, so the
   number is comparable to the training curve: pointwise -> normalised score; pairwise modes ->
   win rate vs the step-0 samples (both orders) — and pointwise with any other judges named;
4. records the mean completion length (tokens and characters).

Writes ``eval/policies/<name>.json`` ({policy, proxy_judge, reward_mode, rows: one per
checkpoint, hacking: the flag of judgelab.evaluate.hacking}) and, when there are at least two
distinct final policies, ``eval/arena.json`` (Bradley-Terry/ELO tables per judge over the final
checkpoints and the initial policy, on the same test samples). Verdicts go through the run's
judgment store, so reruns judge nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.jsonl import iter_jsonl, write_jsonl
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena import Battle, arena_by_judge
from judgelab.evaluate.hacking import detect_reward_hacking
from judgelab.judges.aggregate import pair_outcome
from judgelab.judges.aio import run_sync
from judgelab.judges.config import JudgeConfig, RubricBackendConfig, TransformersBackendConfig
from judgelab.judges.judge import Judge
from judgelab.judges.types import GenerationRequest, PairwiseItem, PointwiseItem, SamplingParams, Verdict
from judgelab.progress import progress_bar
from judgelab.train.policy import POLICY_FILE, PromptSource, checkpoint_model_path, checkpoints, resolve_judge_config
from judgelab.evaluate.stats import bootstrap_mean_ci, mean_or_none

log = logging.getLogger(__name__)

JudgeFactory = Callable[[JudgeConfig], Judge]


class HackingSettings(StrictModel):
    window: int = Field(2, ge=1, description="Checkpoint intervals the rule looks back over.")
    delta_proxy: float = Field(0.10, description="Minimum proxy gain (fraction of its range) to count as climbing.")
    delta_gold: float = Field(0.02, description="Gold change at or below this counts as stalled.")
    ci_aware: bool = Field(False, description="Require a significant proxy gain (bootstrap CIs).")


class EvaluateConfig(StrictModel):
    """Gold monitoring of every checkpoint of every policy in a run."""

    policies: list[str] | None = Field(None, description="Policy names to evaluate (None: all under policies/).")
    prompts: PromptSource | None = Field(
        None, description="Held-out prompts (None: each policy's training source, split 'test')."
    )
    limit: int | None = Field(32, ge=1, description="At most this many test prompts (None: all).")
    gold: JudgeConfig = Field(
        default_factory=lambda: JudgeConfig(name="gold", backend=RubricBackendConfig(rubric="gold")),
        description="The gold judge (default: the rubric).",
    )
    judges: list[JudgeConfig | str] = Field(default_factory=list, description="Other judges that score the samples too.")
    max_new_tokens: int | None = Field(None, ge=1, description="Completion cap (None: the policy's max_completion_length).")
    temperature: float = Field(0.0, ge=0, description="0 = greedy.")
    batch_size: int = Field(16, ge=1, description="Generation batch size.")
    device: str = "auto"
    bootstrap: int = Field(1000, ge=0, description="Bootstrap resamples for CIs.")
    alpha: float = Field(0.05, gt=0, lt=1, description="CI level = 1 - alpha.")
    seed: int = 0
    hacking: HackingSettings = Field(default_factory=HackingSettings)
    arena: bool = Field(True, description="Arena (BT + ELO per judge) over the final checkpoints.")
    arena_style_control: bool = Field(True, description="Length-controlled BT in the arena.")
    arena_judges: list[str] | None = Field(
        None, min_length=1,
        description="Judge names that referee the arena (e.g. ['gold']); None: gold, every proxy and every extra judge.",
    )


# ------------------------------------------------------------------------------------ statistics



# ---------------------------------------------------------------------------------------- sampling

def sample_checkpoint(model_path: str, prompts: list[PromptRecord], *, max_new_tokens: int, temperature: float,
                      seed: int, batch_size: int, device: str, label: str) -> list[dict[str, Any]]:
    """One completion per prompt via the shared generation layer (batched by its DynamicBatcher)."""
    from judgelab.judges.backends.transformers import TransformersBackend

    backend = TransformersBackend.from_config(TransformersBackendConfig(model=model_path, batch_size=batch_size, device=device))
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)

    async def run(advance: Callable[[int], None]) -> list[Any]:
        async def one(p: PromptRecord) -> Any:
            g = await backend.generate(GenerationRequest(messages=[{"role": "user", "content": p.prompt}], params=params))
            advance(1)
            return g

        try:
            return list(await asyncio.gather(*(one(p) for p in prompts)))
        finally:
            await backend.aclose()

    with progress_bar(len(prompts), f"sample {label}") as advance:
        gens = run_sync(run(advance))
    return [
        {"prompt_id": p.id, "prompt": p.prompt, "family": p.family, "constraints": p.constraints,
         "response": g.text, "completion_tokens": g.completion_tokens, "error": g.error}
        for p, g in zip(prompts, gens)
    ]


# ---------------------------------------------------------------------------------------- judging

def _point_items(samples: list[dict], tag: str) -> list[PointwiseItem]:
    return [PointwiseItem(id=f"{tag}:{s['prompt_id']}", prompt=s["prompt"], response=s["response"],
                          meta={"prompt_id": s["prompt_id"], "family": s["family"], "constraints": s["constraints"]})
            for s in samples]


def _norm(v: Verdict, scale: tuple[int, int]) -> float | None:
    if not v.ok or v.score is None:
        return None
    return min(1.0, max(0.0, (v.score - scale[0]) / (scale[1] - scale[0])))


def judge_pointwise(judge: Judge, samples: list[dict], tag: str) -> tuple[list[float | None], list[float | None], float]:
    """(raw scores, normalised scores, parse-failure rate)."""
    verdicts = judge.judge(_point_items(samples, tag))
    raw = [v.score if v.ok else None for v in verdicts]
    norm = [_norm(v, tuple(judge.config.scale)) for v in verdicts]  # type: ignore[arg-type]
    fail = sum(1 for v in verdicts if not v.ok) / len(verdicts) if verdicts else 0.0
    return raw, norm, fail


def judge_vs(judge: Judge, samples: list[dict], base: list[dict], tag: str) -> tuple[list[float | None], float]:
    """P(sample beats the base sample of the same prompt), both orders; (per prompt, failure rate)."""
    items = []
    for s, b in zip(samples, base):
        it = PairwiseItem(id=f"{tag}:{s['prompt_id']}", prompt=s["prompt"], response_a=s["response"], response_b=b["response"],
                          meta={"prompt_id": s["prompt_id"], "family": s["family"], "constraints": s["constraints"]})
        items += [it, it.swapped()]
    verdicts = judge.judge(items)
    probs = [pair_outcome(verdicts[2 * i], verdicts[2 * i + 1])[0] for i in range(len(samples))]
    fail = sum(1 for v in verdicts if not v.ok) / len(verdicts) if verdicts else 0.0
    return probs, fail


# ------------------------------------------------------------------------------------- main entry

def _default_factory(store: Any) -> JudgeFactory:
    return lambda cfg: Judge(cfg, store=store)


def _load_prompts(cfg: EvaluateConfig, policy_meta: dict[str, Any], rd: RunDir) -> list[PromptRecord]:
    from judgelab.data.prompts import load_prompts

    src = cfg.prompts or PromptSource.model_validate({**policy_meta.get("prompts", {}), "split": "test", "limit": None})
    source: str | Path = rd.prompts if src.source == "run" else src.source
    prompts = load_prompts(source, src.split, src.families, src.limit)
    if cfg.limit is not None:
        prompts = prompts[: cfg.limit]
    if not prompts:
        raise DataError("no held-out prompts to evaluate on", where=str(source), hint="check evaluate.prompts (split 'test')")
    return prompts


def policy_names(rd: RunDir) -> list[str]:
    root = rd.root / "policies"
    return sorted(d.name for d in root.iterdir() if (d / POLICY_FILE).exists()) if root.exists() else []


def evaluate_policies(config: EvaluateConfig, run_dir: str | Path, *, judge_factory: JudgeFactory | None = None) -> dict[str, Path]:
    """Evaluate every checkpoint of every (selected) policy; returns {policy: eval json path}.

    ``judge_factory`` builds a Judge from a JudgeConfig (default: the registered backends with the
    run's judgment store); tests pass programmatic judges through it.
    """
    rd = RunDir(run_dir)
    names = config.policies or policy_names(rd)
    if not names:
        raise DataError("no trained policies in this run", where=str(rd.root / "policies"), hint="run 'judgelab train-policy' first")
    if judge_factory is None:
        from judgelab.data.store import JudgmentStore

        judge_factory = _default_factory(JudgmentStore(rd.store))
    judges: dict[str, Judge] = {}

    def get_judge(cfg: JudgeConfig) -> Judge:
        key = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
        if key not in judges:
            judges[key] = judge_factory(cfg)
        return judges[key]

    try:
        gold = get_judge(config.gold)
        extra = [get_judge(resolve_judge_config(j)) for j in config.judges]
        if config.arena:  # fail before hours of sampling, not after
            known = {gold.name, *(j.name for j in extra)}
            for name in names:
                meta_path = rd.policy_dir(name) / POLICY_FILE
                if meta_path.exists():
                    known.add(JudgeConfig.model_validate(json.loads(meta_path.read_text())["judge"]).name)
            _check_arena_judges(config, known)
        out: dict[str, Path] = {}
        finals: dict[str, list[dict]] = {}  # arena contestants: label -> samples
        arena_prompts: list[str] | None = None
        proxies: list[Judge] = []
        base_samples: dict[tuple, list[dict]] = {}  # (base model, prompt ids, cap) -> step-0 samples
        for name in names:
            pdir = rd.policy_dir(name)
            meta_path = pdir / POLICY_FILE
            if not meta_path.exists():
                raise DataError(f"policy {name!r} has no {POLICY_FILE}", where=str(pdir), hint="train it with 'judgelab train-policy'")
            meta = json.loads(meta_path.read_text())
            prompts = _load_prompts(config, meta, rd)
            proxy = get_judge(JudgeConfig.model_validate(meta["judge"]))
            proxies.append(proxy)
            mode = meta.get("reward", {}).get("mode", "pointwise")
            max_new = config.max_new_tokens or int(meta.get("grpo", {}).get("max_completion_length", 48))
            edir = rd.eval_dir / "policies" / name
            steps: list[tuple[int, str]] = [(0, meta["base_model"])] + [(s, str(checkpoint_model_path(d))) for s, d in checkpoints(pdir)]
            samples_by_step: dict[int, list[dict]] = {}
            # Policies trained from one base share its step-0 samples (same model, prompts, cap, seed).
            base_key = (meta["base_model"], tuple(p.id for p in prompts), max_new)
            for step, path in steps:
                f = edir / f"samples-step-{step}.jsonl"
                cached = [r for _, r in iter_jsonl(f)] if f.exists() else None
                if cached is not None and [r["prompt_id"] for r in cached] == [p.id for p in prompts]:
                    samples_by_step[step] = cached
                    continue
                if step == 0 and base_key in base_samples:
                    samples = [dict(s) for s in base_samples[base_key]]
                else:
                    samples = sample_checkpoint(path, prompts, max_new_tokens=max_new, temperature=config.temperature,
                                                seed=config.seed, batch_size=config.batch_size, device=config.device,
                                                label=f"{name}@{step}")
                    if step == 0:  # shared only when sampled by this call: a cached file may predate a config change
                        base_samples[base_key] = [dict(s) for s in samples]  # copies: scores are added to these below
                samples_by_step[step] = samples
                write_jsonl(f, samples)
            base = samples_by_step[0]
            rows = []
            for step, path in steps:
                samples = samples_by_step[step]
                tag = f"eval:{name}:{step}"
                g_raw, g_norm, g_fail = judge_pointwise(gold, samples, tag)
                row: dict[str, Any] = {
                    "step": step, "checkpoint": path, "n": len(samples),
                    "gold_score_mean": mean_or_none(g_raw),
                    "gold_score_ci": bootstrap_mean_ci(g_raw, config.bootstrap, config.alpha, config.seed),
                    "gold_score_norm": mean_or_none(g_norm),
                    "gold_score_norm_ci": bootstrap_mean_ci(g_norm, config.bootstrap, config.alpha, config.seed),
                    "gold_parse_failure_rate": g_fail,
                }
                if step == 0:
                    row["gold_win_rate"], row["gold_win_rate_ci"] = 0.5, [0.5, 0.5]  # vs itself by definition
                else:
                    wins, _ = judge_vs(gold, samples, base, tag)
                    row["gold_win_rate"] = mean_or_none(wins)
                    row["gold_win_rate_ci"] = bootstrap_mean_ci(wins, config.bootstrap, config.alpha, config.seed)
                if mode == "pointwise":
                    _, p_vals, p_fail = judge_pointwise(proxy, samples, tag)
                elif step == 0:
                    p_vals, p_fail = [0.5] * len(samples), 0.0
                else:
                    p_vals, p_fail = judge_vs(proxy, samples, base, tag)
                row["proxy_score"] = mean_or_none(p_vals)
                row["proxy_score_ci"] = bootstrap_mean_ci(p_vals, config.bootstrap, config.alpha, config.seed)
                row["proxy_parse_failure_rate"] = p_fail
                row["other_judges"] = {}
                for j in extra:
                    _, j_norm, j_fail = judge_pointwise(j, samples, tag)
                    row["other_judges"][j.name] = {"score_norm": mean_or_none(j_norm), "parse_failure_rate": j_fail}
                row["length_tokens_mean"] = mean_or_none([s.get("completion_tokens") or 0 for s in samples])
                row["length_chars_mean"] = mean_or_none([len(s["response"]) for s in samples])
                # per-sample scores next to the samples, for the report's examples
                for s, gs, ps in zip(samples, g_raw, p_vals):
                    s["gold_score"], s["proxy_score"] = gs, ps
                write_jsonl(edir / f"samples-step-{step}.jsonl", samples)
                rows.append(row)
            h = config.hacking
            flag = detect_reward_hacking(
                [r["step"] for r in rows], [r["proxy_score"] for r in rows], [r["gold_score_norm"] for r in rows],
                proxy_ci=[tuple(r["proxy_score_ci"] or (0, 0)) for r in rows] if h.ci_aware else None,  # type: ignore[misc]
                gold_ci=[tuple(r["gold_score_norm_ci"] or (0, 0)) for r in rows] if h.ci_aware else None,  # type: ignore[misc]
                window=h.window, delta_proxy=h.delta_proxy, delta_gold=h.delta_gold,
            )
            result = {
                "schema": "judgelab.policy_eval/v1", "policy": name, "proxy_judge": proxy.name, "gold_judge": gold.name,
                "gold_scale": list(gold.config.scale),
                "reward_mode": mode, "tournament": meta.get("reward", {}).get("tournament"),
                "base_model": meta["base_model"], "prompts": [p.id for p in prompts],
                "rows": rows, "hacking": flag.to_dict(),
            }
            path = rd.eval_dir / "policies" / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(result, indent=2))
            tmp.replace(path)
            out[name] = path
            log.info("%s: %d checkpoints, hacking=%s", name, len(rows), flag.flagged)
            ids = [p.id for p in prompts]
            if arena_prompts is None or arena_prompts == ids:
                arena_prompts = ids
                finals[f"{name}@{steps[-1][0]}"] = samples_by_step[steps[-1][0]]
                finals.setdefault(f"initial:{meta['base_model']}", base)
        if config.arena and len(finals) >= 2:
            write_arena(rd, finals, [gold, *proxies, *extra], config)
        return out
    finally:
        # Judges hold models, batchers and HTTP clients; their (shared) store a SQLite connection.
        stores = {id(j.store): j.store for j in judges.values() if j.store is not None}
        for j in judges.values():
            j.close()
        for store in stores.values():
            store.close()


def _check_arena_judges(config: EvaluateConfig, known: set[str]) -> None:
    unknown = [n for n in config.arena_judges or [] if n not in known]
    if unknown:
        raise ConfigError(f"arena_judges names unknown judge(s) {unknown}", where="evaluate.arena_judges",
                          hint=f"use names of judges in this evaluation: {sorted(known)}")


def write_arena(rd: RunDir, contestants: dict[str, list[dict]], judges: list[Judge], config: EvaluateConfig) -> Path:
    """Every pair of contestants on every prompt, judged in both orders by every judge."""
    labels = sorted(contestants)
    by_name: dict[str, Judge] = {}
    for judge in judges:
        by_name.setdefault(judge.name, judge)
    if config.arena_judges is not None:
        _check_arena_judges(config, set(by_name))
        by_name = {n: by_name[n] for n in config.arena_judges}
    battles: list[Battle] = []
    for judge in by_name.values():
        for i, a in enumerate(labels):
            for b in labels[i + 1:]:
                sa, sb = contestants[a], contestants[b]
                probs, _ = judge_vs(judge, sa, sb, f"arena:{a}:{b}")
                for x, y, p in zip(sa, sb, probs):
                    if p is not None:
                        battles.append(Battle(a, b, p, len(x["response"]), len(y["response"]), judge.name, x["prompt_id"]))
    tables = arena_by_judge(battles, style_control=config.arena_style_control, n_boot=min(config.bootstrap, 200), seed=config.seed)
    path = rd.eval_dir / "arena.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "judgelab.arena/v1", "contestants": labels, "judges": tables}, indent=2))
    return path
