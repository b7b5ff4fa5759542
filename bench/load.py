"""Web latency with 20 people browsing, idle and while ``rootline ingest`` and ``cluster`` run.

Seeds a fresh database with the real commands (the demo help desk, clustered with the hashing
embedder), adds teams, problems and 20 users (four per role), and serves it with
``rootline serve`` on 127.0.0.1. The same 20 people as ``tests/test_web_load.py``
(``tests/crowd.py``: one thread and one httpx client each, role-specific page sequences with a
short think time) browse for ``--idle-seconds``, then keep browsing while ``rootline ingest``
loads ``--new-contacts`` contacts and ``rootline cluster`` places them. Prints one JSON object:
p50/p95/max per page kind and overall, requests/s, for each phase, and the busy/idle ratios
measured in the same run (compare those: these machines are shared and noisy). Any 5xx,
connection error or unexpected status is counted and makes ``ok`` false.

    .venv/bin/python bench/load.py                  # SQLite
    .venv/bin/python bench/load.py --postgres       # SQLite, then PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' crowd

from tests.cli_runner import run_rootline
from tests.crowd import (
    Answer,
    Crowd,
    rootline_server,
    seed_site,
    write_new_contacts,
)

PG_ADMIN = os.environ.get(
    "ROOTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    if not ordered:
        return {"n": 0}
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": round(at(0.5), 1),
        "p95_ms": round(at(0.95), 1),
        "max_ms": round(ordered[-1], 1),
    }


def _phase_report(answers: list[Answer], seconds: float) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for a in answers:
        by_kind[a.visit.kind].append(a.ms)
    return {
        "seconds": round(seconds, 1),
        "requests_per_s": round(len(answers) / seconds, 1) if seconds else 0.0,
        "overall": _percentiles([a.ms for a in answers]),
        "pages": {kind: _percentiles(ms) for kind, ms in sorted(by_kind.items())},
        "server_errors": sum(1 for a in answers if a.status >= 500),
        "connection_errors": sum(1 for a in answers if a.status == 0),
        "unexpected_status": sum(1 for a in answers if a.status and a.status != a.visit.expect),
    }


def _ratio(busy: dict[str, Any], idle: dict[str, Any]) -> dict[str, float]:
    return {
        key: round(busy[key] / idle[key], 2)
        for key in ("p50_ms", "p95_ms")
        if idle.get(key) and key in busy
    }


def measure(db_url: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Seed ``db_url``, serve it, and time the crowd idle and during ingest + clustering."""
    started = time.perf_counter()
    site = seed_site(db_url, folder)
    new_file = folder / "new_contacts.csv"
    write_new_contacts(new_file, args.new_contacts)
    report: dict[str, Any] = {
        "seed_s": round(time.perf_counter() - started, 1),
        "seeded_contacts": site.contacts,
        "themes_opened": len(site.themes),
    }
    with rootline_server(db_url, folder) as base, Crowd(base, site, think=args.think) as crowd:
        crowd.phase = "warmup"  # first visits fill the figure caches
        crowd.start()
        time.sleep(args.warmup_seconds)
        crowd.phase = "idle"
        t0 = time.perf_counter()
        load_idle = os.getloadavg()[0]
        time.sleep(args.idle_seconds)
        crowd.phase = "busy"
        t1 = time.perf_counter()
        run_rootline("ingest", str(new_file), db=db_url, folder=folder, timeout=600)
        t2 = time.perf_counter()
        run_rootline("cluster", db=db_url, folder=folder, timeout=600)
        t3 = time.perf_counter()
        load_busy = os.getloadavg()[0]
        crowd.phase = "done"
        crowd.stop()
        answers = list(crowd.answers)
    idle = _phase_report([a for a in answers if a.phase == "idle"], t1 - t0)
    busy = _phase_report([a for a in answers if a.phase == "busy"], t3 - t1)
    report.update(
        {
            "ingest_s": round(t2 - t1, 1),
            "cluster_s": round(t3 - t2, 1),
            "load_1min": {"idle": round(load_idle, 2), "busy": round(load_busy, 2)},
            "idle": idle,
            "busy": busy,
            "busy_over_idle": {
                "overall": _ratio(busy["overall"], idle["overall"]),
                "pages": {
                    kind: _ratio(stats, idle["pages"].get(kind, {}))
                    for kind, stats in busy["pages"].items()
                },
                "requests_per_s": round(busy["requests_per_s"] / idle["requests_per_s"], 2)
                if idle["requests_per_s"]
                else None,
            },
        }
    )
    return report


@contextmanager
def _postgres_database() -> Iterator[str]:
    name = f"rootline_load_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="also measure on PostgreSQL")
    parser.add_argument("--new-contacts", type=int, default=3000)
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    parser.add_argument("--warmup-seconds", type=float, default=3.0)
    parser.add_argument("--think", type=float, default=0.2, help="mean pause between pages (s)")
    args = parser.parse_args()
    out: dict[str, Any] = {
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "users": 20,
        "new_contacts": args.new_contacts,
        "think_s": args.think,
        "results": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sqlite"
        folder.mkdir()
        out["results"]["sqlite"] = measure(f"sqlite:///{folder / 'load.db'}", folder, args)
        if args.postgres:
            folder = Path(tmp) / "postgresql"
            folder.mkdir()
            with _postgres_database() as url:
                out["results"]["postgresql"] = measure(url, folder, args)
    out["ok"] = all(
        r[phase][key] == 0
        for r in out["results"].values()
        for phase in ("idle", "busy")
        for key in ("server_errors", "connection_errors", "unexpected_status")
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
