"""``judgelab arena`` end to end on response files: the rubric gold judge and a second, five-level
LLM judge (the Arena-Hard template and parser, on a registered text backend that prefers length)."""

from __future__ import annotations

import csv
import json
import re

import pytest

from judgelab.data.jsonl import write_jsonl
from judgelab.lm import register_backend
from judgelab.lm.types import Generation, GenerationRequest

CALLS = {"n": 0}


class LengthFanBackend:
    """A text backend that reads the two responses out of the Arena-Hard prompt and answers with a
    five-level label: much longer -> [[A>>B]], longer -> [[A>B]], same length -> [[A=B]]."""

    name = "length-fan"

    async def generate(self, request: GenerationRequest) -> Generation:
        CALLS["n"] += 1
        text = request.messages[-1]["content"]
        a = re.search(r"\[Response A\]\n(.*?)\n\n\[Response B\]", text, re.DOTALL).group(1)
        b = re.search(r"\[Response B\]\n(.*?)\n\nWhich response", text, re.DOTALL).group(1)
        la, lb = len(a.split()), len(b.split())
        if la >= 2 * lb:
            label = "A>>B"
        elif lb >= 2 * la:
            label = "B>>A"
        else:
            label = "A>B" if la > lb else "B>A" if lb > la else "A=B"
        return Generation(text=f"My final verdict is [[{label}]]", completion_tokens=8)

    def identity(self) -> dict:
        return {"name": "length-fan"}

    async def aclose(self) -> None:
        pass


register_backend("length-fan", lambda cfg: LengthFanBackend())


