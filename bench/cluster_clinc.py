"""Theme quality and speed on CLINC150: the real embedder, then the clusterer, timed apart.

Loads the bundled CLINC150 (150 intents plus ``oos`` texts that belong to no theme), embeds
it with all-MiniLM-L6-v2, clusters every text (oos included) without being told the number
of themes, and scores the in-scope texts with ``score_themes``. Clustering time is reported
as a share of encoding time, the budget that matters in a run; with cached vectors, plain
``SentenceTransformer.encode`` of a sample is timed in the same run as that baseline. KMeans
told the true number of intents is computed in the same run as a reference.

``--bertopic`` runs BERTopic's default pipeline on the very same vectors (``pip install -e
'.[bench]'``) and adds a ``side_by_side`` block: NMI, ARI, theme count, in-scope unthemed
share and seconds of both, and the time ratios. Prints one JSON object.

    .venv/bin/python bench/cluster_clinc.py --embeddings-cache /tmp/clinc_X.npy --bertopic
    .venv/bin/python bench/cluster_clinc.py --limit 3000 --seed 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from clinc import load_clinc

from rootline.clustering.embedding import SentenceTransformerEmbedder
from rootline.clustering.labels import CTfidfLabeler
from rootline.clustering.metrics import score_themes
from rootline.config import Settings
from rootline.pipeline import build_clusterer


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


def plain_encode_seconds(texts: list[str], sample: int, seed: int) -> float:
    """Seconds plain ``SentenceTransformer.encode`` would take on all ``texts``, measured now.

    Encodes a random ``sample`` of them and scales up, so cached vectors still get an
    encoding baseline taken under the same machine load as the clustering it is compared to.
    """
    model = SentenceTransformerEmbedder()._load()
    rng = np.random.default_rng(seed)
    picked = [texts[i] for i in rng.choice(len(texts), min(sample, len(texts)), replace=False)]
    model.encode(picked[:64], show_progress_bar=False)  # first-call set-up is not throughput
    start = time.perf_counter()
    model.encode(picked, normalize_embeddings=True, show_progress_bar=False)
    return (time.perf_counter() - start) * len(texts) / len(picked)


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


def _timed(method: Any, spent: list[float]) -> Any:
    """``method`` wrapped so each call adds its wall time to ``spent``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    return call


def bertopic_side_by_side(
    texts: list[str], vectors: np.ndarray, intents: list[str]
) -> dict[str, Any]:
    """BERTopic's default pipeline (UMAP + HDBSCAN + c-TF-IDF) on the same vectors.

    BERTopic is an optional ``bench`` extra. Its numba functions are compiled by a small
    untimed warm-up fit first, as a long-running service would have them compiled (Rootline's
    library imports are likewise kept out of its timing). The total covers BERTopic's whole
    ``fit_transform`` (clusters and keywords); ``cluster_seconds`` only its UMAP + HDBSCAN.
    """
    try:
        from bertopic import BERTopic
    except ImportError:
        return {"skipped": "bertopic is not installed (pip install -e '.[bench]')"}
    # Above 4,096 rows UMAP switches to NN-descent, so the warm-up must cross that size too.
    warm = min(len(texts), 5000)
    start = time.perf_counter()
    BERTopic(calculate_probabilities=False).fit_transform(texts[:warm], embeddings=vectors[:warm])
    warmup_seconds = time.perf_counter() - start

    model = BERTopic(calculate_probabilities=False)  # every default: UMAP 5-d, HDBSCAN eom
    umap_spent: list[float] = []
    hdbscan_spent: list[float] = []
    model.umap_model.fit_transform = _timed(model.umap_model.fit_transform, umap_spent)
    model.hdbscan_model.fit = _timed(model.hdbscan_model.fit, hdbscan_spent)
    start = time.perf_counter()
    topics, _ = model.fit_transform(texts, embeddings=vectors)
    seconds = time.perf_counter() - start
    labels = np.asarray(topics)
    return {
        **score_themes(intents, themes_of(labels)),
        "oos_unthemed_share": oos_unthemed_share(intents, labels),
        "seconds": round(seconds, 2),
        "cluster_seconds": round(sum(umap_spent) + sum(hdbscan_spent), 2),
        "umap_seconds": round(sum(umap_spent), 2),
        "hdbscan_seconds": round(sum(hdbscan_spent), 2),
        "warmup_seconds": round(warmup_seconds, 2),
        "params": {
            "umap": "n_neighbors=15 n_components=5 min_dist=0 cosine",
            "hdbscan": f"min_cluster_size={model.min_topic_size} eom",
            "calculate_probabilities": False,
        },
    }


