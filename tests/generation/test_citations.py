"""Citations: every form models write is recognised, checked against the hits, rendered."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generation.citations import (
    LabelRef,
    SourceRef,
    check_citations,
    cited_hits,
    parse_citations,
    parse_timestamp,
    render_answer,
    render_citations,
)
from generation.types import Answer
from tests.support.fixtures_generation import clip_unit, hit, page_unit

HITS = [
    hit(page_unit("report.pdf", 3, "page three"), 0.9),
    hit(clip_unit("talk.mp4", 1, 10.0, 20.0, "clip one"), 0.8),
    hit(page_unit("Other File.pdf", 7, "page seven"), 0.7),
]


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("It is 5 [S1].", [SourceRef(1)]),
        ("It is 5 [S1, S3].", [SourceRef(1), SourceRef(3)]),
        ("It is 5 [S1][S2].", [SourceRef(1), SourceRef(2)]),
        ("It is 5 [s2; S3].", [SourceRef(2), SourceRef(3)]),
        ("It is 5 [Source 2].", [SourceRef(2)]),
        ("It is 5 (S2).", [SourceRef(2)]),
        ("It is 5 [S1-S3].", [SourceRef(1), SourceRef(2), SourceRef(3)]),
        ("It is 5 [S1 and S2].", [SourceRef(1), SourceRef(2)]),
        ("It is 5 [report.pdf p.3].", [LabelRef("report.pdf", page=3)]),
        ("It is 5 [report.pdf, page 3].", [LabelRef("report.pdf", page=3)]),
        ("It is 5 [report p. 3].", [LabelRef("report", page=3)]),
        ("It is 5 [talk.mp4 00:12-00:18].", [LabelRef("talk.mp4", start_s=12.0, end_s=18.0)]),
        ("It is 5 [talk.mp4 at 0:15].", [LabelRef("talk.mp4", start_s=15.0, end_s=15.0)]),
        (
            "It is 5 [report.pdf p.3; talk.mp4 00:10-00:20].",
            [LabelRef("report.pdf", page=3), LabelRef("talk.mp4", start_s=10.0, end_s=20.0)],
        ),
        (
            "It is 5 [report.pdf p.3, Other File.pdf p.7].",
            [LabelRef("report.pdf", page=3), LabelRef("Other File.pdf", page=7)],
        ),
    ],
)
def test_forms_are_parsed(text: str, refs: list[object]) -> None:
    groups = parse_citations(text, ["report.pdf", "talk.mp4", "Other File.pdf"])
    assert [r for g in groups for r in g.refs] == refs


@pytest.mark.parametrize(
    "text",
    ["BM25 [35] beats it", "see [sic] here", "(see above)", "[1, 2]", "x [a b c p.3] y", "[]"],
)
def test_ordinary_brackets_are_not_citations(text: str) -> None:
    assert parse_citations(text, ["report.pdf"]) == []
    assert check_citations(text, HITS).text == text


def test_valid_citations_map_to_hits() -> None:
    checked = check_citations(
        "Five [S1]. Ten [talk.mp4 00:12-00:15]. Seven [other file.pdf p.7].", HITS
    )
    assert checked.text == "Five [S1]. Ten [S2]. Seven [S3]."
    first, second, third = checked.citations
    assert (first.source_index, first.unit_id, first.page) == (1, HITS[0].unit.id, 3)
    assert (second.file_name, second.start_s, second.end_s) == ("talk.mp4", 10.0, 20.0)
    assert third.unit_id == HITS[2].unit.id
    assert all(c.valid for c in checked.citations)


def test_citations_to_nothing_are_flagged_and_removed_from_the_text() -> None:
    text = "Five [S1, S9]. Ten [S7]. Page [report.pdf p.4]. Clip [talk.mp4 01:00-01:10]. Nope [x.pdf p.1]."
    checked = check_citations(text, HITS)
    assert checked.text == "Five [S1]. Ten. Page. Clip. Nope."
    assert [c.source_index for c in checked.valid] == [1]
    invalid = [c for c in checked.citations if not c.valid]
    assert [c.marker for c in invalid] == [
        "[S9]",
        "[S7]",
        "[report.pdf p.4]",
        "[talk.mp4 01:00-01:10]",
        "[x.pdf p.1]",
    ]
    assert all(c.source_index is None and c.unit_id is None for c in invalid)
    assert invalid[2].page == 4 and invalid[3].start_s == 60.0


def test_duplicates_give_one_citation_per_source() -> None:
    checked = check_citations("A [S2]. B [S2][S2]. C [S1, S2].", HITS)
    assert checked.text == "A [S2]. B [S2]. C [S1][S2]."
    assert [c.source_index for c in checked.citations] == [2, 1]


def test_render_uses_readable_labels() -> None:
    assert (
        render_citations("Five [S1]. Ten [S2][S3]. Bad [S9].", HITS)
        == "Five [report.pdf p.3]. Ten [talk.mp4 00:10-00:20; Other File.pdf p.7]. Bad [S9]."
    )
    answer = Answer(
        text="Ten [S2].", citations=check_citations("Ten [S2].", HITS).citations, hits=HITS
    )
    assert render_answer(answer) == "Ten [talk.mp4 00:10-00:20]."
    assert cited_hits(answer) == [HITS[1]]


def test_rendered_labels_parse_back_to_the_same_sources() -> None:
    rendered = render_citations("A [S1]. B [S2]. C [S3].", HITS)
    assert check_citations(rendered, HITS).text == "A [S1]. B [S2]. C [S3]."


def test_timestamps() -> None:
    assert parse_timestamp("01:05") == 65.0
    assert parse_timestamp("1:00:05") == 3605.0


@given(st.lists(st.integers(min_value=0, max_value=6), min_size=1, max_size=8))
def test_only_retrieved_sources_survive(indices: list[int]) -> None:
    text = " ".join(f"claim {i} [S{i}]." for i in indices)
    checked = check_citations(text, HITS)
    kept = [int(m) for m in __import__("re").findall(r"\[S(\d+)\]", checked.text)]
    assert kept == [i for i in indices if 1 <= i <= len(HITS)]
    assert {c.source_index for c in checked.valid} == set(kept)
    assert {c.marker for c in checked.citations if not c.valid} == {
        f"[S{i}]" for i in indices if not 1 <= i <= len(HITS)
    }
