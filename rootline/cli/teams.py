"""``rootline teams`` and ``rootline rules``: the owner teams and the rules that route to them.

Rules are also reachable as ``rootline problems rules``: they belong to the problem workflow.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rootline.cli.console import out_console
from rootline.cli.context import JsonOpt, app_state, cli_actor, print_json
from rootline.db import session_scope
from rootline.errors import InputError

__all__ = ["register", "rules_app", "teams_app"]

rules_app = typer.Typer(
    help="Routing rules that send problems to owner teams.", no_args_is_help=True
)
teams_app = typer.Typer(help="Business, IS and triage teams.", no_args_is_help=True)


@rules_app.command("import")
def rules_import(ctx: typer.Context, path: Path) -> None:
    """Replace the routing rules (and add or update teams) from a YAML file."""
    from rootline.rootcause.routing import import_rules_yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None
    with session_scope(app_state(ctx).sessions) as session:
        try:
            rules = import_rules_yaml(session, text, actor=cli_actor())
        except InputError as exc:
            raise InputError(str(exc), path=str(path)) from None
    out_console.print(f"{len(rules)} routing rules imported", markup=False)


@rules_app.command("export")
def rules_export(ctx: typer.Context) -> None:
    """Print the teams and routing rules as YAML."""
    from rootline.rootcause.routing import export_rules_yaml

    with session_scope(app_state(ctx).sessions) as session:
        sys.stdout.write(export_rules_yaml(session))


@teams_app.command("add")
def teams_add(
    ctx: typer.Context,
    name: str,
    kind: Annotated[str, typer.Option(help="business, is, triage or board.")] = "business",
    lead: Annotated[str | None, typer.Option(help="Lead's e-mail (an existing user).")] = None,
    email: Annotated[str | None, typer.Option(help="Where the team's mail goes.")] = None,
    webhook: Annotated[str | None, typer.Option(help="The team's webhook URL.")] = None,
) -> None:
    """Add a team."""
    from rootline.rootcause.teams import create_team

    with session_scope(app_state(ctx).sessions) as session:
        team = create_team(
            session,
            name,
            kind,
            lead_email=lead,
            email=email,
            webhook_url=webhook,
            actor=cli_actor(),
        )
        out_console.print(f"team {team.id} {team.name} ({team.kind}) added", markup=False)


@teams_app.command("list")
def teams_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List teams."""
    from rootline.rootcause.schemas import TeamOut
    from rootline.rootcause.teams import list_teams

    with session_scope(app_state(ctx).sessions) as session:
        items = [TeamOut.of(t) for t in list_teams(session)]
    if as_json:
        print_json([t.model_dump() for t in items])
        return
    for t in items:
        out_console.print(f"{t.id:4} {t.kind:9} {t.name}  lead {t.lead or '-'}", markup=False)


def register(app: typer.Typer, problems_app: typer.Typer) -> None:
    """Add ``rules`` and ``teams`` to the root app, and ``rules`` under ``problems``."""
    problems_app.add_typer(rules_app, name="rules")
    app.add_typer(rules_app, name="rules")
    app.add_typer(teams_app, name="teams")
