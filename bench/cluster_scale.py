"""A million interactions clustered in bounded memory: fit on a sample, place the rest.

Embedding a million real texts would take hours on a small machine, so the million vectors
are made from real ones: the all-MiniLM-L6-v2 vectors of CLINC150 (23,700 texts, read from
``--embeddings-cache`` or encoded once), each source vector used ~42 times with a small
Gaussian perturbation added (per-dimension sd ``noise / sqrt(dim)``; the default 0.3 leaves a
copy at cosine ~0.96 to its source) and brought back to unit length. A copy's gold label is
its source's intent (``oos`` = belongs to no theme). The copies are denser than real data
(each intent is ~42 jittered copies of 158 texts), so quality figures here say the
sample-and-place path keeps the fitted themes; CLINC150 itself (bench/cluster_clinc.py) is
the quality benchmark.

Every measurement runs in its own child process, and its peak resident memory is read from
``wait4`` (``ru_maxrss``), so imports, the vectors and every temporary are counted:

* ``vectors``: builds the vectors and exits, the floor any run pays to hold them;
* ``sample``: the clusterer on a random sample of fit size only (the time baseline);
* ``cluster``: the clusterer exactly as ``rootline cluster`` builds it
  (``build_clusterer(Settings())``) on all vectors: above its 30,000-row fit size it fits on
  a sample and places the rest on the theme centroids chunk by chunk;
* ``db`` (``--db-rows N``, off by default): N interactions through the clustering service on
  a temporary SQLite database, vectors seeded into the embedding cache as an earlier run
  would have left them, then ``run_clustering(full=True)`` storing N memberships, themes and
  labels. Its peak is reported before and after the run, to separate set-up from the run.

Prints one JSON object, with the ratios to the baselines of the same run and the load average.

    .venv/bin/python bench/cluster_scale.py --embeddings-cache /tmp/clinc_X.npy
    .venv/bin/python bench/cluster_scale.py --n 200000 --db-rows 200000 --embeddings-cache ...
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from clinc import load_clinc

if TYPE_CHECKING:
    from rootline.clustering.graph import GraphClusterer

_CHUNK = 65_536


def source_vectors(texts: list[str], cache: Path | None) -> np.ndarray:
    """The real vectors of CLINC150 in file order, from ``cache`` when it matches."""
    if cache and cache.exists():
        vectors = np.load(cache)
        if vectors.shape[0] == len(texts):
            return np.asarray(vectors, dtype=np.float32)
    from rootline.clustering.embedding import SentenceTransformerEmbedder

    vectors = SentenceTransformerEmbedder().encode(texts)
    if cache:
        np.save(cache, vectors)
    return vectors


def source_rows(n: int, n_sources: int, seed: int) -> np.ndarray:
    """Which real vector each of the ``n`` copies comes from: every source equally often."""
    return np.random.default_rng([seed, 0]).permutation(np.arange(n) % n_sources).astype(np.int32)


def perturbed_chunks(
    base: np.ndarray, n: int, noise: float, seed: int
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(start, unit vectors)`` chunks of the ``n`` perturbed copies of ``base``."""
    src = source_rows(n, len(base), seed)
    rng = np.random.default_rng([seed, 1])
    scale = np.float32(noise / np.sqrt(base.shape[1]))
    for start in range(0, n, _CHUNK):
        rows = base[src[start : start + _CHUNK]]
        rows += rng.standard_normal(rows.shape, dtype=np.float32) * scale
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        yield start, rows


def perturbed_vectors(base: np.ndarray, n: int, noise: float, seed: int) -> np.ndarray:
    """All ``n`` copies in one float32 array (the only full-size array of a run)."""
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start, rows in perturbed_chunks(base, n, noise, seed):
        out[start : start + len(rows)] = rows
    return out


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- children -------------------------------------------------------------------------------


def child_vectors(args: argparse.Namespace, base: np.ndarray) -> dict[str, Any]:
    start = time.perf_counter()
    vectors = perturbed_vectors(base, args.n, args.noise, args.seed)
    return {"build_seconds": round(time.perf_counter() - start, 2), "bytes": vectors.nbytes}


