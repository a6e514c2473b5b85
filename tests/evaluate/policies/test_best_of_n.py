"""Best-of-N: a selector that agrees with the gold picks the oracle's candidate under every method,
an inverted one picks the worst, N=1 is the same for all; JSON + PNG written; pairs judged once."""

from __future__ import annotations

import json
import random
import re

import pytest

from judgelab.data.jsonl import write_jsonl
from judgelab.evaluate.policies.best_of_n import BestOfNConfig, best_of_n
from judgelab.judges.config import JudgeConfig, RubricBackendConfig
from judgelab.judges.llm import LLMJudge
from judgelab.judges.types import JudgeRequest, PairwiseItem, PointwiseItem
from judgelab.lm.types import Generation


class QualityBackend:
    """Programmatic judge reading the hidden quality 'q=<n>' in a response (1..10); ``sign=-1``
    inverts every judgement; ``flat`` scores everything 5 and calls every pair a tie."""

    reads_items = True

    def __init__(self, sign: int = 1, flat: bool = False):
        self.sign, self.flat, self.calls = sign, flat, 0
        self.name = "flat" if flat else f"quality{sign:+d}"

    @staticmethod
    def q(text: str) -> int:
        return int(re.search(r"q=(\d+)", text).group(1))

    async def generate(self, request: JudgeRequest) -> Generation:
        self.calls += 1
        it = request.item
        if isinstance(it, PointwiseItem):
            s = 5 if self.flat else (self.q(it.response) if self.sign > 0 else 11 - self.q(it.response))
            return Generation(text=f"Score: {s}")
        assert isinstance(it, PairwiseItem)
        d = 0 if self.flat else self.sign * (self.q(it.response_a) - self.q(it.response_b))
        return Generation(text="[[A]]" if d > 0 else "[[B]]" if d < 0 else "[[C]]")

    def identity(self) -> dict:
        return {"name": self.name}

    async def aclose(self) -> None:
        pass


def qjudge(sign: int = 1, flat: bool = False) -> LLMJudge:
    b = QualityBackend(sign, flat)
    j = LLMJudge(JudgeConfig(name=b.name, backend=RubricBackendConfig()), backend=b)
    j.backend_stub = b  # for call counts
    return j


@pytest.fixture()
def responses(tmp_path):
    rng = random.Random(0)
    rows = [{"prompt_id": f"p{p}", "prompt": f"prompt {p}", "response": f"answer {k} q={rng.randint(1, 10)}"}
            for p in range(6) for k in range(8)]
    path = tmp_path / "responses.jsonl"
    write_jsonl(path, rows)
    return path


def _cfg(responses, **kw) -> BestOfNConfig:
    return BestOfNConfig.model_validate({"selector": "unused", "responses": str(responses), "ns": [1, 2, 4, 8],
                                         "draws": 3, "bootstrap": 200, **kw})


def test_agreeing_selector_reaches_the_oracle(responses, tmp_path):
    cfg = _cfg(responses, methods=["pointwise", "knockout", "tournament"])
    res = best_of_n(cfg, tmp_path / "out", selector=qjudge(), gold=qjudge())
    oracle = [r["gold"] for r in res["oracle"]]
    for m in ("pointwise", "knockout", "tournament"):
        assert [r["gold"] for r in res["curves"][m]] == pytest.approx(oracle)
    rnd = [r["gold"] for r in res["random"]]
    assert rnd[0] == pytest.approx(oracle[0])  # N = 1: every rule picks the only candidate
    assert oracle[-1] > rnd[-1] and oracle == sorted(oracle)
    assert all(r["ci"][0] <= r["gold"] <= r["ci"][1] for r in res["oracle"])
    saved = json.loads((tmp_path / "out" / "best_of_n.json").read_text())
    assert saved["schema"] == "judgelab.best_of_n/v1" and saved["prompts"] == 6 and saved["ns"] == [1, 2, 4, 8]
    # written through BestOfNResult, byte for byte what json.dumps(result, indent=2) wrote before
    assert (tmp_path / "out" / "best_of_n.json").read_text() == json.dumps(res, indent=2)
    assert (tmp_path / "out" / "best_of_n.png").stat().st_size > 1000
    # the tournament judges each pair of a prompt once, in both orders, whatever the number of subsets
    assert res["cost"]["tournament"]["judge_calls"] <= 6 * 28 * 2


