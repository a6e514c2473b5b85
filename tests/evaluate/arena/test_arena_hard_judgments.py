"""`judgelab arena --judgments` (issue 25): Arena-Hard-Auto's own judgment files become the arena's
battles, no judge called, and a new model judged by a judgelab judge joins the same leaderboard.

The fixtures (tests/fixtures/arena_hard/) are Arena-Hard-Auto's layouts: v0.1 judgments as its 2024
``gen_judgment.py`` wrote them ({question_id, model, judge, games: [{user_prompt, judgment, score}]}),
v2.0 as the v2.0 one does ({uid, category, judge, model, baseline, games: [{score, judgment,
prompt}]}, a null game for a failed call), answers {uid, model, messages, metadata}, question.jsonl.
The expected leaderboards are computed here from the raw JSON by the peer's own formulas
(lmarena/arena-hard-auto: v0.1 show_result.py get_battles_from_row + utils_math.py compute_mle_elo
at ff46f0a; v2.0 show_result.py load_judgments, print_leaderboard, print_leaderboard_with_style_features
+ utils/math_utils.py one_hot_encode, to_winrate_probabilities at 196f6b8), with a plain Newton
logistic regression in place of sklearn / torch LBFGS."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from judgelab.cli import cli, main
from judgelab.errors import ConfigError, DataError
from judgelab.evaluate.arena.arena_hard import read_judgments
from judgelab.evaluate.arena.tables import arena_table
from judgelab.lm import register_backend
from judgelab.lm.types import Generation, GenerationRequest

FIX = Path(__file__).parents[2] / "fixtures" / "arena_hard"
V01, V2 = FIX / "arena-hard-v0.1", FIX / "arena-hard-v2.0"
V01_JUDGMENTS = V01 / "model_judgment" / "gpt-4-1106-preview"
V2_JUDGMENTS = V2 / "model_judgment"


def rows_of(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.rglob("*.jsonl")) for line in f.read_text().splitlines() if line]


def logreg(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Unpenalised logistic regression, no intercept (Newton, min-norm steps for their rank-deficient designs)."""
    w = np.zeros(X.shape[1])

    def loss(v):
        z = X @ v
        return float(np.sum(np.logaddexp(0, z) - Y * z))

    for _ in range(200):
        p = 1 / (1 + np.exp(-(X @ w)))
        step = np.linalg.lstsq((X * (p * (1 - p))[:, None]).T @ X, X.T @ (p - Y), rcond=None)[0]
        t = 1.0
        while loss(w - t * step) > loss(w) and t > 1e-12:
            t /= 2
        w = w - t * step
        if np.abs(t * step).max() < 1e-13:
            break
    return w


# ---- v0.1: show_result.py get_battles_from_row (multiplier 3) and utils_math.py compute_mle_elo ----

def peer_v01_battles(rows: list[dict], baseline: str = "gpt-4-0314", multiplier: int = 3) -> list[dict]:
    out = []
    for row in rows:
        for gi, game in enumerate(row["games"]):
            weight, winner = 1, None
            s = game["score"]
            if s == "A=B":
                winner = "tie"
            elif s in ("A>B", "A>>B"):
                winner = "model_a" if gi == 0 else "model_b"  # game 2: positions swapped
                weight = multiplier if s == "A>>B" else 1
            elif s in ("B>A", "B>>A"):
                winner = "model_b" if gi == 0 else "model_a"
                weight = multiplier if s == "B>>A" else 1
            else:
                weight = 0
            out += [{"model_a": baseline, "model_b": row["model"], "winner": winner}] * weight
    return out


def peer_compute_mle_elo(battles: list[dict], baseline: str = "gpt-4-0314") -> dict[str, float]:
    models = list(dict.fromkeys([b["model_a"] for b in battles] + [b["model_b"] for b in battles]))
    n = len(battles)
    X = np.zeros((2 * n, len(models)))  # battles duplicated
    for i, b in enumerate(battles * 2):
        X[i, models.index(b["model_a"])] = math.log(10)
        X[i, models.index(b["model_b"])] = -math.log(10)
    Y = np.zeros(2 * n)
    for i, b in enumerate(battles):
        Y[i] = b["winner"] in ("model_a", "tie")  # one tie => one A win + one B win
        Y[n + i] = b["winner"] == "model_a"
    elo = 400 * logreg(X, Y) + 1000
    elo += 1000 - elo[models.index(baseline)]
    return dict(zip(models, elo))


