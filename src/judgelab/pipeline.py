"""``judgelab run CONFIG.yaml``: the whole study, every stage in order, resumable.

prompts -> sample -> annotate -> train judges -> eval judges -> train policies (one per judge
and seed; with ``policy.base.monitor``, the gold is tracked *during* training and a run can stop at
the hacking onset) -> evaluate (gold monitoring of every checkpoint) -> adversarial (master-key
probe of every judge, judge-fooling policy outputs) -> optional stages -> report.

Optional stages, each on when its block is in the config (``enabled: false`` turns one off):

- ``attacks``: judge-directed content in the policies' evaluated samples over training, the
  transfer matrix (the final checkpoints' outputs and crafted attacks, judged by the gold and the
  trained judges against clean baselines) and the stripped re-judge -> ``eval/attacks.json``
  (judgelab.evaluate.attacks.analysis);
- ``best_of_n``: candidates sampled from the base policy on the run's held-out prompts, picked by
  each selector judge (default: the trained judges), scored by the run's gold ->
  ``eval/best_of_n/<selector>/best_of_n.json`` + ``.png`` (judgelab.evaluate.best_of_n);
- ``judge_scaling``: gold agreement of each judge (default: the trained generative judges) vs
  votes k and thinking budgets, with cost -> ``eval/judges/<judge>.scaling.json`` + ``.png``
  (judgelab.evaluate.judge_scaling).

Each stage is skipped when its artifacts are complete (done markers under ``run_dir/.done``;
stages that are themselves resumable — sampling, annotation, GRPO from its last checkpoint —
simply continue), so a killed run picks up where it stopped. Reads a RunConfig; writes the run
directory described in judgelab.data.rundir.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field, field_validator, model_validator

from judgelab.annotate import AnnotateConfig, annotate, format_summary
from judgelab.judges.config import default_gold, gold_defaults
from judgelab.config import StrictModel, apply_overrides, load_yaml, validate
from judgelab.data.jsonl import write_jsonl
from judgelab.data.prompts import PromptsConfig, load_prompts
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError, JudgelabError
from judgelab.evaluate.adversarial import AdversarialConfig
from judgelab.evaluate.attacks.analysis import AttacksConfig
from judgelab.evaluate.best_of_n import BestOfNConfig
from judgelab.evaluate.judge_scaling import JudgeScalingConfig
from judgelab.evaluate.policy_eval import EvaluateConfig
from judgelab.judges.base import reward_mode_for
from judgelab.judges.config import JudgeConfig, TransformersBackendConfig
from judgelab.judges.registry import spec_modes
from judgelab.sample import SampleConfig
from judgelab.train.common import TrainJudgeConfig
from judgelab.train.policy import TrainPolicyConfig

log = logging.getLogger(__name__)

PRESETS_DIR = Path(__file__).parent / "presets"


class PromptSelection(StrictModel):
    source: str = Field("creative-v1", description="Shipped prompt set, JSONL file or HF dataset folder.")
    families: list[str] | None = Field(None, description="Keep only these families (None: all).")
    train_limit: int = Field(48, ge=1, description="Train prompts used (balanced across families).")
    test_limit: int = Field(16, ge=1, description="Held-out test prompts used (balanced across families).")


class PolicyStage(StrictModel):
    base: TrainPolicyConfig = Field(
        default_factory=TrainPolicyConfig,
        description="GRPO settings shared by every policy. Its `judge` and `prompts` are set per run by the "
        "pipeline (the trained judges / gold / negative control; the run's train prompts): setting them is an error.",
    )
    seeds: list[int] = Field([0, 1, 2], min_length=1, description="One policy per (judge, seed).")
    judges: list[str] | None = Field(None, description="Judge names to train policies against (None: all).")
    oracle_baseline: bool = Field(
        False, description="Positive control: also train against the gold judge itself (it must raise held-out gold).")
    negative_control: JudgeConfig | None = Field(
        None, description="Negative control: also train against this judge with a known flaw (e.g. "
        "{name: flawed-brevity, backend: {type: rubric, rubric: flawed-brevity}}); its policy must be flagged as hacked.",
    )
    reward_mode: Literal["auto", "pointwise", "pairwise-reference", "group-tournament"] = Field(
        "auto",
        description="auto: each judge's own mode (pointwise judges -> pointwise reward, pairwise judges -> "
        "pairwise-reference against the base policy's sample); otherwise base.reward.mode is replaced by this.",
    )


class UntrainedJudge(StrictModel):
    """An untrained judge evaluated beside the trained ones (the 'before' row)."""

    name: str
    judge: JudgeConfig


def _default_untrained() -> list[UntrainedJudge]:
    return [
        UntrainedJudge(
            name="smollm2-untrained-direct",
            judge=JudgeConfig(name="smollm2-untrained-direct", backend=TransformersBackendConfig(),
                              style="direct", sampling={"max_new_tokens": 16}),
        )
    ]


class BestOfNStage(BestOfNConfig):
    """``best_of_n:`` in a run: the fields of judgelab.evaluate.best_of_n.BestOfNConfig, with the
    selector judges named from this run and the run's gold as the scorer."""

    enabled: bool = Field(True, description="Run this stage (the block being present turns it on).")
    selectors: list[str] | None = Field(
        None, description="Judges of this run that pick (trained, untrained or gold names); None: every trained judge.")
    selector: Any = Field(None, description="Set by the pipeline from `selectors`: setting it is an error.")
    model: str | None = Field(None, description="Candidates sampled from this model spec (default: policy.base.model, "
                                                "the initial policy), unless `responses` is given.")
    prompts: PromptsConfig = Field(
        default_factory=lambda: PromptsConfig(split="test", limit=16),
        description="Prompts to sample candidates for (default source: the run's selected prompts, test split).")


