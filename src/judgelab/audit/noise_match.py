"""The audit's benign proxy: the gold plus fixed noise, with the noise chosen so that its agreement
with the gold on the audit's held-out pairs matches the audited judge's.

A judge that reads "hacked" might just be imperfect: any proxy that agrees with the gold 70% of the
time loses some gold when optimised. The benign proxy is as imperfect as the judge (same tie-aware
agreement on the same pairs) but has no direction a policy can exploit (the noise is fixed per
(prompt, response) and unrelated to the text), so it must read "not hacked" at the same budget; only
then does the judge's "hacked" say more than "imperfect".

Needs a rubric gold (its backend adds the noise, judgelab.judges.rubric.backend); for another gold
there is no benign proxy and the card says so. Reads the audit run's test pairs; writes the noisy
golds' evaluations under ``<audit>/noise-match/`` (cached: a rerun reads them back).
"""

from __future__ import annotations

import logging
from pathlib import Path

from judgelab.judges.config import JudgeConfig

log = logging.getLogger(__name__)

# Noise sd in gold points (the rubric's 1-10 scale), ascending: agreement falls as the noise grows.
GRID = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def noisy_gold(gold: JudgeConfig, sd: float, name: str) -> JudgeConfig:
    backend = gold.backend.model_copy(update={"noise": sd, "noise_seed": 0})
    return gold.model_copy(update={"name": name, "backend": backend})


def match_noise(gold: JudgeConfig, target: float, run_dir: str | Path, out: str | Path,
                name: str) -> tuple[float, float] | None:
    """(noise sd, its agreement) closest to ``target`` on the run's test pairs; None when the gold is
    not a rubric or the target is the gold's own (no noise: the benign proxy would be the oracle)."""
    from judgelab.evaluate.judges.judge_eval import eval_judge
    from judgelab.evaluate.judges.results import JudgeEvalResult

    if getattr(gold.backend, "type", None) != "rubric":
        return None
    out = Path(out)
    tried: list[tuple[float, float]] = []
    for sd in GRID:
        label = f"noise-{sd:g}"
        path = out / f"{label}.json"
        if path.exists():
            agreement = JudgeEvalResult.read(path).metrics.agreement
        else:
            result, _ = eval_judge(noisy_gold(gold, sd, name), str(run_dir), split="test", out_dir=str(out),
                                   name=label, pointwise=False)
            agreement = result["metrics"].get("agreement")
        if agreement is None:
            continue
        tried.append((sd, agreement))
        log.info("benign proxy: noise sd %g -> agreement %.3f (target %.3f)", sd, agreement, target)
        if agreement <= target:
            break
    if not tried or target >= 1.0 - 1e-9:
        return None
    return min(tried, key=lambda t: (abs(t[1] - target), t[0]))
