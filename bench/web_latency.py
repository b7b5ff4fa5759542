"""Web latency: p50/p95 of the dashboard, a theme page, the problem board and search.

Generates ``--interactions`` contacts in ``--themes`` themes (plus customers, problems and
cached hashing-embedder vectors for semantic search) straight into the tables with bulk
inserts, once into a fresh SQLite file and once into a fresh PostgreSQL database (dropped
afterwards). For each it starts the web app the way ``rootline serve`` does (the same
``create_app`` under a real uvicorn process), signs in, and a local load generator (threads of
httpx clients, 127.0.0.1 only, a bounded number of requests) measures each page. The first
request of each page fills the figure caches and is reported on its own as ``cold_ms``; the
percentiles are over the ``--requests`` that follow. Prints one JSON object.

Client-side latency on a shared machine mixes in the wait for a CPU, so the server also times
itself: a thin ASGI wrapper (bench only; the app is unchanged) sends a ``Server-Timing`` header
with the time from request to response, the SQL statements run and their execute time, and
the process CPU time (``server_*``, ``sql_*`` figures; the CPU time is the request's own only
with ``--concurrency 1``), and the load average is recorded before and after each page.

    .venv/bin/python bench/web_latency.py                      # 100,000 contacts, 500 themes
    .venv/bin/python bench/web_latency.py --interactions 20000 --backends sqlite
    .venv/bin/python bench/web_latency.py --url sqlite:///bench.db   # a database made before
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from rootline.clustering.embedding import HashingEmbedder, text_hash
from rootline.clustering.models import ClusteringRun, EmbeddingCache, Theme, ThemeMembership
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.models import Customer, Interaction
from rootline.rootcause.models import Problem, ProblemTheme
from rootline.rootcause.states import STATES
from rootline.web.accounts import ensure_user

PG_ADMIN = os.environ.get(
    "ROOTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
WORDS = (
    "password reset link email card declined payment checkout parcel late courier "
    "tracking refund returned money app crash android promo code voucher invoice "
    "address delivery subscription cancel renewal charged twice login account locked "
    "order missing item broken damaged screen update slow website error"
).split()
FILLER = "hi please help my the is not working again today why can you check thanks".split()
PAGES = ("dashboard", "theme", "board", "search")
EMAIL, PASSWORD = "bench@example.com", "bench-password"
BATCH = 10_000


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        conn.execute(sa.insert(table), rows[start : start + BATCH])


def generate(url: str, n: int, n_themes: int, seed: int = 7) -> dict[str, float]:
    """Fill a migrated database with synthetic contacts, themes, problems and vectors."""
    rng = random.Random(seed)
    engine = make_engine(url)
    migrate(engine)
    started = time.perf_counter()
    end = datetime(2026, 11, 1, tzinfo=UTC)
    theme_words = [rng.sample(WORDS, 4) for _ in range(n_themes)]
    weights = [1 / (rank + 10) for rank in range(n_themes)]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        n_customers = max(1, n // 5)
        _insert(
            conn,
            Customer.__table__,
            [
                {
                    "id": c + 1,
                    "name": f"Customer {c}",
                    "segment": rng.choice(["consumer", "smb", "enterprise"]),
                    "value": round(rng.uniform(50, 5000), 2),
                    "created_at": now,
                }
                for c in range(n_customers)
            ],
        )
        rows: list[dict[str, Any]] = []
        members: list[dict[str, Any]] = []
        texts: list[str] = []
        for i in range(n):
            # Zipf-like sizes: the biggest theme holds about 2% of contacts, 10% are unthemed.
            theme = rng.choices(range(n_themes), weights)[0] if rng.random() < 0.9 else None
            words = theme_words[theme] if theme is not None else rng.sample(WORDS, 4)
            text = " ".join(rng.sample(words, 3) + rng.sample(FILLER, 4)) + f" #{i % 997}"
            texts.append(text)
            rows.append(
                {
                    "id": i + 1,
                    "source": rng.choice(["helpdesk", "contact_center"]),
                    "external_id": f"B{i}",
                    "channel": rng.choice(["email", "chat", "phone", "web"]),
                    "customer_id": rng.randint(1, n_customers),
                    "body_raw": text,
                    "body_clean": text,
                    "created_at": end - timedelta(minutes=rng.randint(0, 180 * 24 * 60)),
                    "csat": float(rng.randint(1, 5)),
                    "content_hash": f"{i:064d}",
                    "tags": [],
                    "extra": {},
                    "ingested_at": now,
                }
            )
            if theme is not None:
                members.append(
                    {
                        "interaction_id": i + 1,
                        "theme_id": theme + 1,
                        "probability": 1.0,
                        "source": "auto",
                    }
                )
        sizes = [0] * n_themes
        for m in members:
            sizes[m["theme_id"] - 1] += 1
        conn.execute(
            sa.insert(ClusteringRun.__table__),
            [
                {
                    "id": 1,
                    "kind": "full",
                    "model_slug": "hashing:256",
                    "params": {},
                    "status": "succeeded",
                    "started_at": now,
                    "finished_at": now,
                    "n_interactions": n,
                    "metrics": {"themes": n_themes},
                }
            ],
        )
        _insert(conn, Interaction.__table__, rows)
        _insert(
            conn,
            Theme.__table__,
            [
                {
                    "id": t + 1,
                    "title": " ".join(theme_words[t][:3]),
                    "keywords": theme_words[t],
                    "examples": [],
                    "status": "active",
                    "size": sizes[t],
                    "title_locked": False,
                    "created_run_id": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for t in range(n_themes)
            ],
        )
        _insert(conn, ThemeMembership.__table__, members)
        problems = [
            {
                "id": p + 1,
                "title": f"Problem about theme {p + 1}",
                "description": "",
                "state": STATES[p % len(STATES)],
                "priority": f"P{1 + p % 4}",
                "priority_overridden": False,
                "impact_score": float(100 - p % 100),
                "impact": {},
                "routing_explanation": "bench",
                "links": [],
                "tags": ["web"] if p % 3 else [],
                "created_by": "bench",
                "auto_created": False,
                "created_at": now,
                "updated_at": now,
                "state_changed_at": now,
                "reopen_count": 0,
                "version": 1,
            }
            for p in range(min(200, n_themes))
        ]
        _insert(conn, Problem.__table__, problems)
        _insert(
            conn,
            ProblemTheme.__table__,
            [{"problem_id": p["id"], "theme_id": p["id"]} for p in problems],
        )
        unique = list(dict.fromkeys(texts))
        vectors = HashingEmbedder().encode(unique)
        _insert(
            conn,
            EmbeddingCache.__table__,
            [
                {
                    "model_slug": "hashing:256",
                    "text_hash": text_hash(t),
                    "dim": 256,
                    "vector": np.asarray(v, dtype=np.float32).tobytes(),
                }
                for t, v in zip(unique, vectors, strict=True)
            ],
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    with session_scope(make_session_factory(engine)) as session:
        ensure_user(session, EMAIL, "admin", PASSWORD)
    engine.dispose()
    return {"generate_s": round(time.perf_counter() - started, 1), "themed": len(members)}


_REQUEST: ContextVar[dict[str, float] | None] = ContextVar("bench_request", default=None)


class _ServerTiming:
    """ASGI wrapper: a ``Server-Timing`` header with the app's time and its SQL statements."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The dict is shared with the worker threads that run sync routes (anyio copies the
        # context into them), so their statements count here.
        stats = {"n": 0.0, "sql": 0.0}
        token = _REQUEST.set(stats)
        started, cpu = time.perf_counter(), time.process_time()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                # Process CPU time: the request's own work when requests do not overlap
                # (--concurrency 1), otherwise it includes the other requests' share.
                used = (time.process_time() - cpu) * 1000
                value = (
                    f"app;dur={took:.2f}, sql;dur={stats['sql'] * 1000:.2f};"
                    f'desc="{int(stats["n"])}", cpu;dur={used:.2f}'
                )
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"server-timing", value.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _REQUEST.reset(token)


