"""Fault matrix: SIGKILL at random points, then torn tails of every JSONL the stage writes (a random
byte cut), then a rerun — for sample, annotate, judge and train-policy. Each trial must end with
exactly the planned rows, no duplicates, identical to an uninterrupted run (fields that measure
time, and the ``cached`` flag, aside).

How it stays cheap: this process imports torch/transformers/TRL once; every run of a stage is a
``os.fork()`` child running the stage function (or the CLI entry point), killed by the parent with
SIGKILL after a random delay drawn over the length of an uninterrupted run. A fresh interpreter
per trial would spend 5-10 s in imports on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

ROOT = Path(__file__).resolve().parents[1]
TRIALS = int(os.environ.get("JUDGELAB_FAULT_TRIALS", "20"))
# train-policy trials (at least 20).
TRAIN_TRIALS = int(os.environ.get("JUDGELAB_FAULT_TRAIN_TRIALS", "20"))
# Values that measure time or cache state, not content: they differ between any two runs. And
# train_loss: HF Trainer's end-of-training summary row averages the loss over the steps of the last
# session only, so it differs after a resume (every per-step loss is compared exactly).
VOLATILE = {"train_loss", "created_at", "latency_s", "seconds", "cached", "train_runtime", "train_samples_per_second",
            "train_steps_per_second", "step_time", "judge_latency_mean_s", "items_per_s", "tokens_per_s"}


# --------------------------------------------------------------------------------- machinery


def _child_reset() -> None:
    """What a forked child must not inherit: the parent's background event loop (its thread does
    not exist in the child), so judgelab starts its own."""
    import judgelab.lm.aio as aio

    aio._loop = None
    aio._lock = threading.Lock()


def run_forked(fn: Callable[[], Any], kill_after: float | None = None) -> str:
    """Run ``fn`` in a forked child; SIGKILL it after ``kill_after`` seconds (None: let it finish).
    Returns 'ok', 'killed' or 'failed'."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            _child_reset()
            fn()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    if kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return "ok" if _ == 0 else "failed"
            time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return "killed"
    return "ok" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "failed"


def tear(path: Path, rng: random.Random) -> int:
    """Cut the file at a random byte (a crash mid-write): half the time inside its last line, else
    anywhere. Returns the bytes cut."""
    data = path.read_bytes()
    if not data:
        return 0
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    lo = last if rng.random() < 0.5 else 0
    cut = rng.randint(lo, len(data) - 1)
    path.write_bytes(data[:cut])
    return len(data) - cut


def strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items()
                if k not in VOLATILE and not k.endswith(("latency_mean_s", "cached_rate"))}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def rows(path: Path) -> list[dict[str, Any]]:
    from judgelab.data.jsonl import read_jsonl

    return read_jsonl(path)


def check_rows(got: list[dict], want: list[dict], what: str) -> None:
    ids = [r.get("id") for r in got]
    dup = [i for i, n in Counter(ids).items() if n > 1 and i is not None]
    assert not dup, f"{what}: duplicate ids {dup[:3]}"
    assert len(got) == len(want), f"{what}: {len(got)} rows, planned {len(want)}"
    assert strip(got) == strip(want), f"{what}: rows differ from the uninterrupted run"


