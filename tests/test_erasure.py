"""Right to erasure: a customer's words and personal data leave every table, counts stay.

On SQLite and PostgreSQL: after ``erase_customer`` no text, e-mail, phone, name or cached vector
of the customer is left anywhere (every text column of the database is searched), the keyword
search no longer finds their words, other customers are untouched, and contact counts and theme
sizes are as before. Through the API only an admin may erase; through the CLI it asks first.
"""

# ruff: noqa: F811

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from rootline.clustering.embedding import text_hash
from rootline.clustering.history import record_event
from rootline.clustering.models import EmbeddingCache, Theme, ThemeEvent, ThemeMembership
from rootline.config import Settings
from rootline.errors import NotFoundError
from rootline.ingest.models import Customer, CustomerIdentity, Interaction
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster
from rootline.rootcause.erasure import erase_customer
from rootline.rootcause.models import AuditEvent
from rootline.web.search import keyword_ids
from tests.cli_runner import run_rootline
from tests.factories import themed_texts, write_csv
from tests.test_web_pages import (  # noqa: F401  (fixtures)
    anonymous,
    app,
    client,
    csrf_of,
    login,
)

SECRET_WORD = "zanzibarquokka"
EMAIL, PHONE, NAME = "ada.lovelace@example.com", "+44 20 7946 0958", "Ada Lovelace"


def _desk(tmp_path: Path) -> Path:
    rows = [
        {
            "ticket_id": f"A{i}",
            "subject": f"{SECRET_WORD} order {i}",
            "description": f"My {SECRET_WORD} parcel never came, call me on {PHONE}. {text}",
            "requester_email": EMAIL,
            "requester_name": NAME,
            "created_at": f"2026-09-{i + 1:02d}T10:00:00Z",
            "customer_note": f"{NAME} prefers calls",
        }
        for i, (text, _) in enumerate(themed_texts(1, seed=3)[:3])
    ]
    rows += [
        {
            "ticket_id": f"B{i}",
            "subject": "",
            "description": text,
            "requester_email": f"other{i % 7}@example.com",
            "requester_name": f"Other {i % 7}",
            "created_at": f"2026-09-{i % 28 + 1:02d}T09:00:00Z",
            "customer_note": "",
        }
        for i, (text, _) in enumerate(themed_texts(20, seed=4))
    ]
    return write_csv(tmp_path / "desk.csv", rows)


def _all_text(session: Session) -> str:
    """Every text-like column of every table, as one string."""
    bind = session.get_bind()
    out = []
    for table in sa.inspect(bind).get_table_names():
        if table.startswith("interaction_fts") or table == "alembic_version":
            continue
        cols = [
            c["name"]
            for c in sa.inspect(bind).get_columns(table)
            if isinstance(c["type"], (sa.String, sa.Text, sa.JSON))
            or "JSON" in str(c["type"]).upper()
        ]
        if cols:
            quoted = ", ".join(f'"{c}"' for c in cols)
            for row in session.execute(sa.text(f'SELECT {quoted} FROM "{table}"')):
                out.append(" ".join(str(v) for v in row if v is not None))
    return "\n".join(out)


def _ada(session: Session) -> int:
    return session.scalars(
        sa.select(CustomerIdentity.customer_id).where(CustomerIdentity.value == EMAIL)
    ).one()


