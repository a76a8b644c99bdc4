"""Citations in answers: parse them, check them against the retrieved hits, render them.

The model is asked to cite `[S1]`, `[S1][S3]`; models also write `[S1, S3]`, `[Source 2]`,
`(S1)`, `[S1-S3]`, or the human forms `[file.pdf p.3]`, `[clip.mp4 00:10-00:20]`. All of
them are recognised; a bracket that is none of these (`[35]`, `[sic]`) is left alone, so
reference numbers quoted from a paper are not mistaken for citations.

`check_citations` turns raw model text into the canonical answer text that `Answer.text`
carries: every citation that resolves to a retrieved hit is rewritten as adjacent `[Sn]`
markers (n = 1-based rank of the hit, so `Answer.hits[n-1]` is the source), and citations
that point at nothing retrieved are removed from the text and kept in the citation list with
`valid=False`. `render_answer` turns the canonical text into the display form
(`[S2]` -> `[file.pdf p.3]`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from generation.types import Answer, Citation
from ingest.types import Unit, UnitKind
from retrieval.types import Hit

_MEDIA_SUFFIXES = (".pdf", ".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".mpg", ".mpeg")

# A bracketed group (brackets or parentheses) that may hold one or more citations.
_GROUP = re.compile(r"\[([^\[\]\n]{1,300})\]|\(([^()\n]{1,120})\)")
# `S1`, `S 1`, `Source 1`, `source1`, with optional ranges `S1-S3`.
_SOURCE_ITEM = re.compile(
    r"^(?:s|source)\s*(\d{1,3})(?:\s*[-–]\s*(?:s|source)?\s*(\d{1,3}))?$", re.IGNORECASE
)
_ITEM_SPLIT = re.compile(r"\s*(?:[,;&]|\band\b)\s*", re.IGNORECASE)
_TIME = r"\d{1,2}(?::\d{2}){1,2}(?:\.\d+)?"
_PAGE_LABEL = re.compile(
    r"^(?P<file>.+?)[\s,:]+(?:p\.|pp\.|p|page|pg\.?|s\.|seite)\s*(?P<page>\d{1,5})$",
    re.IGNORECASE,
)
_TIME_LABEL = re.compile(
    rf"^(?P<file>.+?)[\s,@]+(?:at\s+)?(?P<start>{_TIME})(?:\s*(?:-|–|—|to)\s*(?P<end>{_TIME}))?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A citation by source number: `[S3]` -> index 3."""

    index: int


@dataclass(frozen=True, slots=True)
class LabelRef:
    """A citation by human label: a file and optionally a page or a time range."""

    file_name: str
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None


CitationRef = SourceRef | LabelRef


@dataclass(frozen=True, slots=True)
class CitationGroup:
    """One bracketed citation in the text: where it is and what it refers to."""

    start: int
    end: int
    raw: str  # as written, brackets included
    refs: tuple[CitationRef, ...]
    items: tuple[str, ...]  # each ref as written, e.g. "S3" or "file.pdf p.3"


def parse_timestamp(text: str) -> float:
    """`mm:ss`, `h:mm:ss` or `mm:ss.s` -> seconds."""
    seconds = 0.0
    for part in text.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _looks_like_file(name: str, known_files: Sequence[str]) -> bool:
    lowered = name.casefold()
    return lowered.endswith(_MEDIA_SUFFIXES) or any(
        _file_matches(name, known) for known in known_files
    )


def _file_matches(written: str, file_name: str) -> bool:
    """Whether a file name written by the model names `file_name` (case-insensitive; a
    path, or the name without its extension, also match)."""
    written = written.strip().strip("\"'`").casefold()
    target = file_name.casefold()
    if not written:
        return False
    base = PurePosixPath(written.replace("\\", "/")).name
    return base == target or base == PurePosixPath(target).stem


def _parse_source_items(items: Sequence[str]) -> tuple[SourceRef, ...] | None:
    refs: list[SourceRef] = []
    for item in items:
        match = _SOURCE_ITEM.match(item)
        if match is None:
            return None
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first or last - first > 20:  # not a plausible range: treat as two refs
            refs.extend((SourceRef(first), SourceRef(last)))
        else:
            refs.extend(SourceRef(i) for i in range(first, last + 1))
    return tuple(refs)


