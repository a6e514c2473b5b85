"""Judge-directed content in responses (``judgelab attacks``).

- ``detector``: finds self-assessment, fake scores and verdicts, instructions to the evaluator,
  master-key openers, invented policies, role markers and invisible characters, with spans and
  confidences, reading the prompt as context;
- ``templates``: attack templates of every kind and how to plant them into an answer;
- ``labelled``: the labelled set (``labelled_set.jsonl``, shipped) and the detector's precision
  and recall on it;
- ``analysis``: flagged rate per checkpoint over training, the transfer matrix (attack success
  rate per source x judge) and the stripped re-judge; writes ``eval/attacks.json``.
"""

from judgelab.evaluate.attacks.detector import (
    DEFAULT_THRESHOLD,
    KINDS,
    Finding,
    PromptContext,
    detect,
    flagged,
    is_flagged,
    strip_flagged,
    strip_spans,
)

__all__ = ["DEFAULT_THRESHOLD", "KINDS", "Finding", "PromptContext", "detect", "flagged", "is_flagged",
           "strip_flagged", "strip_spans"]
