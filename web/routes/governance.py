"""The governance board: problems ranked by impact, the board's decisions, the periodic review.

Owners and leads see the board and every decision; only board members (the members of a
``board`` team, and admins) decide. The page and its JSON twin read through the same loader,
``_board``; the review is a printable page, a CSV and JSON from ``rootcause.governance.review``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from rootline.errors import InputError
from rootline.rootcause.governance import (
    DECISIONS,
    BoardItem,
    ReviewRow,
    board_items,
    decide,
    decisions_of,
    is_board_member,
    review,
)
from rootline.rootcause.models import Team, User
from rootline.rootcause.service import get_problem
from rootline.rootcause.teams import list_teams
from rootline.web.deps import Renderer, RowId, SessionDep, csv_response, flash, wants_csv
from rootline.web.permissions import CurrentUser, Forbidden
from rootline.web.refusals import COMMON, refusals

__all__ = ["router"]

pages = APIRouter(include_in_schema=False)
api = APIRouter(tags=["governance"], responses=COMMON)

Standing = Literal["undecided", "approved", "deferred", "due again", "rejected", "merged"]


def _board_member(session: SessionDep, user: CurrentUser, problem_id: RowId) -> User:
    """The signed-in user, refused unless a member of the governance board (the path's
    problem is looked up first, as for every problem route: a missing one is a 404).

    Raises:
        NotFoundError: no such problem.
        Forbidden: the user is in no ``board`` team and is not an admin.
    """
    get_problem(session, problem_id)
    if not is_board_member(user):
        raise Forbidden("only members of the governance board decide; owners see decisions")
    return user


BoardMember = Annotated[User, Depends(_board_member)]


@dataclass
class BoardFilters:
    """The board's filters, from the query string."""

    business_team: int | None = None
    is_team: int | None = None
    standing: str | None = None
    closed: bool = False
    audience: str | None = None


def _filters(
    business_team: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    is_team: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    standing: Annotated[Standing | None, Query()] = None,
    closed: bool = False,
    audience: Annotated[Literal["external", "internal"] | None, Query()] = None,
) -> BoardFilters:
    return BoardFilters(business_team, is_team, standing, closed, audience)


Filters = Annotated[BoardFilters, Depends(_filters)]


@dataclass
class BoardContext:
    """What the board page shows."""

    items: list[BoardItem]
    filters: BoardFilters
    business_teams: list[Team]
    is_teams: list[Team]
    decides: bool
    decisions: tuple[str, ...] = DECISIONS
    today: date = field(default_factory=date.today)


def _board(session: SessionDep, filters: BoardFilters) -> list[BoardItem]:
    return board_items(
        session,
        business_team_id=filters.business_team,
        is_team_id=filters.is_team,
        include_closed=filters.closed,
        standing=filters.standing,
        audience=filters.audience,
    )


_BOARD_COLUMNS = [
    "rank",
    "problem_id",
    "title",
    "state",
    "business_team",
    "is_team",
    "impact_score",
    "breakdown",
    "standing",
    "decided_by",
    "decided_at",
    "reason",
]


def _board_row(item: BoardItem) -> list[Any]:
    d = item.as_dict()
    decided = d["decision"] or {}
    row = {**d, "breakdown": d["breakdown"]["sentence"], **decided}
    return [row.get(c, "") for c in _BOARD_COLUMNS]


@pages.get("/governance", name="governance_page")
def governance_page(
    request: Request, session: SessionDep, render: Renderer, user: CurrentUser, filters: Filters
) -> Response:
    """Problems ranked by impact today, with the breakdown, the standing decision, and (for
    board members) a decision form per problem."""
    items = _board(session, filters)
    if wants_csv(request):
        return csv_response("governance-board", _BOARD_COLUMNS, map(_board_row, items))
    teams = list_teams(session)
    context = BoardContext(
        items=items,
        filters=filters,
        business_teams=[t for t in teams if t.kind == "business"],
        is_teams=[t for t in teams if t.kind == "is"],
        decides=is_board_member(user),
    )
    return render("governance.html", nav="governance", board=context)


def _parse_day(value: str, field_name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"{field_name}: not a date (YYYY-MM-DD): {value[:20]!r}", field=field_name
        ) from None


