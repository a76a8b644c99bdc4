"""The sidebar's library: pick files (sent at once, never twice), follow their ingestion
in a fragment that re-runs on its own, list documents (delete asks first), pick a filter.

Nothing here waits for an ingestion to end: the chat stays usable, and each file becomes
searchable as soon as its job is done.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from app.api.chat_schemas import UploadLimits
from app.api.schemas import DocumentOut
from ui.client import ApiError, MmragApi
from ui.state import (
    PendingDelete,
    TrackedUpload,
    UiState,
    current_conversation,
    open_conversation,
)

POLL_INTERVAL_S = 1.0
DEFAULT_EXTENSIONS = [".pdf", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"]


def human_size(n_bytes: int) -> str:
    """1073741824 -> "1 GiB", 5000000 -> "4.8 MiB". Pure."""
    size = float(n_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            text = f"{size:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def formats_text(extensions: list[str]) -> str:
    """[".pdf", ".mp4", ".mov"] -> "PDF, MP4 or MOV". Pure."""
    names = [e.lstrip(".").upper() for e in extensions]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def plain_upload_error(file_name: str, err: ApiError, limits: UploadLimits | None) -> str:
    """One sentence for a refused upload, naming the file once. Pure."""
    detail = err.detail.removeprefix(f"{file_name}: ").strip()
    if err.status == 415:
        kinds = formats_text(limits.extensions if limits else DEFAULT_EXTENSIONS)
        return f"{file_name} is not a PDF or a video mmrag can read ({kinds})."
    if err.status == 413 and limits is not None:
        return f"{file_name} is larger than the server's limit of {human_size(limits.max_upload_bytes)}."
    if err.status == 0:
        return f"{file_name} was not sent: the API cannot be reached."
    return f"{file_name} was refused: {detail[:1].lower() + detail[1:]}"


def precheck(file_name: str, size: int, limits: UploadLimits | None) -> str | None:
    """Why a picked file need not be sent at all (wrong type, too big), or None. Pure."""
    extensions = limits.extensions if limits else DEFAULT_EXTENSIONS
    suffix = PurePath(file_name).suffix.lower()
    if suffix not in extensions:
        what = f"a {suffix} file" if suffix else "a file without an extension"
        return f"{file_name} is {what}: mmrag reads PDFs and videos ({formats_text(extensions)})."
    if limits is not None and size > limits.max_upload_bytes:
        return (
            f"{file_name} is {human_size(size)}, over the server's limit of "
            f"{human_size(limits.max_upload_bytes)}."
        )
    return None


def upload_picker(api: MmragApi, ui: UiState) -> None:
    """The file picker. Each new file is sent at once (the server queues it and answers
    with a job) and remembered, then the picker is cleared: a rerun never sends it again."""
    limits = ui.limits
    max_mb = max(1, limits.max_upload_bytes // 2**20) if limits else None
    files = st.file_uploader(
        "Add PDFs or videos",
        accept_multiple_files=True,
        key=f"uploader-{ui.uploader_round}",
        max_upload_size=max_mb,
        disabled=not ui.api_up,
        help="Each file is ingested on the server: pages are rendered, videos cut into clips.",
    )
    extensions = limits.extensions if limits else DEFAULT_EXTENSIONS
    limit_text = f", up to {human_size(limits.max_upload_bytes)} each" if limits else ""
    st.caption(f"{formats_text(extensions)}{limit_text} (the server's limit).")
    new = [f for f in files or [] if f.file_id not in ui.sent_files]
    for picked in new:
        ui.sent_files.add(picked.file_id)  # before sending: an interrupted run never resends
        tracked = TrackedUpload(picked.name)
        ui.uploads.append(tracked)
        tracked.error = precheck(picked.name, picked.size, limits)
        if tracked.error is not None:
            continue
        try:
            tracked.job = api.upload(picked.name, picked)
        except ApiError as err:
            tracked.error = plain_upload_error(picked.name, err, limits)
    if new:
        ui.uploader_round += 1
        st.rerun()


def _progress_line(upload: TrackedUpload) -> tuple[float, str]:
    job = upload.job
    assert job is not None
    if job.status == "done":
        return 1.0, f"{upload.name}: {job.message or 'ready'}"
    stage = job.message or job.status
    waiting = " (waiting for the API)" if upload.unreachable else ""
    return min(max(job.progress, 0.0), 1.0), f"{upload.name}: {stage} {job.progress:.0%}{waiting}"


def _poll(api: MmragApi, ui: UiState) -> bool:
    """Refresh every unfinished job; True when one of them has just finished."""
    finished = False
    for upload in ui.uploads:
        if upload.finished or upload.job is None:
            continue
        try:
            upload.job = api.job(upload.job.id)
            upload.unreachable = False
        except ApiError as err:
            if err.status == 0:
                upload.unreachable = True
                continue
            upload.error = f"{upload.name}: {err.detail}"
        finished = finished or upload.finished
    return finished


def _upload_progress(api: MmragApi, ui: UiState) -> None:
    if _poll(api, ui):
        st.rerun(scope="app")  # a file is ready: refresh the document list and the chat input
    for upload in ui.uploads:
        if upload.error is not None:
            st.error(upload.error, icon=":material/error:")
        elif upload.job is not None and upload.job.status == "failed":
            st.error(f"{upload.name} could not be ingested: {upload.job.error}")
        elif upload.job is not None:
            value, text = _progress_line(upload)
            st.progress(value, text=text)
    done = bool(ui.uploads) and all(u.finished for u in ui.uploads)
    if done and st.button("Clear", key="clear-uploads", type="tertiary", icon=":material/close:"):
        ui.uploads.clear()
        st.rerun(scope="app")


def upload_progress(api: MmragApi, ui: UiState) -> None:
    """One line per picked file: its job's stage and progress, or its error (once). Runs
    as a fragment that re-runs itself while a job is unfinished; the page stays usable."""
    active = any(not u.finished for u in ui.uploads)
    fragment = st.fragment(_upload_progress, run_every=POLL_INTERVAL_S if active else None)
    fragment(api, ui)


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


def confirm_delete(api: MmragApi, ui: UiState, pending: PendingDelete) -> None:
    """The question a delete asks first, with its two answers."""
    what = "document" if pending.what == "document" else "conversation"
    with st.container(border=True, key="confirm-delete"):
        st.markdown(f"Delete the {what} **{pending.name}**? This cannot be undone.")
        yes, no = st.columns(2)
        if yes.button("Delete", key="confirm-delete-yes", type="primary"):
            try:
                if pending.what == "document":
                    api.delete_document(pending.id)
                else:
                    api.delete_conversation(pending.id)
                    ui.messages.pop(pending.id, None)
                    if current_conversation() == pending.id:
                        open_conversation(None)
            except ApiError as err:
                st.error(f"{pending.name} was not deleted: {err.detail}")
                return
            ui.pending_delete = None
            st.rerun()
        if no.button("Cancel", key="confirm-delete-no"):
            ui.pending_delete = None
            st.rerun()


def document_list(api: MmragApi, ui: UiState) -> None:
    """Each document with its status, page/clip count and a delete button (which asks)."""
    docs = ui.documents
    if not docs:
        st.caption("No documents yet: add a PDF or a video above.")
        return
    for doc in docs:
        name_col, button_col = st.columns([5, 1], vertical_alignment="center")
        detail = doc.error if doc.status == "failed" else _counts(doc)
        if doc.status == "pending":
            detail = "being ingested"
        name_col.markdown(f"{_STATUS_ICON[doc.status]} **{doc.file_name}**  \n{detail}")
        if button_col.button(
            "",
            icon=":material/delete:",
            key=f"delete-{doc.id}",
            help=f"Delete {doc.file_name}",
            disabled=not ui.api_up,
        ):
            ui.pending_delete = PendingDelete("document", doc.id, doc.file_name)
            st.rerun()
        pending = ui.pending_delete
        if pending is not None and pending.what == "document" and pending.id == doc.id:
            confirm_delete(api, ui, pending)


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
