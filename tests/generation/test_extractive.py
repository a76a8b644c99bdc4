"""The extractive generator: picks the best sentences, verbatim, with their sources."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.config import GenerationSettings
from generation.generators.extractive import ExtractiveGenerator
from generation.generators.scoring import LexicalSentenceScorer, SentenceScorer
from generation.prompts import NO_ANSWER
from retrieval.types import Hit
from retrieval.verbatim import clean_span, is_verbatim
from tests.support.fixtures_generation import CANVAS_TEXT, clip_unit, hit, page_unit, sample_hits


class KeywordScorer:
    """Fake scorer: 1.0 for sentences containing the keyword, else 0."""

    name = "keyword"

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        self.calls: list[list[str]] = []

    def score_groups(self, query: str, groups: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
        sentences = [s for group in groups for s in group]
        self.calls.append(sentences)
        return [np.array([1.0 if self.keyword in s else 0.0 for s in group]) for group in groups]


def generator(
    scorer: SentenceScorer,
    n: int = 2,
    *,
    top_unit: bool = False,
    follow: Literal["none", "first", "all"] = "none",
    answer_type: bool = False,
) -> ExtractiveGenerator:
    settings = GenerationSettings(
        extractive_sentences=n,
        extractive_top_unit=top_unit,
        extractive_follow=follow,
        extractive_answer_type=answer_type,
    )
    return ExtractiveGenerator(scorer, settings)


def strip_markers(text: str) -> str:
    return re.sub(r"\s*\[S\d+\]", "", text)


def test_best_sentence_with_its_source() -> None:
    answer = generator(KeywordScorer("double-spending problem"), n=1).compose("q", sample_hits())
    assert (
        answer
        == "We propose a solution to the double-spending problem using a peer-to-peer network. [S1]"
    )


def test_short_best_line_brings_the_next_line() -> None:
    unit = page_unit(
        "plan.pdf",
        5,
        "Foundation plan\nCrawlspace access:\nFrom the laundry closet, below the stairs\nScale 1:50",
    )
    answer = generator(KeywordScorer("Crawlspace")).compose(
        "Where is the crawlspace access?", [hit(unit, 0.9)]
    )
    assert answer == "Crawlspace access: From the laundry closet, below the stairs [S1]"


def test_table_row_question() -> None:
    hits = [hit(page_unit("canvas.pdf", 2, CANVAS_TEXT), 0.9)]
    answer = generator(LexicalSentenceScorer()).compose("What is the default lineCap value?", hits)
    assert "lineCap string butt" in answer and answer.endswith("[S1]")


def test_sentences_from_several_sources_are_grouped_and_cited() -> None:
    hits = [
        hit(
            page_unit(
                "a.pdf", 1, "Alpha is a letter. Gamma rays are strong and dangerous in space."
            ),
            0.9,
        ),
        hit(
            page_unit("b.pdf", 2, "Gamma rays come from space and are strong. Beta is unrelated."),
            0.8,
        ),
    ]
    answer = generator(KeywordScorer("Gamma")).compose("gamma?", hits)
    assert answer == (
        "Gamma rays are strong and dangerous in space. [S1] "
        "Gamma rays come from space and are strong. [S2]"
    )


def test_only_top_units_are_read() -> None:
    scorer = KeywordScorer("cooking")
    hits = sample_hits()
    ExtractiveGenerator(scorer, GenerationSettings(), max_units=1).compose("q", hits)
    assert all("onions" not in s for s in scorer.calls[0])


def test_nothing_matching_means_no_answer() -> None:
    assert generator(KeywordScorer("zebra")).compose("q", sample_hits()) == NO_ANSWER
    assert (
        generator(LexicalSentenceScorer()).compose("q", [hit(page_unit("e.pdf", 1, ""), 0.9)])
        == NO_ANSWER
    )


def test_the_factory_gives_extractive_answers_the_lite_scorer_or_a_lexical_one() -> None:
    from app.config import Settings
    from app.factory import build_generator, build_sentence_scorer
    from retrieval.rerankers.fake import FakeReranker
    from retrieval.rerankers.lite import LiteReranker

    assert isinstance(build_sentence_scorer(None), LexicalSentenceScorer)
    assert isinstance(build_sentence_scorer(FakeReranker()), LexicalSentenceScorer)
    lite = LiteReranker.__new__(LiteReranker)  # no model: only the wiring is checked
    lite.sentence_scorer = KeywordScorer("x")  # type: ignore[assignment]
    assert build_sentence_scorer(lite) is lite.sentence_scorer
    settings = Settings(_env_file=None, generation={"generator": "extractive"})  # type: ignore[call-arg]
    built = build_generator(settings, lite.sentence_scorer)
    assert isinstance(built, ExtractiveGenerator) and built.scorer is lite.sentence_scorer


def test_with_settings_keeps_scorer_rows_and_weights() -> None:
    from generation.rows import NoRows

    scorer, rows = KeywordScorer("x"), NoRows()
    base = ExtractiveGenerator(scorer, GenerationSettings(), max_units=1, hit_weight=0.5, rows=rows)
    other = GenerationSettings(extractive_sentences=1)
    variant = base.with_settings(other)
    assert variant.settings is other and base.settings is not other
    assert variant.scorer is scorer and variant.rows is rows
    assert (variant.max_units, variant.hit_weight, variant.min_score) == (1, 0.5, 0.0)
    assert isinstance(ExtractiveGenerator(scorer, other).rows, NoRows)  # the default


def test_lexical_scorer_prefers_the_sentence_covering_rare_query_words() -> None:
    scores = LexicalSentenceScorer().score(
        "Which sample database were the OLAP query logs generated on?",
        [
            "The logs are useful.",
            "Synthetic OLAP query logs were generated on FoodMart.",
            "Database.",
        ],
    )
    assert scores.index(max(scores)) == 1
    assert all(0.0 <= s <= 1.0 for s in scores)


_WORDS = st.sampled_from(
    ["alpha", "beta", "gamma", "delta-", "\n", ".", "  ", "Epsilon", "•", ":", "1,234", "2020"]
)


def _drawn(
    unit_texts: list[str],
    n: int,
    top_unit: bool,
    follow: Literal["none", "first", "all"],
    answer_type: bool,
) -> tuple[list[Hit], ExtractiveGenerator]:
    """The hits and the generator of one drawn example (the property tests below)."""
    hits = [hit(page_unit(f"d{i}.pdf", 1, t), 0.9 - 0.1 * i) for i, t in enumerate(unit_texts)]
    gen = generator(
        LexicalSentenceScorer(), n, top_unit=top_unit, follow=follow, answer_type=answer_type
    )
    return hits, gen


@settings(max_examples=60)
@given(
    st.lists(st.lists(_WORDS, max_size=40).map(" ".join), min_size=1, max_size=3),
    st.integers(1, 4),
    st.booleans(),
    st.sampled_from(["none", "first", "all"]),
    st.sampled_from(["alpha gamma epsilon", "How many alpha in 2020?"]),
    st.booleans(),
)
def test_never_invents_text(
    unit_texts: list[str],
    n: int,
    top_unit: bool,
    follow: Literal["none", "first", "all"],
    question: str,
    answer_type: bool,
) -> None:
    hits, gen = _drawn(unit_texts, n, top_unit, follow, answer_type)
    snippets = gen.select(question, hits)
    assert len(snippets) <= n
    for snippet in snippets:
        source = hits[snippet.source_index - 1].unit.text
        ordinals = [s.ordinal for s in snippet.sentences]
        assert ordinals == list(range(ordinals[0], ordinals[0] + len(ordinals)))
        for sentence in snippet.sentences:
            assert sentence.text == clean_span(source, sentence.start, sentence.end)
    answer = gen.compose(question, hits)
    # The answer is the snippets' words plus citation markers, nothing else.
    assert (
        sorted(strip_markers(answer).split()) == sorted(w for s in snippets for w in s.text.split())
        or answer == NO_ANSWER
    )


def test_cells_of_a_table_are_read_until_the_value() -> None:
    text = "Kontoinhaber: CCC Salzburg\nBank:\nSalzburger Sparkasse Bank AG\nIBAN:\nAT92 2040"
    answer = generator(KeywordScorer("Bank:"), n=1).compose(
        "Which bank?", [hit(page_unit("b.pdf", 1, text), 0.9)]
    )
    assert answer == "Bank: Salzburger Sparkasse Bank AG IBAN: AT92 2040 [S1]"


def test_a_short_last_line_takes_the_line_before() -> None:
    text = "The answer is in the line before this one, here.\nNote"
    answer = generator(KeywordScorer("Note"), n=1).compose(
        "q", [hit(page_unit("t.pdf", 1, text), 0.9)]
    )
    assert answer == "The answer is in the line before this one, here. Note [S1]"


def test_titles_made_of_the_question_words_are_demoted() -> None:
    text = "SNP Block Partitioning\n\nThe talk on SNP block partitioning was given at WABI in Zurich, 2006."
    answer = generator(LexicalSentenceScorer(), n=1).compose(
        "Where was SNP block partitioning presented?", [hit(page_unit("talk.pdf", 1, text), 0.9)]
    )
    assert answer.startswith("The talk on SNP block partitioning was given at WABI")


_PASSAGE = re.compile(r"\s*(.+?) \[S(\d+)\]")
_PROSE = st.sampled_from(
    [
        "The",
        "card",
        "num-\nber",
        "detec-\ntion",
        "double-\nspending",
        "locking",
        "is",
        "disabled.",
        "Figure 2:",
        "see Fig. 2.",
        "Table 1",
        "\n",
        "\n\n",
        "(CIKM),",
        "pages",
        "of the\n",
        "e.g.",
        "•",
        "lineCap",
        "    ",
        "15",
        "minutes.",
        "Gamma",
    ]
)


def passages(answer: str) -> list[tuple[str, int]]:
    """(passage, source index) of every `passage [Sn]` piece of an answer."""
    return [(m.group(1), int(m.group(2))) for m in _PASSAGE.finditer(answer)]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.lists(_PROSE, max_size=50).map(" ".join), min_size=1, max_size=3),
    st.sampled_from(
        [
            "When is locking disabled?",
            "What does Figure 2 show?",
            "What is the number of the card?",
            "Which table lists lineCap?",
            "How many minutes does locking take?",
        ]
    ),
    st.integers(1, 4),
    st.booleans(),
    st.sampled_from(["none", "first", "all"]),
    st.booleans(),
)
def test_every_quoted_passage_is_verbatim_in_its_cited_unit(
    unit_texts: list[str],
    question: str,
    n: int,
    top_unit: bool,
    follow: Literal["none", "first", "all"],
    answer_type: bool,
) -> None:
    hits, gen = _drawn(unit_texts, n, top_unit, follow, answer_type)
    answer = gen.compose(question, hits)
    if answer == NO_ANSWER:
        return
    found = passages(answer)
    assert found and "".join(f"{p} [S{i}]" for p, i in found) == answer.replace("] ", "]")
    for passage, index in found:
        unit_text = hits[index - 1].unit.text
        assert is_verbatim(passage, unit_text), (passage, unit_text)


def test_the_issue_splice_cannot_happen() -> None:
    # Two sentences of one unit are never glued into one: each passage carries its marker.
    text = (
        "For shuttle service from the Wellington T stop, please call 617-387-7625 upon "
        "arrival at the station.\nDirections\nWellington T stop."
    )
    answer = generator(LexicalSentenceScorer(), n=2).compose(
        "Whom do I call for shuttle service from the Wellington T stop?",
        [hit(page_unit("metrorock.pdf", 1, text), 0.9)],
    )
    assert answer.startswith(
        "For shuttle service from the Wellington T stop, please call 617-387-7625 upon "
        "arrival at the station. [S1]"
    )
    assert "please call Wellington" not in answer
    for passage, _ in passages(answer):
        assert is_verbatim(passage, text)


def test_the_answering_sentence_comes_first_even_if_later_in_the_text() -> None:
    text = "Alpha is a letter of no interest.\nThe warranty covers the battery for 8 years."
    answer = generator(KeywordScorer("warranty"), n=2).compose(
        "q", [hit(page_unit("w.pdf", 1, text), 0.9)]
    )
    assert answer.startswith("The warranty covers the battery for 8 years. [S1]")


def test_a_figure_question_quotes_the_caption_then_the_sentence_referring_to_it() -> None:
    text = (
        "The plot gives a straight line as shown in Fig. 5, so the adsorption follows the "
        "Langmuir isotherm.\nOther text about steel samples.\n"
        "Fig. 5. Langmuir adsorption isotherm of egg shell on stainless steel."
    )
    answer = generator(LexicalSentenceScorer(), n=2).compose(
        "Which isotherm is shown in Fig. 5?", [hit(page_unit("c.pdf", 1, text), 0.9)]
    )
    assert answer.startswith(
        "Fig. 5. Langmuir adsorption isotherm of egg shell on stainless steel. [S1] "
        "The plot gives a straight line as shown in Fig. 5,"
    )


def test_line_break_hyphens_are_repaired_in_answers() -> None:
    text = "The card must stay out of the detec-\ntion area for the lock to work."
    answer = generator(KeywordScorer("card"), n=1).compose(
        "q", [hit(page_unit("c.pdf", 1, text), 0.9)]
    )
    assert answer == "The card must stay out of the detection area for the lock to work. [S1]"


class TableScorer:
    """Fake scorer: a fixed score per sentence text (0 for others)."""

    name = "table"

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores

    def score_groups(self, query: str, groups: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
        return [np.array([self.scores.get(s, 0.0) for s in group]) for group in groups]


def test_follow_quotes_the_sentence_after_the_best_one() -> None:
    text = (
        "The most common types are invasive ductal carcinoma and lobular carcinoma. "
        "IDC accounts for about 80% of breast cancers. Unrelated closing words here."
    )
    hits = [hit(page_unit("bc.pdf", 10, text), 0.9)]
    scorer = TableScorer(
        {"The most common types are invasive ductal carcinoma and lobular carcinoma.": 0.9}
    )
    plain = generator(scorer, n=1).compose("share of ductal carcinoma?", hits)
    assert "80%" not in plain
    followed = generator(scorer, n=1, follow="first").compose("share of ductal carcinoma?", hits)
    assert followed == (
        "The most common types are invasive ductal carcinoma and lobular carcinoma. "
        "IDC accounts for about 80% of breast cancers. [S1]"
    )
    assert is_verbatim(strip_markers(followed), text)


@pytest.mark.parametrize(
    "after",
    [
        "6.2",  # the next section's number
        "20",  # an axis tick
        "References",  # a lone word
        "Extending a tree.",  # a run-in heading
        "3The ideal size of a passage depends on the retriever and the reader.",  # a footnote
        "Figure 3: Speedups of the benchmarks over the interpreter.",  # a caption
    ],
)
def test_follow_takes_prose_not_what_the_layout_put_after_a_sentence(after: str) -> None:
    best = "All experiments were done on eight 32GB GPUs."
    hits = [hit(page_unit("dpr.pdf", 7, f"{best}\n{after}\nMore words follow here now."), 0.9)]
    answer = generator(TableScorer({best: 1.0}), n=1, follow="first").compose("gpus?", hits)
    assert answer == f"{best} [S1]"


def test_a_page_that_opens_mid_sentence_is_quoted_from_its_first_whole_sentence() -> None:
    text = (
        "negative passages for each question.\nThe trick of in-batch negatives has been "
        "used in full batch learning."
    )
    hits = [hit(page_unit("dpr.pdf", 4, text), 0.9)]
    answer = generator(LexicalSentenceScorer(), n=2).compose("negative passages trick?", hits)
    assert answer == "The trick of in-batch negatives has been used in full batch learning. [S1]"
    # A title in lower case is no sentence's end: it stays quotable.
    title = page_unit("mob.pdf", 1, "party with the mob: Model-Based Recursive Partitioning")
    assert generator(LexicalSentenceScorer(), n=1).compose("party mob?", [hit(title, 0.9)]) == (
        "party with the mob: Model-Based Recursive Partitioning [S1]"
    )


def test_a_clip_is_scored_with_its_video_title_and_quoted_without_it() -> None:
    clip = clip_unit("megamind-clip.mp4", 0, 0.0, 6.0, "You judge them based on their actions.")
    scorer = KeywordScorer("megamind")
    answer = generator(scorer, n=1).compose("What does Megamind say?", [hit(clip, 0.9)])
    assert answer == "You judge them based on their actions. [S1]"
    assert scorer.calls == [["megamind clip: You judge them based on their actions."]]
    # A page's sentences are scored as they are.
    page = page_unit("megamind-notes.pdf", 1, "You judge them based on their actions.")
    assert generator(KeywordScorer("megamind"), n=1).compose("q", [hit(page, 0.9)]) == NO_ANSWER


def test_follow_takes_a_line_of_values_with_words() -> None:
    best = "Family night at the planetarium is on November 14."
    hits = [
        hit(page_unit("news.pdf", 1, f"{best}\nK-2nd grade: 4–5 pm, 3rd-5th: 8:00 – 9:00 pm"), 0.9)
    ]
    answer = generator(TableScorer({best: 1.0}), n=1, follow="first").compose("when?", hits)
    assert answer == f"{best} K-2nd grade: 4–5 pm, 3rd-5th: 8:00 – 9:00 pm [S1]"


def test_follow_stops_at_a_gap_in_the_text() -> None:
    # A sentence whose next one is not adjacent (a non-word line between them) stands alone.
    text = "Alpha beta gamma delta epsilon zeta eta theta.\n***\nNext sentence here now."
    hits = [hit(page_unit("a.pdf", 1, text), 0.9)]
    scorer = TableScorer({"Alpha beta gamma delta epsilon zeta eta theta.": 1.0})
    answer = generator(scorer, n=1, follow="first").compose("alpha?", hits)
    assert answer == "Alpha beta gamma delta epsilon zeta eta theta. [S1]"


def test_top_unit_quotes_the_best_sentence_of_the_first_hit_second() -> None:
    one = "The answer is probably written here in these many words."
    best = "A sentence that scores best of all the sentences here."
    other = "Another sentence that scores well but is on page two."
    first = page_unit("a.pdf", 1, f"{one} Nothing else.")
    second = page_unit("b.pdf", 2, f"{best} {other}")
    hits = [hit(first, 0.9), hit(second, 0.8)]
    scorer = TableScorer({best: 1.0, other: 0.9, one: 0.2})  # `one`: under half the best
    plain = generator(scorer, n=2).compose("q", hits)
    assert plain == f"{best} [S2] {other} [S2]"
    with_top = generator(scorer, n=2, top_unit=True).compose("q", hits)
    assert with_top == f"{best} [S2] {one} [S1]"


def test_follow_all_extends_every_passage_first_only_the_best() -> None:
    a1 = "Alpha sentence number one is the best of them all."
    a2 = "Alpha follower says what comes after the best one."
    b1 = "Beta sentence number two scores a little lower here."
    b2 = "Beta follower holds the rest of the second answer."
    hits = [hit(page_unit("a.pdf", 1, f"{a1} {a2}\n\n{b1} {b2}"), 0.9)]
    scorer = TableScorer({a1: 1.0, b1: 0.9})
    first = generator(scorer, n=2, follow="first").compose("q", hits)
    assert first == f"{a1} {a2} [S1] {b1} [S1]"
    every = generator(scorer, n=2, follow="all").compose("q", hits)
    assert every == f"{a1} {a2} [S1] {b1} {b2} [S1]"


def test_a_quantity_question_quotes_the_figure_before_the_title() -> None:
    # The title shares more of the question's words; the row states the figure asked for.
    text = (
        "Comprehensive income in fiscal 2021, consolidated statement.\n\n"
        "Total comprehensive income for the year came to 415,954 million yen."
    )
    question = "What was the total comprehensive income in fiscal 2021?"
    hits = [hit(page_unit("r.pdf", 1, text), 0.9)]
    plain = generator(LexicalSentenceScorer(), n=1).compose(question, hits)
    typed = generator(LexicalSentenceScorer(), n=1, answer_type=True).compose(question, hits)
    assert plain.startswith("Comprehensive income in fiscal 2021")
    assert typed == "Total comprehensive income for the year came to 415,954 million yen. [S1]"


def test_answer_type_leaves_other_questions_alone() -> None:
    text = "The gym opens at noon.\n\nIt has 1,200 square metres of walls."
    hits = [hit(page_unit("g.pdf", 1, text), 0.9)]
    question = "When does the gym open?"
    assert generator(LexicalSentenceScorer(), n=1, answer_type=True).compose(
        question, hits
    ) == generator(LexicalSentenceScorer(), n=1).compose(question, hits)


def test_a_label_is_judged_with_the_value_on_its_next_line() -> None:
    # "BY NET PROFIT" alone repeats the question; with the line the layout put after it,
    # it states the figure asked for.
    text = (
        "RIL is a large company with a long history of growth in India.\n\n"
        "BY NET PROFIT\n`67,845 crore\n"
    )
    answer = generator(LexicalSentenceScorer(), n=1, answer_type=True).compose(
        "What net profit did RIL report?", [hit(page_unit("r.pdf", 2, text), 0.9)]
    )
    assert answer == "BY NET PROFIT `67,845 crore [S1]"
