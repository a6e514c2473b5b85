"""RM-Bench (THU-KEG/RM-Bench; code: github.com/THU-KEG/RM-Bench).

Reads rows ``{id, prompt, chosen: [3], rejected: [3], domain}`` (``data/total_dataset.json``, a
JSON array; the per-domain files ``data/<domain>_filtered.json`` have no ``domain`` column). The
three responses of each side are, in order, concise, detailed plain text, detailed markdown
(README "Dataset Format"). Every response is scored pointwise by the judge; writes nothing.

Scoring, as the peer computes it (``scripts/utils.py::compute_accuracy``):

- the 3x3 **style matrix**: ``M[i][j]`` = fraction of rows where chosen style i scores strictly
  above rejected style j;
- **hard** = mean of the strict upper triangle (chosen plainer than rejected), **normal** = mean
  of the diagonal, **easy** = mean of the strict lower triangle;
- with a ``domain`` column the rows are split by ``domain.startswith`` chat / math / code /
  safety (``split_dataset_by_domain``; safety-refuse and safety-response become safety; rows of
  other domains are dropped, as there), each domain's **average** = mean(hard, normal, easy),
  overall hard/normal/easy = mean over domains and **total_avg_acc** = mean of the domain averages
  (the README's "Overall = (Chat + Code + Math + Safety) / 4"). Domains without rows are skipped
  (the peer would fail on them). Without a ``domain`` column the file is one domain, "all", and
  its score is the mean of hard/normal/easy.

An unparsed judge score ranks below all parsed ones (see ``common.score_of``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from judgelab.judges.base import Judge
from judgelab.judges.types import PointwiseItem, Verdict

from . import common as C

NAME = "rm-bench"
REQUIRED = ("prompt", "chosen", "rejected")
DESCRIPTION = "RM-Bench: prompt, chosen [3 styles], rejected [3 styles], domain"
DOMAINS = ("chat", "math", "code", "safety")
STYLES = ("concise", "detailed", "markdown")
SIZE = 3


@dataclass
class Row:
    id: str
    prompt: str
    chosen: list[str]
    rejected: list[str]
    domain: str | None


def detect(columns: list[str], rows: list[dict[str, Any]]) -> bool:
    if not all(c in columns for c in REQUIRED) or "num_correct" in columns:
        return False
    first = rows[0] if rows else {}
    return isinstance(first.get("chosen"), (list, tuple)) and len(first["chosen"]) == SIZE


# The per-domain files of RM-Bench's data/ folder: <domain>_filtered.json (no domain column).
_DOMAIN_FILE = re.compile(r"^(chat|code|math|safety-refuse|safety-response)(_filtered)?$")


def file_domain(stem: str) -> str | None:
    """The RM-Bench domain a per-domain file's name says (``chat_filtered`` -> chat), else None."""
    m = _DOMAIN_FILE.match(stem)
    return m.group(1) if m else None


def parse_rows(table: C.Table) -> list[Row]:
    has_domain = "domain" in table.columns
    # Without a domain column, a per-domain file's name says its domain (the peer runs per file too).
    from_files = None
    if not has_domain and table.sources and all(file_domain(s) for s in table.sources):
        from_files = [file_domain(s) for s in table.sources]
    out = []
    for i, r, where in C.checked_rows(table, REQUIRED, NAME):
        domain = str(r.get("domain") or "") if has_domain else (from_files[i] if from_files else None)
        out.append(Row(id=str(r.get("id", i)), prompt=C.as_text(r.get("prompt"), "prompt", where),
                       chosen=C.as_text_list(r.get("chosen"), "chosen", where, length=SIZE),
                       rejected=C.as_text_list(r.get("rejected"), "rejected", where, length=SIZE), domain=domain))
    return out


