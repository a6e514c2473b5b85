"""JudgmentStore: unit behaviour, schema version, concurrent writers (threads and processes),
and the two acceptance properties through Judge + openai backend + a real local server:
(a) a repeated run makes no backend calls; (b) a run killed with SIGKILL resumes and judges
every item exactly once, except at most the requests in flight at the kill."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import pytest

from judgelab.data.store import SCHEMA_VERSION, JudgmentStore, stable_hash
from judgelab.errors import DataError
from judgelab.judges.config import JudgeConfig
from judgelab.judges.registry import load_judge
from judgelab.judges.types import PairwiseItem, PointwiseItem


def put(store: JudgmentStore, key: str, item_id: str, **v) -> bool:
    return store.put(key, {"item_id": item_id, **v}, judge="j", mode="pointwise", item_id=item_id)


# -- unit ---------------------------------------------------------------------------------------


def test_put_get_get_many_first_writer_wins(tmp_path):
    with JudgmentStore(tmp_path / "s.sqlite") as s:
        assert s.get("k0") is None
        assert put(s, "k0", "a", score=1) is True
        assert put(s, "k0", "a", score=2) is False  # first verdict kept
        assert s.get("k0") == {"item_id": "a", "score": 1}
        keys = [f"k{i}" for i in range(1200)]  # more than one IN(...) chunk
        n = s.put_many((k, {"i": i}, "j2", "pairwise", f"id{i}") for i, k in enumerate(keys))
        assert n == 1199 and s.count() == 1200 and s.count("j2") == 1199
        got = s.get_many(keys + ["missing", "k5"])
        assert len(got) == 1200 and "missing" not in got and got["k5"] == {"i": 5}
        assert "k7" in s and "nope" not in s
        rows = list(s.rows("j"))
        assert [r["key"] for r in rows] == ["k0"] and rows[0]["verdict"]["score"] == 1
    assert stable_hash({"b": 1, "a": [1, 2]}) == stable_hash({"a": [1, 2], "b": 1})


def test_schema_version_table_and_mismatch(tmp_path):
    p = tmp_path / "s.sqlite"
    s = JudgmentStore(p)
    assert s.schema_version == SCHEMA_VERSION == 1
    s.close()
    with sqlite3.connect(p) as c:
        c.execute("UPDATE store_meta SET value='99' WHERE name='schema_version'")
    with pytest.raises(DataError, match="schema version 99"):
        JudgmentStore(p)


def test_not_a_database_is_data_error(tmp_path):
    p = tmp_path / "junk.sqlite"
    p.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="junk.sqlite"):
        JudgmentStore(p)
    with pytest.raises(DataError, match="directory"):
        JudgmentStore(tmp_path)


def test_closed_store_raises(tmp_path):
    s = JudgmentStore(tmp_path / "s.sqlite")
    s.close()
    with pytest.raises(DataError, match="closed"):
        s.get("x")


def test_threads_share_one_store(tmp_path):
    s = JudgmentStore(tmp_path / "s.sqlite")
    inserted = Counter()
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(150):
            own = put(s, f"t{t}-{i}", f"t{t}-{i}")
            shared = put(s, f"shared-{i}", f"shared-{i}", writer=t)
            with lock:
                inserted["own"] += own
                inserted["shared"] += shared

    ts = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert inserted == {"own": 900, "shared": 150}
    assert s.count() == 1050
    s.close()


# -- several processes ----------------------------------------------------------------------------


def _writer(path: str, w: int, n: int, start, out) -> None:
    s = JudgmentStore(path)  # opened in the child, like a real worker
    start.wait(30)
    new = {"own": 0, "shared": 0}
    for i in range(n):
        new["own"] += put(s, f"w{w}-{i}", f"w{w}-{i}", writer=w)
        new["shared"] += put(s, f"shared-{i}", f"shared-{i}", writer=w)
    s.close()
    out.put((w, new))


def test_processes_write_disjoint_and_overlapping_keys(tmp_path):
    path, n, procs = str(tmp_path / "s.sqlite"), 250, 4
    ctx = mp.get_context("spawn")  # no inherited threads or connections
    start, out = ctx.Event(), ctx.Queue()
    ps = [ctx.Process(target=_writer, args=(path, w, n, start, out)) for w in range(procs)]
    for p in ps:
        p.start()
    start.set()
    results = dict(out.get(timeout=120) for _ in ps)
    for p in ps:
        p.join(30)
        assert p.exitcode == 0
    s = JudgmentStore(path)
    rows = list(s.rows())
    keys = Counter(r["key"] for r in rows)
    assert len(rows) == procs * n + n and max(keys.values()) == 1
    assert all(results[w]["own"] == n for w in range(procs))
    # Exactly one process won each shared key, and its verdict is the one stored.
    assert sum(r["shared"] for r in results.values()) == n
    writers = Counter(r["verdict"]["writer"] for r in rows if r["key"].startswith("shared-"))
    assert sum(writers.values()) == n
    assert {w: writers[w] for w in range(procs)} == {w: results[w]["shared"] for w in range(procs)}
    s.close()


def _forked_child(s: JudgmentStore) -> None:
    put(s, "from-child", "c")
    s.close()


def test_store_survives_fork(tmp_path):
    s = JudgmentStore(tmp_path / "s.sqlite")
    put(s, "from-parent", "p")
    p = mp.get_context("fork").Process(target=_forked_child, args=(s,))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    put(s, "parent-again", "p2")  # the parent's connection is untouched by the child
    assert s.count() == 3 and s.get("from-child") == {"item_id": "c"}
    s.close()


# -- acceptance through Judge + openai backend + a real server -------------------------------------


def make_items(n: int) -> list:
    out: list = []
    for i in range(n):
        prompt = f"Write two lines about subject item-{i:04d}."
        if i % 2:
            out.append(PairwiseItem(f"item-{i:04d}", prompt, f"first {i}", f"second {i}"))
        else:
            out.append(PointwiseItem(f"item-{i:04d}", prompt, f"lines {i}"))
    return out


def judge_config(url: str, concurrency: int = 8) -> dict:
    return {
        "name": "store-judge",
        "concurrency": concurrency,
        "backend": {"type": "openai", "model": "m", "base_urls": [url], "timeout_s": 10.0, "max_retries": 2,
                    "backoff_base_s": 0.01, "backoff_max_s": 0.05, "concurrency": concurrency},
    }


_ITEM = re.compile(r"item-(\d{4})")


def requests_per_item(server) -> Counter:
    """Requests per item id; a request whose body was torn by the kill names no item."""
    return Counter(m.group(1) for r in server.log if (m := _ITEM.search(r.text)))


def test_second_run_makes_no_backend_calls(fault_server, tmp_path):
    srv = fault_server()
    store = JudgmentStore(tmp_path / "j.sqlite")
    its = make_items(200)
    cfg = JudgeConfig.model_validate(judge_config(srv.url))
    j1 = load_judge(cfg, store=store)
    t0 = time.perf_counter()
    first = j1.judge(its)
    t1 = time.perf_counter()
    j1.close()
    assert all(v.ok and not v.cached for v in first) and srv.requests == 200 and store.count() == 200
    j2 = load_judge(cfg, store=store)  # a fresh judge (and backend) on the same store
    second = j2.judge(its)
    t2 = time.perf_counter()
    j2.close()
    assert srv.requests == 200 and j2.backend_calls == 0 and j2.backend.stats.requests == 0
    assert all(v.cached for v in second)
    strip = lambda v: {k: x for k, x in v.to_dict().items() if k != "cached"}  # noqa: E731
    assert [strip(v) for v in second] == [strip(v) for v in first]
    print(f"\nstore: first run {t1 - t0:.2f}s (200 server requests), second {t2 - t1:.2f}s (0 requests)")


_CHILD = textwrap.dedent(
    """
    import json, logging, sys
    from judgelab.data.store import JudgmentStore
    from judgelab.judges.config import JudgeConfig
    from judgelab.judges.llm import LLMJudge
    from judgelab.judges.registry import load_judge
    from judgelab.judges.types import PairwiseItem, PointwiseItem

    cfg_path, items_path, db = sys.argv[1:4]
    cfg = JudgeConfig.model_validate(json.load(open(cfg_path)))
    items = [PairwiseItem(**d) if "response_a" in d else PointwiseItem(**d) for d in json.load(open(items_path))]
    judge = load_judge(cfg, store=JudgmentStore(db))
    judge.judge(items)
    print("finished", flush=True)
    """
)


def test_sigkill_mid_run_then_resume_judges_each_item_once(fault_server, tmp_path):
    n, conc = 200, 4
    srv = fault_server(latency_s=0.02)
    its = make_items(n)
    cfg = judge_config(srv.url, concurrency=conc)
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "items.json").write_text(json.dumps([it.__dict__ for it in its]))
    (tmp_path / "child.py").write_text(_CHILD)
    db = tmp_path / "j.sqlite"

    child = subprocess.Popen(
        [sys.executable, str(tmp_path / "child.py"), str(tmp_path / "cfg.json"), str(tmp_path / "items.json"), str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while srv.requests < n // 3:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "child made too few requests"
            time.sleep(0.002)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert child.returncode == -signal.SIGKILL
    # Requests the child wrote before dying may still sit in the server's socket queue: wait
    # until the server's log stops growing.
    sent_first, quiet_since = srv.requests, time.monotonic()
    while time.monotonic() - quiet_since < 0.2:
        time.sleep(0.02)
        if srv.requests != sent_first:
            sent_first, quiet_since = srv.requests, time.monotonic()
    store = JudgmentStore(db)
    stored_at_kill = store.count()
    assert 0 < stored_at_kill < n, "the kill did not land mid-run"

    judge = load_judge(JudgeConfig.model_validate(cfg), store=store)
    results = judge.judge(its)
    judge.close()

    assert all(v.ok for v in results) and len(results) == n
    # The rerun sent exactly the items with no stored verdict.
    assert srv.requests - sent_first == n - stored_at_kill == judge.backend_calls
    # Every item reached the backend once, except those in flight at the kill (<= concurrency).
    per_item = requests_per_item(srv)
    assert len(per_item) == n and max(per_item.values()) <= 2
    twice = [k for k, c in per_item.items() if c == 2]
    # A request the child was still writing when killed reaches the server torn (no JSON body).
    torn = sum(1 for r in srv.log[:sent_first] if r.body is None)
    assert torn <= conc
    assert len(twice) == sent_first - torn - stored_at_kill <= conc
    # Exactly one stored verdict per item.
    rows = list(store.rows())
    assert len(rows) == n and len({r["item_id"] for r in rows}) == n
    store.close()
    print(f"\nsigkill: killed after {sent_first} requests with {stored_at_kill} stored; rerun sent "
          f"{n - stored_at_kill}; {len(twice)} items sent twice (in flight at the kill)")


# -- several ranks: one writer per file ----------------------------------------------------------

_RANK_SCRIPT = textwrap.dedent("""
    import json, sys
    from judgelab.data.store import JudgmentStore
    s = JudgmentStore(sys.argv[1])
    for key in sys.argv[2:]:
        s.put(key, {"by": s.write_path.name}, judge="j", mode="pointwise", item_id=key)
    print(json.dumps({"file": s.write_path.name, "k0": s.get("k0"), "count": s.count(), "merged": s.merged}))
    s.close()
