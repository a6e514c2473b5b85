"""One judge spec, one loader: ``load_judge(spec)`` for every judge judgelab uses.

A spec is any of
- an inline ``JudgeConfig`` (or its mapping): the backend ``type`` picks the implementation —
  a text backend of judgelab.lm (``transformers``, ``openai``, or one registered with
  ``judgelab.lm.register_backend``) gives an LLMJudge; ``rubric`` a rubric judge; ``reward_model``
  a RewardModelJudge; a type registered with ``register_judge_type`` whatever its factory builds;
- an ensemble mapping ``{name, members: [spec, ...], weights, tie_margin}``;
- a trained judge folder holding ``judgelab_judge.json`` (written by ``judgelab train-judge``), or
  that file, or a JudgeConfig YAML/JSON file;
- a registered name (``register_judge(name, spec)``; shipped: ``rubric-gold``,
  ``rubric-flawed-brevity``).

Mode and scale live on the judge it returns (``judge.modes``, ``judge.scale``); the trained
judge file is read here and nowhere else. With a ``store`` the judge comes wrapped in CachedJudge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from judgelab.config import StrictModel, load_yaml, validate
from judgelab.errors import ConfigError, DataError
from judgelab.judges.base import BOTH, Judge
from judgelab.judges.config import GOLD_DEFAULTS, JUDGE_BACKEND_CONFIGS, JudgeConfig
from judgelab.judges.types import Mode

JUDGE_FILE = "judgelab_judge.json"
TRAINED_SCHEMA = "judgelab.trained_judge/v1"


class EnsembleConfig(StrictModel):
    """A weighted ensemble of judges (see judgelab.judges.ensemble for how verdicts combine)."""

    name: str | None = Field(None, description="Default: ensemble(member names).")
    members: list[Any] = Field(..., min_length=1, description="Judge specs (configs, folders, names, ensembles).")
    weights: list[float] | None = Field(None, description="One weight per member (default: equal).")
    tie_margin: float = Field(0.1, ge=0, lt=1, description="Pairwise: |weighted vote| at or below this is a tie.")


JudgeSpec = JudgeConfig | EnsembleConfig | dict | str | Path


def _rubric(cfg: JudgeConfig) -> Judge:
    from judgelab.judges.llm import LLMJudge
    from judgelab.judges.rubric.backend import RubricBackend

    return LLMJudge(cfg, backend=RubricBackend.from_config(cfg.backend))


def _reward_model(cfg: JudgeConfig) -> Judge:
    from judgelab.judges.reward_model import RewardModelJudge

    return RewardModelJudge.from_config(cfg)


# Judge types that are not text backends, by backend ``type``.
JUDGE_TYPES: dict[str, Callable[[JudgeConfig], Judge]] = {"rubric": _rubric, "reward_model": _reward_model}

NAMED_JUDGES: dict[str, dict[str, Any]] = {
    "rubric-gold": GOLD_DEFAULTS,
    "rubric-flawed-brevity": {"name": "flawed-brevity", "backend": {"type": "rubric", "rubric": "flawed-brevity"}},
    # The gold plus fixed noise (sd 2 points): ~0.7 tie-adjusted agreement with the gold on the
    # quickstart's base-sample pairs (0.67-0.75 over two noise seeds, 52 pairs); the specificity control.
    "rubric-noisy-gold": {"name": "noisy-gold", "backend": {"type": "rubric", "rubric": "gold", "noise": 2.0}},
}


def register_judge_type(type_: str, factory: Callable[[JudgeConfig], Judge], config: type[BaseModel]) -> None:
    """Make ``backend: {type: type_, ...}`` build ``factory(judge_config)`` (a verdict-producing
    judge that is not a text backend). ``config`` validates the backend keys."""
    JUDGE_TYPES[type_] = factory
    JUDGE_BACKEND_CONFIGS[type_] = config


def register_judge(name: str, spec: Any) -> None:
    """Give a judge spec a short name usable anywhere a judge is named (YAML, CLI, Python)."""
    NAMED_JUDGES[name] = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else spec


def _validate(model: type[BaseModel], data: Any, where: str, overrides: Sequence[str] = (),
              created: list[list[str]] | None = None) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"not a judge spec: a {type(data).__name__}", where=where,
                          hint="give a mapping (judge config or ensemble), a folder, a file or a registered name")
    return validate(model, data, where, overrides=list(overrides), created=created)


def _from_file(f: Path) -> JudgeConfig | EnsembleConfig:
    if f.suffix == ".json":
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"malformed JSON: {exc.msg}", where=f"{f}:{exc.lineno}") from None
    else:
        data = load_yaml(f)
    if isinstance(data, dict) and data.get("schema") == TRAINED_SCHEMA:
        cfg = _validate(JudgeConfig, data["judge"], str(f))
        # The folder may have moved since training: the weights are the ones beside this file.
        cfg.backend.model = str(f.parent.resolve())
        if cfg.mode is None and data.get("mode") in ("pointwise", "pairwise"):
            cfg.mode = data["mode"]  # files written before the mode lived on the judge
        return cfg
    # A config at the top level or under a 'judge'/'config' key.
    for key in ("judge", "judge_config", "config"):
        if isinstance(data, dict) and "backend" not in data and "members" not in data and isinstance(data.get(key), dict):
            data = data[key]
    backend = data.get("backend") if isinstance(data, dict) else None
    if isinstance(backend, dict) and isinstance(backend.get("model"), str):
        m = backend["model"]
        if not Path(m).is_absolute() and (f.parent / m).exists():  # relative to the file, so it can move
            backend["model"] = str((f.parent / m).resolve())
    return resolve_judge_spec(data, where=str(f))


def resolve_judge_spec(spec: JudgeSpec, where: str = "judge", overrides: Sequence[str] = (),
                       created: list[list[str]] | None = None) -> JudgeConfig | EnsembleConfig:
    """Any judge spec -> its typed config (no model is loaded). ``overrides``: the ``--set``
    expressions already applied to a mapping spec, so an error they caused names --set."""
    if isinstance(spec, (JudgeConfig, EnsembleConfig)):
        return spec
    if isinstance(spec, dict):
        return _validate(EnsembleConfig if "members" in spec else JudgeConfig, spec, where, overrides, created)
    if isinstance(spec, (str, Path)):
        p = Path(spec)
        if p.is_dir():
            if not (p / JUDGE_FILE).exists():
                raise ConfigError(f"no {JUDGE_FILE} in this folder", where=str(p),
                                  hint="pass a train-judge output folder, a judge YAML or a registered judge name")
            return _from_file(p / JUDGE_FILE)
        if p.is_file():
            return _from_file(p)
        if str(spec) in NAMED_JUDGES:
            return resolve_judge_spec(NAMED_JUDGES[str(spec)], where=f"judge name {spec!r}")
        if p.suffix in (".yaml", ".yml", ".json"):
            raise ConfigError("config file not found", where=str(p), hint="check the path")
        raise ConfigError(f"no judge at {str(spec)!r}: not a folder, a file or a registered name", where=where,
                          hint=f"registered names: {', '.join(sorted(NAMED_JUDGES))}")
    raise ConfigError(f"not a judge spec: {type(spec).__name__}", where=where)


def spec_modes(cfg: JudgeConfig | EnsembleConfig) -> tuple[Mode, ...]:
    """The modes the judge a config builds will answer in, without building it."""
    if isinstance(cfg, EnsembleConfig):
        members = [spec_modes(resolve_judge_spec(m)) for m in cfg.members]
        return tuple(m for m in BOTH if all(m in ms for ms in members))
    return (cfg.mode,) if cfg.mode else BOTH


def build_judge(cfg: JudgeConfig | EnsembleConfig, *, store: Any = None) -> Judge:
    """A typed judge config -> the Judge (members of an ensemble share the store)."""
    if isinstance(cfg, EnsembleConfig):
        from judgelab.judges.ensemble import EnsembleJudge

        members = [load_judge(m, store=store) for m in cfg.members]
        return EnsembleJudge(members, cfg.weights, tie_margin=cfg.tie_margin, name=cfg.name)
    factory = JUDGE_TYPES.get(cfg.backend.type)
    if factory is not None:
        judge = factory(cfg)
    else:
        from judgelab.judges.llm import LLMJudge

        judge = LLMJudge(cfg)
    if store is not None:
        from judgelab.judges.cache import CachedJudge

        judge = CachedJudge(judge, store)
    return judge


def load_judge(spec: JudgeSpec | Judge, *, store: Any = None, name: str | None = None, where: str = "judge") -> Judge:
    """The one way to get a Judge from a spec (see the module docstring). A Judge passes through."""
    if isinstance(spec, Judge) and not isinstance(spec, (str, Path, dict, BaseModel)):
        return spec
    cfg = resolve_judge_spec(spec, where)  # type: ignore[arg-type]
    if name:
        cfg = cfg.model_copy(update={"name": name})
    return build_judge(cfg, store=store)