def _clusterer() -> GraphClusterer:
    from rootline.clustering.graph import GraphClusterer
    from rootline.config import Settings
    from rootline.pipeline import build_clusterer

    clusterer = build_clusterer(Settings(_env_file=None))  # type: ignore[call-arg]
    assert isinstance(clusterer, GraphClusterer), "the default clusterer"
    return clusterer


def child_cluster(args: argparse.Namespace, base: np.ndarray, sample_only: bool) -> dict[str, Any]:
    import hdbscan  # noqa: F401 - a running service has its libraries loaded
    import torch  # noqa: F401

    vectors = perturbed_vectors(base, args.n, args.noise, args.seed)
    clusterer = _clusterer()
    if sample_only:
        rng = np.random.default_rng([args.seed, 2])
        vectors = vectors[np.sort(rng.choice(len(vectors), clusterer.max_fit_size, False))]
    start = time.perf_counter()
    result = clusterer.fit(vectors)
    seconds = time.perf_counter() - start
    if not sample_only:
        np.save(args.out, result.labels.astype(np.int32))
    return {
        "rows": len(vectors),
        "seconds": round(seconds, 2),
        "stage_seconds": result.seconds,
        "themes": result.n_clusters,
        "params": result.params,
    }


class _CachedOnly:
    """An embedder that must never be asked to encode: every vector is in the cache."""

    slug = "st:all-MiniLM-L6-v2"

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        raise AssertionError(f"{len(texts)} texts were not in the embedding cache")


def child_db(args: argparse.Namespace, base: np.ndarray) -> dict[str, Any]:
    import hdbscan  # noqa: F401 - a running service has its libraries loaded
    import sqlalchemy as sa
    import torch  # noqa: F401
    from sqlalchemy.orm import Session

    from rootline.clustering.embedding import text_hash
    from rootline.clustering.models import EmbeddingCache, ThemeMembership
    from rootline.clustering.runs import run_clustering
    from rootline.db import make_engine, migrate
    from rootline.ingest.models import Interaction

    texts, _ = load_clinc()
    src = source_rows(args.db_rows, len(base), args.seed)
    engine = make_engine(f"sqlite:///{args.out}")
    migrate(engine)
    start = time.perf_counter()
    with Session(engine) as session:
        # A reference number makes each text (and so its cached vector) its own; the labeller
        # ignores numbers, as it would a ticket number in real contacts.
        for first, rows in perturbed_chunks(base, args.db_rows, args.noise, args.seed):
            body = [f"{texts[src[first + i]]} #{first + i}" for i in range(len(rows))]
            session.execute(
                sa.insert(Interaction),
                [
                    {
                        "source": "scale",
                        "external_id": str(first + i),
                        "body_raw": b,
                        "body_clean": b,
                        "content_hash": text_hash(b),
                        "tags": [],
                        "extra": {},
                    }
                    for i, b in enumerate(body)
                ],
            )
            session.execute(
                sa.insert(EmbeddingCache),
                [
                    {
                        "model_slug": _CachedOnly.slug,
                        "text_hash": text_hash(b),
                        "dim": v.shape[0],
                        "vector": v.tobytes(),
                    }
                    for b, v in zip(body, rows, strict=True)
                ],
            )
        session.commit()
    setup_seconds = time.perf_counter() - start
    setup_peak = _peak_mb()
    with Session(engine) as session:
        start = time.perf_counter()
        run = run_clustering(session, _CachedOnly(), _clusterer(), full=True)
        session.commit()
        seconds = time.perf_counter() - start
        run_peak = _peak_mb()  # before reading the labels back for scoring
        metrics = dict(run.metrics)
        labels = np.full(args.db_rows, -1, dtype=np.int32)
        query = sa.select(Interaction.external_id, ThemeMembership.theme_id).join(
            ThemeMembership, ThemeMembership.interaction_id == Interaction.id
        )
        for ext, tid in session.execute(query.execution_options(yield_per=20_000)):
            labels[int(ext)] = tid
        memberships = int((labels >= 0).sum())
    engine.dispose()
    np.save(Path(args.out).with_suffix(".npy"), labels)
    return {
        "rows": args.db_rows,
        "setup_seconds": round(setup_seconds, 2),
        "setup_peak_rss_mb": setup_peak,
        "run_seconds": round(seconds, 2),
        "memberships_stored": memberships,
        "run_metrics": metrics,
        "run_peak_rss_mb": run_peak,
    }