def _files(tmp_path):
    from judgelab.data.prompts import load_prompts

    prompts = load_prompts("creative-v1", split="test", limit=8)
    words = {"base": 12, "long": 40, "short": 4}
    paths = {}
    for name, n in words.items():
        rows = [{"prompt_id": p.id, "prompt": p.prompt, "family": p.family, "constraints": p.constraints, "model": name,
                 "response": ("# Title\n- a point\n" if name == "long" else "")
                 + " ".join(["Lovely warm words about the topic"] * (n // 4 + (i % 3 if name != "short" else 0)))}
                for i, p in enumerate(prompts)]
        paths[name] = tmp_path / f"{name}.jsonl"
        write_jsonl(paths[name], rows)
    return paths


def test_cli_arena_two_judges_resumes(tmp_path, capsys):
    from click.testing import CliRunner

    from judgelab.cli import cli, main

    paths = _files(tmp_path)
    fan = tmp_path / "fan.yaml"
    fan.write_text("name: length-fan\nmode: pairwise\npairwise_template: pairwise_arena\nbackend:\n  type: length-fan\n")
    out = tmp_path / "arena"
    args = ["arena", "--baseline", str(paths["base"]), "--model", str(paths["long"]), "--model", f"tiny={paths['short']}",
            "--judge", "rubric-gold", "--judge", str(fan), "--out", str(out), "--bootstrap", "50"]
    CALLS["n"] = 0
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert CALLS["n"] == 2 * 2 * 8  # 2 contestants x 8 prompts x both orders
    res = json.loads((out / "arena.json").read_text())
    assert res["schema"] == "judgelab.arena/v2" and res["baseline"] == "base"
    assert res["contestants"] == ["base", "long", "tiny"]
    assert set(res["judges"]) == {"gold", "length-fan"} and set(res["matrix"]["rows"]) == {"gold", "length-fan", "pooled"}
    fan_t = {row["model"]: row for row in res["judges"]["length-fan"]["models"]}
    # the length fan: 'long' always wins, strongly (x3), 'tiny' always loses, strongly
    assert res["judges"]["length-fan"]["verdicts"]["strong_verdicts"] == 32
    assert fan_t["long"]["status"] == "undefeated" and fan_t["tiny"]["status"] == "winless"
    assert fan_t["long"]["win_rate"] == 1.0 and fan_t["long"]["weighted_battles"] == 48
    gold = {row["model"]: row for row in res["judges"]["gold"]["models"]}
    assert gold["base"]["rating"] == 1000.0 and gold["base"]["win_rate_vs_baseline"] == 0.5
    for row in res["pooled"]["models"]:
        assert row["win_rate_vs_baseline"] is not None
    assert "length" in res["pooled"]["style_coefs"] and res["settings"]["strong_weight"] == 3.0
    # the printed leaderboard, the CSV and the markdown file
    assert "pooled over judges" in r.output and "judge: length-fan" in r.output and "judges x models" in r.output
    with open(out / "leaderboard.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(x["judge"], x["model"]) for x in rows} >= {("pooled", "long"), ("gold", "tiny"), ("length-fan", "base")}
    assert (out / "leaderboard.md").read_text().startswith("### pooled over judges")
    # a rerun judges nothing: every verdict comes from the store
    CALLS["n"] = 0
    r2 = CliRunner().invoke(cli, args)
    assert r2.exit_code == 0, r2.output
    assert CALLS["n"] == 0
    assert json.loads((out / "arena.json").read_text())["pooled"] == res["pooled"]
    # bad input: one line, exit 2
    with pytest.raises(SystemExit) as exc:
        main(["arena", "--baseline", str(tmp_path / "nope.jsonl"), "--model", str(paths["long"]), "--judge",
              "rubric-gold", "--out", str(out)])
    assert exc.value.code == 2 and "nope.jsonl" in capsys.readouterr().err


def test_response_file_errors(tmp_path):
    from judgelab.errors import DataError
    from judgelab.evaluate.arena.contestants import parse_contestant, read_responses

    p = tmp_path / "r.jsonl"
    write_jsonl(p, [{"prompt_id": "a", "response": "x"}, {"prompt_id": "a", "response": "y"}])
    with pytest.raises(DataError, match="answered twice") as e:
        read_responses(parse_contestant(str(p)), None)
    assert "r.jsonl:2" in str(e.value)
    # a run's eval samples: greedy rows by default, named after the file when rows carry no model
    write_jsonl(p, [{"prompt_id": "a", "response": "s", "decoding": "sampled", "sample_index": 0},
                    {"prompt_id": "a", "response": "s1", "decoding": "sampled", "sample_index": 1},
                    {"prompt_id": "a", "response": "g", "decoding": "greedy", "sample_index": 0}])
    c = parse_contestant(str(p))
    read_responses(c, None)
    assert c.name == "r" and c.answers["a"]["response"] == "g"
    c = parse_contestant(f"pol={p}")
    read_responses(c, "sampled")
    assert c.name == "pol" and c.answers["a"]["response"] == "s"
    served = parse_contestant("openai:smollm2@http://127.0.0.1:9/v1")
    assert (served.kind, served.name, served.source, served.base_url) == ("served", "smollm2", "smollm2", "http://127.0.0.1:9/v1")


@pytest.mark.slow  # starts 'judgelab serve' (~1 min on 2 shared cores)
def test_generated_contestants_checkpoint_and_served(tmp_path):
    """A checkpoint generates in process, the same checkpoint served by 'judgelab serve' answers over
    HTTP (the openai backend); both greedy, so their answers agree; a rerun reuses the answers."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from conftest import start_server, stop_server

    from judgelab.evaluate.arena.config import ArenaRunConfig
    from judgelab.evaluate.arena.run import run_arena
    from judgelab.models.testing import tiny_model

    ckpt = tmp_path / "tiny"
    model, tok = tiny_model(seed=3)
    model.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    paths = _files(tmp_path)
    cfg = ArenaRunConfig(bootstrap=20, max_new_tokens=6, device="cpu", batch_size=4)
    proc, url = start_server(str(ckpt), batch_size=4, served_name="tiny-served", log_path=tmp_path / "serve.log")
    try:
        res = run_arena(cfg, str(paths["base"]), [f"local={ckpt}", f"served=openai:tiny-served@{url}"], ["rubric-gold"],
                        tmp_path / "out", limit=4)
    finally:
        stop_server(proc)
    assert res["contestants"] == ["base", "local", "served"] and res["n_prompts"] == 4
    answers = {n: {r["prompt_id"]: r["response"] for r in
                   (json.loads(x) for x in (tmp_path / "out" / "answers" / f"{n}.jsonl").read_text().splitlines())}
               for n in ("local", "served")}
    assert len(answers["local"]) == 4 and answers["local"] == answers["served"]
    gold = {r["model"]: r for r in res["judges"]["gold"]["models"]}
    assert gold["local"]["battles"] == 8 and gold["local"]["win_rate"] == gold["served"]["win_rate"]
    # the server is gone: a rerun must take both answer sets from out/answers and the verdicts from the store
    again = run_arena(cfg, str(paths["base"]), [f"local={ckpt}", f"served=openai:tiny-served@{url}"], ["rubric-gold"],
                      tmp_path / "out", limit=4)
    assert again["pooled"] == res["pooled"]


class WordCountScorer:
    """A text backend answering a pointwise judge prompt with 'Score: N', N from the response's
    word count (more words, higher score): a judge that only scores."""

    name = "word-count-scorer"

    async def generate(self, request: GenerationRequest) -> Generation:
        text = request.messages[-1]["content"]
        words = len(text.split())
        return Generation(text=f"Score: {min(10, max(1, words // 40))}", completion_tokens=3)

    def identity(self) -> dict:
        return {"name": "word-count-scorer"}

    async def aclose(self) -> None:
        pass


register_backend("word-count-scorer", lambda cfg: WordCountScorer())


def test_a_judge_that_only_scores_referees_by_comparing_scores(tmp_path):
    """A pointwise judge (a reward model, a pointwise-trained judge) scores both answers of a
    prompt; the higher score wins one battle. Its verdict on the baseline answer is reused."""
    from click.testing import CliRunner

    from judgelab.cli import cli

    paths = _files(tmp_path)
    scorer = tmp_path / "scorer.yaml"
    scorer.write_text("name: scorer\nmode: pointwise\nbackend:\n  type: word-count-scorer\n")
    out = tmp_path / "arena"
    r = CliRunner().invoke(cli, ["arena", "--baseline", str(paths["base"]), "--model", str(paths["long"]),
                                 "--model", f"tiny={paths['short']}", "--judge", str(scorer), "--out", str(out),
                                 "--bootstrap", "20", "--style", "none"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "arena.json").read_text())
    t = res["judges"]["scorer"]
    assert t["verdicts"]["pairs"] == 16 and t["verdicts"]["strong_verdicts"] == 0
    rows = {row["model"]: row for row in t["models"]}
    # one battle per prompt, no order: 8 per contestant; longer answers score higher
    assert rows["long"]["battles"] == 8 and rows["tiny"]["battles"] == 8
    # long wins all 8: no point estimate, its one-sided lower bound (the CI's end) is above 50%
    assert rows["long"]["status"] == "undefeated" and rows["long"]["win_rate_vs_baseline"] is None
    assert rows["long"]["win_rate_vs_baseline_ci"][0] > 0.5 > rows["tiny"]["win_rate_vs_baseline"]


def test_report_shows_an_arena_written_into_the_run(tmp_path):
    """'judgelab arena --out RUN/eval/NAME' lands in the run's report: its leaderboards per judge and
    its judges x models matrix, beside (not instead of) the pipeline's own arena section."""
    from click.testing import CliRunner

    from judgelab.cli import cli
    from judgelab.report.build import build_report

    paths = _files(tmp_path)
    fan = tmp_path / "fan.yaml"
    fan.write_text("name: length-fan\nmode: pairwise\npairwise_template: pairwise_arena\nbackend:\n  type: length-fan\n")
    run = tmp_path / "run"
    out = run / "eval" / "arena_mine"
    r = CliRunner().invoke(cli, ["arena", "--baseline", str(paths["base"]), "--model", str(paths["long"]),
                                 "--model", f"tiny={paths['short']}", "--judge", "rubric-gold", "--judge", str(fan),
                                 "--out", str(out), "--bootstrap", "20"])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "arena.json").read_text())
    page = build_report(run).read_text()
    start = page.index("<h3>judgelab arena: eval/arena_mine</h3>")
    sec = page[start: page.index("<h2>", start)]
    assert "judges: gold, length-fan" in sec and "<h4>judge: length-fan</h4>" in sec and "<h4>pooled over judges</h4>" in sec
    assert "judges x models" in sec
    # the fan's row of the matrix carries its win rates, as in arena.json
    fan_row = res["matrix"]["rows"]["length-fan"]
    cells = re.search(r"<tr><td class=\"l\">length-fan</td>(.*?)</tr>", sec).group(1)
    assert re.findall(r">([^<]*)</td>", cells) == ["–" if fan_row[m] is None else f"{fan_row[m]:.3f}"
                                                   for m in sorted(fan_row)]
    # the pipeline's arena section still says it was not run
    assert "Arena: not run" in page


def _arena(args, tmp_path, name="arena"):
    from click.testing import CliRunner

    from judgelab.cli import cli

    out = tmp_path / name
    r = CliRunner().invoke(cli, ["arena", *map(str, args), "--judge", "rubric-gold", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return r.output, json.loads((out / "arena.json").read_text())


def test_winless_and_undefeated_models_have_no_point_estimate(tmp_path, caplog):
    """A model that lost (won) every battle has no point estimate: its one-sided bound is only its CI
    end, never a point above (below) the baseline, however few the battles; it ranks last (first);
    the warning is printed once."""
    paths = _files(tmp_path)  # rubric-gold prefers 'short' (within the word limits) to 'base' on every prompt
    caplog.set_level("WARNING")
    output, res = _arena(["--baseline", f"short={paths['short']}", "--model", f"base={paths['base']}", "--limit", "1",
                          "--bootstrap", "20", "--style", "none"], tmp_path)
    t = res["pooled"]
    row = t["models"][-1]
    assert row["model"] == "base" and row["status"] == "winless"
    assert row["rating"] is None and row["win_rate_vs_baseline"] is None
    # with 2 battles the 95% upper bound lies above the baseline: it stays in the CI column
    assert row["ci"][0] is None and row["ci"][1] > 1000
    assert row["win_rate_vs_baseline_ci"][0] == 0.0 and row["win_rate_vs_baseline_ci"][1] > 0.5
    assert re.search(r"^\| base \| – \| \[0\.0, \d+\.\d\] \| – \| \[–, \d+\] \| winless \| 2 \|$", output, re.MULTILINE), output
    assert output.count("base is winless") == 1
    assert not any("winless" in rec.getMessage() for rec in caplog.records)
    assert res["matrix"]["rows"]["pooled"]["base"] is None
    lb = list(csv.DictReader(open(tmp_path / "arena" / "leaderboard.csv")))
    assert [r["rating"] for r in lb if r["model"] == "base"] == ["", ""]
    # the mirror image: undefeated on 2 battles, its lower bound below the baseline, ranked first
    _, res = _arena(["--baseline", f"base={paths['base']}", "--model", f"short={paths['short']}", "--limit", "1",
                     "--bootstrap", "20", "--style", "none"], tmp_path, "mirror")
    row = res["pooled"]["models"][0]
    assert row["model"] == "short" and row["status"] == "undefeated"
    assert row["rating"] is None and row["win_rate_vs_baseline"] is None
    assert row["ci"][0] < 1000 and row["ci"][1] is None and row["win_rate_vs_baseline_ci"][1] == 1.0


def test_partial_coverage_is_noted_and_no_shared_prompt_is_an_error(tmp_path, capsys):
    from judgelab.cli import main
    from judgelab.data.jsonl import iter_jsonl

    paths = _files(tmp_path)
    rows = [r for _, r in iter_jsonl(paths["long"])]
    write_jsonl(tmp_path / "half.jsonl", [{**r, "model": "half"} for r in rows[:4]])
    output, res = _arena(["--baseline", paths["base"], "--model", tmp_path / "half.jsonl", "--model", paths["short"],
                          "--bootstrap", "10", "--style", "none"], tmp_path)
    assert "note: half: 4 of 8 prompts have no answer from half or the baseline (base): rated on 4" in output
    assert not any(line.startswith("note: short:") for line in output.splitlines())  # fully covered: no note
    assert res["coverage"]["half"] == {"prompts": 8, "shared": 4, "missing": 4}
    assert res["coverage"]["short"]["missing"] == 0
    # no prompt in common: an error naming the model and both files, before anything is judged
    write_jsonl(tmp_path / "disj.jsonl", [{**r, "prompt_id": "zz/" + r["prompt_id"], "model": "disj"} for r in rows])
    with pytest.raises(SystemExit) as exc:
        main(["arena", "--baseline", str(paths["base"]), "--model", str(tmp_path / "disj.jsonl"), "--judge",
              "rubric-gold", "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err and "every pair failed" not in err
    assert f"no prompt_id shared by the baseline ({paths['base']}) and disj ({tmp_path / 'disj.jsonl'})" in err
    assert not (tmp_path / "d" / "judgments.sqlite").exists()


def test_no_bootstrap_means_no_ci(tmp_path):
    paths = _files(tmp_path)
    output, res = _arena(["--baseline", paths["base"], "--model", f"tiny={paths['short']}", "--model", paths["long"],
                          "--bootstrap", "0", "--style", "length"], tmp_path)
    rated = [r for r in res["pooled"]["models"] if r["status"] == "rated"]
    assert rated and all(r["ci"] is None and r["win_rate_vs_baseline_ci"] is None for r in rated)
    assert all(c["ci"] is None for c in res["pooled"]["style_coefs"].values())
    assert re.search(r"^\| base \| 50\.0 \| – \| 1000 \| – \| rated \|", output, re.MULTILINE), output
    assert "(no CI)" in output


def test_degenerate_style_fit_is_flagged(tmp_path):
    """Two prompts and four style features: the style fit is not identified; a note says so and
    points to --style none. Enough prompts with no style confound: no note."""
    paths = _files(tmp_path)
    output, res = _arena(["--baseline", paths["base"], "--model", f"tiny={paths['short']}", "--limit", "2",
                          "--bootstrap", "20", "--style", "both"], tmp_path)
    assert "note: style control is unreliable here (2 prompt(s) for 4 style feature(s)" in output
    assert "--style none" in output
    assert any(w.startswith("style control is unreliable") for w in res["pooled"]["warnings"])
    output, _ = _arena(["--baseline", paths["base"], "--model", f"tiny={paths['short']}", "--limit", "2",
                        "--bootstrap", "20", "--style", "none"], tmp_path, "plain")
    assert "style control is unreliable" not in output


def test_limit_on_a_response_file_covers_every_family(tmp_path):
    """--limit on the baseline file's prompts keeps a family-balanced subset, as load_prompts does."""
    from judgelab.evaluate.arena.config import ArenaRunConfig
    from judgelab.evaluate.arena.run import run_arena

    rows = [{"prompt_id": f"{fam}-{i}", "prompt": f"Write a {fam}.", "family": fam, "response": f"A {fam} {i} " * (i + 2)}
            for fam in ("poem", "advice") for i in range(4)]  # family by family, as shipped sets are listed
    base, other = tmp_path / "base.jsonl", tmp_path / "other.jsonl"
    write_jsonl(base, rows)
    write_jsonl(other, [{**r, "response": r["response"] + "more words here"} for r in rows])
    res = run_arena(ArenaRunConfig(bootstrap=10), str(base), [f"o={other}"], ["rubric-gold"], tmp_path / "out", limit=2)
    assert res["n_prompts"] == 2 and res["coverage"]["o"] == {"prompts": 2, "shared": 2, "missing": 0}
    from judgelab.evaluate.arena.contestants import (
        arena_prompts,
        parse_contestant,
        read_responses,
    )

    c = parse_contestant(str(base))
    read_responses(c, None)
    # one per family, families in name order (data.prompts.balanced_subset)
    assert [r["prompt_id"] for r in arena_prompts([c], None, None, 2)] == ["advice-0", "poem-0"]


def test_a_served_contestant_whose_every_answer_failed_is_named(tmp_path):
    """Nothing listens on the port: the error names the contestant and says every generation failed
    (not 'no prompt_id shared', which would send the user to --prompts/--limit)."""
    from judgelab.errors import DataError
    from judgelab.evaluate.arena.config import ArenaRunConfig
    from judgelab.evaluate.arena.run import run_arena

    paths = _files(tmp_path)
    with pytest.raises(DataError, match="no answer was generated") as e:
        run_arena(ArenaRunConfig(bootstrap=10), str(paths["base"]), ["srv=openai:tiny@http://127.0.0.1:9/v1"],
                  ["rubric-gold"], tmp_path / "o", limit=1)
    assert "srv" in str(e.value) and "no prompt_id shared" not in str(e.value)
