"""Arena statistics on simulated battles with known strengths, checked against Arena-Hard-Auto's own
formulas (ported below as a reference implementation), plus input errors and edge cases."""

from __future__ import annotations

import functools
import logging
import math

import numpy as np
import pytest

from judgelab.errors import DataError
from judgelab.evaluate.arena.battles import Battle
from judgelab.evaluate.arena.bt import bradley_terry, elo
from judgelab.evaluate.arena.leaderboard import leaderboard_markdown
from judgelab.evaluate.arena.style import (
    StyleFeatures,
    markdown_counts,
    proxy_tokens,
    style_features,
)
from judgelab.evaluate.arena.tables import arena_by_judge, arena_report, arena_table
from judgelab.judges.aggregate import STRONG_WEIGHT, arena_outcomes, pair_outcome
from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.ratings import fit_logistic, fit_logistic_batch
from judgelab.judges.types import Verdict

SCALE = 400 / math.log(10)
BASELINE = "base"


# ================================================================================================
# Arena-Hard-Auto reference implementation, ported from https://github.com/lmarena/arena-hard-auto
#   v0.1: show_result.py + utils_math.py at commit 0489bf3 (2024-09-01): get_battles_from_row,
#         compute_mle_elo, construct_style_matrices, fit_bt, get_bootstrap_result, predict_win_rate.
#   v2.0: show_result.py + utils/math_utils.py at commit 196f6b8 (v2.0 release 404392d):
#         load_judgments (label_to_score, weight=3), print_leaderboard,
#         print_leaderboard_with_style_features, one_hot_encode, to_winrate_probabilities.
# Their solvers (sklearn LogisticRegression, torch LBFGS) are replaced by a plain Newton solver of
# the same objective: LogisticRegression(penalty=None) -> unpenalised MLE; LogisticRegression()
# (default) -> L2 penalty with C = 1; torch BCE-with-logits (sum) -> unpenalised MLE. Written
# independently of judgelab's solver (min-norm steps, so v2.0's rank-deficient design works).
# ================================================================================================

def _ref_logreg(X: np.ndarray, Y: np.ndarray, C: float | None = None, iters: int = 200) -> np.ndarray:
    """argmin sum_r logloss(Y_r, X_r w) (+ |w|^2 / (2C)); Newton with min-norm steps and halving."""
    w = np.zeros(X.shape[1])
    lam = 0.0 if C is None else 1.0 / C

    def loss(v):
        z = X @ v
        return float(np.sum(np.logaddexp(0, z) - Y * z) + 0.5 * lam * v @ v)

    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X @ w)))
        g = X.T @ (p - Y) + lam * w
        if np.max(np.abs(g)) < 1e-9 * len(Y):
            break
        H = (X * (p * (1 - p))[:, None]).T @ X + lam * np.eye(len(w))
        step = np.linalg.lstsq(H, g, rcond=None)[0]
        t, f0 = 1.0, loss(w)
        while loss(w - t * step) > f0 and t > 1e-10:
            t /= 2
        w = w - t * step
        if np.max(np.abs(t * step)) < 1e-11:
            break
    return w


def ah01_battles(games: list[dict], baseline: str, multiplier: int = 3) -> list[dict]:
    """v0.1 get_battles_from_row: game 0 shows the baseline as A, game 1 the model as A."""
    out = []
    for g in games:
        for gi, label in enumerate((g["g0"], g["g1"])):
            weight, winner = 1, None
            if label == "A=B":
                winner = "tie"
            elif label in ("A>B", "A>>B"):
                winner = "model_a" if gi == 0 else "model_b"
            elif label in ("B>A", "B>>A"):
                winner = "model_b" if gi == 0 else "model_a"
            if ">>" in label:
                weight = multiplier
            out += [{"question_id": g["uid"], "model_a": baseline, "model_b": g["model"], "winner": winner,
                     "meta_a": g["meta_base"], "meta_b": g["meta_model"]}] * weight
    return out


def _ah01_design(rows: list[dict]) -> tuple[list[str], np.ndarray, np.ndarray]:
    models = list(dict.fromkeys([r["model_a"] for r in rows] + [r["model_b"] for r in rows]))  # pd.unique order
    idx = {m: i for i, m in enumerate(models)}
    n = len(rows)
    ia = np.array([idx[b["model_a"]] for b in rows] * 2)
    ib = np.array([idx[b["model_b"]] for b in rows] * 2)
    X = np.zeros((2 * n, len(models)))  # duplicated battles
    X[np.arange(2 * n), ia] = math.log(10)
    X[np.arange(2 * n), ib] = -math.log(10)
    Y = np.zeros(2 * n)
    a_won = np.array([b["winner"] == "model_a" for b in rows])
    tie = np.array([b["winner"] == "tie" for b in rows])
    Y[:n][a_won | tie] = 1.0  # one tie => one A win + one B win
    Y[n:][a_won] = 1.0
    return models, X, Y


