"""Policy training: GRPO (TRL 1.16 GRPOTrainer) with a judge as the reward.

Reads: prompts (a shipped set such as ``creative-v1``, a JSONL file, or the run directory's
``prompts.jsonl`` with ``prompts.source: run``), the proxy judge (an inline JudgeConfig or a
trained judge folder holding ``judgelab_judge.json``) and, for the ``pairwise-reference`` reward,
reference responses (``responses.jsonl`` of the run, or generated once by the initial policy).

Writes ``run_dir/policies/<name>/``:

- ``checkpoint-N/``  every ``save_steps`` steps and at the last step: a transformers folder
  loadable by ``judgelab.models.load_model`` (with LoRA: the adapter, plus ``merged/`` holding the
  merged full weights, which is what evaluation loads — see ``checkpoint_model_path``). Only the
  newest checkpoint keeps optimizer/scheduler state (resume needs nothing older; a 135M-parameter
  model's Adam state is ~1 GB per checkpoint), and once training is complete not even that one
  (``grpo.keep_final_optimizer`` keeps it, to train the policy further).
- ``log.jsonl``      the trainer's log history (proxy reward, judge parse-failure rate, tie rate,
  judge latency, completion length, kl when beta > 0), rewritten at every logging step.
- ``policy.json``    what evaluation needs: base model spec (= step 0), proxy judge config,
  reward mode, prompts, steps.
- ``initial/``       only when the policy was passed as a model object (tests): its weights
  before training, which ``policy.json`` then names as the base.
- ``references.jsonl`` the reference responses (pairwise-reference only).

Resume: rerunning with the same name continues from the newest complete checkpoint (one whose
``trainer_state.json`` exists — the trainer writes it last); a half-written checkpoint of a killed
run is removed first. Raising ``max_steps`` continues a finished run.

Scale-out: the same function runs under ``accelerate launch -m judgelab.cli train-policy ...``
(multi-GPU / multi-node data parallel: TRL shards generation and gathers rewards before the group
advantage); rollouts through vLLM with ``grpo.use_vllm: true`` (and ``grpo.vllm_mode: colocate |
server``) when vLLM is installed; any other GRPOConfig field via ``grpo.extra``.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.data.jsonl import read_jsonl_tolerant, write_jsonl
from judgelab.data.records import PromptRecord
from judgelab.train.policy_settings import GRPOSettings, LoraSettings, MonitorSettings, PromptSource, RewardConfig  # noqa: F401 (re-exported)
from judgelab.data.rundir import POLICY_FILE, RunDir, checkpoint_model_path, checkpoints  # noqa: F401 (re-exported)
from judgelab.errors import ConfigError, DataError
from judgelab.judges.config import JudgeConfig, default_gold
from judgelab.judges.base import Judge
from judgelab.judges.registry import EnsembleConfig, load_judge, resolve_judge_spec

log = logging.getLogger(__name__)



class TrainPolicyConfig(StrictModel):
    """GRPO of a policy against a judge reward."""

    model: str = Field("smollm2-135m-instruct", description="Policy: HF hub id, local folder, or offline alias.")
    judge: JudgeConfig | EnsembleConfig | str = Field(
        default_factory=default_gold,
        description="Proxy judge: any judge spec (inline JudgeConfig, ensemble, trained judge folder, YAML file or "
        "registered name; see judgelab.judges.registry). Default: the rubric gold itself (the oracle baseline).",
    )
    reward: RewardConfig = Field(default_factory=RewardConfig)
    prompts: PromptSource = Field(default_factory=PromptSource)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    lora: LoraSettings = Field(default_factory=lambda: LoraSettings(enabled=False))
    device: str = Field("auto", description="Where the policy loads ('auto', 'cpu', 'cuda').")
    role: Literal["study", "positive-control", "negative-control"] = Field(
        "study", description="What the policy is for (recorded in policy.json; read by the instrument check): a judge "
        "under study, the positive control (GRPO on the gold itself) or the negative control (a judge with a known flaw).",
    )
    monitor: MonitorSettings | None = Field(
        None, description="Gold tracking during training (held-out samples scored every K steps; optional stop at the "
        "hacking onset); null = off. See judgelab.train.gold_callback.",
    )


# ------------------------------------------------------------------------------------- prompts

def load_policy_prompts(cfg: PromptSource, run_dir: RunDir) -> list[PromptRecord]:
    from judgelab.data.prompts import load_prompts

    source: str | Path = cfg.source
    if cfg.source == "run":
        source = run_dir.prompts
        if not source.exists():
            raise DataError("the run has no prompts.jsonl", where=str(source), hint="run 'judgelab sample' first or name a prompt set")
    prompts = load_prompts(source, cfg.split, cfg.families, cfg.limit)
    if not prompts:
        raise DataError("no prompts left after filtering", where=str(source), hint="check prompts.split / families")
    return prompts


def _references(cfg: TrainPolicyConfig, run_dir: RunDir, policy_dir: Path, prompts: list[PromptRecord],
                model: Any, tok: Any) -> dict[str, str]:
    """prompt id -> reference response, cached in references.jsonl so a resumed run reuses them."""
    path = policy_dir / "references.jsonl"
    if path.exists():
        # tolerant: a torn last line (a crash) only means that one reference is made again
        refs = {r["prompt_id"]: r["response"] for r in read_jsonl_tolerant(path)}
        if all(p.id in refs for p in prompts):
            return refs
    refs = {}
    if cfg.reward.references in ("auto", "responses") and run_dir.responses.exists():
        for r in read_jsonl_tolerant(run_dir.responses):  # a killed `sample` may leave a torn last line
            if not r.get("error") and r.get("response") and r["prompt_id"] not in refs:
                if r.get("sample_index", 0) == 0:
                    refs[r["prompt_id"]] = r["response"]
    missing = [p for p in prompts if p.id not in refs]
    if missing and cfg.reward.references == "responses":
        raise DataError(f"{len(missing)} prompts have no response in responses.jsonl (e.g. {missing[0].id!r})",
                        where=str(run_dir.responses), hint="sample them, or set reward.references: generate")
    if missing:
        log.info("generating %d reference responses with the initial policy", len(missing))
        refs.update(_greedy_generate(model, tok, missing, cfg.grpo.max_completion_length))
    write_jsonl(path, [{"prompt_id": p.id, "response": refs[p.id]} for p in prompts])
    return refs


def _greedy_generate(model: Any, tok: Any, prompts: list[PromptRecord], max_new_tokens: int, batch: int = 8) -> dict[str, str]:
    """Greedy responses of the (initial) policy, through the text layer's local generator."""
    from judgelab.lm.local import LocalGenerator
    from judgelab.lm.types import SamplingParams
    from judgelab.progress import progress_bar

    side, was_training = tok.padding_side, model.training
    gen = LocalGenerator(model, tok)
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    out: dict[str, str] = {}
    try:
        model.eval()
        with progress_bar(len(prompts), "references") as advance:
            for k in range(0, len(prompts), batch):
                chunk = prompts[k:k + batch]
                for p, g in zip(chunk, gen.generate_batch([[{"role": "user", "content": p.prompt}] for p in chunk], params)):
                    out[p.id] = g.text.strip()
                advance(len(chunk))
    finally:
        gen.close()
        tok.padding_side = side
        model.train(was_training)
    return out


