"""Theme quality of every method on the same vectors, over a suite of data sets and sizes.

The suite, for CLINC150 and HWU64 (both bundled in ``fixtures/``, embedded once with the real
all-MiniLM-L6-v2 and cached):

- each set in full;
- random subsets of 300, 1,000 and 3,000 texts (several seeds; mean and worst reported);
- a fine-grained subset: the 20 intents whose centroids are closest to each other;
- e-mail-wrapped variants of a HWU64 subset, by two wrappers written apart
  (``cleaning_noise.NoiseGenerator`` and ``mail_wrapper.SecondWrapper``), cleaned by
  ``rootline.ingest.cleaning.clean_text`` as ingest cleans them and stripped of the
  boilerplate a full run finds in them (``rootline.ingest.boilerplate``), beside the same
  texts clean;
  ``email_nmi_lost`` is the NMI each costs Rootline (floor: 0.02).

``--backend`` picks the embedding backend (torch, onnx, onnx-int8), so the same suite scores
each backend's vectors. Methods, in the same run: Rootline's clusterer (``GraphClusterer``), the earlier HDBSCAN-seeded
one (``DensityClusterer``), KMeans told the true number of intents, a kNN graph (k 15, cosine,
exact) with Leiden (RB configuration) at resolution 1, 3 and 5, and BERTopic's default pipeline
when it is installed (``pip install -e '.[bench]'``). Columns: NMI, ARI, accuracy, themes
against true intents, unthemed share, seconds. ``floors`` checks each row against the issue's
floors: NMI and ARI at least those of Leiden at resolution 3 on the same texts, theme count
within 0.7x-1.5x of the recurring intents (those with at least two texts in the sample: at
300 texts of CLINC150 a third of the intents present are seen once, and no method finds a
theme in one text; ``true_intents`` is reported beside it), at most 10% unthemed; and Rootline's mean NMI against
KMeans told k. Prints one JSON document.

    .venv/bin/python bench/quality.py --cache-dir .cache/bench
    .venv/bin/python bench/quality.py --quick        # one seed, no full sets
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("clinc150", "hwu64")
NOISE = "oos"  # CLINC150's out-of-scope texts belong to no theme
Method = Callable[[np.ndarray, int], np.ndarray]


def load_dataset(name: str) -> tuple[list[str], np.ndarray]:
    """Texts and intents of a bundled data set (``fixtures/NAME.csv.gz``)."""
    raw = gzip.decompress((ROOT / "fixtures" / f"{name}.csv.gz").read_bytes()).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    return [r["text"] for r in rows], np.array([r["intent"] for r in rows])


#: The embedding backend of this run (``--backend``): torch, onnx or onnx-int8.
BACKEND = "torch"


def _embedder(backend: str, cache_dir: Path | None) -> Any:
    from rootline.clustering.embedding import SentenceTransformerEmbedder

    if backend == "torch":
        return SentenceTransformerEmbedder()
    import tempfile

    from rootline.clustering.onnx_backend import OnnxEmbedder

    models = cache_dir / "models" if cache_dir else Path(tempfile.mkdtemp())
    return OnnxEmbedder(export_dir=models, int8=backend == "onnx-int8")


def embed(texts: list[str], name: str, cache_dir: Path | None) -> np.ndarray:
    """Real-model vectors of ``texts`` by the run's backend, cached under a hash of the texts
    (and the backend's name, but for torch's)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    tag = "" if BACKEND == "torch" else f"{BACKEND}-"
    path = cache_dir / f"quality-{name}-{tag}{digest}.npy" if cache_dir else None
    if path and path.exists():
        return np.load(path)
    vectors = _embedder(BACKEND, cache_dir).encode(texts)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
    return vectors


def closest_intents(vectors: np.ndarray, gold: np.ndarray, count: int = 20) -> np.ndarray:
    """Rows of the ``count`` intents whose centroids are closest to each other.

    Starts from the most similar pair of intent centroids and adds, one at a time, the intent
    most similar on average to those already chosen.
    """
    names = np.unique(gold[gold != NOISE])
    cents = np.stack([vectors[gold == g].mean(axis=0) for g in names])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    sims = cents @ cents.T
    np.fill_diagonal(sims, -1.0)
    chosen = [int(i) for i in np.unravel_index(int(sims.argmax()), sims.shape)]
    while len(chosen) < min(count, len(names)):
        mean = sims[:, chosen].mean(axis=1)
        mean[chosen] = -np.inf
        chosen.append(int(mean.argmax()))
    return np.nonzero(np.isin(gold, names[chosen]))[0]


