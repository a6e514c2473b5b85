"""Is a candidate gold (e.g. an LLM behind an OpenAI-compatible server) a valid stand-in for a
reference judge (the rubric) on the outputs a study will produce? (``judgelab gold-check``)

Both judges score the same responses pointwise; per source of responses the Spearman rank
correlation of the two scores, with a percentile bootstrap CI over prompts (a prompt's responses
are resampled together), and n. Sources: the run's base samples (``responses.jsonl``: what the
judges are trained on) and each evaluated policy's last checkpoint
(``eval/policies/<name>/samples-step-N.jsonl``: what the gold must still rank right after
optimisation, where a fooled gold and the rubric part ways). The candidate is ``validated`` when the
lower CI end is at least ``min_rho`` on every source with at least 10 responses.

Writes ``RUN/eval/gold_check/<candidate>.json`` (``GoldCheckResult``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from judgelab.data.jsonl import iter_jsonl
from judgelab.data.results import ResultFile, ResultModel
from judgelab.data.rundir import RunDir
from judgelab.errors import DataError
from judgelab.judges.base import Judge
from judgelab.judges.types import PointwiseItem

MIN_RESPONSES = 10


class SourceCheck(ResultModel):
    source: str
    n: int
    n_prompts: int
    spearman: float | None
    ci95: list[float] | None
    candidate_parse_failures: int


class GoldCheckResult(ResultFile):
    schema_: Literal["judgelab.gold_check/v1"] = Field("judgelab.gold_check/v1", alias="schema")
    candidate: str
    reference: str
    min_rho: float
    validated: bool
    sources: list[SourceCheck]


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tied = x == v
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho: Pearson's correlation of the (tie-averaged) ranks; None when undefined."""
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def rank_agreement(cand: list[float | None], ref: list[float | None], prompt_ids: list[str], *, n_boot: int = 1000,
                   seed: int = 0) -> tuple[float | None, list[float] | None, int]:
    """Spearman rho of the pairs where both scored, its bootstrap CI over prompts, and n."""
    keep = [i for i, (c, r) in enumerate(zip(cand, ref)) if c is not None and r is not None]
    a = np.asarray([cand[i] for i in keep], dtype=float)
    b = np.asarray([ref[i] for i in keep], dtype=float)
    pids = [prompt_ids[i] for i in keep]
    rho = _spearman(a, b)
    if rho is None:
        return None, None, len(keep)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pids):
        groups.setdefault(p, []).append(i)
    idx = list(groups.values())
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        take = [j for g in rng.integers(0, len(idx), len(idx)) for j in idx[g]]
        r = _spearman(a[take], b[take])
        if r is not None:
            boots.append(r)
    ci = [float(x) for x in np.quantile(boots, [0.025, 0.975])] if boots else None
    return rho, ci, len(keep)


def run_sources(rd: RunDir, limit: int | None) -> dict[str, list[dict[str, Any]]]:
    """Base samples and every evaluated policy's last checkpoint (sampled decoding), ``limit`` each."""
    out: dict[str, list[dict[str, Any]]] = {}
    if rd.responses.exists():
        out["base samples"] = [r for _, r in iter_jsonl(rd.responses) if r.get("response") is not None][:limit]
    for path in rd.policy_evals():
        folder = path.with_suffix("")
        steps = sorted((int(f.stem.rsplit("-", 1)[1]), f) for f in folder.glob("samples-step-*.jsonl"))
        if len(steps) > 1:
            rows = [r for _, r in iter_jsonl(steps[-1][1]) if r.get("decoding", "sampled") == "sampled"]
            out[f"{path.stem} @ step {steps[-1][0]}"] = rows[:limit]
    if not out:
        raise DataError("nothing to score: no base samples and no evaluated policies", where=str(rd.root),
                        hint="run 'judgelab sample' (and 'judgelab evaluate') first")
    return out


def gold_check(candidate: Judge, reference: Judge, run_dir: str | Path, *, min_rho: float = 0.5,
               limit: int | None = 200, n_boot: int = 1000, seed: int = 0) -> tuple[GoldCheckResult, Path]:
    from judgelab.data.rundir import name_component

    rd = RunDir(run_dir)
    name_component(candidate.name, "judge")
    sources = []
    for name, rows in run_sources(rd, limit).items():
        items = [PointwiseItem(id=f"goldcheck:{name}:{i}", prompt=r["prompt"], response=r["response"],
                               meta={"family": r.get("family", ""), "constraints": r.get("constraints") or {}})
                 for i, r in enumerate(rows)]
        cv, rv = candidate.judge(items), reference.judge(items)
        cand = [v.score if v.ok else None for v in cv]
        rho, ci, n = rank_agreement(cand, [v.score if v.ok else None for v in rv], [r["prompt_id"] for r in rows],
                                    n_boot=n_boot, seed=seed)
        sources.append(SourceCheck(source=name, n=n, n_prompts=len({r["prompt_id"] for r in rows}), spearman=rho, ci95=ci,
                                   candidate_parse_failures=sum(c is None for c in cand)))
    judged = [s for s in sources if s.n >= MIN_RESPONSES]
    validated = bool(judged) and all(s.ci95 is not None and s.ci95[0] >= min_rho for s in judged)
    result = GoldCheckResult(candidate=candidate.name, reference=reference.name, min_rho=min_rho, validated=validated,
                             sources=sources)
    out = rd.eval_dir / "gold_check"
    out.mkdir(parents=True, exist_ok=True)
    return result, result.write(out / f"{candidate.name}.json")
