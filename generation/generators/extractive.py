"""The lite-profile generator: answer with the best passages of the top units, verbatim.

No text is invented: every passage of the answer is one contiguous piece of its unit's
text, whole sentences only (never cut, never started mid-sentence), with only whitespace
and line-break hyphens repaired (retrieval.sentences, retrieval.verbatim), followed by the
`[Sn]` marker of its source. Each passage is checked with `is_verbatim` before it is shown.

The answer has up to `settings.extractive_sentences` passages, the best-scoring first (the
sentence that answers comes first), then others scoring at least half as well. A pick too
short to stand alone (a table cell or row, a heading, a `label:` line) takes the next lines
until it has SHORT_SENTENCE_WORDS words, because in text layers the value follows its label
("Bank:" / "Salzburger Sparkasse Bank AG", "lineCap" / "string" / "butt").
Sentences made only of the question's own words (titles, headings) are demoted, and so,
for a question asking for a quantity, are sentences stating no figure it does not hold
(generation.generators.answer_type); both are judged on the pick with the short lines its
passage brings (a label and the value on its next line).
For a figure or table (named by the question, or captioned by the best pick) the answer
quotes its caption and the sentence that refers to it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Container, Iterator, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace

import numpy as np
import numpy.typing as npt

from generation.config import GenerationSettings
from generation.generators.answer_type import asks_quantity, states_new_figure
from generation.generators.scoring import SentenceScorer
from generation.prompts import NO_ANSWER, source_marker
from generation.rows import NoRows, PageRows
from generation.streaming import word_chunks
from ingest.types import Unit, UnitKind
from retrieval.lexical import float_references
from retrieval.sentences import Sentence, split_sentences
from retrieval.terms import term_set, tokenize
from retrieval.types import Hit
from retrieval.unit_text import file_title
from retrieval.verbatim import is_verbatim

logger = logging.getLogger(__name__)

SHORT_SENTENCE_WORDS = 8  # shorter than this, a snippet takes the next lines for context
MAX_CONTEXT_LINES = 6  # at most this many lines are added to a short pick
MAX_QUOTE_WORDS = 60  # longer sentences (run-on text, whole tables) are not quoted
# A sentence made only of the question's words (a title, a heading) answers nothing: it
# keeps this share of its score, and reaches its full score with two new content words.
NO_NEW_WORDS_FACTOR = 0.3
NEW_WORDS_FOR_FULL_SCORE = 2
# A question asking for a quantity is answered by a sentence stating a figure it does not
# hold; others (headers, titles, captions) keep this share of their score.
NO_FIGURE_FACTOR = 0.6


def novelty(sentence: str, question_terms: set[str]) -> float:
    """Score factor in [NO_NEW_WORDS_FACTOR, 1]: how much the sentence says beyond the
    question's own words."""
    new = len(term_set(sentence) - question_terms)
    share = min(1.0, new / NEW_WORDS_FOR_FULL_SCORE)
    return NO_NEW_WORDS_FACTOR + (1.0 - NO_NEW_WORDS_FACTOR) * share


def answer_type_factor(sentence: str, question: str, wants_figure: bool) -> float:
    """Score factor: NO_FIGURE_FACTOR for a sentence stating no new figure when the
    question asks for a quantity (`asks_quantity`), else 1."""
    if wants_figure and not states_new_figure(sentence, question):
        return NO_FIGURE_FACTOR
    return 1.0


def ends_previous_page(sentence: Sentence) -> bool:
    """Whether a sentence is the end of one begun on the page before: a unit's first
    sentence, starting in lower case and ending as a sentence does ("negative passages for
    each question." atop dpr-paper p.4). A lower-case title ("party with the mob: ...")
    has no full stop."""
    text = sentence.text
    return sentence.ordinal == 0 and text[:1].islower() and text.endswith((".", "?", "!"))


