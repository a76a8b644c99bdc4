"""The sidebar: upload files with a progress bar each, list documents, pick a filter."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Protocol

import streamlit as st

from app.api_schemas import DocumentOut, JobOut
from ui.client import ApiError, MmragApi
from ui.state import uploaded_ids

ACCEPTED_TYPES = ["pdf", "mp4", "m4v", "mov", "mkv", "webm", "avi"]
POLL_INTERVAL_S = 0.4


class ProgressBar(Protocol):
    def progress(self, value: float, text: str | None = None) -> object: ...


@dataclass
class Upload:
    """One file on its way: its job once accepted, or the reason it was refused."""

    name: str
    bar: ProgressBar
    job: JobOut | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.error is not None or (self.job is not None and self.job.finished)


def _job_text(name: str, job: JobOut) -> str:
    if job.status == "failed":
        return f"{name}: failed: {job.error or 'unknown error'}"
    if job.status == "done":
        return f"{name}: {job.message or 'ready'}"
    return f"{name}: {job.message or job.status} ({job.progress:.0%})"


def track_uploads(api: MmragApi, uploads: list[Upload], files: Sequence[IO[bytes]]) -> None:
    """Send each file, then poll its job until every one has finished, moving the bars."""
    for upload, data in zip(uploads, files, strict=True):
        try:
            upload.job = api.upload(upload.name, data)
            upload.bar.progress(0.0, text=f"{upload.name}: queued")
        except ApiError as err:
            upload.error = err.detail
            upload.bar.progress(0.0, text=f"{upload.name}: refused: {err.detail}")
    while not all(u.finished for u in uploads):
        time.sleep(POLL_INTERVAL_S)
        for upload in uploads:
            if upload.finished or upload.job is None:
                continue
            try:
                upload.job = api.job(upload.job.id)
            except ApiError as err:
                upload.error = err.detail
                continue
            upload.bar.progress(
                min(max(upload.job.progress, 0.0), 1.0), text=_job_text(upload.name, upload.job)
            )


def upload_section(api: MmragApi) -> None:
    """File picker; new files are uploaded at once and followed to the end of ingestion."""
    files = st.file_uploader(
        "Add PDFs or videos",
        type=ACCEPTED_TYPES,
        accept_multiple_files=True,
        key="uploader",
        help="Each file is ingested on the server: pages are rendered, videos cut into clips.",
    )
    sent = uploaded_ids()
    new = [f for f in files or [] if f.file_id not in sent]
    if not new:
        return
    uploads = [Upload(f.name, st.progress(0.0, text=f"{f.name}: uploading")) for f in new]
    track_uploads(api, uploads, new)
    sent.update(f.file_id for f in new)
    for upload in uploads:
        if upload.error:
            st.error(f"{upload.name}: {upload.error}")
        elif upload.job is not None and upload.job.status == "failed":
            st.error(f"{upload.name}: {upload.job.error}")


def _counts(doc: DocumentOut) -> str:
    if doc.kind == "pdf":
        return f"{doc.n_pages} page{'s' if doc.n_pages != 1 else ''}"
    return f"{doc.n_clips} clip{'s' if doc.n_clips != 1 else ''}"


# Material icons ship with Streamlit's front end: they render without emoji fonts.
_STATUS_ICON = {
    "ready": ":material/check_circle:",
    "pending": ":material/hourglass_top:",
    "failed": ":material/error:",
}


def document_list(api: MmragApi, docs: list[DocumentOut]) -> None:
    """Each document with its status, page/clip count and a delete button."""
    if not docs:
        st.caption("No documents yet: add a PDF or a video above.")
        return
    for doc in docs:
        name_col, button_col = st.columns([5, 1], vertical_alignment="center")
        detail = doc.error if doc.status == "failed" else _counts(doc)
        name_col.markdown(f"{_STATUS_ICON[doc.status]} **{doc.file_name}**  \n{detail}")
        if button_col.button(
            "", icon=":material/delete:", key=f"delete-{doc.id}", help=f"Delete {doc.file_name}"
        ):
            try:
                api.delete_document(doc.id)
            except ApiError as err:
                st.error(f"{doc.file_name}: {err.detail}")
            else:
                st.rerun()


def document_filter(docs: list[DocumentOut]) -> list[str]:
    """Multiselect of ready documents; returns the chosen ids (empty = search everything)."""
    ready = [d for d in docs if d.status == "ready"]
    names = {d.id: d.file_name for d in ready}
    chosen: list[str] = st.multiselect(
        "Search only in",
        options=list(names),
        format_func=lambda doc_id: names.get(doc_id, doc_id),
        placeholder="all documents",
        key="doc_filter",
    )
    return [doc_id for doc_id in chosen if doc_id in names]