# ---- v2.0: show_result.py load_judgments (weight 3) ----

LABEL_TO_SCORE = {"A>B": [1], "A>>B": [1] * 3, "A=B": [0.5], "A<<B": [0] * 3, "A<B": [0], "B>A": [0], "B>>A": [0] * 3,
                  "B=A": [0.5], "B<<A": [1] * 3, "B<A": [1]}


def peer_v2_scores(rows: list[dict], category: str = "hard_prompt") -> list[dict]:
    out = []
    for r in rows:
        g = r["games"]
        if r["category"] != category or g[0] is None or g[1] is None or g[0]["score"] is None or g[1]["score"] is None:
            continue
        for s in LABEL_TO_SCORE[g[1]["score"]] + [1 - s for s in LABEL_TO_SCORE[g[0]["score"]]]:
            out.append({"uid": r["uid"], "model": r["model"].split("/")[-1], "baseline": r["baseline"], "score": s})
    return out


def peer_v2_style_winrates(scores: list[dict], answers: Path) -> dict[str, float]:
    """print_leaderboard_with_style_features(control_features=[markdown, length]) on all rows."""
    meta = {}
    for f in answers.glob("*.jsonl"):
        rows = [json.loads(x) for x in f.read_text().splitlines()]
        meta[rows[0]["model"]] = {r["uid"]: r["metadata"] for r in rows}

    def vec(md):
        return [v if isinstance(v, int) else sum(v.values()) for v in md.values()]

    mf = np.array([vec(meta[s["model"]][s["uid"]]) for s in scores], dtype=float)
    bf = np.array([vec(meta[s["baseline"]][s["uid"]]) for s in scores], dtype=float)
    feat = np.zeros_like(mf)
    feat[:, 0] = (mf[:, 0] - bf[:, 0]) / (mf[:, 0] + bf[:, 0])
    md, bd = mf[:, 1:] / (mf[:, :1] + 1), bf[:, 1:] / (bf[:, :1] + 1)
    feat[:, 1:] = (md - bd) / (md + bd + 1)
    feat = (feat - feat.mean(axis=0)) / feat.std(axis=0, ddof=1)  # torch.std is unbiased
    baseline = scores[0]["baseline"]
    models = sorted({s["model"] for s in scores} | {baseline})  # one_hot_encode
    oh = np.zeros((len(scores), len(models)))
    for i, s in enumerate(scores):
        oh[i, models.index(s["model"])] = 1
        oh[i, models.index(baseline)] = -1
    c = logreg(np.column_stack([oh, feat]), np.array([s["score"] for s in scores], dtype=float))
    cb = c[models.index(baseline)]
    return {m: float(np.exp(c[i]) / (np.exp(c[i]) + np.exp(cb))) for i, m in enumerate(models)}


def write(path: Path, rows: list) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def game(score):
    return {"score": score, "judgment": f"[[{score}]]", "user_prompt": "..."}


# ================================================================================================