def quotable(sentence: Sentence) -> bool:
    """Whether a sentence can be quoted whole: not a run-on piece (a whole table or an
    unpunctuated page) longer than MAX_QUOTE_WORDS, nor a sentence's end whose start is on
    another page (`ends_previous_page`)."""
    return sentence.n_words <= MAX_QUOTE_WORDS and not ends_previous_page(sentence)


def needs_next_line(sentences: Sequence[Sentence]) -> bool:
    """Whether consecutive sentences need the next line to make sense: too few words
    (table cells and rows, headings) or ending in a `label:` that introduces what follows."""
    if sentences[-1].cells:
        return False  # a whole table row from the page layout stands alone
    n_words = sum(s.n_words for s in sentences)
    return n_words < SHORT_SENTENCE_WORDS or sentences[-1].text.endswith(":")


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A candidate sentence of hit `source_index` (1-based) with its combined score."""

    source_index: int
    sentence: Sentence
    score: float

    @property
    def key(self) -> tuple[int, int]:
        """Identity of the sentence: (source, position in the unit)."""
        return self.source_index, self.sentence.ordinal


@dataclass(frozen=True, slots=True)
class Snippet:
    """A picked sentence with the lines that give it context, consecutive, in text order."""

    source_index: int
    sentences: tuple[Sentence, ...]
    score: float  # of the picked sentence

    @property
    def text(self) -> str:
        """The snippet's sentences joined by spaces."""
        return " ".join(s.text for s in self.sentences)


def _with_context(
    pick: ScoredSentence,
    source: Sequence[Sentence],
    taken: Container[tuple[int, int]] = (),
) -> Snippet:
    """The pick, followed by the next lines of its unit's sentences (`source`) while it is
    too short to stand alone (a table cell, a heading, a `label:`), or preceded by its
    previous line when nothing follows. Context is only added where the passage stays
    contiguous (nothing but whitespace between the sentences) and never takes sentences
    already quoted (`taken`)."""
    sentences = [pick.sentence]
    ordinal = pick.sentence.ordinal
    while len(sentences) <= MAX_CONTEXT_LINES and needs_next_line(sentences):
        at = ordinal + len(sentences)
        if at >= len(source) or not source[at].adjacent or (pick.source_index, at) in taken:
            break
        sentences.append(source[at])
    if (
        len(sentences) == 1
        and needs_next_line(sentences)
        and pick.sentence.adjacent
        and (pick.source_index, ordinal - 1) not in taken
    ):
        sentences.insert(0, source[ordinal - 1])
    return Snippet(pick.source_index, tuple(sentences), pick.score)


def _judged_text(snippet: Snippet, pick: Sentence) -> str:
    """The text whose novelty and answer type a pick is judged on: the pick with the short
    lines its passage brings (a label line and the value the layout put on the next line,
    "BY NET PROFIT" / "`67,845 crore", are one statement). A full sentence brought after a
    heading does not count: the heading alone still repeats the question."""
    return " ".join(
        s.text
        for s in snippet.sentences
        if s.ordinal == pick.ordinal or s.n_words < SHORT_SENTENCE_WORDS
    )


@dataclass(frozen=True, slots=True, eq=False)
class UnitSentences:
    """A unit's answer sentences (`ordinal` indexes them), and for each the text a pick of
    it is judged on (`_judged_text` of its passage with context). Computed once per unit
    text and page rows (`unit_sentences`): the same units come back query after query, and
    none of this depends on the question."""

    sentences: tuple[Sentence, ...]
    texts: tuple[str, ...]
    judged: tuple[str, ...]
    quotable: npt.NDArray[np.bool_]
    # Figures and tables: the sentences captioning one (ordinal -> its label) and the
    # quotable other sentences that refer to some (ordinal -> their labels).
    captions: dict[int, tuple[str, str]]
    mentions: dict[int, set[tuple[str, str]]]