# ------------------------------------------------------------------------------------- training

def _callbacks(policy_dir: Path, max_steps: int, lora: bool, monitor: Any = None) -> list[Any]:
    """SaveAndLog, then the gold monitor (a ``GoldMonitor``; None = off)."""
    from transformers import TrainerCallback

    class SaveAndLog(TrainerCallback):
        """Save at the last step, merge LoRA for eval, keep optimizer state only in the newest
        checkpoint, and mirror the log history to log.jsonl."""

        def on_step_end(self, args, state, control, **kw):
            if state.global_step >= max_steps:
                control.should_save = True
            return control

        def on_save(self, args, state, control, model=None, **kw):
            if not state.is_world_process_zero:
                return control
            ckpt = policy_dir / f"checkpoint-{state.global_step}"
            if lora and model is not None and hasattr(model, "merge_and_unload"):
                merged = copy.deepcopy(model).merge_and_unload()
                merged.save_pretrained(ckpt / "merged")
                tok = kw.get("processing_class")
                if tok is not None:
                    tok.save_pretrained(ckpt / "merged")
            for step, d in checkpoints(policy_dir):
                if step < state.global_step:
                    for f in ("optimizer.pt", "scheduler.pt"):
                        (d / f).unlink(missing_ok=True)
            return control

        def on_log(self, args, state, control, **kw):
            if state.is_world_process_zero:
                write_jsonl(policy_dir / "log.jsonl", state.log_history)
            return control

    callbacks: list[Any] = [SaveAndLog()]
    if monitor is not None:
        from judgelab.train.gold_callback import gold_monitor_callback

        callbacks.append(gold_monitor_callback(monitor))
    return callbacks


