"""Ingest speed: N synthetic help-desk interactions from CSV into SQLite and PostgreSQL.

Generates a CSV of ``--rows`` interactions (e-mail style bodies with greetings, signatures and
quoted replies, so cleaning does real work; 1 customer per ~20 contacts), then ingests it with
cleaning and customer resolution, once into a fresh SQLite file and once into a fresh
temporary PostgreSQL database that is dropped afterwards. Each ingest runs in its own process
so its peak memory (``ru_maxrss``) is its own. Prints one JSON object.

    .venv/bin/python bench/ingest_speed.py --rows 1000000
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ISSUES = [
    "my password reset email never arrives, I tried three times today",
    "the card was declined at checkout although the bank says it is fine",
    "parcel {n} is a week late and tracking has not moved since monday",
    "I returned the item on the {d}th but the refund has not been credited",
    "the app crashes every time I open the orders screen on android",
    "promo code SAVE{d} says invalid although the sale is still on",
    "I was charged twice for order {n}, please refund one of the payments",
    "cannot change my delivery address after placing the order",
    "the invoice PDF download gives a blank page in chrome",
    "how do I cancel my subscription before the next renewal",
]
GREETINGS = ["Hi,", "Hello team,", "Dear support,", "Good morning,", ""]
SIGNOFFS = [
    "Thanks,\n{name}",
    "Best regards,\n{name}\n+44 20 7946 {d:04d}",
    "Cheers\n{name}",
    "{name}\nSent from my iPhone",
    "",
]
CHANNELS = ["email", "chat", "web", "phone"]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    """Write ``rows`` synthetic interactions to ``path`` as CSV."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    customers = max(1, rows // 20)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "ticket_id",
                "created_at",
                "channel",
                "customer_email",
                "subject",
                "description",
                "csat",
                "intent",
            ]
        )
        for i in range(rows):
            k = rng.randrange(len(ISSUES))
            issue = ISSUES[k].format(n=rng.randint(10000, 99999), d=rng.randint(1, 28))
            name = f"Customer {rng.randrange(customers)}"
            body = "\n\n".join(
                p
                for p in (
                    rng.choice(GREETINGS),
                    issue,
                    rng.choice(SIGNOFFS).format(name=name, d=i % 10000),
                    "On Mon, 3 Nov 2026 at 10:02, Support <help@shop.example> wrote:\n> Thanks for "
                    "contacting us."
                    if rng.random() < 0.3
                    else "",
                )
                if p
            )
            w.writerow(
                [
                    f"T{i:08d}",
                    (start + timedelta(seconds=31 * i)).isoformat(),
                    rng.choice(CHANNELS),
                    f"user{rng.randrange(customers)}@example.com",
                    issue[:40],
                    body,
                    rng.choice(["", "1", "2", "3", "4", "5"]),
                    f"k{k}",
                ]
            )


def run_one(url: str, csv_path: Path) -> dict[str, object]:
    """Migrate ``url``, ingest ``csv_path`` in one transaction; figures for this process."""
    from rootline.db import make_engine, make_session_factory, migrate, session_scope
    from rootline.ingest.service import ingest_file

    engine = make_engine(url)
    migrate(engine)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    kids_before = kids.ru_utime + kids.ru_stime
    started = time.perf_counter()
    with session_scope(make_session_factory(engine)) as session:
        report = ingest_file(session, csv_path, source="bench")
    seconds = time.perf_counter() - started
    engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    # The worker process that reads and cleans, when the ingest used one.
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = kids.ru_utime + kids.ru_stime - kids_before
    worker_peak_mb = kids.ru_maxrss / 1024
    return {
        "rows": report.read,
        "inserted": report.inserted,
        "customers": report.customers_created,
        "seconds": round(seconds, 1),
        # CPU time of this process: on a shared machine, rows/s by CPU shows our own cost.
        "cpu_seconds": round(cpu, 1),
        "rows_per_cpu_s": round(report.read / cpu),
        "worker_cpu_seconds": round(worker_cpu, 1),
        # Rows per second of the busier of the two processes: the rate the pipeline reaches
        # when each has a core of its own, which a shared machine does not give.
        "rows_per_busiest_cpu_s": round(report.read / max(cpu, worker_cpu)),
        "rows_per_s": round(report.read / seconds),
        "peak_mb": round(peak_mb),
        "worker_peak_mb": round(worker_peak_mb),
    }


def _child(target: str, url: str, csv_path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", target, "--url", url, "--csv", str(csv_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="server to create the temporary database on ('' to skip)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.url, args.csv)))
        return

    import sqlalchemy as sa

    result: dict[str, object] = {"rows": args.rows}
    with tempfile.TemporaryDirectory(prefix="rootline-bench-") as tmp:
        csv_path = Path(tmp) / "interactions.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        result["generate_seconds"] = round(time.perf_counter() - started, 1)
        result["csv_mb"] = round(csv_path.stat().st_size / 2**20)
        result["sqlite"] = _child("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", csv_path)
        if args.pg_url:
            admin_url = sa.make_url(args.pg_url).set(drivername="postgresql+psycopg")
            name = f"rootline_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                url = admin_url.set(database=name).render_as_string(hide_password=False)
                result["postgresql"] = _child("postgresql", url, csv_path)
            except sa.exc.OperationalError as exc:
                result["postgresql"] = {"error": str(exc.orig).strip()}
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
    targets = [v for v in (result.get("sqlite"), result.get("postgresql")) if isinstance(v, dict)]
    result["target_met"] = all(
        "error" not in t and t["rows_per_s"] >= 10_000 and t["peak_mb"] < 1024 for t in targets
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
