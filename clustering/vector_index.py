"""Nearest-neighbour search over stored vectors: an HNSW graph (usearch) or an exact scan.

``VectorIndex`` answers "the k stored vectors most similar to this one" for semantic search
and anything else that looks up neighbours among every stored contact. Above
``EXACT_BELOW`` rows it searches a usearch HNSW graph (sub-linear per query; recall@10 and
query times against the exact scan are measured by ``bench/ann.py``); below it, or when
usearch cannot be imported or its file cannot be read, it scans every vector, which is exact
and at that size as fast.

The graph is made from the embedding cache (``stored_vectors``) and saved in a folder by
``refresh_saved_index`` when a clustering run finishes, with the text digest each row was
made from. ``sync_index`` loads that file and brings it up to date with the database: rows of
contacts that are gone or whose text changed are removed, contacts embedded since are added.
Nothing here reads settings; callers pass the folder.
"""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.embedding import text_hash
from rootline.clustering.models import EmbeddingCache
from rootline.ingest.models import Interaction

__all__ = [
    "EXACT_BELOW",
    "IndexReport",
    "StoredVectors",
    "VectorIndex",
    "ann_backend",
    "discard_saved_indexes",
    "index_folder",
    "iter_stored_vectors",
    "pgvector_status",
    "refresh_saved_index",
    "saved_index_status",
    "stored_vectors",
    "sync_index",
]

#: Below this many rows the exact scan is used: nothing to build, exact answers, and tens of
#: milliseconds a query at worst (bench/ann.py: 26 ms at 10,000 on 2 busy cores).
EXACT_BELOW = 20_000
#: HNSW parameters: neighbours per node, candidates while adding and while searching. On
#: 20,000 CLINC150-derived vectors, adding with 64 candidates builds 2.5x faster than with 128
#: for recall@10 0.996 instead of 0.999 (searching with 96); 0.988 at 100,000.
_CONNECTIVITY = 16
_EXPANSION_ADD = 64
_EXPANSION_SEARCH = 96
_READ_ROWS = 20_000
#: An ``exact_below`` no corpus reaches.
_NEVER = 2**62


def index_folder(data_dir: Path) -> Path:
    """Where saved graphs live inside Rootline's data folder."""
    return data_dir / "indexes"


def ann_backend() -> str | None:
    """``usearch <version>`` when the HNSW library imports, else None (exact scans only)."""
    try:
        import usearch
    except ImportError:
        return None
    return f"usearch {getattr(usearch, '__version__', '?')}"


def _digest(text_digest: str) -> int:
    """A 63-bit number from a text's SHA-256 hex digest: what a row was embedded from."""
    return int(text_digest[:16], 16) >> 1


def _unit(vectors: np.ndarray) -> np.ndarray:
    out = np.array(vectors, dtype=np.float32, ndmin=2)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


