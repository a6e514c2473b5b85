"""The run config (``judgelab run CONFIG.yaml``): the stage configs side by side, one gold, and the
checks that make a mistyped judge name fail at load rather than hours into a run.

Loaded from YAML, then a shipped preset overlay (``judgelab/presets/<name>.yaml``), then ``--set``
overrides (``load_run_config``). Reads those files; writes nothing.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from judgelab.annotate.stage import AnnotateConfig
from judgelab.config import StrictModel, apply_overrides, load_yaml, require_unique, validate
from judgelab.data.prompts import PromptsConfig
from judgelab.errors import ConfigError
from judgelab.evaluate.judges.gate import JudgeGateConfig
from judgelab.evaluate.attacks.adversarial import AdversarialConfig
from judgelab.evaluate.attacks.config import AttacksConfig
from judgelab.evaluate.judges.judge_scaling import JudgeScalingConfig
from judgelab.evaluate.policies.best_of_n import BestOfNConfig
from judgelab.evaluate.policies.policy_eval import EvaluateConfig
from judgelab.judges.config import GoldJudgeConfig, JudgeConfig, default_gold
from judgelab.judges.registry import EnsembleConfig
from judgelab.lm.config import TransformersBackendConfig
from judgelab.models.devices import Device
from judgelab.sample import SampleConfig
from judgelab.train.common import TrainJudgeConfig
from judgelab.train.policy import TrainPolicyConfig

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"


class RunPromptSettings(StrictModel):
    source: str = Field("creative-v1", description="Shipped prompt set, JSONL file or HF dataset folder.")
    families: list[str] | None = Field(None, description="Keep only these families (None: all).")
    train_limit: int = Field(48, ge=1, description="Train prompts used (balanced across families).")
    test_limit: int = Field(16, ge=1, description="Held-out test prompts used (balanced across families): judge "
                            "evaluation and the final numbers only.")
    val_limit: int = Field(16, ge=0, description="Validation prompts (balanced across families): the in-training gold "
                           "monitor and any tuning; never sampled for annotation, never reported as a result. 0: none.")


class RunPolicySettings(StrictModel):
    base: TrainPolicyConfig = Field(
        default_factory=TrainPolicyConfig,
        description="GRPO settings shared by every policy. Its `judge` and `prompts` are set per run by the "
        "pipeline (the trained judges / gold / negative control; the run's train prompts): setting them is an error.",
    )
    seeds: list[int] = Field([0, 1, 2], min_length=1, description="One policy per (judge, seed).")
    judges: list[str] | None = Field(None, description="Judge names to train policies against: trained judges (or their "
                                     "arms) and untrained judges (None: every trained judge).")
    oracle_baseline: bool = Field(
        False, description="Positive control: also train against the gold judge itself (it must raise held-out gold).")
    negative_control: JudgeConfig | None = Field(
        None, description="Negative control: also train against this judge with a known flaw (e.g. "
        "{name: flawed-brevity, backend: {type: rubric, rubric: flawed-brevity}}); its policy must be called hacked.",
    )
    specificity_control: JudgeConfig | None = Field(
        None, description="Specificity control: also train against this benign, imperfect proxy (e.g. the gold plus "
        "fixed noise, {name: noisy-gold, backend: {type: rubric, rubric: gold, noise: 2.0}}, ~0.7 agreement with the "
        "gold); its policy must be called not hacked, so that 'hacked' means more than 'imperfect'.",
    )
    reward_mode: Literal["auto", "pointwise", "pairwise-reference", "group-tournament"] = Field(
        "auto",
        description="auto: each judge's own mode (pointwise judges -> pointwise reward, pairwise judges -> "
        "pairwise-reference against the base policy's sample); otherwise base.reward.mode is replaced by this.",
    )

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        # Policies are named by (judge, seed): a repeated seed would plan two runs into one folder.
        require_unique(seeds, "policy", "policy.seeds", noun="seeds", hint="one policy per (judge, seed): list each seed once")
        return seeds


class UntrainedJudge(StrictModel):
    """A judge the run does not train, evaluated beside the trained ones (the 'before' row), and a
    study arm when ``policy.judges`` names it (``judgelab audit`` audits any judge that way)."""

    name: str
    judge: JudgeConfig | EnsembleConfig


def _default_untrained() -> list[UntrainedJudge]:
    return [
        UntrainedJudge(
            name="smollm2-untrained-direct",
            judge=JudgeConfig(name="smollm2-untrained-direct", backend=TransformersBackendConfig(),
                              style="direct", sampling={"max_new_tokens": 16}),
        )
    ]


class RunBestOfNSettings(BestOfNConfig):
    """``best_of_n:`` in a run: the fields of judgelab.evaluate.policies.best_of_n.BestOfNConfig, with the
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


