"""``judgelab best-of-n``: gold score of a judge's pick among N samples, N = 1..32, with the oracle
pick (best by gold) as the ceiling and a random pick as the floor.

    judgelab best-of-n --selector runs/quick/judges/direct-sft --model smollm2-135m-instruct --out runs/quick/eval/bon
    judgelab best-of-n --selector judges/gpt_oss.yaml --responses cands.jsonl --method pointwise --method tournament
"""

from __future__ import annotations

import click

from judgelab.cli.common import JUDGE_SPEC, config_has, config_option, set_option, with_options


@click.command("best-of-n")
@config_option
@set_option
@click.option("--selector", default=None, help="Judge that picks: trained judge folder, judge YAML or registered name.")
@click.option("--gold", default=None, help="Judge that scores the pick (default: the rubric gold).")
@click.option("--model", default=None, help="Sample the candidates from this model (with --prompts).")
@click.option("--responses", type=click.Path(dir_okay=False), default=None,
              help="Candidates from a JSONL (prompt_id, prompt, response) instead of sampling.")
@click.option("--prompts", default=None, help="Prompt source for --model (default creative-v1, split test).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Prompts to use with --model (default 16).")
@click.option("--method", "methods", multiple=True, type=click.Choice(["pointwise", "knockout", "tournament"]),
              help="Selection rule (repeatable; default pointwise).")
@click.option("--n", "ns", multiple=True, type=click.IntRange(1), help="N values (repeatable; default 1 2 4 8 16 32).")
@click.option("--draws", type=click.IntRange(1), default=None, help="Random N-subsets per prompt and N (default 4).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
def command(config_path: str | None, overrides: tuple[str, ...], selector: str | None, gold: str | None, model: str | None,
            responses: str | None, prompts: str | None, limit: int | None, methods: tuple[str, ...], ns: tuple[int, ...],
            draws: int | None, out_dir: str) -> None:
    """Best-of-N with a judge: pointwise pick, pairwise knockout or tournament, scored by the gold."""
    from judgelab.config import load_config
    from judgelab.errors import ConfigError
    from judgelab.evaluate.policies.best_of_n import BestOfNConfig, best_of_n

    if selector is None and not config_has(config_path, overrides, "selector"):
        raise ConfigError("--selector is required", hint=JUDGE_SPEC)
    extra = with_options(overrides, {"selector": selector, "gold": gold, "model": model, "responses": responses,
                                     "prompts.source": prompts, "prompts.limit": limit, "draws": draws,
                                     "methods": methods, "ns": ns})
    config = load_config(BestOfNConfig, config_path, extra)
    res = best_of_n(config, out_dir)
    for m, rows in res["curves"].items():
        click.echo(f"{m}: " + "  ".join(f"N={r['n']} {r['gold']:.3f}" for r in rows if r["gold"] is not None))
    for k in ("oracle", "random"):
        click.echo(f"{k}: " + "  ".join(f"N={r['n']} {r['gold']:.3f}" for r in res[k] if r["gold"] is not None))
    click.echo(f"wrote {out_dir}/best_of_n.json and best_of_n.png")
