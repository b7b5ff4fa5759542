"""Triage latency at the agent's desk, with the real model, over HTTP on 127.0.0.1.

Holds the last ``--new`` contacts of the demo help desk back, loads and clusters the rest with
the real commands and the real model (``rootline ingest``, ``rootline cluster --full``), and
serves the database with ``rootline serve``. An agent desk with a ``triage`` API token then
posts each held-back contact to ``POST /api/triage``, one at a time (half of them with the
customer's e-mail address), after a few warm-up calls that load the model; the same calls are
timed in process too, wall and CPU time (``in_process``: a busy machine inflates wall time,
hardly CPU time), with ``load_average`` recorded beside them. Then the held-back
contacts are ingested and ``rootline cluster`` (incremental) places them: the share of
triage answers equal to that placement is ``agree_incremental`` (the promise: 1.0). A
``rootline cluster --full`` afterwards gives ``agree_full``, for reference (a full run may
re-draw themes). Prints one JSON object and writes it to ``bench/results/triage.json``.

    .venv/bin/python bench/triage.py            # p95 should stay under 50 ms
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' helpers

from rootline.db import make_engine
from rootline.rootcause.teams import create_user
from rootline.web.accounts import create_token
from tests.cli_runner import run_rootline
from tests.crowd import rootline_server

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RESULTS = Path(__file__).resolve().parent / "results"
_WARMUP = 5


def _split(folder: Path, held_back: int) -> tuple[Path, Path, list[dict[str, str]]]:
    with (FIXTURES / "demo_helpdesk.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    base, new = rows[:-held_back], rows[-held_back:]
    paths = []
    for name, part in (("base.csv", base), ("new.csv", new)):
        path = folder / name
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(part)
        paths.append(path)
    return paths[0], paths[1], new


def _token(db_url: str) -> str:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            user = create_user(session, "desk@bench.example", role="viewer")
            token = create_token(session, user, "agent desk", actor="bench", scope="triage")[1]
            session.commit()
    finally:
        engine.dispose()
    return token


def _placements(db_url: str, folder: Path) -> dict[str, str]:
    out = run_rootline("assignments", "--format", "csv", db=db_url, folder=folder, embedder=None)
    reader = csv.DictReader(out.stdout.splitlines())
    return {r["external_id"]: r["theme_id"] for r in reader}


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50_ms": round(at(0.5), 1),
        "p95_ms": round(at(0.95), 1),
        "max_ms": round(ordered[-1], 1),
    }


def _in_process(db_url: str, rows: list[dict[str, str]]) -> dict[str, Any]:
    """The same calls without HTTP: wall time and the CPU time they took (all threads), which
    a busy machine does not inflate the way it inflates wall time."""
    from rootline.config import Settings
    from rootline.pipeline import build_embedder
    from rootline.rootcause.triage import triage

    embedder = build_embedder(Settings(_env_file=None))  # type: ignore[call-arg]
    engine = make_engine(db_url)
    wall: list[float] = []
    cpu: list[float] = []
    try:
        with Session(engine) as session:
            for row in rows[:_WARMUP]:
                triage(session, embedder, row["description"])
            for k, row in enumerate(rows):
                email = row["requester_email"] if k % 2 else None
                t0, c0 = time.perf_counter(), time.process_time()
                triage(
                    session,
                    embedder,
                    row["description"],
                    customer_email=email or None,
                    subject=row["subject"],
                )
                cpu.append((time.process_time() - c0) * 1000)
                wall.append((time.perf_counter() - t0) * 1000)
            session.rollback()
    finally:
        engine.dispose()
    return {"wall": _percentiles(wall), "cpu": _percentiles(cpu)}


def run(held_back: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rootline-triage-") as tmp:
        folder = Path(tmp)
        db_url = f"sqlite:///{folder / 'triage.db'}"
        base, new, rows = _split(folder, held_back)
        started = time.perf_counter()
        run_rootline("ingest", str(base), db=db_url, folder=folder, embedder=None)
        run_rootline("cluster", "--full", db=db_url, folder=folder, embedder=None, timeout=1800)
        seed_s = time.perf_counter() - started
        in_process = _in_process(db_url, rows)
        headers = {"Authorization": f"Bearer {_token(db_url)}"}
        answers: dict[str, Any] = {}
        ms: list[float] = []
        with (
            rootline_server(db_url, folder, embedder=None) as url,
            httpx.Client(base_url=url, headers=headers, timeout=60) as client,
        ):
            for row in rows[:_WARMUP]:
                client.post("/api/triage", json={"text": row["description"]}).raise_for_status()
            for k, row in enumerate(rows):
                body: dict[str, Any] = {"text": row["description"], "subject": row["subject"]}
                if k % 2 and row["requester_email"]:
                    body["customer_email"] = row["requester_email"]
                t0 = time.perf_counter()
                got = client.post("/api/triage", json=body)
                ms.append((time.perf_counter() - t0) * 1000)
                got.raise_for_status()
                answers[row["ticket_id"]] = got.json()
            refused = client.get("/api/themes").status_code
        engine = make_engine(db_url)
        with engine.connect() as conn:
            themes = conn.scalar(sa.text("SELECT count(*) FROM theme WHERE status = 'active'"))
            model = conn.scalar(
                sa.text(
                    "SELECT model_slug FROM clustering_run WHERE kind = 'full' ORDER BY id DESC"
                )
            )
        engine.dispose()
        run_rootline("ingest", str(new), db=db_url, folder=folder, embedder=None)
        run_rootline("cluster", db=db_url, folder=folder, embedder=None, timeout=1800)
        incremental = _placements(db_url, folder)
        run_rootline("cluster", "--full", db=db_url, folder=folder, embedder=None, timeout=1800)
        full = _placements(db_url, folder)

    def agree(placed: dict[str, str]) -> float:
        same = sum(
            1
            for ticket, a in answers.items()
            if (str(a["theme_id"]) if a["theme_id"] is not None else "") == placed.get(ticket, "")
        )
        return round(same / len(answers), 4)

    with_theme = sum(1 for a in answers.values() if a["theme_id"] is not None)
    return {
        "bench": "triage",
        "model": model,
        "database": "sqlite",
        "themes": themes,
        "http": _percentiles(ms),
        "under_50ms": sorted(ms)[int(0.95 * len(ms))] < 50.0,
        "in_process": in_process,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "placed_in_a_theme": round(with_theme / len(answers), 4),
        "agree_incremental": agree(incremental),
        "agree_full": agree(full),
        "triage_token_refused_elsewhere": refused == 403,
        "seed_seconds": round(seed_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--new", type=int, default=200, help="contacts held back and triaged")
    args = parser.parse_args()
    result = run(args.new)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "triage.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
