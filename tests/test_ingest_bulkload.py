"""Large loads: the search index is filled once at the end, with the same result as per row."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.errors import InputError
from rootline.ingest.bulkload import MIN_ROWS, _parse
from rootline.ingest.models import Interaction
from rootline.ingest.service import _BATCH, ingest_file
from tests.factories import write_csv

ROWS = MIN_ROWS + 300


def _csv(path: Path, rows: int, word: str = "parcel", bad_at: int | None = None) -> Path:
    return write_csv(
        path,
        [
            {
                "ticket_id": f"T{i:05d}",
                "description": f"The {word} number {i} never arrived at the locker",
                "created_at": "not a date" if i == bad_at else "2026-09-01T10:00:00+00:00",
            }
            for i in range(rows)
        ],
    )


def _triggers(session: Session) -> list[str]:
    return list(
        session.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        ).scalars()
    )


def _search(session: Session, word: str) -> int:
    return session.execute(
        sa.text("SELECT count(*) FROM interaction_fts WHERE body_clean LIKE :w"),
        {"w": f"%{word}%"},
    ).scalar_one()


def _sqlite_with_fts(session: Session) -> None:
    if not _triggers(session):
        pytest.skip("this SQLite has no FTS5, so there is no search index to defer")


#: The deferred search index is SQLite's FTS5 table; PostgreSQL's trigram index needs no help.
only_sqlite = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@only_sqlite
def test_a_large_load_fills_the_search_index_and_keeps_the_triggers(
    session: Session, tmp_path: Path
) -> None:
    _sqlite_with_fts(session)
    before = _triggers(session)
    ingest_file(session, _csv(tmp_path / "small.csv", 3, word="before"), source="a")
    report = ingest_file(session, _csv(tmp_path / "big.csv", ROWS), source="b")
    assert report.inserted == ROWS
    assert _triggers(session) == before
    assert _search(session, "parcel") == ROWS
    assert _search(session, "before") == 3
    # Rows written afterwards are indexed row by row by the restored triggers.
    ingest_file(session, _csv(tmp_path / "after.csv", 2, word="afterwards"), source="c")
    assert _search(session, "afterwards") == 2
    # FTS5 raises when the index and the table it mirrors disagree.
    session.execute(
        sa.text("INSERT INTO interaction_fts(interaction_fts, rank) VALUES ('integrity-check', 1)")
    )


@only_sqlite
def test_a_failed_large_load_writes_nothing_and_keeps_the_triggers(
    session: Session, tmp_path: Path
) -> None:
    _sqlite_with_fts(session)
    before = _triggers(session)
    # The bad row comes after two full batches have been written with the triggers deferred.
    bad = _csv(tmp_path / "bad.csv", 2 * _BATCH + 200, bad_at=2 * _BATCH + 100)
    nested = session.begin_nested()
    with pytest.raises(InputError, match="line"):
        ingest_file(session, bad, source="b")
    nested.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Interaction)) == 0
    assert _triggers(session) == before
    assert _search(session, "parcel") == 0


def test_a_large_load_on_any_database_is_idempotent(session: Session, tmp_path: Path) -> None:
    path = _csv(tmp_path / "big.csv", ROWS)
    first = ingest_file(session, path, source="b")
    again = ingest_file(session, path, source="b")
    assert (first.inserted, again.inserted, again.unchanged) == (ROWS, 0, ROWS)


def test_only_plain_copy_triggers_are_deferred() -> None:
    copy = (
        "CREATE TRIGGER t AFTER INSERT ON interaction BEGIN\n"
        "    INSERT INTO fts(rowid, body_clean) VALUES (new.id, new.body_clean);\nEND"
    )
    parsed = _parse(copy, "interaction")
    assert parsed is not None
    assert (parsed.target, parsed.columns, parsed.selected) == (
        "fts",
        "rowid, body_clean",
        '"id", "body_clean"',
    )
    assert _parse(copy, "customer") is None
    assert _parse(copy.replace("new.body_clean", "upper(new.body_clean)"), "interaction") is None
    two = copy.replace("END", "INSERT INTO log(x) VALUES (new.id);\nEND")
    assert _parse(two, "interaction") is None
    assert _parse(copy.replace("AFTER INSERT", "AFTER DELETE"), "interaction") is None