class Matrix:
    """Runs the trials of one stage and keeps the figures."""

    def __init__(self, name: str, seed: int):
        self.name, self.rng = name, random.Random(seed)
        self.outcomes: Counter[str] = Counter()
        self.torn = 0

    def trial(self, run: Callable[[], None], files: list[Path], span_s: float, tear_finished: bool = True) -> None:
        """Kill a run at a random moment, tear whatever it wrote, rerun to the end; then (when
        ``tear_finished``) tear every file of the finished run once more and rerun again, so each
        file is torn in every trial, also those written only at the end."""
        outcome = run_forked(run, kill_after=self.rng.uniform(0.0, span_s))
        assert outcome != "failed", f"{self.name}: the interrupted run failed (see captured stderr)"
        self.outcomes[outcome] += 1
        self._tear(files)
        assert run_forked(run) == "ok", f"{self.name}: the rerun after a kill failed (see captured stderr)"
        if tear_finished:
            self._tear(files)
            assert run_forked(run) == "ok", f"{self.name}: the rerun after a torn finished run failed"

    def _tear(self, files: list[Path]) -> None:
        for f in files:
            if f.exists() and f.stat().st_size:
                self.torn += bool(tear(f, self.rng))

    def report(self, seconds: float) -> None:
        print(f"fault matrix {self.name}: {sum(self.outcomes.values())} trials ({self.outcomes['killed']} killed mid-run, "
              f"{self.outcomes['ok']} finished before the kill), {self.torn} files torn, {seconds:.1f} s")


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    assert run_forked(fn) == "ok"
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def tiny():
    import torch

    from judgelab.models.testing import tiny_model

    torch.set_num_threads(1)
    # Imported here, once, so that no forked child pays for it (and every child runs the same code
    # even while the files change on disk).
    import trl  # noqa: F401
    from trl import GRPOConfig, GRPOTrainer  # noqa: F401

    import judgelab.annotate.stage  # noqa: F401
    import judgelab.cli  # noqa: F401
    import judgelab.cli.annotate  # noqa: F401
    import judgelab.cli.judge  # noqa: F401
    import judgelab.judges.files  # noqa: F401
    import judgelab.judges.llm  # noqa: F401
    import judgelab.judges.parsing.pairwise  # noqa: F401
    import judgelab.judges.parsing.pointwise  # noqa: F401
    import judgelab.judges.registry  # noqa: F401
    import judgelab.sample  # noqa: F401
    import judgelab.train.rewards  # noqa: F401
    from judgelab.data.rundir import _git_commit, _versions

    _versions(), _git_commit()  # cached per process: the children inherit them
    import judgelab.judges.rubric  # noqa: F401
    import judgelab.lm.transformers  # noqa: F401
    import judgelab.train.cpu_path  # noqa: F401
    import judgelab.train.policy  # noqa: F401

    return tiny_model()


# --------------------------------------------------------------------------------- sample


def test_fault_matrix_sample(tmp_path: Path, tiny) -> None:
    from judgelab.data.rundir import RunDir
    from judgelab.lm.transformers import TransformersBackend
    from judgelab.sample import SampleConfig, sample

    cfg = SampleConfig.model_validate({
        "prompts": {"source": "creative-v1", "limit": 3},
        "policies": [{"name": "tiny", "backend": {"type": "transformers", "model": "unused"}}],
        "n": 3, "max_new_tokens": 6, "temperature": 1.0, "top_p": 1.0, "seed": 3, "concurrency": 3,
    })

    def run_in(root: Path) -> Callable[[], None]:
        def go() -> None:
            model, tok = tiny
            # 3 batches of 3, each appended (fsync'd) as it completes
            backend = TransformersBackend.from_model(model, tok, name="tiny", batch_size=3, max_wait_ms=5)
            s = sample(cfg, root, backends={"tiny": backend})
            assert s["errors"] == 0
        return go

    t0 = time.perf_counter()
    ref = RunDir(tmp_path / "ref")
    span = timed(run_in(ref.root))
    want = {"responses": rows(ref.responses), "prompts": rows(ref.prompts)}
    assert len(want["responses"]) == 9
    m = Matrix("sample", seed=11)
    for k in range(TRIALS):
        rd = RunDir(tmp_path / f"t{k}")
        m.trial(run_in(rd.root), [rd.responses, rd.prompts], span)
        check_rows(rows(rd.responses), want["responses"], f"sample trial {k} responses")
        check_rows(rows(rd.prompts), want["prompts"], f"sample trial {k} prompts")
        assert json.loads(rd.done_marker("sample").read_text()) == {"responses": 9}
    m.report(time.perf_counter() - t0)
    assert m.outcomes["killed"] >= TRIALS // 2  # most kills landed mid-run


