"""``rootline triage``: which known theme a new contact belongs to, and what to do about it."""

from __future__ import annotations

from typing import Annotated

import typer

from rootline.cli.console import out_console
from rootline.cli.context import JsonOpt, app_state, print_json
from rootline.db import session_scope

__all__ = ["register"]


def triage(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="The new contact's words.", show_default=False)],
    customer: Annotated[
        str | None, typer.Option("--customer", help="The customer's e-mail address.")
    ] = None,
    subject: Annotated[
        str | None, typer.Option("--subject", help="The contact's subject line, if any.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Triage a new contact: its theme (or new), the open problem, the workaround, similar
    resolved contacts and the customer's recent contacts."""
    from rootline.pipeline import build_embedder
    from rootline.rootcause.triage import triage as triage_contact

    state = app_state(ctx)
    embedder = build_embedder(state.settings)
    with session_scope(state.sessions) as session:
        found = triage_contact(
            session,
            embedder,
            text,
            customer_email=customer,
            redact=state.settings.redact_pii,
            subject=subject,
        )
    if as_json:
        print_json(found.as_dict())
        return
    if found.theme_id is None:
        out_console.print(
            f"new: no theme yet (closest at {found.confidence:.2f}, floor {found.floor:.2f})",
            markup=False,
        )
    else:
        out_console.print(
            f"theme #{found.theme_id} {found.theme_title!r} (confidence {found.confidence:.2f})",
            markup=False,
        )
    if found.problem:
        p = found.problem
        out_console.print(
            f"problem #{p['id']} {p['title']!r}: {p['state']}, "
            f"{p['business_team']} / {p['is_team']}",
            markup=False,
        )
    if found.workaround:
        out_console.print(f"workaround: {found.workaround['workaround']}", markup=False)
    for s in found.similar:
        out_console.print(
            f"similar #{s['interaction_id']} ({s['similarity']:.2f}): {s['text'][:100]}",
            markup=False,
        )
    if found.customer:
        c = found.customer
        out_console.print(
            f"customer #{c['id']}: {len(c['recent'])} recent contacts, "
            f"{len(c['open_problems'])} open problems",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add ``triage`` to the root app."""
    app.command("triage")(triage)
