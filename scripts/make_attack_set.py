"""Write the attack detector's labelled set (src/judgelab/evaluate/attacks/labelled_set.jsonl).

Reads the real SmolLM2-135M answers in tests/fixtures/smollm2_samples.jsonl and the shipped
creative-v1 prompts; plants attacks and adds tricky clean answers (judgelab.evaluate.attacks.labelled).
Deterministic: rerunning with the same seed rewrites the same file. Prints the detector's
precision and recall on it.

    python scripts/make_attack_set.py [--seed 0] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from judgelab.data.jsonl import iter_jsonl, write_jsonl
from judgelab.evaluate.attacks.labelled import LABELLED_SET, build_labelled_set, score_detector

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", default=str(ROOT / "tests" / "fixtures" / "smollm2_samples.jsonl"))
    ap.add_argument("--out", default=str(LABELLED_SET))
    args = ap.parse_args()
    samples = [r for _, r in iter_jsonl(Path(args.samples))]
    rows = build_labelled_set(samples, seed=args.seed)
    for r in rows:  # every planted span is exactly where the row says
        assert all(0 <= s < e <= len(r["response"]) for s, e, _ in r["spans"]), r["id"]
    write_jsonl(Path(args.out), rows)
    s = score_detector(rows)
    print(f"{len(rows)} rows ({s['n_attack']} attack, {s['n_clean']} clean, {s['tricky']['n']} tricky) -> {args.out}")
    print(json.dumps({"overall": s["overall"], "by_kind": s["by_kind"], "span_coverage": s["span_coverage"]}, indent=1))


if __name__ == "__main__":
    main()