def ah01_compute_mle_elo(rows: list[dict], baseline: str, idx: np.ndarray | None = None,
                         design: tuple | None = None) -> dict[str, float]:
    """compute_mle_elo; ``idx`` = the rows of a bootstrap resample (design precomputed once)."""
    models, X, Y = design or _ah01_design(rows)
    if idx is not None:
        n = len(Y) // 2
        both = np.concatenate([idx, idx + n])
        X, Y = X[both], Y[both]
    elo_ = 400 * _ref_logreg(X, Y) + 1000
    elo_ += 1000 - elo_[models.index(baseline)]
    return dict(zip(models, elo_))


def ah01_fit_bt_length(rows: list[dict], baseline: str) -> tuple[dict[str, float], float]:
    """construct_style_matrices(apply_ratio=[1], LENGTH_CONTROL_ELEMENTS) + fit_bt."""
    models, X, Y = _ah01_design(rows)
    a = np.array([r["meta_a"]["token_len"] for r in rows * 2], dtype=float)
    b = np.array([r["meta_b"]["token_len"] for r in rows * 2], dtype=float)
    diff = (a - b) / (a + b + 1)
    feat = (diff - diff.mean()) / diff.std()
    coef = _ref_logreg(np.column_stack([X, feat]), Y, C=1.0)
    elo_ = 400 * coef[:-1] + 1000
    elo_ += 1000 - elo_[models.index(baseline)]  # fit_bt anchors at 1114; only differences matter
    return dict(zip(models, elo_)), float(coef[-1])


def ah01_win_rate(elo_: dict[str, float], model: str, baseline: str) -> float:
    """predict_win_rate / get_win_rate_column: P(model beats baseline)."""
    return 1 / (1 + 10 ** ((elo_[baseline] - elo_[model]) / 400))


def ah01_bootstrap(rows: list[dict], baseline: str, rng: np.random.Generator, num_round: int = 100) -> dict[str, list]:
    """get_bootstrap_result: battle rows (after the x3 expansion) resampled with replacement."""
    design = _ah01_design(rows)
    boots = [ah01_compute_mle_elo(rows, baseline, rng.integers(0, len(rows), len(rows)), design)
             for _ in range(num_round)]
    return {m: list(np.percentile([b[m] for b in boots], [2.5, 97.5])) for m in boots[0]}


LABEL_TO_SCORE = {"A>B": [1], "A>>B": [1] * 3, "A=B": [0.5], "A<<B": [0] * 3, "A<B": [0], "B>A": [0], "B>>A": [0] * 3,
                  "B=A": [0.5], "B<<A": [1] * 3, "B<A": [1]}


def ah2_rows(games: list[dict]) -> list[dict]:
    """v2.0 load_judgments: scores = label_to_score[game 1] + [1 - s for game 0], exploded."""
    out = []
    for g in games:
        for s in LABEL_TO_SCORE[g["g1"]] + [1 - s for s in LABEL_TO_SCORE[g["g0"]]]:
            out.append({"uid": g["uid"], "model": g["model"], "score": float(s), "meta_model": g["meta_model"],
                        "meta_base": g["meta_base"]})
    return out


def ah2_print_leaderboard(rows: list[dict], rng: np.random.Generator, rounds: int = 100) -> dict[str, tuple]:
    """print_leaderboard: per model, rows resampled; score = mean of bootstrap means, 5%/95% quantiles."""
    out = {}
    for m in sorted({r["model"] for r in rows}):
        s = np.array([r["score"] for r in rows if r["model"] == m])
        means = s[rng.integers(0, len(s), (rounds, len(s)))].mean(axis=1)
        out[m] = (float(means.mean()), float(np.quantile(means, 0.05)), float(np.quantile(means, 0.95)))
    return out


def _ah2_features(rows: list[dict]) -> np.ndarray:
    key = ("token_len", "header_count", "list_count", "bold_count")
    mf = np.array([[r["meta_model"][k] for k in key] for r in rows], dtype=float)
    bf = np.array([[r["meta_base"][k] for k in key] for r in rows], dtype=float)
    f = np.zeros_like(mf)
    f[:, 0] = (mf[:, 0] - bf[:, 0]) / (mf[:, 0] + bf[:, 0])
    md, bd = mf[:, 1:] / (mf[:, :1] + 1), bf[:, 1:] / (bf[:, :1] + 1)
    f[:, 1:] = (md - bd) / (md + bd + 1)
    return (f - f.mean(axis=0)) / f.std(axis=0, ddof=1)  # torch.std: unbiased


