"""The pipeline: builds the stages from settings and runs ingest -> cluster end to end.

This is the one place that turns settings into components (embedder, clusterer, labeler);
the CLI and the web app call it and hand it a session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from rootline.clustering.cluster import Clusterer, DensityClusterer
from rootline.clustering.embedding import (
    Embedder,
    HashingEmbedder,
    SentenceTransformerEmbedder,
    choose_backend,
)
from rootline.clustering.graph import GraphClusterer
from rootline.clustering.models import ClusteringRun
from rootline.clustering.onnx_backend import OnnxEmbedder
from rootline.clustering.runs import (
    ClusterProgress,
    fail_run,
    mark_interrupted_runs,
    run_clustering,
    start_run,
)
from rootline.clustering.vector_index import IndexReport, index_folder, refresh_saved_index
from rootline.config import Settings
from rootline.db import begin_writing, session_scope
from rootline.ingest.service import IngestOptions, IngestReport, ingest_file

__all__ = [
    "DEMO_FILES",
    "build_clusterer",
    "build_embedder",
    "build_ingest_options",
    "build_run_embedder",
    "cluster",
    "cluster_job",
    "demo_paths",
    "ingest_paths",
    "refresh_search_index",
]

#: The bundled demo help desk: (file name, source name).
DEMO_FILES: tuple[tuple[str, str], ...] = (
    ("demo_helpdesk.csv", "helpdesk"),
    ("demo_contact_center.csv", "contact_center"),
)


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for, on the backend and device they choose."""
    if settings.embedder == "hashing":
        return HashingEmbedder()
    backend, device = choose_backend(settings.embed_backend, settings.embed_device)
    if backend == "torch":
        return SentenceTransformerEmbedder(
            settings.model_path, batch_size=settings.embed_batch_size, device=device
        )
    return OnnxEmbedder(
        settings.model_path,
        export_dir=settings.data_dir / "models",
        int8=backend == "onnx-int8",
        batch_size=settings.embed_batch_size,
    )


def build_run_embedder(settings: Settings) -> Embedder:
    """The embedder of clustering runs: the settings' embedder, on Ray with
    ``ROOTLINE_EXECUTOR=ray`` (one model per Ray actor, the same vectors and slug)."""
    local = build_embedder(settings)
    if settings.executor != "ray":
        return local
    from rootline.clustering.distributed import RayEmbedder

    on_worker = settings.model_copy(update={"executor": "local"})
    return RayEmbedder(
        functools.partial(build_embedder, on_worker),
        slug=local.slug,
        address=settings.ray_address,
        workers=settings.ray_workers,
        batch_size=settings.embed_batch_size,
    )


def build_clusterer(settings: Settings) -> Clusterer:
    """The clusterer the settings ask for, with any size override and the seed."""
    if settings.clusterer == "graph":
        return GraphClusterer(min_cluster_size=settings.min_cluster_size, seed=settings.random_seed)
    return DensityClusterer(min_cluster_size=settings.min_cluster_size, seed=settings.random_seed)


def build_ingest_options(settings: Settings, **choices: Any) -> IngestOptions:
    """How to ingest: the settings' PII and phone choices, plus the caller's (``skip_bad``,
    ``rejects_path``, ...)."""
    return IngestOptions(
        redact_pii=settings.redact_pii, phone_region=settings.phone_region, **choices
    )


def ingest_paths(
    session: Session,
    paths: Sequence[Path],
    *,
    fmt: str = "auto",
    mapping: dict[str, str] | None = None,
    source: str | None = None,
    progress: Callable[[int], None] | None = None,
    options: IngestOptions | None = None,
) -> IngestReport:
    """Ingest several files in one transaction owned by the caller."""
    report = IngestReport()
    for path in paths:
        ingest_file(
            session,
            path,
            fmt=fmt,
            mapping=mapping,
            source=source,
            report=report,
            progress=progress,
            options=options,
        )
    return report


def cluster(
    session: Session,
    settings: Settings,
    *,
    full: bool = False,
    embedder: Embedder | None = None,
    progress: ClusterProgress | None = None,
    run_id: int | None = None,
) -> ClusteringRun:
    """Run clustering with components built from ``settings`` (or the given embedder)."""
    return run_clustering(
        session,
        embedder or build_run_embedder(settings),
        build_clusterer(settings),
        full=full,
        progress=progress,
        run_id=run_id,
    )


def cluster_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    full: bool = False,
    embedder: Embedder | None = None,
    progress: ClusterProgress | None = None,
) -> ClusteringRun:
    """Run clustering in its own transaction; a failure is recorded and earlier themes stay.

    The run is recorded as running first, in a transaction of its own, so a killed process
    leaves a trace; runs that such processes left running are marked failed here.

    Raises:
        Exception: whatever made the run fail, after it has been recorded as failed.
    """
    embedder = embedder or build_run_embedder(settings)
    # Each transaction reads, then writes: on SQLite it takes the write lock at once, so a
    # web save committing meanwhile makes it wait instead of failing the run.
    with session_scope(sessions) as session:
        begin_writing(session)
        mark_interrupted_runs(session)
        run_id = start_run(session, full=full, model_slug=embedder.slug).id
    try:
        with session_scope(sessions) as session:
            begin_writing(session)
            run = cluster(
                session, settings, full=full, embedder=embedder, progress=progress, run_id=run_id
            )
    except BaseException as exc:
        with session_scope(sessions) as session:
            begin_writing(session)
            fail_run(session, run_id, f"{type(exc).__name__}: {exc}")
        raise
    refresh_search_index(sessions, settings, embedder.slug, progress)
    return run


def refresh_search_index(
    sessions: sessionmaker[Session],
    settings: Settings,
    slug: str,
    progress: ClusterProgress | None = None,
) -> IndexReport | None:
    """Update the saved nearest-neighbour graph of ``slug`` once a run has finished.

    The graph only speeds search up: when it cannot be written, search builds one in memory
    (or scans), so a failure here is reported and the run stands.
    """
    progress = progress or ClusterProgress()
    progress.say("updating the search index")
    try:
        with session_scope(sessions) as session:
            return refresh_saved_index(session, slug, index_folder(settings.data_dir))
    except (OSError, RuntimeError, ValueError) as exc:
        progress.say(f"search index not saved ({exc}); search builds it when needed")
        return None


def demo_paths() -> list[tuple[Path, str]]:
    """The bundled demo files as (path, source name)."""
    base = Path(str(resources.files("rootline.fixtures")))
    return [(base / name, source) for name, source in DEMO_FILES]
