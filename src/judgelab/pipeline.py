"""``judgelab run CONFIG.yaml``: the whole study, every stage in order, resumable.

prompts -> sample -> annotate -> train judges -> eval judges -> train policies (one per judge
and seed) -> evaluate (gold monitoring of every checkpoint) -> adversarial (master-key probe of
every judge, judge-fooling policy outputs) -> report.

Each stage is skipped when its artifacts are complete (done markers under ``run_dir/.done``;
stages that are themselves resumable — sampling, annotation, GRPO from its last checkpoint —
simply continue), so a killed run picks up where it stopped. Reads a RunConfig; writes the run
directory described in judgelab.data.rundir.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import Field, field_validator, model_validator

from judgelab.annotate import AnnotateConfig, annotate, default_gold, format_summary, gold_defaults
from judgelab.config import StrictModel, apply_overrides, load_yaml, validate
from judgelab.data.jsonl import write_jsonl
from judgelab.data.prompts import load_prompts
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import RunDir
from judgelab.errors import ConfigError, JudgelabError
from judgelab.evaluate.adversarial import AdversarialConfig
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
    policy: PolicyStage = Field(default_factory=PolicyStage)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)

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
        return self


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


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
            from judgelab.models import free_memory

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

    def preflight(self) -> None:
        """Every model the run will load is checked before the first stage: a typo in a judge's
        model must not surface after an hour of sampling and training."""
        from judgelab.models import check_model_spec

        cfg = self.cfg
        specs = [(f"sample.policies.{i}.backend.model", p.backend.model) for i, p in enumerate(cfg.sample.policies)
                 if p.backend.type == "transformers"]
        specs += [(f"judges.{i}.model", j.model) for i, j in enumerate(cfg.judges)]
        specs += [(f"untrained_judges.{i}.judge.backend.model", u.judge.backend.model)
                  for i, u in enumerate(cfg.untrained_judges) if u.judge.backend.type == "transformers"]
        specs.append(("policy.base.model", cfg.policy.base.model))
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

            for name, spec in self.judge_specs():
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

        import json

        from judgelab.evaluate.instrument import summary_line
        from judgelab.report import build_report

        html = build_report(rd.root)  # cheap: always re-rendered; writes eval/instrument.json on the way
        check = rd.instrument
        if check.exists():
            self.echo(summary_line(json.loads(check.read_text())))
        self.echo(f"report: {html}")
        self.echo(f"total {time.perf_counter() - t0:.1f} s this invocation")
        return html
