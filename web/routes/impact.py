"""Customer impact pages beside their JSON twins: figures by dimension, forecasts, service
quality from surveys, and account owners' books.

Every page reads through the loaders of :mod:`rootline.web.insight`; the JSON answers are the
services' own ``as_dict`` figures, so the page, its CSV and its JSON agree.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, File, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from rootline.clustering.service import list_themes
from rootline.errors import InputError, NotFoundError
from rootline.rootcause.impact import COMPONENT_WORDS, WEIGHTS, impact_weights, set_impact_weights
from rootline.rootcause.models import ProblemTheme, User
from rootline.rootcause.surveys import import_surveys
from rootline.web import insight
from rootline.web.deps import (
    Renderer,
    RowId,
    SessionDep,
    csv_response,
    flash,
    get_figures,
    wants_csv,
)
from rootline.web.insight import Window
from rootline.web.permissions import CurrentUser
from rootline.web.refusals import COMMON, refusals

__all__ = ["router"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["impact"], responses=COMMON)

#: Roles that see every account owner's book; others see only their own.
_ALL_BOOKS = frozenset({"admin", "support_lead", "product_owner"})
#: Largest survey file the page takes.
_MAX_SURVEY_BYTES = 10 * 1024 * 1024

WindowDep = Annotated[Window, Depends(insight.window)]
ByQuery = Annotated[
    str,
    Query(
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="theme, problem, channel, source, segment, agent, or an extra field "
        "(product, region, team ...).",
    ),
]
ThemeQuery = Annotated[
    str, Query(max_length=500, description="Only these themes' contacts: ids, comma-separated.")
]
_BAD_INPUT = refusals(400, s400="A date, a dimension or a theme id that cannot be read.")


def may_see_book(user: User, owner: str) -> bool:
    """Leads, admins and product owners see every book; anyone else only the book named by
    their own name or e-mail address."""
    if user.role in _ALL_BOOKS:
        return True
    mine = {user.name.strip().lower(), user.email.strip().lower()} - {""}
    return owner.strip().lower() in mine


def _book_owner(owner: str, user: CurrentUser) -> str:
    # Not found rather than forbidden: the answer does not tell who else owns accounts.
    if not may_see_book(user, owner):
        raise NotFoundError(f"no account book of {owner!r} that you may see")
    return owner


BookOwner = Annotated[str, Depends(_book_owner)]


# --- figures by dimension -------------------------------------------------------------------


@pages.get("/impact", name="impact_page")
def impact_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    win: WindowDep,
    by: ByQuery = "theme",
    theme: ThemeQuery = "",
    show: Annotated[int, Query(ge=1, le=100_000, description="Groups shown.")] = 50,
) -> Response:
    """Contacts, customers, repeats, CSAT, cost, value and churn per theme, channel, region..."""
    ids = insight.theme_ids_of(theme)
    found = insight.cached_breakdown(request, session, by, win, ids)
    if wants_csv(request):
        names = [f for f in found.groups[0].as_dict() if f != "weekly"] if found.groups else []
        return csv_response(
            f"figures-by-{by}",
            names,
            ([g.as_dict()[n] for n in names] for g in found.groups),
        )
    shown = found.groups[:show]
    return render(
        "impact.html",
        nav="impact",
        found=found,
        shown=shown,
        more=len(found.groups) - len(shown),
        by=by,
        win=win,
        theme=theme,
        choices=insight.dimension_choices(by),
        contact_bars=insight.bars([(g.label, g.contacts) for g in shown]),
        cost_bars=insight.bars([(g.label, g.contact_cost) for g in shown]),
        definitions_list=insight.DEFINITIONS,
    )


@pages.get("/impact/panel", name="impact_panel")
def impact_panel(
    request: Request,
    session: SessionDep,
    render: Renderer,
    theme: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    problem: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """The figures of one theme or problem as an HTML fragment (the theme and problem pages
    load it after they are shown)."""
    if (theme is None) == (problem is None):
        raise InputError("give one of theme and problem", field="theme")
    if theme is not None:
        by, key, ids = "theme", str(theme), [theme]
    else:
        by, key = "problem", str(problem)
        ids = list(
            session.scalars(
                sa.select(ProblemTheme.theme_id).where(ProblemTheme.problem_id == problem)
            )
        )
    found = insight.cached_breakdown(request, session, by, Window(), ids) if ids else None
    group = next((g for g in found.groups if g.key == key), None) if found else None
    more = "/impact?" + urlencode({"by": "channel", "theme": ",".join(map(str, ids))})
    return render("_impact_panel.html", g=group, more=more)


@api.get("/api/impact", name="api_impact", responses=_BAD_INPUT)
def figures_api(
    request: Request,
    session: SessionDep,
    win: WindowDep,
    by: ByQuery = "theme",
    theme: ThemeQuery = "",
) -> dict[str, Any]:
    """Figures per theme, problem, channel, source, segment, agent or extra field, over a
    window; the README defines each figure."""
    ids = insight.theme_ids_of(theme)
    return insight.cached_breakdown(request, session, by, win, ids).as_dict()


# --- forecast -------------------------------------------------------------------------------


@pages.get("/forecast", name="forecast_page")
def forecast_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    theme: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Expected contacts of each theme for the next 4 weeks, with the band and the back-test."""
    themes = {t.id: t for t in list_themes(session)}
    if theme is not None and theme not in themes:
        raise NotFoundError(f"no active theme {theme}")
    ids = [theme] if theme is not None else list(themes)
    found = insight.cached_forecasts(request, session, ids)
    rows = sorted(
        ((themes[tid], f) for tid, f in found.items() if f is not None),
        key=lambda r: -sum(w.expected for w in r[1].weeks),
    )
    if wants_csv(request):
        return csv_response(
            "forecast",
            ["theme_id", "title", "week_start", "expected", "low", "high", "method", "mae"],
            (
                [
                    t.id,
                    t.title,
                    w.week_start,
                    w.expected,
                    w.low,
                    w.high,
                    f.method,
                    f.backtest.mae if f.backtest else None,
                ]
                for t, f in rows
                for w in f.weeks
            ),
        )
    shown = rows if theme is not None else rows[:12]
    charts = {
        t.id: insight.forecast_chart(insight.recent_weeks(session, t.id, f), f)
        for t, f in shown
        if f.weeks
    }
    return render(
        "forecast.html",
        nav="impact",
        rows=rows,
        charts=charts,
        shown={t.id for t, _ in shown},
        theme=theme,
        short=sum(1 for f in found.values() if f is None),
    )


