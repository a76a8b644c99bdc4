"""Follow-up questions in a conversation, read in the light of the question they follow.

"At which MetroRock location is the challenge course package valid?" then "And what is
the phone number to reserve it?": alone, the second names nothing to search for, and was
refused. A follow-up (it opens with "and", "what about", ... or refers back with "it",
"they", "this", ...) is asked as the user would have typed it standalone: the last
question that was not a follow-up, then the follow-up. Retrieval, the refusal test and
the generator all read that text; the conversation saves what the user typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[^\W\d_]+")
# Words that open a question continuing the previous one.
_OPENERS = frozenset({"and", "also", "but", "so", "then"})
_OPENING_PAIRS = frozenset({("what", "about"), ("how", "about")})
# Words that refer back to something named before.
# fmt: off
_REFERRING = frozenset({
    "it", "its", "itself", "they", "them", "their", "theirs", "these", "those", "this",
    "he", "him", "his", "she", "her", "hers", "there",
})
# fmt: on


def is_followup(question: str) -> bool:
    """Whether the question continues the one before it: it opens with a continuing word
    ("And ...", "What about ...") or refers back ("it", "they", "this", "there", ...)."""
    words = _WORD.findall(question.casefold())
    if not words:
        return False
    if words[0] in _OPENERS or tuple(words[:2]) in _OPENING_PAIRS:
        return True
    return any(word in _REFERRING for word in words)


def standalone_question(previous: Sequence[str], question: str) -> str:
    """What to ask for `question` after the conversation's earlier questions `previous`
    (oldest first): the question itself, or for a follow-up, the last earlier question
    that was not one (else the first: "What does this paper propose?" opens a topic too),
    then the follow-up."""
    asked = [q.strip() for q in previous if q.strip()]
    if not asked or not is_followup(question):
        return question
    topic = next((q for q in reversed(asked) if not is_followup(q)), asked[0])
    return f"{topic} {question.strip()}"
