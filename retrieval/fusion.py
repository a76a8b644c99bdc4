"""Score fusion and normalisation as pure functions.

`fuse_rrf` and `fuse_dbsf` reproduce Qdrant's Query API fusion (same formulas, same
defaults), so fusing per-channel results here equals asking Qdrant to fuse prefetches.
Results are lists of (key, score), best first; equal scores in the order of their keys as
text, so a ranking does not depend on the order the channels returned tied keys in (the
clips of a video without speech tie everywhere, and Qdrant Edge returns them in no fixed
order: eval runs of one tree differed).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal, TypeVar

K = TypeVar("K", bound=Hashable)

Normalization = Literal["minmax", "zscore", "dbsf"]

# Qdrant's default RRF constant (qdrant_client.hybrid.fusion.DEFAULT_RANKING_CONSTANT_K).
QDRANT_RRF_K = 2


def _ranked(scores: dict[K, float]) -> list[tuple[K, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], str(item[0])))


def fuse_rrf(
    rankings: Sequence[Sequence[K]],
    k: float = QDRANT_RRF_K,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Reciprocal rank fusion of ranked key lists (best first).

    A key at 0-based position `p` of a list with weight `w` earns `1 / ((p + 1) / w + k - 1)`
    (Qdrant's weighted RRF; with w = 1 that is `1 / (k + p)`); a weight <= 0 contributes 0.
    """
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    if k <= 0:
        raise ValueError("k must be positive")
    totals: dict[K, float] = {}
    for idx, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[idx]
        for pos, key in enumerate(ranking):
            gain = 0.0 if weight <= 0 else 1.0 / ((pos + 1.0) / weight + k - 1.0)
            totals[key] = totals.get(key, 0.0) + gain
    return _ranked(totals)


def dbsf_normalize(scores: Sequence[float]) -> list[float]:
    """Distribution-based normalisation: map [mean - 3 std, mean + 3 std] onto [0, 1]
    (sample std, as Qdrant). One score, or all equal, -> 0.5. Not clipped, as in Qdrant."""
    n = len(scores)
    if n == 0:
        return []
    if n == 1:
        return [0.5]
    mean = sum(scores) / n
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1))
    # Equal scores can leave rounding noise in the variance; treat it as zero spread.
    if std <= 1e-12 * max(1.0, abs(mean)):
        return [0.5] * n
    low = mean - 3 * std
    return [(s - low) / (6 * std) for s in scores]


def fuse_dbsf(results: Sequence[Mapping[K, float]]) -> list[tuple[K, float]]:
    """Distribution-based score fusion: the sum of each key's `dbsf_normalize`d scores over
    the result lists it appears in."""
    totals: dict[K, float] = {}
    for result in results:
        keys = list(result)
        for key, norm in zip(keys, dbsf_normalize([result[k] for k in keys]), strict=True):
            totals[key] = totals.get(key, 0.0) + norm
    return _ranked(totals)


def minmax_normalize(scores: Sequence[float]) -> list[float]:
    """Scale to [0, 1] (min -> 0, max -> 1); all equal -> 0.5."""
    if not scores:
        return []
    low, high = min(scores), max(scores)
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return [0.5] * len(scores)
    return [(s - low) / (high - low) for s in scores]


def zscore_normalize(scores: Sequence[float]) -> list[float]:
    """Standard scores (population std); all equal -> 0."""
    n = len(scores)
    if n == 0:
        return []
    mean = sum(scores) / n
    std = math.sqrt(sum((s - mean) ** 2 for s in scores) / n)
    if std <= 1e-12 * max(1.0, abs(mean)):
        return [0.0] * n
    return [(s - mean) / std for s in scores]


def normal_cdf(z: float) -> float:
    """Standard normal CDF: maps a z-score onto (0, 1) monotonically."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def normalize(scores: Sequence[float], method: Normalization) -> list[float]:
    """Scores onto [0, 1], order preserved: min-max, z-score through the normal CDF, or
    DBSF clipped to [0, 1]."""
    if method == "minmax":
        return minmax_normalize(scores)
    if method == "zscore":
        return [normal_cdf(z) for z in zscore_normalize(scores)]
    return [min(1.0, max(0.0, s)) for s in dbsf_normalize(scores)]


def weighted_fusion(columns: Sequence[Sequence[float]], weights: Sequence[float]) -> list[float]:
    """Row-wise weighted mean of equally long score columns: sum(w_i * x_i) / sum(w_i).

    With normalised inputs in [0, 1] the result is in [0, 1]. Weights must be >= 0 and not
    all zero.
    """
    if len(columns) != len(weights):
        raise ValueError("one weight per column")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("weights must be >= 0 with a positive sum")
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise ValueError("columns differ in length")
    # Weights are scaled to sum 1 first: w * x / total underflows for subnormal weights
    # (5e-324 * 0.75 / 5e-324 gave 1.0), a share of the total does not.
    total = sum(weights)
    shares = [w / total for w in weights]
    n = lengths.pop() if lengths else 0
    return [sum(s * col[i] for s, col in zip(shares, columns, strict=True)) for i in range(n)]