@pages.get("/forecast/{theme_id}.svg", name="forecast_svg")
def forecast_svg(request: Request, session: SessionDep, theme_id: RowId) -> Response:
    """A theme's last weeks and forecast band as a standalone SVG picture (for the theme
    page, which shows it as an image)."""
    found = insight.cached_forecasts(request, session, [theme_id]).get(theme_id)
    band = (
        insight.forecast_chart(insight.recent_weeks(session, theme_id, found), found)
        if found
        else None
    )
    summary = band.summary if band else "Under 8 weeks of history: no forecast yet."
    body = request.app.state.templates.get_template("forecast_band_svg.html").render(
        band=band, summary=summary, width=560, height=160
    )
    return Response(body, media_type="image/svg+xml")


@api.get("/api/forecast", name="api_forecasts")
def forecasts_api(request: Request, session: SessionDep) -> list[dict[str, Any]]:
    """Every active theme's forecast for the next 4 weeks (``forecast`` null: under 8 weeks
    of history)."""
    themes = list_themes(session)
    found = insight.cached_forecasts(request, session, [t.id for t in themes])
    return [
        {"theme_id": t.id, "title": t.title, "forecast": f.as_dict() if f else None}
        for t in themes
        for f in [found.get(t.id)]
    ]


@api.get(
    "/api/themes/{theme_id}/forecast",
    name="api_theme_forecast",
    responses=refusals(404, s404="No theme with this id."),
)
def theme_forecast_api(request: Request, session: SessionDep, theme_id: RowId) -> dict[str, Any]:
    """One theme's forecast for the next 4 weeks, its method and its back-test error."""
    from rootline.clustering.models import Theme

    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFoundError(f"no theme {theme_id}")
    found = insight.cached_forecasts(request, session, [theme_id]).get(theme_id)
    return {
        "theme_id": theme_id,
        "title": theme.title,
        "forecast": found.as_dict() if found else None,
    }


