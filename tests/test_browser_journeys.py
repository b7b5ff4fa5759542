"""The main journey in a real browser: a support lead reviews and promotes a theme, the routed
IS owner works the problem to resolved, and it shows on the board. Hostile text stays text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from rootline.config import Settings
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.teams import add_member, triage_team
from rootline.web.accounts import ensure_user
from tests.factories import themed_csv, write_csv
from tests.live_server import serve
from tests.test_browser import ARTIFACTS, PASSWORD, browser, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def journey_engine(tmp_path: Path, settings: Settings) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'journey.db'}")
    migrate(engine)
    hostile = write_csv(
        tmp_path / "hostile.csv",
        [
            {
                "id": f"H{i}",
                "subject": "<script>window.pwned=1</script>",
                "body": f"&lt;script&gt;window.pwned=1&lt;/script&gt; card declined payment visa {i}",
            }
            for i in range(3)
        ],
    )
    with session_scope(make_session_factory(engine)) as session:
        ingest_file(session, themed_csv(tmp_path / "tickets.csv", per_theme=30))
        ingest_file(session, hostile)
        cluster(session, settings)
        ensure_user(session, "lead@example.com", "support_lead", PASSWORD)
        owner = ensure_user(session, "is@example.com", "is_owner", PASSWORD)
        add_member(session, triage_team(session), owner)
    yield engine
    engine.dispose()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_review_promote_and_resolve(browser, journey_engine: Engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve(settings, journey_engine) as base:
        page = browser.new_page()
        sign_in(page, base, "lead@example.com")
        _shot(page, "dashboard")
        hrefs = page.locator("li.theme-card h3 a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
        assert len(hrefs) >= 2
        keep, absorbed = hrefs[0], hrefs[1]
        keep_id = keep.rsplit("/", 1)[1]

        # Review: merge the second theme into the first, then rename the first.
        page.goto(f"{base}{absorbed}")
        page.select_option("#merge-target", keep_id)
        page.click("form[action$='/merge'] button")
        # A confirmation says what will change; the merge happens on "Merge".
        assert page.locator("#confirm ul.changes li").count() >= 2
        page.click("#confirm button[type=submit]")
        page.wait_for_url(f"{base}{keep}")
        assert "merged into this one" in page.locator("p.flash").inner_text()
        page.fill("#rename-title", "Checkout payments refused")
        page.click("form[action$='/rename'] button")
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Checkout payments refused"
        # Hostile text shows as text and never runs.
        assert page.evaluate("window.pwned === undefined")
        _shot(page, "theme-reviewed")

        # Promote to a problem: it is routed (no rule matches: the triage team).
        page.fill("#promote-tags", "web")
        page.click("form[action$='/promote'] button")
        page.wait_for_url(f"{base}/problems/*")
        problem_url = page.url
        assert page.locator("#problem-state").inner_text() == "new"
        assert "triage" in page.locator("#routing").inner_text().lower()
        page.click("form.signout button")
        page.wait_for_url(f"{base}/login")

        # The routed IS owner works it through its states.
        sign_in(page, base, "is@example.com")
        page.goto(problem_url)
        for target in ("assessed", "root_cause_analysis"):
            page.click(f"button[data-target={target}]")
            page.wait_for_load_state()
            assert page.locator("#problem-state").inner_text() == target.replace("_", " ")
        page.fill("#root_cause", "The payment gateway times out after 3 seconds")
        page.click("form[action$='/update'] button")
        page.wait_for_load_state()
        page.click("button[data-target=fix_in_progress]")
        page.wait_for_load_state()
        assert page.locator("#problem-state").inner_text() == "fix in progress"
        page.fill("#fixed_on", "2026-10-01")
        page.fill("#fix-description", "Gateway timeout raised to 10 seconds")
        page.click("form[action$='/fix'] button")
        page.wait_for_load_state()
        assert page.locator("#problem-state").inner_text() == "resolved"
        assert page.locator("#verdict").count() == 1
        _shot(page, "problem-resolved")

        page.goto(f"{base}/problems")
        problem_id = problem_url.rsplit("/", 1)[1]
        card = page.locator(f"section.column[data-state=resolved] #problem-{problem_id}")
        assert card.count() == 1
        _shot(page, "board")
        page.goto(f"{base}/search?q=script&mode=keyword")
        assert "<script>window.pwned=1</script>" in page.inner_text("#keyword-results")
        assert page.evaluate("window.pwned === undefined")
        _shot(page, "search-hostile-text")
        page.close()