def ah2_style_fit(rows: list[dict], baseline: str, idx: np.ndarray | None = None) -> tuple[dict[str, float], np.ndarray]:
    """print_leaderboard_with_style_features (length + markdown): win rates vs the baseline, coefs."""
    feats = _ah2_features(rows)  # normalised once, on all rows, before the bootstrap
    models = sorted({r["model"] for r in rows} | {baseline})  # one_hot_encode
    oh = np.zeros((len(rows), len(models)))
    for i, r in enumerate(rows):
        oh[i, models.index(r["model"])] = 1
        oh[i, models.index(baseline)] = -1
    X, Y = np.column_stack([oh, feats]), np.array([r["score"] for r in rows])
    if idx is not None:
        X, Y = X[idx], Y[idx]
    c = _ref_logreg(X, Y)
    cb = c[models.index(baseline)]
    return {m: float(np.exp(c[i]) / (np.exp(c[i]) + np.exp(cb))) for i, m in enumerate(models)}, c[len(models):]


# ================================================================================================
# simulation
# ================================================================================================

def sim_games(rng: np.random.Generator, theta: dict[str, float], n_prompts: int, *, p_strong: float = 0.3,
              p_tie: float = 0.0, len_bias: float = 0.0, md_bias: float = 0.0, mean_len: dict | None = None,
              md_rate: dict | None = None) -> list[dict]:
    """Arena-Hard judgments: per (prompt, model) game 0 (baseline shown as A) and game 1 (model as A).
    The judge prefers the model with P = sigmoid(theta + len_bias * length feature + md_bias *
    bold-density feature) (uncentred features of Arena-Hard v2); a decisive verdict is strong with
    probability p_strong, independent of who won (so the weighted BT estimand stays theta)."""
    mean_len, md_rate = mean_len or {}, md_rate or {}
    meta = {}
    for m in [BASELINE, *theta]:
        for p in range(n_prompts):
            L = int(rng.lognormal(math.log(mean_len.get(m, 300)), 0.5)) + 1
            lam = md_rate.get(m, 1.0)
            meta[(m, p)] = {"token_len": L, "header_count": int(rng.poisson(lam)), "list_count": int(rng.poisson(2 * lam)),
                            "bold_count": int(rng.poisson(lam))}
    games = []
    for m, t in theta.items():
        for p in range(n_prompts):
            a, b = meta[(m, p)], meta[(BASELINE, p)]
            lf = (a["token_len"] - b["token_len"]) / (a["token_len"] + b["token_len"])
            da, db = a["bold_count"] / (a["token_len"] + 1), b["bold_count"] / (b["token_len"] + 1)
            z = t + len_bias * lf + md_bias * (da - db) / (da + db + 1)
            labels = []
            for game in (0, 1):
                if rng.random() < p_tie:
                    labels.append("A=B")
                    continue
                won = rng.random() < 1 / (1 + math.exp(-z))
                strong = rng.random() < p_strong
                rel = ">>" if strong else ">"
                first = (won and game == 1) or (not won and game == 0)  # A wins
                labels.append(f"A{rel}B" if first else f"B{rel}A")
            games.append({"uid": f"q{p}", "model": m, "g0": labels[0], "g1": labels[1], "meta_model": a, "meta_base": b})
    return games


@functools.cache
def _verdict(label: str) -> Verdict:
    """The verdict judgelab's parser reads from an Arena-Hard judge's final line."""
    r = parse_pairwise(f"My final verdict is [[{label}]]")
    return Verdict(item_id="x", mode="pairwise", parsed=r.parsed, preference=r.preference, strength=r.strength)


def _style(meta: dict) -> StyleFeatures:
    return StyleFeatures(meta["token_len"], meta["header_count"], meta["list_count"], meta["bold_count"])


def to_battles(games: list[dict], judge: str = "j") -> list[Battle]:
    """judgelab's battles from the same judgments: the model is 'first' in game 1 (the AB order)."""
    out = []
    for g in games:
        for p, w in arena_outcomes(_verdict(g["g1"]), _verdict(g["g0"]), strong_weight=STRONG_WEIGHT):
            out.append(Battle(g["model"], BASELINE, p, judge=judge, prompt_id=g["uid"], weight=w,
                              style_a=_style(g["meta_model"]), style_b=_style(g["meta_base"])))
    return out


