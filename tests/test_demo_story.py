"""The demo's root-cause story: teams, routing rules and problems on the demo's themes.

Most tests play the story on the real demo contacts grouped into their gold themes (what a
perfect clustering would give), with the hashing embedder's centroids, so they run in seconds.
One test runs ``rootline demo --no-serve`` with the hashing embedder, and one with the real
model (``model``).
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from rootline.cli.demo import (
    CHECKOUT_ERROR,
    DEMO_NOW,
    FIX_DATE,
    PASSWORD_RESET,
    RELEASE_DATE,
    StoryReport,
    ThemeQuery,
    find_theme,
    load_demo_rules,
    play_story,
    problem_tasks,
)
from rootline.cli.users import create_demo_users
from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.config import Settings
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.fixtures import demo_story as fixture_story
from rootline.ingest.models import Interaction
from rootline.pipeline import demo_paths, ingest_paths
from rootline.rootcause.models import (
    AuditEvent,
    Comment,
    Notification,
    Problem,
    RoutingRule,
    SlaBreach,
    Task,
    Team,
    User,
)
from rootline.rootcause.routing import route_themes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
WORDS = re.compile(r"[a-z0-9'-]+")


def _seed_gold_themes(session: Session, embedder: HashingEmbedder) -> None:
    """One theme per gold theme of the demo (noise left unthemed), with the embedder's unit
    centroid, recorded as a succeeded run of that embedder."""
    labels = {t.key: t.label for t in fixture_story.THEMES}
    with (FIXTURES / "demo_gold.csv").open(encoding="utf-8", newline="") as fh:
        gold = {(r["source"], r["external_id"]): r["theme"] for r in csv.DictReader(fh)}
    members: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for iid, source, ext, text in session.execute(
        sa.select(
            Interaction.id, Interaction.source, Interaction.external_id, Interaction.body_clean
        )
    ):
        key = gold[(source, ext)]
        if key != "noise":
            members[key].append((iid, text or ""))
    run = ClusteringRun(kind="full", model_slug=embedder.slug, status="succeeded")
    session.add(run)
    session.flush()
    for key, rows in sorted(members.items()):
        vectors = embedder.encode([text for _, text in rows])
        centroid = vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid)
        theme = Theme(
            title=labels[key].lower(),
            keywords=WORDS.findall(labels[key].lower()),
            status="active",
            size=len(rows),
            centroid=centroid.astype(np.float32).tobytes(),
            created_run_id=run.id,
        )
        session.add(theme)
        session.flush()
        session.execute(
            sa.insert(ThemeMembership),
            [{"interaction_id": iid, "theme_id": theme.id, "run_id": run.id} for iid, _ in rows],
        )


@pytest.fixture(scope="module")
def story_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """The demo contacts in their gold themes, the demo users, and the story played once."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('story') / 'demo.db'}")
    migrate(engine)
    sessions = make_session_factory(engine)
    embedder = HashingEmbedder()
    with session_scope(sessions) as session:
        for path, source in demo_paths():
            ingest_paths(session, [path], source=source)
        _seed_gold_themes(session, embedder)
        create_demo_users(session, "demo-password")
    yield sessions
    engine.dispose()


@pytest.fixture(scope="module")
def story(story_db: sessionmaker[Session], tmp_path_factory: pytest.TempPathFactory) -> StoryReport:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"), embedder="hashing", _env_file=None
    )  # type: ignore[call-arg]
    return play_story(story_db, settings, HashingEmbedder())


def _problem(sessions: sessionmaker[Session], problem_id: int) -> dict[str, object]:
    with session_scope(sessions) as session:
        p = session.get(Problem, problem_id)
        assert p is not None
        return {
            "state": p.state,
            "business": p.business_team.name if p.business_team else None,
            "is": p.is_team.name if p.is_team else None,
            "rule": p.routing_explanation,
            "root_cause": p.root_cause,
            "workaround": p.workaround,
            "fix": p.fix_description,
            "fixed_at": p.fixed_at,
            "themes": p.theme_ids,
            "tags": p.tags,
            "created_at": p.created_at,
            "created_by": p.created_by,
            "tasks": problem_tasks(session, p.id),
            "titles": [t.title for t in p.themes],
        }


