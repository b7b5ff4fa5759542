"""Survey answers loaded from a file, the service-quality ranking, and the account book, on
small desks whose answers are counted by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ThemeMembership
from rootline.errors import InputError
from rootline.ingest.models import CustomerEvent
from rootline.rootcause.accounts import account_book, account_owners
from rootline.rootcause.models import Problem, ProblemTheme, SurveyResponse
from rootline.rootcause.surveys import (
    import_surveys,
    read_survey_csv,
    service_quality,
    wilson_interval,
)
from tests.factories import CustomerFactory, InteractionFactory, ThemeFactory

T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)


def _bind(session: Session) -> None:
    for f in (CustomerFactory, InteractionFactory, ThemeFactory):
        f._meta.sqlalchemy_session = session


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "surveys.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_survey_file_is_loaded_and_reloaded(session: Session, tmp_path: Path) -> None:
    _bind(session)
    one = InteractionFactory(source="desk", external_id="1")
    InteractionFactory(source="desk", external_id="2")
    path = _csv(
        tmp_path,
        "source,external_id,question,answer,scale,responded_at\n"
        "desk,1,Satisfied,yes,,2026-05-04T10:00:00Z\n"
        "desk,1,recommend,9,10,\n"
        "desk,2,satisfied,4,5,\n"
        "desk,99,satisfied,no,,\n",
    )
    load = import_surveys(session, read_survey_csv(path), name=path.name)
    assert (load.read, load.inserted, load.updated, load.unmatched) == (4, 3, 0, 1)
    assert load.unmatched_lines == [5]
    answers = {
        (r.interaction_id, r.question): (r.score, r.scale_max)
        for r in session.scalars(sa.select(SurveyResponse))
    }
    assert answers[(one.id, "satisfied")] == (1.0, 1.0)
    assert answers[(one.id, "recommend")] == (9.0, 10.0)
    again = import_surveys(session, read_survey_csv(path), name=path.name)
    assert (again.inserted, again.updated) == (0, 3)
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 3


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("desk,1,satisfied,maybe,,", "line 2, field 'answer': not yes/no"),
        ("desk,1,satisfied,4,,", "line 2, field 'scale'"),
        ("desk,1,satisfied,7,5,", "7 is not on a scale of 0-5"),
        ("desk,1,,yes,,", "line 2, field 'question': empty"),
        ("desk,1,satisfied,yes,,someday", "line 2, field 'responded_at'"),
    ],
)
def test_a_bad_answer_names_its_line_and_field(
    session: Session, tmp_path: Path, row: str, message: str
) -> None:
    _bind(session)
    InteractionFactory(source="desk", external_id="1")
    path = _csv(tmp_path, "source,external_id,question,answer,scale,responded_at\n" + row + "\n")
    with pytest.raises(InputError, match=message):
        import_surveys(session, read_survey_csv(path), name="s.csv")
    assert session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse)) == 0


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, "source,external_id,answer\n")
    with pytest.raises(InputError, match=r"line 1: missing column.*question"):
        list(read_survey_csv(path))


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson_interval(8, 10) or (0, 0)
    # Worked out from the formula: p = 0.8, n = 10, z = 1.96.
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 0) is None


def test_branches_ranked_by_top_box_and_by_contact_rate(session: Session) -> None:
    _bind(session)
    # North: 2 customers, 3 contacts, satisfied 2 of 2. South: 4 customers, 4 contacts,
    # satisfied 18 of 20 answers (several answers on one contact's questions are not allowed,
    # so 20 contacts of 4 customers). East: no answers.
    plan = {"north": (2, 3, [1, 1]), "south": (4, 20, [1] * 18 + [0] * 2), "east": (1, 1, [])}
    for branch, (customers, contacts, answers) in plan.items():
        people = [CustomerFactory() for _ in range(customers)]
        for i in range(contacts):
            item = InteractionFactory(
                customer_id=people[i % customers].id,
                created_at=T0 + timedelta(hours=i),
                extra={"branch": branch},
            )
            if i < len(answers):
                session.add(
                    SurveyResponse(
                        interaction_id=item.id, question="satisfied", score=answers[i], scale_max=1
                    )
                )
    session.flush()
    ranks = service_quality(session, "branch")
    assert [r.key for r in ranks] == ["south", "north", "east"]
    south, north, east = ranks
    assert (south.top_box_answers, south.top_box_rate, south.satisfaction_rank) == (20, 0.9, 1)
    # 2 of 2 is a perfect rate but a wide interval: ranked below 18 of 20.
    assert north.top_box_rate == 1.0 and north.satisfaction_rank == 2
    assert north.top_box_low is not None and south.top_box_low is not None
    assert north.top_box_low < south.top_box_low
    assert east.satisfaction_rank is None and east.top_box_rate is None
    # Contacts per customer: east 1.0, north 1.5, south 5.0 (fewer is better).
    assert [(r.key, r.contact_rate_rank) for r in sorted(ranks, key=lambda r: r.key)] == [
        ("east", 1),
        ("north", 2),
        ("south", 3),
    ]


def test_an_account_owners_book(session: Session) -> None:
    _bind(session)
    mine = [CustomerFactory(account_owner="Ada Owner", value=v) for v in (1000.0, 400.0, 50.0)]
    other = CustomerFactory(account_owner="Bo Other", value=9000.0)
    theme = ThemeFactory(title="Invoices wrong")
    for who, day in ((mine[0], 1), (mine[0], 2), (mine[1], 3), (other, 4)):
        item = InteractionFactory(customer_id=who.id, created_at=T0 + timedelta(days=day))
        session.add(ThemeMembership(interaction_id=item.id, theme_id=theme.id))
    problem = Problem(title="Invoice totals", state="assessed", priority="P2")
    closed = Problem(title="Old one", state="verified", priority="P1")
    session.add_all([problem, closed])
    session.flush()
    session.add_all(
        [
            ProblemTheme(problem_id=problem.id, theme_id=theme.id),
            ProblemTheme(problem_id=closed.id, theme_id=theme.id),
        ]
    )
    events = [
        (mine[2], "order", -400, 50.0),  # an old customer's first order: not gained
        (mine[2], "order", 5, 50.0),
        (mine[1], "order", 6, 400.0),  # first order in the window: gained, value 400
        (mine[0], "cancellation", 10, None),  # lost, value 1000
        (mine[0], "referral", 8, 250.0),
        (mine[1], "upgrade", 9, 120.0),
        (mine[1], "downgrade", 200, 80.0),  # after the window
        (other, "cancellation", 10, None),
    ]
    for n, (who, kind, day, amount) in enumerate(events):
        session.add(
            CustomerEvent(
                source="crm",
                external_id=f"E{n}",
                customer_id=who.id,
                kind=kind,
                occurred_at=T0 + timedelta(days=day),
                amount=amount,
                content_hash=f"{n:064d}",
            )
        )
    session.flush()
    owners = {o.owner: (o.customers, o.value) for o in account_owners(session)}
    assert owners == {"Ada Owner": (3, 1450.0), "Bo Other": (1, 9000.0)}
    book = account_book(session, "ada owner", since=T0, until=T0 + timedelta(days=30))
    assert book is not None and book.owner == "Ada Owner"
    assert (book.customers, book.book_value) == (3, 1450.0)
    assert (book.contacts, book.contacting_customers) == (3, 2)
    assert (book.gained_customers, book.value_gained) == (1, 400.0)
    assert (book.lost_customers, book.value_lost) == (1, 1000.0)
    assert (book.referrals, book.referral_value) == (1, 250.0)
    assert (book.upgrades, book.upgrade_value, book.downgrades) == (1, 120.0, 0)
    (row,) = book.themes.groups
    assert (row.label, row.contacts, row.unique_customers) == ("Invoices wrong", 3, 2)
    assert row.value_at_risk == 1400.0
    assert [(p.title, p.customers, p.contacts) for p in book.problems] == [("Invoice totals", 2, 3)]
    assert account_book(session, "nobody") is None