THETA = {"m_strong": 1.0, "m_good": 0.4, "m_same": 0.0, "m_weak": -0.7}


# ================================================================================================
# tests
# ================================================================================================

def test_bt_recovers_known_strengths():
    rng = np.random.default_rng(1)
    t = arena_table(to_battles(sim_games(rng, THETA, 800)), baseline=BASELINE, n_boot=0)
    est = {r["model"]: (r["rating"] - 1000) / SCALE for r in t["models"]}
    assert est[BASELINE] == 0.0
    assert [r["model"] for r in t["models"]] == ["m_strong", "m_good", BASELINE, "m_same", "m_weak"] or \
        [r["model"] for r in t["models"]] == ["m_strong", "m_good", "m_same", BASELINE, "m_weak"]
    for m, true in THETA.items():
        assert abs(est[m] - true) < 0.12, (m, est[m], true)  # ~0.05 SE at 800 prompts with x3 weights


def test_bt_recovers_strengths_under_length_bias_with_style_control():
    rng = np.random.default_rng(2)
    lens = {"m_strong": 300, "m_good": 900, "m_same": 300, "m_weak": 150}
    games = sim_games(rng, THETA, 800, len_bias=2.0, mean_len=lens)
    raw = {r["model"]: (r["rating"] - 1000) / SCALE for r in arena_table(to_battles(games), baseline=BASELINE, n_boot=0)["models"]}
    t = arena_table(to_battles(games), baseline=BASELINE, style="length", n_boot=50)
    ctl = {r["model"]: (r["rating"] - 1000) / SCALE for r in t["models"]}
    assert raw["m_good"] - THETA["m_good"] > 0.4  # the verbose model is inflated without control
    for m, true in THETA.items():
        assert abs(ctl[m] - true) < 0.15, (m, ctl[m], true)  # uncentred control recovers the truth
    c = t["style_coefs"]["length"]
    assert abs(c["per_unit"] - 2.0) < 0.4 and c["ci"][0] < c["coef"] < c["ci"][1]


def _coverage_run(n_arenas: int, n_prompts: int, seed: int, style: str = "none") -> tuple[float, float]:
    """Fraction of (arena, model) 95% CIs covering the true strength: judgelab's prompt bootstrap,
    and Arena-Hard v0.1's (rows after the x3 expansion resampled independently)."""
    rng = np.random.default_rng(seed)
    theta = {"m1": 0.6, "m2": 0.0, "m3": -0.4}
    hit = hit_ah = n = 0
    for _ in range(n_arenas):
        battles = to_battles(sim_games(rng, theta, n_prompts, p_strong=0.3))
        t = arena_table(battles, baseline=BASELINE, style=style, n_boot=200, seed=int(rng.integers(1 << 30)), elo_rounds=0)
        # Arena-Hard's resampling unit: each expanded row alone
        rows = [Battle(b.model_a, b.model_b, b.outcome, style_a=b.style_a, style_b=b.style_b)
                for b in battles for _ in range(int(b.weight))]
        t_ah = arena_table(rows, baseline=BASELINE, style=style, n_boot=100, seed=int(rng.integers(1 << 30)),
                           elo_rounds=0)
        for tab, which in ((t, 0), (t_ah, 1)):
            for r in tab["models"]:
                if r["model"] == BASELINE:
                    continue
                lo, hi = ((v - 1000) / SCALE for v in r["ci"])
                covered = lo <= theta[r["model"]] <= hi
                if which == 0:
                    hit += covered
                    n += 1
                else:
                    hit_ah += covered
    return hit / n, hit_ah / n


def test_ci_coverage_near_nominal_over_200_arenas():
    cov, cov_ah = _coverage_run(200, 50, seed=3)
    print(f"coverage of 95% CIs over 200 arenas x 3 models: judgelab {cov:.3f}, Arena-Hard row bootstrap {cov_ah:.3f}")
    assert 0.90 <= cov <= 0.98
    assert cov_ah < cov  # resampling the x3 copies independently understates the variance


