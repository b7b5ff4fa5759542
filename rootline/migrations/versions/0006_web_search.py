"""web: keyword search indexes (FTS5 trigram on SQLite, pg_trgm on PostgreSQL), theme figures

A theme page reads its members' dates, customers and CSAT. Through the interaction table that
costs a wide row per member, and PostgreSQL prefers a sequential scan of every contact to
2,000 such look-ups; a covering index keyed by id makes them index-only (both databases).

Keyword search finds contacts whose clean text contains every word anywhere (substring, not
whole words), so a plain B-tree index cannot help. A trigram index can: on PostgreSQL the
``pg_trgm`` GIN index answers ``ILIKE '%word%'`` directly; on SQLite an external-content FTS5
table with the trigram tokenizer, kept in step by triggers, answers ``LIKE '%word%'`` and the
search re-checks the candidates against the table. Either index is skipped when the database
lacks the feature (no ``pg_trgm``, or SQLite built without FTS5); search then scans, as before.

Revision ID: 0006_web_search
Revises: 0005_web
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_web_search"
down_revision = "0005_web"
branch_labels = None
depends_on = None

TRGM_INDEX = "ix_interaction_body_clean_trgm"
FIGURES_INDEX = "ix_interaction_figures"
FIGURES_COLUMNS = ["created_at", "customer_id", "resolved_at", "csat"]
CUSTOMER_INDEX = "ix_customer_id_value"
FTS_TABLE = "interaction_fts"
_FTS_TRIGGERS = {
    "interaction_fts_insert": f"""
        CREATE TRIGGER interaction_fts_insert AFTER INSERT ON interaction BEGIN
            INSERT INTO {FTS_TABLE}(rowid, body_clean) VALUES (new.id, new.body_clean);
        END""",
    "interaction_fts_delete": f"""
        CREATE TRIGGER interaction_fts_delete AFTER DELETE ON interaction BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body_clean)
            VALUES ('delete', old.id, old.body_clean);
        END""",
    "interaction_fts_update": f"""
        CREATE TRIGGER interaction_fts_update AFTER UPDATE OF body_clean ON interaction BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body_clean)
            VALUES ('delete', old.id, old.body_clean);
            INSERT INTO {FTS_TABLE}(rowid, body_clean) VALUES (new.id, new.body_clean);
        END""",
}


def _postgresql_upgrade(bind: sa.Connection) -> None:
    try:
        # A savepoint, so a refused CREATE EXTENSION (no privilege, not installed) does not
        # abort the migration's transaction.
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError:
        return
    op.create_index(
        TRGM_INDEX,
        "interaction",
        ["body_clean"],
        postgresql_using="gin",
        postgresql_ops={"body_clean": "gin_trgm_ops"},
    )


def _sqlite_upgrade(bind: sa.Connection) -> None:
    try:
        with bind.begin_nested():
            # detail=none keeps the index small: it records which rows hold a trigram, not
            # where; LIKE on the table still narrows by trigrams and checks each candidate.
            bind.exec_driver_sql(
                f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(body_clean, content='interaction',"
                " content_rowid='id', tokenize='trigram', detail='none')"
            )
    except sa.exc.OperationalError:
        return  # SQLite without FTS5 or without the trigram tokenizer (before 3.34)
    for sql in _FTS_TRIGGERS.values():
        bind.exec_driver_sql(sql)
    bind.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_index(FIGURES_INDEX, "interaction", ["id"], postgresql_include=FIGURES_COLUMNS)
        _postgresql_upgrade(bind)
    else:
        # No INCLUDE in SQLite: the same columns as keys serve the same index-only look-ups.
        op.create_index(FIGURES_INDEX, "interaction", ["id", *FIGURES_COLUMNS])
        # PostgreSQL hashes the (small) customer table instead; SQLite looks customers up.
        op.create_index(CUSTOMER_INDEX, "customer", ["id", "value"])
        if bind.dialect.name == "sqlite":
            _sqlite_upgrade(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.exec_driver_sql(f"DROP INDEX IF EXISTS {TRGM_INDEX}")
    else:
        op.drop_index(CUSTOMER_INDEX, table_name="customer")
        if bind.dialect.name == "sqlite":
            for name in _FTS_TRIGGERS:
                bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
            bind.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
    op.drop_index(FIGURES_INDEX, table_name="interaction")
