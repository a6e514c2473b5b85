"""Judge evaluation: reliability on a run's held-out gold pairs (``judge_eval``), gold agreement vs
compute (``judge_scaling``), public judge benchmarks in their own formats and metrics
(``benchmarks/``), and the typed result files they write (``results``)."""