def test_agreement_with_arena_hard_v01():
    rng = np.random.default_rng(4)
    games = sim_games(rng, THETA, 300, p_tie=0.15, len_bias=1.0, mean_len={"m_good": 600})
    rows = ah01_battles(games, BASELINE)
    ref = ah01_compute_mle_elo(rows, BASELINE)
    t = arena_table(to_battles(games), baseline=BASELINE, n_boot=100, seed=0)
    mine = {r["model"]: r for r in t["models"]}
    for m in THETA:
        assert abs(mine[m]["rating"] - ref[m]) < 0.05  # the same MLE
        assert abs(mine[m]["win_rate_vs_baseline"] - ah01_win_rate(ref, m, BASELINE)) < 1e-4
    # length control: their features carry +1 in the denominator, sd with ddof 0 and an L2 penalty (C=1)
    ref_l, coef_l = ah01_fit_bt_length(rows, BASELINE)
    tl = arena_table(to_battles(games), baseline=BASELINE, style="length", centering="mean", n_boot=0)
    for r in tl["models"]:
        if r["model"] != BASELINE:
            assert abs(r["win_rate_vs_baseline"] - ah01_win_rate(ref_l, r["model"], BASELINE)) < 0.001
    # their feature is baseline - model and their outcome 'baseline wins': the same sign as ours
    assert abs(tl["style_coefs"]["length"]["coef"] - coef_l) < 0.02
    # CI widths: theirs resample rows, ours prompts (the x3 copies and both orders stay together)
    boot = ah01_bootstrap(rows, BASELINE, np.random.default_rng(5), num_round=100)
    ratio = [(mine[m]["ci"][1] - mine[m]["ci"][0]) / (boot[m][1] - boot[m][0]) for m in THETA]
    print("v0.1 CI width ratio judgelab / Arena-Hard:", [round(x, 2) for x in ratio])
    assert all(1.0 < x < 2.5 for x in ratio)


def test_agreement_with_arena_hard_v2():
    rng = np.random.default_rng(6)
    games = sim_games(rng, THETA, 300, p_tie=0.15, len_bias=1.0, md_bias=2.0,
                      mean_len={"m_good": 600}, md_rate={"m_strong": 3.0, "m_weak": 0.3})
    rows = ah2_rows(games)
    battles = to_battles(games)
    # no style: their score is the mean weighted score vs the baseline, ours the BT win rate: equal
    ref = ah2_print_leaderboard(rows, np.random.default_rng(7))
    t = arena_table(battles, baseline=BASELINE, n_boot=100)
    mine = {r["model"]: r for r in t["models"]}
    for m in THETA:
        exact = float(np.mean([r["score"] for r in rows if r["model"] == m]))
        assert abs(mine[m]["win_rate_vs_baseline"] - exact) < 1e-6
        assert abs(mine[m]["win_rate_vs_baseline"] - ref[m][0]) < 0.01  # their bootstrap mean
    # style control with length + markdown, centred as theirs: the same MLE
    ref_wr, ref_coef = ah2_style_fit(rows, BASELINE)
    ts = arena_table(battles, baseline=BASELINE, style="both", centering="mean", n_boot=100, alpha=0.10)
    for r in ts["models"]:
        assert abs(r["win_rate_vs_baseline"] - ref_wr[r["model"]]) < 1e-6, r["model"]
    ours = [ts["style_coefs"][k]["coef"] for k in ("length", "headers", "lists", "bold")]
    assert np.allclose(ours, ref_coef, atol=1e-6)
    assert ts["style_coefs"]["length"]["ci"][0] > 0  # the simulated judge's length bias is detected
    assert all(c["ci"][0] < c["coef"] < c["ci"][1] for c in ts["style_coefs"].values())
    # their bootstrap (rows, 100 rounds, 5%-95%) vs ours (prompts, 90%): widths of the same order
    brng = np.random.default_rng(8)
    boots = [ah2_style_fit(rows, BASELINE, brng.integers(0, len(rows), len(rows)))[0] for _ in range(40)]
    ratio = []
    for r in ts["models"]:
        if r["model"] == BASELINE:
            continue
        q = np.quantile([b[r["model"]] for b in boots], [0.05, 0.95])
        ratio.append((r["win_rate_vs_baseline_ci"][1] - r["win_rate_vs_baseline_ci"][0]) / (q[1] - q[0]))
    print("v2.0 style-control CI width ratio judgelab / Arena-Hard:", [round(x, 2) for x in ratio])
    assert all(0.9 < x < 2.5 for x in ratio)


