"""Theme quality and speed on CLINC150: the real embedder, then the clusterer, timed apart.

Loads the bundled CLINC150 (150 intents plus ``oos`` texts that belong to no theme), embeds
it with all-MiniLM-L6-v2, clusters every text (oos included) without being told the number
of themes, and scores the in-scope texts with ``score_themes``. Clustering time is reported
as a share of encoding time, the budget that matters in a run. KMeans told the true number of
intents is computed in the same run as a reference. Prints one JSON object.

    .venv/bin/python bench/cluster_clinc.py --embeddings-cache /tmp/clinc_X.npy
    .venv/bin/python bench/cluster_clinc.py --limit 3000 --seed 1 --bertopic
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from rootline.clustering.cluster import DensityClusterer
from rootline.clustering.embedding import SentenceTransformerEmbedder
from rootline.clustering.metrics import score_themes


def load_clinc(limit: int | None, seed: int) -> tuple[list[str], list[str]]:
    """Texts and intents of the bundled CLINC150, optionally a random subset of ``limit``."""
    raw = resources.files("rootline.fixtures").joinpath("clinc150.csv.gz").read_bytes()
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))
    if limit and limit < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
        rows = [rows[i] for i in keep]
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def embed(texts: list[str], cache: Path | None) -> tuple[np.ndarray, float, bool]:
    """Vectors for ``texts`` and the encoding seconds (measured now, or stored with the cache)."""
    meta = cache.with_suffix(".json") if cache else None
    if cache and cache.exists() and meta and meta.exists():
        vectors = np.load(cache)
        info = json.loads(meta.read_text())
        if vectors.shape[0] == len(texts) and info.get("n") == len(texts):
            return vectors, float(info["encode_seconds"]), True
    embedder = SentenceTransformerEmbedder()
    embedder._load()  # model loading is a one-off cost, not encoding throughput
    start = time.perf_counter()
    vectors = embedder.encode(texts)
    seconds = time.perf_counter() - start
    if cache and meta:
        np.save(cache, vectors)
        meta.write_text(json.dumps({"n": len(texts), "encode_seconds": seconds}))
    return vectors, seconds, False


def themes_of(labels: np.ndarray) -> list[int | None]:
    return [int(x) if x >= 0 else None for x in labels]


def oos_unthemed_share(intents: list[str], labels: np.ndarray) -> float | None:
    """Share of out-of-scope texts left unthemed (the higher the better)."""
    oos = np.array([g == "oos" for g in intents])
    return round(float((labels[oos] < 0).mean()), 4) if oos.any() else None


def kmeans_reference(vectors: np.ndarray, intents: list[str], seed: int) -> dict[str, Any]:
    """KMeans told the true number of in-scope intents: the bar a theme finder should reach."""
    from sklearn.cluster import KMeans

    k = len({g for g in intents if g != "oos"})
    start = time.perf_counter()
    labels = KMeans(n_clusters=k, n_init=1, random_state=seed).fit_predict(vectors)
    seconds = time.perf_counter() - start
    return {**score_themes(intents, themes_of(labels)), "k": k, "seconds": round(seconds, 2)}


def bertopic_side_by_side(
    texts: list[str], vectors: np.ndarray, intents: list[str]
) -> dict[str, Any]:
    """BERTopic's default UMAP + HDBSCAN on the same vectors, if BERTopic is installed."""
    try:
        from bertopic import BERTopic
    except ImportError:
        return {"skipped": "bertopic is not installed"}
    start = time.perf_counter()
    topics, _ = BERTopic(calculate_probabilities=False).fit_transform(texts, embeddings=vectors)
    seconds = time.perf_counter() - start
    labels = np.asarray(topics)
    return {
        **score_themes(intents, themes_of(labels)),
        "oos_unthemed_share": oos_unthemed_share(intents, labels),
        "seconds": round(seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="random subset of N texts")
    parser.add_argument("--seed", type=int, default=42, help="seed of the subset and clusterer")
    parser.add_argument(
        "--embeddings-cache",
        type=Path,
        default=None,
        help="reuse/store vectors in PATH.npy (encode seconds kept beside it)",
    )
    parser.add_argument("--bertopic", action="store_true", help="also run BERTopic if installed")
    args = parser.parse_args(argv)

    texts, intents = load_clinc(args.limit, args.seed)
    vectors, encode_seconds, cached = embed(texts, args.embeddings_cache)

    # Import the clustering libraries before timing: a long-running service has them loaded
    # (torch comes with the embedder), so import time is reported apart.
    start = time.perf_counter()
    import hdbscan  # noqa: F401
    import torch  # noqa: F401

    import_seconds = time.perf_counter() - start
    clusterer = DensityClusterer(seed=args.seed)
    start = time.perf_counter()
    result = clusterer.fit(vectors)
    cluster_seconds = time.perf_counter() - start

    labels = result.labels
    report: dict[str, Any] = {
        "n": len(texts),
        "intents": len({g for g in intents if g != "oos"}),
        **score_themes(intents, themes_of(labels)),
        "oos_unthemed_share": oos_unthemed_share(intents, labels),
        "encode_seconds": round(encode_seconds, 2),
        "encode_seconds_from_cache": cached,
        "cluster_seconds": round(cluster_seconds, 2),
        "cluster_to_encode_ratio": round(cluster_seconds / encode_seconds, 4),
        "import_seconds": round(import_seconds, 2),
        "params": result.params,
        "kmeans_true_k": kmeans_reference(vectors, intents, args.seed),
    }
    if args.bertopic:
        report["bertopic"] = bertopic_side_by_side(texts, vectors, intents)
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
