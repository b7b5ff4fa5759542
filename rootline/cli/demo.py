"""The Brightcart demo's root-cause story, played on the themes ``rootline demo`` built.

By the last day of the demo data (2026-11-15) a team using Rootline would have:

* the teams and routing rules of ``fixtures/demo_rules.yaml``, loaded through the rules import
  service, with team leads (so SLA escalations reach someone) and members;
* a problem for the password-reset theme: routed by the rules, analysed, fixed on 2026-10-20
  and verified in the data;
* a problem for the checkout payment error theme (the spike since the web shop release of
  2026-10-30): routed to the web shop and the e-commerce IS team, in root-cause analysis with
  a task for the IS team;
* one worker pass as of that day: problems opened for themes above the impact threshold, SLA
  breaches escalated to the team leads.

Themes are found by what they are about (the nearest centroid to a short description that also
carries one of the expected words), never by id. Every step looks for what it would create
first, so playing the story twice adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session, sessionmaker

from rootline.clustering.embedding import Embedder
from rootline.clustering.models import ClusteringRun, Theme
from rootline.config import Settings
from rootline.db import session_scope
from rootline.errors import RootlineError
from rootline.rootcause.models import Problem, Task, Team, User
from rootline.rootcause.routing import import_rules_yaml
from rootline.rootcause.service import (
    add_comment,
    add_task,
    create_problem,
    open_problem_for_theme,
    record_fix,
    transition,
    update_problem,
)
from rootline.rootcause.teams import add_member, create_user, find_team
from rootline.rootcause.verification import Verification, verify_problem
from rootline.rootcause.watch import apply_verdict
from rootline.rootcause.worker import WorkerReport, run_once

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "DEMO_NOW",
    "FIX_DATE",
    "RELEASE_DATE",
    "StoryReport",
    "ThemeQuery",
    "find_theme",
    "load_demo_rules",
    "play_story",
    "print_summary",
    "problem_tasks",
    "set_up_teams",
]

log = logging.getLogger(__name__)

# The demo data's timeline (fixtures/demo_story.py): its last day is the demo's "today".
DEMO_NOW = datetime(2026, 11, 15, 18, 0, tzinfo=UTC)
FIX_DATE = date(2026, 10, 20)  # the password-reset e-mails were fixed
RELEASE_DATE = date(2026, 10, 30)  # the web shop release that broke the checkout
#: How many of the nearest themes may carry the expected words; farther ones are not "close".
NEAREST = 3
#: Below this cosine similarity a theme is not about the description at all.
MIN_SIMILARITY = 0.2

LEAD, PRODUCT, IS_OWNER = (
    "lead@demo.rootline.dev",
    "product@demo.rootline.dev",
    "is@demo.rootline.dev",
)
IDENTITY_IS = "identity.is@demo.rootline.dev"


def _at(day: str, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


@dataclass(frozen=True)
class ThemeQuery:
    """What a theme of the story is about: a description in customers' words, and words of
    which at least one must be among the theme's title words or keywords."""

    text: str
    words: tuple[str, ...]


PASSWORD_RESET = ThemeQuery("password reset e-mail never arrives", ("password", "reset"))
CHECKOUT_ERROR = ThemeQuery("payment error at checkout", ("checkout", "pay-502", "payment"))


@dataclass
class StoryReport:
    """What the story set up, for the demo's summary."""

    teams: int = 0
    rules: int = 0
    #: story key -> problem id (``password_reset``, ``checkout_error``)
    problems: dict[str, int] = field(default_factory=dict)
    verification: Verification | None = None
    worker: WorkerReport | None = None
    warnings: list[str] = field(default_factory=list)

    def warn(self, text: str) -> None:
        """Note a step that was skipped, and log it."""
        log.warning("demo story: %s", text)
        self.warnings.append(text)


def load_demo_rules() -> str:
    """The text of the bundled ``demo_rules.yaml``."""
    return (resources.files("rootline.fixtures") / "demo_rules.yaml").read_text(encoding="utf-8")