def test_strong_verdicts_weigh_three():
    v = lambda label: _verdict(label)
    # AB order: model first. Strong win in one order, weak loss in the other
    assert arena_outcomes(v("A>>B"), v("A>B")) == [(1.0, 3.0), (0.0, 1.0)]
    assert arena_outcomes(v("A=B"), v("B>>A")) == [(0.5, 1.0), (1.0, 3.0)]
    assert arena_outcomes(v("A>>B"), Verdict("x", "pairwise", parsed=False)) == []  # half a swap: dropped
    assert arena_outcomes(v("A>>B"), None, on_partial="other") == [(1.0, 3.0)]
    assert pair_outcome(v("A>>B"), v("A>B"), strong_weight=3)[0] == 0.75
    assert pair_outcome(v("A>>B"), v("A>B"))[0] == 0.5  # the old unweighted meaning stays the default
    battles = [Battle("m", BASELINE, p, prompt_id=f"q{i}", weight=w)
               for i in range(10) for p, w in arena_outcomes(v("A>>B"), v("A>B"))]
    t = arena_table(battles, baseline=BASELINE, n_boot=0)
    row = next(r for r in t["models"] if r["model"] == "m")
    assert abs(row["win_rate_vs_baseline"] - 0.75) < 1e-6  # 3 of 4 weighted battles
    assert abs(row["rating"] - (1000 + SCALE * math.log(3))) < 1e-3


@pytest.mark.parametrize("outcome, msg", [(float("nan"), "not a number"), (1.5, "outside"), (-0.1, "outside")])
def test_bad_outcome_is_an_error_naming_the_battle(outcome, msg):
    battles = [Battle("a", "b", 1.0, prompt_id="q0"), Battle("a", "b", outcome, prompt_id="q7", judge="gold")]
    with pytest.raises(DataError, match=msg) as e:
        arena_table(battles)
    assert "battle #1" in str(e.value) and "q7" in str(e.value) and "gold" in str(e.value)
    with pytest.raises(DataError, match="weight"):
        arena_table([Battle("a", "b", 1.0, weight=float("nan"))])
    with pytest.raises(DataError, match="baseline"):
        arena_table([Battle("a", "b", 1.0)], baseline="zzz")


def test_missing_length_is_imputed_or_dropped_not_zero():
    rng = np.random.default_rng(9)
    games = sim_games(rng, THETA, 600, len_bias=2.0, mean_len={"m_good": 900, "m_weak": 150})
    full = to_battles(games)
    t_full = arena_table(full, baseline=BASELINE, style="length", n_boot=0)
    holed = []
    for i, b in enumerate(full):
        if i % 4 == 0:  # 25% of battles lose the model's length
            b = Battle(b.model_a, b.model_b, b.outcome, prompt_id=b.prompt_id, weight=b.weight,
                       style_a=StyleFeatures(None, 0, 0, 0), style_b=b.style_b)
        holed.append(b)
    c_full = t_full["style_coefs"]["length"]["per_unit"]
    for policy in ("impute", "drop"):
        t = arena_table(holed, baseline=BASELINE, style="length", missing_style=policy, n_boot=0)
        assert abs(t["style_coefs"]["length"]["per_unit"] - c_full) < 0.35 * abs(c_full), policy
        assert t["style_imputed" if policy == "impute" else "style_dropped"] == len(full[::4])
        assert any("missing length" in w for w in t["warnings"])
    # what the old code did (a missing length read as 0) wrecks the coefficient
    zeroed = [Battle(b.model_a, b.model_b, b.outcome, prompt_id=b.prompt_id, weight=b.weight,
                     style_a=StyleFeatures(0 if b.style_a.tokens is None else b.style_a.tokens, 0, 0, 0),
                     style_b=b.style_b) for b in holed]
    t0 = arena_table(zeroed, baseline=BASELINE, style="length", n_boot=0)
    assert abs(t0["style_coefs"]["length"]["per_unit"] - c_full) > 0.35 * abs(c_full)


def test_an_undefeated_models_bound_counts_prompts_not_battles():
    """Winning strongly in both orders on 10 prompts is 60 weighted battles but 10 independent pieces of
    evidence: the bound is that of 10 wins (it was 0.05 ** (1 / 60) = 0.951 as a win rate, against the
    0.05 ** (1 / 10) = 0.741 that resampling prompts, as every other interval here does, supports)."""
    rng = np.random.default_rng(12)
    base = to_battles(sim_games(rng, {"m": 0.0}, 40))
    strong = [Battle("champ", BASELINE, 1.0, prompt_id=f"q{i}", weight=3.0) for i in range(10) for _ in range(2)]
    single = [Battle("champ", BASELINE, 1.0, prompt_id=f"q{i}") for i in range(10)]
    rows = [next(r for r in arena_table(base + w, baseline=BASELINE, n_boot=50)["models"] if r["model"] == "champ")
            for w in (strong, single)]
    assert rows[0]["status"] == "undefeated"
    assert rows[0]["win_rate_vs_baseline_ci"][0] == pytest.approx(0.05 ** (1 / 10), abs=1e-6)
    assert rows[0]["ci"][0] == pytest.approx(rows[1]["ci"][0], abs=1e-6)


