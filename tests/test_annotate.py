"""Annotate stage: rubric gold on prepared responses, pair strategies, resume, per-item failures,
and the kill test (SIGKILL a real `judgelab annotate` process 3 times, rerun, nothing lost or doubled)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from judgelab.annotate.plan import load_responses, pair_id, plan_pairs
from judgelab.annotate.stage import AnnotateConfig, annotate
from judgelab.config import load_config
from judgelab.data.jsonl import read_jsonl, write_jsonl
from judgelab.data.records import ResponseRecord
from judgelab.data.rundir import RunDir
from judgelab.data.store import JudgmentStore
from judgelab.errors import ConfigError, DataError

_TESTS = str(Path(__file__).resolve().parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

WORDS = "moon river lantern quiet ember salt harbor violet thunder meadow glass orchard".split()


def _fake_response(rng: random.Random, k: int) -> str:
    """Responses that differ in length, punctuation and repetition, so the rubric tells them apart."""
    n = rng.randint(3, 40) * (k + 1)
    words = [rng.choice(WORDS) for _ in range(n)]
    text = " ".join(words)
    if rng.random() < 0.3:
        text += "!" * rng.randint(1, 4)
    return text.capitalize() + "."


def make_run(root: Path, n_prompts: int = 4, per_prompt: int = 4, models: tuple[str, ...] = ("pol",)) -> RunDir:
    """A run dir holding responses.jsonl built from the shipped prompt set (no sampling needed)."""
    from judgelab.data.prompts import load_prompts

    rd = RunDir(root).ensure()
    prompts = load_prompts("creative-v1", limit=n_prompts)
    rng = random.Random(0)
    rows = []
    for p in prompts:
        for m in models:
            for i in range(per_prompt):
                rows.append(
                    ResponseRecord(
                        id=f"{p.id}::{m}::{i}", prompt_id=p.id, prompt=p.prompt, response=_fake_response(rng, i),
                        model=m, family=p.family, split=p.split, constraints=dict(p.constraints), sample_index=i,
                    ).to_dict()
                )
    write_jsonl(rd.prompts, [p.to_dict() for p in prompts])
    write_jsonl(rd.responses, rows)
    return rd


def _ids(path: Path) -> list[str]:
    return [r["id"] for r in read_jsonl(path)]


def test_rubric_gold_all_pairs(tmp_path: Path) -> None:
    rd = make_run(tmp_path, n_prompts=3, per_prompt=4)
    cfg = AnnotateConfig.model_validate({"pairs": {"strategy": "all"}})
    s = annotate(cfg, rd.root)
    pairs = read_jsonl(rd.pairs)
    points = read_jsonl(rd.points)
    assert len(pairs) == 3 * 6 and len(points) == 12
    assert s["pairs"]["total"] == 18 and s["points"]["total"] == 12
    assert sum(s["pairs"]["labels"].values()) == s["pairs"]["labelled"] == 18
    for p in pairs:
        assert p["schema"] == "judgelab.pair/v1"
        assert p["label"] in ("A", "B", "tie") and p["error"] is None
        # label = agreement of the two orders, else tie
        assert p["label"] == (p["label_ab"] if p["label_ab"] == p["label_ba"] else "tie")
        assert p["reasoning"] and p["reasoning_ba"]  # gold traces kept, both orders
        assert p["constraints"] and p["family"]
    assert all(q["score"] is not None and 1 <= q["score"] <= 10 for q in points)
    # Each pair was judged in both orders: 2 verdicts per pair + 1 per point, stored once each.
    assert JudgmentStore(rd.store).count() == 2 * 18 + 12
    assert s["this_run"]["backend_calls"] == 2 * 18 + 12
    saved = json.loads((rd.annotations_dir / "summary.json").read_text())
    assert saved["pairs"]["labels"] == s["pairs"]["labels"]
    assert (rd.annotations_dir / "gold_hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The rubric gold is deterministic: it distinguishes these responses, so not everything ties.
    assert s["pairs"]["labels"]["tie"] < 18
    assert s["pairs"]["position_consistency"] is not None


def test_pair_strategies(tmp_path: Path) -> None:
    rd = make_run(tmp_path, n_prompts=3, per_prompt=3, models=("ref", "pol"))
    responses = load_responses(rd.responses)
    ref = AnnotateConfig.model_validate({"pairs": {"strategy": "reference", "reference_model": "ref"}}).pairs
    pairs = plan_pairs(responses, ref, seed=0)
    assert len(pairs) == 3 * 5  # every other response vs the reference
    for a, b in pairs:
        assert "::ref::0" in a.id or "::ref::0" in b.id
        assert a.prompt_id == b.prompt_id
    rnd = AnnotateConfig.model_validate({"pairs": {"strategy": "random", "k": 4}}).pairs
    p1, p2 = plan_pairs(responses, rnd, seed=1), plan_pairs(responses, rnd, seed=1)
    assert [pair_id(a, b) for a, b in p1] == [pair_id(a, b) for a, b in p2]  # deterministic
    assert len(p1) == 3 * 4 and len({pair_id(a, b) for a, b in p1}) == 12
    cap = AnnotateConfig.model_validate({"pairs": {"strategy": "all", "max_per_prompt": 5}}).pairs
    assert len(plan_pairs(responses, cap, seed=0)) == 3 * 5
    with pytest.raises(ConfigError, match="reference_model"):
        load_config(AnnotateConfig, None, ["pairs.strategy=reference"])


def test_resume_judges_only_what_is_missing(tmp_path: Path) -> None:
    rd = make_run(tmp_path, n_prompts=4, per_prompt=4)
    base = {"pairs": {"strategy": "random", "k": 3}}
    # A partial run (first 2 prompts), then the full run: only the rest reaches the backend.
    s1 = annotate(AnnotateConfig.model_validate({**base, "max_prompts": 2}), rd.root)
    assert s1["this_run"]["backend_calls"] == 2 * (2 * 3) + 2 * 4
    full = AnnotateConfig.model_validate(base)
    s2 = annotate(full, rd.root)
    assert s2["this_run"]["backend_calls"] == 2 * (2 * 3) + 2 * 4
    assert s2["this_run"]["pairs"] == 6 and s2["this_run"]["points"] == 8
    # Simulate a kill between the store commit and the row append: rows vanish, verdicts stay.
    pairs = read_jsonl(rd.pairs)
    write_jsonl(rd.pairs, pairs[::2])
    s3 = annotate(full, rd.root)
    assert s3["this_run"]["backend_calls"] == 0
    assert s3["this_run"]["cache_hits"] == 2 * len(pairs[1::2])
    assert read_jsonl(rd.pairs) == pairs  # same rows, same deterministic order
    # Nothing to do at all on a finished run.
    s4 = annotate(full, rd.root)
    assert s4["this_run"]["judge_calls"] == 0 and s4["pairs"]["total"] == 12


def test_item_failures_are_recorded_then_retried(tmp_path: Path) -> None:
    """A real HTTP gold (fault server) that answers some requests with a permanent 400."""
    from fault_server import FaultServer

    rd = make_run(tmp_path, n_prompts=2, per_prompt=3)
    with FaultServer(fault_rate=0.3, kinds=("400",), seed=3) as srv:
        cfg = AnnotateConfig.model_validate(
            {
                "gold": {
                    "name": "gold-http", "style": "direct",
                    "backend": {"type": "openai", "model": "m", "base_urls": [srv.url], "max_retries": 0},
                },
                "pairs": {"strategy": "all"},
                "plot": False,
            }
        )
        s1 = annotate(cfg, rd.root)
        errs = s1["pairs"]["errors"] + s1["points"]["errors"]
        assert errs > 0, "fault server injected no 400s; pick another seed"
        bad = [r for r in read_jsonl(rd.pairs) + read_jsonl(rd.points) if r["error"]]
        assert len(bad) == errs and all("400" in r["error"] or "HTTP" in r["error"] for r in bad)
        assert not rd.is_done("annotate")
        # The rerun retries only the failed items (the server's 400s are per (body, attempt)).
        s2 = annotate(cfg, rd.root)
    assert s2["this_run"]["pairs"] + s2["this_run"]["points"] == errs
    assert s2["pairs"]["errors"] + s2["points"]["errors"] < errs
    assert len(read_jsonl(rd.pairs)) == 6 and len(set(_ids(rd.pairs))) == 6


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="responses file not found"):
        annotate(AnnotateConfig(), tmp_path / "nope")
    with pytest.raises(ConfigError, match="unknown key 'pairs.kk'"):
        load_config(AnnotateConfig, None, ["pairs.kk=3"])
    r = subprocess.run(
        [sys.executable, "-c", "from judgelab.cli import main; main()", "annotate", "--run", str(tmp_path / "nope")],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "responses file not found" in r.stderr


def _count_lines(path: Path) -> int:
    try:
        return sum(1 for line in path.open() if line.strip())
    except FileNotFoundError:
        return 0


def test_kill_three_times_then_resume(tmp_path: Path) -> None:
    """SIGKILL `judgelab annotate` at 3 random points; the rerun ends with exactly the plan."""
    rd = make_run(tmp_path / "run", n_prompts=10, per_prompt=5)
    overrides = ["pairs.strategy=all", "gold.concurrency=4", "throttle_s=0.02", "plot=false"]
    cfg = load_config(AnnotateConfig, None, overrides)
    plan = plan_pairs(load_responses(rd.responses), cfg.pairs, cfg.seed)
    n_pairs, n_points = len(plan), 50
    assert n_pairs == 100
    cmd = [sys.executable, "-c", "from judgelab.cli import main; main()", "annotate", "--run", str(rd.root)]
    for o in overrides:
        cmd += ["--set", o]

    rng = random.Random(os.getpid())
    total = n_pairs + n_points
    kills = 0
    for frac in (0.15, 0.4, 0.65):
        before = _count_lines(rd.pairs) + _count_lines(rd.points)
        target = max(before + 1, int(total * (frac + rng.uniform(0, 0.15))))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if _count_lines(rd.pairs) + _count_lines(rd.points) >= target:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))  # land somewhere random, not right after an append
        assert proc.poll() is None, f"annotate finished before the kill: {proc.stderr.read().decode()[-500:]}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        assert proc.returncode == -signal.SIGKILL
    assert kills == 3
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]

    pairs, points = _ids(rd.pairs), _ids(rd.points)
    assert len(pairs) == n_pairs and len(set(pairs)) == n_pairs
    assert len(points) == n_points and len(set(points)) == n_points
    assert pairs == [pair_id(a, b) for a, b in plan]  # deterministic order
    assert all(row["label"] is not None and row["error"] is None for row in read_jsonl(rd.pairs))
    # Every verdict exists once in the store; the last run judged at most the kill-time remainder.
    assert JudgmentStore(rd.store).count() == 2 * n_pairs + n_points
    summary = json.loads((rd.annotations_dir / "summary.json").read_text())
    assert summary["this_run"]["backend_calls"] < 2 * n_pairs + n_points
    assert summary["this_run"]["backend_calls"] + summary["this_run"]["cache_hits"] == summary["this_run"]["judge_calls"]

    # Same labels as an uninterrupted run.
    clean = make_run(tmp_path / "clean", n_prompts=10, per_prompt=5)
    annotate(load_config(AnnotateConfig, None, ["pairs.strategy=all", "plot=false"]), clean.root)
    assert read_jsonl(clean.pairs) == read_jsonl(rd.pairs)
    assert Counter(r["score"] for r in read_jsonl(clean.points)) == Counter(r["score"] for r in read_jsonl(rd.points))


def test_llm_gold_style_keeps_traces_via_http(tmp_path: Path) -> None:
    """An HTTP gold that answers with reasoning text: traces land in reasoning/reasoning_ba."""
    from fault_server import FaultServer

    def reply(text: str) -> str:
        if "[[A]]" in text:
            # prefer the shorter response: a verdict that flips with order for some pairs
            return "<think>Compare both responses carefully.</think>\n[[A]]"
        return "<think>Check the constraints.</think>\nScore: 6"

    rd = make_run(tmp_path, n_prompts=2, per_prompt=3)
    with FaultServer(reply=reply) as srv:
        cfg = AnnotateConfig.model_validate(
            {
                "gold": {
                    "name": "gold-llm", "style": "reasoning",
                    "backend": {"type": "openai", "model": "m", "base_urls": [srv.url], "concurrency": 8},
                },
                "pairs": {"strategy": "all"},
            }
        )
        s = annotate(cfg, rd.root)
    # Always "[[A]]" = always the first-shown response: position-inconsistent, so every label is a tie.
    assert s["pairs"]["labels"] == {"A": 0, "B": 0, "tie": 6}
    assert s["pairs"]["position_consistency"] == 0.0
    row = read_jsonl(rd.pairs)[0]
    assert row["label_ab"] == "A" and row["label_ba"] == "B"
    assert row["reasoning"] == "Compare both responses carefully." and row["reasoning_ba"]
    assert s["points"]["mean_score"] == 6.0


def test_torn_tails_then_rerun_give_exactly_the_planned_rows(tmp_path: Path) -> None:
    """A write cut at a random byte of pairs.jsonl / points.jsonl (a crash mid-append), then a
    rerun: exactly the planned rows, no duplicates, identical to an uninterrupted run (20 trials)."""
    rng = random.Random(7)
    cfg = AnnotateConfig.model_validate({"pairs": {"strategy": "random", "k": 3}})
    ref = make_run(tmp_path / "ref", n_prompts=3, per_prompt=4)
    annotate(cfg, ref.root)
    want_pairs, want_points = read_jsonl(ref.pairs), read_jsonl(ref.points)
    for trial in range(20):
        rd = make_run(tmp_path / f"t{trial}", n_prompts=3, per_prompt=4)
        annotate(cfg, rd.root)
        for path in (rd.pairs, rd.points):
            data = path.read_bytes()
            path.write_bytes(data[: rng.randint(1, len(data) - 1)])  # torn mid-row (or mid-file)
        annotate(cfg, rd.root)
        assert read_jsonl(rd.pairs) == want_pairs and read_jsonl(rd.points) == want_points, trial


def test_rerun_with_another_gold_is_refused_resume_is_not(tmp_path: Path) -> None:
    """A rerun skips the rows already written, so another gold would leave the old gold's labels
    under a record naming the new one: refused before run.json or any row changes. The same gold
    (pacing changed) resumes; after the annotations are deleted the new gold starts over."""
    from fault_server import FaultServer

    rd = make_run(tmp_path, n_prompts=2, per_prompt=3)
    rubric = AnnotateConfig.model_validate({"pairs": {"strategy": "all"}, "plot": False})
    annotate(rubric, rd.root)
    write_jsonl(rd.points, read_jsonl(rd.points)[:-1])  # an interrupted run
    files = lambda: {p: p.read_bytes() for p in (rd.pairs, rd.points, rd.run_json)}  # noqa: E731
    with_gold = lambda gold: AnnotateConfig.model_validate({**rubric.model_dump(), "gold": gold})  # noqa: E731
    with FaultServer() as srv:
        llm = {"name": "gold-llm", "style": "direct", "backend": {"type": "openai", "model": "m", "base_urls": [srv.url]}}
        before = files()
        with pytest.raises(ConfigError, match=r"pairs\.jsonl was made with gold 'gold'; this config's gold is "
                                              r"'gold-llm' \(use a new --run, or delete .*annotations"):
            annotate(with_gold(llm), rd.root)
        # Same name, other verdict settings: compared with the gold run.json recorded.
        for change, field in (({"scale": (1, 5)}, "scale"), ({"style": "direct"}, "style"),
                              ({"backend": {"type": "rubric", "rubric": "gold", "noise": 1.0}}, "backend.noise")):
            gold = {**rubric.gold.model_dump(), **change}
            with pytest.raises(ConfigError, match=rf"made with another config of gold 'gold' \(it differs in {field} "):
                annotate(with_gold(gold), rd.root)
        assert files() == before and srv.requests == 0
        # The same gold, more concurrency: resumes, judging only the missing row.
        s = annotate(with_gold({"concurrency": 3}), rd.root)
        assert s["this_run"]["points"] == 1 and s["this_run"]["pairs"] == 0 and s["judge"] == "gold"
        # Annotations deleted: the new gold annotates from scratch.
        import shutil

        shutil.rmtree(rd.annotations_dir)
        s = annotate(with_gold(llm), rd.root)
    assert s["judge"] == "gold-llm" and s["this_run"]["pairs"] == 6 and srv.requests > 0
    assert {r["judge"] for r in read_jsonl(rd.pairs) + read_jsonl(rd.points)} == {"gold-llm"}


def test_duplicate_response_ids_are_refused(tmp_path: Path) -> None:
    """Two good rows with one id would pair a response with itself; a failed row followed by its
    retry (what an interrupted sample leaves) is fine."""
    rd = make_run(tmp_path, n_prompts=2, per_prompt=3)
    rows = read_jsonl(rd.responses)
    write_jsonl(rd.responses, [dict(rows[0], response="", error="timeout")] + rows)
    assert [r.id for r in load_responses(rd.responses)] == [r["id"] for r in rows]
    write_jsonl(rd.responses, rows + [dict(rows[1], response="another text")])
    with pytest.raises(DataError, match=rf"responses\.jsonl:{len(rows) + 1}: duplicate id '{rows[1]['id']}' "
                                        r"\(first on line 2\) \(ids must be unique within responses\.jsonl"):
        annotate(AnnotateConfig(), rd.root)
    assert not rd.annotations_dir.exists() or not any(rd.annotations_dir.iterdir())


def test_where_a_local_gold_runs_does_not_block_a_resume() -> None:
    """Moving a local gold from the CPU to a GPU, or batching it differently, is placement, not a
    verdict setting; its dtype is one."""
    from judgelab.annotate.stage import _verdict_settings

    cpu = {"name": "g", "backend": {"type": "transformers", "model": "m", "device": "cpu", "batch_size": 8,
                                    "max_wait_ms": 5, "static_cache": False, "dtype": "float32"}}
    gpu = {"name": "g", "backend": {**cpu["backend"], "device": "cuda", "batch_size": 64, "max_wait_ms": 20,
                                    "static_cache": True}}
    assert _verdict_settings(cpu) == _verdict_settings(gpu)
    assert _verdict_settings(cpu) != _verdict_settings({"name": "g", "backend": {**cpu["backend"], "dtype": "bfloat16"}})
