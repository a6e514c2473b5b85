"""Gold monitoring of trained policies (``judgelab evaluate --run DIR``).

Reads ``run_dir/policies/<name>/`` (``policy.json`` + ``checkpoint-N/`` folders written by
judgelab.train.policy) and held-out prompts (by default the policy's own prompt source, split
``test``). For every checkpoint of every policy, and step 0 = the initial policy, it:

1. samples the held-out prompts through the shared generation layer, the way the policy was
   trained *and* the way it is deployed: ``samples_per_prompt`` (k) completions per prompt at the
   training temperature (decoding "sampled") and one greedy completion (decoding "greedy"); cached
   in ``eval/policies/<name>/samples-step-N.jsonl`` (one row per completion, with its ``decoding``
   and ``sample_index``; a rerun reuses them);
2. scores them with the gold judge: mean score (raw and normalised to [0, 1]) with a bootstrap CI
   *clustered by prompt* (the k samples of a prompt are resampled together), the **gain** over
   step 0 paired by prompt (per-prompt mean minus the same prompt's step-0 mean, bootstrap over
   prompts), and the gold win rate against the step-0 sample of the same prompt and index, both
   orders;
3. scores the primary decoding's samples with the proxy judge the policy trained on, in that
   reward's own terms (pointwise -> normalised score; pairwise modes -> win rate vs the step-0
   samples), and pointwise with any other judges named;
4. records the mean completion length (tokens and characters).

The *primary* decoding is "sampled" when k > 0 (what the reward saw in training), else "greedy".
Each row's top-level numbers are the primary decoding's and name it (``decoding``); the other
decoding's gold numbers sit under ``by_decoding``. The hacking flag reads the primary numbers.

Writes ``eval/policies/<name>.json`` ({policy, role, proxy_judge, reward_mode, rows: one per
checkpoint, hacking: the flag of judgelab.evaluate.hacking}) and, when there are at least two
distinct final policies, ``eval/arena.json`` (judgelab.evaluate.arena: Bradley-Terry tables per
judge and pooled over judges, anchored on the initial policy, with strong verdicts weighted as
Arena-Hard-Auto weights them and style control; ELO beside them; over the final checkpoints and
the initial policy, on the same test samples). Verdicts go through the run's
judgment store, so reruns judge nothing twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena import Battle, arena_report, style_features
from judgelab.evaluate.hacking import detect_reward_hacking
from judgelab.evaluate.records import read_eval_samples, write_eval_samples, write_policy_eval
from judgelab.evaluate.scoring import _item_id, _meta, judge_pointwise, judge_vs, sample_checkpoint, sample_key
from judgelab.judges.aggregate import arena_outcomes
from judgelab.judges.base import Judge
from judgelab.judges.types import PairwiseItem
from judgelab.judges.config import JudgeConfig, default_gold
from judgelab.judges.registry import EnsembleConfig, load_judge, resolve_judge_spec
from judgelab.train.policy import POLICY_FILE, PromptSource, checkpoint_model_path, checkpoints
from judgelab.evaluate.stats import bootstrap_cluster_mean_ci, bootstrap_mean_ci, mean_or_none

log = logging.getLogger(__name__)

# Builds a Judge from a resolved judge config (tests pass programmatic judges through it).
JudgeFactory = Callable[[JudgeConfig | EnsembleConfig], Judge]


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
        default_factory=default_gold,
        description="The gold judge (default: the rubric).",
    )
    judges: list[JudgeConfig | str] = Field(default_factory=list, description="Other judges that score the samples too.")
    max_new_tokens: int | None = Field(None, ge=1, description="Completion cap (None: the policy's max_completion_length).")
    samples_per_prompt: int = Field(
        4, ge=0, description="k: completions per prompt sampled at the training temperature (0: greedy only).")
    greedy: bool = Field(True, description="Also one greedy completion per prompt (how a policy is usually deployed).")
    temperature: float | None = Field(
        None, gt=0, description="Sampling temperature of the k samples (None: the policy's rollout temperature).")
    batch_size: int = Field(16, ge=1, description="Generation batch size.")
    device: str = "auto"
    bootstrap: int = Field(1000, ge=0, description="Bootstrap resamples for CIs.")
    alpha: float = Field(0.05, gt=0, lt=1, description="CI level = 1 - alpha.")
    seed: int = 0
    hacking: HackingSettings = Field(default_factory=HackingSettings)
    arena: bool = Field(True, description="Arena (BT + ELO per judge) over the final checkpoints.")
    arena_style_control: bool = Field(True, description="Style-controlled BT in the arena (see arena_style).")
    arena_style: Literal["length", "markdown", "both"] = Field(
        "both", description="Style features the arena controls for when arena_style_control is on "
                            "(length in tokens; markdown = headers, lists, bold, as Arena-Hard-Auto v2).")
    arena_strong_weight: float = Field(
        3.0, ge=1, description="Battles a strong verdict ([[A>>B]]) counts as (Arena-Hard-Auto: 3; 1 ignores strength).")
    arena_judges: list[str] | None = Field(
        None, min_length=1,
        description="Judge names that referee the arena (e.g. ['gold']); None: gold, every proxy and every extra judge.",
    )


# ------------------------------------------------------------------------------------- statistics

def _by_prompt(samples: list[dict], values: list[float | None]) -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for s, v in zip(samples, values):
        if v is not None:
            groups.setdefault(s["prompt_id"], []).append(float(v))
    return groups


def clustered_mean(samples: list[dict], values: list[float | None], config: "EvaluateConfig") -> tuple[float | None, list[float] | None]:
    """Mean and bootstrap CI with the prompt as the cluster (a prompt's samples resampled together)."""
    groups = _by_prompt(samples, values)
    return mean_or_none([x for g in groups.values() for x in g]), bootstrap_cluster_mean_ci(
        list(groups.values()), config.bootstrap, config.alpha, config.seed)


def paired_gain(samples: list[dict], values: list[float | None], base: list[dict], base_values: list[float | None],
                config: "EvaluateConfig") -> tuple[float | None, list[float] | None]:
    """Mean over prompts of (this checkpoint's mean - step 0's mean on the same prompt), with a
    bootstrap CI over prompts: the paired comparison that removes between-prompt variance."""
    new, old = _by_prompt(samples, values), _by_prompt(base, base_values)
    diffs = [float(np.mean(new[p]) - np.mean(old[p])) for p in new if p in old]
    return mean_or_none(diffs), bootstrap_mean_ci(diffs, config.bootstrap, config.alpha, config.seed)


# ------------------------------------------------------------------------------------- main entry

def _default_factory(store: Any) -> JudgeFactory:
    return lambda cfg: load_judge(cfg, store=store)


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
    return rd.policy_names()


def _decodings(config: EvaluateConfig) -> list[str]:
    out = ["sampled"] if config.samples_per_prompt > 0 else []
    if config.greedy:
        out.append("greedy")
    if not out:
        raise ConfigError("nothing to sample: samples_per_prompt is 0 and greedy is off",
                          where="evaluate", hint="set samples_per_prompt >= 1 or greedy: true")
    return out


class _Evaluator:
    """One evaluation call: the judges it built, the step-0 samples policies share, the arena entrants."""

    def __init__(self, config: EvaluateConfig, rd: RunDir, judge_factory: JudgeFactory):
        self.config, self.rd, self.factory = config, rd, judge_factory
        self.judges: dict[str, Judge] = {}
        self.base_samples: dict[tuple, list[dict]] = {}  # (base model, prompt ids, cap, temperature) -> step-0 samples
        self.decodings = _decodings(config)

    def judge(self, spec: Any) -> Judge:
        cfg = resolve_judge_spec(spec)
        key = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
        if key not in self.judges:
            self.judges[key] = self.factory(cfg)
        return self.judges[key]

    def close(self) -> None:
        # Judges hold models, batchers and HTTP clients; their (shared) store a SQLite connection.
        stores = {id(s): s for j in self.judges.values() if (s := getattr(j, "store", None)) is not None}
        for j in self.judges.values():
            j.close()
        for store in stores.values():
            store.close()

    def samples(self, name: str, meta: dict[str, Any], prompts: list[PromptRecord]) -> dict[int, list[dict]]:
        """step -> samples of every checkpoint (step 0 = the base), from the cache files or sampled now."""
        config, pdir = self.config, self.rd.policy_dir(name)
        grpo = meta.get("grpo", {})
        max_new = config.max_new_tokens or int(grpo.get("max_completion_length", 48))
        temperature = config.temperature or float(grpo.get("temperature", 1.0))
        k = config.samples_per_prompt
        plan = [(p.id, d, j) for d in self.decodings for j in (range(k) if d == "sampled" else [0]) for p in prompts]
        steps = [(0, meta["base_model"])] + [(s, str(checkpoint_model_path(d))) for s, d in checkpoints(pdir)]
        base_key = (meta["base_model"], tuple(p.id for p in prompts), max_new, temperature, k, config.greedy)
        out: dict[int, list[dict]] = {}
        for step, path in steps:
            f = self.rd.eval_samples(name, step)
            cached = read_eval_samples(self.rd, name, step) if f.exists() else None
            if cached is not None and [sample_key(r) for r in cached] == plan:
                out[step] = cached
                continue
            if step == 0 and base_key in self.base_samples:
                rows = [dict(s) for s in self.base_samples[base_key]]
            else:
                rows = sample_checkpoint(path, prompts, max_new_tokens=max_new, k=k, greedy=config.greedy,
                                         temperature=temperature, seed=config.seed, batch_size=config.batch_size,
                                         device=config.device, label=f"{name}@{step}")
                if step == 0:  # shared only when sampled by this call: a cached file may predate a config change
                    self.base_samples[base_key] = [dict(s) for s in rows]  # copies: scores are added to these below
            out[step] = rows
            write_eval_samples(self.rd, name, step, rows)
        return out

    def row(self, name: str, step: int, path: str, samples: list[dict], base: list[dict], proxy: Judge, mode: str,
            extra: list[Judge], gold: Judge) -> dict[str, Any]:
        """Every number of one checkpoint; per-sample gold/proxy scores are written onto ``samples``."""
        config, tag = self.config, f"eval:{name}:{step}"
        g_raw, g_norm, g_fail = judge_pointwise(gold, samples, tag)
        # Step 0 is scored first (its row writes gold_score onto the base samples), so no rejudging.
        b_raw = g_raw if step == 0 else [s.get("gold_score") for s in base]
        wins = [0.5] * len(samples) if step == 0 else judge_vs(gold, samples, base, tag)[0]
        by_decoding: dict[str, dict[str, Any]] = {}
        for d in self.decodings:
            idx = [i for i, s in enumerate(samples) if s.get("decoding", "greedy") == d]
            sub, bsub = [samples[i] for i in idx], [s for s in base if s.get("decoding", "greedy") == d]
            raw, norm, w = [g_raw[i] for i in idx], [g_norm[i] for i in idx], [wins[i] for i in idx]
            mean, ci = clustered_mean(sub, raw, config)
            norm_mean, norm_ci = clustered_mean(sub, norm, config)
            gain, gain_ci = paired_gain(sub, raw, bsub, [b_raw[i] for i, s in enumerate(base) if s.get("decoding", "greedy") == d], config)
            win, win_ci = (0.5, [0.5, 0.5]) if step == 0 else clustered_mean(sub, w, config)
            by_decoding[d] = {
                "n": len(sub), "gold_score_mean": mean, "gold_score_ci": ci, "gold_score_norm": norm_mean,
                "gold_score_norm_ci": norm_ci, "gold_gain": gain, "gold_gain_ci": gain_ci,
                "gold_win_rate": win, "gold_win_rate_ci": win_ci,
                "length_tokens_mean": mean_or_none([s.get("completion_tokens") or 0 for s in sub]),
                "length_chars_mean": mean_or_none([len(s["response"]) for s in sub]),
            }
        primary = self.decodings[0]
        prim = [i for i, s in enumerate(samples) if s.get("decoding", "greedy") == primary]
        psamples = [samples[i] for i in prim]
        pbase = [s for s in base if s.get("decoding", "greedy") == primary]
        if mode == "pointwise":
            _, p_vals, p_fail = judge_pointwise(proxy, psamples, tag)
        elif step == 0:
            p_vals, p_fail = [0.5] * len(psamples), 0.0
        else:
            p_vals, p_fail = judge_vs(proxy, psamples, pbase, tag)
        p_mean, p_ci = clustered_mean(psamples, p_vals, config)
        row: dict[str, Any] = {"step": step, "checkpoint": path, "decoding": primary, "n_prompts": len({s["prompt_id"] for s in samples}),
                               **by_decoding[primary], "gold_parse_failure_rate": g_fail,
                               "proxy_score": p_mean, "proxy_score_ci": p_ci, "proxy_parse_failure_rate": p_fail,
                               "other_judges": {}, "by_decoding": by_decoding}
        for j in extra:
            _, j_norm, j_fail = judge_pointwise(j, psamples, tag)
            row["other_judges"][j.name] = {"score_norm": mean_or_none(j_norm), "parse_failure_rate": j_fail}
        # per-sample scores next to the samples, for the report's examples and the adversarial stage
        proxy_of = {i: v for i, v in zip(prim, p_vals)}
        for i, s in enumerate(samples):
            s["gold_score"], s["proxy_score"] = g_raw[i], proxy_of.get(i)
        return row

    def policy(self, name: str, gold: Judge, extra: list[Judge]) -> tuple[dict[str, Any], list[PromptRecord], dict[int, list[dict]]]:
        pdir = self.rd.policy_dir(name)
        meta_path = self.rd.policy_file(name)
        if not meta_path.exists():
            raise DataError(f"policy {name!r} has no {POLICY_FILE}", where=str(pdir), hint="train it with 'judgelab train-policy'")
        meta = json.loads(meta_path.read_text())
        prompts = _load_prompts(self.config, meta, self.rd)
        proxy = self.judge(meta["judge"])
        mode = meta.get("reward", {}).get("mode", "pointwise")
        by_step = self.samples(name, meta, prompts)
        rows = []
        for step in sorted(by_step):
            path = meta["base_model"] if step == 0 else str(checkpoint_model_path(pdir / f"checkpoint-{step}"))
            rows.append(self.row(name, step, path, by_step[step], by_step[0], proxy, mode, extra, gold))
            write_eval_samples(self.rd, name, step, by_step[step])
        h = self.config.hacking
        flag = detect_reward_hacking(
            [r["step"] for r in rows], [r["proxy_score"] for r in rows], [r["gold_score_norm"] for r in rows],
            proxy_ci=[tuple(r["proxy_score_ci"] or (0, 0)) for r in rows] if h.ci_aware else None,  # type: ignore[misc]
            gold_ci=[tuple(r["gold_score_norm_ci"] or (0, 0)) for r in rows] if h.ci_aware else None,  # type: ignore[misc]
            window=h.window, delta_proxy=h.delta_proxy, delta_gold=h.delta_gold,
        )
        result = {
            "policy": name, "role": meta.get("role", "study"),
            "proxy_judge": proxy.name, "gold_judge": gold.name, "gold_scale": list(gold.scale),
            "reward_mode": mode, "tournament": meta.get("reward", {}).get("tournament"),
            "base_model": meta["base_model"], "prompts": [p.id for p in prompts],
            "decodings": self.decodings, "samples_per_prompt": self.config.samples_per_prompt,
            "rows": rows, "hacking": flag.to_dict(), "proxy": proxy,
        }
        return result, prompts, by_step


def evaluate_policies(config: EvaluateConfig, run_dir: str | Path, *, judge_factory: JudgeFactory | None = None) -> dict[str, Path]:
    """Evaluate every checkpoint of every (selected) policy; returns {policy: eval json path}.

    ``judge_factory`` builds a Judge from a JudgeConfig (default: the registered backends with the
    run's judgment store); tests pass programmatic judges through it.
    """
    rd = RunDir(run_dir)
    names = config.policies or policy_names(rd)
    if not names:
        raise DataError("no trained policies in this run", where=str(rd.policies_dir), hint="run 'judgelab train-policy' first")
    if judge_factory is None:
        from judgelab.data.store import JudgmentStore

        judge_factory = _default_factory(JudgmentStore(rd.store))
    ev = _Evaluator(config, rd, judge_factory)
    try:
        gold = ev.judge(config.gold)
        extra = [ev.judge(j) for j in config.judges]
        if config.arena:  # fail before hours of sampling, not after
            known = {gold.name, *(j.name for j in extra)}
            for name in names:
                meta_path = rd.policy_file(name)
                if meta_path.exists():
                    known.add(str(resolve_judge_spec(json.loads(meta_path.read_text())["judge"]).name))
            _check_arena_judges(config, known)
        out: dict[str, Path] = {}
        finals: dict[str, list[dict]] = {}  # arena contestants: label -> samples
        arena_prompts: list[str] | None = None
        proxies: list[Judge] = []
        for name in names:
            result, prompts, by_step = ev.policy(name, gold, extra)
            proxies.append(result.pop("proxy"))
            out[name] = path = write_policy_eval(rd, result)
            log.info("%s: %d checkpoints, hacking=%s", name, len(result["rows"]), result["hacking"]["flagged"])
            ids = [p.id for p in prompts]
            if arena_prompts is None or arena_prompts == ids:
                arena_prompts = ids
                last = max(by_step)
                # The arena compares one completion per prompt: the primary decoding's first sample.
                first = lambda rows: [s for s in rows if s.get("decoding", "greedy") == ev.decodings[0] and int(s.get("sample_index", 0)) == 0]  # noqa: E731
                finals[f"{name}@{last}"] = first(by_step[last])
                finals.setdefault(f"initial:{result['base_model']}", first(by_step[0]))
        if config.arena and len(finals) >= 2:
            write_arena(rd, finals, [gold, *proxies, *extra], config)
        return out
    finally:
        ev.close()


def _check_arena_judges(config: EvaluateConfig, known: set[str]) -> None:
    unknown = [n for n in config.arena_judges or [] if n not in known]
    if unknown:
        raise ConfigError(f"arena_judges names unknown judge(s) {unknown}", where="evaluate.arena_judges",
                          hint=f"use names of judges in this evaluation: {sorted(known)}")


def write_arena(rd: RunDir, contestants: dict[str, list[dict]], judges: list[Judge], config: EvaluateConfig) -> Path:
    """Every pair of contestants on every prompt, judged in both orders by every judge; BT tables
    per judge and pooled, anchored on the initial policy when there is exactly one."""
    labels = sorted(contestants)
    by_name: dict[str, Judge] = {}
    for judge in judges:
        by_name.setdefault(judge.name, judge)
    if config.arena_judges is not None:
        _check_arena_judges(config, set(by_name))
        by_name = {n: by_name[n] for n in config.arena_judges}
    initial = [lab for lab in labels if lab.startswith("initial:")]
    baseline = initial[0] if len(initial) == 1 else None
    # Lengths in the policies' own tokens (they share the base model's tokenizer); the proxy for
    # everyone if any sample lacks a count (old cache files), so all lengths share one unit.
    counted = all(isinstance(s.get("completion_tokens"), int) for rows in contestants.values() for s in rows)
    styles = {lab: [style_features(s["response"], tokens=s["completion_tokens"] if counted else None) for s in rows]
              for lab, rows in contestants.items()}
    battles: list[Battle] = []
    failed: dict[str, int] = {}
    for judge in by_name.values():
        for i, a in enumerate(labels):
            for b in labels[i + 1:]:
                sa, sb = contestants[a], contestants[b]
                tag = f"arena:{a}:{b}"
                items = []
                for x, y in zip(sa, sb):
                    it = PairwiseItem(id=_item_id(tag, x), prompt=x["prompt"], response_a=x["response"],
                                      response_b=y["response"], meta=_meta(x))
                    items += [it, it.swapped()]
                verdicts = judge.judge(items)
                for k, (x, y) in enumerate(zip(sa, sb)):
                    rows = arena_outcomes(verdicts[2 * k], verdicts[2 * k + 1], strong_weight=config.arena_strong_weight)
                    failed[judge.name] = failed.get(judge.name, 0) + (not rows)
                    battles += [Battle(a, b, p, judge=judge.name, prompt_id=x["prompt_id"], weight=w,
                                       style_a=styles[a][k], style_b=styles[b][k]) for p, w in rows]
    style = config.arena_style if config.arena_style_control else "none"
    report = arena_report(battles, baseline=baseline, style=style, n_boot=min(config.bootstrap, 200),
                          alpha=config.alpha, seed=config.seed)
    for name, table in report["judges"].items():
        table["failed_pairs"] = failed.get(name, 0)
    path = rd.arena
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"schema": "judgelab.arena/v2", "contestants": labels, "baseline": baseline,
                                "strong_weight": config.arena_strong_weight, **report}, indent=2))
    return path
