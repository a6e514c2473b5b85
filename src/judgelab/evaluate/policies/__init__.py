"""Evaluation of trained policies against the gold: ``policy_eval`` (``judgelab evaluate``: every
checkpoint sampled and scored, I/O and caching) with ``checkpoint`` (the numbers of one checkpoint),
``hacking`` (the reward-hacking rule and its one settings model, ``HackingRule``, also the
in-training stop rule), ``instrument`` (do the controls behave), ``best_of_n`` with ``selection``
(how a judge picks one of N), and ``results`` (the typed files they write)."""
