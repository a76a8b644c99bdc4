"""What kind of answer a question expects, and whether a sentence can hold it.

Extractive answers quote sentences that share the question's words, and the sentences that
share most of them are often the page's running header or a table's title ("Consolidated
Statement of Comprehensive Income ... Years ended March 31, 2020 and 2021" for "What was
the total comprehensive income in fiscal 2021?"). A question that asks for a quantity is
answered by a sentence that states one: a figure the question does not already hold
("415,954", "34.5%", "79,168"), not a date or a page number.
"""

from __future__ import annotations

import functools
import re

# "How many / how much ...", or a question about an amount, a share or a measure
# ("What revenue ...", "What share of ...", "What was the total ...").
_ASKS_QUANTITY = re.compile(
    r"\bhow\s+(?:many|much|long|far|big|large|high|old)\b"
    r"|\b(?:what|which)\b[^?]*?\b(?:amount|total|number|count|revenue|revenues|income|profit|"
    r"profits|loss|sales|cost|costs|price|prices|fee|fees|rate|rates|share|percentage|percent|"
    r"proportion|accuracy|score|value|budget|salary|population|size|weight|height|length|"
    r"speed|capacity|sum)\b",
    re.IGNORECASE,
)
# A number as a figure is written: grouped thousands, a decimal, a percentage or a
# currency sign, or three or more digits. Years (1900-2099) and small integers (list
# markers, page numbers, days of a date) are not figures.
_NUMBER = re.compile(r"[$€£¥₹]?\d[\d,.]*%?")
_YEAR = re.compile(r"(?:19|20)\d\d")
_NON_DIGIT = re.compile(r"\D")


def asks_quantity(question: str) -> bool:
    """Whether the question asks for an amount, a count, a share or a measure."""
    return _ASKS_QUANTITY.search(question) is not None


# Memoised: a query judges ~40 candidate passages, mostly the same ones as the last query.
@functools.lru_cache(maxsize=16_384)
def _figures(text: str) -> frozenset[str]:
    """The figures a text states, as written, without trailing punctuation."""
    out = set()
    for match in _NUMBER.finditer(text):
        token = match.group().rstrip(",.")
        digits = _NON_DIGIT.sub("", token)
        if not digits or _YEAR.fullmatch(token):
            continue
        marked = token[0] in "$€£¥₹" or token.endswith("%") or any(c in token for c in ",.")
        if marked or len(digits) >= 3:
            out.add(token)
    return frozenset(out)


def states_new_figure(sentence: str, question: str) -> bool:
    """Whether the sentence states a figure (`_figures`) that the question does not."""
    return bool(_figures(sentence) - _figures(question))
