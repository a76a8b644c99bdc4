"""The `mmrag` command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.core import Context  # typer 0.29 vendors click here
from typer.core import TyperGroup

from app.config import Settings, default_data_dir, settings_from_env
from app.wording import counted

if TYPE_CHECKING:
    from app.service import Services
    from retrieval.types import Hit, SearchFilter


class _Commands(TyperGroup):
    """The command group: a domain error (data dir in use, Qdrant unreachable, a model or
    document missing) raised by any command is caught here, once, and becomes one line on
    stderr and exit code 1 instead of a traceback."""

    def invoke(self, ctx: Context) -> Any:
        from ingest.errors import MMRagError

        try:
            return super().invoke(ctx)
        except MMRagError as err:
            raise fail(f"error: {err}") from err


cli = typer.Typer(
    name="mmrag",
    cls=_Commands,
    help="Chat with your PDFs and videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Docstring paragraphs are rewrapped to the terminal, not broken where the source is.
    rich_markup_mode="markdown",
)

ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="lite or gpu (default: MMRAG_PROFILE or lite)")
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="where documents and the index live")
]


def load_settings(profile: str | None = None, data_dir: Path | None = None) -> Settings:
    """Settings from env/.env, with command-line overrides (InvalidSettings: one line)."""
    overrides: dict[str, object] = {}
    if profile:
        overrides["profile"] = profile
    if data_dir:
        overrides["data_dir"] = data_dir
    return settings_from_env(**overrides)


def stored_settings(profile: str | None = None, data_dir: Path | None = None) -> Settings:
    """Settings for a command that reads what is stored (ls, rm, gc, reindex, query, chat).
    A data dir that was named (--data-dir, MMRAG_DATA_DIR) but does not exist is a typo,
    not an empty library: one line instead of creating it. The default one may be new."""
    settings = load_settings(profile, data_dir)
    if not settings.data_dir.exists() and settings.data_dir != default_data_dir():
        raise fail(f"error: no data dir at {settings.data_dir} (`mmrag ingest` creates one)")
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@cli.callback()
def main_callback(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    # The level also decides whether MuPDF's own repair messages show (ingest/mupdf.py).
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@cli.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="files or folders (recursive); none = only resume interrupted ingests"),
    ] = None,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
    timings: Annotated[
        bool, typer.Option("--timings", help="print where the time went, stage by stage")
    ] = False,
) -> None:
    """Ingest PDFs and videos: render pages, cut clips, embed and index them.

    Documents left pending by an interrupted run are resumed first. The progress bar
    shows each file's phase (hashing, extracting, embedding, indexing) with counts."""
    import time

    from tqdm import tqdm

    from app.service import build_services
    from ingest.pipeline import iter_files
    from ingest.stages import IngestProgress, StageTimes, stage_table

    settings = load_settings(profile, data_dir)
    others: list[Path] = []
    files = list(iter_files(paths or [], others))
    left_out = f" ({counted(len(others), 'other file')} left out)" if others else ""
    if paths and not files:
        raise fail(f"no PDF or video files found in the given paths{left_out}")
    services = build_services(settings, with_generator=False)
    services.ingestor.start_workers()
    counts = {"ingested": 0, "skipped": 0, "failed": 0}
    pages = clips = 0
    stages = StageTimes()
    started = time.perf_counter()
    try:
        resumed = services.ingestor.resume()
        for result in resumed:
            typer.echo(f"resumed {result.path.name}: {result.status}")
        with tqdm(total=len(files), unit="file", dynamic_ncols=True) as bar:
            for path in files:
                bar.set_description(path.name[:40])

                def show(report: IngestProgress, _bar: tqdm = bar) -> None:
                    _bar.set_postfix_str(report.message, refresh=False)
                    _bar.refresh()

                result = services.ingestor.ingest_file(path, show)
                stages.merge(result.stages)
                counts[result.status] += 1
                if result.status == "ingested":  # not the pages of files already present
                    pages += result.n_pages
                    clips += result.n_clips
                if result.status == "failed":
                    bar.write(f"error: {path}: {result.error}")
                for note in result.notes:
                    bar.write(f"note: {path.name}: {note}")
                bar.update(1)
    finally:
        services.close()
    typer.echo(
        f"{counted(len(files), 'file')}{left_out}: {counts['ingested']} ingested, "
        f"{counts['skipped']} already present, {counts['failed']} failed; "
        f"{counted(pages, 'page')}, {counted(clips, 'clip')} added"
    )
    if timings:
        for line in stage_table(stages, time.perf_counter() - started):
            typer.echo(line)
    if counts["failed"]:
        raise typer.Exit(1)


