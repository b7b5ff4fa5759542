"""``rootline export`` / ``rootline import``: a database copied exactly, SQLite to SQLite and
SQLite to PostgreSQL and back, through the real command line.

The source database is filled by the real ingest and clustering, then one row more in every
table the workflow would fill, with a value in every column (checked: a column the export
dropped would be NULL or its default on the other side, and the row comparison fails).
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from rootline.clustering.models import ClusteringRun, EmbeddingCache, Theme, ThemeEvent
from rootline.config import Settings, get_settings
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.models import Customer, CustomerEvent, Interaction
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster_job
from rootline.rootcause.models import (
    AuditEvent,
    BoardDecision,
    Comment,
    ImpactWeight,
    KnownError,
    KnownErrorRevision,
    KnownErrorTheme,
    Notification,
    Problem,
    ProblemTheme,
    RoutingRule,
    SlaBreach,
    SlaPolicy,
    SurveyResponse,
    Task,
    Team,
    TeamMember,
    User,
)
from rootline.web.models import ApiToken, LoginAttempt
from rootline.web.search import keyword_ids
from tests.cli_runner import rootline_env, run_rootline
from tests.factories import themed_csv

AT = datetime(2026, 11, 3, 14, 5, 6, 123456, tzinfo=UTC)
#: Tables the import rebuilds instead of copying (SQLite's full-text index) and Alembic's own.
NOT_COPIED = ("interaction_fts", "alembic_version")


@dataclass(frozen=True)
class Source:
    """The filled SQLite database and its export."""

    url: str
    export: Path
    folder: Path


def _fill_workflow(session: Session) -> None:
    """A row of every workflow table with every column set, and awkward values."""
    run = session.scalars(sa.select(ClusteringRun)).one()
    themes = session.scalars(sa.select(Theme).order_by(Theme.id)).all()
    session.add(
        ClusteringRun(
            kind="incremental",
            model_slug="hashing:256",
            params={"nested": {"k": [1, 2.5, None, True]}, "seed": 42},
            status="failed",
            started_at=AT,
            finished_at=AT,
            n_interactions=0,
            metrics={},
            error="ValueError: nothing new\nsecond line ✓",
        )
    )
    # A theme merged into an older one and another split from a newer one: references inside
    # one table, in both directions.
    merged = Theme(
        title="Merged away",
        keywords=["ünïcode", "emoji 🎉"],
        status="merged",
        size=0,
        centroid=bytes(range(256)),
        created_run_id=run.id,
        updated_run_id=run.id,
        merged_into_id=themes[0].id,
    )
    session.add(merged)
    session.flush()
    themes[1].split_from_id = merged.id
    customers = session.scalars(sa.select(Customer).order_by(Customer.id)).all()
    customers[0].merged_into_id = customers[-1].id  # an older customer absorbed by a newer one
    customers[0].account_owner = "Ann Owner"
    customers[0].name = "Zoë O'Brien"
    customers[0].segment = "enterprise"
    contact = session.scalars(sa.select(Interaction).order_by(Interaction.id)).first()
    assert contact is not None
    contact.subject = "Refund?"
    contact.resolved_at = AT
    contact.status = "solved"
    contact.agent = "Agent Smith"
    customers[1].value = 0.1 + 0.2
    customers[2].value = 1e-300
    user = User(
        email="lead@example.com",
        name="Lead Person",
        role="product_owner",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        active=False,
        created_at=AT,
        session_generation=3,
    )
    session.add(user)
    session.flush()
    business = Team(
        name="Web shop",
        kind="business",
        lead_user_id=user.id,
        email="shop@example.com",
        webhook_url="https://hooks.example.com/shop",
        created_at=AT,
    )
    it = Team(name="Shop IS", kind="is", email="is@example.com", created_at=AT)
    session.add_all([business, it])
    session.flush()
    session.add(TeamMember(team_id=business.id, user_id=user.id))
    rule = RoutingRule(
        name="shop",
        priority=5,
        conditions={"product": ["shop", "web"]},
        business_team_id=business.id,
        is_team_id=it.id,
        enabled=False,
    )
    session.add(rule)
    session.flush()
    problem = Problem(
        title="Checkout fails",
        description="Card payments fail at checkout.",
        state="reopened",
        priority="P2",
        priority_overridden=True,
        impact_score=71.25,
        impact={"contacts": 12, "share": 0.125},
        business_team_id=business.id,
        is_team_id=it.id,
        routed_by_rule_id=rule.id,
        routing_explanation="rule 'shop' matched",
        root_cause="gateway timeout",
        workaround="pay by PayPal",
        fix_description="longer timeout",
        fixed_at=AT,
        links=[{"url": "https://jira.example.com/PAY-502", "title": "PAY-502"}],
        tags=["ux", "web"],
        created_by="cli:tester",
        auto_created=True,
        created_at=AT,
        updated_at=AT,
        state_changed_at=AT,
        assessed_at=AT,
        root_caused_at=AT,
        resolved_at=AT,
        verified_at=AT,
        reopened_at=AT,
        reopen_count=1,
        baseline_rate=0.05,
        version=7,
    )
    session.add(problem)
    session.flush()
    session.add(ProblemTheme(problem_id=problem.id, theme_id=themes[0].id))
    session.add(
        Task(
            problem_id=problem.id,
            title="Compare gateway timeouts",
            owner_team_id=it.id,
            owner_user_id=user.id,
            due_date=date(2026, 11, 20),
            state="done",
            created_at=AT,
            completed_at=AT,
        )
    )
    session.add(
        Comment(problem_id=problem.id, author="lead@example.com", body="Seen it.", created_at=AT)
    )
    known = KnownError(
        problem_id=problem.id,
        title="Checkout fails",
        cause="gateway timeout",
        workaround="pay by PayPal",
        search_text="checkout fails gateway timeout",
        updated_at=AT,
    )
    session.add(known)
    session.flush()
    session.add(KnownErrorTheme(known_error_id=known.id, theme_id=themes[0].id))
    session.add(
        KnownErrorRevision(
            known_error_id=known.id,
            revision=1,
            title="Checkout fails",
            symptoms="- my card is refused at checkout",
            cause="gateway timeout",
            workaround="pay by PayPal",
            fix="timeout raised to 10 s",
            public=False,
            changed_by="lead@example.com",
            changed_at=AT,
            note="first draft",
        )
    )
    session.add(
        BoardDecision(
            problem_id=problem.id,
            decision="defer",
            defer_until=date(2026, 12, 1),
            reason="after the peak",
            merged_into_id=problem.id,
            decided_by="cfo@example.com",
            decided_at=AT,
            impact_score=42.5,
        )
    )
    department = session.scalars(sa.select(Customer).order_by(Customer.id)).first()
    assert department is not None
    department.kind, department.department = "department", "Finance"
    session.add_all(
        [
            AuditEvent(
                at=AT,
                actor="cli:tester",
                object_type="problem",
                object_id=problem.id,
                action="update",
                field="workaround",
                old_value=None,  # JSON null
                new_value={"text": "pay by PayPal"},
            ),
            SlaPolicy(
                priority="P2", hours_to_assess=4.0, hours_to_root_cause=24.5, hours_to_fix=72.0
            ),
            SlaBreach(
                problem_id=problem.id,
                stage="fix",
                cycle=1,
                due_at=AT,
                breached_at=AT,
                escalated_to=["lead@example.com"],
            ),
            Notification(
                kind="webhook",
                event="problem.reopened",
                target="https://hooks.example.com/shop",
                subject="Problem reopened",
                payload={"problem": problem.id},
                status="failed",
                attempts=3,
                next_attempt_at=AT,
                last_error="HTTP 503",
                created_at=AT,
                sent_at=AT,
            ),
            ApiToken(
                user_id=user.id,
                name="triage bot",
                token_hash="ab" * 32,
                prefix="rl_abcd",
                created_at=AT,
                last_used_at=AT,
                revoked_at=AT,
                scope="triage",
            ),
            LoginAttempt(username="lead@example.com", address="192.0.2.7", succeeded=True, at=AT),
            CustomerEvent(
                source="crm",
                external_id="E1",
                customer_id=customers[1].id,
                kind="cancellation",
                occurred_at=AT,
                amount=-19.99,
                currency="GBP",
                extra={"reason": "late"},
                content_hash="c" * 64,
                ingested_at=AT,
            ),
        ]
    )
    session.add_all(
        [
            SurveyResponse(
                interaction_id=contact.id,
                question="satisfied",
                score=1.0,
                scale_max=1.0,
                responded_at=AT,
                source="survey",
            ),
            ImpactWeight(component="contacts", weight=0.25, updated_by="admin", updated_at=AT),
        ]
    )
    session.flush()
    # SQL NULL in a JSON column, kept apart from the JSON null above.
    session.execute(
        sa.insert(AuditEvent).values(
            at=AT, actor="x", object_type="theme", object_id=1, action="create", old_value=sa.null()
        )
    )
    for table in (ThemeEvent, EmbeddingCache):
        assert session.scalar(sa.select(sa.func.count()).select_from(table)), table


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    folder = tmp_path_factory.mktemp("transfer")
    url = f"sqlite:///{folder / 'source.db'}"
    engine = make_engine(url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        ingest_file(session, themed_csv(folder / "tickets.csv", per_theme=8))
    settings = Settings(data_dir=folder, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    cluster_job(sessions, settings, full=True)
    with session_scope(sessions) as session:
        _fill_workflow(session)
    _assert_every_column_filled(engine)
    engine.dispose()
    export = folder / "source.rootline.gz"
    run_rootline("export", str(export), db=url, folder=folder)
    return Source(url=url, export=export, folder=folder)


def _tables(engine: Engine) -> list[str]:
    names = sa.inspect(engine).get_table_names()
    return sorted(n for n in names if not n.startswith(NOT_COPIED) and not n.startswith("sqlite_"))


def _assert_every_column_filled(engine: Engine) -> None:
    meta = sa.MetaData()
    meta.reflect(engine, only=_tables(engine))
    empty = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for column in table.columns:
                found = conn.execute(
                    sa.select(sa.literal(1)).select_from(table).where(column.is_not(None)).limit(1)
                ).first()
                if found is None:
                    empty.append(f"{table.name}.{column.name}")
    assert empty == [], f"fill {empty} in _fill_workflow, so the comparison covers them"


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (Alembic's too), in key order, as Python values; a JSON column
    also says whether it is SQL NULL (which reads as None, as JSON null does)."""
    meta = sa.MetaData()
    meta.reflect(engine, only=[*_tables(engine), "alembic_version"])
    out = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            nulls = [c.is_(None) for c in table.columns if isinstance(c.type, sa.JSON)]
            order = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(sa.select(*table.columns, *nulls).order_by(*order))
            out[table.name] = [tuple(_normal(v) for v in row) for row in rows]
    return out


