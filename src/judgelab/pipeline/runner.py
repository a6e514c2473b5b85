"""The ``Pipeline`` runner: runs a RunConfig's stages in order (judgelab.pipeline describes them),
each skipped when its done marker exists (``run_dir/.done``), so a killed run picks up where it
stopped. Reads the run config; writes the run directory described in judgelab.data.rundir.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Callable

from judgelab.annotate.stage import AnnotateConfig, annotate, format_summary
from judgelab.data.jsonl import write_jsonl
from judgelab.data.rundir import RunDir
from judgelab.errors import JudgelabError
from judgelab.evaluate.policies.policy_eval import EvaluateConfig
from judgelab.pipeline.config import RunBestOfNSettings, RunConfig
from judgelab.pipeline.launch import Launch, run_stage_launched
from judgelab.pipeline.plan import check_models, marker_key, policy_runs, policy_set_key, select_prompts
from judgelab.pipeline.summaries import (
    attacks_lines,
    best_of_n_line,
    best_of_n_skipped_line,
    judge_eval_line,
    scaling_line,
)
from judgelab.train.common import TrainJudgeConfig

log = logging.getLogger(__name__)


class Pipeline:
    """Runs the stages of a RunConfig in order, skipping finished ones."""

    def __init__(self, cfg: RunConfig, echo: Callable[[str], None] = log.info, launch: Launch | None = None,
                 on_stage_done: Callable[[str, float], None] | None = None):
        self.cfg = cfg
        self.rd = RunDir(cfg.run_dir).ensure()
        self.echo = echo
        self.timings: dict[str, float] = {}
        self.on_stage_done = on_stage_done  # (stage name, seconds) after each stage that ran (judgelab audit times its sections)
        # Training stages on several processes (judgelab.pipeline.launch); the rest runs here.
        self.launch = launch or Launch()

    def stage(self, name: str, fn: Callable[[], Any], marker: str | None = None, self_marking: bool = False) -> Any:
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
        if self.on_stage_done is not None:
            self.on_stage_done(name, dt)
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
            from judgelab.train.policy_settings import PolicyPromptSettings

            ec.prompts = PolicyPromptSettings(source=str(self.rd.prompt_selection), split="test")
        return ec

    def _adversarial(self) -> None:
        """Master-key probe of the gold, untrained and trained judges; judge-fooling policy outputs."""
        from judgelab.data.store import JudgmentStore
        from judgelab.evaluate.attacks.adversarial import run_adversarial
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
        for line in attacks_lines(json.loads(path.read_text()), path):
            self.echo(line)

    def attack_judges(self) -> list[str]:
        """Judges of the transfer matrix by default: the gold and the trained judges."""
        return [self.cfg.gold.name, *(j.judge_name for j in self.cfg.judges)]

    def best_of_n_config(self) -> RunBestOfNSettings:
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
        from judgelab.evaluate.policies.best_of_n import best_of_n, load_candidates
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
            ckey = marker_key(bc.model, bc.prompts.model_dump(mode="json"), bc.temperature, bc.max_new_tokens, max(bc.ns), bc.seed)
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
                        self.echo(best_of_n_skipped_line(name, skipped, judge.modes))
                        continue
                    res = best_of_n(bc.model_copy(update={"selector": name, "methods": methods}), out / name,
                                    selector=judge, gold=gold, candidates=cands)
                finally:
                    judge.close()
                    free_memory()
                self.echo(best_of_n_line(name, res, skipped, out / name / "best_of_n.json"))
        finally:
            gold.close()

    def scaling_judges(self) -> list[str]:
        jc = self.cfg.judge_scaling
        assert jc is not None
        return jc.judges if jc.judges is not None else [j.judge_name for j in self.cfg.judges if j.kind != "reward-model"]

    def _judge_scaling(self) -> None:
        """Each judge's gold agreement vs votes and thinking budgets (judgelab.evaluate.judges.judge_scaling)."""
        from judgelab.evaluate.judges.judge_scaling import judge_scaling
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
            self.echo(scaling_line(name, res, path))

    def preflight(self) -> None:
        """Every model the run will load is checked before the first stage (``plan.check_models``),
        and vLLM is installed when the rollouts use it."""
        check_models(self.cfg)
        grpo = self.cfg.policy.base.grpo
        if grpo.use_vllm or grpo.extra.get("use_vllm"):
            from judgelab.models.devices import require_vllm

            require_vllm("policy.base.grpo.use_vllm")

    def run(self) -> Path:
        """Every stage in order (finished ones skipped); returns the report's path."""
        self.preflight()
        from judgelab.pipeline.gold_freeze import freeze_gold

        freeze_gold(str(self.rd.root), self.cfg.gold)  # one gold per study: recorded now, checked on every rerun
        self.rd.write_run_json("run", self.cfg, seed=self.cfg.seed)
        t0 = time.perf_counter()
        self.data_stages()
        self.judge_stages()
        self.judge_gate()
        names = self.policy_stages()
        self.optional_stages(names)
        return self._report(t0)

    def data_stages(self) -> None:
        """The prompt selection, sampling and gold annotation."""
        cfg, rd = self.cfg, self.rd

        def prompts() -> None:
            write_jsonl(rd.prompt_selection, [p.to_dict() for p in select_prompts(cfg.prompts)])

        self.stage("prompts", prompts)

        def sample() -> None:
            from judgelab.sample import sample as run_sample

            sc = cfg.sample.model_copy(deep=True)
            # Base samples (the judges' training and test data) for train and test prompts only:
            # validation prompts are for the monitor and tuning.
            sc.prompts = sc.prompts.model_copy(update={"source": str(rd.prompt_selection),
                                                         "split": None, "limit": None, "exclude_splits": ["val"]})
            run_sample(sc, rd.root)

        self.stage("sample", sample, self_marking=True)

        def do_annotate() -> None:
            summary = annotate(self.annotate_config(), rd.root)
            self.echo(format_summary(summary))

        self.stage("annotate", do_annotate, self_marking=True)

    def judge_stages(self) -> None:
        """Train each judge, then evaluate every judge (and the logprob variants) on held-out gold."""
        cfg, rd = self.cfg, self.rd
        for jc in cfg.judges:
            def train(jc: TrainJudgeConfig = jc) -> None:
                from judgelab.train.judge import train_judge

                if self.launch.active:
                    run_stage_launched(self.launch, rd.root, "train-judge", f"train-judge-{jc.judge_name}", jc)
                else:
                    train_judge(jc, rd.root)

            self.stage(f"train-judge {jc.judge_name}", train, marker=f"train-judge-{jc.judge_name}")

        if cfg.eval_judges:
            from judgelab.evaluate.judges.judge_eval import eval_judge

            for name, spec in self.judge_specs() + self.logprob_ablation_specs():
                def ev(name: str = name, spec: Any = spec) -> None:
                    result, path = eval_judge(spec, rd.root, split="test", name=name)
                    self.echo(judge_eval_line(name, result, path))

                self.stage(f"eval-judge {name}", ev, marker=f"eval-judge-{name}")

    def study_judges(self) -> list[str]:
        """The trained judges that are the reward of a study arm (the controls are not gated: the
        gold is the oracle, the flawed judge is flawed on purpose)."""
        pol = self.cfg.policy
        return ([j.judge_name for j in self.cfg.judges if pol.judges is None or j.judge_name in pol.judges]
                + [u.name for u in self.cfg.untrained_judges if pol.judges is not None and u.name in pol.judges])

    def judge_gate(self) -> None:
        """Each study judge against chance (judgelab.evaluate.judges.gate), from its evaluation:
        recomputed every invocation (cheap); stops the run before policy training when configured."""
        from judgelab.evaluate.judges.gate import AT_CHANCE, gate_judges, write_gate

        gc = self.cfg.judge_gate
        if not gc.enabled or not self.cfg.eval_judges or not self.study_judges():
            return
        result = gate_judges(self.rd.root, self.study_judges(), gc)
        path = write_gate(self.rd.root, result)
        self.echo(f"[gate] judges vs chance (95% CI of tie-adjusted agreement above {gc.min_agreement}) -> {path}")
        for j in result.judges:
            self.echo(f"       {j.judge}: {j.status.upper()} ({j.reason})")
        at_chance = [j.judge for j in result.judges if j.status == "at chance"]
        if at_chance and gc.on_fail == "stop":
            raise JudgelabError(
                f"judge gate: {', '.join(at_chance)} at chance ({AT_CHANCE})",
                where=str(path),
                hint="train the judge longer or on more annotations (judges[].max_steps, sample.n, prompts), or set "
                     "judge_gate.on_fail: mark to train its arm anyway (the report marks it)")
        if at_chance:
            self.echo(f"       policy training goes on (judge_gate.on_fail: mark): the report marks "
                      f"{', '.join(at_chance)} '{AT_CHANCE}'")

    def policy_stages(self) -> list[str]:
        """GRPO of every policy, their evaluation, the adversarial probe; returns the policy names."""
        from judgelab.train.policy import train_policy

        cfg, rd = self.cfg, self.rd
        runs = policy_runs(cfg, rd)
        for name, pc in runs:
            def train(pc: Any = pc, name: str = name) -> Any:
                if self.launch.active:
                    return run_stage_launched(self.launch, rd.root, "train-policy", f"train-policy-{name}", pc,
                                              ["--name", name])
                return train_policy(pc, rd.root, name)

            self.stage(f"train-policy {name}", train, marker=f"train-policy-{name}", self_marking=True)

        def evaluate() -> None:
            from judgelab.evaluate.policies.policy_eval import evaluate_policies

            evaluate_policies(self.evaluate_config(), rd.root)

        # Keyed to the set of policies: adding a judge, a seed or the oracle baseline to a finished
        # run evaluates again (samples and verdicts already made come from disk and the store).
        names, key = policy_set_key(runs)
        self.stage("evaluate", evaluate, marker=f"evaluate-{key}")

        if cfg.adversarial.enabled:
            self.stage("adversarial", self._adversarial, marker=f"adversarial-{key}")
        return names

    def optional_stages(self, names: list[str]) -> None:
        """Attacks, best-of-N and judge scaling, each when its block is on."""
        cfg = self.cfg
        # Attacks read the evaluated policies: keyed, like evaluate, to the set of policies (and to
        # their own settings and judges). Best-of-N and judge scaling do not depend on the
        # policies: keyed to their settings, judges and the gold, so a changed block reruns.
        if cfg.attacks is not None and cfg.attacks.enabled:
            akey = marker_key(names, cfg.attacks.model_dump(mode="json"), cfg.attacks.judges or self.attack_judges())
            self.stage("attacks", self._attacks, marker=f"attacks-{akey}")
        if cfg.best_of_n is not None and cfg.best_of_n.enabled:
            bc = self.best_of_n_config()
            bkey = marker_key(bc.model_dump(mode="json"), cfg.gold.model_dump(mode="json"))
            self.stage("best-of-n", self._best_of_n, marker=f"best-of-n-{bkey}")
        if cfg.judge_scaling is not None and cfg.judge_scaling.enabled:
            skey = marker_key(cfg.judge_scaling.model_dump(mode="json"), self.scaling_judges())
            self.stage("judge-scaling", self._judge_scaling, marker=f"judge-scaling-{skey}")

    def _report(self, t0: float) -> Path:
        """The report, re-rendered every time, and the instrument check's one line."""
        rd = self.rd
        from judgelab.evaluate.policies.instrument import summary_line
        from judgelab.report.build import build_report

        html = build_report(rd.root)  # cheap: always re-rendered (eval/instrument.json: the evaluate stage)
        check = rd.instrument
        if check.exists():
            self.echo(summary_line(json.loads(check.read_text())))
        self.echo(f"report: {html}")
        self.echo(f"total {time.perf_counter() - t0:.1f} s this invocation")
        return html
