"""Content-addressed blob store and the SQLite registry of documents, units and jobs.

Crash safety: a document's unit rows are written in the same transaction that marks it
`ready`, so a reader never sees a half-ingested document. Blobs are written atomically
(temp file + rename) under their content hash, so rewriting one is harmless; blobs that no
row references are orphans, removed by `gc`.

A page image is unreferenced from the moment it is written until its document is ready, so
gc must never run while an ingest does: every ingest (CLI or API worker, any process)
holds the store's lock shared, and gc takes it exclusively (`StoreLock`).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import NotFound, StoreBusy
from ingest.records import from_record, to_record
from ingest.types import (
    DocKind,
    DocStatus,
    Document,
    Job,
    JobStatus,
    Unit,
    UnitKind,
)

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class StoreLock:
    """An advisory lock (flock) on a file, shared between processes.

    Ingests take it shared (any number at once); gc takes it exclusive, so it never sees a
    blob written by an ingest that has not registered it yet. flock locks belong to an open
    file, so two holders in one process exclude each other just like two processes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock shared (blocks while a gc runs; gc is short)."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # closing the file releases the lock

    @contextmanager
    def exclusive(self, wait_s: float = 0.0) -> Iterator[None]:
        """Hold the lock alone; StoreBusy when others still hold it after `wait_s` seconds."""
        fd = self._open()
        try:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as err:
                    if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreBusy(
                            f"{self.path.parent}: an ingest is running (the API server or "
                            "`mmrag ingest`); try again when it has finished"
                        ) from None
                    time.sleep(0.05)
            yield
        finally:
            os.close(fd)

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)


def blob_key(path: Path, root: Path) -> str:
    """The key of a blob file: its path relative to `root`. A path under another root (a
    data dir that moved, a worker that mounts the store elsewhere) keeps its content
    address, the last two parts `ab/cdef...`."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return f"{path.parent.name}/{path.name}"


@functools.lru_cache(maxsize=65_536)
def blob_path(key: str, root: Path) -> Path:
    """The file of a stored blob key under `root`. Older versions stored absolute paths in
    index payloads: one is read through its content address under `root`, so it still
    resolves after the data dir moved. Cached: every search hit resolves its images, and
    building Paths was a tenth of a query's Python."""
    stored = Path(key)
    return root / (blob_key(stored, root) if stored.is_absolute() else key)


class BlobStore:
    """Files named by the sha256 of their bytes: `<root>/ab/cdef...<suffix>`.

    `lock` guards the store against gc while blobs are being written (see StoreLock)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.lock = StoreLock(root / ".lock")

    def path(self, key: str) -> Path:
        """Absolute path of a blob key."""
        return blob_path(key, self.root)

    def key(self, path: Path) -> str:
        """The key of a blob file (see `blob_key`)."""
        return blob_key(path, self.root)

    def _key(self, digest: str, suffix: str) -> str:
        return f"{digest[:2]}/{digest[2:]}{suffix}"

    def put_bytes(self, data: bytes, suffix: str) -> str:
        """Store bytes, return their key. Idempotent."""
        key = self._key(hashlib.sha256(data).hexdigest(), suffix)
        target = self.path(key)
        if not target.exists():
            self._atomic_write(target, lambda fh: fh.write(data))
        return key

    def put_file(self, source: Path, suffix: str, digest: str | None = None) -> str:
        """Copy a file into the store (streamed), return its key. Idempotent."""
        key = self._key(digest or sha256_file(source), suffix)
        target = self.path(key)
        if not target.exists():
            with source.open("rb") as src:
                self._atomic_write(target, lambda fh: shutil.copyfileobj(src, fh, _CHUNK))
        return key

    def _atomic_write(self, target: Path, write: object) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)  # type: ignore[operator]
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        """Every stored key (temp files excluded)."""
        for path in self.root.glob("??/*"):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield f"{path.parent.name}/{path.name}"

    def temp_files(self) -> Iterator[Path]:
        """Leftovers of writes interrupted by a crash."""
        yield from self.root.glob("??/.tmp-*")

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("??/*") if p.is_file())


@contextmanager
def sqlite_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection to the registry database (WAL, foreign keys on, rows by name), closed
    on exit. Autocommit: use `sqlite_transaction` to group writes."""
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        yield conn
    finally:
        conn.close()


