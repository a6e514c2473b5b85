"""Statistics shared by the evaluation modules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_mean_ci(values: Sequence[float], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> list[float] | None:
    """Percentile bootstrap CI of the mean; None for no values."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return None
    if n_boot == 0 or len(v) == 1:
        return [float(v.mean()), float(v.mean())]
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return [float(lo), float(hi)]