def _raw_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """SQLite: every value as stored (storage class kept, JSON as its text), but times as the
    instant they name: ingest's bulk path stores ``... 00:00:00+00:00`` where SQLAlchemy, and
    so the import, writes ``... 00:00:00.000000``."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for name in [*_tables(engine), "alembic_version"]:
                times = [
                    str(c[2]).upper() == "DATETIME"
                    for c in conn.exec_driver_sql(f'PRAGMA table_info("{name}")')
                ]
                out[name] = [
                    tuple(
                        _normal(datetime.fromisoformat(v))
                        if is_time and v
                        else (type(v).__name__, v)
                        for is_time, v in zip(times, row, strict=True)
                    )
                    for row in conn.exec_driver_sql(f'SELECT * FROM "{name}" ORDER BY rowid')
                ]
            return out
    finally:
        engine.dispose()


@pytest.fixture
def source_engine(source: Source) -> Iterator[Engine]:
    engine = make_engine(source.url)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], source: Source) -> Any:
    """``rootline --db DB ARGS`` in this process, through the console entry point (its exit
    codes and one-line errors), with ``run_rootline``'s environment: no process start-up."""
    from rootline.cli.main import run

    for key in ("ROOTLINE_DATABASE_URL", "ROOTLINE_WEBHOOK_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in rootline_env(source.folder).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()

    def call(*args: str, db: str) -> Ran:
        monkeypatch.setattr(sys, "argv", ["rootline", "--db", db, *args])
        capsys.readouterr()
        try:
            run()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Ran(code, out, " ".join(err.split()))

    yield call
    get_settings.cache_clear()


def test_export_names_every_table_and_column_and_the_revisions(
    source: Source, source_engine: Engine
) -> None:
    with gzip.open(source.export, "rt", encoding="utf-8") as fh:
        header = json.loads(fh.readline())
    inspector = sa.inspect(source_engine)
    assert {t["name"]: [c[0] for c in t["columns"]] for t in header["tables"]} == {
        name: [c["name"] for c in inspector.get_columns(name)] for name in _tables(source_engine)
    }
    with source_engine.connect() as conn:
        revisions = sorted(
            conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
        )
    assert header["format"] == "rootline-export" and header["version"] == 1
    assert header["revisions"] == revisions
    assert source.export.stat().st_mode & 0o077 == 0  # password hashes and PII: owner only


def test_sqlite_to_sqlite_keeps_every_stored_value(
    source: Source, source_engine: Engine, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    out = run_rootline("import", str(source.export), db=url, folder=source.folder)
    assert "imported" in out.stdout and "Traceback" not in out.stderr
    assert _raw_rows(url) == _raw_rows(source.url)
    engine = make_engine(url)
    try:
        assert _rows(engine) == _rows(source_engine)
        with engine.connect() as conn:
            # The full-text index agrees with the rows (FTS5's own check against its content).
            conn.exec_driver_sql(
                "INSERT INTO interaction_fts(interaction_fts, rank) VALUES ('integrity-check', 1)"
            )
        _assert_search_and_new_rows(engine, source_engine)
    finally:
        engine.dispose()


def _assert_search_and_new_rows(engine: Engine, source_engine: Engine) -> None:
    """Keyword search finds what it found in the source; a new contact gets a fresh id and is
    found too (the index's triggers are back)."""
    with Session(source_engine) as before, Session(engine) as after:
        for words in ("refund money", "card declined", "zzz nothing"):
            assert keyword_ids(after, words) == keyword_ids(before, words)
        assert keyword_ids(after, "refund")
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        highest = session.scalar(sa.select(sa.func.max(Interaction.id))) or 0
        new = Interaction(
            source="test",
            external_id="after-import",
            body_raw="quixotic parcel",
            body_clean="quixotic parcel",
            content_hash="n" * 64,
        )
        customer = Customer(name="New after import")
        session.add_all([new, customer])
        session.flush()
        assert new.id == highest + 1
        assert keyword_ids(session, "quixotic") == [new.id]


@pytest.mark.postgres
def test_sqlite_to_postgresql_and_back(
    source: Source, source_engine: Engine, own_postgres_url: str, tmp_path: Path, cli: Any
) -> None:
    assert cli("import", str(source.export), db=own_postgres_url).returncode == 0
    pg = make_engine(own_postgres_url)
    try:
        assert _rows(pg) == _rows(source_engine)
        again = tmp_path / "from-postgres.gz"
        assert cli("export", str(again), db=own_postgres_url).returncode == 0
        _assert_search_and_new_rows(pg, source_engine)  # sequences continue after the ids
    finally:
        pg.dispose()
    url = f"sqlite:///{tmp_path / 'back.db'}"
    assert cli("import", str(again), db=url).returncode == 0
    back = make_engine(url)
    try:
        # Values, not stored text: PostgreSQL's JSONB keeps an object's keys in an order of
        # its own, so the JSON text written back to SQLite may list them differently.
        assert _rows(back) == _rows(source_engine)
    finally:
        back.dispose()


def test_import_refuses_a_database_holding_data(source: Source) -> None:
    before = _raw_rows(source.url)
    out = run_rootline(
        "import", str(source.export), db=source.url, folder=source.folder, check=False
    )
    assert out.returncode == 2
    assert "already holds data" in out.stderr and "Traceback" not in out.stderr
    assert _raw_rows(source.url) == before


def _rewrite(source: Source, path: Path, change: Any) -> Path:
    with gzip.open(source.export, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines(keepends=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(change(lines))
    return path


def _damaged_row(lines: list[str]) -> list[str]:
    # The last row of the last table but one, long after the first rows went in.
    return [*lines[:-2], '[1, "not', *lines[-1:]]


def _other_revision(lines: list[str]) -> list[str]:
    header = json.loads(lines[0])
    header["revisions"] = ["0001"]
    return [json.dumps(header) + "\n", *lines[1:]]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("cut", "truncated"),
        ("last_lines", "ends early"),
        ("row", "line {last}: not valid JSON"),
        ("not_gzip", "not a gzip file"),
        ("revision", "schema revision 0001"),
    ],
)
def test_a_damaged_or_foreign_file_is_refused_naming_it_and_nothing_is_written(
    source: Source, tmp_path: Path, cli: Any, damage: str, reason: str
) -> None:
    bad = tmp_path / f"{damage}.gz"
    with gzip.open(source.export, "rt", encoding="utf-8") as fh:
        reason = reason.format(last=sum(1 for _ in fh) - 1)
    if damage == "cut":
        data = source.export.read_bytes()
        bad.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "last_lines":
        _rewrite(source, bad, lambda lines: lines[:-5])
    elif damage == "row":
        _rewrite(source, bad, _damaged_row)
    elif damage == "revision":
        _rewrite(source, bad, _other_revision)
    else:
        shutil.copy(source.folder / "tickets.csv", bad)
    target = tmp_path / "target.db"
    out = cli("import", str(bad), db=f"sqlite:///{target}")
    assert out.returncode == 2, out.stderr
    assert str(bad) in out.stderr and reason in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    if damage == "not_gzip":
        assert not target.exists()  # refused before the database is even made
        return
    rows = _raw_rows(f"sqlite:///{target}")
    assert {name: n for name, n in rows.items() if n and name != "alembic_version"} == {}


def test_export_replaces_a_file_only_when_told(source: Source, tmp_path: Path, cli: Any) -> None:
    copy = tmp_path / "copy.gz"
    shutil.copy(source.export, copy)
    out = cli("export", str(copy), db=source.url)
    assert out.returncode == 2 and "--force" in out.stderr and str(copy) in out.stderr
    assert copy.read_bytes() == source.export.read_bytes()
    assert cli("export", str(copy), "--force", db=source.url).returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["copy.gz"]  # no partial file left behind