@functools.lru_cache(maxsize=1024)
def unit_sentences(text: str, rows: tuple[tuple[str, ...], ...] = ()) -> UnitSentences:
    """`UnitSentences` of a unit's text with its page's visual rows (memoised)."""
    sentences = tuple(split_sentences(text, rows))
    judged = tuple(
        _judged_text(_with_context(ScoredSentence(1, s, 0.0), sentences), s) for s in sentences
    )
    captions: dict[int, tuple[str, str]] = {}
    mentions: dict[int, set[tuple[str, str]]] = {}
    for s in sentences:
        label = _float_of(s.text)
        if label is not None:
            captions[s.ordinal] = label
        elif s.text and quotable(s) and (refs := float_references(s.text)):
            mentions[s.ordinal] = refs
    return UnitSentences(
        sentences,
        tuple(s.text for s in sentences),
        judged,
        np.array([quotable(s) for s in sentences], dtype=bool),
        captions,
        mentions,
    )


def scored_texts(unit: Unit, texts: tuple[str, ...]) -> tuple[str, ...]:
    """What a unit's sentences are scored as (never quoted as): a clip's with its video's
    title before each, since speech never names the video a question names ("What does
    Megamind say in the clip?" found no word of itself in "You judge them based on their
    actions."); a page's as they are."""
    if unit.kind is not UnitKind.CLIP:
        return texts
    title = file_title(unit.file_name)
    return tuple(f"{title}: {text}" for text in texts) if title else texts


@dataclass(frozen=True, slots=True)
class QuestionScores:
    """A question's combined score for every sentence of the top units (`units[i]` is
    source i + 1): what picks, ranks and figure captions are chosen by."""

    units: list[UnitSentences]
    scores: list[list[float]]  # per unit, per sentence (ordinal)

    def at(self, source_index: int, ordinal: int) -> ScoredSentence:
        unit = self.units[source_index - 1]
        return ScoredSentence(
            source_index, unit.sentences[ordinal], self.scores[source_index - 1][ordinal]
        )

    def positive(self) -> list[ScoredSentence]:
        """The sentences scoring above 0, in text order."""
        return [
            self.at(index, ordinal)
            for index, scores in enumerate(self.scores, start=1)
            for ordinal, score in enumerate(scores)
            if score > 0
        ]


# What may follow a quoted sentence goes on from it: not a section number ("6.2"), an axis
# tick ("20"), a lone word ("References"), a run-in heading ("Extending a tree."), a
# footnote ("3The ideal size of ...") or a caption, which a page's layout puts after a
# sentence without continuing it. A line of values with words ("4–5 from 8:00 – 9:00 pm")
# does go on.
MIN_FOLLOWING_WORDS = 2  # words with letters in them
RUN_IN_HEADING_WORDS = 3  # "Extending a tree.": a capitalised line this short, with a period
_FOOTNOTE_START = re.compile(r"\d+[A-Z]")


def continues_as_prose(sentence: Sentence) -> bool:
    """Whether a sentence can go on from the one before it in a quote (see above)."""
    text = sentence.text
    words = text.split()
    worded = sum(any(c.isalpha() for c in word) for word in words)
    heading = len(words) <= RUN_IN_HEADING_WORDS and text[:1].isupper() and text.endswith(".")
    return (
        worded >= MIN_FOLLOWING_WORDS
        and not heading
        and not _FOOTNOTE_START.match(text)
        and not sentence_starts_with_float(text)
    )


def _with_following(
    snippet: Snippet, source: Sequence[Sentence], taken: Container[tuple[int, int]]
) -> Snippet:
    """The snippet and the sentence of its unit (`source`) right after it, when that one
    follows with only whitespace between (the passage stays contiguous), is quotable prose
    (`continues_as_prose`) and not quoted yet: an answer often goes on in the next sentence
    ("The most common types are IDC and ILC." / "IDC accounts for about 80% of breast
    cancers, ..."). A table row neither follows nor is followed: it stands alone, and the
    next row is another record."""
    last = snippet.sentences[-1]
    at = last.ordinal + 1
    if at >= len(source):
        return snippet
    following = source[at]
    if (
        last.cells
        or following.cells
        or not following.adjacent
        or not quotable(following)
        or not continues_as_prose(following)
        or (snippet.source_index, at) in taken
    ):
        return snippet
    return Snippet(snippet.source_index, (*snippet.sentences, following), snippet.score)