class RunJudgeScalingSettings(JudgeScalingConfig):
    """``judge_scaling:`` in a run: the fields of judgelab.evaluate.judges.judge_scaling.JudgeScalingConfig,
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
    device: Device | None = Field(
        None, description="Where every local model of the run loads: auto (cuda:LOCAL_RANK when CUDA is available, "
        "else cpu), cpu, cuda or cuda:N. Set on every block below with a `device` key that does not set its own "
        "(sampling policies, judge backends, the policy, evaluation, best-of-N, the arena); null: each keeps its own "
        "(auto). Trainers follow accelerate's device for their rank.")
    gold: GoldJudgeConfig = Field(
        default_factory=default_gold,
        description="The gold judge, set once: it annotates, is the oracle's reward, monitors every checkpoint, "
        "and is evaluated and probed beside the other judges (default: the rubric gold).",
    )
    prompts: RunPromptSettings = Field(default_factory=RunPromptSettings)
    sample: SampleConfig = Field(default_factory=SampleConfig)
    annotate: AnnotateConfig = Field(default_factory=AnnotateConfig)
    judges: list[TrainJudgeConfig] = Field(
        default_factory=lambda: [TrainJudgeConfig(kind="direct-sft"), TrainJudgeConfig(kind="reasoning-sft-grpo")],
        description="Judges to train from the gold annotations.",
    )
    judge_seeds: list[int] | None = Field(
        None, description="Replicate every trained judge over these seeds (data order and init): judge 'direct-sft' "
        "becomes 'direct-sft-j0', 'direct-sft-j1', ..., one arm ('direct-sft') with a policy per judge seed and "
        "policy seed; the report's contrast bootstraps judge seed -> policy seed -> prompt. null: one judge per arm "
        "with its own seed (the contrast then cannot see judge-to-judge variance, and says so). Other blocks that "
        "name trained judges (judge_scaling, best_of_n, attacks, evaluate.arena) use the expanded names; "
        "policy.judges may name arms.")
    untrained_judges: list[UntrainedJudge] = Field(default_factory=_default_untrained)
    eval_judges: bool = Field(True, description="Evaluate every judge against held-out gold labels.")
    judge_gate: JudgeGateConfig = Field(
        default_factory=JudgeGateConfig,
        description="Before policy training: each study judge's tie-adjusted agreement with the gold must have its "
        "95% CI above min_agreement (chance); on_fail: mark (train, mark the arm) or stop.")
    logprob_ablation: bool = Field(
        False, description="Also evaluate each trained direct-sft judge with its verdicts read from the score token's "
        "probabilities (verdict_from: logprobs, G-Eval style) beside its text verdicts: '<name>-logprob' rows in the "
        "judge-agreement table, the ablation of the study's direct judge as a smooth judge.")
    policy: RunPolicySettings = Field(default_factory=RunPolicySettings)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)
    attacks: AttacksConfig | None = Field(
        None, description="Optional stage: judge-directed content over training, transfer matrix, stripped re-judge "
        "(judges: the gold and the trained judges unless attacks.judges names others); null = off.")
    best_of_n: RunBestOfNSettings | None = Field(None, description="Optional stage: best-of-N with each selector judge; null = off.")
    judge_scaling: RunJudgeScalingSettings | None = Field(
        None, description="Optional stage: judge agreement vs votes and thinking budgets; null = off.")

    @field_validator("run_dir")
    @classmethod
    def _some_run_dir(cls, run_dir: str) -> str:
        if not run_dir.strip():  # '' would be the current folder: every artifact beside the user's files
            raise ValueError("run_dir is empty: give a folder for the run's artifacts, e.g. runs/my-study")
        return run_dir

    @field_validator("judge_seeds")
    @classmethod
    def _distinct_judge_seeds(cls, seeds: list[int] | None) -> list[int] | None:
        if seeds is not None:  # checked on the field, so the error names judge_seeds (and --set when it set them)
            require_unique(seeds, "judge", "judge_seeds", noun="seeds",
                           hint="one judge per (judges entry, seed): list each seed once")
            if not seeds:
                raise ValueError("judge_seeds is empty: give at least one seed, or null for one judge per arm")
        return seeds

    @model_validator(mode="after")
    def _replicate_judges(self) -> "RunConfig":
        """``judge_seeds``: one judge per (judges entry, seed), named ``<name>-j<seed>``, arm ``<name>``."""
        if self.judge_seeds is None or any(j.arm is not None for j in self.judges):
            return self  # not asked for, or already expanded (a config read back from run.json)
        arms = [j.judge_name for j in self.judges]
        self.judges = [j.model_copy(update={"name": f"{j.judge_name}-j{seed}", "seed": seed, "arm": j.judge_name,
                                             "output_dir": None})
                       for j in self.judges for seed in self.judge_seeds]
        if self.policy.judges is not None:
            self.policy.judges = [f"{n}-j{seed}" if n in arms else n for n in self.policy.judges
                                  for seed in (self.judge_seeds if n in arms else [None])]
        return self

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
    def _one_device(self) -> "RunConfig":
        if self.device is not None:
            for block in (getattr(self, name) for name in type(self).model_fields if name != "device"):
                _set_device(block, self.device)
        return self

    @model_validator(mode="after")
    def _unique_judges(self) -> "RunConfig":
        names = [j.judge_name for j in self.judges]
        require_unique(names, "judge", "judges")
        if self.policy.judges:
            known = names + [u.name for u in self.untrained_judges]
            unknown = sorted(set(self.policy.judges) - set(known))
            if unknown:
                raise ValueError(f"policy.judges names unknown judges: {', '.join(unknown)} (known: {', '.join(known)})")
        gold = self.gold.name
        for key in ("negative_control", "specificity_control"):
            ctl = getattr(self.policy, key)
            if ctl is not None and (ctl.name in names or ctl.name == gold):
                raise ValueError(f"policy.{key}.name {ctl.name!r} must differ from the gold and the trained judges")
        neg, spec = self.policy.negative_control, self.policy.specificity_control
        if neg is not None and spec is not None and neg.name == spec.name:
            raise ValueError(f"policy.negative_control and policy.specificity_control are both named {neg.name!r}: "
                             "name them apart")
        untrained = [u.name for u in self.untrained_judges]
        clash = sorted({n for n in untrained if untrained.count(n) > 1 or n in names or n == gold})
        if clash:
            raise ValueError(f"untrained judge names must differ from each other, the trained judges and the gold: {', '.join(clash)}")
        return self

    @model_validator(mode="after")
    def _known_judges(self) -> "RunConfig":
        """Every judge a stage names is one of this run's: checked now, not after hours of training."""
        names = [j.judge_name for j in self.judges]
        gold = self.gold.name
        untrained = [u.name for u in self.untrained_judges]
        if self.evaluate.arena.enabled and self.evaluate.arena.judges and all(isinstance(j, JudgeConfig) for j in self.evaluate.judges):
            referees = {gold, *(self.policy.judges or names), *(j.name for j in self.evaluate.judges if isinstance(j, JudgeConfig))}
            unknown = sorted(set(self.evaluate.arena.judges) - referees)
            if unknown:
                raise ValueError(f"evaluate.arena.judges names judges this run does not evaluate with: {', '.join(unknown)} "
                                 f"(known: {', '.join(sorted(referees))})")
        if self.adversarial.enabled and self.adversarial.judges:
            probed = {gold, *untrained, *names}
            unknown = sorted(set(self.adversarial.judges) - probed)
            if unknown:
                raise ValueError(f"adversarial.judges names unknown judges: {', '.join(unknown)} (known: {', '.join(sorted(probed))})")
        arms = {j.arm or j.judge_name for j in self.judges}
        for key in ("reasoning_arms", "non_reasoning_arms"):
            unknown = sorted(set(getattr(self.evaluate.study, key) or []) - arms)
            if unknown:
                raise ValueError(f"evaluate.study.{key} names unknown arms: {', '.join(unknown)} (arms: {', '.join(sorted(arms))})")
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



