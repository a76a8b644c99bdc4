"""Where ingestion time goes, stage by stage, through the real pipeline (Ingestor, models,
index), for the current settings and for a reference measured in the same run.

The reference is the configuration before issue 14: OCR with every configured language at
once at 300 dpi, units embedded in batches of 32. Each file is ingested by both, back to
back (reference first), into two fresh data dirs, so a shared machine's load drifts alike
for both; ratios are current / reference. CPU seconds (this process and its children:
page workers, tesseract) are given beside wall seconds, since they depend much less on
what else the machine runs.

Per-unit figures, through the full pipeline (render, text, OCR, blobs, vectors, reranker
windows, index, registry):
- page without OCR: wall seconds of the files with no OCR page / their pages;
- page with OCR: wall seconds of the files with OCR pages, less their other pages at the
  no-OCR rate, / OCR pages;
- clip: wall seconds of the video files / clips (model loads excluded: they load once).

The PDF page processes are started with the services and waited for before the first file
(`warm_page_workers`, as the API does once its models are in), like the model loads; with
`--cold-pages` the first PDF of 3+ pages starts them (and multiprocessing's forkserver),
as in a fresh `mmrag ingest FILE` with `warm_page_workers` off. The report says which.

    python -m bench.profile [PATHS...] [--no-reference] [--cold-pages] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.config import Settings
from app.service import Services, build_services
from ingest.pipeline import iter_files
from ingest.stages import StageTimes, stage_table

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
# The ingest settings before issue 14 (the reference configuration).
REFERENCE_INGEST = {
    "ocr_script_detection": False,
    "ocr_dpi": 300,
    "ocr_languages": "eng+deu+fra+spa+rus",
}
REFERENCE_BATCH_UNITS = 32


@dataclass
class FileRun:
    """One file through one configuration."""

    file: str
    kind: str
    status: str
    units: int
    ocr_pages: int
    wall_s: float
    cpu_s: float
    stages: dict[str, float]


@dataclass
class ConfigRun:
    """Every file through one configuration."""

    name: str
    settings: dict[str, object]
    files: list[FileRun] = field(default_factory=list)
    stages: StageTimes = field(default_factory=StageTimes)

    def wall(self, kind: str | None = None, ocr: bool | None = None) -> tuple[float, int, int]:
        """(wall seconds, units, OCR pages) of the files of `kind` with/without OCR pages."""
        chosen = [
            f
            for f in self.files
            if f.status == "ingested"
            and (kind is None or f.kind == kind)
            and (ocr is None or (f.ocr_pages > 0) == ocr)
        ]
        return (
            sum(f.wall_s for f in chosen),
            sum(f.units for f in chosen),
            sum(f.ocr_pages for f in chosen),
        )

    def per_unit(self) -> dict[str, float | None]:
        """Seconds per page without OCR, per OCR page, per clip; whole wall and CPU."""
        plain_s, plain_n, _ = self.wall("pdf", ocr=False)
        plain = plain_s / plain_n if plain_n else None
        ocr_s, ocr_units, ocr_n = self.wall("pdf", ocr=True)
        with_ocr = None
        if ocr_n:
            other = (ocr_units - ocr_n) * (plain or 0.0)
            with_ocr = max(ocr_s - other, 0.0) / ocr_n
        clip_s, clip_n, _ = self.wall("video")
        return {
            "page_without_ocr_s": plain,
            "page_with_ocr_s": with_ocr,
            "clip_s": clip_s / clip_n if clip_n else None,
            "total_wall_s": sum(f.wall_s for f in self.files),
            "total_cpu_s": sum(f.cpu_s for f in self.files),
        }


def cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (page workers, tesseract)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def ingest_one(services: Services, path: Path, run: ConfigRun) -> None:
    cpu = cpu_seconds()
    started = time.perf_counter()
    result = services.ingestor.ingest_file(path)
    wall = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    ocr_pages = 0
    if result.doc_id is not None and result.status == "ingested":
        ocr_pages = sum(1 for u in services.registry.units(result.doc_id) if u.text_source == "ocr")
    run.stages.merge(result.stages)
    kind = "video" if result.n_clips else "pdf"
    run.files.append(
        FileRun(
            path.name,
            kind,
            result.status,
            result.n_pages + result.n_clips,
            ocr_pages,
            round(wall, 3),
            round(cpu, 3),
            {k: round(v, 3) for k, v in result.stages.seconds.items()},
        )
    )


def build(settings: Settings, batch_units: int | None) -> Services:
    services = build_services(settings, with_generator=False)
    if batch_units is not None:
        services.ingestor.batch_size = batch_units
    services.ingestor.start_workers()
    return services


def wait_for_page_workers(services: Services, timeout_s: float = 120.0) -> None:
    """Return once the page processes `start_workers` began starting are up."""
    wait = getattr(services.ingestor.pdf, "wait_started", None)
    if wait is not None and not wait(timeout_s):
        raise SystemExit(f"the page processes did not start in {timeout_s:.0f} s")


def print_report(runs: list[ConfigRun]) -> None:
    for run in runs:
        print(f"\n== {run.name}: stage seconds summed over files (pages overlap in processes)")
        wall = sum(f.wall_s for f in run.files)
        for line in stage_table(run.stages, wall):
            print(line)
    current = runs[-1].per_unit()
    reference = runs[0].per_unit() if len(runs) > 1 else None
    print(f"\n{'per unit, full pipeline':<22} {'current':>9} {'reference':>10} {'ratio':>6}")
    for key, value in current.items():
        ref = reference.get(key) if reference else None
        ratio = f"{value / ref:6.2f}" if value is not None and ref else ""
        cur = f"{value:9.3f}" if value is not None else f"{'':>9}"
        refs = f"{ref:10.3f}" if ref is not None else f"{'':>10}"
        print(f"{key:<22} {cur} {refs} {ratio}")
    if len(runs) > 1:
        print(f"\n{'stage':<14} {'current s':>10} {'reference s':>12} {'ratio':>6}")
        names = sorted(set(runs[0].stages.seconds) | set(runs[1].stages.seconds))
        for name in names:
            cur_s = runs[1].stages.seconds.get(name, 0.0)
            ref_s = runs[0].stages.seconds.get(name, 0.0)
            ratio = f"{cur_s / ref_s:6.2f}" if ref_s else ""
            print(f"{name:<14} {cur_s:10.2f} {ref_s:12.2f} {ratio}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[CORPUS / "pdf", CORPUS / "video"])
    parser.add_argument("--no-reference", action="store_true", help="current settings only")
    parser.add_argument(
        "--cold-pages",
        action="store_true",
        help="start the page processes with the first PDF, not with the services",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profile.json")
    args = parser.parse_args(argv)

    files = list(iter_files(args.paths))
    if not files:
        raise SystemExit(f"no PDF or video files in {args.paths}")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mmrag-profile-") as tmp:
        base = Settings(data_dir=Path(tmp) / "current")
        if args.cold_pages:
            base = base.model_copy(
                update={"ingest": base.ingest.model_copy(update={"warm_page_workers": False})}
            )
        pages_mode = (
            "started by the first PDF (cold)"
            if args.cold_pages
            else "started with the services and waited for (warm)"
        )
        print(f"page processes: {pages_mode}")
        configs: list[tuple[str, Settings, int | None]] = []
        if not args.no_reference:
            ref = base.model_copy(
                update={
                    "data_dir": Path(tmp) / "reference",
                    "ingest": base.ingest.model_copy(update=REFERENCE_INGEST),
                }
            )
            configs.append(("reference (before issue 14)", ref, REFERENCE_BATCH_UNITS))
        configs.append(("current", base, None))
        runs = [ConfigRun(name, s.ingest.model_dump()) for name, s, _ in configs]
        services = [build(s, batch) for _, s, batch in configs]
        try:
            for svc in services:
                wait_for_page_workers(svc)
            for path in files:
                for run, svc in zip(runs, services, strict=True):
                    ingest_one(svc, path, run)
                last = runs[-1].files[-1]
                print(f"{path.name}: {last.units} units, {last.ocr_pages} OCR, {last.wall_s:.2f} s")
        finally:
            for svc in services:
                svc.close()
    print_report(runs)
    payload = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_start": load_start,
            "load_avg_end": os.getloadavg(),
        },
        "files": len(files),
        "page_processes": pages_mode,
        "runs": [
            {
                "name": r.name,
                "settings": r.settings,
                "per_unit": r.per_unit(),
                "stages": asdict(r.stages),
                "files": [asdict(f) for f in r.files],
            }
            for r in runs
        ],
    }
    if len(runs) > 1:
        cur, ref = runs[1].per_unit(), runs[0].per_unit()
        payload["ratios"] = {
            k: (cur[k] / ref[k] if cur[k] is not None and ref[k] else None) for k in cur
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
