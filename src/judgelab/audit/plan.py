"""What an audit runs, decided before it runs: the audited judge's name and config, the gold, and
the run config of the audit's own run directory (``audit/<judge>/run``), built from the budget's
overlay (judgelab.audit.budget). Reads the judge spec and, with ``--run``, the source run's record;
writes nothing.

The audit is an ordinary judgelab run with no judge to train: the audited judge is an untrained
judge of that run and its one study arm; the gold is the positive control (the oracle) and the gold
plus fixed noise, matched to the judge's measured agreement, is the specificity control (the
benign proxy, chosen after the static section: judgelab.audit.noise_match). So every stage, cache,
resume and result file is the pipeline's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judgelab.audit.budget import BUDGETS
from judgelab.config import apply_overrides, validate
from judgelab.data.rundir import RunDir, name_component
from judgelab.errors import ConfigError, DataError
from judgelab.judges.config import JudgeConfig, default_gold
from judgelab.judges.registry import EnsembleConfig, resolve_judge_spec
from judgelab.pipeline.config import RunConfig, deep_merge
from judgelab.pipeline.gold_freeze import gold_identity

BENIGN = "benign-proxy"


@dataclass
class AuditPlan:
    name: str                                   # the audited judge's name (its card's folder)
    spec: str                                   # as the user gave it
    judge: JudgeConfig | EnsembleConfig
    is_gold: bool                               # the gold audited against itself: its arm is the oracle's
    out: Path                                   # audit/<name>
    budget: str
    source_run: Path | None
    config: RunConfig

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)


def judge_name(spec: str, cfg: JudgeConfig | EnsembleConfig, name: str | None) -> str:
    """The card's name: --name, else the judge folder's name, else the config's name, else the file stem."""
    if name:
        return name_component(name, "audit --name")
    p = Path(spec)
    if p.is_dir():
        guess = p.resolve().name
    elif cfg.name and cfg.name not in ("judge", "ensemble"):
        guess = cfg.name
    elif p.suffix in (".yaml", ".yml", ".json"):
        guess = p.stem
    else:
        guess = str(spec)
    return name_component(guess.replace(" ", "-"), "audited judge (pass --name)")


def source_gold(run: Path) -> Any:
    """The gold a finished run used (its run record), so an audit can share its annotations."""
    rd = RunDir(run)
    if not rd.run_json.exists():
        raise DataError("not a judgelab run directory (no run.json)", where=str(run),
                        hint="pass the run_dir of a `judgelab run`, e.g. runs/quickstart")
    try:
        stages = json.loads(rd.run_json.read_text(encoding="utf-8")).get("stages", {})
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
        raise DataError(f"run.json is unreadable ({exc})", where=str(rd.run_json), hint="run `judgelab doctor` on it") from None
    cfg = (stages.get("run") or {}).get("config") or {}
    if "gold" not in cfg:
        raise DataError("run.json records no `judgelab run` config with a gold", where=str(rd.run_json),
                        hint="--run needs a run made by `judgelab run`; or omit --run and pass --gold")
    return cfg["gold"]


def plan_audit(spec: str, *, gold: Any = None, prompts: str | None = None, budget: str = "small",
               out: str | Path = "audit", run: str | Path | None = None, name: str | None = None,
               policy_model: str | None = None,
               overrides: list[str] | tuple[str, ...] = ()) -> AuditPlan:
    """The audit of the judge at ``spec``: its name, its gold, and the run config (budget overlay,
    then ``--set`` overrides)."""
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}", where="--budget", hint=f"one of {', '.join(BUDGETS)}")
    judge = resolve_judge_spec(spec, where="--judge")
    jname = judge_name(spec, judge, name)
    source = Path(run) if run is not None else None
    if source is not None:
        run_gold = resolve_judge_spec(source_gold(source), where=f"{source}/run.json gold")
        if gold is not None and gold_identity(resolve_judge_spec(gold, "--gold")) != gold_identity(run_gold):
            raise ConfigError("--gold differs from the gold of the --run it shares annotations with", where="--gold",
                              hint="omit --gold (the run's gold is used), or omit --run (the audit annotates its own pairs)")
        gold = run_gold
        if prompts is not None:
            raise ConfigError("--prompts and --run both given", where="--prompts",
                              hint="with --run the audit uses that run's prompts (omit --prompts)")
    gold_cfg = resolve_judge_spec(gold, "--gold") if gold is not None else default_gold()
    if not isinstance(gold_cfg, JudgeConfig):
        raise ConfigError("the gold must be one judge, not an ensemble", where="--gold")
    gold_cfg = gold_cfg.model_copy(update={"name": "gold"})
    is_gold = gold_identity(judge) == gold_identity(gold_cfg)
    if jname == "gold" and not is_gold:
        raise ConfigError("the audited judge is named 'gold' but is not the gold", where="--judge",
                          hint="pass --name to give it another name")
    if jname == BENIGN:
        raise ConfigError(f"{BENIGN!r} is the name of the audit's benign proxy", where="--judge", hint="pass --name")
    base = Path(out) / jname
    data = deep_merge(BUDGETS[budget], {
        "run_dir": str(base / "run"),
        "gold": gold_cfg.model_dump(mode="json"),
        "judges": [],
        "untrained_judges": [] if is_gold else [{"name": jname, "judge": judge.model_dump(mode="json")}],
        "eval_judges": True,  # read by the gate; the audit evaluates the judge it audits (judgelab.audit.run), no other
        "judge_gate": {"on_fail": "mark"},
        "adversarial": {"enabled": False},
    })
    data["policy"] = deep_merge(data["policy"], {"judges": [] if is_gold else [jname], "oracle_baseline": True,
                                                  "negative_control": None, "specificity_control": None})
    if prompts is not None:
        data["prompts"]["source"] = prompts
    if policy_model is not None:
        data["policy"]["base"]["model"] = policy_model
        data["sample"]["policies"] = [{"name": "base", "backend": {"type": "transformers", "model": policy_model}}]
    data = apply_overrides(data, list(overrides))
    # Whom the attacks and best-of-N judge is what the audit is about: set after the overrides
    # (`--set attacks={...}` changes their sizes, `--set attacks=null` turns the section off).
    audited = "gold" if is_gold else jname
    if isinstance(data.get("attacks"), dict):
        data["attacks"]["judges"] = list(dict.fromkeys([audited, "gold"]))  # the gold: is the output really better?
    if isinstance(data.get("best_of_n"), dict):
        data["best_of_n"]["selectors"] = [audited]
    cfg = validate(RunConfig, data, where="--set" if overrides else "audit budget", overrides=list(overrides))
    return AuditPlan(name=jname, spec=str(spec), judge=judge, is_gold=is_gold, out=base, budget=budget,
                     source_run=source, config=cfg)