# --------------------------------------------------------------------------------- annotate


def _responses_run(root: Path, n_prompts: int = 3, per_prompt: int = 4):
    from judgelab.data.jsonl import write_jsonl
    from judgelab.data.prompts import load_prompts
    from judgelab.data.records import ResponseRecord
    from judgelab.data.rundir import RunDir

    rd = RunDir(root).ensure()
    prompts = load_prompts("creative-v1", limit=n_prompts)
    rng = random.Random(0)
    words = "moon river lantern quiet ember salt harbor violet thunder meadow".split()
    out = []
    for p in prompts:
        for i in range(per_prompt):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(3, 30) * (i + 1))).capitalize() + "."
            out.append(ResponseRecord(id=f"{p.id}::pol::{i}", prompt_id=p.id, prompt=p.prompt, response=text, model="pol",
                                      family=p.family, split=p.split, constraints=dict(p.constraints), sample_index=i).to_dict())
    write_jsonl(rd.prompts, [p.to_dict() for p in prompts])
    write_jsonl(rd.responses, out)
    return rd


def test_fault_matrix_annotate(tmp_path: Path, tiny) -> None:
    from judgelab.annotate.stage import AnnotateConfig, annotate

    # throttle_s spreads the run over ~0.3 s so that kills land between rows, not only around them.
    cfg = AnnotateConfig.model_validate({"pairs": {"strategy": "random", "k": 3}, "plot": False, "throttle_s": 0.01,
                                         "gold": {"concurrency": 2}})

    def run_in(root: Path) -> Callable[[], None]:
        return lambda: annotate(cfg, root)

    t0 = time.perf_counter()
    ref = _responses_run(tmp_path / "ref")
    span = timed(run_in(ref.root))
    want_pairs, want_points = rows(ref.pairs), rows(ref.points)
    assert len(want_pairs) == 9 and len(want_points) == 12
    m = Matrix("annotate", seed=12)
    for k in range(TRIALS):
        rd = _responses_run(tmp_path / f"t{k}")
        m.trial(run_in(rd.root), [rd.pairs, rd.points], span)
        check_rows(rows(rd.pairs), want_pairs, f"annotate trial {k} pairs")
        check_rows(rows(rd.points), want_points, f"annotate trial {k} points")
        assert json.loads(rd.done_marker("annotate").read_text()) == {"pairs": 9, "points": 12}
    m.report(time.perf_counter() - t0)
    assert m.outcomes["killed"] >= TRIALS // 2


# --------------------------------------------------------------------------------- judge


def test_fault_matrix_judge(tmp_path: Path, tiny) -> None:
    from judgelab.cli import main

    items = tmp_path / "items.jsonl"
    base = rows(ROOT / "examples" / "judge_items.jsonl")
    # 240 items (the examples, renamed) so that a kill lands mid-run.
    items.write_text("".join(json.dumps({**r, "id": f"{r['id']}-{j}"}) + "\n" for j in range(20) for r in base))

    def run_to(out: Path) -> Callable[[], None]:
        return lambda: main(["judge", "-c", str(ROOT / "examples" / "judge_rubric.yaml"), "-i", str(items), "-o", str(out)])

    t0 = time.perf_counter()
    ref = tmp_path / "ref.jsonl"
    span = timed(run_to(ref))
    want = rows(ref)
    assert len(want) == 240
    m = Matrix("judge", seed=13)
    for k in range(TRIALS):
        out = tmp_path / f"t{k}.jsonl"
        m.trial(run_to(out), [out], span)
        got = rows(out)
        check_rows([{**r, "id": r["item_id"]} for r in got], [{**r, "id": r["item_id"]} for r in want], f"judge trial {k}")
    m.report(time.perf_counter() - t0)
    assert m.outcomes["killed"] >= TRIALS // 2


