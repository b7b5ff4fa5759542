"""Nearest-neighbour search of stored vectors: the exact scan against the HNSW index.

The stored vectors are made from real ones, as in ``bench/cluster_scale.py``: the
all-MiniLM-L6-v2 vectors of CLINC150 (read from ``--embeddings-cache`` or encoded once), each
copied with a small Gaussian perturbation to reach each size. The queries are further copies
made with another seed, so each has close neighbours as a new contact has in a real help desk.

For every size it measures what semantic search does per query (one vector, top ``k``):
the exact scan of ``clustering.vector_index.VectorIndex`` (every vector) and its HNSW graph
(usearch), the graph's build, save and load times, the time to bring a loaded graph up to
date with 1% new rows, and recall@k of the graph against the exact answer. Prints one JSON
object.

    .venv/bin/python bench/ann.py --embeddings-cache .cache/bench/clinc.npy
    .venv/bin/python bench/ann.py --sizes 10000,100000,1000000 --embeddings-cache ...
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from clinc import load_clinc
from cluster_scale import perturbed_vectors, source_vectors

from rootline.clustering.vector_index import VectorIndex, ann_backend


def _per_query_ms(index: VectorIndex, queries: np.ndarray, k: int) -> dict[str, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        index.nearest(q, k)
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    return {"mean_ms": round(float(ms.mean()), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3)}


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = [len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]
    return round(float(np.mean(hits)), 4)


def measure(base: np.ndarray, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Exact against graph at ``n`` stored vectors."""
    vectors = perturbed_vectors(base, n, args.noise, args.seed)
    queries = perturbed_vectors(base, args.queries, args.noise, args.seed + 1)
    ids = np.arange(n, dtype=np.int64)
    exact = VectorIndex.build(ids, vectors, exact_below=n + 1)
    truth, _ = exact.search(queries, args.k)
    out: dict[str, Any] = {"n": n, "exact": _per_query_ms(exact, queries, args.k)}
    del exact

    start = time.perf_counter()
    graph = VectorIndex.build(ids, vectors, exact_below=0)
    build = time.perf_counter() - start
    if graph.backend != "hnsw":
        out["hnsw"] = None
        return out
    found, _ = graph.search(queries, args.k)
    timing = _per_query_ms(graph, queries, args.k)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.usearch"
        start = time.perf_counter()
        graph.save(path)
        saved = time.perf_counter() - start
        size = path.stat().st_size
        del graph
        start = time.perf_counter()
        loaded = VectorIndex.load(path)
        load = time.perf_counter() - start
    assert loaded is not None
    extra = max(1, n // 100)
    new = perturbed_vectors(base, extra, args.noise, args.seed + 2)
    start = time.perf_counter()
    loaded.add(np.arange(n, n + extra, dtype=np.int64), new)
    sync = time.perf_counter() - start
    out["hnsw"] = {
        **timing,
        f"recall_at_{args.k}": _recall(found, truth),
        "speedup": round(out["exact"]["mean_ms"] / max(timing["mean_ms"], 1e-6), 1),
        "build_s": round(build, 2),
        "save_s": round(saved, 3),
        "load_s": round(load, 3),
        "file_mb": round(size / 2**20, 1),
        "add_1pct_s": round(sync, 2),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="10000,100000", help="Stored vectors, comma-separated.")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embeddings-cache", type=Path, default=None)
    args = parser.parse_args()
    texts, _ = load_clinc()
    base = source_vectors(texts, args.embeddings_cache)
    results = [measure(base, int(n), args) for n in args.sizes.split(",")]
    print(
        json.dumps(
            {
                "bench": "ann",
                "backend": ann_backend(),
                "k": args.k,
                "queries": args.queries,
                "sizes": results,
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                },
            }
        )
    )


if __name__ == "__main__":
    main()