@cli.command("ls")
def list_documents(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """List documents: id, file name, status, pages/clips."""
    from app.service import open_storage

    docs = open_storage(stored_settings(profile, data_dir)).registry.list_documents()
    if as_json:
        from app.api.schemas import DocumentOut

        # The same records as GET /documents.
        records = [DocumentOut.model_validate(d).model_dump(mode="json") for d in docs]
        typer.echo(json.dumps(records, indent=2))
        return
    for d in docs:
        count = counted(d.n_pages, "page") if d.kind.value == "pdf" else counted(d.n_clips, "clip")
        line = f"{d.id[:12]}  {d.status.value:<7}  {count:>10}  {d.file_name}"
        typer.echo(line + (f"  ({d.error})" if d.error else ""))
    typer.echo(counted(len(docs), "document"), err=True)


@cli.command("rm")
def remove(
    doc_ids: Annotated[list[str], typer.Argument(help="document id or unique id prefix")],
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Delete documents: registry rows, blobs and index points."""
    from app.service import delete_documents

    # No model loads: the index opens with the layout stored beside it.
    for doc in delete_documents(stored_settings(profile, data_dir), doc_ids):
        typer.echo(f"removed {doc.id[:12]} {doc.file_name}")


@cli.command()
def gc(
    grace: Annotated[
        float, typer.Option(help="spare blobs younger than this many seconds")
    ] = 3600.0,
    wait: Annotated[
        float, typer.Option(help="seconds to wait for running ingests to finish")
    ] = 10.0,
    data_dir: DataDirOpt = None,
) -> None:
    """Remove orphan blobs (left by interrupted or deleted ingests).

    Never runs during an ingest (of the API server or `mmrag ingest`): it waits up to
    --wait seconds for them, then gives up without deleting anything."""
    from app.service import open_storage
    from ingest.store import collect_garbage

    storage = open_storage(stored_settings(None, data_dir))
    report = collect_garbage(storage.registry, storage.blobs, grace_s=grace, wait_s=wait)
    typer.echo(
        f"removed {report.removed_blobs} orphan blobs ({report.removed_bytes / 1e6:.1f} MB), "
        f"{report.removed_temp} temp files"
    )


@cli.command()
def reindex(profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Rebuild the vector index from the registry and blobs (re-embeds every ready document).

    Use it after an upgrade that changed the index format, to apply new compression or
    HNSW settings, or when the index was lost. The old index stays until the new one is done."""
    from tqdm import tqdm

    from app.index_sync import rebuild

    settings = stored_settings(profile, data_dir)
    bars: list[tqdm[None]] = []  # shown from the first document: a refusal is one line

    def show(number: int, total: int, name: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="doc", dynamic_ncols=True))
        bars[0].set_description(name[:40])
        bars[0].update(1)

    try:
        report = rebuild(settings, show)
    finally:
        for bar in bars:
            bar.close()
    typer.echo(
        f"reindexed {report.documents} documents ({report.units} units) in {report.seconds:.1f} s"
        + ("; removed the old local-mode index" if report.removed_legacy else "")
    )


@cli.command()
def config(profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Print the effective settings (secrets masked)."""
    settings = load_settings(profile, data_dir)
    typer.echo(settings.model_dump_json(indent=2))


@cli.command()
def doctor(profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Check tesseract, ffmpeg, models, GPU, storage and services; print a fix for each problem."""
    from app.doctor import run_checks

    checks = run_checks(load_settings(profile, data_dir))
    for check in checks:
        mark = (
            typer.style("OK  ", fg=typer.colors.GREEN)
            if check.ok
            else typer.style("WARN", fg=typer.colors.YELLOW)
            if check.optional
            else typer.style("FAIL", fg=typer.colors.RED)
        )
        typer.echo(f"{mark} {check.name:<12} {check.detail}")
        if not check.ok and check.fix:
            typer.echo(f"     fix: {check.fix}")
    if not all(c.ok or c.optional for c in checks):
        raise typer.Exit(1)


def _print_sources(hits: list[tuple[int, Hit]]) -> None:
    """Each (rank, hit) under its rank: `[Sn]` in an answer is the hit of rank n."""
    for i, hit in hits:
        rerank = f"{hit.rerank_score:.3f}" if hit.rerank_score is not None else "-"
        snippet = " ".join(hit.unit.text.split())[:110]
        typer.echo(
            f"[S{i}] {hit.unit.label}  score {hit.score:.3f} (stage1 {hit.stage1_score:.3f}, "
            f"rerank {rerank}; {'+'.join(hit.matched) or '-'})"
        )
        if snippet:
            typer.echo(f"      {snippet}")


@cli.command()
def query(
    question: Annotated[str, typer.Argument(help="your question")],
    top_k: Annotated[int | None, typer.Option("--top-k", "-k")] = None,
    doc: Annotated[
        list[str] | None, typer.Option("--doc", help="restrict to a document id (repeatable)")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="page or clip")] = None,
    hits_only: Annotated[
        bool, typer.Option("--hits", help="only list the retrieved units")
    ] = False,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Answer a question from your documents, streaming, with cited sources."""
    from app.querying import resolve_scope, search
    from app.service import build_services

    if not question.strip():
        raise fail("error: the question is empty", code=2)  # as the API's 422, before loading
    services = build_services(stored_settings(profile, data_dir), with_generator=not hits_only)
    try:
        scope = resolve_scope(services.registry, doc, [kind] if kind else None)
        if hits_only:
            _print_sources(
                list(enumerate(search(services, question, scope.search_filter, top_k), 1))
            )
            return
        _stream_answer(services, question, scope.search_filter, top_k)
    finally:
        services.close()


def _stream_answer(
    services: Services, question: str, search_filter: SearchFilter | None, top_k: int | None
) -> None:
    from app.querying import ask_stream
    from generation.types import FinalEvent, TokenEvent

    for event in ask_stream(services, question, search_filter, top_k):
        if isinstance(event, TokenEvent):
            typer.echo(event.text, nl=False)
        elif isinstance(event, FinalEvent):
            answer = event.answer
            typer.echo("")
            cited = {c.source_index for c in answer.citations if c.valid}
            evidence = f" (evidence {answer.evidence:.2f})" if answer.evidence is not None else ""
            typer.echo(f"\nSources{evidence}:" if answer.hits else "\nNo sources.")
            ranked = enumerate(answer.hits, start=1)
            _print_sources([(i, h) for i, h in ranked if i in cited or not cited])


@cli.command()
def chat(profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Interactive question-answer loop (empty line or Ctrl-D to quit). A follow-up ("And
    what about ...?", "How long is it valid?") is asked with the question it follows."""
    from app.followups import standalone_question
    from app.service import build_services
    from ingest.errors import MMRagError

    services = build_services(stored_settings(profile, data_dir))
    asked: list[str] = []
    try:
        while True:
            try:
                question = input("\n? ").strip()
            except EOFError:
                break
            if not question:
                break
            # A follow-up is asked with the question it follows (app.followups).
            standalone = standalone_question(asked, question)
            asked.append(question)
            try:
                _stream_answer(services, standalone, None, None)
            except MMRagError as err:
                typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
    finally:
        services.close()


@cli.command("eval")
def evaluate(
    corpus: Annotated[Path, typer.Argument(help="corpus folder", exists=True, file_okay=False)],
    questions: Annotated[
        list[Path],
        typer.Argument(
            help="questions JSONL file(s); lines with file null are unanswerable",
            exists=True,
            dir_okay=False,
        ),
    ],
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the report as JSON")
    ] = None,
    answers: Annotated[
        bool, typer.Option("--answers", help="also generate and score answers (and refusals)")
    ] = False,
    folds: Annotated[int, typer.Option("--folds", min=2, help="folds of the cross-validation")] = 5,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Retrieval (and answer) quality on question sets: nDCG@5, hit@5 by kind and modality,
    cross-validated fusion weights and refusal threshold, refusal rates."""
    from app.eval.runner import format_report, run_eval

    settings = load_settings(profile, data_dir)
    report = run_eval(
        settings, corpus, questions, k_folds=folds, with_answers=answers, echo=typer.echo
    )
    typer.echo(format_report(report))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_json(), indent=2))
        typer.echo(f"wrote {json_out}")


HostOpt = Annotated[str | None, typer.Option("--host", help="bind address (default MMRAG_HOST)")]
PortOpt = Annotated[int | None, typer.Option("--port", help="API port (default MMRAG_PORT)")]
InsecureOpt = Annotated[
    bool, typer.Option("--insecure", help="allow a non-loopback bind without an API key")
]


@cli.command()
def serve(
    host: HostOpt = None,
    port: PortOpt = None,
    insecure: InsecureOpt = False,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run the REST API (OpenAPI docs at /docs)."""
    from app.launch import run_api

    run_api(load_settings(profile, data_dir), host, port, insecure=insecure)


@cli.command()
def ui(
    host: HostOpt = None,
    port: Annotated[
        int | None, typer.Option("--port", help="UI port (default MMRAG_UI_PORT)")
    ] = None,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="the REST API to talk to")
    ] = None,
) -> None:
    """Run the Streamlit UI against a running API."""
    from app.launch import run_ui

    raise typer.Exit(run_ui(load_settings(), host, port, api_url))


@cli.command()
def up(
    host: HostOpt = None,
    port: PortOpt = None,
    ui_port: Annotated[int | None, typer.Option("--ui-port", help="UI port")] = None,
    insecure: InsecureOpt = False,
    profile: ProfileOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run the API and the browser UI together and print the URL."""
    from app.launch import run_stack

    code = run_stack(
        load_settings(profile, data_dir),
        host,
        port,
        ui_port,
        insecure=insecure,
        announce=typer.echo,
    )
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry point (domain errors are caught by the command group)."""
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
