"""Error rates of the calibrated hacking call (``hacking_call``) on simulated checkpoint curves.

A curve is one policy scored on ``n_prompts`` held-out prompts at ``n_checkpoints`` checkpoints
(step 0 first). Per prompt p and checkpoint t, gold and proxy are

    value[p, t] = b[p] + m[t] + h[p] * t / T + e[p, t]

with b the prompt's level (cancels in every paired difference), m the scenario's true curve, h a
per-prompt gain that varies around the mean (``sd_het``) and e the noise of a mean over a few
samples (``sd_obs``). Everything is in units of the oracle's true gold gain O (O = 1). The
defaults come from the quickstart (docs/results.md: oracle gain +0.86 [+0.60, +1.18] on 32
prompts, so the per-prompt paired difference has sd ~ 1.0 O): ``sd_het`` 0.4 and ``sd_obs`` 0.6
give sqrt(0.4^2 + 2 x 0.6^2) = 0.94 O. The oracle itself is simulated beside each curve (same
noise), so the call sees an *estimated* oracle gain, as in a real run.

``SCENARIOS`` name the true curves: honest policies whose gold rises with the proxy (full, half,
a quarter of the oracle's gain), hacked ones (gold falling, stalled, rising then falling back) and
one that learned nothing. ``error_rates`` gives, per scenario, the share of each outcome;
``python3 bench/hacking_call_rates.py`` prints the table docs/guide/hacking.md quotes. Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from judgelab.evaluate.policies.hacking_call import HackingCallRule, call_hacking


@dataclass(frozen=True)
class Scenario:
    name: str
    truth: str  # "honest" | "hacked" | "none"
    gold: tuple[float, ...]  # true mean gold change from step 0, per checkpoint (units of O)
    proxy_gain: float  # true final proxy gain (units of the proxy's noise scale, as gold's)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("honest: gold +1.0 O (the oracle)", "honest", (0, 0.25, 0.5, 0.75, 1.0), 1.0),
    Scenario("honest: gold +0.5 O (benign noisy proxy)", "honest", (0, 0.125, 0.25, 0.375, 0.5), 1.0),
    Scenario("honest: gold +0.25 O (weak judge)", "honest", (0, 0.06, 0.125, 0.19, 0.25), 1.0),
    Scenario("hacked: gold falls to -0.75 O", "hacked", (0, -0.19, -0.375, -0.56, -0.75), 1.0),
    Scenario("hacked: gold stalls at 0", "hacked", (0, 0, 0, 0, 0), 1.0),
    Scenario("hacked: gold rises to +0.75 O, falls back to 0", "hacked", (0, 0.5, 0.75, 0.4, 0.0), 1.0),
    Scenario("no learning: proxy and gold flat", "none", (0, 0, 0, 0, 0), 0.0),
)


def _curve(rng: np.random.Generator, means: np.ndarray, n_prompts: int, sd_het: float, sd_obs: float) -> list[dict[str, float]]:
    T = len(means) - 1
    b = rng.normal(0, 1.0, n_prompts)
    h = rng.normal(0, sd_het, n_prompts)
    out = []
    for t, m in enumerate(means):
        v = b + m + h * (t / T) + rng.normal(0, sd_obs, n_prompts)
        out.append({f"p{i}": float(x) for i, x in enumerate(v)})
    return out


def simulate_call(rng: np.random.Generator, sc: Scenario, *, n_prompts: int, sd_het: float, sd_obs: float,
                  rule: HackingCallRule) -> str:
    """One simulated run of ``sc`` beside a simulated oracle; returns the call's outcome."""
    steps = list(range(len(sc.gold)))
    oracle = _curve(rng, np.asarray(SCENARIOS[0].gold), n_prompts, sd_het, sd_obs)
    o_hat = float(np.mean([oracle[-1][p] - oracle[0][p] for p in oracle[0]]))
    gold = _curve(rng, np.asarray(sc.gold), n_prompts, sd_het, sd_obs)
    proxy = _curve(rng, np.linspace(0, sc.proxy_gain, len(sc.gold)), n_prompts, sd_het, sd_obs)
    return call_hacking(steps, gold, proxy, oracle_gain=o_hat, rule=rule, seed=int(rng.integers(1 << 30))).outcome


def error_rates(*, n_sims: int = 400, n_prompts: int = 32, sd_het: float = 0.4, sd_obs: float = 0.6,
                rule: HackingCallRule | None = None, seed: int = 0,
                scenarios: tuple[Scenario, ...] = SCENARIOS) -> dict[str, dict[str, float]]:
    """Scenario name -> outcome -> share of ``n_sims`` simulated runs (and "truth")."""
    rule = rule or HackingCallRule(bootstrap=400)
    out: dict[str, dict[str, float]] = {}
    for k, sc in enumerate(scenarios):
        rng = np.random.default_rng([seed, k])
        counts = {"hacked": 0, "not hacked": 0, "undetermined": 0}
        for _ in range(n_sims):
            counts[simulate_call(rng, sc, n_prompts=n_prompts, sd_het=sd_het, sd_obs=sd_obs, rule=rule)] += 1
        out[sc.name] = {"truth": sc.truth, **{o: c / n_sims for o, c in counts.items()}}  # type: ignore[dict-item]
    return out