@contextmanager
def sqlite_transaction(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection inside `BEGIN IMMEDIATE` ... `COMMIT` (rolled back on any error)."""
    with sqlite_connection(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    file_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    source_blob TEXT NOT NULL,
    n_pages INTEGER NOT NULL DEFAULT 0,
    n_clips INTEGER NOT NULL DEFAULT 0,
    duration_s REAL,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    kind TEXT NOT NULL,
    page INTEGER,
    start_s REAL,
    end_s REAL,
    text TEXT NOT NULL,
    text_source TEXT NOT NULL,
    images TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS units_doc ON units(doc_id, ordinal);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    doc_id TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    phase TEXT NOT NULL DEFAULT 'queued',
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0
);
"""
_UNIT_COLUMNS = (
    "id", "doc_id", "ordinal", "kind", "page", "start_s", "end_s", "text", "text_source", "images"
)  # fmt: skip
# Columns added after the first release: (table, column, definition) for older registries.
_ADDED_COLUMNS = (
    ("jobs", "phase", "TEXT NOT NULL DEFAULT 'queued'"),
    ("jobs", "done", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "total", "INTEGER NOT NULL DEFAULT 0"),
)


# A document id is the hex sha256 of its bytes; a prefix of one is 1 to 64 hex digits.
DOC_ID_PREFIX = re.compile(r"[0-9a-f]{1,64}")
# Deleting takes at least this many hex digits of a document id: a slip of one key
# ("mmrag rm 8") must not name, and delete, some other document.
MIN_DELETE_PREFIX = 6


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Registry:
    """SQLite registry (one file, WAL mode, safe for several processes).

    Unit rows hold blob *keys*; `Unit.images` are resolved to absolute paths with the
    BlobStore given at construction.
    """

    def __init__(self, path: Path, blobs: BlobStore) -> None:
        self.path = path
        self.blobs = blobs
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(_SCHEMA)
            for table, column, definition in _ADDED_COLUMNS:
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_connection(self.path)

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_transaction(self.path)

    # -- documents -------------------------------------------------------------------------

    def _document(self, row: sqlite3.Row) -> Document:
        return from_record(Document, row)

    def get_document(self, doc_id: str) -> Document | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return self._document(row) if row else None

    def resolve_document(self, id_or_prefix: str, min_prefix: int = 1) -> Document:
        """A document by full id or unique id prefix of at least `min_prefix` hex digits
        (compared literally: no wildcards); NotFound otherwise."""
        prefix = id_or_prefix.strip().lower()
        if not prefix:
            raise NotFound("empty document id")
        if not DOC_ID_PREFIX.fullmatch(prefix):
            raise NotFound(
                f"{_shorten(id_or_prefix)!r} is not a document id: ids are 1 to 64 hex digits"
            )
        if len(prefix) < min_prefix:
            raise NotFound(
                f"{id_or_prefix!r} is too short to name a document here: give at least "
                f"{min_prefix} characters of its id (`mmrag ls` shows 12)"
            )
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM documents WHERE substr(id, 1, ?) = ? LIMIT 2",
                (len(prefix), prefix),
            ).fetchall()
        if not rows:
            raise NotFound(f"no document with id {id_or_prefix!r}")
        if len(rows) > 1:
            raise NotFound(f"id prefix {id_or_prefix!r} is ambiguous; give more characters")
        return self._document(rows[0])

    def list_documents(self, status: DocStatus | None = None) -> list[Document]:
        query = "SELECT * FROM documents"
        args: tuple[str, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status.value,)
        with self._connect() as conn:
            rows = conn.execute(query + " ORDER BY created_at, file_name", args).fetchall()
        return [self._document(r) for r in rows]

    def begin_document(
        self, doc_id: str, file_name: str, kind: DocKind, size_bytes: int, source_blob: str
    ) -> Document:
        """Register (or reset) a document as `pending` with no units."""
        now = time.time()
        with self._transaction() as conn:
            conn.execute("DELETE FROM units WHERE doc_id = ?", (doc_id,))
            conn.execute(
                """INSERT INTO documents (id, file_name, kind, status, size_bytes, source_blob,
                       created_at, updated_at)
                   VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)
                   ON CONFLICT(id) DO UPDATE SET status='pending', error=NULL, n_pages=0,
                       n_clips=0, file_name=excluded.file_name, updated_at=excluded.updated_at""",
                (doc_id, file_name, kind.value, size_bytes, source_blob, now, now),
            )
        doc = self.get_document(doc_id)
        assert doc is not None
        return doc

    def complete_document(
        self, doc_id: str, units: Sequence[Unit], duration_s: float | None = None
    ) -> Document:
        """Write all units and mark the document `ready`, in one transaction."""
        n_pages = sum(1 for u in units if u.kind is UnitKind.PAGE)
        n_clips = len(units) - n_pages
        with self._transaction() as conn:
            conn.execute("DELETE FROM units WHERE doc_id = ?", (doc_id,))
            conn.executemany(
                f"INSERT INTO units ({', '.join(_UNIT_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_UNIT_COLUMNS))})",
                [self._unit_row(u) for u in units],
            )
            conn.execute(
                """UPDATE documents SET status='ready', error=NULL, n_pages=?, n_clips=?,
                       duration_s=?, updated_at=? WHERE id = ?""",
                (n_pages, n_clips, duration_s, time.time(), doc_id),
            )
        doc = self.get_document(doc_id)
        assert doc is not None
        return doc

    def fail_document(self, doc_id: str, error: str) -> None:
        """Mark a document `failed` (its units, if any, are removed)."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM units WHERE doc_id = ?", (doc_id,))
            conn.execute(
                "UPDATE documents SET status='failed', error=?, n_pages=0, n_clips=0, "
                "updated_at=? WHERE id = ?",
                (error, time.time(), doc_id),
            )

    def delete_document(self, doc_id: str) -> set[str]:
        """Remove a document and its units. Returns the blob keys that no row references
        any more (the caller deletes those files)."""
        with self._transaction() as conn:
            keys: set[str] = set()
            row = conn.execute(
                "SELECT source_blob FROM documents WHERE id = ?", (doc_id,)
            ).fetchone()
            if row:
                keys.add(row[0])
            for (images,) in conn.execute("SELECT images FROM units WHERE doc_id = ?", (doc_id,)):
                keys.update(json.loads(images))
            conn.execute("DELETE FROM units WHERE doc_id = ?", (doc_id,))
            conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            still_used = self._referenced_blobs(conn)
        return keys - still_used

    # -- units -----------------------------------------------------------------------------

    def _unit_row(self, unit: Unit) -> tuple[object, ...]:
        keys = json.dumps([self.blobs.key(p) for p in unit.images])
        record = to_record(unit, images=keys)
        return tuple(record[column] for column in _UNIT_COLUMNS)

    def _unit(self, row: sqlite3.Row, file_name: str) -> Unit:
        images = tuple(self.blobs.path(k) for k in json.loads(row["images"]))
        return from_record(Unit, row, file_name=file_name, images=images)

    def units(self, doc_id: str) -> list[Unit]:
        """Units of a document in order (empty unless it is ready)."""
        with self._connect() as conn:
            rows = conn.execute(
                """SELECT u.*, d.file_name FROM units u JOIN documents d ON d.id = u.doc_id
                   WHERE u.doc_id = ? ORDER BY u.ordinal""",
                (doc_id,),
            ).fetchall()
        return [self._unit(r, r["file_name"]) for r in rows]

    def get_unit(self, unit_id: str) -> Unit | None:
        with self._connect() as conn:
            row = conn.execute(
                """SELECT u.*, d.file_name FROM units u JOIN documents d ON d.id = u.doc_id
                   WHERE u.id = ?""",
                (unit_id,),
            ).fetchone()
        return self._unit(row, row["file_name"]) if row else None

    def referenced_blobs(self) -> set[str]:
        """Every blob key a document or unit row points at."""
        with self._connect() as conn:
            return self._referenced_blobs(conn)

    @staticmethod
    def _referenced_blobs(conn: sqlite3.Connection) -> set[str]:
        keys: set[str] = set()
        for (source,) in conn.execute("SELECT source_blob FROM documents"):
            keys.add(source)
        for (images,) in conn.execute("SELECT images FROM units"):
            keys.update(json.loads(images))
        return keys

    # -- jobs ------------------------------------------------------------------------------

    def _job(self, row: sqlite3.Row) -> Job:
        return from_record(Job, row)

    def create_job(self, source: str) -> Job:
        now = time.time()
        job_id = uuid.uuid4().hex
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, source, status, created_at, updated_at) "
                "VALUES (?, ?, 'queued', ?, ?)",
                (job_id, source, now, now),
            )
        job = self.get_job(job_id)
        assert job is not None
        return job

    def update_job(
        self,
        job_id: str,
        *,
        status: JobStatus | None = None,
        progress: float | None = None,
        message: str | None = None,
        doc_id: str | None = None,
        error: str | None = None,
        phase: str | None = None,
        done: int | None = None,
        total: int | None = None,
    ) -> None:
        sets: list[str] = ["updated_at = ?"]
        args: list[object] = [time.time()]
        for column, value in (
            ("status", status.value if status else None),
            ("progress", progress),
            ("message", message),
            ("doc_id", doc_id),
            ("error", error),
            ("phase", phase),
            ("done", done),
            ("total", total),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        with self._transaction() as conn:
            conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", (*args, job_id))

    def get_job(self, job_id: str) -> Job | None:
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return self._job(row) if row else None

    def list_jobs(self, statuses: Iterable[JobStatus] | None = None) -> list[Job]:
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM jobs ORDER BY created_at").fetchall()
        jobs = [self._job(r) for r in rows]
        if statuses is not None:
            wanted = set(statuses)
            jobs = [j for j in jobs if j.status in wanted]
        return jobs


@dataclass(frozen=True, slots=True)
class GcReport:
    removed_blobs: int
    removed_bytes: int
    removed_temp: int


DEFAULT_GC_GRACE_S = 3600.0


def collect_garbage(
    registry: Registry,
    blobs: BlobStore,
    grace_s: float | None = DEFAULT_GC_GRACE_S,
    wait_s: float = 0.0,
) -> GcReport:
    """Delete blobs no registry row references, and temp files of interrupted writes.

    Runs holding the store's lock exclusively, so never while an ingest (of any process on
    this data dir) is writing blobs it has not registered yet; raises StoreBusy when the
    lock is still held after `wait_s` seconds. `grace_s` also spares files younger than
    that many seconds (a second line of defence for writers that cannot take the lock,
    e.g. another host on a shared file system). None = no grace.
    """
    with blobs.lock.exclusive(wait_s):
        return _collect(registry, blobs, grace_s)


def _collect(registry: Registry, blobs: BlobStore, grace_s: float | None) -> GcReport:
    keep = registry.referenced_blobs()
    now = time.time()
    removed = removed_bytes = 0
    for key in list(blobs.keys()):
        if key in keep:
            continue
        try:
            stat = blobs.path(key).stat()
        except FileNotFoundError:
            continue
        if grace_s is not None and now - stat.st_mtime < grace_s:
            continue
        blobs.delete(key)
        removed += 1
        removed_bytes += stat.st_size
    temp = 0
    for tmp in list(blobs.temp_files()):
        try:
            age = now - tmp.stat().st_mtime
        except FileNotFoundError:
            continue
        if grace_s is None or age >= grace_s:
            tmp.unlink(missing_ok=True)
            temp += 1
    return GcReport(removed, removed_bytes, temp)
