"""The ``rootline`` command line: the composition root that wires settings, database and stages.

Commands parse arguments, call a service or pipeline function and render the result.
Errors meant for the user print one line and exit with code 2; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from rootline.cli.console import err_console, out_console, progress_bar
from rootline.cli.context import AppState
from rootline.cli.customers import register as register_customers
from rootline.cli.doctor import register as register_doctor
from rootline.cli.impact import register as register_impact
from rootline.cli.problems import register as register_problems
from rootline.cli.teams import register as register_teams
from rootline.cli.themes import register as register_themes
from rootline.cli.transfer import register as register_transfer
from rootline.cli.triage import register as register_triage
from rootline.cli.users import register as register_users
from rootline.config import Settings, get_settings
from rootline.db import begin_writing, session_scope
from rootline.errors import ConfigError, InputError, RootlineError

if TYPE_CHECKING:
    from rich.progress import Progress

    from rootline.clustering.runs import ClusterProgress

__all__ = ["app", "hoist_global_options", "proxy_options", "run"]

app = typer.Typer(
    name="rootline",
    help="Recurring issue themes from customer contacts, routed to owners and verified.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _state(ctx: typer.Context) -> AppState:
    return ctx.ensure_object(AppState)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL (default: ROOTLINE_DATABASE_URL or SQLite file)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Rootline command line."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "ROOTLINE_" + str(first["loc"][0]).upper() if first["loc"] else "a setting"
        raise ConfigError(f"{name}: {first['msg']}") from None
    ctx.obj = AppState(settings=settings, db_url=db, debug=debug)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(help="Files or folders of .eml files.", show_default=False)
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto, csv, tsv, jsonl, json, eml, mbox, chat-json, zendesk, freshdesk, "
            "intercom, customers or events.",
        ),
    ] = "auto",
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="COL=FIELD, to name a column's meaning.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="The system the records come from (default: the format's, e.g. zendesk, "
            "email; import for plain tables).",
        ),
    ] = None,
    skip_bad: Annotated[
        bool,
        typer.Option("--skip-bad", help="Keep the good records; write bad ones to a reject file."),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Reject file (default: <input>.rejects.jsonl)."),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="Text encoding of CSV, TSV and JSON files, e.g. cp1252 (default: UTF-8, or "
            "Windows-1252 where the file plainly is that).",
        ),
    ] = None,
) -> None:
    """Load interactions, customers or customer events; re-loading the same file adds nothing."""
    from rootline.ingest.columns import parse_mapping
    from rootline.ingest.service import IngestReport, ingest_file
    from rootline.pipeline import build_ingest_options

    state = _state(ctx)
    parsed = parse_mapping(mapping or [])
    options = build_ingest_options(
        state.settings, skip_bad=skip_bad, rejects_path=rejects, encoding=encoding
    )
    report = IngestReport()
    with progress_bar() as bar, session_scope(state.sessions) as session:
        # The load reads before it writes: on SQLite it takes the write lock at once, so a web
        # save committing meanwhile makes it wait instead of failing the load.
        begin_writing(session)
        task = bar.add_task("ingesting", total=None)
        for path in paths:
            ingest_file(
                session,
                path,
                fmt=fmt,
                mapping=parsed,
                source=source,
                report=report,
                progress=lambda k: bar.advance(task, k),
                options=options,
            )
    several = len(report.sources) > 1
    out_console.print(
        f"source{'s' if several else ''} {', '.join(report.sources) or '-'}: "
        + _counts_line(report.counts())
        + (
            f", {report.repeated} repeated id{'s' if report.repeated > 1 else ''} (the last kept)"
            if report.repeated
            else ""
        )
        + (
            f", rejected {report.rejected} (see {', '.join(report.rejects_files)})"
            if report.rejected
            else ""
        )
    )
    if several:
        for name in report.sources:
            out_console.print(f"  {name}: " + _counts_line(report.by_source.get(name, {})))
    for name, found in report.known_elsewhere_by_source.items():
        for other, count in found.items():
            out_console.print(
                f"note: {count} of the new contacts"
                + (f" under source {name!r}" if several else "")
                + f" have ids already stored under source {other!r}; if these are the same "
                f"records, load them with --source {other}, or they are counted twice"
            )


def _counts_line(counts: dict[str, int]) -> str:
    """``read N, inserted N, ...`` of an ingest report or of one source's part of it."""
    events = counts.get("events_inserted", 0) + counts.get("events_updated", 0)
    return (
        f"read {counts.get('read', 0)}, inserted {counts.get('inserted', 0)}, "
        f"updated {counts.get('updated', 0)}, unchanged {counts.get('unchanged', 0)}, "
        f"new customers {counts.get('customers_created', 0)}"
        + (f", events {events}" if events else "")
    )


