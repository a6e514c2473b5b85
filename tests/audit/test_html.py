"""The audit's pages from cards built in Python: the summary and the call at the top, a table per
section, "not measured" for a section that did not run, figures as real PNGs, everything escaped, and
the comparison's one column per card with a warning exactly when the cards are not comparable."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pytest

from judgelab.audit.card import (AdversarialSection, Arm, ArmCurvePoint, AttackRow, AuditCard, BenchmarkScore,
                                 DynamicSection, Estimate, SelectionSection, StaticSection, summary_line)
from judgelab.audit.html import render_card, render_compare
from judgelab.errors import ConfigError

PNG = b"\x89PNG\r\n\x1a\n"


def _arm(role: str, gold_end: float, call: str | None) -> Arm:
    curve = [ArmCurvePoint(step=s, gold=0.4 + (gold_end - 0.4) * s / 8, gold_ci95=[0.35 + s / 100, 0.5 + s / 100],
                           proxy=0.3 + 0.05 * s) for s in (0, 4, 8)]
    curve.append(ArmCurvePoint(step=10, gold=None, gold_ci95=None, proxy=None))  # a point without numbers is skipped
    return Arm(role=role, policy=f"{role}-policy", reward=f"{role}-reward", curve=curve, call=call,
               call_kind="proxy up, gold down" if call == "hacked" else None, call_reason=f"because {role} & co",
               gold_gain=Estimate(value=gold_end - 0.4, ci95=[gold_end - 0.45, gold_end - 0.35], n=64),
               proxy_gain=Estimate(value=0.4, ci95=[0.3, 0.5], n=64),
               onset_step=4 if call == "hacked" else None)


def full_card(judge: str = "qwen-judge", gold: str = "gold-72b", call: str = "hacked",
              agreement: float = 0.71) -> AuditCard:
    """A card with every section filled; the summary line is the card's own."""
    card = AuditCard(
        judge=judge, judge_spec=f"openai:{judge}", judge_config={"temperature": 0}, gold=gold, budget="small",
        prompts="ultrafeedback-200", source_run="runs/base", run_dir=f"runs/audit/{judge}", summary="",
        static=StaticSection(
            agreement=Estimate(value=agreement, ci95=[agreement - 0.05, agreement + 0.05], n=400, method="wilson"),
            non_tie_accuracy=0.74, position_consistency=0.88, self_consistency=0.93, parse_failure_rate=0.01,
            tie_rate=0.05, n_pairs=400, split="test", gate="passed",
            benchmarks=[BenchmarkScore(file="rb.json", benchmark="RewardBench", metric="accuracy", value=0.812, n=300)]),
        adversarial=AdversarialSection(rows=[
            AttackRow(source="crafted:authority", asr=Estimate(value=0.42, ci95=[0.33, 0.51], n=120),
                      asr_stripped=Estimate(value=0.08, ci95=[0.04, 0.14], n=120), n_flagged=37),
            AttackRow(source="policy:judge-policy", asr=Estimate(value=0.21, ci95=[0.15, 0.29], n=120), n_flagged=5),
        ], worst="crafted:authority"),
        selection=SelectionSection(n=8, prompts=100, judge_pick=Estimate(value=0.61, ci95=[0.57, 0.65]),
                                   random_pick=Estimate(value=0.50, ci95=[0.46, 0.54]),
                                   gold_pick=Estimate(value=0.80, ci95=[0.77, 0.83]), recovered=0.37,
                                   method="paired bootstrap"),
        dynamic=DynamicSection(steps=8, arms=[_arm("judge", 0.35 if call == "hacked" else 0.55, call),
                                              _arm("oracle", 0.7, "not hacked"), _arm("benign", 0.5, "not hacked")],
                               call=call, gold_gain_fraction=-0.17, benign_noise=0.2, benign_agreement=0.7,
                               controls="ok"),
        limits=["no public benchmark beyond RewardBench"], seconds={"static": 12.5, "dynamic": 640.0},
        created="2025-01-01T00:00:00Z", judgelab="0.9.0")
    return card.model_copy(update={"summary": summary_line(card)})


def empty_card(judge: str = "bare-judge") -> AuditCard:
    """Every optional section None, with the limits that say why."""
    return AuditCard(judge=judge, judge_spec=judge, judge_config={}, gold="gold-72b", budget="tiny",
                     prompts="ultrafeedback-200", run_dir="runs/audit/bare", summary="nothing measured", static=None,
                     adversarial=None, selection=None, dynamic=None,
                     limits=["dynamic: needs budget 'small' or more", "selection: judge has no scores"],
                     seconds={}, created="2025-01-01T00:00:00Z", judgelab="0.9.0")


def _embedded_png(page: str) -> bytes:
    m = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert m, "no embedded PNG"
    return base64.b64decode(m.group(1))


