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
run is removed first, by the main process, before any process picks (all pick the same one). Raising ``max_steps`` continues a finished run.

Scale-out: the same function runs under ``accelerate launch -m judgelab.cli train-policy ...``
(multi-GPU / multi-node data parallel: TRL shards generation and gathers rewards before the group
advantage); rollouts through vLLM with ``grpo.use_vllm: true`` (and ``grpo.vllm_mode: colocate |
server``) when vLLM is installed; any other GRPOConfig field via ``grpo.extra``.

Here: the config and the run; what it reads is in ``train.policy_data``, checkpoint handling in
``train.policy_checkpoints``, the reward in ``train.rewards``, the gold monitor in ``train.gold_callback``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from judgelab.config import StrictModel
from judgelab.models.devices import Device
from judgelab.data.records import PromptRecord
from judgelab.data.rundir import POLICY_FILE, RunDir
from judgelab.errors import DataError, ConfigError
from judgelab.judges.base import Judge
from judgelab.judges.config import JudgeConfig, default_gold
from judgelab.judges.registry import EnsembleConfig, load_judge, resolve_judge_spec
from judgelab.train.policy_checkpoints import drop_optimizer_state, finish_trained, previous_stop, resume_point
from judgelab.train.policy_checkpoints import save_and_log
from judgelab.train.policy_data import grpo_dataset, load_policy_prompts, portable_prompts, reference_responses
from judgelab.train.policy_settings import GRPOSettings, JudgeRewardSettings, MonitorSettings, PolicyPromptSettings
from judgelab.train.settings import LoraSettings, check_grpo_extra, main_process_first

log = logging.getLogger(__name__)


class TrainPolicyConfig(StrictModel):
    """GRPO of a policy against a judge reward."""

    model: str = Field("smollm2-135m-instruct", description="Policy: HF hub id, local folder, or offline alias.")
    judge: JudgeConfig | EnsembleConfig | str = Field(
        default_factory=default_gold,
        description="Proxy judge: any judge spec (inline JudgeConfig, ensemble, trained judge folder, YAML file or "
        "registered name; see judgelab.judges.registry). Default: the rubric gold itself (the oracle baseline).",
    )
    reward: JudgeRewardSettings = Field(default_factory=JudgeRewardSettings)
    prompts: PolicyPromptSettings = Field(default_factory=PolicyPromptSettings)
    grpo: GRPOSettings = Field(default_factory=GRPOSettings)
    lora: LoraSettings = Field(default_factory=lambda: LoraSettings(enabled=False))
    device: Device = Field("auto", description="Where the policy loads ('auto', 'cpu', 'cuda', 'cuda:N').")
    role: Literal["study", "positive-control", "negative-control", "specificity-control"] = Field(
        "study", description="What the policy is for (recorded in policy.json; read by the instrument check): a judge "
        "under study, the positive control (GRPO on the gold itself), the negative control (a judge with a known flaw) "
        "or the specificity control (a benign, imperfect proxy: the gold plus noise).",
    )
    arm: str | None = Field(None, description="Set by a run: the study arm of the policy's judge (its name without "
                            "the judge-seed suffix); recorded in policy.json for the arm-vs-arm contrast.")
    judge_seed: int | None = Field(None, description="Set by a run: the seed of the policy's trained judge.")
    monitor: MonitorSettings | None = Field(
        None, description="Gold tracking during training (held-out samples scored every K steps; optional stop at the "
        "hacking onset); null = off. See judgelab.train.gold_callback.",
    )


# ------------------------------------------------------------------------------------- setup

