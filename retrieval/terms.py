"""Lexical terms: a language-agnostic word tokenizer and stable hashed term ids.

Words are runs of Unicode word characters (so German, French, Russian and Korean work),
lowercased after NFKC normalisation. Term ids are a hash of the term, so no vocabulary file
has to be kept in sync between the writer and the reader of an index.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping

_WORD = re.compile(r"\w+", re.UNICODE)
_LATIN_WORD = re.compile(r"[a-z]+")

# Common function words of the corpus languages; dropping them keeps query terms meaningful
# (Qdrant's IDF would down-weight them anyway, but they still cost posting-list work).
_STOPWORDS_BY_LANGUAGE = {
    "en": "a an and are as at be by for from has have in is it its of on or that the this to "
    "was were what which who whom whose where when why how with does did do into than then "
    "there these those their them they our your you we he she his her not no can will would "
    "should",
    "de": "der die das und ist im in den dem des ein eine einer zu mit von auf für nicht sich",
    "fr": "le la les et est des du un une au aux en dans pour par sur pas que qui ce",
    "es": "el los las y es del por con para una su al lo",
    "ru": "и в во не на что с со как а то по из за для от",
}
STOPWORDS: frozenset[str] = frozenset(
    word for words in _STOPWORDS_BY_LANGUAGE.values() for word in words.split()
)


def normalize(text: str) -> str:
    """NFKC + casefold: full-width forms, ligatures and case collapse to one spelling."""
    return unicodedata.normalize("NFKC", text).casefold()


def light_stem(token: str) -> str:
    """Strip English plural endings from latin-script words (`policies` -> `policy`).

    Deliberately light: aggressive stemmers hurt on names, codes and other languages.
    """
    if len(token) <= 3 or not _LATIN_WORD.fullmatch(token):
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "xes", "ches", "shes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str, *, stem: bool = True, drop_stopwords: bool = True) -> list[str]:
    """Text -> lowercase word tokens (in order, repeats kept)."""
    return list(_tokens(text, stem, drop_stopwords))


# Every query tokenises the same candidate units again (BM25 evidence, citations): memoised
# per text, a query's Python work (which holds the GIL) shrinks and concurrent queries scale.
@functools.lru_cache(maxsize=4096)
def _tokens(text: str, stem: bool, drop_stopwords: bool) -> tuple[str, ...]:
    tokens = _WORD.findall(normalize(text))
    if drop_stopwords:
        tokens = [t for t in tokens if t not in STOPWORDS]
    if stem:
        tokens = [light_stem(t) for t in tokens]
    return tuple(tokens)


@functools.lru_cache(maxsize=4096)
def term_counts(text: str, stem: bool = True) -> tuple[Mapping[str, int], int]:
    """`tokenize(text, stem=stem)` as term counts and its number of tokens, memoised (do
    not change the counts): the lite reranker's BM25 counts the same candidates' terms
    query after query, and that counting was ~7% of the API's GIL samples under load."""
    tokens = _tokens(text, stem, True)
    return Counter(tokens), len(tokens)


@functools.lru_cache(maxsize=50_000)
def term_set(text: str) -> frozenset[str]:
    """The distinct tokens of `tokenize(text)`, memoised: a query scores the ~360 sentences
    of its top units and judges their passages, mostly the same texts as the last query."""
    return frozenset(_tokens(text, True, True))


def plain_words(text: str) -> list[str]:
    """`\\w+` runs of the lowercased text, with no normalisation, stopwords or stemming: what
    a plain text RAG indexes (the eval's text-layer baseline)."""
    return _WORD.findall(text.lower())


def term_id(term: str) -> int:
    """Stable id of a term in [0, 2^31): the first 4 bytes of its blake2b digest."""
    digest = hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF
