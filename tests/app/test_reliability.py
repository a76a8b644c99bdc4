"""Reliability and security of the API and CLI (issue 12), one test (or more) per finding:

1. gc during an API ingest never deletes its blobs; gc has a non-zero default grace;
2. a failing Qdrant (500, 503, hang, dropped connection) is a 503 naming it, on /query,
   /query/stream and DELETE, and nothing is deleted;
3. document id prefixes are hex, matched literally (no LIKE wildcards);
4. every byte of a body counts against its limit (chunked or not, non-file fields too);
5. a server killed mid-ingest resumes the ingest when it starts again;
6. the schema and docs need the key when one is set (unless opened by a setting);
7. authentication runs before validation;
8. one error shape: 422 names the field and never echoes input; RFC 9110 Range;
9. whitespace questions, JSON body limit, Allow, OpenAPI, `mmrag ingest` on a busy data dir.

Concurrency (finding 10) is tested in tests/retrieval/test_query_batching.py and measured by
`python -m bench.load`; the schema fuzzing is tests/app/test_api_fuzz.py.
"""

from __future__ import annotations

import json
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import qdrant_edge as qe
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from app.api.application import create_app
from app.cli import main
from app.config import InvalidSettings, Settings, settings_from_env
from app.service import Services, build_services, open_storage
from ingest.errors import NotFound
from ingest.pipeline import Ingestor
from ingest.types import DocKind, DocStatus, JobStatus
from retrieval.embedders.fake import FakeEmbedder
from retrieval.encoders import Encoders
from retrieval.index_qdrant import QdrantClientIndex
from retrieval.indexer import UnitIndexer
from retrieval.retriever import Retriever
from tests.support.api_fakes import (
    FAKE_MP4,
    FixedClips,
    GatedPdfPages,
    QuotingGenerator,
    TinyPdfPages,
    fake_services,
    make_pdf,
    serving,
)
from tests.support.api_harness import Harness, settings_for
from tests.support.paths import REPO, child_env
from tests.support.qdrant_stub import FAILURE_MODES, QdrantStub

pytestmark = pytest.mark.reliability

KEY = "k3y-for-tests"
PAGES = [f"Page {i}: whales sing long songs in the cold sea, part {i}." for i in range(1, 7)]


def _env() -> dict[str, str]:
    return child_env()


def _mmrag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """`mmrag ARGS` through the console entry point, in this process (its flock on the
    store is a lock of its own all the same): (exit code, stdout, stderr)."""
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["mmrag", *args])
    with pytest.raises(SystemExit) as exited:
        main()
        raise SystemExit(0)
    out = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out.out, out.err


@pytest.fixture
def pdf_bytes(tmp_path: Path) -> bytes:
    return make_pdf(tmp_path / "whales.pdf", PAGES).read_bytes()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Harness]:
    settings = settings_for(tmp_path, max_upload_bytes=200_000, max_json_bytes=20_000)
    services = fake_services(settings)
    with serving(create_app(settings, lambda _s: services)) as client:
        yield Harness(client, services)


# -- 1. gc ---------------------------------------------------------------------------------


def test_gc_during_an_api_ingest_deletes_nothing_and_every_page_stays(
    tmp_path: Path,
    pdf_bytes: bytes,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(tmp_path)
    gate = GatedPdfPages()
    services = fake_services(settings, pdf=gate)
    with serving(create_app(settings, lambda _s: services)) as client:
        api = Harness(client, services)
        job = api.upload("whales.pdf", pdf_bytes)
        assert gate.paused.wait(20), "the ingest did not start"
        blobs_before = sorted(services.storage.blobs.keys())
        assert len(blobs_before) == 2  # the source PDF and page 1, not yet referenced

        data_dir = str(settings.data_dir)
        code, _out, err = _mmrag(
            capsys, monkeypatch, "gc", "--grace", "0", "--wait", "0.3", "--data-dir", data_dir
        )
        assert code == 1
        assert "an ingest is running" in err and len(err.strip().splitlines()) == 1
        assert sorted(services.storage.blobs.keys()) == blobs_before

        gate.release.set()
        done = api.wait_job(str(job["id"]))
        assert done["status"] == "done" and "6 pages" in str(done["message"])
        doc_id = str(done["doc_id"])
        for page in range(1, 7):
            image = client.get(f"/units/{doc_id}:p{page:05d}/image")
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

        code, out, _err = _mmrag(capsys, monkeypatch, "gc", "--grace", "0", "--data-dir", data_dir)
        assert code == 0 and "removed 0 orphan blobs" in out
        assert client.get(f"/units/{doc_id}:p00001/image").status_code == 200


def test_gc_spares_young_orphans_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = open_storage(settings_for(tmp_path))
    key = storage.blobs.put_bytes(b"an orphan left by an interrupted ingest", ".png")
    data_dir = str(tmp_path / "data")
    code, out, _err = _mmrag(capsys, monkeypatch, "gc", "--data-dir", data_dir)
    assert code == 0 and "removed 0 orphan blobs" in out
    assert storage.blobs.path(key).is_file()
    _code, out, _err = _mmrag(capsys, monkeypatch, "gc", "--grace", "0", "--data-dir", data_dir)
    assert "removed 1 orphan blobs" in out and not storage.blobs.path(key).exists()


# -- 2. Qdrant failing ----------------------------------------------------------------------


def _stub_services(settings: Settings, url: str) -> Services:
    """The real QdrantClientIndex and Retriever over a (stub) Qdrant server; fake models."""
    storage = open_storage(settings)
    client = QdrantClient(url=url, timeout=1, check_compatibility=False)
    text = FakeEmbedder()
    index = QdrantClientIndex(client, settings.retrieval, Encoders(text=text).layout)
    indexer = UnitIndexer(index, Encoders(text=text))
    ingestor = Ingestor(
        settings.ingest,
        storage.registry,
        storage.blobs,
        pdf=TinyPdfPages(),
        video=FixedClips(),
        sink=indexer,
    )
    retriever = Retriever(index, settings.retrieval, Encoders(text=text))
    return Services(settings, storage, index, indexer, ingestor, retriever, QuotingGenerator())


def test_a_failing_qdrant_is_a_503_naming_it_and_nothing_is_deleted(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    with QdrantStub(hang_s=2.5) as stub:
        services = _stub_services(settings, stub.url)
        doc_id = "ab" * 32
        services.registry.begin_document(doc_id, "kept.pdf", DocKind.PDF, 10, "ab/kept.pdf")
        services.registry.complete_document(doc_id, [])
        with serving(create_app(settings, lambda _s: services)) as client:
            question = {"question": "whales"}
            for mode in FAILURE_MODES:
                stub.mode = mode
                plain = client.post("/query", json=question)
                stream = client.post("/query/stream", json=question)
                delete = client.delete(f"/documents/{doc_id}")
                ready = client.get("/ready")
                for response in (plain, stream, delete):
                    assert response.status_code == 503, (mode, response.text)
                    assert response.headers["content-type"] == "application/json", mode
                    assert "Qdrant" in response.json()["detail"], (mode, response.text)
                assert stream.json() == plain.json(), mode
                assert ready.status_code == 503
                qdrant = next(c for c in ready.json()["components"] if c["name"] == "qdrant")
                assert not qdrant["ok"], mode
                assert services.registry.get_document(doc_id) is not None, mode


# -- 3. id prefixes ------------------------------------------------------------------------


def _undecodable_piece(doc_id: str) -> str:
    """Five characters of `doc_id` that "%" cannot join into an escape of a hex digit. The
    TestClient decodes a path twice (httpx's URL.path, then Starlette), so "%25" + "66f0a"
    would arrive as "f0a", a valid prefix; a real server decodes once. The escape must
    decode to a letter: "%2f" would be a "/" that no route matches (404, not 422)."""
    return next(
        doc_id[i : i + 5]
        for i in range(len(doc_id) - 4)
        if (decoded := chr(int(doc_id[i : i + 2], 16))) in string.ascii_letters
        and decoded not in string.hexdigits
    )


def test_id_prefixes_are_hex_and_literal(api: Harness, pdf_bytes: bytes) -> None:
    doc_id = api.ingest("whales.pdf", pdf_bytes)
    piece = _undecodable_piece(doc_id)
    for bad in ("%25" + piece, "%25", doc_id[:3] + "_", "_" * 5, doc_id[:4] + "%25"):
        assert api.client.delete(f"/documents/{bad}").status_code == 422, bad
        assert api.client.get(f"/documents/{bad}").status_code == 422, bad
    query = {"question": "whales", "doc_ids": ["%" + doc_id[-5:]]}
    assert api.client.post("/query", json=query).status_code == 422
    for bad in ("%" + doc_id[-5:], doc_id[:3] + "_", "%"):
        with pytest.raises(NotFound, match="not a document id"):
            api.services.registry.resolve_document(bad)
    assert api.client.get(f"/documents/{doc_id[:6].upper()}").json()["id"] == doc_id
    assert api.services.registry.get_document(doc_id) is not None


# -- 4. body limits ------------------------------------------------------------------------

BOUNDARY = "b0undary"


def _form(file_data: bytes, extra_field: bytes = b"") -> bytes:
    parts = []
    if extra_field:
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode()
            + extra_field
            + b"\r\n"
        )
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n".encode()
        + file_data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _chunked(body: bytes, size: int = 16_384) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


FORM = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


def test_every_byte_of_an_upload_counts(api: Harness, pdf_bytes: bytes, tmp_path: Path) -> None:
    body = _form(pdf_bytes, extra_field=b"x" * 300_000)  # small file, 300 kB other field
    chunked = api.client.post("/documents", content=_chunked(body), headers=FORM)
    declared = api.client.post("/documents", content=body, headers=FORM)
    for response in (chunked, declared):
        assert response.status_code == 413, response.text
        assert "200000" in response.json()["detail"]
    assert api.services.registry.list_jobs() == []
    uploads = tmp_path / "data" / "uploads"
    assert not any(p.is_file() for p in uploads.rglob("*"))
    ok = api.client.post("/documents", content=_chunked(_form(pdf_bytes, b"note")), headers=FORM)
    assert ok.status_code == 202


def test_json_bodies_have_their_own_limit(api: Harness) -> None:
    big = json.dumps({"question": "x" * 30_000}).encode()
    json_type = {"content-type": "application/json"}
    for content in (big, _chunked(big, 4096)):
        response = api.client.post("/query", content=content, headers=json_type)
        assert response.status_code == 413, response.text
        assert response.json() == {"detail": "request body is larger than the limit of 20000 bytes"}


# -- 5. resume after a crash -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """tests/support/reliability_server.py in a child process."""

    def __init__(self, data_dir: Path, delay_s: float) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "tests.support.reliability_server", str(data_dir)]
        args += [str(self.port), str(delay_s)]
        self.process = subprocess.Popen(args, env=_env(), cwd=REPO)
        self.http = httpx.Client(base_url=self.url, timeout=10.0)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited"
            try:  # /health answers at once; /ready once the models have loaded
                if self.http.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.http.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)
        self.http.close()