def test_games_become_battles_as_arena_hard(tmp_path):
    """Game 1 shows the baseline as A, game 2 the model as A; a strong label weighs 3; a tie is 0.5."""
    f01 = write(tmp_path / "v01" / "gpt-4-1106-preview" / "m.jsonl", [
        {"question_id": "q1", "model": "m", "judge": "gpt-4-1106-preview", "games": [game("A>>B"), game("A>B")]},
        {"question_id": "q2", "model": "m", "judge": "gpt-4-1106-preview", "games": [game("A=B"), game("B>>A")]},
        # v0.1 drops one game whose score is null (no label found) or a label it does not know
        {"question_id": "q3", "model": "m", "judge": "gpt-4-1106-preview", "games": [game("B>A"), game(None)]},
        {"question_id": "q4", "model": "m", "judge": "gpt-4-1106-preview", "games": [game("A<B"), game("B>>A")]},
    ])
    pub = read_judgments([str(f01)])
    got = [(b.model_a, b.model_b, b.outcome, b.weight, b.prompt_id, b.judge) for b in pub.battles]
    assert got == [
        ("m", "gpt-4-0314", 0.0, 3.0, "q1", "gpt-4-1106-preview"),  # baseline (A) much better
        ("m", "gpt-4-0314", 1.0, 1.0, "q1", "gpt-4-1106-preview"),  # swapped: the model (A) better
        ("m", "gpt-4-0314", 0.5, 1.0, "q2", "gpt-4-1106-preview"),
        ("m", "gpt-4-0314", 0.0, 3.0, "q2", "gpt-4-1106-preview"),  # swapped: the baseline (B) much better
        ("m", "gpt-4-0314", 1.0, 1.0, "q3", "gpt-4-1106-preview"),
        ("m", "gpt-4-0314", 0.0, 3.0, "q4", "gpt-4-1106-preview"),
    ]
    assert (pub.dropped_games, pub.ignored_labels, pub.rows) == (2, {"A<B": 1}, 4)
    # the peer's own battle rows: weight = copies
    peer = peer_v01_battles(rows_of(tmp_path / "v01"))
    assert sum(b.weight for b in pub.battles) == len(peer) == 12
    assert sum(b.weight * b.outcome for b in pub.battles) == \
        sum((b["winner"] == "model_b") + 0.5 * (b["winner"] == "tie") for b in peer)
    # strong_weight=1 ignores strength
    assert [b.weight for b in read_judgments([str(f01)], strong_weight=1.0).battles] == [1.0] * 6

    # v2.0: the row names its baseline and category; the mirrored labels count; a null game drops the row
    write(tmp_path / "v2" / "gpt-4.1" / "m.jsonl", [
        {"uid": "u1", "category": "hard_prompt", "judge": "gpt-4.1", "model": "org/m", "baseline": "base",
         "games": [{"score": "A<<B"}, {"score": "B<A"}]},
        {"uid": "u2", "category": "hard_prompt", "judge": "gpt-4.1", "model": "org/m", "baseline": "base",
         "games": [{"score": "B=A"}, {"score": "B<<A"}]},
        {"uid": "u3", "category": "hard_prompt", "judge": "gpt-4.1", "model": "org/m", "baseline": "base",
         "games": [{"score": "A>B"}, None]},
        {"uid": "u4", "category": "hard_prompt", "judge": "gpt-4.1", "model": "org/m", "baseline": "base",
         "games": [{"score": None}, {"score": "A>B"}]},
    ])
    pub = read_judgments([str(tmp_path / "v2")])
    got = [(b.model_a, b.model_b, b.outcome, b.weight, b.prompt_id) for b in pub.battles]
    assert got == [("m", "base", 1.0, 3.0, "u1"), ("m", "base", 1.0, 1.0, "u1"),
                   ("m", "base", 0.5, 1.0, "u2"), ("m", "base", 1.0, 3.0, "u2")]
    assert pub.null_rows == 2 and pub.baseline == "base" and pub.prompt_ids == ["u1", "u2"]
    peer = peer_v2_scores(rows_of(tmp_path / "v2"))
    assert sum(b.weight for b in pub.battles) == len(peer) == 8
    assert sum(b.weight * b.outcome for b in pub.battles) == sum(s["score"] for s in peer)


def test_v01_leaderboard_is_arena_hards():
    """Ratings: compute_mle_elo (anchored at 1000); win rates vs gpt-4-0314: predict_win_rate."""
    pub = read_judgments([str(V01_JUDGMENTS)])
    t = arena_table(pub.battles, baseline=pub.baseline, n_boot=0, elo_rounds=0)
    peer = peer_compute_mle_elo(peer_v01_battles(rows_of(V01_JUDGMENTS)))
    mine = {r["model"]: r for r in t["models"]}
    assert set(mine) == set(peer) == {"gpt-4-0314", "model-x", "model-y"}
    for m, elo in peer.items():
        assert abs(mine[m]["rating"] - elo) < 1e-6, m
        assert abs(mine[m]["win_rate_vs_baseline"] - 1 / (1 + 10 ** ((1000 - elo) / 400))) < 1e-9
    assert [r["model"] for r in t["models"]] == sorted(peer, key=lambda m: -peer[m])
    assert pub.dropped_games == 2 and pub.ignored_labels == {"B<A": 1}  # the two games the fixture spoils


