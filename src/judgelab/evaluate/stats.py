"""Statistics shared by the evaluation modules."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any, NamedTuple

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


# ------------------------------------------------------------------ intervals that hold at small n

#: Below this many values ``mean_ci`` uses Student's t; from it on, a BCa bootstrap.
T_BELOW = 30

_NORMAL = NormalDist()


def norm_ppf(q: float) -> float:
    return _NORMAL.inv_cdf(q)


def norm_cdf(x: float) -> float:
    return _NORMAL.cdf(x)


def _t_cdf(x: float, df: int) -> float:
    """Student's t CDF by Simpson's rule on the density (smooth: 4000 intervals give ~1e-10)."""
    if x < 0:
        return 1.0 - _t_cdf(-x, df)
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    t = np.linspace(0.0, x, 4001)
    f = c * (1 + t * t / df) ** (-(df + 1) / 2)
    h = x / 4000
    return 0.5 + h / 3 * float(f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())


def t_ppf(q: float, df: int) -> float:
    """Student's t quantile (bisection on ``_t_cdf``; no scipy needed)."""
    if q < 0.5:
        return -t_ppf(1 - q, df)
    lo, hi = 0.0, 1.0
    while _t_cdf(hi, df) < q:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _t_cdf(mid, df) < q else (lo, mid)
    return (lo + hi) / 2


class MeanCI(NamedTuple):
    """A mean with its confidence interval, the number of values and how the interval was made."""

    mean: float
    lo: float
    hi: float
    n: int
    method: str  # "t" | "bca" | "wilson" | "single"

    @property
    def ci(self) -> list[float]:
        return [self.lo, self.hi]


def _wilson(m: float, n: int, bounds: tuple[float, float], alpha: float) -> tuple[float, float]:
    """The Wilson score interval of a mean ``m`` of ``n`` values known to lie in ``bounds``
    (rescaled to [0, 1] and back): conservative for any variable bounded there."""
    lo_b, span = bounds[0], bounds[1] - bounds[0]
    p, z = (m - lo_b) / span, norm_ppf(1 - alpha / 2)
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return lo_b + (centre - half) * span, lo_b + (centre + half) * span


def _bca(v: np.ndarray, n_boot: int, alpha: float, seed: int) -> tuple[float, float]:
    """Bias-corrected and accelerated bootstrap interval of the mean (Efron 1987)."""
    theta = float(v.mean())
    rng = np.random.default_rng(seed)
    boot = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
    below = (np.sum(boot < theta) + 0.5 * np.sum(boot == theta)) / n_boot
    z0 = norm_ppf(min(max(below, 1 / (2 * n_boot)), 1 - 1 / (2 * n_boot)))
    jack = (v.sum() - v) / (len(v) - 1)
    d = jack.mean() - jack
    den = 6.0 * float(np.sum(d ** 2)) ** 1.5
    a = float(np.sum(d ** 3)) / den if den > 0 else 0.0
    qs = []
    for z in (norm_ppf(alpha / 2), norm_ppf(1 - alpha / 2)):
        qs.append(norm_cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    lo, hi = np.quantile(boot, qs)
    return float(lo), float(hi)


def mean_ci(values: Sequence[float | None], *, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0,
            bounds: tuple[float, float] | None = None) -> MeanCI | None:
    """The mean of the values that are not None with a (1 - alpha) interval that holds at small n:
    Student's t below ``T_BELOW`` values, a BCa bootstrap from there on. When every value is the
    same and ``bounds`` are given (values known to lie in [lo, hi], e.g. agreement credits in
    [0, 1]), a t or bootstrap interval would have zero width, so the Wilson score interval of the
    rescaled mean is used instead (a bounded variable's variance is at most p(1 - p)). None for no
    values; one value without bounds gives a zero-width interval (method "single")."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not np.isfinite(v).all():  # a NaN would pass through as a NaN "interval" labelled t or bca
        raise ValueError(f"mean_ci: {int((~np.isfinite(v)).sum())} of {len(v)} values are NaN or infinite "
                         "(missing values must be None)")
    n = len(v)
    if n == 0:
        return None
    m = float(v.mean())
    if n == 1 and bounds is None:
        return MeanCI(m, m, m, 1, "single")
    sd = float(v.std(ddof=1)) if n > 1 else 0.0
    if sd == 0.0 and bounds is not None:
        return MeanCI(m, *_wilson(m, n, bounds, alpha), n, "wilson")
    if n < T_BELOW or n_boot == 0 or sd == 0.0:
        half = t_ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
        lo, hi = m - half, m + half
        method = "t"
        if bounds is not None and n < T_BELOW:
            # A few values of a bounded variable can all sit near one bound (sd underestimated: t
            # alone covered 88% at n = 8 for agreement credits); the Wilson interval of the rescaled
            # mean is conservative for any variable in [lo, hi]; the wider of the two is used.
            w_lo, w_hi = _wilson(m, n, bounds, alpha)
            if w_lo < lo or w_hi > hi:
                lo, hi, method = min(lo, w_lo), max(hi, w_hi), "t+wilson"
    else:
        lo, hi = _bca(v, n_boot, alpha, seed)
        method = "bca"
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return MeanCI(m, lo, hi, n, method)


class PairedDifference(NamedTuple):
    """mean(x - y) over the keys both have, with its interval (``mean_ci`` of the differences)."""

    diff: float
    lo: float
    hi: float
    n: int
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"diff": self.diff, "ci95": [self.lo, self.hi], "n": self.n, "ci_method": self.method}


def paired_difference(x: Mapping[str, float | None], y: Mapping[str, float | None], *, alpha: float = 0.05,
                      n_boot: int = 2000, seed: int = 0, bounds: tuple[float, float] | None = None) -> PairedDifference | None:
    """x minus y paired by key (the same item judged by two judges, or by one judge at two vote
    counts): the differences' mean and ``mean_ci`` interval. None when no key has both values.
    ``bounds``: where the differences are known to lie (credits in [0, 1]: (-1, 1)), so that a few
    equal differences get a Wilson interval, not a zero-width one (``mean_ci``)."""
    d = [float(x[k]) - float(y[k]) for k in x if k in y and x[k] is not None and y[k] is not None]  # type: ignore[arg-type]
    ci = mean_ci(d, alpha=alpha, n_boot=n_boot, seed=seed, bounds=bounds)
    return None if ci is None else PairedDifference(ci.mean, ci.lo, ci.hi, ci.n, ci.method)
