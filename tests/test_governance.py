"""The governance board: problems ranked by impact, decisions recorded and audited, the review.

Board members (a ``board`` team's members, and admins) decide; owners and leads see the board
and the decisions; viewers do not see it. A decision is a row with who and when, and an entry
of the problem's audit trail; reject and merge close the problem.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme
from rootline.config import Settings
from rootline.errors import InputError, StateError
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.audit import history, in_words
from rootline.rootcause.governance import board_items, decide, review
from rootline.rootcause.impact import theme_impact
from rootline.rootcause.models import BoardDecision, Problem
from rootline.rootcause.service import assign, create_problem
from rootline.rootcause.teams import add_member, create_team, find_team
from rootline.rootcause.verification import contact_counts
from tests.test_triage import _desk
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    csrf_of,
    login,
)


@pytest.fixture
def board(session: Session, tmp_path: Path, settings: Settings) -> list[Problem]:
    """Four problems over the desk's biggest themes: two for Web shop (E-commerce IS), one
    for Payments (Payments IS), one unrouted."""
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    themes = list(
        session.scalars(
            sa.select(Theme.id).where(Theme.status == "active").order_by(Theme.size.desc())
        )
    )[:4]
    assert len(themes) == 4
    for name, kind in (("Web shop", "business"), ("Payments", "business")):
        create_team(session, name, kind)
    for name in ("E-commerce IS", "Payments IS"):
        create_team(session, name, "is")
    create_team(session, "Problem board", "board")
    out = []
    for k, (business, is_team) in enumerate(
        [("Web shop", "E-commerce IS"), ("Payments", "Payments IS"), ("Web shop", "E-commerce IS")]
    ):
        problem = create_problem(session, [themes[k]], actor="lead@example.com")
        assign(session, problem.id, business=business, is_team=is_team, actor="lead@example.com")
        out.append(problem)
    out.append(create_problem(session, [themes[3]], actor="lead@example.com"))
    return out


def test_problems_are_ranked_by_impact_today_and_filtered_by_area_and_team(
    session: Session, board: list[Problem]
) -> None:
    items = board_items(session)
    scores = [i.impact.score for i in items]
    assert scores == sorted(scores, reverse=True) and [i.rank for i in items] == [1, 2, 3, 4]
    for item in items:
        assert item.impact.score == pytest.approx(
            theme_impact(session, item.problem.theme_ids).score
        )
        parts = item.as_dict()["breakdown"]
        assert sum(p["whole"] for p in parts["parts"]) == parts["total"]
    web = board[0].business_team_id
    assert {i.problem.id for i in board_items(session, business_team_id=web)} == {
        board[0].id,
        board[2].id,
    }
    pay_is = board[1].is_team_id
    assert [i.problem.id for i in board_items(session, is_team_id=pay_is)] == [board[1].id]
    assert {i.standing for i in items} == {"undecided"}


def test_decisions_are_recorded_with_who_and_when_in_the_audit_trail(
    session: Session, board: list[Problem]
) -> None:
    now = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
    approved = decide(session, board[0].id, "approve", actor="cfo@example.com", now=now)
    assert board[0].state == "assessed"
    assert approved.decided_by == "cfo@example.com" and approved.impact_score > 0
    events = [e for e in history(session, "problem", board[0].id) if e.action == "board_decision"]
    assert len(events) == 1 and events[0].actor == "cfo@example.com"
    assert events[0].new_value["decision"] == "approve"
    assert in_words(events[0]).startswith("cfo@example.com, for the board, approved it")
    later = date.today() + timedelta(days=30)
    decide(session, board[1].id, "defer", actor="cio@example.com", defer_until=later)
    decide(session, board[2].id, "reject", actor="cio@example.com", reason="Retire it", now=now)
    assert board[2].state == "closed_wont_fix"
    decide(session, board[3].id, "merge", actor="cio@example.com", merge_into=board[0].id)
    assert board[3].state == "closed_wont_fix"
    assert set(board[3].theme_ids) <= set(board[0].theme_ids)
    standing = {i.problem.id: i.standing for i in board_items(session, include_closed=True)}
    assert standing == {
        board[0].id: "approved",
        board[1].id: "deferred",
        board[2].id: "rejected",
        board[3].id: "merged",
    }
    row = session.scalars(sa.select(BoardDecision).where(BoardDecision.decision == "defer")).one()
    row.defer_until = date.today() - timedelta(days=1)
    assert {i.problem.id: i.standing for i in board_items(session)}[board[1].id] == "due again"


def test_decisions_the_board_cannot_take_are_refused(
    session: Session, board: list[Problem]
) -> None:
    with pytest.raises(InputError, match="date after today"):
        decide(session, board[0].id, "defer", actor="x", defer_until=date(2020, 1, 1))
    with pytest.raises(InputError, match="needs a reason"):
        decide(session, board[0].id, "reject", actor="x", reason="  ")
    with pytest.raises(InputError, match="into itself"):
        decide(session, board[0].id, "merge", actor="x", merge_into=board[0].id)
    with pytest.raises(InputError, match="one of"):
        decide(session, board[0].id, "shelve", actor="x")
    decide(session, board[1].id, "reject", actor="x", reason="no budget")
    with pytest.raises(StateError, match="open ones"):
        decide(session, board[1].id, "approve", actor="x")
    with pytest.raises(StateError, match="merge into an open problem"):
        decide(session, board[0].id, "merge", actor="x", merge_into=board[1].id)
    assert session.scalar(sa.select(sa.func.count(BoardDecision.id))) == 1


def test_the_review_shows_decisions_and_the_effect_of_approved_fixes(
    session: Session, board: list[Problem]
) -> None:
    decide(session, board[0].id, "approve", actor="cfo@example.com")
    decide(session, board[1].id, "reject", actor="cfo@example.com", reason="duplicate")
    board[0].fixed_at = datetime(2026, 9, 10, tzinfo=UTC)
    session.flush()
    rows = review(session, date.today() - timedelta(days=1), date.today())
    assert [r.decision.decision for r in rows] == ["approve", "reject"]
    effect = rows[0].effect
    assert effect is not None and rows[1].effect is None
    span = timedelta(days=effect["window_days"])
    fixed = board[0].fixed_at
    assert (
        effect["contacts_before"]
        == contact_counts(session, board[0].theme_ids, fixed - span, fixed)[0]
    )
    assert (
        effect["contacts_after"]
        == contact_counts(session, board[0].theme_ids, fixed, fixed + span)[0]
    )
    assert review(session, date(2020, 1, 1), date(2020, 2, 1)) == []
    with pytest.raises(InputError, match="ends before"):
        review(session, date(2020, 2, 1), date(2020, 1, 1))


def _member(client: TestClient, session: Session, role: str, board_team: bool) -> None:
    user = login(client, session, role, email=f"{role}-{int(board_team)}@example.com")
    if board_team:
        add_member(session, find_team(session, "Problem board"), user)


def test_board_members_decide_owners_see_viewers_do_not(
    anonymous: TestClient,  # noqa: F811
    session: Session,
    board: list[Problem],
) -> None:
    pid = board[0].id
    assert anonymous.get("/api/governance").status_code == 401
    login(anonymous, session, "viewer")
    assert anonymous.get("/governance").status_code == 403
    assert anonymous.get("/api/governance").status_code == 403
    for role in ("is_owner", "product_owner", "support_lead"):
        _member(anonymous, session, role, board_team=False)
        page = BeautifulSoup(anonymous.get("/governance").text, "html.parser")
        assert len(page.select("#governance-table tbody tr")) == 4, role
        assert not page.select("form.decide"), role
        token = csrf_of(anonymous, "/governance?closed=true")
        refused = anonymous.post(
            f"/governance/{pid}/decide", data={"decision": "approve", "csrf_token": token}
        )
        assert refused.status_code == 403 and "governance board" in refused.text
        api = anonymous.post(
            f"/api/governance/{pid}/decisions",
            json={"decision": "approve"},
            headers={"X-CSRF-Token": token},
        )
        assert api.status_code == 403
    _member(anonymous, session, "product_owner", board_team=True)
    page = BeautifulSoup(anonymous.get("/governance").text, "html.parser")
    assert len(page.select("form.decide")) == 4
    token = csrf_of(anonymous, "/governance")
    no_csrf = anonymous.post(f"/governance/{pid}/decide", data={"decision": "approve"})
    assert no_csrf.status_code == 403
    done = anonymous.post(
        f"/governance/{pid}/decide",
        data={"decision": "approve", "reason": "Top of the list", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    bad = anonymous.post(
        f"/api/governance/{board[1].id}/decisions",
        json={"decision": "defer", "defer_until": "2020-01-01"},
        headers={"X-CSRF-Token": token},
    )
    assert bad.status_code == 400 and "after today" in bad.text
    later = (date.today() + timedelta(days=14)).isoformat()
    made = anonymous.post(
        f"/api/governance/{board[1].id}/decisions",
        json={"decision": "defer", "defer_until": later},
        headers={"X-CSRF-Token": token},
    )
    assert made.status_code == 201 and made.json()["decided_by"] == "product_owner-1@example.com"
    login(anonymous, session, "is_owner", email="is_owner-0@example.com")
    seen = {i["problem_id"]: i for i in anonymous.get("/api/governance").json()}
    assert seen[pid]["standing"] == "approved"
    assert seen[pid]["decision"]["reason"] == "Top of the list"
    assert seen[board[1].id]["decision"]["defer_until"] == later
    listed = anonymous.get(f"/api/governance/{pid}/decisions").json()
    assert [d["decided_by"] for d in listed] == ["product_owner-1@example.com"]
    review_csv = anonymous.get("/governance/review?format=csv")
    assert review_csv.status_code == 200
    got = list(csv.DictReader(io.StringIO(review_csv.text)))
    assert [(r["problem_id"], r["decision"]) for r in got] == [
        (str(pid), "approve"),
        (str(board[1].id), "defer"),
    ]
    printable = BeautifulSoup(anonymous.get("/governance/review").text, "html.parser")
    assert len(printable.select("#review-table tbody tr")) == 2
    assert "1 approve" in printable.select_one("#review-counts").text
    board_csv = anonymous.get(f"/governance?format=csv&business_team={board[0].business_team_id}")
    assert [r["problem_id"] for r in csv.DictReader(io.StringIO(board_csv.text))] == [
        str(p.id)
        for p in sorted(board[:3:2], key=lambda p: -theme_impact(session, p.theme_ids).score)
    ]