def _policy_model(config: TrainPolicyConfig, pdir: Path, model: Any, tokenizer: Any) -> tuple[Any, Any, str]:
    """(model, tokenizer, base model spec for evaluation's step 0): the config's model, or the one given."""
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
        with main_process_first():  # rank 0 writes it; the others find it
            if not (initial / "config.json").exists():
                model.save_pretrained(initial)
                tokenizer.save_pretrained(initial)
        base_model = str(initial)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.train()
    return model, tokenizer, base_model


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
                          where="monitor.split", hint="use 'val' (default)")
    source = PolicyPromptSettings(source=m.source or config.prompts.source, split=m.split, families=config.prompts.families)
    try:
        prompts = balanced_subset(load_policy_prompts(source, rd), m.prompts)
    except DataError as exc:
        raise DataError(f"the gold monitor found no '{m.split}' prompts ({exc.what})", where="monitor.split",
                        hint=f"give the prompt source a '{m.split}' split (shipped sets have 'val'; a run's selection "
                             "has one when prompts.val_limit > 0), or set monitor.split: test (then the monitor watches "
                             "the prompts the final numbers are reported on)") from exc
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


def _grpo_args(config: TrainPolicyConfig, pdir: Path) -> Any:
    from trl import GRPOConfig

    from judgelab.train.settings import trainer_device_args, world_size

    g = config.grpo
    # grpo.extra may override any of the keys below (e.g. report_to: [tensorboard] to send the
    # training and monitor metrics to TensorBoard/W&B).
    device_args = {**trainer_device_args(g.bf16, config.device), **g.extra}
    return GRPOConfig(**{**dict(
        output_dir=str(pdir),
        learning_rate=g.learning_rate,
        beta=g.beta,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        per_device_train_batch_size=g.per_device_batch(world_size()),  # prompts_per_step is global
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


def _check_batch(config: TrainPolicyConfig) -> None:
    """Before any model loads: the global batch splits over the processes, and a group reward sees
    whole groups on every process (TRL hands each process's share of the generation batch to the reward)."""
    from judgelab.train.settings import world_size

    g, n = config.grpo, world_size()
    per_device = g.per_device_batch(n)
    spg = g.extra.get("steps_per_generation") or g.extra.get("gradient_accumulation_steps") or g.gradient_accumulation_steps
    per_process = g.extra["generation_batch_size"] // n if g.extra.get("generation_batch_size") else per_device * spg
    if config.reward.mode == "group-tournament" and per_process % g.num_generations:
        raise ConfigError(f"reward.mode group-tournament needs whole groups on every process, but each of {n} "
                          f"process(es) gets {per_process} completions per reward call (num_generations {g.num_generations})",
                          where="grpo.prompts_per_step", hint="make prompts_per_step a multiple of the number of processes")


def _trainer(config: TrainPolicyConfig, pdir: Path, model: Any, tokenizer: Any, judge: Judge, references: Any,
             prompts: list[PromptRecord], monitor: Any) -> Any:
    """The GRPO trainer: the judge as the reward, the callbacks (checkpoints, log, gold monitor)."""
    from judgelab.train.cpu_path import grpo_trainer_class
    from judgelab.train.rewards import JudgeReward
    from judgelab.train.settings import peft_config

    r, g = config.reward, config.grpo
    reward = JudgeReward(
        judge, r.mode, tournament=r.tournament, references=references, num_generations=g.num_generations,
        both_orders=r.both_orders, unparsed_reward=r.unparsed_reward, name=f"judge_{judge.name}", seed=g.seed,
    )
    dataset = grpo_dataset(prompts)
    callbacks = [save_and_log(pdir, g.max_steps, config.lora.enabled)]
    if monitor is not None:
        from judgelab.train.gold_callback import gold_monitor_callback

        callbacks.append(gold_monitor_callback(monitor))
    trainer = grpo_trainer_class()(
        model=model,
        reward_funcs=[reward],
        args=_grpo_args(config, pdir),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config(config.lora, "CAUSAL_LM"),
        callbacks=callbacks,
    )
    if monitor is not None:
        monitor.bind(trainer)
    return trainer


def _write_policy_json(config: TrainPolicyConfig, pdir: Path, name: str, base_model: str, judge_spec: dict[str, Any]) -> None:
    """policy.json: what evaluation needs to rebuild the policy's steps and its proxy."""
    (pdir / POLICY_FILE).write_text(json.dumps({
        "schema": "judgelab.policy/v1",
        "name": name,
        "role": config.role,
        **({"arm": config.arm, "judge_seed": config.judge_seed} if config.arm is not None else {}),
        "base_model": base_model,
        "judge": judge_spec,
        "reward": config.reward.model_dump(mode="json"),
        "prompts": portable_prompts(config.prompts),
        "grpo": config.grpo.model_dump(mode="json"),
        "lora": config.lora.enabled,
    }, indent=2))


# ------------------------------------------------------------------------------------- training

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
        from judgelab.models.devices import require_vllm

        require_vllm("grpo.use_vllm")  # names the judgelab[vllm] extra and its pinned version

    check_grpo_extra(g.extra, where="grpo.extra")  # before any model loads: a typo must not cost a model load
    _check_batch(config)
    prompts = load_policy_prompts(config.prompts, rd)
    model, tokenizer, base_model = _policy_model(config, pdir, model, tokenizer)

    references = None
    if config.reward.mode == "pairwise-reference":
        with main_process_first():  # made and written once (rank 0); the other ranks read references.jsonl
            references = reference_responses(config.reward.references, g.max_completion_length, rd, pdir, prompts,
                                             model, tokenizer)

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


def _train(config: TrainPolicyConfig, rd: RunDir, pdir: Path, name: str, model: Any, tokenizer: Any, judge: Judge,
           judge_spec: dict[str, Any], references: Any, prompts: list[PromptRecord], base_model: str,
           monitor_judge: Judge | None = None) -> Path:
    monitor = _gold_monitor(config, rd, pdir, judge, monitor_judge)
    trainer = _trainer(config, pdir, model, tokenizer, judge, references, prompts, monitor)
    if trainer.is_world_process_zero():
        _write_policy_json(config, pdir, name, base_model, judge_spec)
        rd.write_run_json(f"train-policy/{name}", config, seed=config.grpo.seed)
    try:
        return _train_or_finish(config, rd, pdir, name, trainer)
    finally:
        if monitor is not None:
            monitor.gold.close()


def _train_or_finish(config: TrainPolicyConfig, rd: RunDir, pdir: Path, name: str, trainer: Any) -> Path:
    """Resume from the newest checkpoint and train to max_steps, unless an earlier run already got
    there or was stopped at the hacking onset; returns the final checkpoint. Every process resumes
    from the same checkpoint (``resume_point``: torn ones removed by the main process first)."""
    g = config.grpo
    last = resume_point(pdir)
    resume = str(last[1]) if last is not None else None
    if resume:
        log.info("resuming %s from %s", name, resume)
    previous = previous_stop(pdir, config.monitor)
    if previous is not None and resume is not None and f"checkpoint-{previous}" == Path(resume).name:
        # A run the monitor stopped at the hacking onset stays stopped when rerun.
        log.info("%s stopped at the hacking onset (step %d) in an earlier run; not training further", name, previous)
        return pdir / f"checkpoint-{previous}"
    if last is not None and last[0] >= g.max_steps:
        # HF's Trainer, resumed from the last step, still runs one more step before it checks max_steps.
        log.info("%s is already trained to step %d (max_steps %d)", name, last[0], g.max_steps)
        if trainer.is_world_process_zero():
            finish_trained(rd, pdir, name, last, g.keep_final_optimizer)
        return last[1]
    trainer.train(resume_from_checkpoint=resume)
    final = pdir / f"checkpoint-{trainer.state.global_step}"
    if trainer.is_world_process_zero():
        from judgelab.data.jsonl import write_jsonl

        write_jsonl(pdir / "log.jsonl", trainer.state.log_history)
        rd.mark_done(f"train-policy-{name}", {"steps": trainer.state.global_step})
        if not g.keep_final_optimizer and trainer.state.global_step >= g.max_steps:
            # Done: resuming needs nothing more, and a study of many policies would keep GBs of Adam state.
            drop_optimizer_state(final)
    return final