def test_story_dates_are_those_of_the_demo_data() -> None:
    assert DEMO_NOW.date() == fixture_story.END
    assert FIX_DATE == fixture_story.FIX_DATE
    assert RELEASE_DATE == fixture_story.SPIKE_START


def test_teams_rules_leads_and_members(story: StoryReport, story_db: sessionmaker[Session]) -> None:
    assert not story.warnings
    assert (story.teams, story.rules) == (8, 5)
    with session_scope(story_db) as session:
        teams = {t.name: t for t in session.scalars(sa.select(Team))}
        assert {"Web shop", "Payments", "Logistics", "Customer accounts"} == {
            n for n, t in teams.items() if t.kind == "business"
        }
        assert {"E-commerce IS", "Payments IS", "Logistics IS", "Identity IS"} == {
            n for n, t in teams.items() if t.kind == "is"
        }
        # Every owner team has a lead to escalate to, and the lead is one of its members.
        for team in teams.values():
            if team.kind != "triage":
                assert team.lead is not None and team.lead in team.members, team.name
        assert teams["Web shop"].lead.email == "product@demo.rootline.dev"
        assert teams["E-commerce IS"].lead.email == "is@demo.rootline.dev"
        product = session.scalar(sa.select(User).where(User.email == "product@demo.rootline.dev"))
        assert product is not None
        assert {t.name for t in product.teams} == {"Web shop", "Triage"}
        assert product.role == "product_owner" and product.password_hash
        rules = session.scalars(sa.select(RoutingRule).order_by(RoutingRule.priority)).all()
        assert [r.name for r in rules] == [
            "web-shop-checkout",
            "payments-and-card",
            "web-shop-and-app",
            "delivery-and-returns",
            "customer-accounts",
        ]


def test_rules_route_themes_by_what_the_data_carries(
    story: StoryReport, story_db: sessionmaker[Session]
) -> None:
    expected = {
        "delivery late or parcel not arrived": ("Logistics", "Logistics IS"),
        "brightcart card declined": ("Payments", "Payments IS"),  # the contact centre's queue
        "charged twice for one order": ("Payments", "Payments IS"),
        "promo code not accepted": ("Web shop", "E-commerce IS"),
        "mobile app crashes on login": ("Web shop", "E-commerce IS"),
        "sms verification code not received": ("Customer accounts", "Identity IS"),
        "parcel locker pickup code not working": ("Logistics", "Logistics IS"),
        # No rule for marketing e-mails: the triage team takes them.
        "still receiving marketing e-mails after unsubscribing": ("Triage", "Triage"),
    }
    with session_scope(story_db) as session:
        names = {t.id: t.name for t in session.scalars(sa.select(Team))}
        for title, owners in expected.items():
            theme_id = session.scalar(sa.select(Theme.id).where(Theme.title == title))
            decision = route_themes(session, [theme_id])
            assert (names[decision.business_team_id], names[decision.is_team_id]) == owners, title


def test_password_reset_problem_is_fixed_and_verified(
    story: StoryReport, story_db: sessionmaker[Session]
) -> None:
    problem = _problem(story_db, story.problems["password_reset"])
    assert problem["titles"] == ["password reset e-mail never arrives"]
    assert (problem["business"], problem["is"]) == ("Customer accounts", "Identity IS")
    assert "rule 'customer-accounts'" in str(problem["rule"])
    assert "product = 'Account'" in str(problem["rule"])
    assert problem["root_cause"] and problem["workaround"] and problem["fix"]
    assert problem["fixed_at"].date() == FIX_DATE  # type: ignore[attr-defined]
    assert problem["state"] == "verified"
    v = story.verification
    assert v is not None and v.verdict == "verified"
    assert v.before_rate is not None and v.after_rate is not None
    assert v.after_rate <= 0.5 * v.before_rate and v.p_value is not None and v.p_value < 0.05
    assert v.window_days == (fixture_story.END - FIX_DATE).days + 1
    with session_scope(story_db) as session:
        states = [
            e.new_value
            for e in session.scalars(
                sa.select(AuditEvent)
                .where(
                    AuditEvent.object_type == "problem",
                    AuditEvent.object_id == story.problems["password_reset"],
                    AuditEvent.action == "transition",
                )
                .order_by(AuditEvent.id)
            )
        ]
    assert states == ["assessed", "root_cause_analysis", "fix_in_progress", "resolved", "verified"]
    with session_scope(story_db) as session:
        verified_at = session.get(Problem, story.problems["password_reset"]).verified_at
    assert verified_at is not None and verified_at.date() == DEMO_NOW.date()  # the demo's day