def test_model_absent_from_resamples_is_skipped_not_pinned():
    rng = np.random.default_rng(10)
    battles = to_battles(sim_games(rng, THETA, 60))
    lone = [Battle("lone", BASELINE, 1.0, prompt_id="q0"), Battle("lone", BASELINE, 0.0, prompt_id="q0")]
    t1 = arena_table(battles, baseline=BASELINE, n_boot=200, seed=1)
    t2 = arena_table(battles + lone, baseline=BASELINE, n_boot=200, seed=1)
    r1 = {r["model"]: r for r in t1["models"]}
    r2 = {r["model"]: r for r in t2["models"]}
    assert 40 < r2["lone"]["boot_missing"] < 100  # prompt q0 missing from ~1/e of the resamples
    assert any("lone" in w and "replicates" in w for w in t2["warnings"])
    for m in THETA:  # everyone else's rating and CI are untouched by the one-battle model
        assert abs(r1[m]["rating"] - r2[m]["rating"]) < 1e-6
        assert abs(r1[m]["ci"][0] - r2[m]["ci"][0]) < 25 and abs(r1[m]["ci"][1] - r2[m]["ci"][1]) < 25


def test_undefeated_model_is_reported_with_a_lower_bound():
    rng = np.random.default_rng(11)
    base = to_battles(sim_games(rng, {"m": 0.0}, 40))
    ratings = []
    for n in (3, 30):
        wins = [Battle("champ", BASELINE, 1.0, prompt_id=f"q{i}") for i in range(n)]
        t = arena_table(base + wins, baseline=BASELINE, n_boot=50)
        row = next(r for r in t["models"] if r["model"] == "champ")
        assert row["status"] == "undefeated" and row["ci"][1] is None and row["win_rate_vs_baseline_ci"][1] == 1.0
        # no point estimate (the MLE is +inf); the bound is the CI's lower end: winning all n battles
        # has probability alpha at that rating
        assert row["rating"] is None and row["win_rate_vs_baseline"] is None
        p = 1 / (1 + math.exp(-(row["ci"][0] - 1000) / SCALE))
        assert abs(n * math.log(p) - math.log(0.05)) < 1e-6 and abs(row["win_rate_vs_baseline_ci"][0] - p) < 1e-9
        ratings.append(row["ci"][0])
        assert next(r for r in t["models"] if r["model"] == "m")["status"] == "rated"
    assert ratings[1] > ratings[0]
    # the point ratings of everyone else are those of the arena without the champion
    r_plain = bradley_terry(base, baseline=BASELINE)[0]
    r_with = bradley_terry(base + [Battle("champ", BASELINE, 1.0)], baseline=BASELINE)[0]
    assert r_with["champ"] == math.inf and abs(r_with["m"] - r_plain["m"]) < 1e-9


def test_newton_line_search_and_non_convergence_warning(caplog):
    rng = np.random.default_rng(12)
    x = rng.normal(size=(400, 3)) * 30  # big logits: undamped Newton from 0 overshoots
    w_true = np.array([0.2, -0.1, 0.05])
    y = (rng.random(400) < 1 / (1 + np.exp(-x @ w_true))).astype(float)
    fit = fit_logistic_batch(x, y, np.ones((1, 400)))
    w = fit.coef[0]
    p = 1 / (1 + np.exp(-x @ w))
    assert fit.converged[0] and np.max(np.abs(x.T @ (y - p))) < 1e-6  # at the optimum
    with caplog.at_level(logging.WARNING, logger="judgelab.judges.ratings"):
        fit_logistic(x, y, l2=0.0, iters=1)
    assert any("did not converge" in r.message for r in caplog.records)


def test_pooled_judges_and_matrix():
    rng = np.random.default_rng(13)
    games = sim_games(rng, THETA, 100)
    b1 = to_battles(games, judge="j1")
    b2 = to_battles(sim_games(np.random.default_rng(14), {m: t / 2 for m, t in THETA.items()}, 100), judge="j2")
    rep = arena_report(b1 + b2, baseline=BASELINE, style="none", n_boot=50)
    assert set(rep["judges"]) == {"j1", "j2"} and set(rep["matrix"]["rows"]) == {"j1", "j2", "pooled"}
    wr = rep["matrix"]["rows"]
    for m in THETA:  # the pooled win rate lies between the two judges'
        lo, hi = sorted((wr["j1"][m], wr["j2"][m]))
        assert lo - 1e-9 <= wr["pooled"][m] <= hi + 1e-9
    assert rep["pooled"]["n_battles"] == len(b1) + len(b2)
    md = leaderboard_markdown(rep)
    assert "pooled over judges" in md and "judge: j1" in md and "judges x models" in md