def score(gold: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """NMI, ARI, accuracy on in-scope texts (an unthemed text counts as its own cluster)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from rootline.clustering.metrics import cluster_accuracy

    inside = gold != NOISE
    g, p = gold[inside], labels[inside]
    pred = np.where(p >= 0, p, -1 - np.arange(len(p)))
    return {
        "nmi": round(float(normalized_mutual_info_score(g, pred)), 4),
        "ari": round(float(adjusted_rand_score(g, pred)), 4),
        "acc": round(cluster_accuracy(g, pred), 4),
        "themes": len(np.unique(labels[labels >= 0])),
        "unthemed": round(float((p < 0).mean()), 4),
    }


def _leiden(resolution: float) -> Method:
    """The plain baseline: kNN graph (k 15, cosine, exact), Leiden with leidenalg's defaults."""

    def run(vectors: np.ndarray, _k: int) -> np.ndarray:
        import leidenalg

        from rootline.clustering.communities import igraph_of
        from rootline.clustering.knn import knn_graph

        graph = igraph_of(*knn_graph(np.ascontiguousarray(vectors, dtype=np.float32), 15))
        part = leidenalg.find_partition(
            graph,
            leidenalg.RBConfigurationVertexPartition,
            weights="weight",
            resolution_parameter=resolution,
            seed=0,
        )
        return np.asarray(part.membership)

    return run


def _rootline(vectors: np.ndarray, _k: int) -> np.ndarray:
    from rootline.clustering.graph import GraphClusterer

    return GraphClusterer().fit(vectors).labels


def _density(vectors: np.ndarray, _k: int) -> np.ndarray:
    from rootline.clustering.cluster import DensityClusterer

    return DensityClusterer().fit(vectors).labels


def _kmeans(vectors: np.ndarray, k: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    return KMeans(k, n_init=1, random_state=0).fit_predict(vectors)


def _bertopic(vectors: np.ndarray, _k: int) -> np.ndarray:
    from bertopic import BERTopic

    docs = [f"doc {i}" for i in range(len(vectors))]  # vectors are given; words only label
    topics, _ = BERTopic(calculate_probabilities=False).fit_transform(docs, embeddings=vectors)
    return np.asarray(topics)


def methods(with_bertopic: bool) -> dict[str, Method]:
    out: dict[str, Method] = {
        "rootline": _rootline,
        "rootline_density": _density,
        "kmeans_true_k": _kmeans,
        "leiden_r1": _leiden(1.0),
        "leiden_r3": _leiden(3.0),
        "leiden_r5": _leiden(5.0),
    }
    if with_bertopic:
        try:
            import bertopic  # noqa: F401
        except ImportError:
            pass
        else:
            out["bertopic"] = _bertopic
    return out


def run_set(
    name: str, vectors: np.ndarray, gold: np.ndarray, table: dict[str, Method]
) -> dict[str, Any]:
    _names, counts = np.unique(gold[gold != NOISE], return_counts=True)
    true_k = len(counts)
    row: dict[str, Any] = {
        "set": name,
        "n": len(vectors),
        "true_intents": true_k,
        # Intents with at least two texts: one seen once is no recurrence any method can find.
        "recurring_intents": int((counts >= 2).sum()),
    }
    for method, fit in table.items():
        started = time.perf_counter()
        labels = np.asarray(fit(vectors, true_k))
        row[method] = {**score(gold, labels), "seconds": round(time.perf_counter() - started, 2)}
    return row


def floors(row: dict[str, Any]) -> dict[str, bool]:
    ours, base = row["rootline"], row["leiden_r3"]
    ratio = ours["themes"] / max(row["recurring_intents"], 1)
    return {
        "nmi_vs_leiden_r3": ours["nmi"] >= base["nmi"],
        "ari_vs_leiden_r3": ours["ari"] >= base["ari"],
        "themes_0.7x_1.5x": 0.7 <= ratio <= 1.5,
        "unthemed_10pct": ours["unthemed"] <= 0.10,
    }


def summarise(rows: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    """Mean and worst of each method's NMI and ARI per group (set and size, over seeds)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["set"].rsplit("/seed", 1)[0], []).append(row)
    out: dict[str, Any] = {}
    for group, members in groups.items():
        out[group] = {
            m: {
                "nmi_mean": round(float(np.mean([r[m]["nmi"] for r in members])), 4),
                "nmi_worst": round(float(np.min([r[m]["nmi"] for r in members])), 4),
                "ari_mean": round(float(np.mean([r[m]["ari"] for r in members])), 4),
                "ari_worst": round(float(np.min([r[m]["ari"] for r in members])), 4),
                "themes_mean": round(float(np.mean([r[m]["themes"] for r in members])), 1),
            }
            for m in names
        }
        out[group]["true_intents"] = members[0]["true_intents"]
    return out


def email_rows(
    texts: list[str], gold: np.ndarray, cache_dir: Path | None, table: dict[str, Method]
) -> list[dict[str, Any]]:
    """The same texts clean, and wrapped in e-mail by each of two independent wrappers, then
    cleaned as ingest cleans them and stripped of the boilerplate a full run finds."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from cleaning_noise import NoiseGenerator
    from mail_wrapper import SecondWrapper

    from rootline.ingest.boilerplate import learn
    from rootline.ingest.cleaning import clean_text

    def as_clustered(mails: list[str]) -> list[str]:
        # What a full run embeds: each text cleaned, then less the corpus's boilerplate.
        cleaned = [clean_text(m) for m in mails]
        boilerplate = learn(cleaned)
        return [boilerplate.remove(t) for t in cleaned]

    first, second = NoiseGenerator(7), SecondWrapper(11)
    cleaned = as_clustered([first.wrap(t) for t in texts])
    cleaned2 = as_clustered([second.wrap(t) for t in texts])
    return [
        run_set("hwu64/email/clean", embed(texts, "email-clean", cache_dir), gold, table),
        run_set("hwu64/email/cleaned", embed(cleaned, "email-cleaned", cache_dir), gold, table),
        run_set("hwu64/email2/cleaned", embed(cleaned2, "email2-cleaned", cache_dir), gold, table),
    ]


def email_gaps(rows: list[dict[str, Any]]) -> dict[str, float]:
    """NMI lost by Rootline to each wrapper after cleaning (floor: at most 0.02)."""
    by_set = {r["set"]: r for r in rows}
    clean = by_set.get("hwu64/email/clean")
    if clean is None:
        return {}
    return {
        name: round(clean["rootline"]["nmi"] - by_set[name]["rootline"]["nmi"], 4)
        for name in ("hwu64/email/cleaned", "hwu64/email2/cleaned")
        if name in by_set
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument("--sizes", default="300,1000,3000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one seed, no full sets")
    parser.add_argument("--no-bertopic", action="store_true")
    parser.add_argument("--no-email", action="store_true")
    parser.add_argument(
        "--backend",
        choices=("torch", "onnx", "onnx-int8"),
        default="torch",
        help="embedding backend of the vectors (exports kept in CACHE_DIR/models)",
    )
    args = parser.parse_args(argv)
    global BACKEND
    BACKEND = args.backend
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    seeds = 1 if args.quick else args.seeds
    table = methods(not args.no_bertopic)
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    email_source: tuple[list[str], np.ndarray] | None = None
    for name in DATASETS:
        texts, gold = load_dataset(name)
        vectors = embed(texts, name, args.cache_dir)
        if not args.quick:
            rows.append(run_set(f"{name}/full", vectors, gold, table))
        for size in (int(s) for s in args.sizes.split(",")):
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                pick = np.sort(rng.choice(len(texts), size, replace=False))
                rows.append(run_set(f"{name}/{size}/seed{seed}", vectors[pick], gold[pick], table))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        fine = closest_intents(vectors, gold)
        rows.append(run_set(f"{name}/fine20", vectors[fine], gold[fine], table))
        if name == "hwu64":
            pick = np.sort(np.random.default_rng(0).choice(len(texts), 1000, replace=False))
            email_source = ([texts[i] for i in pick], gold[pick])
    if email_source and not args.no_email:
        rows.extend(email_rows(*email_source, args.cache_dir, table))
    for row in rows:
        row["floors"] = floors(row)
    held = [r for r in rows if all(r["floors"].values())]
    mean_nmi = float(np.mean([r["rootline"]["nmi"] for r in rows]))
    mean_km = float(np.mean([r["kmeans_true_k"]["nmi"] for r in rows]))
    report = {
        "benchmark": "quality",
        "commit": _commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": round(time.perf_counter() - started, 1),
        "backend": BACKEND,
        "methods": list(table),
        "rows": rows,
        "summary": summarise(rows, list(table)),
        "floors": {
            "rows": len(rows),
            "rows_meeting_all": len(held),
            "failing": [
                {"set": r["set"], "failed": [k for k, ok in r["floors"].items() if not ok]}
                for r in rows
                if r not in held
            ],
            "mean_nmi_rootline": round(mean_nmi, 4),
            "mean_nmi_kmeans_true_k": round(mean_km, 4),
            "mean_nmi_vs_kmeans": mean_nmi >= mean_km,
            "email_nmi_lost": email_gaps(rows),
        },
    }
    print(json.dumps(report))
    return report


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


if __name__ == "__main__":
    main()
