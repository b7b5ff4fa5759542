"""Theme quality on the bundled demo: build it with the real model, score it against the gold.

Ingests ``fixtures/demo_helpdesk.csv`` (source ``helpdesk``) and
``fixtures/demo_contact_center.csv`` (source ``contact_center``) into a temporary SQLite
database through ``rootline.pipeline``, runs a full clustering with all-MiniLM-L6-v2, and
scores every contact's theme against ``fixtures/demo_gold.csv`` (gold ``noise`` = belongs to
no theme): NMI, ARI, cluster accuracy, theme count against the true count, noise share. Each
theme is listed with its title, keywords, size, majority gold theme and purity. Prints one
JSON object.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/demo_quality.py
    .venv/bin/python bench/demo_quality.py --db /tmp/demo.db            # build once, then reuse
    .venv/bin/python bench/demo_quality.py --db /tmp/demo.db --relabel  # titles of today's labeler
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from rootline.clustering.embedding import embed_with_cache
from rootline.clustering.labels import CTfidfLabeler
from rootline.clustering.metrics import score_themes
from rootline.clustering.models import Theme, ThemeMembership
from rootline.clustering.service import iter_assignments, list_themes
from rootline.config import Settings
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.models import Interaction
from rootline.pipeline import build_embedder, cluster_job, demo_paths, ingest_paths

NOISE = "noise"


def load_gold() -> dict[tuple[str, str], str]:
    """(source, external_id) -> gold theme of the bundled demo."""
    text = resources.files("rootline.fixtures").joinpath("demo_gold.csv").read_text("utf-8")
    return {(r["source"], r["external_id"]): r["theme"] for r in csv.DictReader(text.splitlines())}


def build(sessions: Any, settings: Settings) -> dict[str, float]:
    """Ingest the demo files and run a full clustering; seconds of each step."""
    start = time.perf_counter()
    with session_scope(sessions) as session:
        for path, source in demo_paths():
            ingest_paths(session, [path], source=source)
    ingested = time.perf_counter()
    cluster_job(sessions, settings, full=True)
    return {
        "ingest_seconds": round(ingested - start, 2),
        "cluster_seconds": round(time.perf_counter() - ingested, 2),
    }


def relabel(session: Any, settings: Settings) -> dict[int, dict[str, Any]]:
    """Titles and keywords today's built-in labeler gives the stored themes (nothing written)."""
    rows = session.execute(
        sa.select(Interaction.body_clean, ThemeMembership.theme_id)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status == "active", Interaction.body_clean != "")
        .order_by(Interaction.id)
    ).all()
    texts = [r[0] for r in rows]
    tids = sorted({int(r[1]) for r in rows})
    labels = np.searchsorted(tids, [int(r[1]) for r in rows])
    vectors, _ = embed_with_cache(session, build_embedder(settings), texts)
    names = CTfidfLabeler().label(texts, labels, vectors=vectors)
    return {
        tid: {"title": names[k].title, "keywords": names[k].keywords} for k, tid in enumerate(tids)
    }


def score(
    session: Any, gold: dict[tuple[str, str], str], fresh: dict[int, Any] | None
) -> dict[str, Any]:
    """Scores against the gold and one row per theme."""
    gold_seq: list[str | None] = []
    theme_seq: list[int | None] = []
    by_theme: dict[int, Counter[str]] = defaultdict(Counter)
    for source, ext, tid in iter_assignments(session):
        g = gold.get((source, ext))
        if g is None:
            continue
        gold_seq.append(g)
        theme_seq.append(tid)
        if tid is not None:
            by_theme[tid][g] += 1
    scores = score_themes(gold_seq, theme_seq, noise_labels=frozenset({NOISE}))
    true_count = len(set(gold.values()) - {NOISE})
    gold_noise = [t for g, t in zip(gold_seq, theme_seq, strict=True) if g == NOISE]
    themes = []
    for t in list_themes(session):
        counts = by_theme.get(t.id, Counter())
        major, n_major = counts.most_common(1)[0] if counts else ("", 0)
        row: dict[str, Any] = {
            "id": t.id,
            "title": t.title,
            "size": t.size,
            "keywords": t.keywords,
            "majority_gold": major,
            "purity": round(n_major / max(1, sum(counts.values())), 3),
        }
        if fresh is not None and t.id in fresh:
            row["new_title"] = fresh[t.id]["title"]
            row["new_keywords"] = fresh[t.id]["keywords"]
        themes.append(row)
    titles = [r.get("new_title", r["title"]) for r in themes]
    return {
        **scores,
        "true_themes": true_count,
        "gold_noise_unthemed_share": round(sum(t is None for t in gold_noise) / len(gold_noise), 4)
        if gold_noise
        else None,
        "scored_contacts": len(gold_seq),
        "distinct_titles": len(set(titles)),
        "themes_by_gold": dict(sorted(Counter(r["majority_gold"] for r in themes).items())),
        "theme_list": themes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="SQLite file to use; built first if missing, reused if present",
    )
    parser.add_argument(
        "--relabel",
        action="store_true",
        help="also show the titles the current labeler gives the stored themes",
    )
    args = parser.parse_args(argv)

    settings = Settings(embedder="sentence-transformers")
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="rootline-demo-")
        db_path = Path(tmp.name) / "demo.db"
    else:
        db_path = args.db
    reused = db_path.exists()
    engine = make_engine(f"sqlite:///{db_path}")
    migrate(engine)
    sessions = make_session_factory(engine)
    timings = {} if reused else build(sessions, settings)
    with session_scope(sessions) as session:
        fresh = relabel(session, settings) if args.relabel else None
        result = score(session, load_gold(), fresh)
    engine.dispose()
    if tmp is not None:
        tmp.cleanup()
    out = {
        "bench": "demo_quality",
        "db": None if tmp else str(db_path),
        "reused_db": reused,
        "model": build_embedder(settings).slug,
        **timings,
        **result,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
