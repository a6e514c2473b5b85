"""Your own TRL GRPO script, with a judgelab judge as the reward function.

Everything here is plain TRL 1.16 (dataset, GRPOConfig, GRPOTrainer) except one line:
``reward_funcs=judge_reward(args.judge, mode=args.mode)``. The judge is any spec judgelab's
``load_judge`` accepts: a registered name (``rubric-gold``, the default: a programmatic rubric
that needs no model), a trained judge folder written by ``judgelab train-judge``, a judge YAML
such as examples/judge_smollm2.yaml, or ``judgelab serve``/OpenAI endpoints through a judge YAML.

Run it (2 GRPO steps on the CPU, SmolLM2-135M-Instruct as the policy, a few minutes):

    python examples/trl_grpo_with_judgelab_reward.py --model smollm2-135m-instruct --steps 2

``--model`` takes a hub id, a local folder, or judgelab's alias ``smollm2-135m-instruct``.
Writes TRL's output folder (``--output-dir``, default runs/trl_grpo_example) and prints one line
per step with the judge reward and the judge's parse-failure rate.

Extra dataset columns reach the judge: ``constraints`` / ``family`` / ``prompt_id`` are what the
rubric checks (its length, form and must-include criteria); a ``reference`` column is the
response a ``pairwise-reference`` judge compares against.
"""

from __future__ import annotations

import argparse
import json

from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from judgelab.integrations.trl import judge_reward

PROMPTS = [
    ("Write a 4-line poem about a lighthouse at night. Use the word \"lighthouse\".",
     {"form": "poem", "lines": 4, "min_words": 12, "max_words": 40, "must_include": ["lighthouse"]}),
    ("Write a short letter to a neighbour asking to borrow a ladder. At most 60 words.",
     {"form": "letter", "min_words": 15, "max_words": 60}),
    ("Write a 3-line poem about rain on a tin roof. Mention \"tin\".",
     {"form": "poem", "lines": 3, "min_words": 9, "max_words": 30, "must_include": ["tin"]}),
    ("Describe a quiet morning market in two sentences.",
     {"form": "prose", "min_words": 15, "max_words": 50}),
]


class PrintRewards(TrainerCallback):
    """One line per logged step: what the judge paid and how often it failed to parse."""

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "reward" in logs:
            fails = next((v for k, v in logs.items() if k.endswith("/parse_failure_rate")), None)
            print(f"step {state.global_step}: judge reward {logs['reward']:.3f}"
                  + (f", parse failures {fails:.2f}" if fails is not None else ""), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m-instruct", help="policy: hub id, folder, or judgelab alias")
    ap.add_argument("--judge", default="rubric-gold", help="judge spec: name, trained judge folder, or judge YAML")
    ap.add_argument("--mode", default="auto", help="auto | pointwise | pairwise-reference | group-tournament")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--num-generations", type=int, default=4)
    ap.add_argument("--max-completion-length", type=int, default=48)
    ap.add_argument("--output-dir", default="runs/trl_grpo_example")
    args = ap.parse_args(argv)

    # judgelab's alias materialises the bundled SmolLM2 once; hub ids and folders pass through.
    from judgelab.models.loading import resolve_model_path

    model = resolve_model_path(args.model)

    dataset = Dataset.from_list([
        # JSON text: Arrow would merge differently-keyed dicts into one struct padded with None.
        {"prompt": [{"role": "user", "content": p}], "constraints": json.dumps(c)} for p, c in PROMPTS
    ])
    config = GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.steps,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.num_generations,  # one prompt's group per step
        max_completion_length=args.max_completion_length,
        learning_rate=1e-5,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,  # drop on a GPU machine
        bf16=False,
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=judge_reward(args.judge, mode=args.mode, num_generations=args.num_generations),
        args=config,
        train_dataset=dataset,
        callbacks=[PrintRewards()],
    )
    trainer.train()
    print(f"done: {trainer.state.global_step} GRPO steps, output in {args.output_dir}")


if __name__ == "__main__":
    main()