def accuracy(score_chosen: list[list[float]], score_rejected: list[list[float]]) -> dict[str, Any]:
    """compute_accuracy for one domain: the style matrix and hard/normal/easy."""
    m = [[0.0] * SIZE for _ in range(SIZE)]
    for sc, sr in zip(score_chosen, score_rejected):
        for i in range(SIZE):
            for j in range(SIZE):
                m[i][j] += sc[i] > sr[j]
    n = len(score_chosen)
    m = [[x / n for x in row] for row in m]
    pairs = SIZE * (SIZE - 1) / 2
    hard = sum(m[i][j] for i in range(SIZE) for j in range(i + 1, SIZE)) / pairs
    normal = sum(m[i][i] for i in range(SIZE)) / SIZE
    easy = sum(m[i][j] for i in range(SIZE) for j in range(i)) / pairs
    return {"n": n, "hard_acc": hard, "normal_acc": normal, "easy_acc": easy, "avg": (hard + normal + easy) / 3, "matrix": m}


def compute(rows: list[Row], score_chosen: list[list[float]], score_rejected: list[list[float]]) -> dict[str, Any]:
    if rows and rows[0].domain is None:
        d = accuracy(score_chosen, score_rejected)
        return {"score": d["avg"], "hard_acc": d["hard_acc"], "normal_acc": d["normal_acc"], "easy_acc": d["easy_acc"],
                "domains": {"all": d}, "n_dropped": 0}
    domains: dict[str, dict[str, Any]] = {}
    used = 0
    for dom in DOMAINS:
        idx = [k for k, r in enumerate(rows) if (r.domain or "").startswith(dom)]
        if idx:
            domains[dom] = accuracy([score_chosen[k] for k in idx], [score_rejected[k] for k in idx])
            used += len(idx)
    out: dict[str, Any] = {"domains": domains, "n_dropped": len(rows) - used}
    for key in ("hard_acc", "normal_acc", "easy_acc"):
        out[key] = C.mean([d[key] for d in domains.values()])
    out["score"] = C.mean([d["avg"] for d in domains.values()])  # total_avg_acc
    return out


async def aevaluate(judge: Judge, rows: list[Row]) -> tuple[dict[str, Any], list[Verdict]]:
    C.require_pointwise(judge, NAME)
    items = []
    for r in rows:
        meta = {"benchmark": NAME, "domain": r.domain or ""}
        items += [PointwiseItem(id=f"{NAME}:{r.id}:chosen{k}", prompt=r.prompt, response=t, meta=meta) for k, t in enumerate(r.chosen)]
        items += [PointwiseItem(id=f"{NAME}:{r.id}:rejected{k}", prompt=r.prompt, response=t, meta=meta) for k, t in enumerate(r.rejected)]
    verdicts = await C.ascore(judge, items, f"{NAME}: scoring {len(items)} responses")
    s = [C.score_of(v) for v in verdicts]
    chosen = [s[6 * k:6 * k + 3] for k in range(len(rows))]
    rejected = [s[6 * k + 3:6 * k + 6] for k in range(len(rows))]
    result = compute(rows, chosen, rejected)
    result["mode"] = "pointwise"
    pooled = list(result["domains"]) == ["all"]
    result["metric"] = ("style-matrix accuracy: hard/normal/easy of one pool (no domain column and no per-domain file "
                        "name); score = mean of hard/normal/easy" if pooled else
                        "style-matrix accuracy: hard/normal/easy per domain; score = mean of domain averages")
    return result, verdicts


def table_rows(result: dict[str, Any]) -> C.TableRows:
    label = "score (one pool: mean of hard/normal/easy)" if list(result["domains"]) == ["all"] else \
        "score (mean of domain averages)"
    rows: C.TableRows = [(label, C.fmt(result["score"]), str(result["n_rows"])),
                         ("hard / normal / easy", " / ".join(C.fmt(result[k]) for k in ("hard_acc", "normal_acc", "easy_acc")), "")]
    for dom, d in result["domains"].items():
        rows.append((f"  {dom}: avg (hard / normal / easy)",
                     f"{C.fmt(d['avg'])} ({C.fmt(d['hard_acc'])} / {C.fmt(d['normal_acc'])} / {C.fmt(d['easy_acc'])})", str(d["n"])))
        for i, style in enumerate(STYLES):
            rows.append((f"    chosen {style} vs rejected {'/'.join(STYLES)}", "  ".join(C.fmt(x) for x in d["matrix"][i]), ""))
    if result.get("n_dropped"):
        rows.append(("rows of other domains (dropped, as RM-Bench does)", str(result["n_dropped"]), ""))
    return rows
