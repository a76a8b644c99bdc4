"""Fusion and normalisation: properties (hypothesis) and parity with Qdrant's own fusion."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models

from retrieval.fusion import (
    dbsf_normalize,
    fuse_dbsf,
    fuse_rrf,
    minmax_normalize,
    normalize,
    weighted_fusion,
    zscore_normalize,
)

scores = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40)
keys = st.integers(0, 30)
rankings = st.lists(st.lists(keys, max_size=20, unique=True), min_size=1, max_size=4)


@given(rankings)
def test_rrf_scores_are_bounded_and_sorted(lists: list[list[int]]) -> None:
    fused = fuse_rrf(lists, k=60)
    values = [s for _, s in fused]
    assert values == sorted(values, reverse=True)
    assert {k for k, _ in fused} == {k for ranking in lists for k in ranking}
    assert all(0 < s <= len(lists) / 60 + 1e-12 for s in values)


@given(rankings)
def test_rrf_ignores_the_order_of_the_lists(lists: list[list[int]]) -> None:
    forward = dict(fuse_rrf(lists))
    backward = dict(fuse_rrf(lists[::-1]))
    assert forward.keys() == backward.keys()
    assert all(math.isclose(forward[k], backward[k]) for k in forward)


@given(st.lists(keys, min_size=2, max_size=20, unique=True), st.integers(1, 4))
def test_rrf_first_everywhere_wins(ranking: list[int], copies: int) -> None:
    fused = fuse_rrf([ranking] * copies)
    assert fused[0][0] == ranking[0]
    assert [k for k, _ in fused] == ranking


@given(rankings)
def test_rrf_zero_weight_drops_a_list(lists: list[list[int]]) -> None:
    weighted = dict(fuse_rrf([*lists, [99, 98]], weights=[1.0] * len(lists) + [0.0]))
    assert weighted.get(99, 0.0) == 0.0
    plain = dict(fuse_rrf(lists))
    assert all(math.isclose(plain[k], weighted[k]) for k in plain)


@given(scores)
def test_minmax_is_in_unit_interval_and_keeps_order(values: list[float]) -> None:
    norm = minmax_normalize(values)
    assert all(0.0 <= x <= 1.0 for x in norm)
    for a, b, na, nb in zip(values, values[1:], norm, norm[1:], strict=False):
        if a < b:
            assert na <= nb
    if max(values) - min(values) > 1e-6 * max(1.0, abs(max(values))):
        assert min(norm) == 0.0 and max(norm) == 1.0


@given(scores)
def test_zscore_has_zero_mean_and_unit_spread(values: list[float]) -> None:
    z = zscore_normalize(values)
    assert math.isclose(sum(z) / len(z), 0.0, abs_tol=1e-6)
    if any(abs(x) > 0 for x in z):
        std = math.sqrt(sum(x * x for x in z) / len(z))
        assert math.isclose(std, 1.0, rel_tol=1e-6)


@given(scores, st.sampled_from(["minmax", "zscore", "dbsf"]))
def test_every_normalization_maps_into_unit_interval_monotonically(
    values: list[float], method: str
) -> None:
    norm = normalize(values, method)  # type: ignore[arg-type]
    assert len(norm) == len(values) and all(0.0 <= x <= 1.0 for x in norm)
    order = sorted(range(len(values)), key=lambda i: values[i])
    assert all(norm[i] <= norm[j] + 1e-12 for i, j in zip(order, order[1:], strict=False))


@given(st.lists(st.floats(-100, 100, allow_nan=False), min_size=2, max_size=40))
def test_dbsf_centres_the_mean_on_one_half(values: list[float]) -> None:
    norm = dbsf_normalize(values)
    if len(set(values)) > 1:
        assert math.isclose(sum(norm) / len(norm), 0.5, abs_tol=1e-9)
    else:
        assert norm == [0.5] * len(values)


@given(
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=30),
    st.floats(0, 5),
    st.floats(0, 5),
)
@example(rows=[(0.0, 0.75)], w1=0.0, w2=5e-324)  # a subnormal weight once gave 1.0
def test_weighted_fusion_is_a_weighted_mean(
    rows: list[tuple[float, float]], w1: float, w2: float
) -> None:
    a, b = [r[0] for r in rows], [r[1] for r in rows]
    if w1 + w2 == 0:
        with pytest.raises(ValueError):
            weighted_fusion([a, b], [w1, w2])
        return
    fused = weighted_fusion([a, b], [w1, w2])
    for x, y, f in zip(a, b, fused, strict=True):
        assert min(x, y) - 1e-9 <= f <= max(x, y) + 1e-9
    assert weighted_fusion([a, b], [1.0, 0.0]) == pytest.approx(a)


def test_weighted_fusion_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        weighted_fusion([[0.1], [0.2, 0.3]], [1, 1])
    with pytest.raises(ValueError):
        weighted_fusion([[0.1]], [-1.0])


# -- parity with Qdrant: fusing per-channel results here == Qdrant fusing prefetches ----------


@pytest.fixture(scope="module")
def qdrant() -> QdrantClient:
    client = QdrantClient(":memory:")
    client.create_collection(
        "c",
        vectors_config={
            "a": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "b": models.VectorParams(size=4, distance=models.Distance.COSINE),
        },
    )
    points = [
        models.PointStruct(
            id=i,
            vector={
                "a": [math.sin(i), math.cos(i), (i % 5) / 5, 1.0],
                "b": [math.cos(3 * i), 0.5, math.sin(2 * i), (i % 3) / 3],
            },
        )
        for i in range(40)
    ]
    client.upsert("c", points)
    return client


@pytest.mark.parametrize("fusion", [models.Fusion.RRF, models.Fusion.DBSF])
def test_fusion_matches_qdrant_prefetch_fusion(qdrant: QdrantClient, fusion: models.Fusion) -> None:
    qa, qb = [0.3, 0.9, 0.1, 0.2], [0.7, 0.1, 0.4, 0.5]
    limit = 15
    server = qdrant.query_points(
        "c",
        prefetch=[
            models.Prefetch(query=qa, using="a", limit=limit),
            models.Prefetch(query=qb, using="b", limit=limit),
        ],
        query=models.FusionQuery(fusion=fusion),
        limit=limit,
    ).points
    per_channel = [
        qdrant.query_points("c", query=q, using=name, limit=limit).points
        for name, q in (("a", qa), ("b", qb))
    ]
    if fusion == models.Fusion.RRF:
        ours = fuse_rrf([[p.id for p in points] for points in per_channel])
    else:
        ours = fuse_dbsf([{p.id: p.score for p in points} for points in per_channel])
    assert [p.score for p in server] == pytest.approx([s for _, s in ours[:limit]])
    assert {p.id: p.score for p in server} == pytest.approx(dict(ours[:limit]))


def test_ties_are_ordered_by_key_whatever_order_the_channels_gave() -> None:
    forward = fuse_dbsf([{"c3": 0.5, "c1": 0.5, "c2": 0.5, "p9": 0.9}, {"c2": 0.1, "c1": 0.1}])
    backward = fuse_dbsf([{"p9": 0.9, "c2": 0.5, "c3": 0.5, "c1": 0.5}, {"c1": 0.1, "c2": 0.1}])
    assert forward == backward
    assert [k for k, _ in forward] == ["c1", "c2", "p9", "c3"]  # c1, c2 tie: by key
    assert [k for k, _ in fuse_rrf([["b", "a"], ["a", "b"]])] == ["a", "b"]
    assert [k for k, _ in fuse_rrf([["a", "b"], ["b", "a"]])] == ["a", "b"]
