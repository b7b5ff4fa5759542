"""Main journeys in a real browser: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from rootline.config import Settings
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.web.accounts import ensure_user
from tests.factories import themed_csv, write_csv
from tests.live_server import serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
PASSWORD = "browser-secret-1"


def sign_in(page, base: str, email: str, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    """Sign in through the form, as a person would."""
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{base}/themes*")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"required in CI: {CHROMIUM} is missing (make browser installs it)")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def loaded_engine(tmp_path: Path, settings: Settings) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'web.db'}")
    migrate(engine)
    path = themed_csv(tmp_path / "tickets.csv", per_theme=30)
    hostile = write_csv(
        tmp_path / "hostile.csv",
        [
            # Entities decode to a literal <script> element in the cleaned text.
            {
                "id": f"H{i}",
                "body": f"&lt;script&gt;window.pwned=1&lt;/script&gt; password reset "
                f"link never arrives expired email login {i}",
            }
            for i in range(12)
        ],
    )
    with session_scope(make_session_factory(engine)) as session:
        ingest_file(session, path)
        ingest_file(session, hostile)
        cluster(session, settings)
        ensure_user(session, "lead@example.com", "support_lead", PASSWORD)
    yield engine
    engine.dispose()


def test_browse_themes_and_open_one(browser, loaded_engine: Engine, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve(settings, loaded_engine) as base:
        page = browser.new_page()
        sign_in(page, base, "lead@example.com")
        page.goto(f"{base}/themes")
        assert page.locator("h1").first.inner_text().strip() != ""
        links = page.locator("a[href^='/themes/']")
        assert links.count() >= 4
        page.screenshot(path=str(ARTIFACTS / "themes.png"), full_page=True)
        links.first.click()
        page.wait_for_url(f"{base}/themes/*")
        page.screenshot(path=str(ARTIFACTS / "theme.png"), full_page=True)
        assert page.evaluate("window.pwned === undefined")
        # Hostile text is shown as text, never run, on every theme page.
        page.goto(f"{base}/themes")
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        seen_literal = False
        for href in hrefs:
            page.goto(f"{base}{href}")
            assert page.evaluate("window.pwned === undefined")
            assert page.locator("script:not([src])").filter(has_text="pwned").count() == 0
            seen_literal = seen_literal or "<script>window.pwned=1</script>" in page.inner_text(
                "body"
            )
        assert seen_literal, "the hostile text should be shown, as text, on some theme page"
        page.close()


def test_keyboard_only_sign_in_and_navigation(
    browser,
    loaded_engine: Engine,  # type: ignore[no-untyped-def]
    settings: Settings,
) -> None:
    """Sign in, skip to the content and move between pages with the keyboard alone."""
    with serve(settings, loaded_engine) as base:
        page = browser.new_page()
        page.goto(f"{base}/login")
        # The e-mail field has the focus on arrival, so typing starts at once.
        assert page.evaluate("document.activeElement.id") == "email"
        page.keyboard.type("lead@example.com")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "password"
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/themes*")
        # The first Tab reaches the skip link, which is visible when focused and jumps to main.
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        assert page.locator(".skip-link").is_visible()
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        shadow = page.evaluate("getComputedStyle(document.activeElement).boxShadow")
        assert outline != "none" or shadow != "none", "focused links must show focus"
        page.keyboard.press("Enter")
        assert page.evaluate("location.hash") == "#main"
        # Tab through the main navigation to the problem board and open it with Enter.
        for _ in range(20):
            if page.evaluate("document.activeElement.getAttribute('href')") == "/problems":
                break
            page.keyboard.press("Tab")
        else:  # the board may sit before the skip target; start again from the top
            page.goto(f"{base}/themes")
            for _ in range(20):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement.getAttribute('href')") == "/problems":
                    break
        assert page.evaluate("document.activeElement.getAttribute('href')") == "/problems"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/problems")
        assert page.locator("h1").first.inner_text().strip() != ""
        page.close()


def test_pages_and_api_docs_run_under_the_content_security_policy(
    browser,
    loaded_engine: Engine,  # type: ignore[no-untyped-def]
    settings: Settings,
) -> None:
    """The strict policy refuses nothing the app itself needs: no violation on any page
    visited, htmx still swaps, and Swagger UI still renders from its hashed inline script."""
    with serve(settings, loaded_engine) as base:
        page = browser.new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        sign_in(page, base, "lead@example.com")
        for path in ("/themes", "/problems", "/search?q=password", "/tasks"):
            response = page.goto(f"{base}{path}")
            assert response is not None and response.headers["content-security-policy"]
            assert page.evaluate("typeof window.htmx") == "object", path
        page.goto(f"{base}/themes")
        page.locator("a[href^='/themes/']").first.click()
        page.wait_for_url(f"{base}/themes/*")
        page.goto(f"{base}/docs")
        page.wait_for_selector("#swagger-ui .info", timeout=15_000)
        assert page.locator("#swagger-ui .opblock").count() > 10
        assert not refused, refused
        page.close()


def test_dashboard_table_and_score_bars_render_under_the_policy(
    browser,
    loaded_engine: Engine,  # type: ignore[no-untyped-def]
    settings: Settings,
) -> None:
    """The table view, its sort links and the impact bars draw with no policy violation; each
    bar is as wide as its score, and its words add up to it."""
    shots = Path(os.environ.get("ROOTLINE_SCREENSHOTS", str(ARTIFACTS)))
    shots.mkdir(parents=True, exist_ok=True)
    with serve(settings, loaded_engine) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        refused: list[str] = []
        page.on(
            "console",
            lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        sign_in(page, base, "lead@example.com")
        page.goto(f"{base}/themes")
        page.click("nav.view-toggle >> text=Table")
        page.wait_for_url(f"{base}/themes?view=table")
        rows = page.locator("table.theme-table tbody tr")
        assert rows.count() >= 4
        track = page.locator("td.impact .score-bar svg").first.bounding_box()
        assert track is not None and track["width"] >= 80
        # The first row's bar: its segments fill score/100 of the track.
        score = int(rows.first.locator(".score strong").inner_text())
        filled = page.evaluate(
            "() => [...document.querySelector('td.impact .score-bar svg').querySelectorAll("
            "'rect.seg')].reduce((w, r) => w + r.getBoundingClientRect().width, 0)"
        )
        assert filled == pytest.approx(track["width"] * score / 100, abs=3)
        page.screenshot(path=str(shots / "themes-table.png"), full_page=True)
        page.click("th >> a:has-text('Contacts')")
        page.wait_for_url("**sort=size**")
        sizes = [int(t) for t in rows.locator("td.size").all_inner_texts()]
        assert sizes == sorted(sizes, reverse=True)
        page.goto(f"{base}/themes")
        page.screenshot(path=str(shots / "themes-cards.png"), full_page=True)
        page.locator("li.theme-card h3 a").first.click()
        page.wait_for_url(f"{base}/themes/*")
        page.click("#score-breakdown summary")
        assert page.locator("#score-breakdown table").is_visible()
        page.locator("#score-breakdown").screenshot(path=str(shots / "theme-breakdown.png"))
        assert not refused, refused
        page.close()