def serve(url: str, port: int) -> None:
    """Run the app as ``rootline serve`` does, wrapped in ``_ServerTiming``."""
    import uvicorn

    from rootline.config import get_settings
    from rootline.web.app import create_app

    engine = make_engine(url)
    migrate(engine)

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _start(conn: Any, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _stop(conn: Any, *_: Any) -> None:
        stats = _REQUEST.get()
        if stats is not None:
            stats["n"] += 1
            stats["sql"] += time.perf_counter() - conn.info.pop("bench_t0", time.perf_counter())

    app = create_app(get_settings(), engine)
    uvicorn.run(_ServerTiming(app), host="127.0.0.1", port=port, log_level="warning")


def _server_timing(header: str) -> tuple[float, float, int, float]:
    """(app ms, SQL ms, statements, CPU ms) from a ``Server-Timing`` header of ``_ServerTiming``."""
    app = re.search(r"app;dur=([\d.]+)", header)
    sql = re.search(r'sql;dur=([\d.]+);desc="(\d+)"', header)
    cpu = re.search(r"cpu;dur=([\d.]+)", header)
    return (
        float(app.group(1)) if app else float("nan"),
        float(sql.group(1)) if sql else float("nan"),
        int(sql.group(2)) if sql else -1,
        float(cpu.group(1)) if cpu else float("nan"),
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": round(statistics.median(ordered), 1),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _sign_in(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=120)
    page = client.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf, "no CSRF token on the sign-in page"
    answer = client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf.group(1)}
    )
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in failed: {answer.status_code}")
    return client


