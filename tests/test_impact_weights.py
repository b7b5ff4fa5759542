"""The impact score's weights as an admin sets them: scaled to add up to 1, audited, used by
every score from then on (themes, the dashboard, figures), refused when they make no sense,
and changed on the web only by admins."""
# The app and client fixtures are shared with test_web_pages by importing them, which ruff
# reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.errors import InputError
from rootline.rootcause.figures import theme_figures
from rootline.rootcause.impact import WEIGHTS, impact_weights, set_impact_weights, theme_impact
from rootline.rootcause.models import AuditEvent
from rootline.web import queries
from tests.factories import InteractionFactory, ThemeFactory
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    csrf_of,
    login,
)


def _theme(session: Session, contacts: int = 40) -> int:
    for f in (InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session
    theme = ThemeFactory()
    start = datetime(2026, 8, 3, 9, tzinfo=UTC)
    for k in range(contacts):
        item = InteractionFactory(created_at=start + timedelta(hours=7 * k))
        session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    session.flush()
    return theme.id


def test_weights_are_scaled_audited_and_used(session: Session) -> None:
    tid = _theme(session)
    assert impact_weights(session) == WEIGHTS
    before = theme_impact(session, tid)
    # Only the contact count counts: the score is 100 x its normalised value.
    zeros = {name: 0.0 for name in WEIGHTS}
    new = set_impact_weights(session, zeros | {"contacts": 2.0}, actor="admin@example.com")
    assert new == zeros | {"contacts": 1.0}
    after = theme_impact(session, tid)
    contacts_norm = math.log1p(40) / math.log1p(500)
    assert after.score == pytest.approx(100 * contacts_norm, abs=0.1)
    assert after.score != before.score
    assert after.components["contacts"]["weight"] == 1.0
    assert theme_figures(session, [tid])[tid].impact_score == after.score
    assert queries.theme_figures(session, tid).impact.score == after.score
    # A partial change keeps the other weights, then scales all of them.
    again = set_impact_weights(session, {"trend": 1.0}, actor="admin@example.com")
    assert again["contacts"] == again["trend"] == 0.5
    event = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.object_type == "impact_weights")
    ).all()[-1]
    assert event.new_value == again and event.actor == "admin@example.com"


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"size": 1.0}, "unknown impact component"),
        ({"contacts": -1.0}, "must be 0 or more"),
        ({"contacts": float("nan")}, "must be 0 or more"),
        (dict.fromkeys(WEIGHTS, 0.0), "at least one weight"),
    ],
)
def test_weights_that_make_no_sense_are_refused(
    session: Session, weights: dict[str, float], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        set_impact_weights(session, weights, actor="x")
    assert impact_weights(session) == WEIGHTS


def test_admins_change_weights_on_the_web(anonymous: TestClient, session: Session) -> None:
    login(anonymous, session, "admin")
    token = csrf_of(anonymous, "/impact/weights")
    form = {name: "0" for name in WEIGHTS} | {"customers": "3", "csrf_token": token}
    sent = anonymous.post("/impact/weights", data=form, follow_redirects=False)
    assert sent.status_code == 303
    assert anonymous.get("/api/impact/weights").json()["customers"] == 1.0
    put = anonymous.put(
        "/api/impact/weights", json={"contacts": 1.0}, headers={"X-CSRF-Token": token}
    )
    assert put.status_code == 200 and put.json()["contacts"] == 0.5
    bad = anonymous.put("/api/impact/weights", json={"size": 1.0}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 400


def test_leads_read_the_weights_but_may_not_change_them(
    anonymous: TestClient, session: Session
) -> None:
    login(anonymous, session, "support_lead")
    page = anonymous.get("/impact/weights")
    assert page.status_code == 200 and 'type="number"' not in page.text
    token = csrf_of(anonymous, "/impact")
    sent = anonymous.post(
        "/impact/weights", data={"contacts": "1", "csrf_token": token}, follow_redirects=False
    )
    assert sent.status_code == 403
    assert impact_weights(session) == WEIGHTS