# --------------------------------------------------------------------------------- train-policy


class HashBackend:
    """A deterministic programmatic judge that still tells completions apart (a tiny random model's
    completions all look alike to the rubric, which would make every advantage zero and every
    GRPO update a no-op): the score is a hash of the text."""

    reads_items = True
    name = "hash"

    @staticmethod
    def _h(text: str) -> int:
        import hashlib

        return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)

    async def generate(self, request: Any) -> Any:
        from judgelab.judges.types import PointwiseItem
        from judgelab.lm.types import Generation

        it = request.item
        if isinstance(it, PointwiseItem):
            return Generation(text=f"Score: {1 + self._h(it.response) % 10}")
        a, b = self._h(it.response_a), self._h(it.response_b)
        return Generation(text="[[A]]" if a > b else "[[B]]" if b > a else "[[C]]")

    def identity(self) -> dict:
        return {"name": "hash"}

    async def aclose(self) -> None:
        pass


def _hash_judge() -> Any:
    from judgelab.judges.config import JudgeConfig, RubricBackendConfig
    from judgelab.judges.llm import LLMJudge

    return LLMJudge(JudgeConfig(name="hash", backend=RubricBackendConfig()), backend=HashBackend())


def _policy_setup(root: Path, mode: str = "pointwise"):
    from judgelab.data.jsonl import write_jsonl
    from judgelab.data.records import PromptRecord
    from judgelab.train.policy import TrainPolicyConfig

    prompts = [PromptRecord(id=f"p{i}", family="poem", prompt=f"Write about thing {i}.", split="train",
                            constraints={"lines": 2}) for i in range(4)]
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "prompts.jsonl", [p.to_dict() for p in prompts])
    return TrainPolicyConfig.model_validate({
        "model": "tiny",
        "judge": {"name": "hash", "backend": {"type": "rubric"}},
        "reward": {"mode": mode, "references": "generate"},
        "prompts": {"source": "run", "split": "train"},
        "grpo": {"num_generations": 4, "max_completion_length": 8, "max_steps": TRAIN_STEPS, "save_steps": 2,
                 "logging_steps": 1, "learning_rate": 1e-3},
        "device": "cpu",
    })


TRAIN_STEPS = 3  # checkpoints at 2 and 3: a kill after step 2 redoes step 3 from checkpoint-2


def _policy_state(root: Path) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file

    pdir = root / "policies" / "pol"
    final = pdir / f"checkpoint-{TRAIN_STEPS}"
    weights = load_file(str(final / "model.safetensors"))
    return {
        "log": [r for r in rows(pdir / "log.jsonl")],
        "weights": {k: v.to(torch.float32) for k, v in weights.items()},
    }


def steps_only(log: list[dict]) -> list[dict]:
    """The per-step rows of a trainer log. The end-of-training row (train_runtime, the session's mean
    train_loss) describes the last session: a run killed after its last checkpoint but before that
    row was written is finished by a rerun that trains nothing, so that row cannot be made again."""
    return strip([r for r in log if "train_runtime" not in r])