def _float_of(sentence: str) -> tuple[str, str] | None:
    """The (kind, number) of the figure/table a sentence is the caption of (it starts
    with `Figure 2:` / `Fig. 2.` / `Table 3`), else None."""
    refs = float_references(sentence[:16])
    if len(refs) != 1:
        return None
    (ref,) = refs
    return ref if sentence_starts_with_float(sentence) else None


def sentence_starts_with_float(sentence: str) -> bool:
    """Whether the sentence opens with a figure/table label (a caption)."""
    head = sentence.split(maxsplit=2)
    return len(head) >= 2 and bool(float_references(" ".join(head[:2])))


def _asked_row(
    question: str,
    caption: ScoredSentence,
    scored: QuestionScores,
    used: Container[tuple[int, int]],
) -> ScoredSentence | None:
    """The best-scoring table row (a layout row, `Sentence.cells`) of the caption's unit
    that holds a question word the caption does not: "math-spectral-norm … 7.12x" for
    "What speedup … on math-spectral-norm in the detailed trace recording statistics?",
    whose caption the question names. None without one."""
    asked = term_set(question) - term_set(caption.sentence.text)
    rows = [
        scored.at(caption.source_index, s.ordinal)
        for s in scored.units[caption.source_index - 1].sentences
        if s.cells and (caption.source_index, s.ordinal) not in used and asked & term_set(s.text)
    ]
    positive = [r for r in rows if r.score > 0]
    return max(positive, key=lambda r: r.score) if positive else None


def _with_figure(question: str, snippets: list[Snippet], scored: QuestionScores) -> list[Snippet]:
    """For a figure or table the question names (or whose caption is the best pick): its
    caption first, then the table row the question asks about (`_asked_row`), then the
    best sentence that refers to it, then the other picks."""
    wanted = float_references(question)
    if not wanted and snippets:
        label = _float_of(snippets[0].sentences[0].text)
        wanted = {label} if label else set()
    if not wanted:
        return snippets
    units = scored.units
    captions = [
        scored.at(index, ordinal)
        for index, unit in enumerate(units, start=1)
        for ordinal, label in unit.captions.items()
        if label in wanted
    ]
    mentions = [
        scored.at(index, ordinal)
        for index, unit in enumerate(units, start=1)
        for ordinal, refs in unit.mentions.items()
        if refs & wanted
    ]
    if not captions:
        return snippets
    best_caption = max(captions, key=lambda c: c.score)
    chosen = [_with_context(best_caption, units[best_caption.source_index - 1].sentences)]
    used = {(c.source_index, s.ordinal) for c in chosen for s in c.sentences}
    row = _asked_row(question, best_caption, scored, used)
    if row is not None:
        chosen.append(Snippet(row.source_index, (row.sentence,), row.score))
        used.add(row.key)
    mentions = [m for m in mentions if m.key not in used]
    if mentions:
        mention = max(mentions, key=lambda c: c.score)
        chosen.append(_with_context(mention, units[mention.source_index - 1].sentences, used))
    taken = {(c.source_index, s.ordinal) for c in chosen for s in c.sentences}
    rest = [
        s for s in snippets if not any((s.source_index, x.ordinal) in taken for x in s.sentences)
    ]
    return chosen + rest[: max(0, len(snippets) - len(chosen))]