def test_checkout_spike_goes_to_web_shop_and_ecommerce_is_with_a_task(
    story: StoryReport, story_db: sessionmaker[Session]
) -> None:
    problem = _problem(story_db, story.problems["checkout_error"])
    assert problem["titles"] == ["checkout payment page error"]
    assert (problem["business"], problem["is"]) == ("Web shop", "E-commerce IS")
    assert "rule 'web-shop-checkout'" in str(problem["rule"])
    assert "keywords include 'checkout'" in str(problem["rule"])
    assert problem["state"] == "root_cause_analysis"
    assert problem["workaround"] and not problem["root_cause"]
    assert "web" in problem["tags"]  # type: ignore[operator]
    assert problem["created_by"] == "lead@demo.rootline.dev"
    tasks = problem["tasks"]
    assert len(tasks) == 1 and tasks[0][1:] == ("open", "E-commerce IS")  # type: ignore[arg-type,index]
    assert "PAY-502" in tasks[0][0]  # type: ignore[index]


def test_worker_pass_escalates_the_late_checkout_problem(
    story: StoryReport, story_db: sessionmaker[Session]
) -> None:
    assert story.worker is not None
    with session_scope(story_db) as session:
        breaches = session.scalars(
            sa.select(SlaBreach).where(SlaBreach.problem_id == story.problems["checkout_error"])
        ).all()
        # P1 (impact about 77): opened on 2026-11-03 with 48 h to find the root cause and a
        # week to fix, both late on 2026-11-15, each escalated once to both team leads.
        checkout = session.get(Problem, story.problems["checkout_error"])
        assert checkout is not None and checkout.priority == "P1"
        assert sorted(b.stage for b in breaches) == ["fix", "root_cause"]
        for breach in breaches:
            assert set(breach.escalated_to) == {"product@demo.rootline.dev", "is@demo.rootline.dev"}
        auto = session.scalars(sa.select(Problem).where(Problem.auto_created)).all()
        # The largest themes reach the default threshold of 70 and get a problem of their own.
        assert story.worker.problems_created == len(auto) >= 1
        assert all(p.impact_score >= 70 and p.state == "new" for p in auto)


def _snapshot(sessions: sessionmaker[Session]) -> dict[str, object]:
    with session_scope(sessions) as session:
        counts = {
            model.__name__: session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (
                User,
                Team,
                RoutingRule,
                Problem,
                Task,
                Comment,
                AuditEvent,
                Notification,
                SlaBreach,
            )
        }
        states = sorted(session.execute(sa.select(Problem.id, Problem.state, Problem.version)))
        hashes = sorted(session.execute(sa.select(User.email, User.password_hash)))
        members = sorted(
            (t.name, sorted(u.email for u in t.members)) for t in session.scalars(sa.select(Team))
        )
    return {"counts": counts, "states": states, "hashes": hashes, "members": members}


def test_playing_the_story_again_changes_nothing(
    story: StoryReport, story_db: sessionmaker[Session], tmp_path: Path
) -> None:
    before = _snapshot(story_db)
    settings = Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    with session_scope(story_db) as session:
        create_demo_users(session, "demo-password")
    again = play_story(story_db, settings, HashingEmbedder())
    assert again.problems == story.problems and not again.warnings
    assert _snapshot(story_db) == before