def _parse_label(item: str, known_files: Sequence[str]) -> LabelRef | None:
    if match := _PAGE_LABEL.match(item):
        if _looks_like_file(match["file"], known_files):
            return LabelRef(match["file"].strip(), page=int(match["page"]))
        return None
    if match := _TIME_LABEL.match(item):
        if _looks_like_file(match["file"], known_files):
            start = parse_timestamp(match["start"])
            end = parse_timestamp(match["end"]) if match["end"] else start
            return LabelRef(match["file"].strip(), start_s=start, end_s=max(start, end))
        return None
    if _looks_like_file(item, known_files) and " " not in item.strip():
        return LabelRef(item.strip())
    return None


def _parse_labels(
    inner: str, known_files: Sequence[str]
) -> tuple[tuple[str, ...], tuple[LabelRef, ...]] | None:
    """Labels separated by ';' (or by ',' when every comma-part is a located label; a comma
    also sits between file and page: `file.pdf, p.3`)."""
    items: list[str] = []
    refs: list[LabelRef] = []
    for item in (i.strip() for i in inner.split(";")):
        if not item:
            continue
        parts = [p.strip() for p in item.split(",") if p.strip()]
        located = [_parse_label(p, known_files) for p in parts] if len(parts) > 1 else []
        if located and all(
            r is not None and (r.page is not None or r.start_s is not None) for r in located
        ):
            items.extend(parts)
            refs.extend(r for r in located if r is not None)
            continue
        ref = _parse_label(item, known_files)
        if ref is None:
            return None
        items.append(item)
        refs.append(ref)
    return (tuple(items), tuple(refs)) if refs else None


def parse_citations(text: str, known_files: Sequence[str] = ()) -> list[CitationGroup]:
    """Every citation group in `text`, in order. `known_files` (the retrieved file names)
    lets label citations without a media extension be recognised."""
    groups: list[CitationGroup] = []
    for match in _GROUP.finditer(text):
        in_brackets = match.group(1) is not None
        inner = (match.group(1) if in_brackets else match.group(2)).strip()
        items = tuple(i for i in _ITEM_SPLIT.split(inner) if i)
        if not items:
            continue
        source_refs = _parse_source_items(items)
        if source_refs is not None:
            groups.append(
                CitationGroup(match.start(), match.end(), match.group(0), source_refs, items)
            )
            continue
        if not in_brackets:
            continue  # labels are only recognised in square brackets
        parsed = _parse_labels(inner, known_files)
        if parsed is not None:
            label_items, refs = parsed
            groups.append(
                CitationGroup(match.start(), match.end(), match.group(0), refs, label_items)
            )
    return groups


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def resolve_ref(ref: CitationRef, hits: Sequence[Hit]) -> int | None:
    """The 1-based index of the hit a citation points at, or None if it points at nothing
    retrieved."""
    if isinstance(ref, SourceRef):
        return ref.index if 1 <= ref.index <= len(hits) else None
    candidates = [
        (i, h.unit)
        for i, h in enumerate(hits, start=1)
        if _file_matches(ref.file_name, h.unit.file_name)
    ]
    if ref.page is not None:
        return next(
            (i for i, u in candidates if u.kind is UnitKind.PAGE and u.page == ref.page), None
        )
    if ref.start_s is not None:
        start, end = ref.start_s, ref.end_s if ref.end_s is not None else ref.start_s
        best: tuple[float, int] | None = None
        for i, unit in candidates:
            if unit.kind is not UnitKind.CLIP:
                continue
            # Labels print whole seconds: allow a second of slack on each side.
            overlap = _overlap(start - 1, end + 1, unit.start_s or 0.0, unit.end_s or 0.0)
            if overlap > 0 and (best is None or overlap > best[0]):
                best = (overlap, i)
        return best[1] if best else None
    return candidates[0][0] if candidates else None


