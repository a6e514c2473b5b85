"""Arena-style pairwise evaluation (Arena-Hard-Auto's statistics) and ``judgelab arena``.

Compute (numpy, no files): ``style`` (what style control reads of a response), ``battles``
(``Battle``, its checks, the design matrix), ``bt`` (the Bradley-Terry fit, bounds, ELO),
``tables`` (leaderboard tables per judge and pooled, with bootstrap CIs), ``leaderboard`` (CSV
rows and markdown). Settings: ``config`` (``ArenaSettings``, shared by ``judgelab arena`` and the
evaluate stage). Files: ``results`` (``arena.json``, schema ``judgelab.arena/v2``, its one
writer), ``contestants`` (response files, generated answers), ``arena_hard`` (Arena-Hard-Auto's
judgment files as battles) and ``run`` (``judgelab arena``).
"""
