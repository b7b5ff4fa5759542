"""The dashboard's customer figures over a million contacts on PostgreSQL, against a target.

Fills a fresh PostgreSQL database (dropped afterwards) with ``--interactions`` contacts in
``--themes`` themes over a year, ``--customers`` customers (segments, values, account
owners), cancellations, downgrades and upgrades, and survey answers on a tenth of the
contacts, generated inside the database (``generate_series``), then times, each ``--repeat``
times (median and best reported):

- ``theme_figures``: every theme's figures of ``rootline themes --json`` (contacts,
  customers, repeat rate, CSAT, value at risk, churn; the impact score is timed apart as
  ``impact_scores``, since it reads the contacts into Python);
- ``breakdown_theme``, ``breakdown_channel``, ``breakdown_region``: the figures by dimension
  of ``/impact`` (every figure, with the similar-customer churn and surveys), by theme, by a
  column and by an extra field of the contacts' JSON;
- ``service_quality``: the ranking of ``/service`` by region;
- ``forecast_top``: the 4-week forecast of the 50 largest themes.

``ok`` says whether the dashboard's SQL figures (``breakdown_theme`` and ``theme_figures``)
took under ``--target-s`` seconds each. Prints one JSON object, with the load average before
and after (compare on a shared machine with care).

    .venv/bin/python bench/impact_figures.py                     # 1,000,000 contacts
    .venv/bin/python bench/impact_figures.py --interactions 100000 --repeat 3
    .venv/bin/python bench/impact_figures.py --url postgresql+psycopg://...   # a database made before
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from rootline.clustering.models import Theme
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.rootcause.breakdown import breakdown
from rootline.rootcause.figures import theme_figures
from rootline.rootcause.forecast import theme_forecasts
from rootline.rootcause.impact import impact_by_theme
from rootline.rootcause.surveys import service_quality

PG_ADMIN = os.environ.get(
    "ROOTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START = datetime(2025, 12, 1, tzinfo=UTC)


def generate(url: str, interactions: int, themes: int, customers: int) -> dict[str, Any]:
    """Fill the database at ``url``; returns the counts and the seconds it took."""
    engine = make_engine(url)
    migrate(engine)
    began = time.perf_counter()
    minutes = 365 * 24 * 60
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Theme),
            [{"title": f"Theme {i}", "keywords": [], "status": "active"} for i in range(themes)],
        )
        first_theme = conn.scalar(sa.select(sa.func.min(Theme.id)))
        conn.exec_driver_sql(
            """
            INSERT INTO customer (id, name, segment, value, account_owner, created_at)
            SELECT g, 'Customer ' || g,
                   (ARRAY['consumer','consumer','consumer','small_business','enterprise'])[1 + g %% 5],
                   CASE WHEN g %% 5 = 4 THEN 60000 WHEN g %% 5 = 3 THEN 4000 ELSE 180 END
                     + (g %% 97),
                   CASE WHEN g %% 5 >= 3 THEN 'Owner ' || (g %% 11) END, now()
            FROM generate_series(1::bigint, %(n)s) AS g
            """,
            {"n": customers},
        )
        # A skewed theme size (squares), spread times, 5% anonymous, a third rated.
        conn.exec_driver_sql(
            """
            INSERT INTO interaction (id, source, external_id, channel, customer_id, body_raw,
                body_clean, created_at, resolved_at, status, csat, tags, extra, content_hash,
                ingested_at)
            SELECT g, 'bench', 'B' || g,
                   (ARRAY['email','chat','phone','web'])[1 + (g * 7) %% 4],
                   CASE WHEN g %% 20 = 0 THEN NULL ELSE 1 + (g * 7919) %% %(c)s END,
                   '', '',
                   %(start)s + ((g * 2654435761) %% %(m)s) * interval '1 minute',
                   CASE WHEN g %% 10 < 8 THEN %(start)s + ((g * 2654435761) %% %(m)s)
                        * interval '1 minute' + (g %% 72) * interval '1 hour' END,
                   'solved',
                   CASE WHEN g %% 3 = 0 THEN 1 + g %% 5 END,
                   '[]'::jsonb,
                   jsonb_build_object('region', (ARRAY['north','south','east','west'])[1 + g %% 4],
                                      'product', 'P' || (g %% 9)),
                   md5(g::text), now()
            FROM generate_series(1::bigint, %(n)s) AS g
            """,
            {"n": interactions, "c": customers, "start": START, "m": minutes},
        )
        conn.exec_driver_sql(
            """
            INSERT INTO theme_membership (interaction_id, theme_id, probability, source)
            SELECT g, %(t0)s + floor(power(((g * 40503) %% 65536) / 65536.0, 2) * %(t)s)::int,
                   1.0, 'auto'
            FROM generate_series(1::bigint, %(n)s) AS g
            WHERE g %% 25 <> 0
            """,
            {"n": interactions, "t0": first_theme, "t": themes},
        )
        conn.exec_driver_sql(
            """
            INSERT INTO customer_event (source, external_id, customer_id, kind, occurred_at,
                amount, extra, content_hash, ingested_at)
            SELECT 'crm', 'E' || g, 1 + (g * 104729) %% %(c)s,
                   (ARRAY['cancellation','downgrade','upgrade','order'])[1 + g %% 4],
                   %(start)s + ((g * 40503) %% %(m)s) * interval '1 minute', 100, '{}'::jsonb,
                   md5('e' || g), now()
            FROM generate_series(1::bigint, %(e)s) AS g
            """,
            {"c": customers, "start": START, "m": minutes, "e": customers // 5},
        )
        conn.exec_driver_sql(
            """
            INSERT INTO survey_response (interaction_id, question, score, scale_max, source)
            SELECT g, 'satisfied', (g / 10) %% 2, 1, 'survey'
            FROM generate_series(10::bigint, %(n)s, 10) AS g
            """,
            {"n": interactions},
        )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return {
        "interactions": interactions,
        "themes": themes,
        "customers": customers,
        "generate_s": round(time.perf_counter() - began, 1),
    }


def _time(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - began)
    return {"median_s": round(statistics.median(runs), 3), "best_s": round(min(runs), 3)}


def measure(url: str, repeat: int) -> dict[str, Any]:
    """Time each figure over the database at ``url``."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    out: dict[str, Any] = {}
    with session_scope(sessions) as session:
        ids = list(session.scalars(sa.select(Theme.id).where(Theme.status == "active")))
        sizes = breakdown(session, "theme").groups  # warm the caches once
        top = [int(g.key) for g in sizes[:50] if g.key]
        jobs: dict[str, Callable[[], Any]] = {
            "theme_figures": lambda: theme_figures(session, ids),
            "breakdown_theme": lambda: breakdown(session, "theme"),
            "breakdown_channel": lambda: breakdown(session, "channel"),
            "breakdown_region": lambda: breakdown(session, "region"),
            "service_quality": lambda: service_quality(session, "region"),
            "impact_scores": lambda: impact_by_theme(session, ids),
            "forecast_top": lambda: theme_forecasts(session, top),
        }
        for name, job in jobs.items():
            out[name] = _time(job, repeat)
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--themes", type=int, default=500)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target-s", type=float, default=2.0)
    parser.add_argument("--url", help="Measure a database made before (nothing generated).")
    args = parser.parse_args()
    report: dict[str, Any] = {"load_before": os.getloadavg()}
    if args.url:
        report["measured"] = measure(args.url, args.repeat)
    else:
        name = f"rootline_bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        try:
            report["data"] = generate(url, args.interactions, args.themes, args.customers)
            report["measured"] = measure(url, args.repeat)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    m = report["measured"]
    report["target_s"] = args.target_s
    report["ok"] = all(
        m[k]["median_s"] < args.target_s for k in ("theme_figures", "breakdown_theme")
    )
    report["load_after"] = os.getloadavg()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
