"""``rootline theme ...`` (people's edits to themes) and ``rootline alerts``.

Commands parse, call a ``rootline.clustering`` service and render. Edits are recorded in each
theme's history as ``cli:<login>``.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rootline.cli.console import out_console
from rootline.cli.context import JsonOpt, app_state, cli_actor
from rootline.db import session_scope
from rootline.errors import InputError

if TYPE_CHECKING:
    from rootline.clustering.schemas import ThemeOut

__all__ = ["alerts", "register", "theme_app"]

theme_app = typer.Typer(
    help="Review themes: rename, merge, split, move, mark as noise, accept.", no_args_is_help=True
)


def _show(themes: ThemeOut | list[ThemeOut], as_json: bool) -> None:
    items = themes if isinstance(themes, list) else [themes]
    if as_json:
        data: Any = [t.model_dump(exclude={"examples"}) for t in items]
        print(json.dumps(data if isinstance(themes, list) else data[0]))
        return
    for t in items:
        out_console.print(f"theme {t.id} [{t.status}] size {t.size}: {t.title}", markup=False)


@theme_app.command("rename")
def rename(ctx: typer.Context, theme_id: int, title: str, as_json: JsonOpt = False) -> None:
    """Give a theme a title; automatic relabelling never overwrites it."""
    from rootline.clustering.curation import rename_theme

    with session_scope(app_state(ctx).sessions) as session:
        _show(rename_theme(session, theme_id, title, actor=cli_actor()), as_json)


@theme_app.command("merge")
def merge(
    ctx: typer.Context,
    theme_id: int,
    into: Annotated[int, typer.Option("--into", help="The theme that absorbs it.")],
    as_json: JsonOpt = False,
) -> None:
    """Merge a theme into another; its contacts move there and stay on later runs."""
    from rootline.clustering.curation import merge_themes

    with session_scope(app_state(ctx).sessions) as session:
        _show(merge_themes(session, theme_id, into, actor=cli_actor()), as_json)


@theme_app.command("split")
def split(ctx: typer.Context, theme_id: int, as_json: JsonOpt = False) -> None:
    """Re-cluster one theme's contacts into new themes."""
    from rootline.clustering.curation import split_theme
    from rootline.pipeline import build_clusterer

    state = app_state(ctx)
    with session_scope(state.sessions) as session:
        _show(
            split_theme(session, theme_id, build_clusterer(state.settings), actor=cli_actor()),
            as_json,
        )


@theme_app.command("move")
def move(
    ctx: typer.Context,
    interaction_ids: Annotated[list[int], typer.Argument(help="Interaction ids to move.")],
    to: Annotated[int, typer.Option("--to", help="The theme to place them in.")],
    as_json: JsonOpt = False,
) -> None:
    """Place interactions in a theme by hand; later runs keep them there."""
    from rootline.clustering.curation import move_interactions

    with session_scope(app_state(ctx).sessions) as session:
        _show(move_interactions(session, interaction_ids, to, actor=cli_actor()), as_json)


@theme_app.command("noise")
def noise(ctx: typer.Context, theme_id: int, as_json: JsonOpt = False) -> None:
    """Mark a theme as "not a theme": its contacts and look-alikes stay unthemed."""
    from rootline.clustering.curation import mark_noise

    with session_scope(app_state(ctx).sessions) as session:
        _show(mark_noise(session, theme_id, actor=cli_actor()), as_json)


@theme_app.command("accept")
def accept(ctx: typer.Context, theme_id: int, as_json: JsonOpt = False) -> None:
    """Make a proposed theme (found among new contacts) an active one."""
    from rootline.clustering.curation import accept_proposed

    with session_scope(app_state(ctx).sessions) as session:
        _show(accept_proposed(session, theme_id, actor=cli_actor()), as_json)


@theme_app.command("history")
def history(ctx: typer.Context, theme_id: int, as_json: JsonOpt = False) -> None:
    """What runs and people did to a theme, oldest first."""
    from rootline.clustering.history import theme_history

    with session_scope(app_state(ctx).sessions) as session:
        events = theme_history(session, theme_id)
    if as_json:
        print(json.dumps([e.model_dump(mode="json") for e in events]))
        return
    for e in events:
        details = ", ".join(f"{k} {v}" for k, v in e.details.items())
        run = f" run {e.run_id}" if e.run_id else ""
        out_console.print(
            f"{e.at:%Y-%m-%d %H:%M} {e.kind:12} {e.actor}{run} {details}", markup=False
        )


def alerts(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Day to judge, YYYY-MM-DD (default: the newest contact's)."),
    ] = None,
) -> None:
    """Emerging and spiking themes, strongest first.

    Spikes: the last 7, 14 and 21 days, each against the 8 weeks before it (exact conditional
    Poisson test, Holm at 5% over themes x windows, at least a 2x rise).
    """
    from rootline.clustering.alerts import theme_alerts

    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise InputError(f"--as-of must be a date YYYY-MM-DD, not {as_of!r}") from None
    with session_scope(app_state(ctx).sessions) as session:
        found = theme_alerts(session, as_of=day)
    if as_json:
        print(json.dumps([a.as_dict() for a in found]))
        return
    if not found:
        out_console.print("no emerging or spiking themes")
    for a in found:
        figures = (
            f"{a.recent_count} in the last {a.window_days} days vs {a.baseline_mean} "
            f"expected from the {a.baseline_weeks} weeks before, {a.ratio}x"
            if a.kind == "spike"
            else f"{a.recent_count} since {a.first_seen}"
        )
        out_console.print(
            f"{a.kind:5} theme {a.theme_id} score {a.score}: {a.title} "
            f"({figures}, p={a.p_value:.2g})",
            markup=False,
        )


def register(app: typer.Typer) -> None:
    """Add these commands to the root ``rootline`` app."""
    app.add_typer(theme_app, name="theme")
    app.command("alerts")(alerts)
