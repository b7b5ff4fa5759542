"""A problem's verification as its page words it: too early (with the date it will tell), a
provisional "no clear drop yet" before the worker's full window, final verdicts after it, and
the weekly share of contacts around the fix date with the test's before and after levels."""
# The app, client and data fixtures are shared with test_web_pages by importing them, which
# ruff reads as redefinitions when tests take them as arguments.
# ruff: noqa: F811

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.rootcause.service import create_problem, record_fix
from rootline.rootcause.teams import ROLES
from rootline.rootcause.verification import verify_problem
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    _interaction,
    _soup,
    _theme,
    anonymous,
    app,
    client,
    login,
)

FIX = datetime(2026, 10, 5, tzinfo=UTC)  # a Monday
BEFORE_DAYS = 56


def _story(session: Session, *, days_after: int, before: int = 3, after: int = 3) -> int:
    """A theme with ``before`` contacts a day for eight weeks before the fix and ``after`` a
    day since, among 6 other contacts a day; the data ends ``days_after`` days after the fix.
    Returns the problem's id."""
    n = 0
    themed = []
    for day in range(-BEFORE_DAYS, days_after):
        at = FIX + timedelta(days=day, hours=10)
        for _ in range(before if day < 0 else after):
            themed.append(_interaction(session, 20_000 + n, f"parcel lost {n}", created_at=at))
            n += 1
        for _ in range(6):
            _interaction(session, 20_000 + n, f"something else {n}", created_at=at)
            n += 1
    theme = _theme(session, "Parcel lost", ["parcel", "lost"], themed)
    problem = create_problem(session, [theme.id], title="Lost parcels", actor="t")
    record_fix(session, problem.id, FIX.date(), description="New courier", actor="t")
    session.flush()
    return problem.id


def _verdict(client: TestClient, problem_id: int) -> tuple[str, str]:
    soup = _soup(client, f"/problems/{problem_id}")
    box = soup.select_one("#verdict")
    return box["data-kind"], box.get_text(" ", strip=True)


def test_a_few_days_after_the_fix_is_too_early_and_says_when(
    client: TestClient, session: Session
) -> None:
    problem_id = _story(session, days_after=3)
    kind, text = _verdict(client, problem_id)
    assert kind == "too_early"
    assert "Too early to tell" in text
    assert "Only 3 full day(s) of data since the fix" in text
    assert "A first reading is possible on 2026-10-12" in text
    assert "final verdict on 2026-11-02" in text


def test_no_drop_before_the_full_window_is_provisional(
    client: TestClient, session: Session
) -> None:
    problem_id = _story(session, days_after=10)
    assert verify_problem(session, problem_id).verdict == "failed"
    kind, text = _verdict(client, problem_id)
    assert kind == "provisional"
    assert "No clear drop yet" in text and "failed" not in text.lower()
    assert "After 10 days the contact rate went from" in text
    assert "final when the full 28-day windows are in, on 2026-11-02" in text
    assert "not reopened before then" in text


def test_no_drop_over_the_full_window_is_final(client: TestClient, session: Session) -> None:
    problem_id = _story(session, days_after=30)
    kind, text = _verdict(client, problem_id)
    assert kind == "failed"
    assert "The fix did not reduce contacts" in text
    assert "Over the full 28-day windows the contact rate went from" in text


def test_a_clear_drop_is_verified(client: TestClient, session: Session) -> None:
    problem_id = _story(session, days_after=14, before=4, after=0)
    kind, text = _verdict(client, problem_id)
    assert kind == "verified"
    assert "Fix verified" in text and "The contact rate fell from" in text


def test_a_quiet_theme_says_when_there_will_be_enough(client: TestClient, session: Session) -> None:
    problem_id = _story(session, days_after=8, before=1, after=1)
    result = verify_problem(session, problem_id)
    assert result.verdict == "not_yet" and result.window_days == 8
    kind, text = _verdict(client, problem_id)
    assert kind == "too_early"
    # 1 of 7 contacts a day is expected: 10 need about 10 days.
    assert "there should be enough by about 2026-10-1" in text