def _cluster_progress(bar: Progress) -> ClusterProgress:
    from rootline.clustering.runs import ClusterProgress

    embed = bar.add_task("embedding", total=None)
    step = bar.add_task("clustering", total=None)
    return ClusterProgress(
        embed_total=lambda n: bar.update(embed, total=n),
        embed_advance=lambda k: bar.advance(embed, k),
        stage=lambda text: bar.update(step, description=text),
    )


@app.command()
def cluster(
    ctx: typer.Context,
    full: Annotated[
        bool, typer.Option("--full", help="Re-cluster everything, keeping theme ids and edits.")
    ] = False,
) -> None:
    """Build themes, or place new interactions into the existing ones."""
    from rootline.pipeline import cluster_job

    state = _state(ctx)
    with progress_bar() as bar:
        run = cluster_job(
            state.sessions, state.settings, full=full, progress=_cluster_progress(bar)
        )
    metrics = dict(run.metrics)
    out_console.print(
        f"run {run.id} ({run.kind}): " + ", ".join(f"{k} {v}" for k, v in metrics.items())
    )


@app.command()
def themes(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Include merged and retired themes.")] = False,
) -> None:
    """List themes, largest first."""
    from rich.table import Table

    from rootline.clustering.service import list_themes
    from rootline.rootcause.figures import theme_figures

    with session_scope(_state(ctx).sessions) as session:
        items = list_themes(session, include_inactive=all_)
        proposed = [] if all_ else list_themes(session, statuses=("proposed",))
        figures = theme_figures(session, [t.id for t in items]) if as_json else {}
    if as_json:
        rows = [
            t.model_dump(exclude={"examples"})
            | (figures[t.id].as_dict() if t.id in figures else {})
            for t in items
        ]
        out_console.print_json(json.dumps(rows))
        return
    for title, rows in (
        ("themes", items),
        ("proposed themes (rootline theme accept ID)", proposed),
    ):
        if rows or title == "themes":
            table = Table("id", "size", "title", "keywords", "status", title=title)
            for t in rows:
                table.add_row(str(t.id), str(t.size), t.title, ", ".join(t.keywords[:6]), t.status)
            out_console.print(table)


@app.command()
def assignments(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="csv or jsonl.")] = "csv",
) -> None:
    """Print every interaction's theme: source, external_id, theme_id (empty when unthemed)."""
    from rootline.clustering.service import iter_assignments

    if fmt not in {"csv", "jsonl"}:
        raise InputError(f"--format must be csv or jsonl, not {fmt!r}")
    out = sys.stdout
    with session_scope(_state(ctx).sessions) as session:
        if fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["source", "external_id", "theme_id"])
            for source, ext, tid in iter_assignments(session):
                writer.writerow([source, ext, "" if tid is None else tid])
        else:
            for source, ext, tid in iter_assignments(session):
                out.write(
                    json.dumps({"source": source, "external_id": ext, "theme_id": tid}) + "\n"
                )


