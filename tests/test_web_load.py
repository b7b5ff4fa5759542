"""Twenty people of every role browse the web app while ``rootline ingest`` loads a few
thousand contacts and ``rootline cluster`` places them, all on the same database (SQLite file
and PostgreSQL), over real HTTP to a ``rootline serve`` process: no 5xx, no connection error,
every answer the one the role should get, and the pages show the new data afterwards. Then
the ways it failed before, each on its own: more requests than pooled connections stalled the
server, an API token's read failed while another process wrote, and a web save committing
during ``rootline ingest`` or ``cluster`` failed the command."""

from __future__ import annotations

import collections
import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.db import make_engine, migrate
from rootline.web.accounts import create_token, ensure_user
from rootline.web.app import create_app
from tests.cli_runner import run_rootline
from tests.crowd import MARKER, Crowd, rootline_server, seed_site, write_new_contacts
from tests.live_server import serve

NEW_CONTACTS = 3000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crowd.db'}"
    else:
        yield str(request.getfixturevalue("own_postgres_url"))


def _summary(answers: list[object]) -> str:
    return "\n".join(str(a) for a in answers[:10])


@pytest.mark.slow
def test_twenty_people_browse_while_ingest_and_clustering_run(db_url: str, tmp_path: Path) -> None:
    site = seed_site(db_url, tmp_path)
    new_file = tmp_path / "new_contacts.csv"
    write_new_contacts(new_file, NEW_CONTACTS)
    with rootline_server(db_url, tmp_path) as base, Crowd(base, site) as crowd:
        admin = next(
            c for c, p in zip(crowd.clients, site.people, strict=True) if p.role == "admin"
        )
        runs_before = len(admin.get("/api/runs").json())
        crowd.start()
        try:
            time.sleep(1)  # everyone is browsing before the load starts
            crowd.phase = "ingest"
            ingest = run_rootline("ingest", str(new_file), db=db_url, folder=tmp_path, check=False)
            crowd.phase = "cluster"
            cluster = run_rootline("cluster", db=db_url, folder=tmp_path, check=False)
            crowd.phase = "after"
            time.sleep(1)
        finally:
            crowd.stop()
        assert ingest.returncode == 0, ingest.stderr[-2000:]
        assert f"inserted {NEW_CONTACTS}" in ingest.stdout
        assert cluster.returncode == 0, cluster.stderr[-2000:]

        answers = crowd.answers
        broken = [a for a in answers if a.status == 0 or a.status >= 500]
        assert not broken, _summary(broken)
        wrong = [a for a in answers if a.status != a.visit.expect]
        assert not wrong, _summary(wrong)
        # The load really overlapped the browsing, every role and page kind included.
        during = [a for a in answers if a.phase in ("ingest", "cluster")]
        assert {a.role for a in during} == {p.role for p in site.people}
        kinds = collections.Counter(a.visit.kind for a in during)
        assert len(during) >= 100 and len(kinds) >= 8, kinds
        assert {a.visit.expect for a in during} == {200, 201, 403}

        # The pages show what was loaded and placed.
        totals = admin.get("/api/dashboard").json()["totals"]
        assert totals["contacts"] == site.contacts + NEW_CONTACTS
        runs = admin.get("/api/runs").json()
        assert len(runs) == runs_before + 1 and runs[0]["status"] == "succeeded"
        found = admin.get(f"/api/search?q={MARKER}&mode=keyword").json()["keyword"]
        assert found and all(MARKER in hit["text"] for hit in found)
        assert any(hit["theme_id"] for hit in found), "no ribbon contact was placed in a theme"
        page = admin.get(f"/search?q={MARKER}")
        assert page.status_code == 200 and page.text.count(MARKER) >= len(found)
    log = (tmp_path / "server.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def _script_token(engine: Engine, role: str) -> str:
    """A migrated database with one user of ``role`` and an API token of theirs."""
    migrate(engine)
    with Session(engine) as session:
        user = ensure_user(session, "script@example.com", role, "correct horse 1")
        token = create_token(session, user, "script", actor="t")[1]
        session.commit()
    return token


def test_an_api_token_read_while_another_process_writes_is_answered(tmp_path: Path) -> None:
    """A token's first call in a minute records when it was used; while another process holds
    SQLite's write lock (an ingest) that record waits for later, the read is answered."""
    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}")
    token = _script_token(engine, "admin")
    settings = Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    other = sqlite3.connect(path, isolation_level=None)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {token}"}
        other.execute("BEGIN IMMEDIATE")
        try:
            busy = client.get("/api/me", headers=auth)
        finally:
            other.execute("ROLLBACK")
        assert busy.status_code == 200, busy.text[:300]
        assert busy.json()["email"] == "script@example.com"
        with engine.connect() as conn:
            used = conn.exec_driver_sql("SELECT last_used_at FROM api_token").scalar()
        assert used is None  # nothing was written while the database was busy
        assert client.get("/api/me", headers=auth).status_code == 200
        with engine.connect() as conn:
            used = conn.exec_driver_sql("SELECT last_used_at FROM api_token").scalar()
        assert used is not None  # and the next call records it
    other.close()
    engine.dispose()


def test_more_requests_at_once_than_pooled_connections_all_get_answers(tmp_path: Path) -> None:
    """Requests beyond the pool's connections wait their turn in worker threads. The sign-in
    check reads the database: run on the event loop, its wait for a connection would stop the
    loop, so the requests holding the connections could never finish (a stalled server)."""
    engine = make_engine(
        f"sqlite:///{tmp_path / 'pool.db'}", pool_size=2, max_overflow=0, pool_timeout=5
    )
    token = _script_token(engine, "viewer")
    settings = Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    with serve(settings, engine) as base:
        gate = threading.Barrier(12)
        answers: list[int | str] = []

        def call() -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                gate.wait()
                for _ in range(3):
                    try:
                        got = client.get(
                            "/api/themes", headers={"Authorization": f"Bearer {token}"}
                        )
                        answers.append(got.status_code)
                    except httpx.TransportError as exc:
                        answers.append(type(exc).__name__)

        threads = [threading.Thread(target=call) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    engine.dispose()
    assert answers == [200] * 36


@contextlib.contextmanager
def _write_lock_held(path: Path, seconds: float) -> Iterator[None]:
    """Another process's write (a web save) holding SQLite's write lock for ``seconds``."""
    taken = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(10)
    try:
        yield
    finally:
        holder.join()


@pytest.mark.slow
def test_ingest_and_cluster_wait_for_a_web_save_instead_of_failing(tmp_path: Path) -> None:
    """A command that reads before it writes cannot wait for SQLite's write lock once it has
    read: a web save committing meanwhile would fail the whole load or run at its first write.
    They take the lock when they start, so they wait for the save instead."""
    path = tmp_path / "cli.db"
    db = f"sqlite:///{path}"
    write_new_contacts(tmp_path / "first.csv", 200)
    run_rootline("ingest", str(tmp_path / "first.csv"), db=db, folder=tmp_path)
    with _write_lock_held(path, 1.5):
        cluster = run_rootline("cluster", db=db, folder=tmp_path, check=False)
    assert cluster.returncode == 0, cluster.stderr[-1000:]
    (tmp_path / "second.csv").write_text(
        "ticket_id,subject,description\nX1,Gift wrap,The ribbon was torn\n", encoding="utf-8"
    )
    with _write_lock_held(path, 1.5):
        ingest = run_rootline(
            "ingest", str(tmp_path / "second.csv"), db=db, folder=tmp_path, check=False
        )
    assert ingest.returncode == 0, ingest.stderr[-1000:]
    assert "inserted 1" in ingest.stdout