def test_a_theme_too_quiet_for_the_full_window_is_never_failed(
    client: TestClient, session: Session
) -> None:
    problem_id = _story(session, days_after=29, before=0, after=0)
    kind, text = _verdict(client, problem_id)
    assert kind == "too_quiet" and "Too few contacts to tell" in text
    assert "A lead may accept the fix without data evidence" in text


def test_weekly_chart_shows_the_shares_the_fix_and_the_levels(
    client: TestClient, session: Session
) -> None:
    problem_id = _story(session, days_after=17, before=3, after=1)
    result = verify_problem(session, problem_id)
    soup = _soup(client, f"/problems/{problem_id}")
    chart = soup.select_one("#fix-chart")
    bars = chart.select("rect.bar")
    # Eight weeks before, three after (the last one cut short by the end of the data).
    assert [int(b["data-offset"]) for b in bars] == list(range(-8, 3))
    assert all(int(b["data-theme"]) == 21 and int(b["data-all"]) == 63 for b in bars[:8])
    assert [int(b["data-theme"]) for b in bars[8:]] == [7, 7, 3]
    assert [int(b["data-all"]) for b in bars[8:]] == [49, 49, 21]
    assert "partial" in bars[-1]["class"]
    assert (
        bars[0]
        .select_one("title")
        .get_text()
        .startswith("2026-08-10 to 2026-08-16, week 8 before the fix: 21 of 63 contacts (33.3%)")
    )
    # The fix line sits between the last bar before and the first after.
    fix_x = float(chart.select_one("line.fix")["x1"])
    assert float(bars[7]["x"]) + float(bars[7]["width"]) < fix_x < float(bars[8]["x"])
    levels = {line["class"][1]: float(line["data-rate"]) for line in chart.select("line.level")}
    assert levels == {"before": result.before_rate, "after": result.after_rate}
    # Bars are as tall as their share: the before weeks, at a higher share, stand taller.
    assert float(bars[0]["height"]) > float(bars[8]["height"]) > 0
    rows = chart.select("table.fix-weeks tbody tr")
    assert len(rows) == len(bars) and "(so far)" in rows[-1].get_text()
    api = client.get(f"/api/problems/{problem_id}/verification").json()
    assert api["verdict"] == result.verdict
    assert api["in_words"]["kind"] == "verified"
    assert api["in_words"]["final_on"] == "2026-11-02"
    assert [w["theme_contacts"] for w in api["weeks"]] == [21] * 8 + [7, 7, 3]


def test_no_fix_no_verdict(client: TestClient, session: Session) -> None:
    rows = [_interaction(session, 30_000 + i, f"slow site {i}") for i in range(3)]
    theme = _theme(session, "Slow site", ["slow"], rows)
    problem = create_problem(session, [theme.id], title="Slow site", actor="t")
    soup = _soup(client, f"/problems/{problem.id}")
    assert soup.select_one("#verdict") is None and soup.select_one("#fix-chart") is None
    assert "No fix recorded yet." in soup.get_text()
    assert client.get(f"/api/problems/{problem.id}/verification").status_code == 400


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_verification(
    anonymous: TestClient, session: Session, role: str
) -> None:
    problem_id = _story(session, days_after=10)
    login(anonymous, session, role)
    kind, _ = _verdict(anonymous, problem_id)
    assert kind == "provisional"
    assert anonymous.get(f"/api/problems/{problem_id}/verification").status_code == 200


def test_signed_out_people_are_sent_to_sign_in(anonymous: TestClient, session: Session) -> None:
    problem_id = _story(session, days_after=3)
    response = anonymous.get(f"/problems/{problem_id}", follow_redirects=False)
    assert response.status_code in (302, 303, 307) and "verdict" not in response.text
    assert anonymous.get(f"/api/problems/{problem_id}/verification").status_code == 401
