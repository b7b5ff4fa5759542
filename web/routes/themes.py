"""Themes: the dashboard and theme pages, review actions (rename, merge, split, move, noise, accept, promote), runs and alerts, each page beside its JSON twin."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from markupsafe import Markup, escape
from starlette.responses import Response

from rootline.clustering import curation, service, stats
from rootline.clustering.alerts import theme_alerts
from rootline.clustering.history import theme_history
from rootline.clustering.schemas import RunOut, ThemeOut
from rootline.ingest.cleaning import redact_pii
from rootline.rootcause.figures import theme_figures
from rootline.rootcause.impact import COMPONENT_WORDS, theme_impact
from rootline.rootcause.knowledge import known_errors_for_theme
from rootline.rootcause.schemas import ProblemOut
from rootline.rootcause.service import create_problem
from rootline.web import confirm, queries
from rootline.web.cache import FigureCache, data_fingerprint
from rootline.web.charts import score_bar, sparkline, volume_chart, weekly_bar_chart
from rootline.web.dashboard import Listing, listed_rows, theme_list, theme_listing
from rootline.web.deps import (
    MAX_ID,
    ClustererDep,
    Currency,
    Renderer,
    RowId,
    SessionDep,
    WebhookUrl,
    csv_response,
    flash,
    get_figures,
    wants_csv,
)
from rootline.web.paging import Pager
from rootline.web.permissions import CurrentUser, can_see_pii
from rootline.web.refusals import COMMON, refusals
from rootline.web.schemas import MoveIn, PromoteIn, RenameIn, TargetIn, ThemeContactsOut
from rootline.web.views import dashboard_filters, ranked_themes

__all__ = ["router"]

#: HTML pages (not in the API schema) and their JSON twins.
pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["themes"], responses=COMMON)

PAGE_SIZE = 50


THEMES_PER_PAGE = 50


EXAMPLES_PER_THEME = 3


CHART_WEEKS = 12


#: Themes with a layer of their own in the dashboard's volume chart (by impact).
VOLUME_TOP = 5


Figures = Annotated[FigureCache, Depends(get_figures)]


def _options(choices: list[tuple[int, str]]) -> Markup:
    # Hundreds of themes fill two selects; one escaped string, built once, renders several
    # times faster than a template loop over the same (id, title) pairs.
    return Markup(
        "".join(
            f'<option value="{int(i)}">#{int(i)} {escape(title)}</option>' for i, title in choices
        )
    )


_404 = refusals(404, s404="No theme with this id.")
#: A review action: no such theme (or target), or one the action does not fit.
_REVIEW = refusals(400, 404, s404="No theme (or target theme, or contact) with this id.")


@pages.get("/", name="home")
def home() -> RedirectResponse:
    """The theme dashboard is the front page."""
    return RedirectResponse("/themes", status_code=307)


@pages.get("/themes", name="themes_page")
def themes_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    figures: Figures,
    filters: Annotated[queries.Filters, Depends(dashboard_filters)],
    listing: Annotated[Listing, Depends(theme_listing)],
    currency: Currency,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    view: Annotated[str, Query(pattern="^(cards|table)$")] = "cards",
) -> Response:
    """Themes ranked by impact score (or sorted by another column, or filtered by name), as
    cards or as a table, with trend, alerts, filters and totals."""
    board, alerts = ranked_themes(session, figures, filters)
    listed = theme_list(
        session, board, filters, listing, view=view, page=page, per_page=THEMES_PER_PAGE
    )
    if wants_csv(request):
        return csv_response(
            "themes",
            [
                "theme_id",
                "title",
                "status",
                "impact_score",
                "contacts",
                "customers",
                "repeat_contact_rate",
                "mean_csat",
                "value_at_risk",
                "currency",
                "trend",
                "newest_contact",
                "alert",
                "keywords",
                "impact_breakdown",
            ],
            (
                [
                    r.id,
                    r.title,
                    r.status,
                    r.impact.score,
                    r.impact.contacts,
                    r.impact.unique_customers,
                    r.impact.repeat_contact_rate,
                    r.impact.mean_csat,
                    r.impact.value_at_risk,
                    currency,
                    r.impact.trend,
                    r.newest,
                    getattr(alerts.get(r.id), "kind", ""),
                    " ".join(r.keywords),
                    r.impact.breakdown().sentence,
                ]
                for r in listed_rows(board, listing)
            ),
        )
    shown = listed.rows
    ids = [r.id for r in shown]
    return render(
        "themes.html",
        board=board,
        listed=listed,
        rows=shown,
        pager=listed.pager,
        bars={r.id: score_bar(r.impact.breakdown()) for r in shown},
        component_words=COMPONENT_WORDS,
        sparks={r.id: sparkline(r.weeks, board.week_starts) for r in shown},
        volume=volume_chart(
            board.week_starts, [(r.id, r.title, r.weeks) for r in board.rows], top=VOLUME_TOP
        ),
        window=board.window,
        alerts=alerts,
        problems=queries.problems_by_theme(session, ids),
        examples=stats.example_previews(session, ids, EXAMPLES_PER_THEME),
        run=stats.latest_run(session),
        filters=filters,
        options=figures.get(
            ("options", data_fingerprint(session)), lambda: queries.filter_options(session)
        ),
        csv_url=listed.csv_url,
    )


@pages.get("/themes/{theme_id}", name="theme_page")
def theme_page(
    request: Request,
    session: SessionDep,
    render: Renderer,
    figures: Figures,
    theme_id: RowId,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """One theme: figures, examples, weekly volume, problem, history and its contacts."""
    theme = service.get_theme(session, theme_id)
    query = q.strip()
    if wants_csv(request):
        _, everything = service.theme_interactions(
            session, theme_id, limit=100_000, query=query or None
        )
        return csv_response(
            f"theme-{theme_id}",
            ["source", "external_id", "created_at", "channel", "csat", "status", "text"],
            (
                [i.source, i.external_id, i.created_at, i.channel, i.csat, i.status, i.body_clean]
                for i in everything
            ),
        )
    total, interactions = service.theme_interactions(
        session, theme_id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE, query=query or None
    )
    pager = Pager(
        number=page, size=PAGE_SIZE, total=total, path=f"/themes/{theme_id}", params={"q": query}
    )
    fp = data_fingerprint(session)
    alerts = figures.get(("alerts", fp), lambda: {a.theme_id: a for a in theme_alerts(session)})
    # The dashboard's window (without its filters), so the theme scores alike on both pages.
    window = queries.score_window(session)
    measured = figures.get(
        ("theme", fp, theme_id),
        lambda: queries.theme_figures(session, theme_id, CHART_WEEKS, as_of=window.as_of),
    )
    cost = figures.get(("cost", fp, theme_id), lambda: theme_figures(session, [theme_id])[theme_id])
    choices = queries.theme_choices(session, exclude=theme_id)
    return render(
        "theme.html",
        cost=cost,
        theme=theme,
        interactions=interactions,
        pager=pager,
        q=query,
        chart=weekly_bar_chart(measured.weeks),
        impact=measured.impact,
        window=window,
        bar=score_bar(measured.impact.breakdown()),
        alert=alerts.get(theme_id),
        problem=queries.problems_by_theme(session, [theme_id]).get(theme_id),
        known_errors=known_errors_for_theme(session, theme_id),
        history=theme_history(session, theme_id)[-10:],
        undo=curation.undoable_edit(session, theme_id),
        choices=choices,
        choice_options=_options(choices),
    )


@pages.post("/themes/{theme_id}/rename", name="theme_rename")
def theme_rename(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    theme_id: RowId,
    title: Annotated[str, Form(max_length=255)],
) -> Response:
    """Give the theme a title people understand; relabelling keeps it."""
    curation.rename_theme(session, theme_id, title, actor=user.email)
    flash(request, "Theme renamed.")
    return RedirectResponse(f"/themes/{theme_id}", status_code=303)


#: A page form's "yes, I have read what will change" (absent: show the confirmation first).
Confirmed = Annotated[str, Form(max_length=3)]


@pages.post("/themes/{theme_id}/merge", name="theme_merge")
def theme_merge(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    render: Renderer,
    theme_id: RowId,
    target_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    confirmed: Confirmed = "",
) -> Response:
    """Merge this theme into another; its contacts move there (after a confirmation)."""
    if not confirm.confirmed(confirmed):
        curation.check_merge(session, theme_id, target_id)
        return render(
            "confirm.html",
            nav="themes",
            confirm=confirm.merge_confirmation(session, theme_id, target_id),
        )
    target = curation.merge_themes(session, theme_id, target_id, actor=user.email)
    flash(
        request,
        f"Theme {theme_id} merged into this one. To take it back, use “Undo the merge” on "
        f"theme {theme_id}'s page.",
    )
    return RedirectResponse(f"/themes/{target.id}", status_code=303)


@pages.post("/themes/{theme_id}/undo", name="theme_undo")
def theme_undo(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    render: Renderer,
    theme_id: RowId,
    confirmed: Confirmed = "",
) -> Response:
    """Take back the theme's last merge or "not a theme" mark (after a confirmation)."""
    if not confirm.confirmed(confirmed):
        event = curation.check_undo(session, theme_id)
        into = (event.details or {}).get("into")
        return render(
            "confirm.html",
            nav="themes",
            confirm=confirm.undo_confirmation(
                session, theme_id, event.kind, int(into) if into is not None else None
            ),
        )
    curation.undo_last_edit(session, theme_id, actor=user.email)
    flash(request, "Undone.")
    return RedirectResponse(f"/themes/{theme_id}", status_code=303)


