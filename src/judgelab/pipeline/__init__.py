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
  ``eval/best_of_n/<selector>/best_of_n.json`` + ``.png`` (judgelab.evaluate.policies.best_of_n);
- ``judge_scaling``: gold agreement of each judge (default: the trained generative judges) vs
  votes k and thinking budgets, with cost -> ``eval/judges/<judge>.scaling.json`` + ``.png``
  (judgelab.evaluate.judges.judge_scaling).

Each stage is skipped when its artifacts are complete (done markers under ``run_dir/.done``;
stages that are themselves resumable — sampling, annotation, GRPO from its last checkpoint —
simply continue), so a killed run picks up where it stopped. Reads a RunConfig; writes the run
directory described in judgelab.data.rundir.

Modules: ``config`` (RunConfig, the stage blocks, presets, ``load_run_config``), ``plan`` (the
prompt selection, one GRPO config per (judge, seed), done-marker keys, the offline model checks),
``runner`` (``Pipeline``: the stages in order), ``summaries`` (the console lines after each stage),
``launch`` (training stages on N processes through ``accelerate launch``: ``--num-processes``,
``--accelerate-config``), ``dry_run`` and ``estimate`` (``--dry-run``: the plan, GPU-hours and memory
per stage from model sizes; docs/estimate.md).
"""