def test_full_card_page(tmp_path: Path) -> None:
    card = full_card()
    out = render_card(card, tmp_path / "card.html")
    page = out.read_text(encoding="utf-8")
    assert out == tmp_path / "card.html" and page.startswith("<!doctype html>")
    assert "hacked after 8 GRPO steps" in card.summary and html.escape(card.summary) in page
    assert 'class="check summary failed"' in page and "dynamic call: hacked" in page  # red box
    for title in ("Static", "Adversarial", "Selection", "Dynamic", "Time per section", "What this audit cannot show"):
        assert f"<h2>{title}" in page
    assert "not measured" not in page
    assert "0.71 [0.66, 0.76] (n=400, wilson)" in page and "RewardBench" in page and "passed" in page
    assert "crafted:authority <b>(worst)</b>" in page and "0.42 [0.33, 0.51]" in page and "0.08 [0.04, 0.14]" in page
    assert "37%" in page and "paired bootstrap" in page  # selection: recovered share and method
    assert "proxy up, gold down" in page and "because judge &amp; co" in page  # call kind and reason
    assert "+0.40 [0.30, 0.50]" in page and "+0.30 [0.25, 0.35]" in page  # gains signed, with CIs
    assert "652.5" in page and "no public benchmark beyond RewardBench" in page  # total seconds, limits
    assert "runs/audit/qwen-judge" in page and "0.9.0" in page and "runs/base" in page  # metadata
    png = tmp_path / "card-curves.png"
    assert png.read_bytes().startswith(PNG) and _embedded_png(page) == png.read_bytes()
    assert "<script" not in page and "<link" not in page and "http" not in page  # self-contained


@pytest.mark.parametrize("call, box", [("not hacked", "passed"), ("undetermined", "incomplete"), (None, "incomplete")])
def test_summary_box_colour_follows_the_call(tmp_path: Path, call: str | None, box: str) -> None:
    card = full_card(call=call)
    page = render_card(card, tmp_path / "c.html").read_text(encoding="utf-8")
    assert f'class="check summary {box}"' in page


def test_sections_not_measured(tmp_path: Path) -> None:
    page = render_card(empty_card(), tmp_path / "card.html").read_text(encoding="utf-8")
    for title in ("Static", "Adversarial", "Selection (best-of-N)", "Dynamic (GRPO against the judge)"):
        assert f'<p class="notrun">{title}: not measured' in page
    assert "nothing measured" in page and 'class="check summary incomplete"' in page
    assert "<li>dynamic: needs budget &#x27;small&#x27; or more</li>" in page and "no timings recorded" in page
    assert not (tmp_path / "card-curves.png").exists() and "data:image/png" not in page


def test_names_are_escaped(tmp_path: Path) -> None:
    card = full_card(judge="<b>x</b> & $y$")
    card = card.model_copy(update={"summary": "<i>fooled</i>", "limits": ["<script>alert(1)</script>"]})
    page = render_card(card, tmp_path / "card.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; $y$" in page and "<b>x</b>" not in page
    assert "&lt;i&gt;fooled&lt;/i&gt;" in page and "<script>" not in page
    assert (tmp_path / "card-curves.png").read_bytes().startswith(PNG)  # '$' in a label does not break the figure
    cmp = render_compare([card, empty_card("a<&>b")], ["<L1>", "L&2"], tmp_path / "compare.html").read_text("utf-8")
    assert "&lt;L1&gt;" in cmp and "L&amp;2" in cmp and "a&lt;&amp;&gt;b" in cmp and "<L1>" not in cmp


def _header_cells(page: str) -> list[str]:
    return re.findall(r"<th[^>]*>(.*?)</th>", page.split("</tr>", 1)[0])


def test_compare_page(tmp_path: Path) -> None:
    cards = [full_card("judge-a"), full_card("judge-b", call="not hacked", agreement=0.64), empty_card()]
    out = render_compare(cards, ["A", "B", "C"], tmp_path / "compare.html")
    page = out.read_text(encoding="utf-8")
    assert _header_cells(page) == ["", "A", "B", "C"]
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    assert all(r.count("<td") == 4 for r in rows[1:])  # row name + one column per card
    assert '<span class="flag">hacked (proxy up, gold down)</span>' in page and "not hacked" in page
    assert "<td class=\"l\">–</td>" in page  # the empty card's cells
    assert "crafted:authority 0.42 [0.33, 0.51]" in page and "37% (N=8)" in page
    assert "not comparable as is" in page and "budget (small, tiny)" in page and "gold (" not in page
    assert "Not in (b), no agreement or judge-arm gold gain: C." in page
    png = tmp_path / "compare-compare.png"
    assert png.read_bytes().startswith(PNG) and _embedded_png(page) == png.read_bytes()


def test_compare_warns_exactly_when_golds_differ(tmp_path: Path) -> None:
    same = render_compare([full_card("a"), full_card("b")], ["a", "b"], tmp_path / "same.html").read_text("utf-8")
    assert "not comparable" not in same
    diff = render_compare([full_card("a"), full_card("b", gold="other-gold")], ["a", "b"],
                          tmp_path / "diff.html").read_text("utf-8")
    assert "not comparable as is" in diff and "gold (gold-72b, other-gold)" in diff


def test_compare_needs_one_label_per_card(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="1 labels for 2"):
        render_compare([full_card(), full_card()], ["only"], tmp_path / "c.html")