class VectorIndex:
    """Unit vectors keyed by interaction id, searched by cosine similarity.

    Either an exact matrix (``backend == "exact"``) or a usearch HNSW graph (``"hnsw"``).
    Build one with :meth:`build`; both kinds take additions and removals.
    """

    def __init__(
        self, dim: int, *, graph: Any | None = None, exact_below: int = EXACT_BELOW
    ) -> None:
        self.dim = dim
        self.exact_below = exact_below
        self._graph = graph
        # The web app searches from many threads; one graph call at a time (each ~1 ms).
        self._lock = threading.Lock()
        self._ids = np.zeros(0, dtype=np.int64)
        self._vectors = np.zeros((0, dim), dtype=np.float32)

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        exact_below: int = EXACT_BELOW,
        threads: int = 0,
    ) -> VectorIndex:
        """An index of ``vectors`` (one row per id): a graph from ``exact_below`` rows on.

        Falls back to the exact matrix when usearch is not installed.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[1] else 1
        graph = _new_graph(dim) if len(ids) >= exact_below else None
        index = cls(dim, graph=graph, exact_below=exact_below)
        index.add(ids, vectors, threads=threads)
        return index

    @property
    def backend(self) -> str:
        """``hnsw`` (approximate, sub-linear) or ``exact`` (every vector scanned)."""
        return "exact" if self._graph is None else "hnsw"

    def __len__(self) -> int:
        return len(self._ids) if self._graph is None else len(self._graph)

    def ids(self) -> np.ndarray:
        """Every id held, in no particular order."""
        if self._graph is None:
            return self._ids.copy()
        return np.asarray(self._graph.keys, dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray, *, threads: int = 0) -> None:
        """Add rows (an id already held is replaced); an exact index that reaches
        ``exact_below`` rows becomes a graph."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return
        vectors = _unit(vectors)
        if vectors.shape != (len(ids), self.dim):
            raise ValueError(f"expected {len(ids)} vectors of {self.dim} values")
        self.remove(ids)
        if self._graph is None:
            self._ids = np.concatenate([self._ids, ids])
            self._vectors = np.concatenate([self._vectors, vectors])
            if len(self._ids) >= self.exact_below and (graph := _new_graph(self.dim)) is not None:
                graph.add(self._ids, self._vectors, threads=threads)
                self._graph = graph
                self._ids = np.zeros(0, dtype=np.int64)
                self._vectors = np.zeros((0, self.dim), dtype=np.float32)
        else:
            with self._lock:
                self._graph.add(ids, vectors, threads=threads)

    def remove(self, ids: Iterable[int] | np.ndarray) -> None:
        """Drop rows by id; ids not held are ignored."""
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        if not len(ids) or not len(self):
            return
        if self._graph is None:
            keep = ~np.isin(self._ids, ids)
            self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        else:
            with self._lock:
                held = ids[np.asarray(self._graph.contains(ids), dtype=bool)]
                if len(held):
                    self._graph.remove(held)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar rows of each query, most similar first.

        Returns:
            ``(ids, similarities)``, both (m, k); a query with fewer than ``k`` rows to find
            is padded with id -1 and similarity -inf.
        """
        q = _unit(queries)
        ids = np.full((len(q), k), -1, dtype=np.int64)
        sims = np.full((len(q), k), -np.inf, dtype=np.float32)
        found = min(k, len(self))
        if found == 0 or not len(q):
            return ids, sims
        if self._graph is None:
            scores = q @ self._vectors.T
            top = np.argpartition(-scores, found - 1, axis=1)[:, :found]
            vals = np.take_along_axis(scores, top, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            ids[:, :found] = self._ids[np.take_along_axis(top, order, axis=1)]
            sims[:, :found] = np.take_along_axis(vals, order, axis=1)
            return ids, sims
        # One query on one thread: a pool per query costs more than it saves (bench/ann.py).
        with self._lock:
            matches = self._graph.search(q, found, threads=1 if len(q) == 1 else 0)
        keys = np.asarray(matches.keys, dtype=np.int64).reshape(len(q), -1)
        dist = np.asarray(matches.distances, dtype=np.float32).reshape(len(q), -1)
        # One query gives a ``Matches`` (no counts), several a ``BatchMatches``.
        counts = np.asarray(getattr(matches, "counts", [len(matches.keys)])).reshape(-1)
        for row, n in enumerate(counts):
            ids[row, :n] = keys[row, :n]
            sims[row, :n] = 1.0 - dist[row, :n]  # usearch's "ip" distance is 1 - dot
        return ids, sims

    def nearest(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """The ``k`` rows most similar to one query vector, as ``(id, similarity)``."""
        ids, sims = self.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], sims[0], strict=True) if i >= 0]

    def save(self, path: Path) -> bool:
        """Write the graph to ``path`` (a temporary name, then renamed); exact ones are not
        saved, they are rebuilt as fast. Returns whether a file was written."""
        if self._graph is None:
            return False
        tmp = path.with_name(path.name + ".tmp")
        self._graph.save(str(tmp))
        tmp.replace(path)
        return True

    @classmethod
    def load(cls, path: Path) -> VectorIndex | None:
        """The graph saved at ``path``, or None when it is missing, unreadable or usearch is
        not installed (the caller then builds from the stored vectors)."""
        if ann_backend() is None or not path.is_file():
            return None
        from usearch.index import Index

        try:
            graph = Index.restore(str(path))
        except (RuntimeError, ValueError, OSError):
            return None
        if graph is None:
            return None
        return cls(int(graph.ndim), graph=graph, exact_below=0)


def _new_graph(dim: int) -> Any | None:
    if ann_backend() is None:
        return None
    from usearch.index import Index

    # Half floats halve the memory of a million vectors (1.5 GB to 0.77 GB); similarities
    # stay within 1e-3 and recall@10 does not move (bench/ann.py).
    return Index(
        ndim=dim,
        metric="ip",
        dtype="f16",
        connectivity=_CONNECTIVITY,
        expansion_add=_EXPANSION_ADD,
        expansion_search=_EXPANSION_SEARCH,
    )


@dataclass
class StoredVectors:
    """Interactions with a cached vector under one model: id, text digest and the vectors
    of the rows asked for (``vector_ids``; all of them unless the caller skipped some)."""

    ids: np.ndarray
    digests: np.ndarray
    vector_ids: np.ndarray
    vectors: np.ndarray


def iter_stored_vectors(
    session: Session,
    slug: str,
    *,
    known: dict[int, int] | None = None,
    chunk_rows: int = _READ_ROWS,
) -> Iterator[StoredVectors]:
    """Every interaction whose clean text has a cached vector under model ``slug``, in chunks
    of at most ``chunk_rows`` interactions, so only a chunk's vectors are decoded at a time.

    Args:
        known: Id -> digest of rows the caller already holds; their vectors are not decoded
            (an id whose text changed since is decoded again).

    Raises:
        ValueError: the cached vectors of ``slug`` differ in size (a damaged cache).
    """
    known = known or {}
    # Core statements on the session's connection: plain tuples, no ORM row handling.
    conn = session.connection()
    contacts, cache = Interaction.__table__.c, EmbeddingCache.__table__.c
    ids_by_hash: dict[str, list[int]] = defaultdict(list)
    for iid, text in conn.execute(
        sa.select(contacts.id, contacts.body_clean).execution_options(yield_per=_READ_ROWS)
    ):
        ids_by_hash[text_hash(text or "")].append(iid)
    found = conn.execute(
        sa.select(cache.text_hash, cache.vector)
        .where(cache.model_slug == slug)
        .execution_options(yield_per=_READ_ROWS)
    )
    ids: list[int] = []
    digests: list[int] = []
    wanted: list[int] = []
    blobs: list[bytes] = []
    size: int | None = None
    for h, blob in found:
        digest = _digest(h)
        for iid in ids_by_hash.get(h, ()):
            ids.append(iid)
            digests.append(digest)
            if known.get(iid) != digest:
                if size is None:
                    size = len(blob)
                elif len(blob) != size:
                    # Vectors of one model slug share a size; mixed sizes mean a damaged cache.
                    raise ValueError(f"cached vectors of {slug!r} differ in size")
                wanted.append(iid)
                blobs.append(blob)
        if len(ids) >= chunk_rows:
            yield _chunk(ids, digests, wanted, blobs)
            ids, digests, wanted, blobs = [], [], [], []
    yield _chunk(ids, digests, wanted, blobs)  # the rest (perhaps nothing)


def _chunk(
    ids: list[int], digests: list[int], wanted: list[int], blobs: list[bytes]
) -> StoredVectors:
    matrix = (
        _unit(np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1))
        if blobs
        else np.zeros((0, 1), dtype=np.float32)
    )
    return StoredVectors(
        np.asarray(ids, dtype=np.int64),
        np.asarray(digests, dtype=np.int64),
        np.asarray(wanted, dtype=np.int64),
        matrix,
    )


def stored_vectors(
    session: Session, slug: str, *, known: dict[int, int] | None = None
) -> StoredVectors:
    """All of :func:`iter_stored_vectors` in one ``StoredVectors``."""
    parts = list(iter_stored_vectors(session, slug, known=known))
    decoded = [p.vectors for p in parts if len(p.vector_ids)]
    return StoredVectors(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.digests for p in parts]),
        np.concatenate([p.vector_ids for p in parts]),
        np.concatenate(decoded) if decoded else np.zeros((0, 1), dtype=np.float32),
    )


@dataclass
class IndexReport:
    """What ``sync_index`` did: the backend, rows held, rows reused from the saved file,
    added and removed, and seconds taken."""

    backend: str
    rows: int
    reused: int = 0
    added: int = 0
    removed: int = 0
    seconds: float = 0.0
    saved: bool = False
    notes: list[str] = field(default_factory=list)


def _slug_file(folder: Path, slug: str) -> Path:
    return folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", slug) + ".usearch")


def _read_digests(path: Path) -> dict[int, int] | None:
    try:
        with np.load(path.with_suffix(".digests.npz")) as data:
            return dict(zip(data["ids"].tolist(), data["digests"].tolist(), strict=True))
    except (OSError, KeyError, ValueError):
        return None


def sync_index(
    session: Session,
    slug: str,
    folder: Path | None = None,
    *,
    exact_below: int = EXACT_BELOW,
    build_graph: bool = True,
) -> tuple[VectorIndex, IndexReport]:
    """An index of every stored vector of ``slug``, up to date with the database.

    The graph saved in ``folder`` (by :func:`refresh_saved_index`) is reused when it can be
    read: rows of interactions that are gone or whose text changed are removed, rows embedded
    since are added. Without a usable file the index is built from the stored vectors: a
    graph from ``exact_below`` rows on, or, without ``build_graph``, an exact scan (a web
    request should not wait for a graph to be built; the next run saves one).
    """
    index, report, _ = _sync(session, slug, folder, exact_below, build_graph)
    return index, report


def _sync(
    session: Session, slug: str, folder: Path | None, exact_below: int, build_graph: bool = True
) -> tuple[VectorIndex, IndexReport, StoredVectors]:
    start = time.perf_counter()
    path = _slug_file(folder, slug) if folder else None
    saved = VectorIndex.load(path) if path else None
    known = _read_digests(path) if saved is not None and path else None
    notes: list[str] = []
    if saved is not None and (known is None or len(known) != len(saved)):
        notes.append("saved index did not match its digests: rebuilt")
        saved, known = None, None
    if saved is None and not build_graph:
        exact_below = _NEVER
    index, held = _fill(session, slug, saved, known, exact_below)
    if index is None:  # the saved graph has another vector size
        notes.append("saved index has another vector size: rebuilt")
        saved, known = None, None
        index, held = _fill(session, slug, None, None, exact_below)
    assert index is not None
    gone: list[int] = []
    if saved is not None and known is not None:
        current = set(held.ids.tolist())
        gone = [i for i in known if i not in current]
        index.remove(gone)
    report = IndexReport(
        index.backend,
        len(index),
        reused=len(held.ids) - len(held.vector_ids) if saved is not None else 0,
        added=len(held.vector_ids),
        removed=len(gone),
        notes=notes,
    )
    report.seconds = round(time.perf_counter() - start, 3)
    return index, report, held


def _fill(
    session: Session,
    slug: str,
    saved: VectorIndex | None,
    known: dict[int, int] | None,
    exact_below: int,
) -> tuple[VectorIndex | None, StoredVectors]:
    """``saved`` (or a new index) with the stored rows it lacks added chunk by chunk; None
    when the stored vectors do not fit the saved graph. The rows' ids and digests come back
    (no vectors)."""
    index = saved
    ids: list[np.ndarray] = []
    digests: list[np.ndarray] = []
    added: list[np.ndarray] = []
    for chunk in iter_stored_vectors(session, slug, known=known):
        ids.append(chunk.ids)
        digests.append(chunk.digests)
        added.append(chunk.vector_ids)
        if not len(chunk.vector_ids):
            continue
        if index is None:
            index = VectorIndex.build(chunk.vector_ids, chunk.vectors, exact_below=exact_below)
            continue
        if chunk.vectors.shape[1] != index.dim:
            return None, _no_vectors()
        index.add(chunk.vector_ids, chunk.vectors)
    held = StoredVectors(
        np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64),
        np.concatenate(digests) if digests else np.zeros(0, dtype=np.int64),
        np.concatenate(added) if added else np.zeros(0, dtype=np.int64),
        np.zeros((0, 1), dtype=np.float32),
    )
    return index or VectorIndex(1, exact_below=exact_below), held


def _no_vectors() -> StoredVectors:
    empty = np.zeros(0, dtype=np.int64)
    return StoredVectors(empty, empty, empty, np.zeros((0, 1), dtype=np.float32))


def refresh_saved_index(
    session: Session, slug: str, folder: Path, *, exact_below: int = EXACT_BELOW
) -> IndexReport:
    """Bring the saved graph of ``slug`` up to date with the stored vectors and write it.

    Called when a clustering run finishes; small corpora (an exact index) save nothing and
    drop an older file, so a saved graph never outlives the vectors it was made from.
    """
    start = time.perf_counter()
    index, report, stored = _sync(session, slug, folder, exact_below)
    path = _slug_file(folder, slug)
    if index.backend == "exact":
        _remove_files(path)
        return report
    folder.mkdir(parents=True, exist_ok=True)
    report.saved = index.save(path)
    _write_digests(path, stored.ids, stored.digests)
    report.seconds = round(time.perf_counter() - start, 3)
    return report


def _write_digests(path: Path, ids: np.ndarray, digests: np.ndarray) -> None:
    target = path.with_suffix(".digests.npz")
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez(tmp, ids=ids, digests=digests)
    tmp.replace(target)


def _remove_files(path: Path) -> None:
    for p in (path, path.with_suffix(".digests.npz")):
        p.unlink(missing_ok=True)


def discard_saved_indexes(folder: Path) -> int:
    """Delete every saved graph in ``folder`` (after an erasure: they hold erased vectors).

    Returns:
        How many graphs were deleted.
    """
    if not folder.is_dir():
        return 0
    graphs = list(folder.glob("*.usearch"))
    for path in graphs:
        _remove_files(path)
    return len(graphs)


def saved_index_status(folder: Path) -> list[dict[str, Any]]:
    """The graphs saved in ``folder``: file name, size in bytes and when it was written."""
    if not folder.is_dir():
        return []
    return [
        {
            "file": p.name,
            "bytes": p.stat().st_size,
            "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(p.stat().st_mtime)),
        }
        for p in sorted(folder.glob("*.usearch"))
    ]


def pgvector_status(session: Session) -> dict[str, Any]:
    """Whether the database could search vectors itself with the pgvector extension.

    Returns:
        ``{"database": dialect, "pgvector": "installed <v>" | "available <v>" | "missing" |
        "not PostgreSQL"}``; Rootline searches with its in-process index either way.
    """
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        return {"database": dialect, "pgvector": "not PostgreSQL"}
    installed = session.scalar(
        sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    )
    if installed:
        return {"database": dialect, "pgvector": f"installed {installed}"}
    available = session.scalar(
        sa.text("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")
    )
    return {
        "database": dialect,
        "pgvector": f"available {available}" if available else "missing",
    }