def _title(theme: Theme | None) -> str | None:
    return None if theme is None else theme.title


def test_themes_are_found_by_meaning_and_words(story_db: sessionmaker[Session]) -> None:
    embedder = HashingEmbedder()
    with session_scope(story_db) as session:
        assert _title(find_theme(session, PASSWORD_RESET, embedder)) == (
            "password reset e-mail never arrives"
        )
        assert _title(find_theme(session, CHECKOUT_ERROR, None)) == "checkout payment page error"
        # Nothing near: no theme, so the story skips that problem instead of guessing.
        assert (
            find_theme(session, ThemeQuery("quantum flux capacitor", ("quantum",)), embedder)
            is None
        )
        # Vectors of another model are never compared with these centroids.
        other = HashingEmbedder(dim=64)
        assert _title(find_theme(session, PASSWORD_RESET, other)) == (
            "password reset e-mail never arrives"
        )


def test_a_missing_theme_is_skipped_with_a_warning(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate(engine)
    sessions = make_session_factory(engine)
    settings = Settings(data_dir=tmp_path, embedder="hashing", _env_file=None)  # type: ignore[call-arg]
    report = play_story(sessions, settings, HashingEmbedder(), rules_text=load_demo_rules())
    engine.dispose()
    assert report.problems == {} and len(report.warnings) == 2
    assert "password reset" in report.warnings[0]
    assert (report.teams, report.rules) == (8, 5)


def _rootline_demo(db: str, tmp_path: Path, embedder: str) -> str:
    env = {
        **os.environ,
        "ROOTLINE_EMBEDDER": embedder,
        "ROOTLINE_DATA_DIR": str(tmp_path),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "HF_HUB_OFFLINE": "1",
    }
    if embedder == "hashing":
        # Word-hash vectors hold no theme geometry for the graph's silhouette to find (each
        # template is its own island); the story, not the clusterer, is what runs here. The
        # default clusterer tells the story with the real model below.
        env["ROOTLINE_CLUSTERER"] = "density"
    env.pop("ROOTLINE_DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "rootline", "--db", db, "demo", "--no-serve"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _check_demo_database(url: str) -> dict[str, object]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        with session_scope(sessions) as session:
            problems = {p.title: p for p in session.scalars(sa.select(Problem))}
            password = problems["Password reset e-mails never arrive"]
            checkout = problems["Checkout payment page error since the web shop release"]
            assert password.state == "verified"
            assert (checkout.business_team.name, checkout.is_team.name) == (
                "Web shop",
                "E-commerce IS",
            )
            assert checkout.state == "root_cause_analysis"
            assert [team for *_, team in problem_tasks(session, checkout.id)] == ["E-commerce IS"]
        return _snapshot(sessions)
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.xfail(
    reason="known bug: in the full suite the second demo run opens the checkout problem again "
    "(passes alone); open in issue 14",
    strict=False,
)
def test_rootline_demo_twice_tells_the_story_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    out = _rootline_demo(url, tmp_path, "hashing")
    assert "demo sign-ins" in out and "admin@demo.rootline.dev" in out
    assert re.search(r"fix of 2026-10-20 verified: contact rate fell", out), out
    assert "rule 'web-shop-checkout'" in out
    first = _check_demo_database(url)
    out = _rootline_demo(url, tmp_path, "hashing")
    assert "fix of 2026-10-20 verified" in out
    assert _check_demo_database(url) == first


@pytest.mark.slow
@pytest.mark.model
def test_rootline_demo_with_the_real_model(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    out = _rootline_demo(url, tmp_path, "sentence-transformers")
    assert "skipped:" not in out, out
    assert re.search(r"fix of 2026-10-20 verified: contact rate fell", out), out
    # The checkout spike is routed by the rule's own words: 'checkout' or the error code.
    assert re.search(
        r"rule 'web-shop-checkout' \(priority 10\) matched: keywords include '(checkout|pay-502)'",
        out,
    ), out
    assert re.search(r"\d+ alerts \(1 new, 1 spike\)", out), out
    _check_demo_database(url)