@app.command("eval")
def eval_(
    ctx: typer.Context,
    field_name: Annotated[str, typer.Option("--field", help="Gold label field kept from ingest.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score the current themes against a gold label: NMI, ARI, accuracy, themes, noise share."""
    from rootline.clustering.service import evaluate

    with session_scope(_state(ctx).sessions) as session:
        scores = evaluate(session, field_name)
    if as_json:
        print(json.dumps(scores))
        return
    for key, value in scores.items():
        out_console.print(f"{key:12} {value}")


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Run the web app."""
    _serve(_state(ctx), host, port)


def _serve(
    state: AppState,
    host: str | None,
    port: int | None,
    demo_users: list[dict[str, str]] | None = None,
) -> None:
    import uvicorn

    from rootline.web.app import create_app

    web = create_app(state.settings, state.engine)
    web.state.demo_users = demo_users or []  # shown on the sign-in page of the demo only
    host = host or state.settings.host
    port = port or state.settings.port
    err_console.print(f"serving on http://{host}:{port}  (Ctrl+C to stop)")
    proxy_headers, forwarded_allow_ips = proxy_options(state.settings)
    uvicorn.run(
        web,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )


@app.command()
def demo(
    ctx: typer.Context,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Load and cluster, then exit.")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Load the bundled demo help desk, cluster it with the real model, set up its teams,
    routing rules and problems, and serve it."""
    from rootline.cli.demo import play_story, print_summary
    from rootline.cli.impact import load_demo_impact
    from rootline.cli.users import create_demo_users
    from rootline.pipeline import build_embedder, build_ingest_options, cluster_job, demo_paths
    from rootline.pipeline import ingest_paths as ingest_many

    state = _state(ctx)
    if state.db_url is None and not state.settings.database_url:
        state.db_url = f"sqlite:///{state.settings.data_dir / 'demo.db'}"
    if "currency" not in state.settings.model_fields_set:
        # The bundled shop's customer values are in pounds.
        state.settings = state.settings.model_copy(update={"currency": "GBP"})
    embedder = build_embedder(state.settings)  # loaded once: clustering, then finding themes
    with progress_bar() as bar:
        with session_scope(state.sessions) as session:
            task = bar.add_task("loading demo data", total=None)
            for path, source in demo_paths():
                ingest_many(
                    session,
                    [path],
                    source=source,
                    progress=lambda k: bar.advance(task, k),
                    options=build_ingest_options(state.settings),
                )
            load_demo_impact(
                session, demo_paths()[0][0].parent, build_ingest_options(state.settings)
            )
        cluster_job(
            state.sessions,
            state.settings,
            full=True,
            embedder=embedder,
            progress=_cluster_progress(bar),
        )
        story = bar.add_task("teams, rules and problems", total=1)
        with session_scope(state.sessions) as session:
            accounts = create_demo_users(session, state.settings.demo_password)
        report = play_story(state.sessions, state.settings, embedder)
        bar.advance(story)
    with session_scope(state.sessions) as session:
        print_summary(out_console, session, report, accounts)
    if not no_serve:
        _serve(state, host, port, accounts)


problems_app = register_problems(app)
register_teams(app, problems_app)
register_users(app)
register_themes(app)
register_customers(app)
register_triage(app)
register_transfer(app)
register_doctor(app)
register_impact(app)


def proxy_options(settings: Settings) -> tuple[bool, str | None]:
    """uvicorn's ``proxy_headers`` and ``forwarded_allow_ips``: forwarded headers are believed
    only from the configured proxies.

    uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 by default, so any local client could
    claim any address and slip past the sign-in throttle.
    """
    proxies = [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]
    if not proxies:
        return False, None
    return True, ",".join(proxies)


#: Options of the ``rootline`` group itself; users type them after the command too.
_GLOBAL_FLAGS = frozenset({"--debug"})
_GLOBAL_VALUED = frozenset({"--db"})


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move ``--db URL`` and ``--debug`` written after the command to before it.

    ``rootline ingest FILE --db URL`` then means ``rootline --db URL ingest FILE``, as the
    README promises every command takes ``--db``. Nothing after ``--`` is touched.
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        name = arg.split("=", 1)[0]
        if arg in _GLOBAL_FLAGS or (name in _GLOBAL_VALUED and "=" in arg):
            front.append(arg)
        elif arg in _GLOBAL_VALUED and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def run() -> None:
    """Console entry point: one-line errors and exit code 2 for bad input or usage."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("ROOTLINE_DEBUG") == "1"
    try:
        app(args=hoist_global_options(sys.argv[1:]), standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument, ...
        if debug:
            raise
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message.strip():  # empty when the help was shown for a bare `rootline`
            err_console.print(f"error: {message}", markup=False)
        sys.exit(2)
    except RootlineError as exc:
        if debug:
            raise
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        err_console.print(
            f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", markup=False
        )
        sys.exit(1)