class JudgeScalingStage(JudgeScalingConfig):
    """``judge_scaling:`` in a run: the fields of judgelab.evaluate.judge_scaling.JudgeScalingConfig,
    for judges named from this run, on its held-out gold pairs."""

    enabled: bool = Field(True, description="Run this stage (the block being present turns it on).")
    judges: list[str] | None = Field(
        None, description="Judges of this run to scale (trained, untrained or gold names); None: every trained judge "
        "except reward models (a scalar head has neither samples to vote nor tokens to think).")
    judge: Any = Field(None, description="Set by the pipeline from `judges`: setting it is an error.")


class RunConfig(StrictModel):
    """The study: stage configs side by side."""

    run_dir: str = Field("runs/quickstart", description="Where every artifact goes.")
    seed: int = 0
    gold: JudgeConfig = Field(
        default_factory=default_gold,
        description="The gold judge, set once: it annotates, is the oracle's reward, monitors every checkpoint, "
        "and is evaluated and probed beside the other judges (default: the rubric gold).",
    )
    prompts: PromptSelection = Field(default_factory=PromptSelection)
    sample: SampleConfig = Field(default_factory=SampleConfig)
    annotate: AnnotateConfig = Field(default_factory=AnnotateConfig)
    judges: list[TrainJudgeConfig] = Field(
        default_factory=lambda: [TrainJudgeConfig(kind="direct-sft"), TrainJudgeConfig(kind="reasoning-sft-grpo")],
        description="Judges to train from the gold annotations.",
    )
    untrained_judges: list[UntrainedJudge] = Field(default_factory=_default_untrained)
    eval_judges: bool = Field(True, description="Evaluate every judge against held-out gold labels.")
    logprob_ablation: bool = Field(
        False, description="Also evaluate each trained direct-sft judge with its verdicts read from the score token's "
        "probabilities (verdict_from: logprobs, G-Eval style) beside its text verdicts: '<name>-logprob' rows in the "
        "judge-agreement table, the ablation of the study's direct judge as a smooth judge.")
    policy: PolicyStage = Field(default_factory=PolicyStage)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)
    attacks: AttacksConfig | None = Field(
        None, description="Optional stage: judge-directed content over training, transfer matrix, stripped re-judge "
        "(judges: the gold and the trained judges unless attacks.judges names others); null = off.")
    best_of_n: BestOfNStage | None = Field(None, description="Optional stage: best-of-N with each selector judge; null = off.")
    judge_scaling: JudgeScalingStage | None = Field(
        None, description="Optional stage: judge agreement vs votes and thinking budgets; null = off.")

    @field_validator("gold", mode="before")
    @classmethod
    def _gold_defaults(cls, v: Any) -> Any:
        return gold_defaults(v)

    @model_validator(mode="after")
    def _one_gold(self) -> "RunConfig":
        # Every stage reads the top-level gold; a stage-level one would be ignored (or, worse,
        # used by one stage and not the others), so it is refused.
        for section in ("annotate", "evaluate"):
            if "gold" in getattr(self, section).model_fields_set:
                raise ValueError(f"{section}.gold is set: in a run config the gold is set once, at the top level "
                                 f"(`gold:`), and every stage uses it; move it there")
        for section, keys in (("best_of_n", ("gold", "selector")), ("judge_scaling", ("judge",))):
            stage = getattr(self, section)
            for key in keys:
                if stage is not None and key in stage.model_fields_set:
                    what = "the run's gold scores the picks" if key == "gold" else f"name this run's judges in {section}." + (
                        "selectors" if key == "selector" else "judges")
                    raise ValueError(f"{section}.{key} is set, but in a run the pipeline sets it ({what}); remove it")
        for key in ("judge", "prompts"):
            if key in self.policy.base.model_fields_set:
                raise ValueError(f"policy.base.{key} is set, but the pipeline sets it for every policy (judge: each "
                                 f"trained judge, the gold, the negative control; prompts: the run's train prompts); "
                                 f"remove it (choose judges with policy.judges, prompts with prompts:)")
        return self

    @model_validator(mode="after")
    def _unique_judges(self) -> "RunConfig":
        names = [j.judge_name for j in self.judges]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"judge names must be unique, repeated: {', '.join(dup)} (set judges[i].name)")
        if self.policy.judges:
            unknown = sorted(set(self.policy.judges) - set(names))
            if unknown:
                raise ValueError(f"policy.judges names unknown judges: {', '.join(unknown)} (known: {', '.join(names)})")
        gold = self.gold.name
        neg = self.policy.negative_control
        if neg is not None and (neg.name in names or neg.name == gold):
            raise ValueError(f"policy.negative_control.name {neg.name!r} must differ from the gold and the trained judges")
        untrained = [u.name for u in self.untrained_judges]
        clash = sorted({n for n in untrained if untrained.count(n) > 1 or n in names or n == gold})
        if clash:
            raise ValueError(f"untrained judge names must differ from each other, the trained judges and the gold: {', '.join(clash)}")
        # Names checked now, not after hours of training.
        if self.evaluate.arena and self.evaluate.arena_judges and all(isinstance(j, JudgeConfig) for j in self.evaluate.judges):
            referees = {gold, *(self.policy.judges or names), *(j.name for j in self.evaluate.judges if isinstance(j, JudgeConfig))}
            unknown = sorted(set(self.evaluate.arena_judges) - referees)
            if unknown:
                raise ValueError(f"evaluate.arena_judges names judges this run does not evaluate with: {', '.join(unknown)} "
                                 f"(known: {', '.join(sorted(referees))})")
        if self.adversarial.enabled and self.adversarial.judges:
            probed = {gold, *untrained, *names}
            unknown = sorted(set(self.adversarial.judges) - probed)
            if unknown:
                raise ValueError(f"adversarial.judges names unknown judges: {', '.join(unknown)} (known: {', '.join(sorted(probed))})")
        known = {gold, *untrained, *names}
        if self.judge_scaling is not None and self.judge_scaling.budgets:
            rms = {j.judge_name for j in self.judges if j.kind == "reward-model"}
            bad = sorted(rms & set(self.judge_scaling.judges or []))
            if bad:
                raise ValueError(f"judge_scaling.budgets is set but judge_scaling.judges names reward models ({', '.join(bad)}): "
                                 f"a scalar head generates no tokens to budget; leave them out or drop the budgets")
        for where, chosen in (("attacks.judges", self.attacks.judges if self.attacks else None),
                              ("best_of_n.selectors", self.best_of_n.selectors if self.best_of_n else None),
                              ("judge_scaling.judges", self.judge_scaling.judges if self.judge_scaling else None)):
            unknown = sorted(set(chosen or []) - known)
            if unknown:
                raise ValueError(f"{where} names unknown judges: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return self


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _key(*parts: Any) -> str:
    """A short, stable hash of JSON-able parts (done-marker keys)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _fmt_acc(x: Any) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _at(rows: list[dict[str, Any]], n: int) -> str:
    """A best-of-N curve's gold at N, with its CI."""
    r = next((r for r in rows if r.get("n") == n), {})
    g, ci = r.get("gold"), r.get("ci")
    return "n/a" if g is None else f"{g:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_run_config(path: str | Path | None, overrides: tuple[str, ...] | list[str] = (), preset: str | None = None) -> RunConfig:
    """Config file, then the preset overlay (if any), then ``--set`` overrides."""
    data = load_yaml(path) if path else {}
    if preset:
        ppath = PRESETS_DIR / f"{preset}.yaml"
        if not ppath.exists():
            raise ConfigError(f"unknown preset '{preset}'", where="--preset", hint=f"known: {', '.join(available_presets())}")
        data = _deep_merge(data, load_yaml(ppath))
    data = apply_overrides(data, list(overrides))
    return validate(RunConfig, data, where=str(path) if path else "--set", overrides=list(overrides))


# ----------------------------------------------------------------------------------- stages


def select_prompts(sel: PromptSelection) -> list[PromptRecord]:
    """Train and test prompts, round-robin over families so small runs still cover every family."""
    out: list[PromptRecord] = []
    for split, limit in (("train", sel.train_limit), ("test", sel.test_limit)):
        by_family: dict[str, list[PromptRecord]] = defaultdict(list)
        for p in load_prompts(sel.source, split=split, families=sel.families):
            by_family[p.family].append(p)
        picked: list[PromptRecord] = []
        queues = [list(v) for _, v in sorted(by_family.items())]
        while len(picked) < limit and any(queues):
            for q in queues:
                if q and len(picked) < limit:
                    picked.append(q.pop(0))
        if not picked:
            raise ConfigError(f"no {split} prompts selected", where="prompts", hint="check prompts.source/families")
        out.extend(picked)
    return out


def policy_runs(cfg: RunConfig, rd: RunDir) -> list[tuple[str, TrainPolicyConfig]]:
    """(policy name, its config) for every (judge, seed)."""
    selection = rd.prompt_selection
    # (policy label, judge spec, the modes that judge answers in, role)
    judge_dirs: list[tuple[str, JudgeConfig | str, tuple, str]] = [
        (j.judge_name, str(rd.judge_dir(j.judge_name)), (j.mode,), "study") for j in cfg.judges
        if cfg.policy.judges is None or j.judge_name in cfg.policy.judges
    ]
    if cfg.policy.oracle_baseline:
        judge_dirs.append(("gold", cfg.gold, spec_modes(cfg.gold), "positive-control"))
    if cfg.policy.negative_control is not None:
        neg = cfg.policy.negative_control
        judge_dirs.append((neg.name, neg, spec_modes(neg), "negative-control"))
    runs = []
    for judge_name, judge, modes, role in judge_dirs:
        # auto: a judge trained to compare is used to compare (a pointwise prompt would not parse).
        mode = reward_mode_for(modes) if cfg.policy.reward_mode == "auto" else cfg.policy.reward_mode
        for seed in cfg.policy.seeds:
            pc = cfg.policy.base.model_copy(deep=True)
            pc.judge = judge
            pc.role = role  # type: ignore[assignment]
            pc.reward = pc.reward.model_copy(update={"mode": mode})
            pc.prompts = pc.prompts.model_copy(update={"source": str(selection), "split": "train"})
            pc.grpo = pc.grpo.model_copy(update={"seed": seed})
            if pc.monitor is not None and pc.monitor.judge is None:
                # The gold is set once per run: the in-training monitor watches the same gold as the
                # checkpoint evaluation (unless policy.base.monitor.judge names another monitor judge).
                pc.monitor = pc.monitor.model_copy(update={"judge": cfg.gold})
            runs.append((f"{judge_name}-s{seed}", pc))
    return runs


class Pipeline:
    """Runs the stages of a RunConfig in order, skipping finished ones."""

    def __init__(self, cfg: RunConfig, echo: Callable[[str], None] = log.info):
        self.cfg = cfg
        self.rd = RunDir(cfg.run_dir).ensure()
        self.echo = echo
        self.timings: dict[str, float] = {}

    def _stage(self, name: str, fn: Callable[[], Any], marker: str | None = None, self_marking: bool = False) -> Any:
        """Run ``fn`` unless ``marker`` is done. Stages that mark themselves (sampling, annotation,
        policy GRPO) leave the marker unset when items failed; then the run stops here, so later
        stages never train on incomplete data, and a rerun retries just the failed items."""
        marker = marker or name
        if self.rd.is_done(marker):
            self.echo(f"[skip] {name}: already complete")
            return None
        self.echo(f"[run ] {name}")
        t0 = time.perf_counter()
        try:
            result = fn()
        finally:
            from judgelab.models.devices import free_memory

            free_memory()
        dt = time.perf_counter() - t0
        self.timings[name] = dt
        if self_marking:
            if not self.rd.is_done(marker):
                raise JudgelabError(f"stage '{name}' finished with failed items", where=str(self.rd.root),
                                    hint="see its summary above; rerun `judgelab run` to retry only those items")
        else:
            self.rd.mark_done(marker, {"seconds": round(dt, 2)})
        self.echo(f"[done] {name} ({dt:.1f} s)")
        return result

    def judge_specs(self) -> list[tuple[str, Any]]:
        """(name, spec) of every judge the run evaluates and probes: gold, untrained, trained."""
        cfg, rd = self.cfg, self.rd
        return ([(cfg.gold.name, cfg.gold)] + [(u.name, u.judge) for u in cfg.untrained_judges]
                + [(j.judge_name, str(rd.judge_dir(j.judge_name))) for j in cfg.judges])

    def logprob_ablation_specs(self) -> list[tuple[str, Any]]:
        """(name, config) of the logprob variants of the trained direct-sft judges (``logprob_ablation``);
        read after the judges are trained (their folders hold the configs)."""
        if not self.cfg.logprob_ablation:
            return []
        from judgelab.judges.config import logprob_variant
        from judgelab.judges.registry import resolve_judge_spec

        out: list[tuple[str, Any]] = []
        for j in self.cfg.judges:
            if j.kind == "direct-sft":
                v = logprob_variant(resolve_judge_spec(self.rd.judge_dir(j.judge_name)))
                out.append((v.name, v))
        return out

    def annotate_config(self) -> AnnotateConfig:
        return self.cfg.annotate.model_copy(update={"gold": self.cfg.gold})

    def evaluate_config(self) -> EvaluateConfig:
        ec = self.cfg.evaluate.model_copy(deep=True, update={"gold": self.cfg.gold})
        if ec.prompts is None:
            from judgelab.train.policy import PromptSource

            ec.prompts = PromptSource(source=str(self.rd.prompt_selection), split="test")
        return ec

    def _adversarial(self) -> None:
        """Master-key probe of the gold, untrained and trained judges; judge-fooling policy outputs."""
        from judgelab.data.store import JudgmentStore
        from judgelab.evaluate.adversarial import run_adversarial
        from judgelab.judges.registry import load_judge

        cfg, rd = self.cfg, self.rd
        store = JudgmentStore(rd.store)
        factories = {name: (lambda spec=spec, name=name: load_judge(spec, store=store, name=name))
                     for name, spec in self.judge_specs()}
        try:
            path = run_adversarial(cfg.adversarial, rd.root, factories,
                                   gold_scale=tuple(cfg.gold.scale))  # type: ignore[arg-type]
        finally:
            store.close()
        self.echo(f"       master-key probe and judge-fooling outputs -> {path}")

    def _attacks(self) -> None:
        """Detector over training, transfer matrix and stripped re-judge (judgelab.evaluate.attacks)."""
        from judgelab.data.store import JudgmentStore
        from judgelab.evaluate.attacks.analysis import run_attacks
        from judgelab.judges.registry import load_judge

        cfg, rd = self.cfg, self.rd
        ac = cfg.attacks
        assert ac is not None
        specs = dict(self.judge_specs())
        names = ac.judges if ac.judges is not None else self.attack_judges()
        store = JudgmentStore(rd.store)  # verdicts cached: a rerun after a crash judges only what is missing
        factories = {n: (lambda spec=specs[n], n=n: load_judge(spec, store=store, name=n)) for n in names}
        try:
            path = run_attacks(ac, rd.root, factories)
        finally:
            store.close()
        d = json.loads(path.read_text())
        for name, p in sorted((d.get("flagged_over_training") or {}).items()):
            curve = p.get("curve") or []
            if curve:
                self.echo(f"       {name}: flagged rate " + " → ".join(
                    "n/a" if c.get("flagged_rate") is None else f"{c['flagged_rate']:.2f}" for c in curve))
        self.echo(f"       transfer matrix: {len(d.get('transfer') or {})} sources x {len(d.get('judges') or {})} judges -> {path}")

    def attack_judges(self) -> list[str]:
        """Judges of the transfer matrix by default: the gold and the trained judges."""
        return [self.cfg.gold.name, *(j.judge_name for j in self.cfg.judges)]

    def best_of_n_config(self) -> BestOfNStage:
        """The best_of_n block with the run's defaults: candidates from the initial policy on the
        run's held-out prompts, the run's gold as the scorer."""
        cfg, rd = self.cfg, self.rd
        bc = cfg.best_of_n
        assert bc is not None
        update: dict[str, Any] = {"gold": cfg.gold, "model": bc.model or cfg.policy.base.model}
        if "source" not in bc.prompts.model_fields_set:
            update["prompts"] = bc.prompts.model_copy(update={
                "source": str(rd.prompt_selection),
                "split": bc.prompts.split if "split" in bc.prompts.model_fields_set else "test"})
        return bc.model_copy(update=update)

    def _best_of_n(self) -> None:
        """Candidates sampled once (cached by their settings), then each selector's picks vs N."""
        from judgelab.evaluate.best_of_n import best_of_n, load_candidates
        from judgelab.judges.registry import load_judge
        from judgelab.models.devices import free_memory

        cfg, rd = self.cfg, self.rd
        bc = self.best_of_n_config()
        out = rd.eval_dir / "best_of_n"
        if bc.responses:
            cands = load_candidates(bc)
        else:
            # Sampling N=32 candidates per prompt is the slow part: kept, keyed by what they depend on,
            # so a rerun (another selector, method or N <= the pool) reuses them.
            ckey = _key(bc.model, bc.prompts.model_dump(mode="json"), bc.temperature, bc.max_new_tokens, max(bc.ns), bc.seed)
            cfile = out / f"candidates-{ckey}.jsonl"
            if cfile.exists():
                cands = load_candidates(bc.model_copy(update={"responses": str(cfile)}))
            else:
                cands = load_candidates(bc)
                write_jsonl(cfile, [c for cs in cands.values() for c in cs])
            free_memory()
        specs = dict(self.judge_specs())
        selectors = bc.selectors if bc.selectors is not None else [j.judge_name for j in cfg.judges]
        gold = load_judge(cfg.gold, name=cfg.gold.name, where="gold")
        try:
            for name in selectors:
                judge = load_judge(specs[name], name=name, where=f"best_of_n.selectors: {name}")
                try:
                    # A pointwise judge cannot run a knockout: each selector gets the methods it can do.
                    methods = [m for m in bc.methods if ("pointwise" if m == "pointwise" else "pairwise") in judge.modes]
                    skipped = sorted(set(bc.methods) - set(methods))
                    if not methods:
                        self.echo(f"       best-of-N by {name}: skipped ({', '.join(skipped)} need a mode it lacks: "
                                  f"it answers {', '.join(judge.modes)})")
                        continue
                    res = best_of_n(bc.model_copy(update={"selector": name, "methods": methods}), out / name,
                                    selector=judge, gold=gold, candidates=cands)
                finally:
                    judge.close()
                    free_memory()
                top = max(res["ns"])
                picks = "; ".join(f"{m} {_at(rows, top)}" for m, rows in res["curves"].items())
                self.echo(f"       best-of-N by {name}, N={top}: {picks}; oracle {_at(res['oracle'], top)}, random "
                          f"{_at(res['random'], top)}" + (f" (skipped {', '.join(skipped)})" if skipped else "")
                          + f" -> {out / name / 'best_of_n.json'}")
        finally:
            gold.close()

    def scaling_judges(self) -> list[str]:
        jc = self.cfg.judge_scaling
        assert jc is not None
        return jc.judges if jc.judges is not None else [j.judge_name for j in self.cfg.judges if j.kind != "reward-model"]

    def _judge_scaling(self) -> None:
        """Each judge's gold agreement vs votes and thinking budgets (judgelab.evaluate.judge_scaling)."""
        from judgelab.evaluate.judge_scaling import judge_scaling
        from judgelab.judges.registry import load_judge
        from judgelab.models.devices import free_memory

        jc = self.cfg.judge_scaling
        assert jc is not None
        specs = dict(self.judge_specs())
        names = self.scaling_judges()
        if not names:
            self.echo("       no judge to scale (the default leaves out reward models; name judges in judge_scaling.judges)")
        for name in names:
            spec = specs[name]
            # No judgment store here: the cost columns (seconds) must measure judging, not cache hits.
            judge = load_judge(spec, name=name, where=f"judge_scaling.judges: {name}")
            try:
                res, path = judge_scaling(jc.model_copy(update={"judge": spec}), self.rd.root, judge=judge)
            finally:
                judge.close()
                free_memory()
            votes = "; ".join(f"k={r['k']} {_fmt_acc(r.get('accuracy'))}" for r in res["voting"])
            budgets = "; ".join(f"budget {r['budget']} {_fmt_acc(r.get('accuracy'))}" for r in res["thinking"])
            self.echo(f"       {name}: agreement {votes}" + (f"; {budgets}" if budgets else "") + f" -> {path}")

    def preflight(self) -> None:
        """Every model the run will load is checked before the first stage: a typo in a judge's
        model must not surface after an hour of sampling and training."""
        from judgelab.models.specs import check_model_spec

        cfg = self.cfg
        specs = [(f"sample.policies.{i}.backend.model", p.backend.model) for i, p in enumerate(cfg.sample.policies)
                 if p.backend.type == "transformers"]
        specs += [(f"judges.{i}.model", j.model) for i, j in enumerate(cfg.judges)]
        specs += [(f"untrained_judges.{i}.judge.backend.model", u.judge.backend.model)
                  for i, u in enumerate(cfg.untrained_judges) if u.judge.backend.type == "transformers"]
        specs.append(("policy.base.model", cfg.policy.base.model))
        if cfg.best_of_n is not None and cfg.best_of_n.enabled and not cfg.best_of_n.responses and cfg.best_of_n.model:
            specs.append(("best_of_n.model", cfg.best_of_n.model))
        for where, spec in specs:
            check_model_spec(spec, where=where)

    def run(self) -> Path:
        cfg, rd = self.cfg, self.rd
        self.preflight()
        rd.write_run_json("run", cfg, seed=cfg.seed)
        t0 = time.perf_counter()

        def prompts() -> None:
            write_jsonl(rd.prompt_selection, [p.to_dict() for p in select_prompts(cfg.prompts)])

        self._stage("prompts", prompts)

        def sample() -> None:
            from judgelab.sample import sample as run_sample

            sc = cfg.sample.model_copy(deep=True)
            sc.prompts = sc.prompts.model_copy(update={"source": str(rd.prompt_selection),
                                                         "split": None, "limit": None})
            run_sample(sc, rd.root)

        self._stage("sample", sample, self_marking=True)

        def do_annotate() -> None:
            summary = annotate(self.annotate_config(), rd.root)
            self.echo(format_summary(summary))

        self._stage("annotate", do_annotate, self_marking=True)

        for jc in cfg.judges:
            def train(jc: TrainJudgeConfig = jc) -> None:
                from judgelab.train.judge import train_judge

                train_judge(jc, rd.root)

            self._stage(f"train-judge {jc.judge_name}", train, marker=f"train-judge-{jc.judge_name}")

        if cfg.eval_judges:
            from judgelab.evaluate.judge_eval import eval_judge

            for name, spec in self.judge_specs() + self.logprob_ablation_specs():
                def ev(name: str = name, spec: Any = spec) -> None:
                    result, path = eval_judge(spec, rd.root, split="test", name=name)
                    m = result.get("metrics", {})
                    acc, ci = m.get("accuracy"), m.get("accuracy_ci95")
                    shown = "n/a" if acc is None else f"{acc:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
                    self.echo(f"       {name}: gold agreement {shown}, parse failures "
                              f"{m.get('parse_failure_rate')} -> {path}")

                self._stage(f"eval-judge {name}", ev, marker=f"eval-judge-{name}")

        from judgelab.train.policy import train_policy

        runs = policy_runs(cfg, rd)
        for name, pc in runs:
            self._stage(f"train-policy {name}", lambda pc=pc, name=name: train_policy(pc, rd.root, name),
                        marker=f"train-policy-{name}", self_marking=True)

        def evaluate() -> None:
            from judgelab.evaluate.policy_eval import evaluate_policies

            evaluate_policies(self.evaluate_config(), rd.root)

        # Keyed to the set of policies: adding a judge, a seed or the oracle baseline to a finished
        # run evaluates again (samples and verdicts already made come from disk and the store).
        names = sorted(name for name, _ in runs)
        key = hashlib.sha256("\n".join(names).encode()).hexdigest()[:8]
        self._stage("evaluate", evaluate, marker=f"evaluate-{key}")

        if cfg.adversarial.enabled:
            self._stage("adversarial", self._adversarial, marker=f"adversarial-{key}")

        # Optional stages. Attacks read the evaluated policies: keyed, like evaluate, to the set of
        # policies (and to their own settings and judges). Best-of-N and judge scaling do not depend
        # on the policies: keyed to their settings, judges and the gold, so a changed block reruns.
        if cfg.attacks is not None and cfg.attacks.enabled:
            akey = _key(names, cfg.attacks.model_dump(mode="json"), cfg.attacks.judges or self.attack_judges())
            self._stage("attacks", self._attacks, marker=f"attacks-{akey}")
        if cfg.best_of_n is not None and cfg.best_of_n.enabled:
            bc = self.best_of_n_config()
            bkey = _key(bc.model_dump(mode="json"), cfg.gold.model_dump(mode="json"))
            self._stage("best-of-n", self._best_of_n, marker=f"best-of-n-{bkey}")
        if cfg.judge_scaling is not None and cfg.judge_scaling.enabled:
            skey = _key(cfg.judge_scaling.model_dump(mode="json"), self.scaling_judges())
            self._stage("judge-scaling", self._judge_scaling, marker=f"judge-scaling-{skey}")

        from judgelab.evaluate.instrument import summary_line
        from judgelab.report import build_report

        html = build_report(rd.root)  # cheap: always re-rendered; writes eval/instrument.json on the way
        check = rd.instrument
        if check.exists():
            self.echo(summary_line(json.loads(check.read_text())))
        self.echo(f"report: {html}")
        self.echo(f"total {time.perf_counter() - t0:.1f} s this invocation")
        return html
