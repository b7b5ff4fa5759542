"""Two people saving the same problem at the same moment, over real HTTP: one wins, the other
gets 409 Conflict, and no save is lost silently. On SQLite and PostgreSQL, through a live server
(requests run in its thread pool, truly at once)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.config import Settings
from rootline.db import make_engine, migrate
from rootline.rootcause.models import Problem
from rootline.rootcause.service import create_problem
from rootline.web.accounts import create_token, ensure_user
from tests.live_server import serve
from tests.test_web_pages import seed

pytestmark = [pytest.mark.slow]

ROUNDS = 8


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        url = str(request.getfixturevalue("own_postgres_url"))
    eng = make_engine(url)
    migrate(eng)
    yield eng
    eng.dispose()


def _set_up(engine: Engine) -> tuple[int, list[str]]:
    with Session(engine) as session:
        data = seed(session)
        problem = create_problem(session, [data.card], title="Card payments fail", actor="t")
        tokens = []
        for name in ("ana", "ben"):
            user = ensure_user(session, f"{name}@example.com", "support_lead", "correct horse 1")
            tokens.append(create_token(session, user, "race", actor="t")[1])
        session.commit()
        return problem.id, tokens


def test_simultaneous_saves_of_one_problem_give_one_winner_and_one_conflict(
    engine: Engine, tmp_path: Path
) -> None:
    problem_id, tokens = _set_up(engine)
    settings = Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    with serve(settings, engine) as base:
        clients = [
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {t}"}, timeout=30)
            for t in tokens
        ]
        try:
            for round_ in range(ROUNDS):
                version = clients[0].get(f"/api/problems/{problem_id}").json()["version"]
                gate = threading.Barrier(2)
                answers: list[Any] = [None, None]

                def save(
                    i: int,
                    version: int = version,
                    round_: int = round_,
                    gate: threading.Barrier = gate,
                    answers: list[Any] = answers,
                ) -> None:
                    gate.wait()
                    answers[i] = clients[i].post(
                        f"/api/problems/{problem_id}/update",
                        json={
                            "changes": {"workaround": f"round {round_} by {i}"},
                            "version": version,
                        },
                    )

                threads = [threading.Thread(target=save, args=(i,)) for i in (0, 1)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=60)
                codes = sorted(a.status_code for a in answers)
                assert codes == [200, 409], [(a.status_code, a.text[:200]) for a in answers]
                winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
                loser = answers[1 - winner]
                assert "someone else" in loser.text
                with engine.connect() as conn:
                    stored = conn.execute(
                        sa.select(Problem.workaround, Problem.version).where(
                            Problem.id == problem_id
                        )
                    ).one()
                assert stored.workaround == f"round {round_} by {winner}"
                assert stored.version == version + 1
        finally:
            for client in clients:
                client.close()


def test_a_save_blocked_past_sqlites_busy_timeout_is_a_503_not_a_crash(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock (a long load) longer than the wait: the save
    is refused with 503 and Retry-After, as JSON for the API and as a page for a form."""
    import sqlite3

    from fastapi.testclient import TestClient

    from rootline.web.app import create_app

    path = tmp_path / "busy.db"
    engine = make_engine(
        f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 0.2}
    )
    migrate(engine)
    problem_id, tokens = _set_up(engine)
    settings = Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    other = sqlite3.connect(path, isolation_level=None)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {tokens[0]}"}
        version = client.get(f"/api/problems/{problem_id}", headers=auth).json()["version"]
        other.execute("BEGIN IMMEDIATE")
        try:
            busy = client.post(
                f"/api/problems/{problem_id}/update",
                json={"changes": {"workaround": "while busy"}, "version": version},
                headers=auth,
            )
        finally:
            other.execute("ROLLBACK")
        assert busy.status_code == 503, busy.text[:300]
        assert busy.headers["retry-after"] == "5" and "busy" in busy.json()["detail"]
        after = client.post(
            f"/api/problems/{problem_id}/update",
            json={"changes": {"workaround": "later"}, "version": version},
            headers=auth,
        )
        assert after.status_code == 200  # nothing of the refused save was kept
    other.close()
    engine.dispose()