@dataclass(frozen=True, slots=True, eq=False)  # eq=False: equal only to itself, as before
class ExtractiveGenerator:
    """Answers with up to `settings.extractive_sentences` snippets of the top `max_units`
    hits.

    A sentence's score is the scorer's score plus `hit_weight * hit.score` (the retriever's
    confidence in a unit breaks near-ties between units), times its `novelty`. Without any
    sentence scoring above `min_score` it says it cannot find the answer.
    """

    name = "extractive"
    reads_frames = False  # clip text only: LOCATE questions get the closest clips

    scorer: SentenceScorer
    settings: GenerationSettings
    _: KW_ONLY
    max_units: int = 3
    hit_weight: float = 0.2
    min_score: float = 0.0
    rows: PageRows = field(default_factory=NoRows)

    def with_settings(self, settings: GenerationSettings) -> ExtractiveGenerator:
        """The same generator (scorer, rows, weights) under other settings."""
        return replace(self, settings=settings)

    def _scores(self, question: str, hits: Sequence[Hit]) -> QuestionScores:
        """The question's combined score for every sentence of the top `max_units` hits."""
        top = hits[: self.max_units]
        units = [
            unit_sentences(hit.unit.text, tuple(map(tuple, self.rows.rows(hit.unit))))
            for hit in top
        ]
        raw = self.scorer.score_groups(
            question,
            [scored_texts(hit.unit, unit.texts) for hit, unit in zip(top, units, strict=True)],
        )
        asked = set(tokenize(question))
        wants_figure = self.settings.extractive_answer_type and asks_quantity(question)
        scores = []
        for hit, unit, r in zip(top, units, raw, strict=True):
            gated = np.where(
                (r > self.min_score) & unit.quotable, r + self.hit_weight * hit.score, 0.0
            )
            row = gated.tolist()
            for ordinal in np.flatnonzero(gated > 0).tolist():
                judged = unit.judged[ordinal]
                row[ordinal] *= novelty(judged, asked) * answer_type_factor(
                    judged, question, wants_figure
                )
            scores.append(row)
        return QuestionScores(units, scores)

    def select(self, question: str, hits: Sequence[Hit]) -> list[Snippet]:
        """The chosen snippets, best first (empty when nothing answers the question)."""
        scored = self._scores(question, hits)
        units = scored.units
        ranked = sorted(scored.positive(), key=lambda c: -c.score)
        if not ranked:
            return []
        best = ranked[0]
        top: ScoredSentence | None = None
        if self.settings.extractive_top_unit and best.source_index != 1:
            # The retriever's best unit is the likeliest to hold the answer: its best
            # sentence is quoted too, second, when it has one that scores at all.
            top = next((c for c in ranked if c.source_index == 1), None)
            if top is not None:
                ranked.remove(top)
                ranked.insert(1, top)
        snippets: list[Snippet] = []
        covered: set[tuple[int, int]] = set()
        texts: set[str] = set()
        for candidate in ranked:
            if len(snippets) >= self.settings.extractive_sentences:
                break
            if (
                candidate.score < self.settings.extractive_min_ratio * best.score
                and candidate is not top
            ):
                break
            if candidate.key in covered or candidate.sentence.text in texts:
                continue
            source = units[candidate.source_index - 1].sentences
            snippet = _with_context(candidate, source, covered)
            follow = self.settings.extractive_follow
            if follow == "all" or (follow == "first" and not snippets):
                snippet = _with_following(snippet, source, covered)
            snippets.append(snippet)
            covered.update((snippet.source_index, s.ordinal) for s in snippet.sentences)
            texts.update(s.text for s in snippet.sentences)
        return _with_figure(question, snippets, scored)

    def compose(self, question: str, hits: Sequence[Hit]) -> str:
        """The whole answer: the chosen passages, best first, each followed by its `[Sn]`
        marker. A passage that is not verbatim in its unit (which would be a bug) is
        dropped, never shown."""
        passages = []
        for snippet in self.select(question, hits):
            source = hits[snippet.source_index - 1].unit
            if not is_verbatim(snippet.text, source.text):
                logger.error("dropping a passage not found verbatim in %s", source.label)
                continue
            passages.append(f"{snippet.text} {source_marker(snippet.source_index)}")
        if not passages:
            logger.info("no sentence of the top %d units matches %r", self.max_units, question)
            return NO_ANSWER
        return " ".join(passages)

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """The answer word by word."""
        yield from word_chunks(self.compose(question, hits))
