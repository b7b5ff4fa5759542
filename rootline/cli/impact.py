"""``rootline figures``, ``forecast``, ``surveys`` and ``accounts``: what themes cost, what is
coming, where customers are served best, and an account owner's book.

Commands parse, call a ``rootline.rootcause`` service and render; the definitions of the
figures are in the README ("Figures by dimension").
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from rootline.cli.console import out_console
from rootline.cli.context import JsonOpt, app_state, parse_date, print_json
from rootline.db import begin_writing, session_scope

__all__ = ["register"]

SinceOpt = Annotated[
    str | None, typer.Option("--since", help="First day of the window, YYYY-MM-DD (UTC).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Last day of the window, YYYY-MM-DD (included).")
]
surveys_app = typer.Typer(
    help="Short post-contact surveys: load answers, rank service quality.", no_args_is_help=True
)


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """The window's start and its end, exclusive (the day after --until), in UTC."""
    start = datetime.combine(parse_date(since, "--since"), time(), UTC) if since else None
    end = (
        datetime.combine(parse_date(until, "--until") + timedelta(days=1), time(), UTC)
        if until
        else None
    )
    return start, end


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def figures(
    ctx: typer.Context,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="theme, problem, channel, source, segment, agent, or an extra field "
            "(product, region, team ...).",
        ),
    ] = "theme",
    since: SinceOpt = None,
    until: UntilOpt = None,
    theme: Annotated[
        list[int] | None, typer.Option("--theme", help="Only this theme's contacts (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Customer figures per theme, problem, channel, segment, region, product, team ..."""
    from rootline.rootcause.breakdown import breakdown

    state = app_state(ctx)
    start, end = _window(since, until)
    with session_scope(state.sessions) as session:
        found = breakdown(
            session,
            by,
            since=start,
            until=end,
            theme_ids=theme or None,
            costs=state.settings.contact_costs,
        )
    if as_json:
        print_json(found.as_dict())
        return
    from rich.table import Table

    cur = state.settings.currency
    table = Table(
        by,
        "contacts",
        "share",
        "customers",
        "wow",
        "repeat",
        "FCR",
        "CSAT",
        "hours",
        f"cost {cur}",
        f"at risk {cur}",
        "churned",
        "churn vs similar",
        "top box",
        title=f"{found.total_contacts} contacts, CSAT baseline {_num(found.csat_baseline, 2)}",
    )
    for g in found.groups:
        table.add_row(
            g.label,
            str(g.contacts),
            _pct(g.share),
            str(g.unique_customers),
            _pct(g.week_over_week),
            _pct(g.repeat_contact_rate),
            _pct(g.first_contact_resolution),
            _num(g.csat, 2),
            _num(g.median_hours_to_resolve),
            _num(g.contact_cost, 0),
            _num(g.value_at_risk, 0),
            str(g.churned_customers),
            f"{_pct(g.churn_rate)} vs {_pct(g.baseline_churn_rate)}",
            _pct(g.top_box_rate),
        )
    out_console.print(table)


def forecast(
    ctx: typer.Context,
    theme_ids: Annotated[
        list[int] | None, typer.Argument(help="Themes to forecast (default: every active one).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Each theme's expected contacts for the next 4 weeks, with a 90% interval and the
    back-test error of the model."""
    from rootline.clustering.service import list_themes
    from rootline.rootcause.forecast import theme_forecasts

    with session_scope(app_state(ctx).sessions) as session:
        themes = list_themes(session)
        titles = {t.id: t.title for t in themes}
        ids = theme_ids or [t.id for t in themes]
        found = theme_forecasts(session, ids)
    if as_json:
        print_json(
            [
                {"theme_id": tid, "title": titles.get(tid)}
                | (f.as_dict() if f else {"weeks": [], "method": None, "backtest": None})
                for tid, f in found.items()
            ]
        )
        return
    for tid, f in found.items():
        name = f"theme {tid}: {titles.get(tid, '')}"
        if f is None:
            out_console.print(f"{name}: too little history to forecast", markup=False)
            continue
        weeks = ", ".join(
            f"{w.week_start:%d %b} {w.expected:.0f} ({w.low:.0f}-{w.high:.0f})" for w in f.weeks
        )
        bt = f.backtest
        check = (
            f"; back-test error {bt.mae:.1f}/week (4-week mean: {bt.naive_mae:.1f}), "
            f"{bt.coverage:.0%} inside the band"
            if bt
            else ""
        )
        out_console.print(f"{name}: {weeks} [{f.method}{check}]", markup=False)


@surveys_app.command("import")
def surveys_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV: source, external_id, question, answer ...")],
    as_json: JsonOpt = False,
) -> None:
    """Load survey answers; each names the interaction (source and external_id) it is about."""
    from rootline.errors import InputError
    from rootline.rootcause.surveys import import_surveys, read_survey_csv

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with session_scope(app_state(ctx).sessions) as session:
        begin_writing(session)
        load = import_surveys(session, read_survey_csv(path), name=str(path))
    if as_json:
        print_json(load.as_dict())
        return
    out_console.print(
        f"{load.read} answers read: {load.inserted} added, {load.updated} updated, "
        f"{load.unmatched} about no known interaction"
        + (f" (lines {', '.join(map(str, load.unmatched_lines))})" if load.unmatched else ""),
        markup=False,
    )


@surveys_app.command("rank")
def surveys_rank(
    ctx: typer.Context,
    by: Annotated[
        str, typer.Option("--by", help="team, region, branch, agent, channel ... to rank.")
    ] = "team",
    since: SinceOpt = None,
    until: UntilOpt = None,
    min_answers: Annotated[
        int, typer.Option("--min-answers", min=1, help="Fewer answers: not ranked.")
    ] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Where customers are served best and worst: top-box satisfaction and contact rate."""
    from rootline.rootcause.surveys import service_quality

    start, end = _window(since, until)
    with session_scope(app_state(ctx).sessions) as session:
        ranks = service_quality(session, by, since=start, until=end, min_answers=min_answers)
    if as_json:
        print_json([r.as_dict() for r in ranks])
        return
    from rich.table import Table

    table = Table(
        "rank", by, "answers", "top box", "95% interval", "NPS", "contacts/customer", "rank"
    )
    for r in ranks:
        interval = (
            f"{_pct(r.top_box_low)}-{_pct(r.top_box_high)}" if r.top_box_low is not None else "-"
        )
        table.add_row(
            str(r.satisfaction_rank or "-"),
            r.label,
            str(r.top_box_answers),
            _pct(r.top_box_rate),
            interval,
            _num(r.nps, 0),
            _num(r.contacts_per_customer, 2),
            str(r.contact_rate_rank or "-"),
        )
    out_console.print(table)


def accounts(
    ctx: typer.Context,
    owner: Annotated[
        str | None, typer.Argument(help="The account owner (default: list every owner).")
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Account owners' books: customers gained and lost, referrals, tier moves, the themes
    and open problems touching their customers."""
    from rootline.errors import InputError
    from rootline.rootcause.accounts import account_book, account_owners

    state = app_state(ctx)
    start, end = _window(since, until)
    with session_scope(state.sessions) as session:
        if owner is None:
            owners = account_owners(session)
            if as_json:
                print_json([o.__dict__ for o in owners])
                return
            for o in owners:
                out_console.print(
                    f"{o.owner}: {o.customers} customers, value {_num(o.value, 0)}", markup=False
                )
            return
        book = account_book(
            session, owner, since=start, until=end, costs=state.settings.contact_costs
        )
    if book is None:
        raise InputError(f"no customer has account owner {owner!r}", field="OWNER")
    if as_json:
        print_json(book.as_dict())
        return
    cur = state.settings.currency
    lines: list[Any] = [
        f"{book.owner}: {book.customers} customers, book value {_num(book.book_value, 0)} {cur}",
        f"  contacts {book.contacts} from {book.contacting_customers} customers",
        f"  gained {book.gained_customers} ({_num(book.value_gained, 0)} {cur}), "
        f"lost {book.lost_customers} ({_num(book.value_lost, 0)} {cur})",
        f"  referrals {book.referrals}, upgrades {book.upgrades}, downgrades {book.downgrades}",
    ]
    lines += [
        f"  theme {g.key} {g.label}: {g.contacts} contacts, {g.unique_customers} customers"
        for g in book.themes.groups[:10]
    ]
    lines += [
        f"  problem #{p.id} [{p.priority} {p.state}] {p.title}: {p.customers} customers"
        for p in book.problems
    ]
    for line in lines:
        out_console.print(line, markup=False)


def impact_weights(
    ctx: typer.Context,
    changes: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAME=WEIGHT]...", help="New weights, e.g. contacts=0.4 trend=0.2."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the impact score's weights, or change some (all are then scaled to add up to 1)."""
    from rootline.cli.context import cli_actor
    from rootline.errors import InputError
    from rootline.rootcause.impact import COMPONENT_WORDS, impact_weights, set_impact_weights

    given: dict[str, float] = {}
    for change in changes or []:
        name, sep, value = change.partition("=")
        try:
            given[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"{change!r} is not NAME=WEIGHT", field="NAME=WEIGHT") from None
        if not sep:
            raise InputError(f"{change!r} is not NAME=WEIGHT", field="NAME=WEIGHT")
    with session_scope(app_state(ctx).sessions) as session:
        if given:
            begin_writing(session)
            weights = set_impact_weights(session, given, actor=cli_actor())
        else:
            weights = impact_weights(session)
    if as_json:
        print_json(weights)
        return
    for name, weight in weights.items():
        out_console.print(f"{name:16} {weight:.2f}  ({COMPONENT_WORDS[name][1]})", markup=False)


#: The demo's CRM owners, customer events and survey answers (``fixtures/generate_demo_impact.py``).
DEMO_IMPACT_FILES = ("demo_account_owners.csv", "demo_events.csv")
DEMO_SURVEYS = "demo_surveys.csv"


def load_demo_impact(session: Any, folder: Path, options: Any) -> None:
    """Load the demo's account owners, customer events and survey answers (after its contacts,
    whose customers they name by e-mail and whose ids the answers name)."""
    from rootline.pipeline import ingest_paths
    from rootline.rootcause.surveys import import_surveys, read_survey_csv

    ingest_paths(
        session, [folder / name for name in DEMO_IMPACT_FILES], source="crm", options=options
    )
    import_surveys(session, read_survey_csv(folder / DEMO_SURVEYS), name=DEMO_SURVEYS)


def register(app: typer.Typer) -> None:
    """Add these commands to the root ``rootline`` app."""
    app.command("figures")(figures)
    app.command("forecast")(forecast)
    app.command("accounts")(accounts)
    app.command("impact-weights")(impact_weights)
    app.add_typer(surveys_app, name="surveys")
