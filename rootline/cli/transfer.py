"""``rootline export`` and ``rootline import``: a whole database to one file and back."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rootline.cli.console import out_console, progress_bar
from rootline.cli.context import app_state
from rootline.errors import InputError

if TYPE_CHECKING:
    from rich.progress import Progress

    from rootline.transfer import TransferProgress

__all__ = ["register"]


def _progress(bar: Progress, verb: str) -> TransferProgress:
    from rootline.transfer import TransferProgress

    task = bar.add_task(verb, total=None)
    return TransferProgress(
        total=lambda n: bar.update(task, total=n),
        advance=lambda k: bar.advance(task, k),
        table=lambda name: bar.update(task, description=f"{verb} {name}"),
    )


def export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The file to write (gzip'd JSON lines).")],
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
) -> None:
    """Write every table of the database to one file, from one consistent snapshot."""
    from rootline.transfer import export_database

    if file.is_dir():
        raise InputError("is a folder, not a file", path=str(file))
    if file.exists() and not force:
        raise InputError("the file exists; give --force to replace it", path=str(file))
    engine = app_state(ctx).engine
    try:
        with progress_bar() as bar:
            report = export_database(engine, file, progress=_progress(bar, "exporting"))
    finally:
        engine.dispose()  # the connections close now, also when the command runs in-process
    out_console.print(
        f"exported {report.rows} rows of {report.tables} tables to {file} "
        f"(schema {', '.join(report.revisions)})",
        markup=False,
    )


def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file written by rootline export.")],
) -> None:
    """Load an export into an empty database, in one transaction; ids are kept."""
    from rootline.transfer import import_database, read_header

    read_header(file)  # a file that is not an export is refused before the database is made
    engine = app_state(ctx).engine
    try:
        with progress_bar() as bar:
            report = import_database(engine, file, progress=_progress(bar, "importing"))
    finally:
        engine.dispose()
    out_console.print(
        f"imported {report.rows} rows of {report.tables} tables from {file}", markup=False
    )


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``import`` to the root app."""
    app.command("export")(export)
    app.command("import")(import_)
