"""Charts in a real browser with no internet: every request that leaves the app's own server
is refused and recorded, and the charts must still draw (the dashboard's with scripts on and
off, and a problem's verification chart)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rootline.clustering.models import Theme
from rootline.config import Settings
from rootline.db import make_session_factory, session_scope
from rootline.rootcause.service import create_problem, record_fix
from tests.live_server import serve
from tests.test_browser import (  # noqa: F401  (fixtures)
    ARTIFACTS,
    browser,
    loaded_engine,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _offline(context, base: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Refuse every request to another host, as a machine without internet would."""
    outside: list[str] = []
    own = urlparse(base).netloc

    def handle(route) -> None:  # type: ignore[no-untyped-def]
        if urlparse(route.request.url).netloc == own:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", handle)
    return outside


@pytest.mark.parametrize("scripts", [True, False], ids=["scripts", "no-scripts"])
def test_volume_chart_and_sparklines_draw_offline(
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    loaded_engine: Engine,  # noqa: F811
    settings: Settings,
    scripts: bool,
) -> None:
    shots = Path(os.environ.get("ROOTLINE_SCREENSHOTS", str(ARTIFACTS)))
    shots.mkdir(parents=True, exist_ok=True)
    with serve(settings, loaded_engine) as base:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=scripts
        )
        outside = _offline(context, base)
        page = context.new_page()
        refused: list[str] = []
        page.on(
            "console",
            lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        sign_in(page, base, "lead@example.com")
        page.goto(f"{base}/themes")
        chart = page.locator("#volume-chart svg")
        box = chart.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 100
        # Every week is a column, and each drawn layer has a visible height.
        weeks = page.locator("#volume-chart g.week")
        assert weeks.count() == 12
        heights = page.evaluate(
            "() => [...document.querySelectorAll('#volume-chart rect.layer')]"
            ".map(r => r.getBoundingClientRect().height)"
        )
        assert heights and all(h > 0 for h in heights)
        # Columns are as tall on screen as their week's contacts, on one scale.
        totals = [int(weeks.nth(i).get_attribute("data-total") or 0) for i in range(12)]
        drawn = page.evaluate(
            "() => [...document.querySelectorAll('#volume-chart g.week')].map(g => "
            "[...g.querySelectorAll('rect.layer')].reduce((h, r) => "
            "h + r.getBoundingClientRect().height, 0))"
        )
        scale = max(drawn) / max(totals)
        assert drawn == pytest.approx([t * scale for t in totals], abs=1.5)
        legend = page.locator("#volume-chart .legend li")
        assert 1 <= legend.count() <= 6
        # A sparkline names the week under the pointer.
        spark = page.locator("li.theme-card svg.spark").first
        assert (spark.bounding_box() or {}).get("width", 0) > 50
        last = spark.locator("rect.hit title").last.text_content() or ""
        assert last.startswith("Week of ") and "contact" in last
        assert page.locator("li.theme-card .spark-dates").first.is_visible()
        assert page.locator("#score-window").is_visible()
        if scripts:
            page.locator("#volume-chart").screenshot(path=str(shots / "themes-volume.png"))
        # The theme page says the same window.
        words = page.locator("#score-window").inner_text()
        page.locator("li.theme-card h3 a").first.click()
        page.wait_for_url(f"{base}/themes/*")
        assert page.locator("#score-window").inner_text() == words
        assert not outside, outside
        assert not refused, refused
        context.close()


def test_verification_chart_draws_offline(
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    loaded_engine: Engine,  # noqa: F811
    settings: Settings,
) -> None:
    with session_scope(make_session_factory(loaded_engine)) as session:
        theme = session.scalars(
            sa.select(Theme).where(Theme.status == "active").order_by(Theme.size.desc())
        ).first()
        assert theme is not None
        problem = create_problem(session, [theme.id], title="Checked fix", actor="t")
        record_fix(session, problem.id, "2026-09-28", description="A fix", actor="t")
        problem_id = problem.id
    with serve(settings, loaded_engine) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        outside = _offline(context, base)
        page = context.new_page()
        sign_in(page, base, "lead@example.com")
        page.goto(f"{base}/problems/{problem_id}")
        assert page.locator("#verdict .headline").inner_text().strip()
        chart = page.locator("#fix-chart svg")
        box = chart.bounding_box()
        assert box is not None and box["width"] > 400 and box["height"] > 100
        before = page.locator("#fix-chart rect.bar.before")
        after = page.locator("#fix-chart rect.bar.after")
        assert before.count() == 8 and after.count() >= 3
        # The fix line stands between the weeks before and after it, on screen.
        fix = page.locator("#fix-chart line.fix").bounding_box()
        last_before = before.last.bounding_box()
        first_after = after.first.bounding_box()
        assert fix and last_before and first_after
        assert last_before["x"] + last_before["width"] <= fix["x"] + 1
        assert fix["x"] <= first_after["x"] + 1
        assert page.locator("#fix-chart line.level").count() == 2
        page.locator("#verify-heading").scroll_into_view_if_needed()
        page.locator("#fix-chart").screenshot(path=str(ARTIFACTS / "problem-verification.png"))
        assert not outside, outside
        context.close()
