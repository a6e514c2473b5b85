"""Acceptance: judging through a flaky real HTTP server loses nothing.

A local OpenAI-compatible server (tests/fault_server.py) injects timeouts, 429s, 500s and
malformed JSON on ~20% of requests (seeded by request body, so the same requests fail every
run). 100 pointwise + pairwise items go through ``Judge`` with the openai backend; every item
must come back with a verdict or a recorded failure, and the retry counts on the client must
match the faults the server injected.
"""

from __future__ import annotations

import re
from collections import Counter

from judgelab.data.store import JudgmentStore
from judgelab.judges.config import JudgeConfig
from judgelab.judges.base import Judge
from judgelab.judges.registry import load_judge
from judgelab.judges.types import PairwiseItem, PointwiseItem

N = 100
_ITEM = re.compile(r"item-(\d{3})")
# server fault kind -> the backend's name for it
_KIND = {"timeout": "timeout", "429": "rate_limited", "500": "server_error", "malformed": "malformed"}


def items(n: int = N) -> list:
    out: list = []
    for i in range(n):
        prompt = f"Write a short poem about topic item-{i:03d}."
        if i % 2 == 0:
            out.append(PointwiseItem(f"item-{i:03d}", prompt, f"A poem, number {i}."))
        else:
            out.append(PairwiseItem(f"item-{i:03d}", prompt, f"Poem one ({i}).", f"Poem two ({i})."))
    return out


def judge_for(url: str, **backend) -> Judge:
    b = dict(type="openai", model="flaky-judge", base_urls=[url], timeout_s=0.5, max_retries=5,
             backoff_base_s=0.01, backoff_max_s=0.05, concurrency=8)
    b.update(backend)
    return load_judge(JudgeConfig(name="flaky", backend=b))


def per_item(server) -> tuple[Counter, Counter]:
    """(requests per item, faults per item) from the server's own log."""
    reqs, faults = Counter(), Counter()
    for r in server.log:
        m = _ITEM.search(r.text)
        assert m, f"request without an item marker: {r.text[:80]!r}"
        reqs[m.group(1)] += 1
        if r.fault:
            faults[m.group(1)] += 1
    return reqs, faults


def test_every_item_ends_with_verdict_despite_faults(fault_server):
    srv = fault_server(fault_rate=0.2, seed=1, hang_s=1.5)
    judge = judge_for(srv.url)
    its = items()
    try:
        results = judge.judge(its)
    finally:
        judge.close()
    stats = judge.backend.stats

    # Nothing silently dropped: one result per item, in order, each a verdict or a recorded failure.
    assert len(results) == len(its)
    assert [v.item_id for v in results] == [it.id for it in its]
    assert all(v.parsed or v.error for v in results)
    # With 5 retries and these seeded faults every item gets through.
    assert all(v.ok for v in results), [v.error for v in results if not v.ok]
    for it, v in zip(its, results):
        if isinstance(it, PointwiseItem):
            assert v.mode == "pointwise" and v.score == 7.0
        else:
            assert v.mode == "pairwise" and v.preference == "A"

    # Faults really happened, of every kind, at about the configured rate.
    injected = sum(srv.faults.values())
    assert set(srv.faults) == set(_KIND), srv.faults
    assert 0.1 * srv.requests <= injected <= 0.3 * srv.requests, (injected, srv.requests)

    # Retry bookkeeping agrees between client and server: each request beyond the first per item
    # is a retry, and each injected fault caused exactly one (a real client-side timeout on a slow
    # machine could add a timeout retry the server did not inject, hence >= for timeouts only).
    assert srv.requests == N + stats.retries == stats.attempts
    assert stats.requests == N and stats.succeeded == N and stats.failed == 0
    for kind, name in _KIND.items():
        if kind == "timeout":
            assert stats.faults[name] >= srv.faults[kind]
        else:
            assert stats.faults[name] == srv.faults[kind], (kind, stats.faults, srv.faults)
    reqs, faults = per_item(srv)
    assert len(reqs) == N
    for k in reqs:
        assert reqs[k] >= 1 + faults[k]
    assert sum(1 for k in reqs if reqs[k] == 1 + faults[k]) >= N - 3
    print(f"\nfault injection: {srv.requests} requests, {injected} faults {dict(srv.faults)}, "
          f"{stats.retries} retries, max attempts {max(reqs.values())}")


def test_no_retries_records_failure_on_item_and_rerun_fills_in(fault_server, tmp_path):
    srv = fault_server(fault_rate=0.3, seed=3, hang_s=1.5)
    store = JudgmentStore(tmp_path / "judgments.sqlite")
    its = items()
    judge = load_judge(judge_for(srv.url, max_retries=0).config, store=store)
    try:
        results = judge.judge(its)
    finally:
        judge.close()

    assert len(results) == N and all(v.parsed or v.error for v in results)
    failed = {v.item_id: v for v in results if v.error}
    _, faults = per_item(srv)
    assert srv.requests == N  # no retries
    # Every faulted item is a recorded failure on that very item (a spurious client timeout may add one).
    assert {f"item-{k}" for k in faults} <= set(failed)
    assert len(failed) <= len(faults) + 2
    assert len(failed) >= 10
    for v in failed.values():
        assert not v.parsed and v.score is None and v.preference is None
        assert "attempts 1" in v.error
    # Failures are not stored, successes are: a rerun (with retries) sends only the failed items.
    assert store.count() == N - len(failed)
    first_faults = dict(srv.faults)
    before = srv.requests
    judge2 = load_judge(judge_for(srv.url, max_retries=5).config, store=store)
    try:
        again = judge2.judge(its)
    finally:
        judge2.close()
    assert all(v.ok for v in again)
    assert sum(not v.cached for v in again) == len(failed)
    assert srv.requests - before == len(failed) + judge2.backend.stats.retries
    assert store.count() == N
    print(f"\nno retries: {len(failed)} of {N} items failed and were recorded ({first_faults}); "
          f"rerun re-sent exactly those")
