"""Verdict parsers: turn a judge model's text into a score (``pointwise.parse_pointwise``) or a
preference (``pairwise.parse_pairwise``). Pure functions; they read nothing and write nothing.

Modules: ``pointwise`` (score patterns), ``pairwise`` (preference patterns in text),
``pairwise_json`` (structured preferences: JSON verdicts, per-side scores, rankings), ``common``
(ParseResult, answer normalisation, echoed-option removal, JSON scanning, the candidate tiers).

They never raise on model output: every outcome is a ParseResult with ``parsed`` set and, when
False, ``error`` saying why. Real model output is messy, so the parsers accept, in order of
trust ("tiers"; the highest tier present wins, and within a tier the *last* match wins, because
models restate and revise before they conclude):

Pairwise
  3. explicit markers: ``[[A]]``, ``[A]``, ``[[C]]`` (tie), Arena-Hard ``[[A>>B]]`` /
     ``[[A>B]]`` / ``[[A=B]]`` / ``[[B>A]]`` / ``[[B>>A]]`` (also ``[A>B]`` and without brackets on
     a line of its own: ``A>>B``, ``My final verdict is: B>A``), labelled answers such as
     ``Verdict: A``, ``**Final answer:** Response B``, ``## Verdict`` + ``A``, ``Winner: tie``,
     ``**Result:** B`` (Atla); Prometheus ``[RESULT] A`` / ``[RESULT: B]`` / ``[Response B]``;
     MT-Bench's score pair ``[[8, 6]]`` (within 0.1: a tie); JSON verdicts (fenced or bare,
     lenient: trailing commas, Python dicts): ``{"winner": "A"}``, ``"preference": "Response B"``,
     ``"verdict": "tie"``, ``model_a``, ``{"better_response": 2}``, CON-J's ``"更好的回答": 1``,
     per-side scores ``{"score_a": 7, "score_b": 9}``, AlpacaFarm's ``"Output (a) is better than
     Output (b)": true``; AlpacaEval rankings ``[{'model': 'model_1', 'rank': 1}, ...]`` (also
     ``ordered_models`` with ``m``/``M``); ``Output (a)`` on a line of its own;
  2. a final line that is only a letter (``A``, ``**B**``, ``(A).``); AlpacaEval's ``m`` / ``M``
     (the whole answer, or after "Which is best, m or M?"); PandaLM's first line ``1`` / ``2`` /
     ``Tie`` followed by its reason (its ``### Reference:`` section is not searched); JudgeLM's /
     lmsys' first line of two scores (``8 9``, ``7, 9``);
  1. phrases: ``Response A is better``, ``Assistant A's answer is slightly better``, ``B did a
     better job``, ``I prefer B``, ``I'd go with A``, ``B wins``, ``both are equally good``,
     ``it's a tie``, ``A is worse`` (-> B).
  ``strength`` is 1.0 for ``>>``, 0.5 for ``>``, or a stated ``Confidence: 0.8`` / ``80%``, or
  the degree stated with the verdict ("significantly/much better" 1.0, "slightly better" 0.5);
  None when the model states nothing (and for ties).

Pointwise
  3. labelled scores: ``Score: 7``, ``**Rating:** 8.5``, ``Final score: [[6]]``,
     ``Score: 7/10``, ``Rating - 4 out of 5``, ``Score: seven``, ``My rating would be 8``,
     ``Overall: 8/10``; Prometheus ``[RESULT] 4``, ``[RESULT] (5)``, ``[SCORE] 3``, ``(Score 5)``;
     JSON (``{"score": 7}``, ``"rating"``, ``"overall_score"``..., nested too, lenient as above;
     several different scores are no score);
  2. unlabelled fractions and MT-Bench brackets: ``7/10``, ``7 out of 10``, ``[[7]]``;
  1. a final line that is only a number (``7``, ``**7**``, ``7.``); JudgeLM's first line that is
     only the score; a number closing the last sentence (RewardBench's ratings prompt: "...
     lacks depth. 6"); score sentences (``I would rate this a 7``, ``I'd give it an 8``, ``it
     deserves a 6``, ``This response earns a 6``, ``I'd say it's a 7.``).

No guessing on ambiguity. Within tier 3 the last verdict wins (models revise: "Initially
[[B]] ... Final verdict: [[A]]"); within the weak tiers 2 and 1, candidates that disagree are
no verdict ("Response A is better in accuracy, Response B in style"; "Helpfulness: 8/10,
Accuracy: 6/10"). Naming both is no verdict: "Verdict: A or B", "Final verdict: A/B", "[RESULT] A
or B", "Score 3 or Score 4", "Score: 7 or 8", two markers side by side (``[[A>>B]] [[B>>A]]``).

Reasoning: the text inside ``<think>...</think>`` (also ``<thinking>``/``<reasoning>``, several
blocks, an orphan ``</think>`` whose opening tag was in the prompt, and an unterminated block)
is the reasoning; only text *outside* it is searched for the verdict, so a verdict mentioned
while thinking never counts. An unterminated block (a truncated generation) therefore yields
``parsed=False``. Without think tags, a reasoning-style answer ("...analysis...\nScore: 7") gets
``reasoning`` = the text before the verdict's line.

Only the last 20,000 characters of the answer are searched (verdicts come last; the cap bounds
parse time on degenerate, looping generations).

Echoed instructions: a run of different markers joined by commas/"or"/"and" (``"[[A]]", "[[B]]"
or "[[C]]"``), or a numbered/bulleted list of them one per line (Arena-Hard's "1. Assistant A is
significantly better: [[A>>B]]" ...), is the model repeating the instructions, not a verdict,
and is ignored. Special tokens left in the text (``</s>``, ``<|im_end|>``...) are dropped.

The formats come from the public judge prompts; tests/judges/fixtures/verdict_corpus.jsonl holds
outputs in each of them with the template they answer and the expected verdict.

Scale choice (documented): a score stated on another scale than the one asked for (``8/10`` or
``80%`` when the scale is 1-5) is *rejected* by default (``parsed=False`` and the error names
both scales), because mapping it needs a guess of the implied minimum and a judge ignoring the
asked scale is a failure worth counting. ``rescale=True`` maps it linearly instead: ``N/M`` from
[0, M] and ``P%`` from [0, 100] onto the asked scale. Scores outside the scale are rejected.
"""
