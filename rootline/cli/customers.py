"""``rootline customers``: a customer's right to erasure."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from rootline.cli.console import out_console
from rootline.cli.context import JsonOpt, app_state, cli_actor, print_json
from rootline.db import session_scope
from rootline.errors import InputError

__all__ = ["customers_app", "register"]

customers_app = typer.Typer(help="Customers: erasure of their data.", no_args_is_help=True)


@customers_app.command("erase")
def erase(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="The customer's id.", min=1)],
    yes: Annotated[
        bool, typer.Option("--yes", help="Erase without asking (nothing can bring it back).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase a customer's texts and personal data everywhere; their contacts stay counted.

    Subjects, texts and extra fields of their contacts, their e-mails, phones, account ids and
    name, and the cached vectors of their texts are removed; dates, channels, CSAT and themes
    stay, so volumes and trends do not change.
    """
    from rootline.clustering.vector_index import discard_saved_indexes, index_folder
    from rootline.rootcause.erasure import erase_customer

    if not yes and not typer.confirm(f"Erase customer {customer_id}? This cannot be undone"):
        raise InputError("nothing erased", field="--yes")
    with session_scope(app_state(ctx).sessions) as session:
        done = erase_customer(session, customer_id, actor=cli_actor())
    # The saved search index holds the erased texts' vectors; the next search rebuilds it.
    discard_saved_indexes(index_folder(app_state(ctx).settings.data_dir))
    if as_json:
        print_json(asdict(done))
        return
    out_console.print(
        f"customer {customer_id} erased: {done.contacts} contacts emptied, "
        f"{done.identities} identities and {done.vectors} cached vectors removed",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``customers`` to the root app."""
    app.add_typer(customers_app, name="customers")
