"""Statistics over seeds: a summary of each arm's samples and a test of the difference between two arms.

Seeds are independent runs, so an arm's best scores are a sample of size n (the number of seeds).
Two arms are compared with a two-sided Mann-Whitney U test (exact: the permutation distribution of
the rank sum, ties included, when it can be counted; else the normal approximation with the tie and
continuity corrections) and a percentile bootstrap confidence interval of the difference of means.
Pure Python: no scipy.
"""
from __future__ import annotations

import math
import random
import statistics
from dataclasses import asdict, dataclass

EXACT_MAX = 60  # pooled sample size up to which the exact distribution is counted
BOOTSTRAP = 10_000  # resamples for the confidence interval
EPS = 1e-9  # rank sums within this of the observed distance count as "as extreme"


@dataclass(frozen=True)
class Summary:
    """One arm's values over its seeds."""

    n: int
    mean: float | None
    sd: float | None  # sample standard deviation (n - 1); None below 2 values
    min: float | None
    max: float | None
    median: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(values: list[float]) -> Summary:
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return Summary(0, None, None, None, None, None)
    sd = statistics.stdev(xs) if len(xs) > 1 else None
    return Summary(len(xs), statistics.fmean(xs), sd, min(xs), max(xs), statistics.median(xs))


@dataclass(frozen=True)
class MannWhitney:
    """A two-sided Mann-Whitney U test of sample a against sample b."""

    u: float  # U of sample a: pairs (x in a, y in b) with x > y, plus half the ties
    p: float  # two-sided p-value
    method: str  # exact | normal
    p_min: float  # the smallest p these sample sizes can give (no ties): what n seeds can show at all
    effect: float  # U / (n_a * n_b): P(a value of a beats one of b), ties counted half


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their ranks (midranks)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def mann_whitney(a: list[float], b: list[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test; ValueError when a sample is empty."""
    n1, n2 = len(a), len(b)
    if not n1 or not n2:
        raise ValueError("the Mann-Whitney test needs at least one value in each sample")
    r = ranks(list(a) + list(b))
    r1 = sum(r[:n1])
    u = r1 - n1 * (n1 + 1) / 2
    p_min = min(1.0, 2 / math.comb(n1 + n2, n1))
    if n1 + n2 <= EXACT_MAX:
        p, method = _exact_p(r, n1, r1), "exact"
    else:
        p, method = _normal_p(r, n1, n2, u), "normal"
    return MannWhitney(u, p, method, p_min, u / (n1 * n2))


def _exact_p(r: list[float], n1: int, r1: float) -> float:
    """P(|S - E S| >= |r1 - E S|) where S is the rank sum of n1 ranks drawn from `r` without replacement
    (every split of the pooled values equally likely under the null), counted by dynamic programming on
    the doubled ranks (integers, since midranks are halves)."""
    doubled = [round(2 * x) for x in r]
    ways: list[dict[int, int]] = [{0: 1}] + [{} for _ in range(n1)]
    for d in doubled:
        for k in range(min(n1, len(doubled)), 0, -1):
            for s, w in ways[k - 1].items():
                ways[k][s + d] = ways[k].get(s + d, 0) + w
    total = math.comb(len(r), n1)
    centre = n1 * (len(r) + 1)  # E of the doubled rank sum
    far = abs(2 * r1 - centre)
    hits = sum(w for s, w in ways[n1].items() if abs(s - centre) >= far - EPS)
    return min(1.0, hits / total)


def _normal_p(r: list[float], n1: int, n2: int, u: float) -> float:
    n = n1 + n2
    ties = {}
    for x in r:
        ties[x] = ties.get(x, 0) + 1
    correction = sum(t ** 3 - t for t in ties.values()) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - correction))
    if sigma == 0:
        return 1.0
    z = max(0.0, abs(u - n1 * n2 / 2) - 0.5) / sigma
    return min(1.0, math.erfc(z / math.sqrt(2)))


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with a percentile bootstrap confidence interval."""

    diff: float
    low: float
    high: float
    level: float


def bootstrap_diff(a: list[float], b: list[float], level: float = 0.95, resamples: int = BOOTSTRAP,
                   seed: int = 0) -> Difference:
    """Resample each arm's seeds with replacement, `resamples` times (seeded: the same interval every
    time), and take the percentiles of the difference of means. ValueError when a sample is empty."""
    if not a or not b:
        raise ValueError("the bootstrap needs at least one value in each sample")
    rng = random.Random(seed)
    diffs = sorted(statistics.fmean(rng.choices(a, k=len(a))) - statistics.fmean(rng.choices(b, k=len(b)))
                   for _ in range(resamples))
    tail = (1 - level) / 2
    low = diffs[min(len(diffs) - 1, math.floor(tail * resamples))]
    high = diffs[min(len(diffs) - 1, math.ceil((1 - tail) * resamples) - 1)]
    return Difference(statistics.fmean(a) - statistics.fmean(b), low, high, level)