""")


def _as_rank(path, rank: int, local_rank: int, world: int, *keys: str) -> dict:
    env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(world)}
    r = subprocess.run([sys.executable, "-c", _RANK_SCRIPT, str(path), *keys], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_ranks_write_their_own_shards_and_the_next_plain_open_merges(tmp_path):
    from judgelab.data.store import shard_path

    db = tmp_path / "judgments.sqlite"
    with JudgmentStore(db) as s:  # one process, as before: the store file itself
        assert s.write_path == db
        put(s, "k0", "a", by="plain")
    one = _as_rank(db, 1, 1, 2, "k1", "k0")
    assert one["file"] == "judgments.rank1.sqlite"
    assert one["k0"] == {"item_id": "a", "by": "plain"}  # rank 0's store read through, its verdict first
    zero = _as_rank(db, 0, 0, 2, "k2")
    assert zero == {"file": "judgments.sqlite", "k0": {"item_id": "a", "by": "plain"}, "count": 2, "merged": 0}
    assert shard_path(db, 1).exists()  # under several ranks nobody merges
    other_node = _as_rank(db, 9, 1, 16, "k9")  # a rank on another node never opens the store file
    assert other_node["k0"] is None and other_node["count"] == 1
    with JudgmentStore(db) as s:  # the next single process merges (first verdict per key wins) and cleans up
        assert s.merged == 2 and s.count() == 4
        assert s.get("k0") == {"item_id": "a", "by": "plain"} and s.get("k1") == {"by": "judgments.rank1.sqlite"}
    assert not shard_path(db, 1).exists() and not shard_path(db, 9).exists()


def test_a_shard_still_open_is_merged_only_after_its_writer_closes(tmp_path, monkeypatch):
    from judgelab.data.store import merge_shards, shard_path

    db = tmp_path / "judgments.sqlite"
    JudgmentStore(db).close()
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    rank1 = JudgmentStore(db)
    again = JudgmentStore(db)  # a second store of the same rank (the policy's reward and its monitor) opens at once
    put(rank1, "k1", "x")
    assert again.get("k1") == {"item_id": "x"}
    assert _as_rank(db, 0, 0, 1)["merged"] == 0  # a plain process leaves a shard whose writer holds it
    assert shard_path(db, 1).exists()
    rank1.close()
    assert _as_rank(db, 0, 0, 1)["merged"] == 0  # still held by the other store
    again.close()
    for var in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(var)
    assert merge_shards(db) == 1  # what rank 0 calls after a barrier (here: a plain process)
    assert not shard_path(db, 1).exists()
    with JudgmentStore(db) as s:
        assert s.count() == 1 and s.merged == 0
