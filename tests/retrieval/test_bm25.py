"""retrieval.bm25: the Okapi formula, with IDF computed only for the terms a query uses."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from retrieval.bm25 import BM25
from retrieval.terms import term_counts, tokenize


def _okapi(query: list[str], doc: list[str], docs: list[list[str]], k1: float, b: float) -> float:
    avg = sum(map(len, docs)) / len(docs)
    total = 0.0
    for term in set(query):
        tf = doc.count(term)
        if not tf:
            continue
        df = sum(term in d for d in docs)
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        total += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg))
    return total


def test_scores_follow_the_textbook_formula() -> None:
    docs = [["whale", "song", "whale"], ["song", "bird"], ["ocean", "whale", "deep", "blue"], []]
    bm25 = BM25(docs, k1=1.2, b=0.75)
    query = ["whale", "song", "missing", "whale"]
    expected = [_okapi(query, d, docs, 1.2, 0.75) for d in docs]
    assert bm25.scores(query) == pytest.approx(expected, rel=1e-12)
    assert bm25.top(query, 2) == [0, 1]


def test_idf_is_computed_for_query_terms_only_and_once() -> None:
    bm25 = BM25([["a", "b", "c"], ["a", "d"]])
    bm25.scores(["a", "zzz"])
    assert set(bm25._idf) == {"a"}
    assert bm25.idf("a") == math.log(1 + 0.5 / 2.5)


def test_of_counts_scores_as_the_token_lists_and_counts_df_for_query_terms_only() -> None:
    docs = [["whale", "song", "whale"], ["song", "bird"], ["ocean", "whale", "deep", "blue"], []]
    query = ["whale", "song", "missing", "whale"]
    counted = BM25.of_counts([Counter(d) for d in docs], [len(d) for d in docs])
    assert counted.scores(query) == BM25(docs).scores(query)  # bit for bit
    assert set(counted._df) == {"whale", "song", "missing"}
    assert counted.df("whale") == 2 and counted.df("missing") == 0
    with pytest.raises(ValueError):
        BM25.of_counts([Counter(docs[0])], [3, 2])


def test_term_counts_are_the_tokens_counted_once_per_text() -> None:
    text = "Peer-to-peer cash: peers and cash"
    counts, length = term_counts(text, stem=False)
    assert dict(counts) == dict(Counter(tokenize(text, stem=False)))
    assert length == len(tokenize(text, stem=False))
    assert term_counts(text, stem=False)[0] is counts  # memoised
    assert term_counts(text)[0] == Counter(tokenize(text))  # stemmed: "peers" -> "peer"
