"""A process killed with SIGKILL loses nothing: during a re-clustering, and during an ingest.

Through the real command line, on SQLite and PostgreSQL: the killed run leaves the previous
themes, memberships and people's edits exactly as they were, and the next run marks it failed
("interrupted"); a killed ingest writes nothing, leaves no worker process behind, and loading
the file again stores every record once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from rootline.clustering.curation import rename_theme
from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.db import make_engine, make_session_factory, session_scope
from rootline.ingest.models import Interaction
from tests.cli_runner import rootline_env, run_rootline
from tests.factories import themed_csv

pytestmark = [pytest.mark.slow]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crash.db'}"
    return str(request.getfixturevalue("own_postgres_url"))


def _start(db: str, folder: Path, mark: str, *args: str) -> subprocess.Popen[str]:
    env = rootline_env(folder)
    env["ROOTLINE_TEST_MARK"] = mark  # inherited by every child: finds orphans later
    return subprocess.Popen(
        [sys.executable, "-m", "rootline", "--db", db, *args],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _marked_processes(mark: str) -> list[int]:
    """Processes still running with ``ROOTLINE_TEST_MARK=mark`` in their environment."""
    found = []
    needle = f"ROOTLINE_TEST_MARK={mark}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_until(check: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _snapshot(engine: sa.Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {
            "themes": sorted(
                conn.execute(sa.select(Theme.id, Theme.title, Theme.status, Theme.size)).all()
            ),
            "members": sorted(
                conn.execute(
                    sa.select(
                        ThemeMembership.interaction_id,
                        ThemeMembership.theme_id,
                        ThemeMembership.source,
                    )
                ).all()
            ),
            "interactions": conn.scalar(sa.select(sa.func.count()).select_from(Interaction)),
        }


def _runs(engine: sa.Engine) -> list[tuple[int, str, str | None]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(ClusteringRun.id, ClusteringRun.status, ClusteringRun.error).order_by(
                    ClusteringRun.id
                )
            ).all()
        )


def test_a_killed_reclustering_keeps_the_themes_and_edits_and_is_marked_failed(
    db_url: str, tmp_path: Path
) -> None:
    path = themed_csv(tmp_path / "tickets.csv", per_theme=2500)
    run_rootline("ingest", str(path), db=db_url, folder=tmp_path)
    run_rootline("cluster", "--full", db=db_url, folder=tmp_path)
    engine = make_engine(db_url)
    with session_scope(make_session_factory(engine)) as session:
        first = session.scalars(sa.select(Theme).order_by(Theme.id)).first()
        assert first is not None
        rename_theme(session, first.id, "Named by a lead", actor="lead@example.com")
    before, runs_before = _snapshot(engine), _runs(engine)

    mark = uuid.uuid4().hex
    proc = _start(db_url, tmp_path, mark, "cluster", "--full")
    started = _wait_until(lambda: len(_runs(engine)) > len(runs_before), 60)
    assert started, "the run was never recorded as running"
    time.sleep(1.0)  # well inside the work: the full run takes several seconds
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _wait_until(lambda: not _marked_processes(mark), 15)

    killed = _runs(engine)[-1]
    assert killed[1] == "running", "the run finished before it was killed: no crash was tested"
    assert _snapshot(engine) == before

    run_rootline("cluster", db=db_url, folder=tmp_path)
    runs = {run_id: (status, error) for run_id, status, error in _runs(engine)}
    assert runs[killed[0]][0] == "failed"
    assert "interrupted" in (runs[killed[0]][1] or "")
    assert max(runs) > killed[0] and runs[max(runs)][0] == "succeeded"
    with engine.connect() as conn:
        assert conn.scalar(sa.select(Theme.title).where(Theme.id == first.id)) == "Named by a lead"
    engine.dispose()


def test_a_killed_ingest_writes_nothing_leaves_no_worker_and_loads_once_after(
    db_url: str, tmp_path: Path
) -> None:
    path = themed_csv(tmp_path / "tickets.csv", per_theme=12_000)  # large: read by the worker
    engine = make_engine(db_url)
    mark = uuid.uuid4().hex
    proc = _start(db_url, tmp_path, mark, "ingest", str(path))
    # Killed once the reading worker is up (the parent and at least one child hold the mark).
    assert _wait_until(lambda: len(_marked_processes(mark)) >= 2, 60)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert _wait_until(lambda: not _marked_processes(mark), 20), "a worker outlived its parent"

    with engine.connect() as conn:
        stored = conn.scalar(sa.select(sa.func.count()).select_from(Interaction)) or 0
    assert stored == 0, "a killed ingest committed part of the file"
    run_rootline("ingest", str(path), db=db_url, folder=tmp_path)
    with engine.connect() as conn:
        total = conn.scalar(sa.select(sa.func.count()).select_from(Interaction))
        distinct = conn.scalar(
            sa.select(sa.func.count(sa.distinct(Interaction.external_id))).select_from(Interaction)
        )
    assert total == distinct == 6 * 12_000
    engine.dispose()
