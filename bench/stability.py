"""Theme id stability on CLINC150: a full re-run on the same data plus 10% new data.

Clusters a random 90% of CLINC150 (oos texts included) through the real clustering service
on a temporary SQLite database, adds the other 10% and runs a full re-clustering again.
Reports the share of theme ids kept (of all themes, and of themes whose majority gold intent
is still the same under the same id), and NMI/ARI before and after. Prints one JSON object.

Texts are embedded with all-MiniLM-L6-v2 (``SentenceTransformerEmbedder``); with
``--embeddings-cache X.npy`` the vectors of the whole file, in file order, are read from (or
written to) that file and put into the database's embedding cache, so nothing is re-encoded.

    .venv/bin/python bench/stability.py --embeddings-cache /tmp/clinc_X.npy
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from clinc import insert_interactions, load_clinc
from sqlalchemy.orm import Session

from rootline.clustering.embedding import SentenceTransformerEmbedder, text_hash
from rootline.clustering.models import EmbeddingCache, Theme, ThemeMembership
from rootline.clustering.runs import run_clustering
from rootline.clustering.service import evaluate, list_themes
from rootline.config import Settings
from rootline.db import make_engine, migrate
from rootline.ingest.models import Interaction
from rootline.pipeline import build_clusterer


def vectors_for(
    texts: list[str], embedder: SentenceTransformerEmbedder, cache: Path | None
) -> np.ndarray:
    """The whole file's vectors, from ``cache`` when it matches, else encoded (and saved)."""
    if cache and cache.exists():
        vectors = np.load(cache)
        if vectors.shape[0] == len(texts):
            return vectors.astype(np.float32)
    vectors = embedder.encode(texts)
    if cache:
        np.save(cache, vectors)
    return vectors


def seed_cache(session: Session, slug: str, texts: list[str], vectors: np.ndarray) -> None:
    """Put known vectors into the database's embedding cache, as an earlier run would have."""
    seen: set[str] = set()
    rows = []
    for text, vec in zip(texts, vectors, strict=True):
        h = text_hash(text)
        if h not in seen:
            seen.add(h)
            rows.append(
                {
                    "model_slug": slug,
                    "text_hash": h,
                    "dim": vec.shape[0],
                    "vector": vec.astype(np.float32).tobytes(),
                }
            )
    for start in range(0, len(rows), 5000):
        session.execute(sa.insert(EmbeddingCache), rows[start : start + 5000])


def majority_intents(session: Session) -> dict[int, str]:
    """Each active theme's most common gold intent."""
    counts: dict[int, Counter[str]] = {}
    for tid, extra in session.execute(
        sa.select(ThemeMembership.theme_id, Interaction.extra)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status == "active")
    ):
        counts.setdefault(tid, Counter())[extra["intent"]] += 1
    return {tid: c.most_common(1)[0][0] for tid, c in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embeddings-cache", type=Path, default=None)
    parser.add_argument("--new-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts, intents = load_clinc()
    embedder = SentenceTransformerEmbedder()
    vectors = vectors_for(texts, embedder, args.embeddings_cache)
    order = np.random.default_rng(args.seed).permutation(len(texts))
    cut = int(len(texts) * (1 - args.new_share))
    old, new = sorted(order[:cut].tolist()), sorted(order[cut:].tolist())
    settings = Settings(embedder="sentence-transformers", _env_file=None)  # type: ignore[call-arg]
    result: dict[str, Any] = {
        "dataset": "clinc150",
        "texts": len(texts),
        "old": len(old),
        "new": len(new),
        "seed": args.seed,
        "model": embedder.slug,
    }
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/stability.db")
        migrate(engine)
        with Session(engine) as session:
            seed_cache(session, embedder.slug, texts, vectors)
            insert_interactions(session, old, texts, intents)
            start = time.perf_counter()
            first = run_clustering(session, embedder, build_clusterer(settings), full=True)
            result["first_run_seconds"] = round(time.perf_counter() - start, 2)
            before = majority_intents(session)
            result["before"] = {**evaluate(session, "intent"), "encoded": first.metrics["encoded"]}

            insert_interactions(session, new, texts, intents)
            start = time.perf_counter()
            second = run_clustering(session, embedder, build_clusterer(settings), full=True)
            result["rerun_seconds"] = round(time.perf_counter() - start, 2)
            after = majority_intents(session)
            result["after"] = {**evaluate(session, "intent"), "encoded": second.metrics["encoded"]}
            kept = set(before) & {t.id for t in list_themes(session)}
            same_label = [t for t in kept if after.get(t) == before[t]]
            labelled = [t for t in before if before[t] != "oos"]
            result.update(
                {
                    "themes_before": len(before),
                    "themes_after": len(after),
                    "ids_kept_share": round(len(kept) / max(len(before), 1), 4),
                    "ids_kept_same_intent_share": round(len(same_label) / max(len(before), 1), 4),
                    "in_scope_ids_kept_same_intent_share": round(
                        len([t for t in same_label if t in labelled]) / max(len(labelled), 1), 4
                    ),
                    "new_themes": second.metrics.get("new_themes"),
                    "retired_themes": second.metrics.get("retired_themes"),
                }
            )
        engine.dispose()
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
