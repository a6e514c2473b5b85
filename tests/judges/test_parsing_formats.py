"""Verdict formats public judge prompts ask for (issue: works with what users bring): JSON verdicts
(fenced or bare, usual key names), Prometheus' [RESULT] N, Arena-Hard verdict lines without
brackets, AlpacaEval's "Output (a)", PandaLM's first-line 1/2/Tie, JudgeLM's first-line score
pair, and score sentences of everyday English -- with the guarantees kept: conflicting verdicts
are no guess, a verdict inside thinking never counts."""

from __future__ import annotations

import pytest

from judgelab.judges.parsing.pairwise import parse_pairwise
from judgelab.judges.parsing.pointwise import parse_pointwise


@pytest.mark.parametrize("text,scale,score", [
    ('```json\n{"score": 7, "reasoning": "clear and correct"}\n```', (1, 10), 7.0),
    ('{"rating": "8"}', (1, 10), 8.0),
    ('Here is my evaluation:\n{"evaluation": {"overall_score": 6.5, "comment": "fine"}}', (1, 10), 6.5),
    ('{"explanation": "...", "score": 4}', (1, 5), 4.0),
    ("Feedback: The response is accurate but terse. [RESULT] 4", (1, 5), 4.0),  # Prometheus
    ("Feedback: ...\n[RESULT] 3", (1, 5), 3.0),
    ("I would rate this response a 7 out of 10.", (1, 10), 7.0),
    ("Overall, I'd give it an 8.", (1, 10), 8.0),
    ("It deserves a solid 6.", (1, 10), 6.0),
    ('<think>maybe {"score": 9}</think>\n{"score": 3}', (1, 10), 3.0),
])
def test_pointwise_formats(text: str, scale: tuple[int, int], score: float) -> None:
    r = parse_pointwise(text, scale)
    assert r.parsed and r.score == score, (text, r)


@pytest.mark.parametrize("text", [
    '{"helpfulness": 7, "accuracy": 9}',        # no overall score: no guess among criteria
    '{"score": 7, "details": {"score": 4}}',     # two different scores: ambiguous
    "I give 3 reasons for this and 2 examples.",  # counts, not scores
    '<think>{"score": 9}</think>',               # only inside thinking
])
def test_pointwise_no_guess(text: str) -> None:
    assert not parse_pointwise(text, (1, 10)).parsed


@pytest.mark.parametrize("text,pref,strength", [
    ('{"winner": "A"}', "A", None),
    ('```json\n{"preference": "Response B", "reason": "more complete"}\n```', "B", None),
    ('{"verdict": "tie"}', "tie", None),
    ('{"better_response": "Assistant A"}', "A", None),
    ('{"winner": "model_b"}', "B", None),
    ('{"choice": "(a)"}', "A", None),
    ("My final verdict is: B>>A.", "B", 1.0),          # Arena-Hard, brackets dropped
    ("My final verdict: A>B", "A", 0.5),
    ("**A=B**", "tie", None),
    ("Output (b)", "B", None),                         # AlpacaEval
    ("1\n\n### Reason: Response 1 follows the instruction.", "A", None),  # PandaLM
    ("Tie\n\n### Reason: both are fine.", "tie", None),
    ("8 9\nAssistant 1 was accurate; assistant 2 more detailed.", "B", None),  # JudgeLM
    ("7 7\nBoth are equally good.", "tie", None),
    ('<think>[[A]] looks right</think>\n{"winner": "B"}', "B", None),
])
def test_pairwise_formats(text: str, pref: str, strength: float | None) -> None:
    r = parse_pairwise(text)
    assert r.parsed and r.preference == pref and r.strength == strength, (text, r)


@pytest.mark.parametrize("text", [
    '{"winner": "A", "choice": "B"}',   # conflicting keys: no guess
    '{"winner": "the first one"}',       # not a recognisable value
    "<think>A>>B</think>",               # only inside thinking
    "1",                                 # a lone "1" without PandaLM's reason is not its shape
])
def test_pairwise_no_guess(text: str) -> None:
    assert not parse_pairwise(text).parsed


# Review findings: format examples echoed from the instructions, the article "A", citations,
# and two common score phrasings. Each was misread before.
@pytest.mark.parametrize("text,expected", [
    ('Format your answer, for example: "Rating: [[5]]".\nThe answer is accurate and complete. [[9]]', 9.0),
    ("The response is excellent, 9/10.", 9.0),
    ("8 out of 10.", 8.0),
    ("Rating: 4 (out of 5)", None),  # another scale: not a score on 1-10
])
def test_review_pointwise_cases(text, expected):
    from judgelab.judges.parsing.pointwise import parse_pointwise

    v = parse_pointwise(text, scale=(1, 10))
    assert (v.score if v.parsed else None) == expected


@pytest.mark.parametrize("text,expected", [
    ('Following the format, e.g. "[[A]]" if A is better: Response B is clearly better.', "B"),
    ("[[A]] if A is better. Hmm, B is better.", "B"),
    ('Output your verdict as "[[A]]" if A is better.\nBoth have merits.', None),
    ("Answer: A well-structured reply needs more detail.", None),
    ("Result: A mixed picture, neither clearly wins.", None),
    ("Verdict: B-level quality in both.", None),
    ("Reference [A] Smith et al.", None),
    ("See [C] for details.", None),
    ("Verdict: A because it is more accurate.", "A"),
    ("Winner: A, clearly.", "A"),
    ("[A] is better", "A"),
])
def test_review_pairwise_cases(text, expected):
    from judgelab.judges.parsing.pairwise import parse_pairwise

    v = parse_pairwise(text)
    assert (v.preference if v.parsed else None) == expected