def _train_matrix(tmp_path: Path, tiny: Any, trials: int, window: float = 1.0) -> None:
    import copy

    import torch

    from judgelab.train.policy import train_policy

    model0, tok0 = tiny

    def run_in(root: Path) -> Callable[[], None]:
        def go() -> None:
            cfg = _policy_setup(root)
            # A copy of the same initial weights each time (the child owns its memory anyway).
            train_policy(cfg, root, "pol", model=copy.deepcopy(model0), tokenizer=copy.deepcopy(tok0),
                         judge=_hash_judge())
        return go

    t0 = time.perf_counter()
    ref = tmp_path / "ref"
    span = timed(run_in(ref))
    want = _policy_state(ref)
    assert len([r for r in want["log"] if "reward" in r]) == TRAIN_STEPS
    # The updates are real: the weights moved (identity below would be trivial otherwise).
    init = {k: v.to(torch.float32) for k, v in model0.state_dict().items()}
    assert any(not torch.equal(init[k], w) for k, w in want["weights"].items() if k in init)
    m = Matrix("train-policy", seed=14)
    same_log = same_weights = summary_missing = 0
    for k in range(trials):
        root = tmp_path / f"t{k}"
        pdir = root / "policies" / "pol"
        # log.jsonl is what this mode writes (pairwise-reference's references.jsonl: see
        # test_torn_references_are_regenerated).
        m.trial(run_in(root), [pdir / "log.jsonl"], span * window, tear_finished=False)
        got = _policy_state(root)
        assert json.loads((root / ".done" / "train-policy-pol").read_text()) == {"steps": TRAIN_STEPS}
        log_got, log_want = steps_only(got["log"]), steps_only(want["log"])
        same_log += log_got == log_want
        summary_missing += not any("train_runtime" in r for r in got["log"])
        same_weights += all(torch.equal(got["weights"][name], w) for name, w in want["weights"].items())
        if log_got != log_want:
            print(f"trial {k} log differs:", [(a.get("step"), key, a.get(key), b.get(key)) for a, b in zip(log_got, log_want)
                                              for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)])
    m.report(time.perf_counter() - t0)
    print(f"train-policy identical to the uninterrupted run: log.jsonl step rows {same_log}/{trials}, "
          f"final checkpoint weights {same_weights}/{trials} (end-of-training summary row absent in "
          f"{summary_missing}: killed, or log torn, after the last save; a rerun that trains nothing cannot remake it)")
    assert same_log == same_weights == trials


def test_fault_matrix_train_policy(tmp_path: Path, tiny) -> None:
    """The acceptance figure in the default run: 20+ trials (each two short GRPO runs, ~3 s unloaded),
    kills anywhere, including after the last checkpoint is saved."""
    _train_matrix(tmp_path, tiny, max(20, TRAIN_TRIALS))


def test_rerun_of_a_finished_policy_trains_no_further(tmp_path: Path, tiny) -> None:
    import copy

    from judgelab.data.rundir import checkpoints
    from judgelab.train.policy import train_policy

    model0, tok0 = tiny
    root = tmp_path / "r"

    def go() -> None:
        train_policy(_policy_setup(root), root, "pol", model=copy.deepcopy(model0), tokenizer=copy.deepcopy(tok0),
                     judge=_hash_judge())

    assert run_forked(go) == "ok"
    want = _policy_state(root)
    assert run_forked(go) == "ok"  # the same command again, on the finished policy
    assert [s for s, _ in checkpoints(root / "policies" / "pol")] == [2, TRAIN_STEPS]
    assert json.loads((root / ".done" / "train-policy-pol").read_text()) == {"steps": TRAIN_STEPS}
    assert strip(_policy_state(root)["log"]) == strip(want["log"])  # untouched, summary row included


def test_torn_references_are_regenerated(tmp_path: Path, tiny) -> None:
    """references.jsonl cut at a random byte inside a row, then a rerun: the same references."""
    import copy

    from judgelab.train.policy import train_policy

    model0, tok0 = tiny
    root = tmp_path / "r"
    cfg = _policy_setup(root, "pairwise-reference")
    cfg.grpo.max_steps = 1
    go = lambda: train_policy(cfg, root, "pol", model=copy.deepcopy(model0), tokenizer=copy.deepcopy(tok0),  # noqa: E731
                              judge=_hash_judge())
    assert run_forked(go) == "ok"
    ref = root / "policies" / "pol" / "references.jsonl"
    want = rows(ref)
    data = ref.read_bytes()
    ref.write_bytes(data[: len(data) - 5])
    cfg.grpo.max_steps = 2
    assert run_forked(go) == "ok"
    assert rows(ref) == want
