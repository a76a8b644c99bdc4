"""Answers with clickable citations, as pure functions: the answer as HTML with one chip per
`[Sn]` marker, the passage each citation quotes, and the hits in the order to list them."""

from __future__ import annotations

import html
import re

from app.api.schemas import HitOut, QueryResponse

_MARKER = re.compile(r"\[S(\d+)\]")
_MARKER_GROUP = re.compile(r"(?:\[S\d+\])+")
_PARAGRAPH = re.compile(r"\n\s*\n")
_QUOTES = "\"'“”‘’«» "


def chip_html(hit: HitOut, opened: bool) -> str:
    """One citation chip: a link-styled button the answer component turns into a click."""
    css = "mmrag-chip mmrag-chip-open" if opened else "mmrag-chip"
    label = html.escape(hit.label)
    return f'<a href="#" class="{css}" data-rank="{hit.rank}" title="Open {label}">{label}</a>'


def answer_html(answer: str, hits: list[HitOut], opened: int | None = None) -> str:
    """The canonical answer (citations as `[Sn]`) as escaped HTML paragraphs, each marker
    of a known hit replaced by its chip; markers of unknown hits are left as text."""
    by_rank = {hit.rank: hit for hit in hits}
    parts: list[str] = []
    last = 0
    for marker in _MARKER.finditer(answer):
        parts.append(html.escape(answer[last : marker.start()]))
        hit = by_rank.get(int(marker.group(1)))
        parts.append(chip_html(hit, hit.rank == opened) if hit else html.escape(marker.group()))
        last = marker.end()
    parts.append(html.escape(answer[last:]))
    paragraphs = _PARAGRAPH.split("".join(parts).strip())
    return "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())


def cited_passages(answer: str) -> dict[int, list[str]]:
    """For each cited rank, the text each of its citations closes: what the answer says
    since the previous citation (a quoted passage, in an extractive answer)."""
    passages: dict[int, list[str]] = {}
    last = 0
    for group in _MARKER_GROUP.finditer(answer):
        text = answer[last : group.start()].strip().lstrip(".;,").strip().strip(_QUOTES)
        last = group.end()
        for rank in _MARKER.findall(group.group()):
            if text and text not in passages.get(int(rank), []):
                passages.setdefault(int(rank), []).append(text)
    return passages


def hits_in_order(response: QueryResponse) -> list[tuple[HitOut, bool]]:
    """Every retrieved hit with whether the answer cites it: cited ones first, in the order
    they are cited, then the others by rank."""
    by_rank = {hit.rank: hit for hit in response.hits}
    cited: list[HitOut] = []
    for citation in response.citations:
        hit = by_rank.get(citation.source_index or 0)
        if citation.valid and hit is not None and hit not in cited:
            cited.append(hit)
    rest = [hit for hit in response.hits if hit not in cited]
    return [(hit, True) for hit in cited] + [(hit, False) for hit in rest]