# --- service quality --------------------------------------------------------------------------


@pages.get("/service", name="service_page")
def service_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    win: WindowDep,
    by: ByQuery = "team",
    min_answers: Annotated[int, Query(ge=1, le=10_000)] = 5,
) -> Response:
    """Teams, regions or branches ranked by top-box satisfaction and by contact rate."""
    ranks = insight.cached_quality(request, session, by, win, min_answers)
    if wants_csv(request):
        names = list(ranks[0].as_dict()) if ranks else []
        return csv_response(
            f"service-by-{by}", names, ([r.as_dict()[n] for n in names] for r in ranks)
        )
    return render(
        "service.html",
        nav="impact",
        ranks=ranks,
        by=by,
        win=win,
        min_answers=min_answers,
        choices=insight.dimension_choices(by),
        top_bars=insight.bars([(r.label, r.top_box_rate) for r in ranks]),
    )


@api.get("/api/service", name="api_service", responses=_BAD_INPUT)
def service_api(
    request: Request,
    session: SessionDep,
    win: WindowDep,
    by: ByQuery = "team",
    min_answers: Annotated[int, Query(ge=1, le=10_000)] = 5,
) -> list[dict[str, Any]]:
    """Service quality ranking: top-box satisfaction (95% Wilson interval) and contacts per
    customer, for each team, region, branch ..."""
    return [r.as_dict() for r in insight.cached_quality(request, session, by, win, min_answers)]


