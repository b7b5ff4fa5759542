"""Database plumbing: the declarative base, engines, sessions and migrations.

SQLite is the zero-setup default; PostgreSQL is for real deployments. Both run the same
Alembic migrations, which the CLI applies automatically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from rootline.errors import ConfigError

__all__ = [
    "LIKE_ESCAPE",
    "Base",
    "JSONType",
    "UtcDateTime",
    "begin_writing",
    "contains_pattern",
    "make_engine",
    "make_session_factory",
    "migrate",
    "session_scope",
    "utcnow",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: The escape character of ``contains_pattern``: pass it as ``like(..., escape=LIKE_ESCAPE)``.
LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching values that contain ``text`` literally (``%`` and ``_`` too)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


#: JSON that is JSONB on PostgreSQL (indexable) and plain JSON elsewhere.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base class of every Rootline table."""

    metadata = sa.MetaData(naming_convention=_NAMING)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A stored moment in a pydantic model, in UTC with its offset. SQLite hands timezone-aware
#: columns back naive (they hold UTC), PostgreSQL in the connection's zone: both read the same.
UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that SAVEPOINTs and
    # rollbacks behave as on PostgreSQL (SQLAlchemy's documented pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite files get their folder created and sane pragmas.

    Raises:
        ConfigError: if the URL cannot be parsed or names an unknown driver.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} is not valid: {exc}") from None
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot use database URL {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


#: Execution option naming how a SQLite transaction begins: ``"IMMEDIATE"`` takes the write
#: lock at once (see ``begin_writing``); other databases ignore it.
SQLITE_BEGIN = "sqlite_begin"


def _sqlite_begin(conn: sa.Connection) -> None:
    mode = conn.get_execution_options().get(SQLITE_BEGIN, "")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def begin_writing(session: Session) -> None:
    """Start ``session``'s transaction as one that will write.

    On SQLite a transaction that reads first and writes later cannot wait for another writer
    (both hold read locks: SQLite refuses one at once, "database is locked"); taking the write
    lock at the start makes the second writer wait its turn instead, then read what the first
    wrote. No effect on other databases, whose row locks already do this.
    """
    session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema up to ``revision`` (default: every newest head) with Alembic.

    Each domain package adds its tables in revisions of its own, so there may be several
    heads; all of them are applied.

    Raises:
        ConfigError: if the database cannot be reached.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = _alembic_config(engine)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except sa.exc.OperationalError as exc:
        raise ConfigError(f"cannot connect to the database: {exc.orig}") from None
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    if revision in {"head", "heads"} and current == heads:
        return
    command.upgrade(cfg, revision)