def set_up_teams(session: Session, text: str, *, actor: str = "demo") -> tuple[int, int]:
    """Create the file's people, load its teams and rules through the rules import, then put
    the people in their teams. Existing users, teams, rules and memberships are kept.

    Returns:
        (teams in the file, rules loaded).
    """
    doc = yaml.safe_load(text) or {}
    people = doc.get("people") or []
    for person in people:
        email = str(person["email"]).lower()
        if session.scalar(sa.select(User.id).where(User.email == email)) is None:
            create_user(
                session, email, person.get("name", ""), person.get("role", "viewer"), actor=actor
            )
    rules = import_rules_yaml(session, text, actor=actor)
    for person in people:
        user = session.scalar(sa.select(User).where(User.email == str(person["email"]).lower()))
        for team_name in person.get("teams") or []:
            add_member(session, find_team(session, team_name), user, actor=actor)
    return len(doc.get("teams") or []), len(rules)


def _theme_words(theme: Theme) -> set[str]:
    words = set()
    for text in [theme.title or "", *(theme.keywords or [])]:
        words.update(text.lower().replace("/", " ").split())
    return words


def _run_slug(session: Session) -> str | None:
    return session.scalar(
        sa.select(ClusteringRun.model_slug)
        .where(ClusteringRun.status == "succeeded")
        .order_by(ClusteringRun.id.desc())
        .limit(1)
    )


def find_theme(session: Session, query: ThemeQuery, embedder: Embedder | None) -> Theme | None:
    """The active theme the query is about, or None when no theme is close.

    With the embedder of the last clustering run: among the ``NEAREST`` themes whose centroid is
    most similar to the embedded description (at least ``MIN_SIMILARITY``), the first that carries
    one of the query's words. Without it: the theme carrying most of the words (largest first).
    """
    themes = [
        t
        for t in session.scalars(
            sa.select(Theme).where(Theme.status == "active").order_by(Theme.size.desc(), Theme.id)
        )
    ]
    wanted = set(query.words)
    if embedder is not None and embedder.slug == _run_slug(session):
        with_vectors = [t for t in themes if t.centroid is not None]
        if with_vectors:
            centroids = np.stack(
                [np.frombuffer(t.centroid or b"", dtype=np.float32) for t in with_vectors]
            )
            probe = np.asarray(embedder.encode([query.text])[0], dtype=np.float32)
            if probe.shape[0] == centroids.shape[1]:
                sims = centroids @ probe
                for i in np.argsort(-sims, kind="stable")[:NEAREST]:
                    theme = with_vectors[int(i)]
                    if sims[i] >= MIN_SIMILARITY and wanted & _theme_words(theme):
                        return theme
                return None
    hits = [(len(wanted & _theme_words(t)), t) for t in themes]
    best = max(hits, key=lambda h: h[0], default=(0, None))
    return best[1] if best[0] else None


def _play_password_fix(session: Session, theme_id: int) -> Problem:
    """A support lead promotes the theme; Identity IS finds the cause; the fix ships."""
    problem = create_problem(
        session,
        [theme_id],
        title="Password reset e-mails never arrive",
        tags=["web", "account"],
        description="Customers ask for a password reset and never get the e-mail, so they "
        "cannot sign in to order.",
        actor=LEAD,
        now=_at("2026-10-07"),
    )
    pid = problem.id
    transition(session, pid, "assessed", actor=LEAD, now=_at("2026-10-07", 15))
    transition(session, pid, "root_cause_analysis", actor=IDENTITY_IS, now=_at("2026-10-08"))
    update_problem(
        session,
        pid,
        {
            "root_cause": "The mail provider's spam filter rejected reset e-mails sent from the new "
            "no-reply domain, which had no SPF and DKIM records.",
            "workaround": "Agents send a one-time reset link from the admin console after checking "
            "the customer's identity; ask the customer to look in the spam folder.",
        },
        actor=IDENTITY_IS,
        now=_at("2026-10-09", 11),
    )
    transition(session, pid, "fix_in_progress", actor=IDENTITY_IS, now=_at("2026-10-09", 14))
    record_fix(
        session,
        pid,
        FIX_DATE,
        description="SPF and DKIM records published for the no-reply domain; reset "
        "e-mails sent through the transactional mail service.",
        actor=IDENTITY_IS,
        now=_at(FIX_DATE.isoformat(), 16),
    )
    return problem