@pages.post("/service/surveys", name="survey_import")
async def survey_import(
    request: Request, session: SessionDep, file: Annotated[UploadFile, File()]
) -> Response:
    """Load a survey CSV (source, external_id, question, answer, scale, responded_at)."""
    data = await file.read(_MAX_SURVEY_BYTES + 1)
    if len(data) > _MAX_SURVEY_BYTES:
        raise InputError("the survey file is over 10 MiB", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("the survey file is not UTF-8 text", field="file") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    reader.fieldnames = header
    name = file.filename or "surveys.csv"
    missing = [c for c in ("source", "external_id", "question", "answer") if c not in header]
    if missing:
        raise InputError(f"{name}: line 1: missing column(s) {', '.join(missing)}", field="file")
    rows = (
        (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader
    )
    load = import_surveys(session, rows, name=name)
    flash(
        request,
        f"{load.read} answers read: {load.inserted} added, {load.updated} updated, "
        f"{load.unmatched} about no known contact.",
    )
    return RedirectResponse("/service", status_code=303)


# --- impact score weights ---------------------------------------------------------------------


def _weights_context(session: SessionDep) -> list[dict[str, Any]]:
    current = impact_weights(session)
    return [
        {
            "name": name,
            "label": COMPONENT_WORDS[name][0],
            "basis": COMPONENT_WORDS[name][1],
            "weight": current[name],
            "default": WEIGHTS[name],
        }
        for name in WEIGHTS
    ]


@pages.get("/impact/weights", name="weights_page")
def weights_page(request: Request, session: SessionDep, render: Renderer) -> Response:
    """How much each component counts in the impact score; admins change it here."""
    return render("weights.html", nav="impact", weights=_weights_context(session))


@pages.post("/impact/weights", name="weights_update")
async def weights_update(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Store the weights of the form (scaled to add up to 1)."""
    form = await request.form()
    given: dict[str, float] = {}
    for name in WEIGHTS:
        raw = str(form.get(name, "")).strip()
        if raw:
            try:
                given[name] = float(raw)
            except ValueError:
                raise InputError(
                    f"the weight of {name} is not a number: {raw!r}", field=name
                ) from None
    new = set_impact_weights(session, given, actor=user.email)
    get_figures(request).clear()  # every cached score used the old weights
    flash(request, "Weights saved: " + ", ".join(f"{k} {v:.2f}" for k, v in new.items()) + ".")
    return RedirectResponse("/impact/weights", status_code=303)


@api.get("/api/impact/weights", name="api_weights")
def weights_api(session: SessionDep) -> dict[str, float]:
    """The impact score's weights, adding up to 1."""
    return impact_weights(session)


@api.put("/api/impact/weights", name="api_weights_update", responses=_BAD_INPUT)
def weights_update_api(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    weights: Annotated[
        dict[str, float], Body(description="Component -> weight; scaled to add up to 1.")
    ],
) -> dict[str, float]:
    """Change the weights (admins): components not named keep theirs; all are then scaled to
    add up to 1. Problems keep the score they were opened with."""
    new = set_impact_weights(session, weights, actor=user.email)
    get_figures(request).clear()
    return new


# --- account owners ---------------------------------------------------------------------------


@pages.get("/accounts", name="accounts_page")
def accounts_page(
    request: Request, session: SessionDep, render: Renderer, user: CurrentUser
) -> Response:
    """Account owners and the size of their books (only one's own, for most roles)."""
    listed = [o for o in insight.owners(session) if may_see_book(user, o.owner)]
    if wants_csv(request):
        return csv_response(
            "account-owners",
            ["owner", "customers", "value"],
            ([o.owner, o.customers, o.value] for o in listed),
        )
    return render("accounts.html", nav="accounts", owners=listed, all_books=user.role in _ALL_BOOKS)


@pages.get("/accounts/{owner}", name="account_page")
def account_page(
    request: Request, session: SessionDep, render: Renderer, owner: BookOwner, win: WindowDep
) -> Response:
    """An account owner's book: gained, lost, referrals, tier moves, themes, open problems."""
    book = insight.cached_book(request, session, owner, win)
    if book is None:
        raise NotFoundError(f"no customer has account owner {owner!r}")
    if wants_csv(request):
        names = (
            [f for f in book.themes.groups[0].as_dict() if f != "weekly"]
            if book.themes.groups
            else []
        )
        return csv_response(
            "account-themes", names, ([g.as_dict()[n] for n in names] for g in book.themes.groups)
        )
    return render(
        "account.html",
        nav="accounts",
        book=book,
        win=win,
        theme_bars=insight.bars([(g.label, g.contacts) for g in book.themes.groups[:15]]),
    )


@api.get("/api/accounts", name="api_accounts")
def accounts_api(session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """Account owners the caller may see, with their customers and summed value."""
    return [
        {"owner": o.owner, "customers": o.customers, "value": o.value}
        for o in insight.owners(session)
        if may_see_book(user, o.owner)
    ]


@api.get(
    "/api/accounts/{owner}",
    name="api_account",
    responses=refusals(
        400, 404, s404="No customer has this account owner, or the book is not the caller's."
    ),
)
def account_api(
    request: Request, session: SessionDep, owner: BookOwner, win: WindowDep
) -> dict[str, Any]:
    """An account owner's book over a window: the guerrilla metrics, themes, open problems."""
    book = insight.cached_book(request, session, owner, win)
    if book is None:
        raise NotFoundError(f"no customer has account owner {owner!r}")
    return book.as_dict()


router = APIRouter()
router.include_router(pages)
router.include_router(api)
