"""One writer per output (judgelab.data.lock): two `judgelab judge -o same.jsonl` or two
`judgelab annotate` on one run, started at the same instant, 50 (judge) and 10 (annotate) rounds:
no traceback, no extra or missing line; the second writer either finds the first done (and gets
everything from the store) or stops with one clear line, exit 2. A killed holder never leaves a
stale lock.

Both writers of a round are ``os.fork()`` children of this process (which imported judgelab once),
released together through a pipe, each with its own stderr file: a fresh interpreter per writer
would spend seconds in imports and rarely overlap the other.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from judgelab.data.lock import BusyError, lock_path, writer_lock

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = ROOT / "examples" / "judge_rubric.yaml"


def _preload() -> None:
    """Import once here what the writers run, so that no forked child pays for it."""
    import judgelab.annotate.stage  # noqa: F401
    import judgelab.cli.annotate  # noqa: F401
    import judgelab.cli.judge  # noqa: F401
    import judgelab.judges.files  # noqa: F401
    import judgelab.judges.llm  # noqa: F401
    import judgelab.judges.registry  # noqa: F401
    import judgelab.judges.rubric  # noqa: F401


def _start_writers(argvs: list[list[str]], errs: list[Path]) -> list[int]:
    """Fork one child per argv, release them together, return their exit codes."""
    from judgelab.cli import main

    _preload()
    r, w = os.pipe()
    pids = []
    sys.stdout.flush()
    sys.stderr.flush()
    for argv, err in zip(argvs, errs):
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                import judgelab.lm.aio as aio

                aio._loop, aio._lock = None, threading.Lock()  # the parent's loop thread is not ours
                fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 2)
                sys.stderr = os.fdopen(2, "w", buffering=1)
                out = os.open(err.with_suffix(".out"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(out, 1)
                sys.stdout = os.fdopen(1, "w", buffering=1)
                os.close(w)
                os.read(r, 1)  # wait for the start signal
                main(argv)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    os.close(r)
    os.write(w, b"x" * len(pids))
    os.close(w)
    codes = []
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        codes.append(os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status))
    return codes


def _check_round(codes: list[int], errs: list[Path], tally: Counter) -> None:
    texts = [e.read_text() for e in errs]
    tally["tracebacks"] += sum("Traceback" in t for t in texts)
    assert all("Traceback" not in t for t in texts), texts
    assert 0 in codes and set(codes) <= {0, 2}, (codes, texts)
    for code, text in zip(codes, texts):
        if code == 2:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("error: ") and "is being written by process" in lines[0], text
            tally["busy"] += 1
            tally.setdefault("example", lines[0])  # type: ignore[arg-type]
    tally["both_ok"] += codes == [0, 0]


def test_busy_output_is_one_clear_error_and_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    out = tmp_path / "v.jsonl"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # holds the lock until killed
        with writer_lock(out, "this output"):
            os.write(w, b"x")
            time.sleep(60)
        os._exit(0)
    os.read(r, 1)
    with pytest.raises(BusyError) as ei:
        with writer_lock(out, "this output"):
            pass
    msg = ei.value.one_line()
    assert f"is being written by process {pid} (since " in msg and str(out) in msg and "\n" not in msg
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with writer_lock(out, "this output"):  # the kernel dropped the dead holder's lock
        with writer_lock(out, "this output"):  # re-entrant inside one process
            pass
    assert lock_path(out) == tmp_path / ".v.jsonl.lock"


def test_two_judges_on_one_output_50_rounds(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    base = [json.loads(x) for x in (ROOT / "examples" / "judge_items.jsonl").read_text().splitlines() if x.strip()]
    n = 24  # small: a round costs little, and some rounds the first writer is done before the second starts
    items.write_text("".join(json.dumps({**r, "id": f"{r['id']}-{j}"}) + "\n" for j in range(n // len(base)) for r in base))
    want = [json.loads(x)["id"] for x in items.read_text().splitlines()]
    def argv_of(out: Path) -> list[str]:
        return ["judge", "-c", str(RUBRIC), "-i", str(items), "-o", str(out)]

    tally: Counter = Counter()
    rounds = 50
    for k in range(rounds):
        out = tmp_path / f"r{k}" / "same.jsonl"
        out.parent.mkdir()
        errs = [tmp_path / f"r{k}" / f"err{i}" for i in (0, 1)]
        codes = _start_writers([argv_of(out), argv_of(out)], errs)
        _check_round(codes, errs, tally)
        got = [json.loads(x)["item_id"] for x in out.read_text().splitlines()]
        assert got == want, f"round {k}: {len(got)} lines for {len(want)} items"
        if codes == [0, 0]:  # one finished before the other took the lock: it judged nothing again
            assert any(f"cached {n}," in e.with_suffix(".out").read_text() for e in errs)
        assert not list(out.parent.glob("*.tmp"))
    # The stopped writer's rerun, once the first is done, judges nothing again: all from the store.
    again = tmp_path / "r0" / "again"
    assert _start_writers([argv_of(tmp_path / "r0" / "same.jsonl")], [again]) == [0]
    assert f"cached {n}," in again.with_suffix(".out").read_text()
    print(f"two judges on one output: {rounds} rounds, {tally['busy']} second writers stopped with one line, "
          f"{tally['both_ok']} rounds where both finished (the second from the store), {tally['tracebacks']} tracebacks, "
          f"0 extra or missing lines; e.g. {tally.get('example')!r}")
    assert tally["busy"] > 0  # the writers did overlap in some rounds


def test_two_annotates_on_one_run_10_rounds(tmp_path: Path) -> None:
    if str(ROOT / "tests") not in sys.path:  # --import-mode=importlib leaves tests/ off sys.path
        sys.path.insert(0, str(ROOT / "tests"))
    from test_fault_matrix import _responses_run

    from judgelab.data.jsonl import read_jsonl

    tally: Counter = Counter()
    rounds = 10
    for k in range(rounds):
        rd = _responses_run(tmp_path / f"r{k}")
        errs = [rd.root / f"err{i}" for i in (0, 1)]
        argv = ["annotate", "--run", str(rd.root), "--set", "pairs.k=3", "--set", "plot=false"]
        codes = _start_writers([argv, argv], errs)
        _check_round(codes, errs, tally)
        pairs, points = read_jsonl(rd.pairs), read_jsonl(rd.points)
        assert len(pairs) == 9 == len({p["id"] for p in pairs}), k
        assert len(points) == 12 == len({p["id"] for p in points}), k
    print(f"two annotates on one run: {rounds} rounds, {tally['busy']} stopped with one line, "
          f"{tally['both_ok']} both finished, {tally['tracebacks']} tracebacks")
    assert tally["busy"] > 0


def test_sample_refuses_a_second_writer_before_loading_a_model(tmp_path: Path) -> None:
    from judgelab.data.rundir import RunDir
    from judgelab.sample import SampleConfig, sample

    rd = RunDir(tmp_path).ensure()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        with writer_lock(rd.responses, "responses.jsonl of this run"):
            os.write(w, b"x")
            time.sleep(60)
        os._exit(0)
    try:
        os.read(r, 1)
        cfg = SampleConfig.model_validate({"prompts": {"source": "creative-v1", "limit": 2},
                                           "policies": [{"backend": {"type": "transformers", "model": "no/such-model"}}]})
        with pytest.raises(BusyError, match="responses.jsonl of this run is being written by process"):
            sample(cfg, rd.root)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