def _play_checkout_spike(session: Session, theme_id: int) -> Problem:
    """The spike alert leads to a problem that the web shop and e-commerce IS work on."""
    problem = create_problem(
        session,
        [theme_id],
        title="Checkout payment page error since the web shop release",
        tags=["web", "checkout"],
        description=f"Contacts about a payment error at checkout (often error PAY-502) rose "
        f"about threefold after the web shop release of {RELEASE_DATE:%Y-%m-%d}.",
        actor=LEAD,
        now=_at("2026-11-03", 9, 30),
    )
    pid = problem.id
    transition(session, pid, "assessed", actor=PRODUCT, now=_at("2026-11-03", 11))
    transition(session, pid, "root_cause_analysis", actor=IS_OWNER, now=_at("2026-11-03", 14))
    update_problem(
        session,
        pid,
        {
            "workaround": "Customers can pay with PayPal, or retry the card payment after a minute; "
            "agents can take the order by phone.",
        },
        actor=PRODUCT,
        now=_at("2026-11-04", 10),
    )
    add_comment(
        session,
        pid,
        "PAY-502 is the payment gateway timing out. The release of "
        f"{RELEASE_DATE:%Y-%m-%d} changed the checkout's gateway client; comparing its "
        "timeouts with the old one.",
        actor=IS_OWNER,
        now=_at("2026-11-04", 16),
    )
    add_task(
        session,
        pid,
        "Compare payment gateway timeouts before and after the "
        f"{RELEASE_DATE:%Y-%m-%d} release (error PAY-502)",
        owner_team="E-commerce IS",
        due_date=date(2026, 11, 18),
        actor=IS_OWNER,
    )
    return problem


def _verify_fix(session: Session, report: StoryReport, problem_id: int) -> None:
    """Judge the fix in the data; a verified fix moves the problem to verified."""
    result = verify_problem(session, problem_id)
    report.verification = result
    apply_verdict(session, result, actor="worker", now=DEMO_NOW)
    if result.verdict != "verified":
        report.warn(f"the password-reset fix came out {result.verdict!r}: {result.reason}")


def _password_story(session: Session, report: StoryReport, theme_id: int) -> int:
    problem = _play_password_fix(session, theme_id)
    _verify_fix(session, report, problem.id)
    return problem.id


def _checkout_story(session: Session, report: StoryReport, theme_id: int) -> int:
    return _play_checkout_spike(session, theme_id).id


#: The story's problems: key, what its theme is about, and how it is played.
_SCRIPTS: tuple[tuple[str, ThemeQuery, Callable[[Session, StoryReport, int], int]], ...] = (
    ("password_reset", PASSWORD_RESET, _password_story),
    ("checkout_error", CHECKOUT_ERROR, _checkout_story),
)


def _play(
    sessions: sessionmaker[Session],
    report: StoryReport,
    key: str,
    query: ThemeQuery,
    script: Callable[[Session, StoryReport, int], int],
    embedder: Embedder | None,
) -> None:
    """Open and work one problem of the story in its own transaction, unless its theme has one
    already; a failure only skips this problem."""
    try:
        with session_scope(sessions) as session:
            theme = find_theme(session, query, embedder)
            if theme is None:
                report.warn(f"no theme is about {query.text!r}; the {key} problem is skipped")
                return
            existing = open_problem_for_theme(session, theme.id)
            report.problems[key] = (
                existing.id if existing is not None else script(session, report, theme.id)
            )
    except RootlineError as exc:
        report.problems.pop(key, None)
        report.warn(f"the {key} problem could not be played: {exc}")


