"""Customer identity: normalised keys, one customer per person, merging, sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.ingest.identity import (
    customer_sources,
    merge_customers,
    normalise_email,
    normalise_phone,
)
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.service import IngestOptions, ingest_file
from tests.factories import write_csv


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+44 20 7946 0958", None, "+442079460958"),
        ("0044 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("020 7946 0958", None, "02079460958"),
        ("12", None, None),
    ],
)
def test_phone_numbers_become_e164(raw: str, region: str | None, expected: str | None) -> None:
    assert normalise_phone(raw, region) == expected


def test_email_is_found_and_lower_cased() -> None:
    assert normalise_email("Ann Lee <Ann.Lee@Example.COM>") == "ann.lee@example.com"
    assert normalise_email("no address") is None


def test_one_record_linking_two_customers_merges_them(session: Session, tmp_path: Path) -> None:
    a = write_csv(
        tmp_path / "mail.csv", [{"id": "1", "body": "refund missing", "email": "ann@example.com"}]
    )
    b = write_csv(
        tmp_path / "calls.csv", [{"id": "2", "body": "refund again", "phone": "+44 20 7946 0958"}]
    )
    ingest_file(session, a, source="mail")
    ingest_file(session, b, source="calls")
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2
    c = write_csv(
        tmp_path / "crm.csv",
        [
            {
                "id": "3",
                "body": "where is my refund",
                "email": "ANN@example.com",
                "phone": "020 7946 0958",
            }
        ],
    )
    ingest_file(session, c, source="crm", options=IngestOptions(phone_region="GB"))
    customers = session.scalars(sa.select(Customer).order_by(Customer.id)).all()
    survivor, absorbed = customers
    assert absorbed.merged_into_id == survivor.id and survivor.merged_into_id is None
    owners = set(session.scalars(sa.select(Interaction.customer_id)))
    assert owners == {survivor.id}
    kinds = {(i.kind, i.customer_id) for i in session.scalars(sa.select(CustomerIdentity))}
    assert kinds == {("email", survivor.id), ("phone", survivor.id)}
    sources = customer_sources(session, absorbed.id)  # a merged id leads to the survivor
    assert [(s.source, s.interactions) for s in sources] == [("calls", 1), ("crm", 1), ("mail", 1)]
    assert sources[2].identities == ["email:ann@example.com"]


def test_new_customers_in_one_batch_are_created_once(session: Session, tmp_path: Path) -> None:
    rows = [
        {
            "id": str(i),
            "body": f"text {i}",
            "email": f"u{i % 3}@example.com",
            "account_id": f"ACC{i % 3}",
        }
        for i in range(30)
    ]
    report = ingest_file(session, write_csv(tmp_path / "t.csv", rows))
    assert report.customers_created == 3
    assert session.scalar(sa.select(sa.func.count()).select_from(CustomerIdentity)) == 6


def test_merge_is_a_no_op_on_itself(session: Session) -> None:
    customer = Customer(name="x")
    session.add(customer)
    session.flush()
    merge_customers(session, customer.id, customer.id)
    assert customer.merged_into_id is None
