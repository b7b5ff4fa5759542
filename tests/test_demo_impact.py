"""The demo's account owners, customer events and survey answers: made again byte for byte,
every row names a customer or contact of the demo, and customers who contacted about a
costly theme cancel more often than the others, as the generator says."""

from __future__ import annotations

import csv
from pathlib import Path

from rootline.fixtures import generate_demo_impact as gen

FIXTURES = Path(gen.__file__).resolve().parent


def _read(name: str) -> list[dict[str, str]]:
    with (FIXTURES / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_regenerating_gives_byte_identical_files(tmp_path: Path) -> None:
    gen.main(tmp_path)
    for name in gen.FILES:
        assert (tmp_path / name).read_bytes() == (FIXTURES / name).read_bytes(), name


def test_rows_name_the_demos_customers_and_contacts() -> None:
    crm = {r["email"].lower(): r for r in _read("demo_customers.csv")}
    owners = _read("demo_account_owners.csv")
    assert owners and all(crm[o["email"]]["account_owner"] == o["account_owner"] for o in owners)
    events = _read("demo_events.csv")
    assert {e["kind"] for e in events} == {
        "order",
        "cancellation",
        "downgrade",
        "upgrade",
        "referral",
    }
    assert all(e["customer_email"] in crm for e in events)
    assert all(e["occurred_at"] <= "2026-11-15T23:00:00Z" for e in events)
    contacts = {("helpdesk", r["ticket_id"]) for r in _read("demo_helpdesk.csv")} | {
        ("contact_center", r["interaction_id"]) for r in _read("demo_contact_center.csv")
    }
    answers = _read("demo_surveys.csv")
    assert all((a["source"], a["external_id"]) in contacts for a in answers)
    assert {a["answer"] for a in answers} == {"yes", "no"}


def test_costly_themes_are_followed_by_more_cancellations() -> None:
    crm = {r["email"].lower() for r in _read("demo_customers.csv")}
    contacts = gen._contacts(_read("demo_customers.csv"))
    costly = {email for _, _, email, _, _, theme in contacts if theme in gen.COSTLY}
    cancelled = {
        e["customer_email"] for e in _read("demo_events.csv") if e["kind"] == "cancellation"
    }
    rate_costly = len(cancelled & costly) / len(costly)
    rate_others = len(cancelled - costly) / len(crm - costly)
    assert rate_costly > 2 * rate_others