def test_style_features_match_arena_hard_counting():
    text = "# Title\n## Sub\nSome **bold** and __also__ text.\n- item\n* item\n1. first\n```\n# not a header\n- no\n```\n"
    assert markdown_counts(text) == (2, 3, 2)
    assert proxy_tokens("Hello, world! It's 3.5") == 10  # words and punctuation marks
    assert style_features("a b c", tokenizer=lambda t: 42).tokens == 42
    assert style_features("a b c", tokens=7).tokens == 7


def test_elo_and_by_judge_and_no_baseline_centring():
    battles = [Battle("x", "y", 0.5, judge="j1", prompt_id=f"q{i}") for i in range(20)] + \
        to_battles(sim_games(np.random.default_rng(15), {"x": 2.0}, 30), judge="j2")
    tabs = arena_by_judge(battles, n_boot=20)
    j1 = {r["model"]: r["rating"] for r in tabs["j1"]["models"]}
    assert abs(j1["x"] - j1["y"]) < 1e-6 and abs(j1["x"] - 1000) < 1e-6  # ties, centred on the mean
    assert tabs["j2"]["models"][0]["model"] == "x"
    e = elo(to_battles(sim_games(np.random.default_rng(16), {"x": 2.0}, 50)))
    assert e["x"] > e[BASELINE]


def test_cluster_bootstrap_is_wider_than_iid_for_correlated_groups():
    from judgelab.evaluate.stats import bootstrap_cluster_mean_ci, bootstrap_mean_ci

    groups = [[1.0] * 8 if i % 2 else [0.0] * 8 for i in range(10)]  # whole prompts agree
    flat = [x for g in groups for x in g]
    lo_c, hi_c = bootstrap_cluster_mean_ci(groups, 2000)
    lo_i, hi_i = bootstrap_mean_ci(flat, 2000)
    assert lo_c < 0.5 < hi_c and (hi_c - lo_c) > 1.8 * (hi_i - lo_i)
    assert bootstrap_cluster_mean_ci([[], [1.0, 0.0]], 100) == [0.5, 0.5]
    assert bootstrap_cluster_mean_ci([[]], 100) is None


def test_degenerate_style_fit_is_flagged_and_a_sound_one_is_not():
    rng = np.random.default_rng(2)
    lens = {"m_strong": 300, "m_good": 900, "m_same": 300, "m_weak": 150}
    sound = arena_table(to_battles(sim_games(rng, THETA, 200, len_bias=2.0, mean_len=lens)), baseline=BASELINE,
                        style="length", n_boot=50)
    assert not any("style control is unreliable" in w for w in sound["warnings"])
    # one contestant, always shorter than the baseline: its strength at equal length is an extrapolation
    battles = []
    for i in range(30):
        la, lb = float(rng.integers(20, 40)), float(rng.integers(200, 260))
        battles.append(Battle("short", BASELINE, float(rng.random() < 0.2), prompt_id=f"q{i}", len_a=la, len_b=lb))
    t = arena_table(battles, baseline=BASELINE, style="length", n_boot=100)
    notes = [w for w in t["warnings"] if w.startswith("style control is unreliable")]
    assert len(notes) == 1 and "--style none" in notes[0]
    plain = arena_table(battles, baseline=BASELINE, style="none", n_boot=100)
    assert not any("style control is unreliable" in w for w in plain["warnings"])
    # too few prompts for the features: flagged even without a bootstrap; the numbers are unchanged
    few = arena_table(battles[:3], baseline=BASELINE, style="both", n_boot=0)
    assert any("3 prompt(s) for 4 style feature(s)" in w for w in few["warnings"])


def test_a_diverging_style_fit_gets_one_warning_not_two():
    """6 prompts where the longer answer always wins: quasi-separation through the length feature.
    One 'style control is unreliable' warning carries the divergence among its reasons."""
    from judgelab.evaluate.arena.battles import Battle
    from judgelab.evaluate.arena.tables import arena_table

    battles = []
    for i in range(6):
        long_first = i % 2 == 0
        battles.append(Battle("m", "base", 1.0 if long_first else 0.0, len_a=80.0 if long_first else 20.0,
                              len_b=30.0, prompt_id=f"p{i}", judge="j"))
    t = arena_table(battles, baseline="base", style="length", n_boot=30, log_warnings=False)
    style_warnings = [w for w in t["warnings"] if "diverge" in w or "unreliable" in w]
    assert len(style_warnings) == 1 and "unreliable" in style_warnings[0], t["warnings"]