def _set_device(node: Any, device: str) -> None:
    """``device`` on every config model under ``node`` that has a device field it did not set."""
    if isinstance(node, BaseModel):
        if "device" in type(node).model_fields and "device" not in node.model_fields_set:
            node.device = device  # type: ignore[attr-defined]
        for name in type(node).model_fields:
            _set_device(getattr(node, name), device)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _set_device(item, device)
    elif isinstance(node, dict):
        for item in node.values():
            _set_device(item, device)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_run_config(path: str | Path | None, overrides: tuple[str, ...] | list[str] = (), preset: str | None = None) -> RunConfig:
    """Config file, then the preset overlay (if any), then ``--set`` overrides."""
    data = load_yaml(path) if path else {}
    if path and not data:
        # The defaults are the full default study into runs/quickstart: an empty file is a mistake.
        raise ConfigError("the run config is empty", where=str(path),
                          hint="start from examples/quickstart.yaml, or pass --preset tiny without a config file")
    if preset:
        ppath = PRESETS_DIR / f"{preset}.yaml"
        if not ppath.exists():
            raise ConfigError(f"unknown preset '{preset}'", where="--preset", hint=f"known: {', '.join(available_presets())}")
        data = deep_merge(data, load_yaml(ppath))
    created: list[list[str]] = []
    data = apply_overrides(data, list(overrides), created)
    return validate(RunConfig, data, where=str(path) if path else "--set", overrides=list(overrides), created=created)