def test_inverted_selector_picks_the_worst_and_flat_one_is_random(responses, tmp_path):
    inv = best_of_n(_cfg(responses, methods=["pointwise", "tournament"]), tmp_path / "inv", selector=qjudge(-1), gold=qjudge())
    worst_n8 = inv["curves"]["pointwise"][-1]["gold"]
    assert worst_n8 < inv["random"][-1]["gold"] < inv["oracle"][-1]["gold"]
    assert inv["curves"]["tournament"][-1]["gold"] == pytest.approx(worst_n8)
    flat = best_of_n(_cfg(responses, methods=["pointwise", "knockout"], draws=20), tmp_path / "flat", selector=qjudge(flat=True),
                     gold=qjudge())
    for m in ("pointwise", "knockout"):
        assert flat["curves"][m][-1]["gold"] < flat["oracle"][-1]["gold"]
        assert flat["curves"][m][-1]["gold"] > worst_n8


def test_bad_input(tmp_path, responses):
    from judgelab.errors import ConfigError, DataError

    with pytest.raises(DataError, match="not found"):
        best_of_n(_cfg(tmp_path / "missing.jsonl"), tmp_path / "o", selector=qjudge(), gold=qjudge())
    with pytest.raises(ConfigError, match="no candidates"):
        best_of_n(BestOfNConfig(selector="x"), tmp_path / "o", selector=qjudge(), gold=qjudge())


