"""``rootline doctor``: what this install searches and runs with, checked against the database."""

from __future__ import annotations

from typing import Any

import typer

from rootline.cli.console import out_console
from rootline.cli.context import JsonOpt, app_state, print_json
from rootline.db import session_scope

__all__ = ["register"]


def doctor(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Show the database, the nearest-neighbour index, pgvector and the executor in use."""
    from rootline.clustering.distributed import ray_version
    from rootline.clustering.vector_index import (
        EXACT_BELOW,
        ann_backend,
        index_folder,
        pgvector_status,
        saved_index_status,
    )

    state = app_state(ctx)
    settings = state.settings
    with session_scope(state.sessions) as session:
        database = pgvector_status(session)
    folder = index_folder(settings.data_dir)
    report: dict[str, Any] = {
        **database,
        "search_index": ann_backend() or "exact scan (usearch is not installed)",
        "exact_below": EXACT_BELOW,
        "saved_indexes": saved_index_status(folder),
        "executor": settings.executor,
        "ray": ray_version(),
        "ray_address": settings.ray_address,
    }
    if as_json:
        print_json(report)
        return
    pgvector = report["pgvector"]
    lines = [
        f"database      {report['database']}",
        f"pgvector      {pgvector}"
        + ("" if pgvector.startswith("installed") else " (Rootline's own index is used)"),
        f"search index  {report['search_index']}, exact scan below {EXACT_BELOW} vectors",
        f"saved indexes {folder}: "
        + (
            ", ".join(f"{s['file']} ({s['bytes']} bytes)" for s in report["saved_indexes"])
            or "none"
        ),
        f"executor      {settings.executor}"
        + (
            f" (Ray {report['ray'] or 'not installed'}, "
            f"{settings.ray_address or f'local, {settings.ray_workers} workers'})"
            if settings.executor == "ray"
            else ""
        ),
    ]
    for line in lines:
        out_console.print(line, markup=False)


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to the root app."""
    app.command("doctor")(doctor)