def play_story(
    sessions: sessionmaker[Session],
    settings: Settings,
    embedder: Embedder | None,
    *,
    now: datetime = DEMO_NOW,
    rules_text: str | None = None,
    worker: bool = True,
) -> StoryReport:
    """Set up the demo's teams, rules and problems, then run one worker pass as of ``now``.

    Args:
        sessions: session factory of the demo database.
        settings: the settings (impact threshold, webhook) the worker pass uses.
        embedder: the embedder the themes were built with, to find themes by meaning; None
            finds them by their words only.
        now: the demo's "today" (the last day of its data).
        rules_text: teams and rules YAML; default: the bundled ``demo_rules.yaml``.
        worker: run the worker pass (auto-created problems, SLA escalations).
    """
    report = StoryReport()
    with session_scope(sessions) as session:
        report.teams, report.rules = set_up_teams(session, rules_text or load_demo_rules())
    for key, query, script in _SCRIPTS:
        _play(sessions, report, key, query, script, embedder)
    if worker:
        report.worker = run_once(sessions, settings, now=now)
    return report


def problem_tasks(session: Session, problem_id: int) -> list[tuple[str, str, str | None]]:
    """A problem's tasks as (title, state, owner team name), oldest first."""
    rows = session.execute(
        sa.select(Task.title, Task.state, Team.name)
        .outerjoin(Team, Team.id == Task.owner_team_id)
        .where(Task.problem_id == problem_id)
        .order_by(Task.id)
    )
    return [(title, state, team) for title, state, team in rows]


def _short(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def print_summary(
    console: Console, session: Session, report: StoryReport, accounts: list[dict[str, str]]
) -> None:
    """Print what the demo holds: themes, alerts, teams, problems and their states, sign-ins."""
    from rich.table import Table

    from rootline.clustering.alerts import theme_alerts
    from rootline.rootcause.models import SlaBreach
    from rootline.rootcause.service import list_problems

    themes = session.scalar(sa.select(sa.func.count(Theme.id)).where(Theme.status == "active"))
    alerts = theme_alerts(session)
    kinds = ", ".join(f"{sum(a.kind == k for a in alerts)} {k}" for k in ("new", "spike"))
    console.print(
        f"\n[bold]Brightcart demo[/bold] as of {DEMO_NOW:%Y-%m-%d}: {themes} themes, "
        f"{len(alerts)} alerts ({kinds}), {report.teams} teams, "
        f"{report.rules} routing rules"
    )
    for alert in alerts:
        console.print(f"  {alert.kind} theme #{alert.theme_id} {alert.title!r}", markup=False)
    table = Table("#", "problem", "state", "P", "business / IS owner team", title="problems")
    problems = sorted(list_problems(session), key=lambda p: p.id)
    for problem in problems:
        owners = " / ".join(t.name if t else "-" for t in (problem.business_team, problem.is_team))
        table.add_row(
            str(problem.id), _short(problem.title), problem.state, problem.priority, owners
        )
    console.print(table)
    for key, problem_id in report.problems.items():
        problem = session.get(Problem, problem_id)
        if problem is None:
            continue
        console.print(f"  #{problem_id} {problem.routing_explanation}", markup=False)
        for title, state, team in problem_tasks(session, problem_id):
            console.print(
                f"  #{problem_id} task for {team or '-'} ({state}): {title}", markup=False
            )
        if key == "password_reset" and problem.fixed_at is not None:
            v = report.verification or verify_problem(session, problem_id)
            console.print(
                f"  #{problem_id} fix of {FIX_DATE:%Y-%m-%d} {v.verdict}: {v.reason}; "
                f"{v.before_theme_contacts} of {v.before_all_contacts} contacts in the "
                f"{v.window_days} days before, {v.after_theme_contacts} of "
                f"{v.after_all_contacts} after",
                markup=False,
            )
    auto = sum(p.auto_created for p in problems)
    breaches = session.scalar(sa.select(sa.func.count(SlaBreach.id))) or 0
    console.print(
        f"  worker as of {DEMO_NOW:%Y-%m-%d}: {auto} problems opened above the impact "
        f"threshold, {breaches} SLA breaches escalated to the team leads",
        markup=False,
    )
    for warning in report.warnings:
        console.print(f"  skipped: {warning}", markup=False, style="yellow")
    sign_ins = Table("e-mail", "role", "password", title="demo sign-ins")
    for account in accounts:
        sign_ins.add_row(account["email"], account["role"], account["password"])
    console.print(sign_ins)
