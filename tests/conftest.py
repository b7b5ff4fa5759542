"""Shared fixtures: databases (SQLite and PostgreSQL), per-test rollback, settings, data.

Every test that takes ``session`` or ``engine`` runs once on SQLite and once on PostgreSQL.
With ``CI=true`` a PostgreSQL that cannot be reached fails the run instead of skipping.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.db import make_engine, migrate

PG_ADMIN_URL = os.environ.get(
    "ROOTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def _fresh_postgres_database(prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc.orig}")
    try:
        yield sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test session, dropped at the end.

    The shared ``engine`` lives here; tests isolate through ``session`` (rolled back).
    """
    with _fresh_postgres_database("rootline_test") as url:
        yield url


@pytest.fixture
def own_postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test that commits (CLI runs, servers)."""
    with _fresh_postgres_database("rootline_own") as url:
        yield url


def make_database_url(kind: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """A database URL of ``kind`` (sqlite or postgresql) for one test or test session."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'rootline.db'}"
    base = request.getfixturevalue("postgres_url")
    return str(base)


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated engine, shared by the session; tests isolate through ``session``."""
    url = make_database_url(request.param, request, tmp_path_factory.mktemp("db"))
    eng = make_engine(url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    sess = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield sess
    finally:
        sess.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that point at a temporary folder and use the fast hashing embedder."""
    return Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def fake_embedder():  # type: ignore[no-untyped-def]
    from rootline.clustering.embedding import HashingEmbedder

    return HashingEmbedder()
