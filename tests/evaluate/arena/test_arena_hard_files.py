"""`judgelab arena` reads Arena-Hard-Auto's own files (issue 25): question.jsonl as the prompts,
model_answer/<model>.jsonl as contestants (uid, messages ending in {answer}, metadata.token_len),
and uses their tiktoken token_len as the length unit of style control when every answer has it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from judgelab.cli import cli

QUESTIONS = [{"uid": f"u{i}", "category": "arena-hard-v0.1", "cluster": "Poems", "prompt": f"Write a short poem about the sea, take {i}."}
             for i in range(6)]


def answer_rows(model: str, words: int) -> list[dict]:
    return [{"uid": q["uid"], "ans_id": f"{model}-{q['uid']}", "model": model,
             "messages": [{"role": "user", "content": q["prompt"]},
                          {"role": "assistant", "content": {"answer": " ".join(["wave"] * (words + i))}}],
             "tstamp": 0.0, "metadata": {"token_len": 3 * (words + i), "header_count": {}, "list_count": {}, "bold_count": {}}}
            for i, q in enumerate(QUESTIONS)]


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_arena_reads_arena_hard_questions_and_answers(tmp_path):
    q = write(tmp_path / "question.jsonl", QUESTIONS)
    base = write(tmp_path / "gpt-4-0314.jsonl", answer_rows("gpt-4-0314", 20))
    other = write(tmp_path / "mine.jsonl", answer_rows("mine", 5))
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["arena", "--baseline", str(base), "--model", str(other), "--judge", "rubric-gold",
                                 "--prompts", str(q), "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "arena.json").read_text())
    assert res["baseline"] == "gpt-4-0314" and set(res["contestants"]) == {"gpt-4-0314", "mine"}
    assert res["judges"]["gold"]["n_prompts"] == 6
    assert res["judges"]["gold"]["style"] == "none"  # auto: the rubric referees
    # With style control on, the length feature is Arena-Hard's token_len (3 per word here), not our proxy.
    from judgelab.evaluate.arena.contestants import load_contestants
    from judgelab.evaluate.arena.run import _style_lookup

    field_ = load_contestants(str(base), [str(other)], None)
    assert field_[1].answers["u2"]["token_len"] == 21 and field_[1].answers["u2"]["prompt"] == QUESTIONS[2]["prompt"]
    assert _style_lookup(None, True)(field_[1], "u2").tokens == 21.0  # Arena-Hard's own unit
    assert _style_lookup(None, False)(field_[1], "u2").tokens != 21.0  # judgelab's proxy otherwise