@pages.post("/themes/{theme_id}/split", name="theme_split")
def theme_split(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    render: Renderer,
    theme_id: RowId,
    clusterer: ClustererDep,
    confirmed: Confirmed = "",
) -> Response:
    """Re-cluster the theme's contacts into two or more new themes (after a confirmation)."""
    if not confirm.confirmed(confirmed):
        return render(
            "confirm.html", nav="themes", confirm=confirm.split_confirmation(session, theme_id)
        )
    children = curation.split_theme(session, theme_id, clusterer, actor=user.email)
    flash(request, f"Theme {theme_id} split into " + ", ".join(f"#{c.id}" for c in children) + ".")
    return RedirectResponse(f"/themes/{children[0].id}", status_code=303)


@pages.post("/themes/{theme_id}/move", name="theme_move")
def theme_move(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    theme_id: RowId,
    target_id: Annotated[int, Form(ge=1)],
    interaction_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    """Move the selected contacts of this theme to another theme."""
    curation.move_interactions(session, interaction_ids or [], target_id, actor=user.email)
    flash(request, f"{len(interaction_ids or [])} contact(s) moved to theme {target_id}.")
    return RedirectResponse(f"/themes/{theme_id}", status_code=303)


@pages.post("/themes/{theme_id}/noise", name="theme_noise")
def theme_noise(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    render: Renderer,
    theme_id: RowId,
    confirmed: Confirmed = "",
) -> Response:
    """Mark the group as "not a theme" (after a confirmation)."""
    if not confirm.confirmed(confirmed):
        return render(
            "confirm.html", nav="themes", confirm=confirm.noise_confirmation(session, theme_id)
        )
    curation.mark_noise(session, theme_id, actor=user.email)
    flash(request, "Marked as not a theme. “Undo” on this page takes it back.")
    return RedirectResponse(f"/themes/{theme_id}", status_code=303)


@pages.post("/themes/{theme_id}/accept", name="theme_accept")
def theme_accept(
    request: Request, session: SessionDep, user: CurrentUser, theme_id: RowId
) -> Response:
    """Accept a proposed theme as a real one."""
    curation.accept_proposed(session, theme_id, actor=user.email)
    flash(request, "Theme accepted.")
    return RedirectResponse(f"/themes/{theme_id}", status_code=303)


@pages.post("/themes/{theme_id}/promote", name="theme_promote")
def theme_promote(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    theme_id: RowId,
    webhook_url: WebhookUrl,
    title: Annotated[str, Form(max_length=255)] = "",
    tags: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Promote the theme to a problem, measured and routed to its owner teams."""
    problem = create_problem(
        session,
        [theme_id],
        title=title.strip() or None,
        tags=tags.replace(",", " ").split(),
        actor=user.email,
        webhook_url=webhook_url,
    )
    flash(request, f"Problem #{problem.id} created and routed: {problem.routing_explanation}")
    return RedirectResponse(f"/problems/{problem.id}", status_code=303)


@api.get(
    "/api/dashboard",
    responses=refusals(400, s400="A filter value cannot be read (a date, say)."),
    name="api_dashboard",
)
def dashboard(
    session: SessionDep,
    figures: Annotated[Any, Depends(get_figures)],
    filters: Annotated[queries.Filters, Depends(dashboard_filters)],
    listing: Annotated[Listing, Depends(theme_listing)],
    currency: Currency,
) -> dict[str, Any]:
    """Themes ranked by impact (or sorted by ``sort``, or only those whose title contains
    ``q``) under the dashboard filters, with totals, trend, alerts and each score's breakdown."""
    board, alerts = ranked_themes(session, figures, filters)
    return {
        "currency": currency,
        "totals": {
            "contacts": board.contacts,
            "themed": board.themed,
            "customers": board.customers,
            "value_at_risk": board.value_at_risk,
        },
        "score_window": board.window.as_dict(),
        "week_starts": [d.isoformat() for d in board.week_starts],
        "themes": [
            {
                "id": r.id,
                "title": r.title,
                "keywords": r.keywords,
                "status": r.status,
                "impact": r.impact.as_dict(),
                "impact_breakdown": r.impact.breakdown().as_dict(),
                "newest_contact": r.newest,
                "weekly_contacts": r.weeks,
                "alert": asdict(a) if (a := alerts.get(r.id)) else None,
            }
            for r in listed_rows(board, listing)
        ],
    }


@api.get("/api/themes", response_model=list[ThemeOut], name="api_themes")
def list_themes(
    session: SessionDep,
    include_inactive: Annotated[
        bool, Query(description="Also list merged, noise and retired themes.")
    ] = False,
) -> list[ThemeOut]:
    """Themes, largest first, as ``rootline themes --json`` prints them."""
    return service.list_themes(session, include_inactive=include_inactive)


@api.get(
    "/api/themes/{theme_id}",
    response_model=ThemeOut,
    responses=_404,
    name="api_theme",
)
def get_theme(session: SessionDep, theme_id: RowId) -> ThemeOut:
    """One theme with its representative examples."""
    return service.get_theme(session, theme_id)


@api.get("/api/themes/{theme_id}/figures", responses=_404, name="api_theme_figures")
def theme_figures_api(session: SessionDep, theme_id: RowId, currency: Currency) -> dict[str, Any]:
    """What the theme costs: contacts, share, unique customers, 7-day repeat-contact rate,
    CSAT, value at risk and value lost (in ``currency``), churned customers, impact score
    and its breakdown into components that add up to it (README, Figures), measured at the
    dashboard's ``score_window``."""
    service.get_theme(session, theme_id)
    window = queries.score_window(session)
    breakdown = theme_impact(session, theme_id, window.as_of).breakdown()
    return theme_figures(session, [theme_id])[theme_id].as_dict() | {
        "currency": currency,
        # The score as the dashboard and the theme page measure it (the window below).
        "impact_score": breakdown.score,
        "impact_breakdown": breakdown.as_dict(),
        "score_window": window.as_dict(),
    }


@api.get(
    "/api/themes/{theme_id}/interactions",
    response_model=ThemeContactsOut,
    # ``body_raw`` is left out, not null, for roles that may not see raw text.
    response_model_exclude_unset=True,
    responses=_404,
    name="api_theme_interactions",
)
def theme_interactions(
    session: SessionDep,
    user: CurrentUser,
    theme_id: RowId,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    q: Annotated[str, Query(max_length=200)] = "",
) -> dict[str, Any]:
    """A page of the theme's contacts, newest first (raw text only for roles that may see it)."""
    service.get_theme(session, theme_id)
    total, rows = service.theme_interactions(
        session, theme_id, offset=offset, limit=limit, query=q.strip() or None
    )
    pii = can_see_pii(user)
    return {
        "total": total,
        "items": [
            {
                "id": i.id,
                "source": i.source,
                "external_id": i.external_id,
                "channel": i.channel,
                "created_at": i.created_at,
                "csat": i.csat,
                "customer_id": i.customer_id,
                "subject": i.subject if pii or not i.subject else redact_pii(i.subject),
                "text": i.body_clean,
                **({"body_raw": i.body_raw} if pii else {}),
            }
            for i in rows
        ],
    }


@api.post(
    "/api/themes/{theme_id}/rename",
    response_model=ThemeOut,
    responses=_REVIEW,
    name="api_theme_rename",
)
def rename(session: SessionDep, user: CurrentUser, theme_id: RowId, body: RenameIn) -> ThemeOut:
    """Rename a theme (the title is then kept by later runs)."""
    return curation.rename_theme(session, theme_id, body.title, actor=user.email)


@api.post(
    "/api/themes/{theme_id}/merge",
    response_model=ThemeOut,
    responses=_REVIEW,
    name="api_theme_merge",
)
def merge(session: SessionDep, user: CurrentUser, theme_id: RowId, body: TargetIn) -> ThemeOut:
    """Merge this theme into ``target_id``; returns the target."""
    return curation.merge_themes(session, theme_id, body.target_id, actor=user.email)


@api.post(
    "/api/themes/{theme_id}/split",
    response_model=list[ThemeOut],
    responses=_REVIEW,
    name="api_theme_split",
)
def split(
    session: SessionDep,
    user: CurrentUser,
    theme_id: RowId,
    clusterer: ClustererDep,
) -> list[ThemeOut]:
    """Re-cluster a theme's contacts into new themes."""
    return curation.split_theme(session, theme_id, clusterer, actor=user.email)


@api.post(
    "/api/themes/{theme_id}/move",
    response_model=ThemeOut,
    responses=_REVIEW,
    name="api_theme_move",
)
def move(session: SessionDep, user: CurrentUser, theme_id: RowId, body: MoveIn) -> ThemeOut:
    """Move contacts into theme ``target_id`` (``theme_id`` is where they were listed)."""
    return curation.move_interactions(
        session, body.interaction_ids, body.target_id, actor=user.email
    )


@api.post(
    "/api/themes/{theme_id}/noise",
    response_model=ThemeOut,
    responses=_REVIEW,
    name="api_theme_noise",
)
def noise(session: SessionDep, user: CurrentUser, theme_id: RowId) -> ThemeOut:
    """Mark a theme as "not a theme"."""
    return curation.mark_noise(session, theme_id, actor=user.email)


@api.post(
    "/api/themes/{theme_id}/undo",
    response_model=ThemeOut,
    responses=_REVIEW,
    name="api_theme_undo",
)
def undo(session: SessionDep, user: CurrentUser, theme_id: RowId) -> ThemeOut:
    """Take back the theme's last merge (its contacts move back) or "not a theme" mark, if
    nothing has changed the theme since; returns the theme."""
    return curation.undo_last_edit(session, theme_id, actor=user.email)


@api.post(
    "/api/themes/{theme_id}/accept",
    response_model=ThemeOut,
    responses=_REVIEW,
    name="api_theme_accept",
)
def accept(session: SessionDep, user: CurrentUser, theme_id: RowId) -> ThemeOut:
    """Accept a proposed theme."""
    return curation.accept_proposed(session, theme_id, actor=user.email)


@api.post(
    "/api/themes/{theme_id}/promote",
    response_model=ProblemOut,
    status_code=201,
    responses=_REVIEW,
    name="api_theme_promote",
)
def promote(
    session: SessionDep,
    user: CurrentUser,
    theme_id: RowId,
    body: PromoteIn,
    webhook_url: WebhookUrl,
) -> ProblemOut:
    """Promote a theme to a problem, routed to its owners."""
    problem = create_problem(
        session,
        [theme_id],
        title=body.title,
        tags=body.tags,
        actor=user.email,
        webhook_url=webhook_url,
    )
    return ProblemOut.of(problem, detail=True)


@api.get("/api/runs", response_model=list[RunOut], name="api_runs")
def list_runs(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200, description="How many runs.")] = 20,
) -> list[RunOut]:
    """The newest clustering runs, newest first."""
    return stats.recent_runs(session, limit)


@api.get("/api/alerts", name="api_alerts")
def alerts(
    session: SessionDep, figures: Annotated[Any, Depends(get_figures)]
) -> list[dict[str, Any]]:
    """Emerging and spiking themes, strongest first, as ``rootline alerts --json``."""
    _, found = ranked_themes(session, figures, queries.Filters())
    return sorted((asdict(a) for a in found.values()), key=lambda a: (-a["score"], a["theme_id"]))


router = APIRouter()
router.include_router(pages)
router.include_router(api)
