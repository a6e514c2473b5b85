"""Judge-directed content in responses and the judges it fools (``judgelab attacks``,
``judgelab adversarial``).

Detector (pure functions over strings):
- ``detector``: ``detect``/``flagged``/``strip_flagged``: finds self-assessment, fake scores and
  verdicts, instructions to the evaluator, master-key openers, invented policies, role markers and
  invisible characters, with spans and confidences, reading the prompt as context; built from
  ``findings`` (``Finding``, ``PromptContext``, ``KINDS``), ``rules`` (regular expressions),
  ``master_keys`` (``MASTER_KEYS`` and the opener scan), ``invisible`` and ``spans`` (span growth,
  ``strip_spans``);
- ``templates``: attack templates of every kind and how to plant them into an answer;
- ``labelled``: the labelled set (``labelled_set.jsonl``, shipped) and the detector's precision
  and recall on it.

Attack analysis (``judgelab attacks`` -> ``eval/attacks.json``):
- ``config`` (``AttacksConfig``), ``flagging`` (flagged rate of rows and over training, rate CIs),
  ``sources`` (harvested, crafted and file sources of cases), ``transfer`` (one judge on every
  source: ASR, stripped re-judge), ``analysis`` (the whole analysis, writes the result),
  ``tables`` (the Markdown tables).

Adversarial probe (``judgelab adversarial`` -> ``eval/adversarial.json``):
- ``adversarial``: master-key probe of judges and judge-fooling policy outputs.

``results``: the typed result files (``AttacksResult``, ``AdversarialResult``).
"""
