"""Statistics shared by the evaluation modules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_or_none(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


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


def bootstrap_cluster_mean_ci(groups: Sequence[Sequence[float]], n_boot: int = 1000, alpha: float = 0.05,
                              seed: int = 0) -> list[float] | None:
    """Percentile bootstrap CI of the overall mean when values come in correlated groups (e.g. all
    cases of one prompt): groups are resampled whole. None for no values."""
    gs = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not gs:
        return None
    sums, counts = np.array([g.sum() for g in gs]), np.array([len(g) for g in gs])
    mean = float(sums.sum() / counts.sum())
    if n_boot == 0 or len(gs) == 1:
        return [mean, mean]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(gs), (n_boot, len(gs)))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return [float(lo), float(hi)]