def test_cli_rubric_judges(tmp_path, capsys):
    """The command end to end with registered judges: the brevity rubric picks, the gold scores."""
    from click.testing import CliRunner

    from judgelab.cli import cli, main
    from judgelab.data.prompts import load_prompts

    prompts = load_prompts("creative-v1", split="test", limit=3)
    lengths = [3, 12, 30, 60]
    rows = [{"prompt_id": p.id, "prompt": p.prompt, "family": p.family, "constraints": p.constraints,
             "response": " ".join(["Lovely warm words about the topic"] * n)} for p in prompts for n in lengths]
    path = tmp_path / "cands.jsonl"
    write_jsonl(path, rows)
    out = tmp_path / "bon"
    r = CliRunner().invoke(cli, ["best-of-n", "--selector", "rubric-flawed-brevity", "--responses", str(path),
                                  "--n", "1", "--n", "2", "--n", "4", "--method", "pointwise", "--method", "knockout",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads((out / "best_of_n.json").read_text())
    assert res["selector"] == "flawed-brevity" and res["gold"] == "gold" and res["prompts"] == 3
    assert "pointwise: N=1" in r.output and (out / "best_of_n.png").exists()
    with pytest.raises(SystemExit) as exc:  # bad input: one line, exit 2
        main(["best-of-n", "--selector", "no-such-judge", "--responses", str(path), "--out", str(out)])
    assert exc.value.code == 2 and "no-such-judge" in capsys.readouterr().err


def test_sampled_prompts_are_family_balanced():
    cfg = BestOfNConfig(selector="x")
    picked = cfg.prompts.model_copy(update={"limit": 8}).load()  # what load_candidates samples from
    assert len({p.family for p in picked}) == 8 and all(p.split == "test" for p in picked)


# ----------------------------------------------------------------------------- review fixes

def _curve(res: dict, key: str) -> dict[int, float]:
    rows = res["curves"][key] if key in res["curves"] else res[key]
    return {r["n"]: r["gold"] for r in rows}


def test_n_larger_than_every_pool_is_an_error_or_dropped(responses, tmp_path, caplog):
    from judgelab.errors import DataError

    with pytest.raises(DataError, match=r"no prompt has 16 candidates \(most: 8\).*--n <= 8"):
        best_of_n(_cfg(responses, ns=[16, 32]), tmp_path / "o", selector=qjudge(), gold=qjudge())
    assert not (tmp_path / "o" / "best_of_n.json").exists()
    with caplog.at_level("WARNING", logger="judgelab"):
        res = best_of_n(_cfg(responses, ns=[1, 2, 16]), tmp_path / "o2", selector=qjudge(), gold=qjudge())
    assert res["ns"] == [1, 2] and res["dropped_ns"] == [16]
    assert [r["n"] for r in res["curves"]["pointwise"]] == [1, 2]
    assert "N=16 dropped" in caplog.text


def test_cli_n_larger_than_every_pool_exits_2(responses, tmp_path, capsys):
    from judgelab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["best-of-n", "--selector", "rubric-gold", "--responses", str(responses), "--n", "16", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "no prompt has 16 candidates (most: 8)" in err
    assert not (tmp_path / "o" / "best_of_n.json").exists()


@pytest.mark.parametrize("row", [{"prompt_id": "p1", "prompt": "x", "response": None}, {"prompt_id": "p1", "prompt": "x"}])
def test_missing_or_null_response_is_an_error(responses, tmp_path, row):
    from judgelab.data.jsonl import iter_jsonl
    from judgelab.errors import DataError

    rows = [r for _, r in iter_jsonl(responses)]
    rows.insert(7, row)  # line 8
    path = tmp_path / "bad.jsonl"
    write_jsonl(path, rows)
    with pytest.raises(DataError, match=r"bad\.jsonl:8: response is missing/null \(a string is required\)"):
        best_of_n(_cfg(path), tmp_path / "o", selector=qjudge(), gold=qjudge())
    rows[7] = {**row, "response": None, "error": "sampling failed"}  # a failed sample: skipped, not an error
    write_jsonl(path, rows)
    assert best_of_n(_cfg(path), tmp_path / "o", selector=qjudge(), gold=qjudge())["candidates"] == 48


def test_cli_missing_judge_option_names_the_option(responses, tmp_path, capsys):
    from judgelab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["best-of-n", "--responses", str(responses), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--selector is required" in err and "--set" not in err
    cfg = tmp_path / "bon.yaml"
    cfg.write_text("selector: rubric-gold\nns: [1, 2]\n")
    with pytest.raises(SystemExit) as exc:  # a config file that gives the selector is enough
        main(["best-of-n", "-c", str(cfg), "--responses", str(responses), "--out", str(tmp_path / "o")])
    assert exc.value.code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "o" / "best_of_n.json").read_text())["ns"] == [1, 2]


def test_each_n_is_the_same_whatever_else_is_asked(responses, tmp_path):
    """A curve point depends on (seed, prompt, N, draw) only: subsets, ties and knockout coins."""
    kw = dict(methods=["pointwise", "knockout"], draws=5)
    alone = {n: best_of_n(_cfg(responses, ns=[n], **kw), tmp_path / f"a{n}", selector=qjudge(flat=True), gold=qjudge())
             for n in (1, 2, 4)}
    together = best_of_n(_cfg(responses, ns=[1, 2, 4, 8], **kw), tmp_path / "all", selector=qjudge(flat=True), gold=qjudge())
    for key in ("pointwise", "knockout", "oracle", "random"):
        for n in (1, 2, 4):
            assert _curve(alone[n], key)[n] == pytest.approx(_curve(together, key)[n]), (key, n)


def test_bad_judge_name_before_reading_candidates(responses, tmp_path, caplog, capsys):
    from judgelab.cli import main
    from judgelab.errors import ConfigError

    short = tmp_path / "short.jsonl"
    write_jsonl(short, [{"prompt_id": "p", "prompt": "x", "response": "y"}])
    with caplog.at_level("WARNING", logger="judgelab"), pytest.raises(ConfigError, match="no-such-judge"):
        best_of_n(_cfg(short, selector="no-such-judge", ns=[1, 32]), tmp_path / "o", gold=qjudge())
    assert "candidates" not in caplog.text
    with pytest.raises(ConfigError, match="gold: no judge"):
        best_of_n(_cfg(tmp_path / "missing.jsonl", gold="no-such-gold"), tmp_path / "o", selector=qjudge())
    with pytest.raises(SystemExit) as exc:  # a missing responses file: the project's one line, exit 2
        main(["best-of-n", "--selector", "rubric-gold", "--responses", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "nope.jsonl: responses file not found" in err and "Usage" not in err


def test_only_candidates_in_some_subset_are_judged(responses, tmp_path):
    """A file with 8 rows per prompt and ns [1, 2]: the judges see the union of the drawn subsets,
    not all 48 rows (which cost 8x the calls for --n 1)."""
    sel, gold = qjudge(), qjudge()
    res = best_of_n(_cfg(responses, ns=[1, 2], draws=2), tmp_path / "o", selector=sel, gold=gold)
    judged = res["judged"]
    assert judged < res["candidates"] == 48
    assert sel.backend_stub.calls == gold.backend_stub.calls == judged
    assert res["cost"]["pointwise"]["judge_calls"] == judged
