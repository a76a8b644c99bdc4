"""The citation viewer: one source at the full width of the chat, a page image with the
cited passage highlighted (boxes from the API's word boxes), or a video that plays only
the cited clip."""

from __future__ import annotations

import base64
import html
import io
import math
import mimetypes

import streamlit as st
from PIL import Image

from app.api.schemas import HitOut
from ui.client import ApiError, MmragApi
from ui.state import MediaCache

DISPLAY_MAX_WIDTH = 1600  # pixels of the page image sent to the browser
BoxTuple = tuple[float, float, float, float]


def display_jpeg(png: bytes, max_width: int = DISPLAY_MAX_WIDTH) -> bytes:
    """A page image as a JPEG no wider than `max_width` (a fraction of the PNG's bytes)."""
    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
    if rgb.width > max_width:
        rgb = rgb.resize((max_width, round(rgb.height * max_width / rgb.width)))
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=85)
    return out.getvalue()


def page_html(jpeg: bytes, boxes: list[BoxTuple], label: str) -> str:
    """The page image with one highlight box per line of the cited passage, positioned in
    percent of the image so they stay on the words at any width. Pure."""
    data = base64.b64encode(jpeg).decode("ascii")
    marks = "".join(
        f'<div class="mmrag-highlight" style="left:{x0 * 100:.3f}%;top:{y0 * 100:.3f}%;'
        f'width:{(x1 - x0) * 100:.3f}%;height:{(y1 - y0) * 100:.3f}%"></div>'
        for x0, y0, x1, y1 in boxes
    )
    return (
        '<div class="mmrag-page" style="position:relative;width:100%;line-height:0">'
        f'<img class="mmrag-page-image" alt="{html.escape(label)}" '
        f'src="data:image/jpeg;base64,{data}" style="width:100%;height:auto"/>{marks}</div>'
        "<style>.mmrag-highlight{position:absolute;background:rgba(255,213,0,.35);"
        "outline:2px solid rgba(230,140,0,.9);border-radius:2px;pointer-events:none}</style>"
    )


def _page_jpeg(api: MmragApi, cache: MediaCache, unit_id: str) -> bytes:
    if unit_id not in cache.images:
        cache.images[unit_id] = display_jpeg(api.unit_image(unit_id))
    return cache.images[unit_id]


def _boxes(api: MmragApi, cache: MediaCache, unit_id: str, passages: list[str]) -> list[BoxTuple]:
    found: list[BoxTuple] = []
    for passage in passages:
        key = (unit_id, passage)
        if key not in cache.boxes:
            located = api.passage_boxes(unit_id, passage)
            cache.boxes[key] = [(b.x0, b.y0, b.x1, b.y1) for b in located.boxes]
        found.extend(cache.boxes[key])
    return found


def _video(api: MmragApi, cache: MediaCache, hit: HitOut) -> bytes:
    # Every clip of a document shares its source video: fetch it once per document.
    if hit.doc_id not in cache.videos:
        cache.videos[hit.doc_id] = api.unit_video(hit.unit_id)
    return cache.videos[hit.doc_id]


def render_source(api: MmragApi, cache: MediaCache, hit: HitOut, passages: list[str]) -> None:
    """A page with the passages highlighted, or the clip's video limited to its span."""
    try:
        if hit.kind == "page":
            boxes = _boxes(api, cache, hit.unit_id, passages) if passages else []
            st.html(page_html(_page_jpeg(api, cache, hit.unit_id), boxes, hit.label))
            if passages and not boxes:
                st.caption("The cited passage could not be located on this page image.")
        else:
            start = int(hit.start_s or 0)
            end = math.ceil(hit.end_s) if hit.end_s is not None else None
            st.video(
                _video(api, cache, hit),
                format=mimetypes.guess_type(hit.file_name)[0] or "video/mp4",
                start_time=start,
                end_time=end if end is not None and end > start else None,
            )
            st.caption(hit.text)
    except ApiError as err:
        st.warning(f"{hit.label} cannot be shown: {err.detail}")