def test_erasure_removes_every_trace_and_keeps_the_counts(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    ada = _ada(session)
    texts = list(
        session.scalars(sa.select(Interaction.body_clean).where(Interaction.customer_id == ada))
    )
    assert len(texts) == 3 and all(SECRET_WORD in t for t in texts)
    hashes = [text_hash(t) for t in texts]
    assert session.scalar(sa.select(sa.func.count()).where(EmbeddingCache.text_hash.in_(hashes))), (
        "the run cached their vectors"
    )
    before_total = session.scalar(sa.select(sa.func.count()).select_from(Interaction))
    before_members = session.scalar(sa.select(sa.func.count()).select_from(ThemeMembership))
    sizes = dict(session.execute(sa.select(Theme.id, Theme.size)).all())
    other_vectors = session.scalar(sa.select(sa.func.count()).select_from(EmbeddingCache))
    assert keyword_ids(session, SECRET_WORD)
    for trace in (SECRET_WORD, EMAIL, NAME, "7946"):
        assert trace in _all_text(session), trace

    done = erase_customer(session, ada, actor="admin@example.com")

    assert (done.contacts, done.identities) == (3, 1) and done.vectors >= 1
    everything = _all_text(session)
    for trace in (SECRET_WORD, EMAIL, NAME, "7946", "lovelace"):
        assert trace.lower() not in everything.lower(), trace
    assert keyword_ids(session, SECRET_WORD) == []
    assert not session.scalar(
        sa.select(sa.func.count()).where(EmbeddingCache.text_hash.in_(hashes))
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(EmbeddingCache)) == (
        other_vectors - done.vectors
    )
    # The counts a lead sees are unchanged: the contacts stay, without their words.
    assert session.scalar(sa.select(sa.func.count()).select_from(Interaction)) == before_total
    assert session.scalar(sa.select(sa.func.count()).select_from(ThemeMembership)) == (
        before_members
    )
    assert dict(session.execute(sa.select(Theme.id, Theme.size)).all()) == sizes
    assert session.get(Customer, ada) is not None
    # Others keep everything; the audit trail says who erased which id, and nothing more.
    assert "other3@example.com" in everything and "Other 3" in everything
    event = session.scalars(
        sa.select(AuditEvent).where(
            AuditEvent.object_type == "customer", AuditEvent.object_id == ada
        )
    ).one()
    assert (event.actor, event.action) == ("admin@example.com", "erased")
    with pytest.raises(NotFoundError):
        erase_customer(session, 999_999, actor="admin@example.com")


def test_a_theme_titled_by_the_erased_customer_is_labelled_again(
    session: Session, tmp_path: Path, settings: Settings
) -> None:
    ingest_file(session, _desk(tmp_path))
    cluster(session, settings, full=True)
    ada = _ada(session)
    theme = session.scalars(
        sa.select(Theme)
        .join(ThemeMembership, ThemeMembership.theme_id == Theme.id)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .where(Interaction.customer_id == ada)
    ).first()
    assert theme is not None
    # As a run would leave it when the customer's own phrase was the most distinctive.
    theme.title, theme.keywords = f"{SECRET_WORD} parcel never came", [SECRET_WORD, "parcel"]
    record_event(session, theme.id, "relabelled", old="parcel", new=theme.title)
    record_event(session, theme.id, "renamed", actor="lead@example.com", old="a", new="b")
    session.flush()

    erase_customer(session, ada, actor="admin@example.com")

    session.refresh(theme)
    assert SECRET_WORD not in theme.title and theme.title
    assert SECRET_WORD not in theme.keywords
    members = " ".join(
        session.scalars(
            sa.select(Interaction.body_clean)
            .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
            .where(ThemeMembership.theme_id == theme.id)
        )
    ).lower()
    assert all(w in members for w in theme.keywords)
    kinds = {
        e.kind: e.details
        for e in session.scalars(sa.select(ThemeEvent).where(ThemeEvent.theme_id == theme.id))
    }
    assert kinds["relabelled"] == {"withdrawn": "erasure"}
    assert kinds["renamed"]["new"] == "b", "what a person wrote stays"


def test_only_an_admin_may_erase_through_the_api(
    anonymous: TestClient, session: Session, tmp_path: Path
) -> None:
    ingest_file(session, _desk(tmp_path))
    session.flush()
    ada = _ada(session)
    for role in ("support_lead", "is_owner", "product_owner", "viewer"):
        login(anonymous, session, role, f"{role}-erase@example.com")
        refused = anonymous.post(
            f"/api/customers/{ada}/erase", headers={"X-CSRF-Token": csrf_of(anonymous, "/themes")}
        )
        assert refused.status_code == 403, role
    assert EMAIL in _all_text(session)
    login(anonymous, session, "admin", "admin-erase@example.com")
    done = anonymous.post(
        f"/api/customers/{ada}/erase", headers={"X-CSRF-Token": csrf_of(anonymous, "/themes")}
    )
    assert done.status_code == 200 and done.json()["contacts"] == 3
    assert EMAIL not in _all_text(session)


def test_the_cli_asks_first_and_erases_with_yes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'erase.db'}"
    run_rootline("ingest", str(_desk(tmp_path)), db=db, folder=tmp_path)
    from rootline.db import make_engine

    engine = make_engine(db)
    with Session(engine) as session:
        ada = _ada(session)
    refused = run_rootline("customers", "erase", str(ada), db=db, folder=tmp_path, check=False)
    # Without --yes it asks; with no answer (no terminal) nothing is erased.
    assert refused.returncode != 0 and "cannot be undone" in refused.stdout
    with Session(engine) as session:
        assert EMAIL in _all_text(session)
    out = run_rootline("customers", "erase", str(ada), "--yes", "--json", db=db, folder=tmp_path)
    assert json.loads(out.stdout)["contacts"] == 3
    with Session(engine) as session:
        assert EMAIL not in _all_text(session)
    engine.dispose()