def _gold_monitor(config: TrainPolicyConfig, rd: RunDir, pdir: Path, judge: Judge, monitor_judge: Judge | None) -> Any:
    """The gold monitor of ``config.monitor`` (None when off): held-out prompts, monitor judge, and
    the proxy judge when the reward is pointwise (its held-out score is then the proxy column)."""
    m = config.monitor
    if m is None:
        return None
    from judgelab.data.prompts import balanced_subset
    from judgelab.train.gold_callback import GoldMonitor

    if m.split == (config.prompts.split or ""):
        raise ConfigError(f"monitor.split is the training split {m.split!r}: the monitor needs held-out prompts",
                          where="monitor.split", hint="use 'test' (default) or 'val'")
    source = PromptSource(source=m.source or config.prompts.source, split=m.split, families=config.prompts.families)
    prompts = balanced_subset(load_policy_prompts(source, rd), m.prompts)
    spec = m.judge if m.judge is not None else default_gold()
    gold = monitor_judge if monitor_judge is not None else load_judge(spec, where="monitor.judge")
    if "pointwise" not in gold.modes:
        gold.close()
        raise ConfigError(f"the monitor judge {gold.name!r} does not answer pointwise", where="monitor.judge",
                          hint="use a judge with a pointwise mode (e.g. the rubric gold)")
    use_heldout = m.proxy == "heldout" or (m.proxy == "auto" and config.reward.mode == "pointwise")
    if use_heldout and "pointwise" not in judge.modes:
        raise ConfigError(f"monitor.proxy: heldout needs a pointwise proxy judge; {judge.name!r} is not",
                          where="monitor.proxy", hint="use 'train' (the trainer's reward mean)")
    spec_json = gold.spec() if hasattr(gold, "spec") else None
    if spec_json is None:
        spec_json = ({"name": gold.name, "in_memory": True} if monitor_judge is not None
                     else resolve_judge_spec(spec).model_dump(mode="json"))
    return GoldMonitor(m, prompts, gold, policy_dir=pdir, proxy=judge if use_heldout else None,
                       max_new_tokens=m.max_new_tokens or config.grpo.max_completion_length,
                       temperature=m.temperature or config.grpo.temperature,
                       unparsed_proxy=config.reward.unparsed_reward, judge_spec=spec_json)


def _portable_prompts(prompts: PromptSource) -> dict[str, Any]:
    """The prompt source as policy.json records it: a file or folder given relative to the working
    directory is made absolute, so evaluation finds it from any directory."""
    out = prompts.model_dump(mode="json")
    if out["source"] != "run" and Path(out["source"]).exists():
        out["source"] = str(Path(out["source"]).resolve())
    return out


def _check_grpo_extra(extra: dict[str, Any]) -> None:
    if not extra:
        return
    import dataclasses

    from trl import GRPOConfig

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    unknown = sorted(set(extra) - known)
    if unknown:
        import difflib

        near = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
        hint = "; ".join(f"{u}: did you mean {m[0]}?" for u, m in near.items() if m) or "see trl.GRPOConfig's fields"
        raise ConfigError(f"grpo.extra has key(s) trl.GRPOConfig does not know: {', '.join(unknown)}",
                          where="grpo.extra", hint=hint)


def _drop_partial_checkpoints(policy_dir: Path) -> None:
    for d in policy_dir.glob("checkpoint-*"):
        if d.is_dir() and not (d / "trainer_state.json").exists():
            log.warning("removing incomplete checkpoint %s (a killed run's half-written save)", d)
            shutil.rmtree(d)


