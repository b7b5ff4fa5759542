"""The daily work through the pages: review a theme, promote it, work the problem as its
routed IS owner, see it on the board; search, customers, admin, CSV, and query counts."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rootline.clustering.embedding import HashingEmbedder, embed_with_cache
from rootline.clustering.models import Theme, ThemeMembership
from rootline.ingest.models import Interaction
from rootline.rootcause.models import Problem
from rootline.rootcause.service import create_problem
from rootline.rootcause.teams import add_member, create_team, triage_team
from rootline.web.accounts import sign_in
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    MONDAY,
    Seeded,
    _interaction,
    anonymous,
    app,
    client,
    csrf_of,
    data,
    login,
)


def _post(client: TestClient, url: str, **form: Any) -> Any:
    """Post a form as the browser would from the page above the action (its Referer)."""
    form.setdefault("csrf_token", csrf_of(client, "/themes"))
    page = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return client.post(
        url, data=form, follow_redirects=False, headers={"Referer": f"http://testserver{page}"}
    )


def _soup(client: TestClient, url: str) -> BeautifulSoup:
    response = client.get(url)
    assert response.status_code == 200, response.text[:300]
    return BeautifulSoup(response.text, "html.parser")


def test_review_promote_and_work_a_problem(
    anonymous: TestClient, session: Session, data: Seeded
) -> None:
    lead = anonymous
    login(lead, session, "support_lead")
    assert _post(lead, f"/themes/{data.card}/rename", title="Cards refused").status_code == 303
    assert _soup(lead, f"/themes/{data.card}").h1.get_text(strip=True) == "Cards refused"
    # The first post shows what will change; nothing changes until it is confirmed.
    asked = _post(lead, f"/themes/{data.password}/merge", target_id=data.card)
    assert asked.status_code == 200 and "What will change" in asked.text
    assert session.get(Theme, data.password).status == "active"
    merged = _post(lead, f"/themes/{data.password}/merge", target_id=data.card, confirmed="yes")
    assert merged.headers["location"] == f"/themes/{data.card}"
    assert session.get(Theme, data.password).status == "merged"
    promoted = _post(lead, f"/themes/{data.card}/promote", title="Card payments fail", tags="web")
    assert promoted.status_code == 303
    problem_url = promoted.headers["location"]
    problem = session.get(Problem, int(problem_url.rsplit("/", 1)[1]))
    assert problem.is_team_id == triage_team(session).id  # no rule matched: triage
    assert _soup(lead, "/backlog").find("a", href=problem_url) is not None  # tagged web
    page = _soup(lead, problem_url)
    assert page.select_one("#routing").get_text(strip=True) == problem.routing_explanation
    assert page.select_one("#problem-state").get_text(strip=True) == "new"
    # The theme page links its problem now and offers no second promotion.
    theme = _soup(lead, f"/themes/{data.card}")
    assert theme.select_one("#linked-problem a")["href"] == problem_url
    assert theme.find("form", action=f"/themes/{data.card}/promote") is None

    # An IS owner outside the routed team may look but not act.
    outsider = TestClient(lead.app)
    login(outsider, session, "is_owner", "other-is@example.com")
    assert not _soup(outsider, problem_url).select("button[data-target]")
    refused = _post(outsider, f"{problem_url}/transition", target="assessed")
    assert refused.status_code == 403

    owner = TestClient(lead.app)
    user = login(owner, session, "is_owner", "is@example.com")
    add_member(session, triage_team(session), user)
    session.flush()
    for target in ("assessed", "root_cause_analysis"):
        assert _post(owner, f"{problem_url}/transition", target=target).status_code == 303
    # The life cycle refuses the fix before a root cause: the reason comes back on the page.
    too_soon = _post(owner, f"{problem_url}/transition", target="fix_in_progress")
    assert too_soon.status_code == 303
    assert "root cause" in _soup(owner, problem_url).select_one("p.flash.error").get_text()
    _post(owner, f"{problem_url}/update", root_cause="Gateway timeout at 3 s", workaround="Retry")
    _post(owner, f"{problem_url}/transition", target="fix_in_progress")
    _post(
        owner, f"{problem_url}/tasks", title="Raise the gateway timeout", team_id=problem.is_team_id
    )
    _post(owner, f"{problem_url}/comments", body="Deployed to staging <b>today</b>")
    _post(owner, f"{problem_url}/fix", fixed_on="2026-10-20", description="Timeout 10 s")
    # Requests share the test's session; a real request starts with fresh collections.
    session.expire_all()
    page = _soup(owner, problem_url)
    assert page.select_one("#problem-state").get_text(strip=True) == "resolved"
    assert page.select_one("#verdict") is not None
    assert "Deployed to staging <b>today</b>" in page.select_one("ol.comments").get_text()
    assert len(page.select("table.tasks tbody tr")) == 1
    trail = [td.get_text(strip=True) for td in page.select("table.audit td:nth-of-type(2)")]
    who = user.email
    assert any(line.endswith("created it") for line in trail), trail
    assert f'{who} moved it from "root cause analysis" to "fix in progress"' in trail
    assert f'{who} set the root cause to "Gateway timeout at 3 s"' in trail
    assert f'{who} commented: "Deployed to staging <b>today</b>"' in trail
    assert not any("{" in line for line in trail), "no raw dicts"
    tasks = _soup(owner, "/tasks")
    assert "Raise the gateway timeout" in tasks.get_text()

    board = _soup(owner, "/problems")
    column = board.select_one("section.column[data-state=resolved]")
    assert column.select_one(f"#problem-{problem.id}") is not None
    assert _soup(owner, "/backlog").find("a", href=problem_url) is None  # resolved: done
    stale = _post(lead, f"{problem_url}/transition", target="verified", version=1)
    assert stale.status_code == 303  # refused as a conflict, shown on the page
    assert "reload" in _soup(lead, problem_url).select_one("p.flash.error").get_text()


def test_move_split_noise_from_the_theme_page(
    client: TestClient, session: Session, data: Seeded
) -> None:
    ids = [
        r.id
        for r in session.scalars(
            sa.select(Interaction).where(Interaction.body_clean.like("password reset%")).limit(2)
        )
    ]
    moved = _post(client, f"/themes/{data.password}/move", target_id=data.card, interaction_ids=ids)
    assert moved.status_code == 303
    assert session.get(Theme, data.card).size == 62
    assert _post(client, f"/themes/{data.password}/noise", confirmed="yes").status_code == 303
    assert session.get(Theme, data.password).status == "noise"
    # Splitting needs cached vectors; without them the reason is shown, nothing changes.
    _post(client, f"/themes/{data.card}/split", confirmed="yes")
    assert (
        "cached vectors"
        in _soup(client, f"/themes/{data.card}").select_one("p.flash.error").get_text()
    )


def test_board_filters_csv_and_query_count(
    client: TestClient, session: Session, engine: Engine, data: Seeded
) -> None:
    team = create_team(session, "Payments IS", "is")
    first = create_problem(session, [data.card], title="Cards", actor="t")
    statements: list[str] = []

    def _count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", _count)
    try:
        client.get("/problems")
        few = len(statements)
        for k in range(6):
            create_problem(session, [data.password], title=f"More {k}", actor="t")
        statements.clear()
        soup = _soup(client, "/problems")
    finally:
        sa.event.remove(engine, "before_cursor_execute", _count)
    assert len(soup.select("li.card")) == 7
    assert len(statements) <= few + 1
    rows = list(csv.DictReader(io.StringIO(client.get("/problems?format=csv").text)))
    assert len(rows) == 7 and {"problem_id", "state", "priority"} <= set(rows[0])
    assert not _soup(client, f"/problems?team={team.id}").select("li.card")
    assert _soup(client, f"/problems?priority={first.priority}").select(f"#problem-{first.id}")


def test_dashboard_filters_alerts_and_csv(client: TestClient, data: Seeded) -> None:
    soup = _soup(client, "/themes?channel=chat")
    figures = {
        d.dt.get_text(strip=True): d.dd.get_text(" ", strip=True)
        for d in soup.select("dl.figures > div")
    }
    assert figures["Contacts"] == "30"  # the card theme's odd days came by chat
    assert [c.h3.get_text(strip=True) for c in soup.select("li.theme-card")] == [
        "Card declined at checkout"
    ]
    assert soup.select_one("select#f-channel option[selected]")["value"] == "chat"
    assert _soup(client, "/themes?date_from=2026-11-01&date_to=2026-11-30").select("li.theme-card")
    assert client.get("/themes?date_from=yesterday").status_code == 400
    rows = list(csv.DictReader(io.StringIO(client.get("/themes?format=csv").text)))
    assert {r["title"] for r in rows} == {"Card declined at checkout", "Password reset link"}
    api = client.get("/api/dashboard").json()
    assert len(api["themes"]) == 2 and len(api["themes"][0]["weekly_contacts"]) == 12
    assert client.get("/api/alerts").status_code == 200


def test_search_by_words_and_meaning(
    app: FastAPI, client: TestClient, session: Session, data: Seeded
) -> None:
    embedder = HashingEmbedder()
    app.state.embedder = embedder
    texts = list(session.scalars(sa.select(Interaction.body_clean)))
    embed_with_cache(session, embedder, texts)
    session.flush()
    soup = _soup(client, "/search?q=refund+card")
    keyword = soup.select("#keyword-results tbody tr")
    assert len(keyword) == 6
    semantic = soup.select("#semantic-results tbody tr")
    assert semantic and "password" not in semantic[0].get_text()
    api = client.get("/api/search", params={"q": "password reset", "mode": "semantic"}).json()
    assert api["keyword"] == [] and "password" in api["semantic"][0]["text"]
    assert "text/csv" in client.get("/search?q=refund&format=csv").headers["content-type"]


def test_admin_users_teams_rules_and_tokens(client: TestClient, session: Session) -> None:
    made = _post(
        client,
        "/admin/users",
        email="New@Example.com",
        role="product_owner",
        password="long enough pw",
    )
    assert made.status_code == 303
    assert sign_in(session, "new@example.com", "long enough pw", "1.2.3.4").user is not None
    _post(client, "/admin/teams", name="Web shop", kind="business")
    yaml_text = (
        "teams:\n  - {name: Shop IS, kind: is}\nrules:\n  - name: shop\n"
        "    priority: 1\n    match: {keywords: [card]}\n"
        "    business_team: Web shop\n    is_team: Shop IS\n"
    )
    assert _post(client, "/admin/rules", yaml_text=yaml_text).status_code == 303
    exported = client.get("/admin/rules.yaml").text
    assert "shop" in exported and "Shop IS" in exported
    bad = _post(client, "/admin/rules", yaml_text="rules: [")
    assert bad.status_code == 303
    assert "YAML" in _soup(client, "/admin").select_one("p.flash.error").get_text()
    _post(client, "/admin/tokens", name="nightly export")
    token = _soup(client, "/admin").select_one("#new-token").get_text()
    assert token.startswith("rl_")
    assert "nightly export" in _soup(client, "/admin").select_one("table.tokens").get_text()
    users = list(csv.DictReader(io.StringIO(client.get("/admin?format=csv").text)))
    assert "new@example.com" in {u["email"] for u in users}


def test_create_admin_command(tmp_path: Any) -> None:
    from rootline.cli.main import app as cli
    from rootline.db import make_engine, make_session_factory, session_scope

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(
        cli,
        ["--db", url, "users", "create-admin", "--email", "root@example.com", "--password-stdin"],
        input="a strong secret\n",
    )
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        user = sign_in(session, "root@example.com", "a strong secret", "127.0.0.1").user
        assert user is not None and user.role == "admin"
    engine.dispose()


def test_theme_pages_show_why_a_theme_is_flagged(
    client: TestClient, session: Session, data: Seeded
) -> None:
    """A spike names its window, rise and p-value; a new theme its first contact."""
    burst = [
        _interaction(
            session,
            1000 + k,
            f"card declined at checkout again {k}",
            created_at=MONDAY + timedelta(days=58 + k % 7, hours=k % 9),
        )
        for k in range(40)
    ]
    session.flush()
    session.add_all(ThemeMembership(interaction_id=i.id, theme_id=data.card) for i in burst)
    session.flush()
    spike = _soup(client, f"/themes/{data.card}")
    assert spike.select_one(".badge.spike") is not None
    text = spike.select_one("#alert-figures").get_text(" ", strip=True)
    assert re.fullmatch(
        r"\d+ contacts in the last (7|14|21) days, [\d.]+x the \d+ weeks "
        r"before \(p = [\d.e+-]+\)",
        text,
    ), text
    new = _soup(client, f"/themes/{data.password}")
    assert new.select_one(".badge.new") is not None
    assert (
        new.select_one("#alert-figures")
        .get_text(" ", strip=True)
        .startswith("first contact 2026-11-06")
    )
