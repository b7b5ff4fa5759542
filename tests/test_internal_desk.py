"""Internal help desks: requesters may be employees or departments, from the contacts' own
columns and from the CRM file, and the governance board weighs external or internal customers'
contacts on their own."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.models import Theme, ThemeMembership
from rootline.config import Settings
from rootline.errors import InputError
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.governance import board_items
from rootline.rootcause.service import create_problem
from rootline.rootcause.triage import triage
from tests.factories import themed_texts, write_csv


def _customer(session: Session, email: str) -> Customer:
    customer = session.scalar(
        sa.select(Customer)
        .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .where(CustomerIdentity.kind == "email", CustomerIdentity.value == email)
    )
    assert customer is not None, email
    return customer


def _desk(tmp_path: Path) -> Path:
    """External customers write about some themes, employees of two departments about others."""
    rows = []
    for i, (text, theme) in enumerate(themed_texts(20, seed=5)):
        internal = theme in {"password_reset", "card_declined"}
        rows.append(
            {
                "ticket_id": f"IT{i}",
                "description": text,
                "requester_email": f"staff{i % 6}@corp.example"
                if internal
                else f"c{i % 30}@example.com",
                "requester_type": "Employee" if internal else "customer",
                "requester_department": ("Finance" if i % 2 else "Sales") if internal else "",
                "created_at": f"2026-09-{i % 28 + 1:02d}T10:00:00Z",
                "intent": theme,
            }
        )
    return write_csv(tmp_path / "it_desk.csv", rows)


def test_requester_kind_and_department_come_from_the_contacts_columns(
    session: Session, tmp_path: Path
) -> None:
    ingest_file(session, _desk(tmp_path))
    staff = _customer(session, "staff1@corp.example")
    assert staff.kind == "employee" and staff.department in {"Finance", "Sales"}
    outside = _customer(session, "c1@example.com")
    assert outside.kind == "external" and outside.department is None
    kinds = dict(
        session.execute(sa.select(Customer.kind, sa.func.count()).group_by(Customer.kind)).all()
    )
    assert kinds == {"employee": 6, "external": 30}


def test_the_desk_says_an_internal_requester_is_one(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    text = themed_texts(1, seed=9, themes=["password_reset"])[0][0]
    staff = triage(session, HashingEmbedder(), text, customer_email="staff1@corp.example")
    assert staff.customer is not None and staff.customer["kind"] == "employee"
    assert staff.customer["department"] in {"Finance", "Sales"}
    outside = triage(session, HashingEmbedder(), text, customer_email="c1@example.com")
    assert outside.customer is not None and outside.customer["kind"] == "external"


def test_an_unknown_kind_is_refused_with_its_line(session: Session, tmp_path: Path) -> None:
    bad = write_csv(
        tmp_path / "bad.csv",
        [
            {
                "ticket_id": "B1",
                "description": "vpn drops",
                "requester_email": "a@corp.example",
                "requester_type": "employee",
            },
            {
                "ticket_id": "B2",
                "description": "vpn drops",
                "requester_email": "b@corp.example",
                "requester_type": "robot",
            },
        ],
    )
    with pytest.raises(InputError, match="unknown customer kind 'robot'") as err:
        ingest_file(session, bad)
    assert "line 3, field 'requester_type'" in str(err.value)


def test_the_crm_file_names_departments(session: Session, tmp_path: Path) -> None:
    ingest_file(session, _desk(tmp_path))
    crm = write_csv(
        tmp_path / "crm.csv",
        [
            {
                "customer_id": "D-FIN",
                "name": "Finance department",
                "email": "staff1@corp.example",
                "segment": "internal",
                "customer_type": "department",
                "department": "Finance",
            },
            {
                "customer_id": "K-1",
                "name": "Kim",
                "email": "c2@example.com",
                "segment": "consumer",
                "customer_type": "external",
                "department": "",
            },
        ],
    )
    ingest_file(session, crm)
    finance = _customer(session, "staff1@corp.example")
    assert (finance.kind, finance.department, finance.name) == (
        "department",
        "Finance",
        "Finance department",
    )
    assert _customer(session, "c2@example.com").kind == "external"


def test_the_board_weighs_external_or_internal_contacts(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    themes = list(session.scalars(sa.select(Theme.id).where(Theme.status == "active")))
    for theme_id in themes:
        create_problem(session, [theme_id], actor="lead@example.com")
    everyone = {i.problem.id: i.impact.contacts for i in board_items(session)}
    internal = {i.problem.id: i.impact.contacts for i in board_items(session, audience="internal")}
    external = {i.problem.id: i.impact.contacts for i in board_items(session, audience="external")}
    assert internal and external
    for pid, n in everyone.items():
        assert internal.get(pid, 0) + external.get(pid, 0) == n
    for item in board_items(session, audience="internal"):
        kinds = set(
            session.scalars(
                sa.select(Customer.kind)
                .join(Interaction, Interaction.customer_id == Customer.id)
                .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
                .where(ThemeMembership.theme_id.in_(item.problem.theme_ids))
            )
        )
        assert "employee" in kinds
    with pytest.raises(InputError, match="audience"):
        board_items(session, audience="partners")
