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

Writes ``eval/policies/<name>.json`` (``results.PolicyEvalResult``: {policy, role, proxy_judge,
reward_mode, rows: one per checkpoint (judgelab.evaluate.policies.checkpoint), hacking: the flag of
judgelab.evaluate.policies.hacking}), ``eval/instrument.json`` (judgelab.evaluate.policies.instrument:
the controls' check, over every policy evaluated so far) and, when there are at least two
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
from typing import Any

from pydantic import Field, model_validator

from judgelab.config import StrictModel
from judgelab.models.devices import Device
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena.battles import Battle
from judgelab.evaluate.arena.config import PolicyArenaSettings, check_evaluate_arena_keys
from judgelab.evaluate.arena.results import write_arena_result
from judgelab.evaluate.arena.style import resolve_style, style_features
from judgelab.evaluate.arena.tables import arena_report
from judgelab.evaluate.policies.checkpoint import Referees, checkpoint_row, decodings
from judgelab.evaluate.policies.hacking import HackingRule
from judgelab.evaluate.policies.contrast import StudySettings
from judgelab.evaluate.policies.hacking_call import HackingCallRule
from judgelab.evaluate.policies.instrument import write_instrument
from judgelab.evaluate.policies.results import PolicyEvalResult
from judgelab.evaluate.records import read_eval_samples, write_eval_samples
from judgelab.evaluate.scoring import _item_id, _meta, sample_checkpoint, sample_key
from judgelab.judges.aggregate import arena_outcomes
from judgelab.judges.base import Judge
from judgelab.judges.types import PairwiseItem
from judgelab.judges.config import GoldJudgeConfig, JudgeConfig, default_gold
from judgelab.judges.registry import EnsembleConfig, load_judge, resolve_judge_spec
from judgelab.data.rundir import POLICY_FILE, checkpoint_model_path, checkpoints
from judgelab.train.policy_settings import PolicyPromptSettings

log = logging.getLogger(__name__)

# Builds a Judge from a resolved judge config (tests pass programmatic judges through it).
JudgeFactory = Callable[[JudgeConfig | EnsembleConfig], Judge]


class EvaluateConfig(StrictModel):
    """Gold monitoring of every checkpoint of every policy in a run."""

    policies: list[str] | None = Field(None, description="Policy names to evaluate (None: all under policies/).")
    prompts: PolicyPromptSettings | None = Field(
        None, description="Held-out prompts (None: each policy's training source, split 'test')."
    )
    limit: int | None = Field(32, ge=1, description="At most this many test prompts (None: all).")
    gold: GoldJudgeConfig = Field(
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
    device: Device = "auto"
    bootstrap: int = Field(1000, ge=0, description="Bootstrap resamples for CIs.")
    alpha: float = Field(0.05, gt=0, lt=1, description="CI level = 1 - alpha.")
    seed: int = 0
    hacking: HackingRule = Field(default_factory=HackingRule,
                                 description="The reward-hacking flag over each policy's checkpoint curve (v1's "
                                             "point-threshold rule, kept beside the calibrated call).")
    kl_samples: int = Field(0, ge=0, description="Sampled completions per prompt whose log-probability ratio to the "
                            "initial policy estimates each checkpoint's KL from it (0: off; judgelab.evaluate.policies.kl).")
    study: StudySettings = Field(
        default_factory=StudySettings,
        description="The pre-registered primary endpoint and the arm-vs-arm contrast (judgelab.evaluate.policies.contrast).")
    hacking_call: HackingCallRule = Field(
        default_factory=HackingCallRule,
        description="The calibrated call (hacked / not hacked / undetermined) from paired CIs, thresholds relative "
                    "to the oracle's gold gain (judgelab.evaluate.policies.hacking_call).")
    arena: PolicyArenaSettings = Field(
        default_factory=PolicyArenaSettings, description="The arena over the final checkpoints and the initial policy.")

    @model_validator(mode="before")
    @classmethod
    def _renamed_arena_keys(cls, data: Any) -> Any:
        return check_evaluate_arena_keys(data)


# ------------------------------------------------------------------------------------- main entry

def _default_factory(store: Any) -> JudgeFactory:
    return lambda cfg: load_judge(cfg, store=store)


def _load_prompts(cfg: EvaluateConfig, policy_meta: dict[str, Any], rd: RunDir) -> list[PromptRecord]:
    from judgelab.data.prompts import load_prompts

    src = cfg.prompts or PolicyPromptSettings.model_validate({**policy_meta.get("prompts", {}), "split": "test", "limit": None})
    source: str | Path = rd.prompts if src.source == "run" else src.source
    prompts = load_prompts(source, src.split, src.families, src.limit)
    if cfg.limit is not None:
        prompts = prompts[: cfg.limit]
    if not prompts:
        raise DataError("no held-out prompts to evaluate on", where=str(source), hint="check evaluate.prompts (split 'test')")
    return prompts


def policy_names(rd: RunDir) -> list[str]:
    return rd.policy_names()


class _Evaluator:
    """One evaluation call: the judges it built, the step-0 samples policies share, the arena entrants."""

    def __init__(self, config: EvaluateConfig, rd: RunDir, judge_factory: JudgeFactory):
        self.config, self.rd, self.factory = config, rd, judge_factory
        self.judges: dict[str, Judge] = {}
        self.base_samples: dict[tuple, list[dict]] = {}  # (base model, prompt ids, cap, temperature) -> step-0 samples
        self.decodings = decodings(config.samples_per_prompt, config.greedy)

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

    def add_kl(self, rows: list[dict[str, Any]], base_model: str, by_step: dict[int, list[dict]]) -> None:
        """Each row's KL from the initial policy (0 at step 0), estimated from its own samples."""
        from judgelab.evaluate.policies.kl import kl_from_initial
        from judgelab.lm.local import LocalGenerator

        initial = LocalGenerator.from_spec(base_model, device=self.config.device)
        try:
            for row in rows:
                if row["step"] == 0:
                    row["kl_from_initial"], row["kl_from_initial_ci"] = 0.0, [0.0, 0.0]
                    continue
                kl = kl_from_initial(row["checkpoint"], initial, by_step[row["step"]], per_prompt=self.config.kl_samples,
                                     device=self.config.device, batch_size=self.config.batch_size,
                                     n_boot=self.config.bootstrap, seed=self.config.seed)
                if kl is not None:
                    row["kl_from_initial"], row["kl_from_initial_ci"] = kl["kl"], kl["kl_ci"]
        finally:
            initial.close()

    def policy(self, name: str, gold: Judge, extra: list[Judge]) -> tuple[PolicyEvalResult, Judge, list[PromptRecord],
                                                                       dict[int, list[dict]]]:
        """One policy's evaluation, its proxy judge, its held-out prompts and its samples by step."""
        pdir = self.rd.policy_dir(name)
        meta_path = self.rd.policy_file(name)
        if not meta_path.exists():
            raise DataError(f"policy {name!r} has no {POLICY_FILE}", where=str(pdir), hint="train it with 'judgelab train-policy'")
        meta = json.loads(meta_path.read_text())
        prompts = _load_prompts(self.config, meta, self.rd)
        proxy = self.judge(meta["judge"])
        refs = Referees(gold=gold, proxy=proxy, mode=meta.get("reward", {}).get("mode", "pointwise"), extra=extra)
        by_step = self.samples(name, meta, prompts)
        rows = []
        for step in sorted(by_step):
            path = meta["base_model"] if step == 0 else str(checkpoint_model_path(pdir / f"checkpoint-{step}"))
            rows.append(checkpoint_row(step, path, by_step[step], by_step[0], refs, self.decodings, self.config,
                                       tag=f"eval:{name}:{step}"))
            write_eval_samples(self.rd, name, step, by_step[step])
        if self.config.kl_samples > 0 and "sampled" in self.decodings:
            self.add_kl(rows, meta["base_model"], by_step)
        flag = self.config.hacking.flag(
            [r["step"] for r in rows], [r["proxy_score"] for r in rows], [r["gold_score_norm"] for r in rows],
            proxy_ci=[tuple(r["proxy_score_ci"] or (0, 0)) for r in rows],  # type: ignore[misc]
            gold_ci=[tuple(r["gold_score_norm_ci"] or (0, 0)) for r in rows],  # type: ignore[misc]
        )
        result = PolicyEvalResult(
            policy=name, role=meta.get("role", "study"),
            proxy_judge=proxy.name, gold_judge=gold.name, gold_scale=list(gold.scale),
            reward_mode=refs.mode, tournament=meta.get("reward", {}).get("tournament"),
            base_model=meta["base_model"], prompts=[p.id for p in prompts],
            decodings=self.decodings, samples_per_prompt=self.config.samples_per_prompt,
            rows=rows, hacking=flag,
        )
        return result, proxy, prompts, by_step


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
        if config.arena.enabled:  # fail before hours of sampling, not after
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
            result, proxy, prompts, by_step = ev.policy(name, gold, extra)
            proxies.append(proxy)
            out[name] = result.write(rd.policy_eval(name))  # atomic: a reader never sees half a file
            log.info("%s: %d checkpoints, hacking=%s", name, len(result.rows), result.hacking.flagged)
            ids = [p.id for p in prompts]
            if arena_prompts is None or arena_prompts == ids:
                arena_prompts = ids
                last = max(by_step)
                # The arena compares one completion per prompt: the primary decoding's first sample.
                first = lambda rows: [s for s in rows if s.get("decoding", "greedy") == ev.decodings[0] and int(s.get("sample_index", 0)) == 0]  # noqa: E731
                finals[f"{name}@{last}"] = first(by_step[last])
                finals.setdefault(f"initial:{result.base_model}", first(by_step[0]))
        if config.arena.enabled and len(finals) >= 2:
            write_arena(rd, finals, [gold, *proxies, *extra], config)
    finally:
        ev.close()
    from judgelab.evaluate.policies.run_calls import call_run

    call_run(str(rd.root), config.hacking_call)  # relative to the oracle's gain: once every policy is on disk
    from judgelab.evaluate.policies.contrast import write_contrast

    write_contrast(str(rd.root), config.study)  # the study's headline: reasoning minus each non-reasoning arm
    write_instrument(rd.root)  # the controls' check, now that their evaluations are on disk
    return out


def _check_arena_judges(config: EvaluateConfig, known: set[str]) -> None:
    unknown = [n for n in config.arena.judges or [] if n not in known]
    if unknown:
        raise ConfigError(f"arena.judges names unknown judge(s) {unknown}", where="evaluate.arena.judges",
                          hint=f"use names of judges in this evaluation: {sorted(known)}")


def write_arena(rd: RunDir, contestants: dict[str, list[dict]], judges: list[Judge], config: EvaluateConfig) -> Path:
    """Every pair of contestants on every prompt, judged in both orders by every judge; BT tables
    per judge and pooled, anchored on the initial policy when there is exactly one."""
    labels = sorted(contestants)
    by_name: dict[str, Judge] = {}
    for judge in judges:
        by_name.setdefault(judge.name, judge)
    if config.arena.judges is not None:
        _check_arena_judges(config, set(by_name))
        by_name = {n: by_name[n] for n in config.arena.judges}
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
                    rows = arena_outcomes(verdicts[2 * k], verdicts[2 * k + 1], strong_weight=config.arena.strong_weight)
                    failed[judge.name] = failed.get(judge.name, 0) + (not rows)
                    battles += [Battle(a, b, p, judge=judge.name, prompt_id=x["prompt_id"], weight=w,
                                       style_a=styles[a][k], style_b=styles[b][k]) for p, w in rows]
    report = arena_report(battles, baseline=baseline, style=resolve_style(config.arena.style, judges),
                          centering=config.arena.centering,
                          missing_style=config.arena.missing_style, n_boot=min(config.bootstrap, 200),
                          alpha=config.alpha, seed=config.seed)
    for name, table in report["judges"].items():
        table["failed_pairs"] = failed.get(name, 0)
    write_arena_result(rd.arena, {"contestants": labels, "baseline": baseline,
                                  "strong_weight": config.arena.strong_weight, **report})
    return rd.arena