def _urls(page: str, k: int, n_themes: int, rng: random.Random) -> list[str]:
    if page == "dashboard":
        return ["/themes"] * k
    if page == "theme":
        return [f"/themes/{rng.randint(1, min(n_themes, 50))}" for _ in range(k)]
    if page == "board":
        return ["/problems"] * k
    return [f"/search?q={rng.choice(WORDS)}+{rng.choice(WORDS)}" for _ in range(k)]


def measure(url: str, n_themes: int, requests: int, concurrency: int) -> dict[str, Any]:
    """Serve the database with ``rootline serve`` and time each page."""
    port = _free_port()
    env = {
        **os.environ,
        "ROOTLINE_EMBEDDER": "hashing",
        "ROOTLINE_SECRET_KEY": uuid.uuid4().hex,
        "ROOTLINE_LOGIN_MAX_FAILURES": "1000",
    }
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(
                    "the server did not start: "
                    + (server.stderr.read().decode() if server.stderr else "")
                )
            time.sleep(0.2)
        clients = [_sign_in(base) for _ in range(concurrency)]
        rng = random.Random(1)
        out: dict[str, Any] = {}
        for page in PAGES:
            first = _urls(page, 1, n_themes, rng)[0]
            t0 = time.perf_counter()
            clients[0].get(first).raise_for_status()
            cold = (time.perf_counter() - t0) * 1000
            urls = _urls(page, requests, n_themes, rng)

            def hit(
                i: int, urls: list[str] = urls
            ) -> tuple[float, tuple[float, float, int, float]]:
                t = time.perf_counter()
                r = clients[i % concurrency].get(urls[i])
                r.raise_for_status()
                took = (time.perf_counter() - t) * 1000
                return took, _server_timing(r.headers.get("server-timing", ""))

            load_before = os.getloadavg()[0]
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(hit, range(len(urls))))
            times = sorted(t for t, _ in results)
            app_ms = _percentiles([srv[0] for _, srv in results])
            sql_ms = _percentiles([srv[1] for _, srv in results])
            cpu_ms = _percentiles([srv[3] for _, srv in results])
            out[page] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 1),
                "max_ms": round(times[-1], 1),
                "cold_ms": round(cold, 1),
                "requests": len(times),
                "server_p50_ms": app_ms["p50"],
                "server_p95_ms": app_ms["p95"],
                "sql_p50_ms": sql_ms["p50"],
                "sql_p95_ms": sql_ms["p95"],
                "server_cpu_p50_ms": cpu_ms["p50"],
                "server_cpu_p95_ms": cpu_ms["p95"],
                "statements": int(statistics.median(srv[2] for _, srv in results)),
                "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            }
        for c in clients:
            c.close()
        return out
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=100_000)
    parser.add_argument("--themes", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--concurrency", type=int, default=2, help="parallel clients")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--target-ms", type=float, default=150.0)
    parser.add_argument(
        "--url",
        help="measure this already generated database instead "
        "(same --interactions and --themes); nothing is created or dropped",
    )
    args = parser.parse_args()
    report: dict[str, Any] = {
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "interactions": args.interactions,
        "themes": args.themes,
        "requests_per_page": args.requests,
        "concurrency": args.concurrency,
        "target_p95_ms": args.target_ms,
        "results": {},
    }
    if args.url:
        backend = make_engine(args.url).dialect.name
        report["results"][backend] = measure(args.url, args.themes, args.requests, args.concurrency)
    for backend in [] if args.url else args.backends.split(","):
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{Path(tmp) / 'web.db'}"
                info = generate(url, args.interactions, args.themes)
                report["results"][backend] = {
                    **info,
                    **measure(url, args.themes, args.requests, args.concurrency),
                }
        else:
            name = f"rootline_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
            try:
                info = generate(url, args.interactions, args.themes)
                report["results"][backend] = {
                    **info,
                    **measure(url, args.themes, args.requests, args.concurrency),
                }
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    report["ok"] = all(
        r[p]["p95_ms"] < args.target_ms for r in report["results"].values() for p in PAGES
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