def side_by_side(rootline: dict[str, Any], bertopic: dict[str, Any]) -> dict[str, Any]:
    """The figures that decide the comparison, both methods on the very same vectors."""
    keys = ("nmi", "ari", "themes", "noise_share", "oos_unthemed_share")
    out: dict[str, Any] = {
        "rootline": {k: rootline[k] for k in keys},
        "bertopic": {k: bertopic[k] for k in keys},
    }
    out["rootline"].update(
        cluster_seconds=rootline["cluster_seconds"],
        with_labels_seconds=rootline["cluster_and_label_seconds"],
    )
    out["bertopic"].update(
        cluster_seconds=bertopic["cluster_seconds"], with_labels_seconds=bertopic["seconds"]
    )
    out["bertopic_to_rootline_cluster_time"] = round(
        bertopic["cluster_seconds"] / max(rootline["cluster_seconds"], 1e-9), 2
    )
    out["bertopic_to_rootline_total_time"] = round(
        bertopic["seconds"] / max(rootline["cluster_and_label_seconds"], 1e-9), 2
    )
    out["rootline_faster_and_better"] = bool(
        rootline["cluster_seconds"] < bertopic["cluster_seconds"]
        and rootline["cluster_and_label_seconds"] < bertopic["seconds"]
        and rootline["nmi"] > bertopic["nmi"]
        and rootline["ari"] > bertopic["ari"]
    )
    return out


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
    parser.add_argument(
        "--encode-sample",
        type=int,
        default=2000,
        help="with cached vectors, time plain encoding of N texts now as the baseline (0: off)",
    )
    parser.add_argument("--bertopic", action="store_true", help="also run BERTopic if installed")
    args = parser.parse_args(argv)

    texts, intents = load_clinc(args.limit, args.seed)
    vectors, encode_seconds, cached = embed(texts, args.embeddings_cache)
    encode_now = None
    if cached and args.encode_sample > 0:
        encode_now = plain_encode_seconds(texts, args.encode_sample, args.seed)

    # Import the clustering libraries before timing: a long-running service has them loaded
    # (torch comes with the embedder), so import time is reported apart.
    start = time.perf_counter()
    import hdbscan  # noqa: F401
    import torch  # noqa: F401

    import_seconds = time.perf_counter() - start
    clusterer = build_clusterer(Settings(random_seed=args.seed, _env_file=None))  # type: ignore[call-arg]
    start = time.perf_counter()
    result = clusterer.fit(vectors)
    cluster_seconds = time.perf_counter() - start

    labels = result.labels
    start = time.perf_counter()
    CTfidfLabeler().label(texts, labels)
    label_seconds = time.perf_counter() - start
    report: dict[str, Any] = {
        "n": len(texts),
        "intents": len({g for g in intents if g != "oos"}),
        **score_themes(intents, themes_of(labels)),
        "oos_unthemed_share": oos_unthemed_share(intents, labels),
        "encode_seconds": round(encode_seconds, 2),
        "encode_seconds_from_cache": cached,
        "cluster_seconds": round(cluster_seconds, 2),
        "cluster_to_encode_ratio": round(cluster_seconds / encode_seconds, 4),
        "label_seconds": round(label_seconds, 2),
        "cluster_and_label_seconds": round(cluster_seconds + label_seconds, 2),
        "import_seconds": round(import_seconds, 2),
        "load_average_at_cluster": [round(x, 2) for x in os.getloadavg()],
        "params": result.params,
        "kmeans_true_k": kmeans_reference(vectors, intents, args.seed),
    }
    if encode_now is not None:
        # The cached encode time was taken under another load; this one is comparable.
        report["plain_encode_seconds_now"] = round(encode_now, 2)
        report["plain_encode_sample"] = min(args.encode_sample, len(texts))
        report["cluster_to_plain_encode_now_ratio"] = round(cluster_seconds / encode_now, 4)
    if args.bertopic:
        report["bertopic"] = bertopic_side_by_side(texts, vectors, intents)
        if "skipped" not in report["bertopic"]:
            report["side_by_side"] = side_by_side(report, report["bertopic"])
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
