"""Asking first and taking back, in a real browser, offline and under the page policy: a lead
merges a theme through its confirmation and undoes it; an admin edits a routing rule in the
page and tries it on a theme."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rootline.clustering.models import Theme
from rootline.config import Settings
from rootline.db import make_session_factory, session_scope
from rootline.rootcause.models import RoutingRule
from rootline.web.accounts import ensure_user
from tests.live_server import serve
from tests.test_browser import PASSWORD, browser, loaded_engine, sign_in  # noqa: F401
from tests.test_browser_charts import _offline

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _policy_watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    refused: list[str] = []
    page.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return refused


def test_merge_asks_then_undo_takes_it_back(
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    loaded_engine: Engine,  # noqa: F811
    settings: Settings,
) -> None:
    with session_scope(make_session_factory(loaded_engine)) as session:
        ids = session.scalars(
            sa.select(Theme.id).where(Theme.status == "active").order_by(Theme.id)
        ).all()
        source, target = ids[0], ids[1]
        size = session.get(Theme, source).size
    with serve(settings, loaded_engine) as base:
        context = browser.new_context()
        outside = _offline(context, base)
        page = context.new_page()
        refused = _policy_watch(page)
        sign_in(page, base, "lead@example.com")
        page.goto(f"{base}/themes/{source}")
        page.select_option("#merge-target", str(target))
        page.click("form[action$='/merge'] button")
        changes = page.locator("#confirm ul.changes li")
        assert f"{size} contacts" in changes.first.inner_text()
        # Cancel changes nothing.
        page.click("#confirm a:has-text('Cancel')")
        page.wait_for_url(f"{base}/themes/{source}")
        assert page.locator("#theme-status").inner_text() == "active"
        page.select_option("#merge-target", str(target))
        page.click("form[action$='/merge'] button")
        page.click("#confirm button[type=submit]")
        page.wait_for_url(f"{base}/themes/{target}")
        page.goto(f"{base}/themes/{source}")
        assert page.locator("#theme-status").inner_text() == "merged"
        page.click("#undo-form button")
        page.click("#confirm button[type=submit]")
        page.wait_for_url(f"{base}/themes/{source}")
        assert page.locator("#theme-status").inner_text() == "active"
        assert page.locator("p.meta strong").first.inner_text() == str(size)
        assert not outside, outside
        assert not refused, refused
        context.close()


def test_admin_edits_a_rule_and_tries_it(
    browser,  # type: ignore[no-untyped-def]  # noqa: F811
    loaded_engine: Engine,  # noqa: F811
    settings: Settings,
) -> None:
    with session_scope(make_session_factory(loaded_engine)) as session:
        ensure_user(session, "admin@example.com", "admin", PASSWORD)
        theme = session.scalars(
            sa.select(Theme).where(Theme.status == "active").order_by(Theme.size.desc())
        ).first()
        assert theme is not None
        word = theme.keywords[0]
        rule = RoutingRule(name="everything", priority=50, conditions={"keywords": "zzz"})
        session.add(rule)
        session.flush()
        rule_id, theme_id = rule.id, theme.id
    with serve(settings, loaded_engine) as base:
        context = browser.new_context()
        outside = _offline(context, base)
        page = context.new_page()
        refused = _policy_watch(page)
        sign_in(page, base, "admin@example.com")
        page.goto(f"{base}/admin")
        page.click(f"a[href='/admin/rules/{rule_id}']")
        page.wait_for_url(f"{base}/admin/rules/{rule_id}")
        page.select_option("#preview-theme", str(theme_id))
        page.click("#preview button")
        assert page.locator("#preview-result").get_attribute("data-matches") == "no"
        page.fill("#rule-conditions", f"keywords: {word}")
        page.fill("#rule-priority", "5")
        page.click("#rule-form button[type=submit]")
        page.wait_for_url(f"{base}/admin/rules/{rule_id}?theme={theme_id}")
        assert "saved" in page.locator("p.flash").inner_text()
        assert page.locator("#preview-result").get_attribute("data-matches") == "yes"
        assert word in page.locator("#preview-result").inner_text()
        assert not outside, outside
        assert not refused, refused
        context.close()
