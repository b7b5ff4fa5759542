"""What every command shares: the state the root callback builds, who acts, JSON output."""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from rootline.config import Settings
from rootline.db import make_engine, make_session_factory, migrate
from rootline.errors import InputError

__all__ = ["AppState", "JsonOpt", "app_state", "cli_actor", "parse_date", "print_json"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@dataclass
class AppState:
    """What every command needs, built once per invocation from the global options."""

    settings: Settings
    db_url: str | None = None
    debug: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.db_url or self.settings.resolved_database_url())
            migrate(self._engine)
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)


def app_state(ctx: typer.Context) -> AppState:
    """The state the root callback put on the context."""
    return ctx.ensure_object(AppState)


def cli_actor() -> str:
    """Who a command's changes are recorded as in audit trails: ``cli:<login>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def print_json(data: Any) -> None:
    """One JSON document on stdout (dates and other values as strings)."""
    print(json.dumps(data, default=str, indent=2))


def parse_date(text: str, option: str) -> date:
    """A YYYY-MM-DD option value.

    Raises:
        InputError: naming the option, when the text is not such a date.
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None