def train_policy(
    config: TrainPolicyConfig,
    run_dir: str | Path,
    name: str,
    *,
    model: Any = None,
    tokenizer: Any = None,
    judge: Judge | None = None,
    monitor_judge: Judge | None = None,
) -> Path:
    """Train (or resume) policy ``name`` with GRPO against the configured judge reward.

    ``model``/``tokenizer``/``judge``/``monitor_judge`` override the config's (tests pass a tiny
    model and programmatic judges; ``config.model`` is still recorded as the base for evaluation's step 0).
    Returns the final checkpoint folder (the one to load: see ``checkpoint_model_path``).
    """

    rd = RunDir(run_dir)
    pdir = rd.policy_dir(name)  # a bad name fails here, before anything is created
    rd.ensure()
    pdir.mkdir(parents=True, exist_ok=True)
    g = config.grpo
    if g.use_vllm:
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise ConfigError("grpo.use_vllm is set but vllm is not installed", where="grpo.use_vllm", hint="pip install vllm, or set it false")

    _check_grpo_extra(g.extra)  # before any model loads: a typo must not cost a model load
    prompts = load_policy_prompts(config.prompts, rd)
    base_model = config.model
    if model is None:
        from judgelab.models.loading import load_model

        model, tokenizer = load_model(config.model, task="causal-lm", device=config.device, dtype="float32")
    else:
        if tokenizer is None:
            raise ConfigError("a model object was given without its tokenizer", where="train_policy")
        # A model given as an object has no spec evaluation could reload for step 0: snapshot it
        # once (before any update; a resumed run keeps the first snapshot).
        initial = pdir / "initial"
        if not (initial / "config.json").exists():
            model.save_pretrained(initial)
            tokenizer.save_pretrained(initial)
        base_model = str(initial)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.train()

    references = None
    if config.reward.mode == "pairwise-reference":
        references = _references(config, rd, pdir, prompts, model, tokenizer)

    owned_judge = judge is None
    store = None
    if judge is None:
        from judgelab.data.store import JudgmentStore

        store = JudgmentStore(rd.store)
        judge = load_judge(config.judge, store=store)
    # What policy.json records, for evaluation to rebuild the proxy: the judge's own spec.
    spec = judge.spec() if hasattr(judge, "spec") else None
    if spec is None and not owned_judge:
        spec = {"name": judge.name, "in_memory": True}
    elif spec is None:
        spec = resolve_judge_spec(config.judge).model_dump(mode="json")
    try:
        return _train(config, rd, pdir, name, model, tokenizer, judge, spec, references, prompts, base_model, monitor_judge)
    finally:
        if owned_judge:
            # judgelab run trains many policies in one process: release the judge's model, batcher and store.
            judge.close()
            if store is not None:
                store.close()
        from judgelab.models.devices import free_memory

        free_memory()


def _previous_stop(pdir: Path, config: TrainPolicyConfig) -> int | None:
    """The step an earlier run of this policy was stopped at by the gold monitor, if it was."""
    if config.monitor is None or not config.monitor.stop_on_hacking:
        return None
    from judgelab.train.gold_callback import read_monitor

    prev = read_monitor(pdir)
    return prev["stop_step"] if prev and prev.get("stopped") and prev.get("stop_step") is not None else None


