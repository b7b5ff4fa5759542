"""Twenty people using the web app at once: who they are, what they open, what each should get.

Shared by ``tests/test_web_load.py`` (every answer is the one the role should get, while an
ingest and a clustering run write to the same database) and ``bench/load.py`` (latency of the
same traffic, idle and during the load). Everything goes over real HTTP to a ``rootline serve``
child process on 127.0.0.1, over a database seeded with the real commands.
"""

from __future__ import annotations

import contextlib
import csv
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import Theme
from rootline.db import make_engine
from rootline.ingest.models import Customer
from rootline.rootcause.service import add_task, assign, create_problem
from rootline.rootcause.teams import ROLES, add_member, create_team, create_user
from rootline.web.accounts import create_token
from rootline.web.security import hash_password
from tests.cli_runner import rootline_env, run_rootline

__all__ = [
    "MARKER",
    "Answer",
    "Crowd",
    "Person",
    "Site",
    "Visit",
    "journey",
    "rootline_server",
    "seed_site",
    "write_new_contacts",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PASSWORD = "crowd-password-1"
#: A word no seeded contact uses and some of the new ones do: they show once ingested.
MARKER = "ribbon"
WORDS = ("password", "refund", "delivery", "card declined", "parcel", "voucher", "checkout")
USERS_PER_ROLE = 4
#: Team pairs (business, IS); IS and product owners alternate between them.
TEAMS = (("Web shop", "E-commerce IS"), ("Payments", "Payments IS"))


@dataclass(frozen=True)
class Person:
    """A signed-in user; IS and product owners own the problem routed to their team."""

    email: str
    role: str
    own_problem: int | None = None
    #: Admins call the JSON API with a token, as a script of theirs would.
    token: str | None = None


@dataclass(frozen=True)
class Site:
    """What the seeded database holds that people open."""

    themes: list[int]
    #: Problems routed to each team pair, then one left in triage.
    problems: list[int]
    customers: list[int]
    people: list[Person]
    contacts: int


@dataclass(frozen=True)
class Visit:
    """One request and the status this person should get."""

    kind: str
    url: str
    expect: int = 200
    method: str = "GET"
    json: dict[str, str] | None = None
    bearer: bool = False


@dataclass(frozen=True)
class Answer:
    """What came back for one visit (``status`` 0 and ``error`` for a connection error)."""

    email: str
    role: str
    visit: Visit
    status: int
    ms: float
    phase: str
    error: str = ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_new_contacts(path: Path, n: int) -> int:
    """Write ``n`` new help-desk contacts (CSV, the demo's columns) dated after the seeded
    ones; every 20th is about a torn gift ribbon (``MARKER``). Returns ``n``."""
    with (FIXTURES / "demo_helpdesk.csv").open(newline="", encoding="utf-8") as src:
        rows = list(csv.DictReader(src))
    start = datetime(2026, 11, 16, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for i in range(n):
            row = dict(rows[i % len(rows)])
            row["ticket_id"] = f"L{i:06d}"
            row["created_at"] = (start + timedelta(minutes=7 * i)).isoformat()
            row["resolved_at"] = ""
            if i % 20 == 0:
                row["subject"] = "Gift wrap"
                row["description"] = (
                    f"The gift wrap {MARKER} was torn when the parcel came, order {i}. "
                    "Can you send a new one?"
                )
            writer.writerow(row)
    return n


def seed_site(db_url: str, folder: Path) -> Site:
    """Load the demo help desk and cluster it with the real commands (hashing embedder), then
    add teams, three problems (two routed, one in triage), an IS task, and 20 users: four of
    each role, the admins with an API token."""
    run_rootline("ingest", str(FIXTURES / "demo_helpdesk.csv"), db=db_url, folder=folder)
    run_rootline("cluster", db=db_url, folder=folder)
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            themes = list(
                session.scalars(
                    sa.select(Theme.id)
                    .where(Theme.status == "active")
                    .order_by(Theme.size.desc(), Theme.id)
                    .limit(40)
                )
            )
            teams = {
                name: create_team(session, name, kind)
                for pair in TEAMS
                for name, kind in zip(pair, ("business", "is"), strict=True)
            }
            problems = []
            for k, (business, is_team) in enumerate(TEAMS):
                problem = create_problem(session, [themes[k]], actor="seed")
                assign(session, problem.id, business=business, is_team=is_team, actor="seed")
                add_task(session, problem.id, "Find the cause", owner_team=is_team, actor="seed")
                problems.append(problem.id)
            problems.append(create_problem(session, [themes[len(TEAMS)]], actor="seed").id)
            people = []
            hashed = hash_password(PASSWORD)  # once: argon2 is slow on purpose
            for role in ROLES:
                for k in range(USERS_PER_ROLE):
                    user = create_user(session, f"{role}{k}@crowd.example", role=role)
                    user.password_hash = hashed
                    own = None
                    if role in ("is_owner", "product_owner"):
                        pair = k % len(TEAMS)
                        add_member(session, teams[TEAMS[pair][role == "is_owner"]], user)
                        own = problems[pair]
                    token = None
                    if role == "admin":
                        token = create_token(session, user, "crowd", actor="seed")[1]
                    people.append(Person(user.email, role, own_problem=own, token=token))
            customers = list(
                session.scalars(sa.select(Customer.id).order_by(Customer.id).limit(50))
            )
            contacts = session.scalar(sa.text("SELECT count(*) FROM interaction")) or 0
            session.commit()
    finally:
        engine.dispose()
    return Site(themes, problems, customers, people, contacts)


def journey(person: Person, site: Site, rng: random.Random) -> list[Visit]:
    """The pages one person opens in one sitting, in the order their role works."""
    theme, other = rng.choice(site.themes[:10]), rng.choice(site.themes)
    problem = rng.choice(site.problems)
    word = rng.choice(WORDS).replace(" ", "+")
    customer = rng.choice(site.customers)
    triage = site.problems[-1]
    note = {"body": f"looked at this ({person.email})"}
    if person.role == "viewer":
        return [
            Visit("dashboard", "/themes"),
            Visit("theme", f"/themes/{theme}"),
            Visit("theme", f"/themes/{other}"),
            Visit("search", f"/search?q={word}"),
            Visit("board", "/problems"),
            Visit("problem", f"/problems/{problem}"),
            Visit("api", "/api/dashboard"),
            Visit("tasks", "/tasks", 403),
            Visit("write", f"/api/problems/{problem}/comments", 403, "POST", note),
            Visit("customer", f"/customers/{customer}"),
        ]
    if person.role == "support_lead":
        return [
            Visit("dashboard", "/themes"),
            Visit("theme", f"/themes/{theme}"),
            Visit("api", f"/api/themes/{theme}/interactions?limit=20"),
            Visit("theme", f"/themes/{other}?q={word}"),
            Visit("board", "/problems"),
            Visit("problem", f"/problems/{problem}"),
            Visit("write", f"/api/problems/{problem}/comments", 201, "POST", note),
            Visit("search", f"/search?q={word}"),
            Visit("api", f"/api/search?q={word}"),
            Visit("api", "/api/alerts"),
            Visit("tasks", "/tasks"),
            Visit("admin", "/admin", 403),
        ]
    if person.role in ("is_owner", "product_owner"):
        own = person.own_problem
        assert own is not None
        first = (
            [Visit("tasks", "/tasks")]
            if person.role == "is_owner"
            else [Visit("backlog", "/backlog")]
        )
        return [
            *first,
            Visit("problem", f"/problems/{own}"),
            Visit("write", f"/api/problems/{own}/comments", 201, "POST", note),
            Visit("board", "/problems"),
            Visit("problem", f"/problems/{triage}"),
            Visit("write", f"/api/problems/{triage}/comments", 403, "POST", note),
            Visit("dashboard", "/themes"),
            Visit("theme", f"/themes/{theme}"),
            Visit("api", f"/api/themes/{theme}/figures"),
            Visit("api", "/api/tasks/mine"),
            Visit("search", f"/search?q={word}"),
            Visit("api", "/api/admin/users", 403),
        ]
    return [
        Visit("admin", "/admin"),
        Visit("api", "/api/admin/users", bearer=True),
        Visit("dashboard", "/themes"),
        Visit("api", "/api/dashboard", bearer=True),
        Visit("api", "/api/runs", bearer=True),
        Visit("theme", f"/themes/{other}"),
        Visit("board", "/problems"),
        Visit("api", f"/api/problems/{problem}", bearer=True),
        Visit("search", f"/search?q={word}"),
        Visit("api", "/api/themes", bearer=True),
    ]


@contextlib.contextmanager
def rootline_server(
    db_url: str, folder: Path, *, embedder: str | None = "hashing"
) -> Iterator[str]:
    """``rootline serve`` on a free port of 127.0.0.1 as a child process; yields its base URL.
    Its output goes to ``folder/server.log``; ``embedder`` None serves with the real model."""
    port = _free_port()
    log = (folder / "server.log").open("w", encoding="utf-8")
    env = {**rootline_env(folder, embedder), "ROOTLINE_LOGIN_MAX_FAILURES": "1000"}
    cmd = [sys.executable, "-m", "rootline", "--db", db_url, "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*cmd, "--port", str(port)], env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not start: {(folder / 'server.log').read_text()}"
                )
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not found:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


def sign_in(base: str, person: Person) -> httpx.Client:
    """A client signed in as ``person`` through the sign-in form, sending its CSRF token."""
    client = httpx.Client(base_url=base, timeout=60)
    answer = client.post(
        "/login",
        data={
            "email": person.email,
            "password": PASSWORD,
            "csrf_token": _csrf(client.get("/login").text),
        },
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in of {person.email} failed: {answer.status_code}")
    client.headers["X-CSRF-Token"] = _csrf(client.get("/backlog").text)
    return client


class Crowd:
    """Everyone in ``site.people`` browsing at once, one thread and one client each, until
    ``stop``. ``phase`` labels the answers of requests started while it is set."""

    def __init__(self, base: str, site: Site, *, think: float = 0.2, seed: int = 1) -> None:
        self.site = site
        self.think = think
        self.phase = "idle"
        self.answers: list[Answer] = []
        self._seed = seed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        with ThreadPoolExecutor(4) as pool:
            self.clients = list(pool.map(lambda p: sign_in(base, p), site.people))

    def _visit(self, person: Person, client: httpx.Client, visit: Visit) -> Answer:
        headers = {"Authorization": f"Bearer {person.token}"} if visit.bearer else {}
        phase = self.phase
        started = time.perf_counter()
        try:
            response = client.request(visit.method, visit.url, json=visit.json, headers=headers)
            status, error = response.status_code, ""
            if status >= 500:
                error = response.text[:300]
        except httpx.TransportError as exc:
            status, error = 0, f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - started) * 1000
        return Answer(person.email, person.role, visit, status, ms, phase, error)

    def _browse(self, k: int) -> None:
        person, client = self.site.people[k], self.clients[k]
        rng = random.Random(self._seed * 1000 + k)
        while not self._stop.is_set():
            for visit in journey(person, self.site, rng):
                answer = self._visit(person, client, visit)
                with self._lock:
                    self.answers.append(answer)
                if self._stop.wait(rng.uniform(0, 2 * self.think)):
                    return

    def start(self) -> None:
        """Everyone starts browsing."""
        self._threads = [
            threading.Thread(target=self._browse, args=(k,), daemon=True)
            for k in range(len(self.site.people))
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Everyone finishes the request in hand and stops."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    def close(self) -> None:
        """Stop everyone (if browsing) and close every client."""
        self.stop()
        for client in self.clients:
            client.close()

    def __enter__(self) -> Crowd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
