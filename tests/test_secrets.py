"""Planted credentials (a password in a base URL, a token as a base URL's whole userinfo, a key in
its query string, an API key in the environment) appear in no artifact and no log line, at -vv, of a judge run and an annotation run
against an unreachable server (so every request fails and its error is recorded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from test_annotate import make_run  # noqa: E402

PLANTED = ("PLANTEDPASSWORD", "PLANTEDQUERYKEY", "PLANTEDENVKEY", "PLANTEDTOKEN")


def _gold() -> dict:
    return {"name": "llm-gold", "style": "direct", "sampling": {"max_new_tokens": 8},
            "backend": {"type": "openai", "model": "m", "api_key_env": "JUDGELAB_TEST_KEY",
                        "base_urls": ["http://judge:PLANTEDPASSWORD@127.0.0.1:9/v1?api_key=PLANTEDQUERYKEY",
                                      "http://PLANTEDTOKEN@127.0.0.1:9/v1"],  # a token as the whole userinfo
                        "max_retries": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.01, "timeout_s": 2}}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "JUDGELAB_TEST_KEY": "PLANTEDENVKEY"}
    return subprocess.run([sys.executable, "-m", "judgelab.cli", "-vv", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_no_planted_secret_in_any_artifact_or_log(tmp_path: Path) -> None:
    (tmp_path / "judge.yaml").write_text(yaml.safe_dump(_gold()))
    (tmp_path / "items.jsonl").write_text('{"id": "a", "prompt": "p", "response": "r"}\n')
    j = _run(["judge", "--config", "judge.yaml", "--input", "items.jsonl", "--output", "out.jsonl"], tmp_path)
    make_run(tmp_path / "run", n_prompts=1, per_prompt=2)
    (tmp_path / "annotate.yaml").write_text(yaml.safe_dump({"gold": _gold(), "pairs": {"strategy": "all"}}))
    a = _run(["annotate", "--config", "annotate.yaml", "--run", "run"], tmp_path)
    logs = j.stdout + j.stderr + a.stdout + a.stderr
    assert "127.0.0.1:9" in logs and "failures 1" in logs  # the requests were made, failed, and were logged
    assert j.returncode == 3 and a.returncode == 3 and "every item failed" in j.stderr  # all failed: exit 3
    assert (tmp_path / "run" / "run.json").exists() and (tmp_path / "out.jsonl").exists()
    hits = [s for s in PLANTED if s in logs]
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.suffix not in (".yaml",):  # the user's own config files hold them by design
            data = f.read_bytes()
            hits += [f"{f.relative_to(tmp_path)}: {s}" for s in PLANTED if s.encode() in data]
    assert not hits, hits
