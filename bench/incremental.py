"""Incremental cost on CLINC150: placing 1% new texts versus a cold full run, in one process.

A cold full run clusters 99% of CLINC150 on an empty temporary SQLite database, encoding every
text with all-MiniLM-L6-v2 (the model is loaded before timing starts: loading is a one-off
cost of the process, not of a run). Then the other 1% is added and ``rootline cluster``'s
incremental run places it: the old texts' vectors come from the database cache, the new ones
are encoded, assigned to theme centroids, and the novelty pool is checked for new themes.
Both timings include embedding. Prints one JSON object.

    .venv/bin/python bench/incremental.py
    .venv/bin/python bench/incremental.py --limit 5000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from typing import Any

import numpy as np
from clinc import insert_interactions, load_clinc
from sqlalchemy.orm import Session

from rootline.clustering.embedding import SentenceTransformerEmbedder
from rootline.clustering.runs import run_clustering
from rootline.clustering.service import evaluate
from rootline.config import Settings
from rootline.db import make_engine, migrate
from rootline.pipeline import build_clusterer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="Use a random subset of texts.")
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    texts, intents = load_clinc(args.limit, args.seed)
    order = np.random.default_rng(args.seed).permutation(len(texts))
    cut = round(len(texts) * (1 - args.new_share))
    old, new = sorted(order[:cut].tolist()), sorted(order[cut:].tolist())
    embedder = SentenceTransformerEmbedder()
    embedder._load()  # a one-off cost of the process, kept out of both timings
    settings = Settings(embedder="sentence-transformers", _env_file=None)  # type: ignore[call-arg]
    result: dict[str, Any] = {
        "dataset": "clinc150",
        "old": len(old),
        "new": len(new),
        "seed": args.seed,
        "model": embedder.slug,
    }
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/incremental.db")
        migrate(engine)
        with Session(engine) as session:
            insert_interactions(session, old, texts, intents)
            session.commit()
            start = time.perf_counter()
            cold = run_clustering(session, embedder, build_clusterer(settings), full=True)
            session.commit()
            result["cold_seconds"] = round(time.perf_counter() - start, 3)
            result["cold"] = {
                "encoded": cold.metrics["encoded"],
                "themes": cold.metrics["themes"],
                **evaluate(session, "intent"),
            }

            insert_interactions(session, new, texts, intents)
            session.commit()
            start = time.perf_counter()
            inc = run_clustering(session, embedder, build_clusterer(settings))
            session.commit()
            result["incremental_seconds"] = round(time.perf_counter() - start, 3)
            result["incremental"] = {
                **inc.metrics,
                "floor": inc.params.get("min_similarity"),
                **evaluate(session, "intent"),
            }
        engine.dispose()
    result["ratio"] = round(result["incremental_seconds"] / result["cold_seconds"], 4)
    result["target_ratio"] = 0.1
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