def _wait(predicate: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_sigkill_mid_ingest_then_restart_finishes_every_upload(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = make_pdf(tmp_path / "first.pdf", [f"whales sing, page {i}" for i in range(1, 13)])
    second = make_pdf(tmp_path / "second.pdf", ["a queued upload about dolphins"])
    server = ServerProcess(data_dir, delay_s=0.25)
    try:
        running = server.http.post("/documents", files={"file": ("first.pdf", first.read_bytes())})
        queued = server.http.post("/documents", files={"file": ("second.pdf", second.read_bytes())})
        assert running.status_code == queued.status_code == 202
        job_id, queued_id = running.json()["id"], queued.json()["id"]
        _wait(lambda: server.http.get(f"/jobs/{job_id}").json()["progress"] >= 0.25)
        server.kill()  # mid-ingest: page images partly written, the second job still queued
    finally:
        server.stop()
    registry = open_storage(Settings(data_dir=data_dir, _env_file=None)).registry  # type: ignore[call-arg]
    assert [d.status for d in registry.list_documents()] == [DocStatus.PENDING]
    assert {j.status for j in registry.list_jobs()} == {JobStatus.RUNNING, JobStatus.QUEUED}

    restarted = ServerProcess(data_dir, delay_s=0.0)
    try:
        for job in (job_id, queued_id):
            done = _wait(lambda j=job: _finished(restarted.http.get(f"/jobs/{j}").json()))
            assert done["status"] == "done", done
        docs = restarted.http.get("/documents").json()
        assert sorted((d["file_name"], d["status"], d["n_pages"]) for d in docs) == [
            ("first.pdf", "ready", 12),
            ("second.pdf", "ready", 1),
        ]
        first_id = next(d["id"] for d in docs if d["file_name"] == "first.pdf")
        for page in range(1, 13):
            image = restarted.http.get(f"/units/{first_id}:p{page:05d}/image")
            assert image.status_code == 200, page
        answer = restarted.http.post("/query", json={"question": "whales sing page"}).json()
        assert answer["hits"] and answer["hits"][0]["doc_id"] == first_id
        assert not any((data_dir / "uploads").iterdir())  # kept only until ready
    finally:
        restarted.stop()


def _finished(job: dict[str, Any]) -> dict[str, Any] | None:
    return job if job["status"] in ("done", "failed") else None


# -- 6 and 7. authentication ---------------------------------------------------------------


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(tmp_path, api_key=KEY)
    with serving(create_app(settings, fake_services)) as client:
        yield client


def test_schema_and_docs_need_the_key(keyed: TestClient, tmp_path: Path) -> None:
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        assert keyed.get(path).status_code == 401, path
        assert keyed.get(path, headers={"X-API-Key": KEY}).status_code == 200, path
    opened = settings_for(tmp_path / "open", api_key=KEY, open_api_docs=True)
    with serving(create_app(opened, fake_services)) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
        assert client.get("/documents").status_code == 401


def test_authentication_comes_before_validation(keyed: TestClient) -> None:
    json_type = {"content-type": "application/json"}
    for body in (b"{not json", b'{"question": ""}', b"x" * 2_000_000):
        response = keyed.post("/query", content=body, headers=json_type)
        assert response.status_code == 401, body[:20]
        assert "X-API-Key" in response.json()["detail"]
    assert keyed.get("/documents/%25zz").status_code == 401
    assert keyed.post("/documents", content=b"junk").status_code == 401
    assert keyed.options("/documents").status_code == 401


# -- 8. one error shape --------------------------------------------------------------------


def test_422_names_the_field_in_one_line_without_echoing_input(api: Harness) -> None:
    huge = "q" * 1_000 + "UNIQUE-MARKER" + "q" * 4_000
    response = api.client.post("/query", json={"question": huge})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and len(detail) <= 300
    assert "`question`" in detail and "UNIQUE-MARKER" not in detail
    wrong = api.client.post("/query", json={"question": "x", "top_k": "lots", "kinds": ["slide"]})
    assert "`top_k`" in wrong.json()["detail"] and "`kinds.0`" in wrong.json()["detail"]


def test_range_follows_rfc_9110(api: Harness) -> None:
    doc_id = api.ingest("talk.mp4", FAKE_MP4)
    url = f"/units/{doc_id}:c00001/video"
    size = len(FAKE_MP4)
    for ignored in ("bytes=100-50", "items=0-10", "bytes=", "bytes=abc", "bytes=0-5,x", "0-5"):
        whole = api.client.get(url, headers={"Range": ignored})
        assert whole.status_code == 200 and whole.content == FAKE_MP4, ignored
    part = api.client.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == FAKE_MP4[10:20]
    clipped = api.client.get(url, headers={"Range": f"bytes={size - 4}-{size + 100}"})
    assert clipped.status_code == 206 and clipped.content == FAKE_MP4[-4:]
    for unsatisfiable in (f"bytes={size}-", "bytes=-0", f"bytes={size + 5}-{size + 9}"):
        refused = api.client.get(url, headers={"Range": unsatisfiable})
        assert refused.status_code == 416, unsatisfiable
        assert refused.headers["content-range"] == f"bytes */{size}"
        assert refused.json()["detail"]


BAD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/query", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("POST", "/query", {"content": b"[]", "headers": {"content-type": "application/json"}}),
    ("POST", "/query", {"content": b"null", "headers": {"content-type": "application/json"}}),
    ("POST", "/query", {"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}),
    ("POST", "/query", {"content": b"question=x", "headers": {"content-type": "text/plain"}}),
    ("POST", "/query", {"json": {}}),
    ("POST", "/query", {"json": {"question": None}}),
    ("POST", "/query", {"json": {"question": 42}}),
    ("POST", "/query", {"json": {"question": "x", "top_k": 51}}),
    ("POST", "/query", {"json": {"question": "x", "top_k": -1}}),
    ("POST", "/query", {"json": {"question": "x", "doc_ids": "abc"}}),
    ("POST", "/query", {"json": {"question": "x", "doc_ids": ["a" * 65]}}),
    ("POST", "/query", {"json": {"question": "x", "doc_ids": [""]}}),
    ("POST", "/query", {"json": {"question": "x", "kinds": ["page", "clip", "page"]}}),
    ("POST", "/query/stream", {"json": {"question": "\u3000\n"}}),
    ("POST", "/query/stream", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("GET", "/documents", {"params": {"status": "gone"}}),
    ("GET", "/documents/xyz", {}),
    ("GET", "/documents/" + "a" * 65, {}),
    ("GET", "/documents/%00", {}),
    ("GET", "/documents/..%2F..%2Fetc", {}),
    ("DELETE", "/documents/%25", {}),
    ("DELETE", "/documents/ffffffff", {}),
    ("GET", "/jobs/../../etc/passwd", {}),
    ("GET", "/jobs/" + "g" * 32, {}),
    ("GET", "/units/x/image", {}),
    ("GET", "/units/x/image", {"params": {"frame": -1}}),
    ("GET", "/units/x/image", {"params": {"frame": "first"}}),
    ("GET", "/units/..%2F..%2Fregistry.sqlite3/image", {}),
    ("GET", "/units/x/video", {"headers": {"Range": "bytes=0-1"}}),
    ("PUT", "/documents", {}),
    ("PATCH", "/query", {}),
    ("OPTIONS", "/documents/abc", {}),
    ("TRACE", "/health", {}),
    ("POST", "/documents", {"content": b"", "headers": {"content-type": "multipart/form-data"}}),
    ("POST", "/documents", {"content": b"junk", "headers": FORM}),
    ("POST", "/documents", {"content": _form(b""), "headers": FORM}),
    ("POST", "/documents", {"content": _form(b"MZ\x90\x00" * 400), "headers": FORM}),
    ("POST", "/documents", {"files": {"other": ("a.pdf", b"%PDF-1.4")}}),
    (
        "POST",
        "/documents",
        {
            "content": f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=file; filename=a".encode()
            + b"x" * 40_000,
            "headers": FORM,
        },
    ),
    ("GET", "/nowhere", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), BAD_REQUESTS)
def test_bad_requests_get_a_4xx_with_one_line_detail(
    api: Harness, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = api.client.request(method, path, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail and len(detail) <= 300


# -- 9. small ones -------------------------------------------------------------------------


def test_a_json_body_without_its_content_type_says_so(api: Harness) -> None:
    response = api.client.post("/query", content='{"question": "x"}')
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["detail"]


def test_the_cli_refuses_an_empty_question_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = _mmrag(capsys, monkeypatch, "query", "  ", "--data-dir", str(tmp_path))
    assert code == 2 and out == "" and _one_error_line(err) == "error: the question is empty"


@pytest.mark.parametrize("question", [" ", "\t\n ", "\u3000\u2003", "\x1c\x1f "])
def test_a_blank_question_is_422(api: Harness, question: str) -> None:
    for path in ("/query", "/query/stream"):
        response = api.client.post(path, json={"question": question})
        assert response.status_code == 422, (path, response.text)
        assert "`question`" in response.json()["detail"]


def test_allow_lists_every_method_of_the_path(api: Harness) -> None:
    expected = {
        "/documents/abc": "GET, HEAD, DELETE",
        "/documents": "GET, HEAD, POST",
        "/query": "POST",
        "/units/x/video": "GET, HEAD",
    }
    for path, allow in expected.items():
        response = api.client.options(path)
        assert response.status_code == 405 and response.headers["allow"] == allow, path


def test_openapi_declares_the_event_stream_and_every_refusal(api: Harness) -> None:
    spec = api.client.get("/openapi.json").json()
    stream_ok = spec["paths"]["/query/stream"]["post"]["responses"]["200"]["content"]
    assert list(stream_ok) == ["text/event-stream"]
    events = stream_ok["text/event-stream"]["itemSchema"]["oneOf"]
    assert [e["properties"]["event"]["const"] for e in events] == ["token", "final", "error"]
    assert stream_ok["text/event-stream"]["schema"]["items"] == {"oneOf": events}
    upload = spec["paths"]["/documents"]["post"]["responses"]
    assert {"202", "400", "413", "415", "503"} <= upload.keys()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            refusals = {c for c in operation["responses"] if c.startswith(("4", "5"))}
            for code in refusals - {"503"}:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, method, code)
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_cli_ingest_on_a_data_dir_held_by_a_server_prints_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MMRAG_RETRIEVAL__TEXT_EMBEDDER", "fake")
    monkeypatch.setenv("MMRAG_RETRIEVAL__RERANKER", "none")
    pdf = make_pdf(tmp_path / "a.pdf", ["some text"])
    first = make_pdf(tmp_path / "b.pdf", ["other text"])
    assert _mmrag(capsys, monkeypatch, "ingest", str(first), "--data-dir", str(data_dir))[0] == 0
    # What a running server holds: the embedded index's shard (and its WAL lock).
    shard = Settings(data_dir=data_dir, _env_file=None).index_dir  # type: ignore[call-arg]
    holder = qe.EdgeShard.load(str(next(shard.iterdir())))
    try:
        code, out, err = _mmrag(
            capsys, monkeypatch, "ingest", str(pdf), "--data-dir", str(data_dir)
        )
    finally:
        holder.close()
    assert code == 1 and out == ""
    assert "open in another process" in _one_error_line(err)


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_reindex_and_serve_beside_a_server_refuse_and_lose_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mmrag reindex` once swapped the index folder out from under a running server: what
    the server added next went to the deleted folder and was lost. A second `mmrag serve`
    started, failed to load and answered 503 until killed. Both now stop with one line."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MMRAG_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MMRAG_RETRIEVAL__TEXT_EMBEDDER", "fake")
    monkeypatch.setenv("MMRAG_RETRIEVAL__RERANKER", "none")
    pdf = make_pdf(tmp_path / "a.pdf", ["whales sing", "dolphins click"])
    assert _mmrag(capsys, monkeypatch, "ingest", str(pdf))[0] == 0
    settings = Settings()
    server = build_services(settings, with_generator=False)  # what `mmrag serve` holds
    try:
        code, _, err = _mmrag(capsys, monkeypatch, "reindex")
        assert code == 1 and "open in another process" in _one_error_line(err)
        code, _, err = _mmrag(capsys, monkeypatch, "serve", "--port", "1")
        assert code == 1 and "open in another process" in _one_error_line(err)
        assert sum(points for points, _ in server.index.doc_counts().values()) == 2
        assert [p.name for p in settings.index_dir.iterdir()] == [settings.retrieval.collection]
    finally:
        server.close()
    assert _mmrag(capsys, monkeypatch, "reindex")[0] == 0  # free again


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MMRAG_RETRIEVAL__TOP_K": "abc"}, "MMRAG_RETRIEVAL__TOP_K='abc': Input should be"),
        ({"MMRAG_PROFILE": "lte"}, "MMRAG_PROFILE='lte': Input should be 'lite' or 'gpu'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(
    env: dict[str, str],
    named: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, out, err = _mmrag(capsys, monkeypatch, "ls", "--data-dir", str(tmp_path / "d"))
    assert code == 1 and out == ""
    assert named in _one_error_line(err)


def test_a_bad_secret_is_named_but_never_shown() -> None:
    with pytest.raises(InvalidSettings) as err:
        settings_from_env(api_key=12345, _env_file=None)
    assert "MMRAG_API_KEY" in str(err.value) and "12345" not in str(err.value)


def test_a_named_data_dir_that_does_not_exist_is_a_typo_not_an_empty_library(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "typo"
    for command in (["ls"], ["query", "what?"], ["rm", "abc"], ["gc"], ["reindex"]):
        code, out, err = _mmrag(capsys, monkeypatch, *command, "--data-dir", str(typo))
        assert code == 1 and out == "", command
        assert f"no data dir at {typo}" in _one_error_line(err), command
        assert not typo.exists(), command