@pages.post("/governance/{problem_id}/decide", name="governance_decide")
def governance_decide(
    request: Request,
    session: SessionDep,
    user: BoardMember,
    problem_id: RowId,
    decision: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=4000)] = "",
    defer_until: Annotated[str, Form(max_length=10)] = "",
    merge_into: Annotated[int | None, Form(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Record a board decision from the board page's form."""
    decide(
        session,
        problem_id,
        decision,
        actor=user.email,
        reason=reason,
        defer_until=_parse_day(defer_until, "defer_until"),
        merge_into=merge_into,
    )
    flash(request, f"Problem #{problem_id}: {decision} recorded.")
    back = request.headers.get("referer", "")
    target = "/governance" + (back[back.index("?") :] if "/governance?" in back else "")
    return RedirectResponse(f"{target}#problem-{problem_id}", status_code=303)


class DecisionIn(BaseModel):
    """A board decision about a problem."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "defer", "reject", "merge"]
    reason: str = Field(default="", max_length=4000)
    defer_until: date | None = None
    merge_into: int | None = Field(default=None, ge=1, le=2**63 - 1)


@api.get("/api/governance", name="api_governance")
def governance_api(session: SessionDep, filters: Filters) -> list[dict[str, Any]]:
    """The board: problems ranked by impact today, each with its score's breakdown and the
    standing decision (``undecided``, ``approved``, ``deferred``, ``due again``, ...)."""
    return [i.as_dict() for i in _board(session, filters)]


@api.post(
    "/api/governance/{problem_id}/decisions",
    status_code=201,
    responses=refusals(
        400, 404, s400="Not a decision the board can take.", s404="No such problem."
    ),
    name="api_governance_decide",
)
def governance_decide_api(
    session: SessionDep, user: BoardMember, problem_id: RowId, body: DecisionIn
) -> dict[str, Any]:
    """Record a board decision: approve, defer (with ``defer_until``), reject (with a
    ``reason``) or merge (into ``merge_into``). Board members only."""
    row = decide(
        session,
        problem_id,
        body.decision,
        actor=user.email,
        reason=body.reason,
        defer_until=body.defer_until,
        merge_into=body.merge_into,
    )
    return {
        "id": row.id,
        "problem_id": row.problem_id,
        "decision": row.decision,
        "defer_until": row.defer_until,
        "reason": row.reason,
        "merged_into_id": row.merged_into_id,
        "decided_by": row.decided_by,
        "decided_at": row.decided_at,
        "impact_score": round(row.impact_score, 2),
    }


@api.get(
    "/api/governance/{problem_id}/decisions",
    responses=refusals(404, s404="No such problem."),
    name="api_governance_decisions",
)
def governance_decisions_api(session: SessionDep, problem_id: RowId) -> list[dict[str, Any]]:
    """Every board decision about a problem, newest first."""
    get_problem(session, problem_id)
    return [
        {
            "id": d.id,
            "decision": d.decision,
            "defer_until": d.defer_until,
            "reason": d.reason,
            "merged_into_id": d.merged_into_id,
            "decided_by": d.decided_by,
            "decided_at": d.decided_at,
            "impact_score": round(d.impact_score, 2),
        }
        for d in decisions_of(session, problem_id)
    ]


@dataclass
class ReviewContext:
    """The printable review of a period's decisions."""

    start: date
    end: date
    rows: list[ReviewRow]

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(DECISIONS, 0)
        for r in self.rows:
            out[r.decision.decision] += 1
        return out


def _period(
    start: Annotated[date | None, Query()] = None, end: Annotated[date | None, Query()] = None
) -> tuple[date, date]:
    last = end or date.today()
    return (start or last - timedelta(days=90), last)


Period = Annotated[tuple[date, date], Depends(_period)]

_REVIEW_COLUMNS = [
    "decided_at",
    "problem_id",
    "title",
    "decision",
    "defer_until",
    "merged_into_id",
    "reason",
    "decided_by",
    "impact_score",
    "state",
    "business_team",
    "is_team",
    "fixed_at",
    "contacts_before",
    "contacts_after",
    "relative_change",
    "verdict",
]


@pages.get("/governance/review", name="governance_review")
def governance_review(
    request: Request, session: SessionDep, render: Renderer, period: Period
) -> Response:
    """The periodic review: decisions of the period and their effect, printable or CSV."""
    rows = review(session, *period)
    if wants_csv(request):
        dicts = [r.as_dict() for r in rows]
        return csv_response(
            f"governance-review-{period[0]}-{period[1]}",
            _REVIEW_COLUMNS,
            ([{**d, **(d["effect"] or {})}.get(c, "") for c in _REVIEW_COLUMNS] for d in dicts),
        )
    return render("governance_review.html", nav="governance", review=ReviewContext(*period, rows))


@api.get(
    "/api/governance/review",
    responses=refusals(400, s400="The period ends before it starts."),
    name="api_governance_review",
)
def governance_review_api(session: SessionDep, period: Period) -> dict[str, Any]:
    """Decisions from ``start`` to ``end`` (default: the last 90 days) with their effect:
    contacts before and after the fix for approved problems that were fixed."""
    rows = review(session, *period)
    return {
        "start": period[0],
        "end": period[1],
        "decisions": [r.as_dict() for r in rows],
    }


router = APIRouter()
router.include_router(pages)
router.include_router(api)