def _citation_for(index: int, unit: Unit) -> Citation:
    return Citation(
        marker=f"[S{index}]",
        source_index=index,
        unit_id=unit.id,
        file_name=unit.file_name,
        page=unit.page,
        start_s=unit.start_s,
        end_s=unit.end_s,
        valid=True,
    )


def _invalid_citation(ref: CitationRef, item: str) -> Citation:
    if isinstance(ref, SourceRef):
        return Citation(
            marker=f"[S{ref.index}]", source_index=None, unit_id=None, file_name=None, valid=False
        )
    return Citation(
        marker=f"[{item}]",
        source_index=None,
        unit_id=None,
        file_name=ref.file_name,
        page=ref.page,
        start_s=ref.start_s,
        end_s=ref.end_s,
        valid=False,
    )


@dataclass(frozen=True, slots=True)
class CheckedText:
    """Model text with citations checked: canonical text plus every citation found."""

    text: str
    citations: list[Citation]

    @property
    def valid(self) -> list[Citation]:
        """The citations that point at a retrieved hit."""
        return [c for c in self.citations if c.valid]


def _item_for(group: CitationGroup, ref_pos: int) -> str:
    # Source ranges expand one item into several refs; fall back to the last item.
    return group.items[min(ref_pos, len(group.items) - 1)]


def check_citations(text: str, hits: Sequence[Hit]) -> CheckedText:
    """Canonicalise and check the citations of raw model `text` against `hits`.

    Returns the text with each citation rewritten as `[Sn]` markers of retrieved hits
    (duplicates within a group dropped, unresolvable ones removed) and one `Citation` per
    distinct source cited, in order of first appearance, followed by the distinct invalid
    ones (`valid=False`).
    """
    known = [h.unit.file_name for h in hits]
    pieces: list[str] = []
    cursor = 0
    valid: dict[int, Citation] = {}
    invalid: dict[str, Citation] = {}
    run: list[int] = []  # sources already cited in this run of adjacent groups
    for group in parse_citations(text, known):
        before = text[cursor : group.start]
        if before.strip():
            run = []
        indices: list[int] = []
        for pos, ref in enumerate(group.refs):
            index = resolve_ref(ref, hits)
            if index is None:
                bad = _invalid_citation(ref, _item_for(group, pos))
                invalid.setdefault(bad.marker, bad)
                continue
            if index not in run:
                run.append(index)
                indices.append(index)
            valid.setdefault(index, _citation_for(index, hits[index - 1].unit))
        if not indices:
            before = before.rstrip(" ")  # "found it [S9]." -> "found it."
        pieces.append(before)
        pieces.append("".join(f"[S{i}]" for i in indices))
        cursor = group.end
    pieces.append(text[cursor:])
    return CheckedText(text="".join(pieces), citations=[*valid.values(), *invalid.values()])


_MARKER_RUN = re.compile(r"(?:\[S\d+\])+")
_MARKER = re.compile(r"\[S(\d+)\]")


def render_citations(text: str, hits: Sequence[Hit]) -> str:
    """Canonical `[Sn]` markers -> readable labels: `[S2]` -> `[file.pdf p.3]`,
    `[S1][S2]` -> `[a.pdf p.1; clip.mp4 00:10-00:20]`. Markers of no hit are left as is."""

    def render_run(run: re.Match[str]) -> str:
        labels: list[str] = []
        for marker in _MARKER.finditer(run.group(0)):
            index = int(marker.group(1))
            if not 1 <= index <= len(hits):
                return run.group(0)
            labels.append(hits[index - 1].unit.label)
        return "[" + "; ".join(dict.fromkeys(labels)) + "]"

    return _MARKER_RUN.sub(render_run, text)


def render_answer(answer: Answer) -> str:
    """The answer text for display, with citations as readable labels."""
    return render_citations(answer.text, answer.hits)


def cited_hits(answer: Answer) -> list[Hit]:
    """The hits the answer's valid citations point at, in citation order."""
    return [
        answer.hits[c.source_index - 1]
        for c in answer.citations
        if c.valid and c.source_index is not None and c.source_index <= len(answer.hits)
    ]