def test_cli_rebuilds_a_v2_leaderboard_as_arena_hard(tmp_path):
    """End to end: no style (their score is the mean of the exploded scores) and style control with
    length + markdown from the answers' metadata (their BT fit, centred features)."""
    out = tmp_path / "lb"
    r = CliRunner().invoke(cli, ["arena", "--judgments", str(V2_JUDGMENTS), "--out", str(out), "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "arena.json").read_text())
    scores = peer_v2_scores(rows_of(V2_JUDGMENTS))
    assert res["baseline"] == "o3-mini-2025-01-31" and res["pooled"]["style"] == "none"
    assert res["published"]["category"] == "hard_prompt" and res["published"]["null_rows"] == 1
    assert res["published"]["other_categories"] == {"creative_writing": 9}
    assert res["sources"]["model-x"]["kind"] == "judgments" and res["n_prompts"] == 12
    pooled = {row["model"]: row for row in res["pooled"]["models"]}
    for m in ("model-x", "model-y", "model-z"):
        mean = float(np.mean([s["score"] for s in scores if s["model"] == m]))
        assert abs(pooled[m]["win_rate_vs_baseline"] - mean) < 1e-9, m
    order = [row["model"] for row in res["pooled"]["models"]]
    assert order == ["model-x", "o3-mini-2025-01-31", "model-z", "model-y"]
    assert "rebuilt from 35 Arena-Hard judgment rows" in r.output and "creative_writing (9 rows) left out" in r.output
    assert (out / "leaderboard.md").read_text().startswith("> rebuilt from 35")
    assert (out / "leaderboard.csv").read_text().count("model-z") == 2  # pooled and gpt-4.1

    out2 = tmp_path / "lb-style"
    r = CliRunner().invoke(cli, ["arena", "--judgments", str(V2_JUDGMENTS), "--out", str(out2), "--bootstrap", "0",
                                 "--style", "both", "--set", "centering=mean"])
    assert r.exit_code == 0, r.output
    res = json.loads((out2 / "arena.json").read_text())
    assert res["length_unit"].startswith("Arena-Hard token_len")
    peer = peer_v2_style_winrates(scores, V2 / "model_answer")
    for row in res["pooled"]["models"]:
        assert abs(row["win_rate_vs_baseline"] - peer[row["model"]]) < 1e-6, row["model"]

    # another category: its own baseline (utils/judge_utils.py: gemini-2.0-flash-001 for creative writing)
    out3 = tmp_path / "lb-cw"
    r = CliRunner().invoke(cli, ["arena", "--judgments", str(V2_JUDGMENTS), "--category", "creative_writing",
                                 "--out", str(out3), "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    res = json.loads((out3 / "arena.json").read_text())
    assert res["baseline"] == "gemini-2.0-flash-001" and res["n_prompts"] == 3
    cw = peer_v2_scores(rows_of(V2_JUDGMENTS), "creative_writing")
    for row in res["pooled"]["models"]:
        if row["model"] != "gemini-2.0-flash-001" and row["status"] == "rated":
            mean = float(np.mean([s["score"] for s in cw if s["model"] == row["model"]]))
            assert abs(row["win_rate_vs_baseline"] - mean) < 1e-9


class MarkerJudgeBackend:
    """Answers with an Arena-Hard label: an answer saying 'excellent' is much better, else B is
    slightly better (a position bias the two orders cancel)."""

    name = "ah-marker"
    calls = 0

    async def generate(self, request: GenerationRequest) -> Generation:
        MarkerJudgeBackend.calls += 1
        text = request.messages[-1]["content"]
        a = re.search(r"\[Response A\]\n(.*?)\n\n\[Response B\]", text, re.DOTALL).group(1)
        b = re.search(r"\[Response B\]\n(.*?)\n\nWhich response", text, re.DOTALL).group(1)
        label = "A>>B" if "excellent" in a else "B>>A" if "excellent" in b else "B>A"
        return Generation(text=f"My final verdict is [[{label}]]", completion_tokens=8)

    def identity(self) -> dict:
        return {"name": "ah-marker"}

    async def aclose(self) -> None:
        pass


register_backend("ah-marker", lambda cfg: MarkerJudgeBackend())


def test_cli_adds_a_new_model_to_a_published_leaderboard(tmp_path):
    """Only the new model is judged (against the same baseline, both orders, on the judged prompts of
    the category); the published battles are used as they are; the output says the judges differ."""
    judge = tmp_path / "marker.yaml"
    judge.write_text("name: marker\nmode: pairwise\npairwise_template: pairwise_arena\nbackend:\n  type: ah-marker\n")
    uids = [f"h{i:02d}" for i in range(12)] + ["c00", "c01", "c02"]
    new = write(tmp_path / "mine.jsonl", [{"prompt_id": u, "response": "An excellent answer." if k % 2 == 0 else "A plain answer."}
                                          for k, u in enumerate(uids)])
    out = tmp_path / "lb"
    args = ["arena", "--judgments", str(V2_JUDGMENTS), "--model", f"mine={new}", "--judge", str(judge),
            "--out", str(out), "--bootstrap", "20"]
    MarkerJudgeBackend.calls = 0
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert MarkerJudgeBackend.calls == 2 * 12  # hard_prompt only (the creative prompts have another baseline)
    res = json.loads((out / "arena.json").read_text())
    assert set(res["judges"]) == {"gpt-4.1", "marker"} and res["contestants"][-1] == "mine"
    assert res["judges"]["marker"]["verdicts"]["pairs"] == 12 and res["coverage"]["mine"]["shared"] == 12
    pooled = {row["model"]: row for row in res["pooled"]["models"]}
    # 6 prompts 'excellent': 2 strong wins each (weight 3); 6 plain: a loss as A, a win as B
    assert abs(pooled["mine"]["win_rate_vs_baseline"] - (6 * 6 + 6) / (6 * 6 + 6 * 2)) < 1e-9
    # every battle is against the baseline: the published models keep their published win rates
    scores = peer_v2_scores(rows_of(V2_JUDGMENTS))
    for m in ("model-x", "model-y", "model-z"):
        assert abs(pooled[m]["win_rate_vs_baseline"] - np.mean([s["score"] for s in scores if s["model"] == m])) < 1e-9
    note = "mine judged by marker, the published models by gpt-4.1"
    assert note in r.output and note in (out / "leaderboard.md").read_text()
    assert any(note in n for n in res["published"]["notes"])
    # a rerun calls no judge
    MarkerJudgeBackend.calls = 0
    assert CliRunner().invoke(cli, args).exit_code == 0 and MarkerJudgeBackend.calls == 0


def test_v01_new_model_judged_against_the_v01_baseline(tmp_path):
    """v0.1 judgments name no baseline: gpt-4-0314, whose answers come from the model_answer folder
    beside them; the prompts are the judged question ids."""
    judge = tmp_path / "marker.yaml"
    judge.write_text("name: marker\nmode: pairwise\npairwise_template: pairwise_arena\nbackend:\n  type: ah-marker\n")
    uids = [json.loads(x)["uid"] for x in (V01 / "question.jsonl").read_text().splitlines()]
    new = write(tmp_path / "mine.jsonl", [{"prompt_id": u, "response": "An excellent answer."} for u in uids[:5]])
    out = tmp_path / "lb"
    MarkerJudgeBackend.calls = 0
    r = CliRunner().invoke(cli, ["arena", "--judgments", str(V01_JUDGMENTS / "model-x.jsonl"),
                                 "--judgments", str(V01_JUDGMENTS / "model-y.jsonl"), "--model", f"mine={new}",
                                 "--judge", str(judge), "--out", str(out), "--bootstrap", "0"])
    assert r.exit_code == 0, r.output
    assert MarkerJudgeBackend.calls == 2 * 5
    res = json.loads((out / "arena.json").read_text())
    assert res["baseline"] == "gpt-4-0314" and res["sources"]["gpt-4-0314"]["kind"] == "responses"
    assert "3 of 8 prompts have no answer from mine" in r.output
    mine = next(row for row in res["pooled"]["models"] if row["model"] == "mine")
    assert mine["status"] == "undefeated"  # always 'excellent': no point estimate, a bound


@pytest.mark.parametrize("row, what", [
    ("{not json", "malformed JSON"),
    ({"uid": "u1", "category": "hard_prompt", "model": "m", "baseline": "b"}, "no 'games', not 2 games"),
    ({"uid": "u1", "category": "hard_prompt", "model": "m", "baseline": "b", "games": [{"score": "A>B"}]},
     "'games' is list of 1, not 2 games"),
    ({"uid": "u1", "category": "hard_prompt", "model": "m", "baseline": "b", "games": [{"score": "A>B"}, {"judgment": "x"}]},
     "game 2 has no 'score'"),
    ({"question_id": "q1", "model": "m", "games": [game("A>B"), game("Assistant A")]}, "game 2's score 'Assistant A' is not a verdict label"),
    ({"uid": "u1", "category": "hard_prompt", "model": "m", "baseline": "b", "games": [{"score": "A>>>B"}, {"score": "A>B"}]},
     "unknown verdict label 'A>>>B'"),
    ({"id": "u1", "model": "m", "games": []}, "without uid (v2.0) or question_id (v0.1)"),
])
def test_bad_judgment_file_is_a_one_line_error_naming_file_and_line(tmp_path, capsys, row, what):
    good = {"uid": "u0", "category": "hard_prompt", "model": "m", "baseline": "b", "judge": "j",
            "games": [{"score": "A>B"}, {"score": "B>A"}]}
    if "question_id" in str(row):
        good = {"question_id": "q0", "model": "m", "judge": "j", "games": [game("A>B"), game("B>A")]}
    f = write(tmp_path / "j" / "m.jsonl", [good, row])
    with pytest.raises(DataError, match=re.escape(what)) as e:
        read_judgments([str(f)])
    assert f"{f}:2" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SystemExit) as exc:
        main(["arena", "--judgments", str(f), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"{f}:2" in err and "Traceback" not in err


def test_judgments_config_errors(tmp_path):
    from judgelab.evaluate.arena.config import ArenaRunConfig
    from judgelab.evaluate.arena.run import run_arena

    cfg = ArenaRunConfig(bootstrap=0)
    j = [str(V2_JUDGMENTS)]
    with pytest.raises(ConfigError, match="needs a judge"):
        run_arena(cfg, None, [str(V2 / "model_answer" / "model-x.jsonl")], [], tmp_path / "o", judgments=j)
    with pytest.raises(ConfigError, match="nothing to judge"):
        run_arena(cfg, None, [], ["rubric-gold"], tmp_path / "o", judgments=j)
    with pytest.raises(ConfigError, match="model-x already in the published judgments"):
        run_arena(cfg, None, [str(V2 / "model_answer" / "model-x.jsonl")], ["rubric-gold"], tmp_path / "o", judgments=j)
    with pytest.raises(ConfigError, match="no judgment of category 'math'"):
        run_arena(cfg, None, [], [], tmp_path / "o", judgments=j, category="math")
    with pytest.raises(DataError, match="baseline is o3-mini-2025-01-31, not gpt-4o"):
        run_arena(cfg, "gpt-4o", [], [], tmp_path / "o", judgments=j)
    empty = tmp_path / "no-answers"
    empty.mkdir()
    with pytest.raises(ConfigError, match="answers are needed for style control"):
        run_arena(ArenaRunConfig(bootstrap=0, style="both"), None, [], [], tmp_path / "o", judgments=j, answers=str(empty))
    only_base = tmp_path / "base-only"
    only_base.mkdir()
    (only_base / "o3-mini-2025-01-31.jsonl").write_text((V2 / "model_answer" / "o3-mini-2025-01-31.jsonl").read_text())
    with pytest.raises(ConfigError, match="none found for model-x, model-y, model-z"):
        run_arena(ArenaRunConfig(bootstrap=0, style="both"), None, [], [], tmp_path / "o", judgments=j,
                  answers=str(only_base))
    with pytest.raises(ConfigError, match="no baseline given"):
        run_arena(cfg, None, [], ["rubric-gold"], tmp_path / "o")
    with pytest.raises(DataError, match="judged twice"):
        dup = write(tmp_path / "d" / "m.jsonl", [{"question_id": "q", "model": "m", "games": [game("A>B"), game("A>B")]}] * 2)
        read_judgments([str(dup)])


def test_old_v01_answer_rows_carry_their_style_metadata():
    from judgelab.evaluate.arena.contestants import arena_hard_answer

    row = {"question_id": "q1", "answer_id": "a", "model_id": "gpt-4-0314", "tstamp": 0.0,
           "choices": [{"index": 0, "turns": [{"content": "## Hi\n- one\n**b**", "token_len": 9}]}],
           "conv_metadata": {"token_len": 9, "header_count": {"h1": 0, "h2": 1}, "list_count": {"ordered": 0, "unordered": 1},
                             "bold_count": {"**": 1, "__": 0}}}
    got = arena_hard_answer(row, "f:1")
    assert got == {"prompt_id": "q1", "response": "## Hi\n- one\n**b**", "model": "gpt-4-0314", "token_len": 9,
                   "md_counts": [1, 1, 1]}
