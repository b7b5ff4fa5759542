"""In a real browser: a board member ranks and decides on the governance board, an owner sees
the decision, and an agent at the desk gets the known answer without a page load (htmx)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rootline.clustering.models import Theme
from rootline.config import Settings
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.knowledge import publish_known_error
from rootline.rootcause.service import assign, create_problem
from rootline.rootcause.teams import add_member, create_team
from rootline.web.accounts import ensure_user
from tests.factories import themed_csv, themed_texts
from tests.live_server import serve
from tests.test_browser import ARTIFACTS, PASSWORD, browser, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def board_engine(tmp_path: Path, settings: Settings) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'board.db'}")
    migrate(engine)
    with session_scope(make_session_factory(engine)) as session:
        ingest_file(session, themed_csv(tmp_path / "tickets.csv", per_theme=30))
        cluster(session, settings)
        themes = list(session.scalars(sa.select(Theme.id).where(Theme.status == "active")))
        create_team(session, "Web shop", "business")
        create_team(session, "E-commerce IS", "is")
        board = create_team(session, "Problem board", "board")
        for theme_id in themes:
            problem = create_problem(session, [theme_id], actor="seed")
            assign(session, problem.id, business="Web shop", is_team="E-commerce IS", actor="seed")
            problem.workaround = "Offer the phone order line meanwhile."
            publish_known_error(session, problem)
        member = ensure_user(session, "cfo@example.com", "product_owner", PASSWORD)
        add_member(session, board, member)
        ensure_user(session, "owner@example.com", "is_owner", PASSWORD)
        ensure_user(session, "agent@example.com", "viewer", PASSWORD)
    yield engine
    engine.dispose()


def test_the_board_decides_and_the_desk_answers(  # type: ignore[no-untyped-def]
    browser,  # noqa: F811
    board_engine: Engine,
    settings: Settings,
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve(settings, board_engine) as base:
        page = browser.new_page()
        sign_in(page, base, "cfo@example.com")
        page.click("nav >> text=Board")
        page.wait_for_url(f"{base}/governance")
        rows = page.locator("#governance-table tbody tr")
        assert rows.count() >= 3
        ranks = rows.locator("td.num").all_inner_texts()
        assert ranks == [str(k) for k in range(1, rows.count() + 1)]
        first = rows.nth(0).get_attribute("data-problem")
        later = (date.today() + timedelta(days=21)).isoformat()
        page.select_option(f"#decision-{first}", "defer")
        page.fill(f"#until-{first}", later)
        page.fill(f"#reason-{first}", "Wait for the new checkout")
        page.click(f"#problem-{first} form.decide button")
        page.wait_for_load_state()
        assert "defer recorded" in page.locator("p.flash").inner_text()
        standing = page.locator(f"#problem-{first} td.standing")
        assert "deferred" in standing.inner_text() and later in standing.inner_text()
        page.screenshot(path=str(ARTIFACTS / "governance-board.png"), full_page=True)
        page.click("form.signout button")

        sign_in(page, base, "owner@example.com")
        page.goto(f"{base}/governance")
        assert page.locator("form.decide").count() == 0
        assert "cfo@example.com" in page.locator(f"#problem-{first} td.standing").inner_text()
        page.goto(f"{base}/governance/review")
        assert page.locator("#review-table tbody tr").count() == 1
        page.click("form.signout button")

        sign_in(page, base, "agent@example.com")
        page.goto(f"{base}/desk")
        page.fill("#desk-text", themed_texts(1, seed=3)[0][0])
        page.click("form.desk button")
        page.wait_for_selector("#triage-theme a")
        assert page.url == f"{base}/desk"  # swapped in by htmx, no page load
        assert "phone order line" in page.locator("#triage-workaround").inner_text()
        page.screenshot(path=str(ARTIFACTS / "agent-desk.png"), full_page=True)
