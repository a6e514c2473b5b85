"""Public judge benchmarks in their own file formats, scored with their own metrics
(``judgelab eval-judge --data PATH``).

One module per format -- ``rewardbench2`` (RewardBench 2), ``judgebench`` (JudgeBench),
``rmbench`` (RM-Bench), ``ppe`` (PPE human preference and correctness) -- each with
``parse_rows(table)``, a pure ``compute``-style metric function and ``aevaluate(judge, rows)``;
``common`` reads the files and asks the judge; ``run`` detects the format (from the columns,
unless given), scores a judge and writes the result file.
"""