# --- parent ---------------------------------------------------------------------------------


def run_child(mode: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run one measurement in a child process; add its wall time and peak RSS."""
    cmd = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--out",
        str(out),
        "--n",
        str(args.n),
        "--noise",
        str(args.noise),
        "--seed",
        str(args.seed),
        "--db-rows",
        str(args.db_rows),
    ]
    if args.embeddings_cache:
        cmd += ["--embeddings-cache", str(args.embeddings_cache)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child {mode} failed with exit code {proc.returncode}")
    report = json.loads(output)
    report["wall_seconds"] = round(time.perf_counter() - start, 2)
    report["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return report


def scores(labels: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    from rootline.clustering.metrics import score_themes

    themes = [int(x) if x >= 0 else None for x in labels]
    return score_themes(gold.tolist(), themes)


def in_memory(args: argparse.Namespace, tmp: Path, gold_of_source: np.ndarray) -> dict[str, Any]:
    """The three in-memory children, the scores of the big one, and the summary."""
    labels_path = tmp / "labels.npy"
    v = run_child("vectors", args, labels_path)
    s = run_child("sample", args, labels_path)
    c = run_child("cluster", args, labels_path)
    labels = np.load(labels_path)
    gold = gold_of_source[source_rows(args.n, len(gold_of_source), args.seed)]
    c.update(scores(labels, gold))
    c["oos_unthemed_share"] = round(float((labels[gold == "oos"] < 0).mean()), 4)
    placed = c["rows"] - c["params"]["fit_size"]
    summary = {
        "peak_rss_mb": c["peak_rss_mb"],
        "under_4_gb": c["peak_rss_mb"] < 4096,
        "vectors_mb": round(v["bytes"] / 2**20, 1),
        "peak_over_vectors_only_mb": round(c["peak_rss_mb"] - v["peak_rss_mb"], 1),
        "cluster_seconds": c["seconds"],
        "fit_seconds": c["stage_seconds"]["fit"],
        "assign_seconds": c["stage_seconds"]["assign"],
        "assign_seconds_per_100k": round(c["stage_seconds"]["assign"] / max(placed, 1) * 1e5, 3),
        "cluster_to_sample_only_time": round(c["seconds"] / s["seconds"], 2),
        "themes": c["themes"],
        "nmi": c["nmi"],
        "ari": c["ari"],
        "noise_share": c["noise_share"],
        "oos_unthemed_share": c["oos_unthemed_share"],
    }
    return {"vectors_only": v, "sample_only": s, "cluster": c, "summary": summary}


def _code_version() -> str:
    """The commit measured, with "+dirty" when the clustering code differs from it."""

    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", *cmd], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "clustering", "bench/cluster_scale.py")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="vectors to cluster")
    parser.add_argument("--noise", type=float, default=0.3, help="perturbation size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embeddings-cache", type=Path, default=None)
    parser.add_argument("--db-rows", type=int, default=0, help="also N rows through the service")
    parser.add_argument("--db-only", action="store_true", help="skip the in-memory runs")
    parser.add_argument("--child", choices=["vectors", "sample", "cluster", "db"], default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    texts, intents = load_clinc()
    base = source_vectors(texts, args.embeddings_cache)
    if args.child:
        if args.child == "vectors":
            out = child_vectors(args, base)
        elif args.child == "db":
            out = child_db(args, base)
        else:
            out = child_cluster(args, base, sample_only=args.child == "sample")
        json.dump(out, sys.stdout)
        return 0

    del base  # the parent only scores; each child builds its own vectors
    gold_of_source = np.asarray(intents, dtype=object)
    report: dict[str, Any] = {
        "n": args.n,
        "noise": args.noise,
        "seed": args.seed,
        "sources": len(texts),
        "code": _code_version(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        if not args.db_only:
            report.update(in_memory(args, Path(tmp), gold_of_source))
        if args.db_rows:
            db = run_child("db", args, Path(tmp) / "scale.db")
            gold = gold_of_source[source_rows(args.db_rows, len(texts), args.seed)]
            db.update(scores(np.load(Path(tmp) / "scale.npy"), gold))
            db["run_peak_over_setup_mb"] = round(db["run_peak_rss_mb"] - db["setup_peak_rss_mb"], 1)
            report["db"] = db
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