def _train(config: TrainPolicyConfig, rd: RunDir, pdir: Path, name: str, model: Any, tokenizer: Any, judge: Judge,
           judge_spec: dict[str, Any], references: Any, prompts: list[PromptRecord], base_model: str,
           monitor_judge: Judge | None = None) -> Path:
    from datasets import Dataset
    from transformers.trainer_utils import get_last_checkpoint
    from trl import GRPOConfig

    from judgelab.train.cpu_path import grpo_trainer_class
    from judgelab.train.rewards import JudgeReward

    g = config.grpo
    reward = JudgeReward(
        judge, config.reward.mode, tournament=config.reward.tournament, references=references,
        num_generations=g.num_generations, both_orders=config.reward.both_orders,
        unparsed_reward=config.reward.unparsed_reward, name=f"judge_{judge.name}", seed=g.seed,
    )

    rows = [
        {
            "prompt": [{"role": "user", "content": p.prompt}],
            "prompt_id": p.id,
            "family": p.family,
            # JSON text, because Arrow would turn heterogeneous dicts into one struct padded with None.
            "constraints": json.dumps(p.constraints, sort_keys=True),
        }
        for p in prompts
    ]
    dataset = Dataset.from_list(rows)

    per_device = g.per_device_train_batch_size or g.num_generations
    monitor = _gold_monitor(config, rd, pdir, judge, monitor_judge)
    from judgelab.train.settings import peft_config, trainer_device_args

    # grpo.extra may override any of the keys below (e.g. report_to: [tensorboard] to send the
    # training and monitor metrics to TensorBoard/W&B).
    device_args = {**trainer_device_args(g.bf16, config.device), **g.extra}
    args = GRPOConfig(**{**dict(
        output_dir=str(pdir),
        learning_rate=g.learning_rate,
        beta=g.beta,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=g.gradient_accumulation_steps,
        max_steps=g.max_steps,
        temperature=g.temperature,
        save_strategy="steps",
        save_steps=g.save_steps,
        logging_steps=g.logging_steps,
        seed=g.seed,
        data_seed=g.seed,
        report_to="none",
        use_vllm=g.use_vllm,
        vllm_mode=g.vllm_mode,
        gradient_checkpointing=g.gradient_checkpointing,
    ), **device_args})

    trainer = grpo_trainer_class()(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(config.lora, "CAUSAL_LM"),
        callbacks=_callbacks(pdir, g.max_steps, config.lora.enabled, monitor),
    )
    if monitor is not None:
        monitor.bind(trainer)

    if trainer.is_world_process_zero():
        _drop_partial_checkpoints(pdir)
        (pdir / POLICY_FILE).write_text(json.dumps({
            "schema": "judgelab.policy/v1",
            "name": name,
            "role": config.role,
            "base_model": base_model,
            "judge": judge_spec,
            "reward": config.reward.model_dump(mode="json"),
            "prompts": _portable_prompts(config.prompts),
            "grpo": g.model_dump(mode="json"),
            "lora": config.lora.enabled,
        }, indent=2))
        rd.write_run_json(f"train-policy/{name}", config, seed=g.seed)
    resume = get_last_checkpoint(str(pdir)) if any(pdir.glob("checkpoint-*")) else None
    if resume:
        log.info("resuming %s from %s", name, resume)
    previous = _previous_stop(pdir, config)
    if previous is not None and resume is not None and f"checkpoint-{previous}" == Path(resume).name:
        # A run the monitor stopped at the hacking onset stays stopped when rerun.
        log.info("%s stopped at the hacking onset (step %d) in an earlier run; not training further", name, previous)
        if monitor is not None:
            monitor.gold.close()
        return pdir / f"checkpoint-{previous}"
    last = checkpoints(pdir)[-1] if resume else None
    if last is not None and last[0] >= g.max_steps:
        # Already trained to max_steps (a rerun, or a kill after the last save): HF's Trainer,
        # resumed from there, still runs one more step before it checks max_steps. Finish here.
        log.info("%s is already trained to step %d (max_steps %d)", name, last[0], g.max_steps)
        if monitor is not None:
            monitor.gold.close()
        if trainer.is_world_process_zero():
            from transformers import TrainerState

            history = TrainerState.load_from_json(str(last[1] / "trainer_state.json")).log_history
            logged = read_jsonl_tolerant(pdir / "log.jsonl")  # a torn last line is dropped
            # Keep the whole log (its end-of-training row too) when it holds the checkpoint's history.
            write_jsonl(pdir / "log.jsonl", logged if logged[: len(history)] == history else history)
            rd.mark_done(f"train-policy-{name}", {"steps": last[0]})
            if not g.keep_final_optimizer:
                for f in ("optimizer.pt", "scheduler.pt"):
                    (last[1] / f).unlink(missing_ok=True)
        return last[1]
    try:
        trainer.train(resume_from_checkpoint=resume)
    finally:
        if monitor is not None:
            monitor.gold.close()
    final = pdir / f"checkpoint-{trainer.state.global_step}"
    if trainer.is_world_process_zero():
        write_jsonl(pdir / "log.jsonl", trainer.state.log_history)
        rd.mark_done(f"train-policy-{name}", {"steps": trainer.state.global_step})
        if not g.keep_final_optimizer and trainer.state.global_step >= g.max_steps:
            # Done: resuming needs nothing more, and a study of many policies would keep GBs of Adam state.
            for f in ("optimizer.pt", "scheduler.pt"):
                (final / f).unlink(missing_ok=True)
    return final
