"""Grouping vectors into themes: density seeds, centroid refinement, then an outlier floor.

The recipe (``DensityClusterer``):

1. PCA to a few dozen dimensions, centred and back to unit length: it drops the direction
   every support text shares, so nearest neighbours get purer, and makes the graph cheap.
2. An exact k-nearest-neighbour graph, and HDBSCAN (leaf selection) on that graph: the
   mutual-reachability minimum spanning tree is built from the graph's edges only, which is
   what keeps it fast. The leaves are small, dense, very pure groups.
3. A second HDBSCAN pass over what the first one called noise: themes whose texts are all a
   little less dense than their neighbours get no leaf in the first pass. A second-pass group
   that is merely the fringe of a first-pass group is merged into it; the merge threshold is
   the highest centroid similarity between two distinct first-pass groups, so it comes from
   the data's own resolution.
4. Spherical k-means started from those groups' centroids assigns every text, then a
   nearest-neighbour vote smooths the boundaries along the graph.
5. A text far less similar to its theme than the theme's dense core is left unthemed. The
   floor (``assign_similarity``) comes from the spread of core similarities, and is the same
   floor later used to place new texts with :func:`assign_to_centroids`.

Above ``max_fit_size`` rows the model is fitted on a random sample and the rest are placed on
the nearest centroid, chunk by chunk straight from the caller's array (never copied whole),
so time and memory beyond the input itself stay bounded for any ``n``.
Every stage takes and returns plain arrays so it can be tested without a database.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rootline.clustering.communities import centroid_groups, renumber_groups
from rootline.clustering.knn import knn_graph
from rootline.clustering.reduce import PCAReducer, Reducer, unit_rows

__all__ = [
    "ClusterResult",
    "Clusterer",
    "DensityClusterer",
    "PCAReducer",
    "Reducer",
    "assign_to_centroids",
    "centroids_of",
    "default_min_cluster_size",
]

ALGORITHM = "pca+knn-hdbscan-leaf-2pass+kmeans+knn-vote"
# Rows placed per step above the fit size: 32,768 x 384 float32 is ~50 MB per copy.
_ASSIGN_CHUNK = 32_768
# Float32 rounding: a text identical to its theme's centre may score 0.9999999 against 1.0.
_SIM_TOLERANCE = 1e-5
# Agreement (Cohen's kappa) between a text's membership and its neighbours' below which a
# theme is not told apart from the rest of the data: halfway between chance and perfect.
_MIN_NEIGHBOUR_AGREEMENT = 0.5
# A theme holding every text has nothing to be told apart from; it must at least be tight:
# the typical member within 60 degrees of the theme's centre.
_MIN_LONE_THEME_SIMILARITY = 0.5


class Clusterer(Protocol):
    """Maps (n, d) unit vectors to integer labels, -1 for "belongs to no theme"."""

    def fit(self, vectors: np.ndarray) -> ClusterResult: ...


@dataclass
class ClusterResult:
    """Labels (-1 = noise), a confidence per item, the parameters used, and stage seconds."""

    labels: np.ndarray
    probabilities: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size and self.labels.max() >= 0 else 0


def default_min_cluster_size(n: int) -> int:
    """A theme must be a real recurrence: grows slowly with data size, never below 5."""
    return max(5, round(math.log2(max(n, 2)) * 1.5))


def centroids_of(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit-length mean vector of each cluster 0..max(labels)."""
    from scipy import sparse

    k = int(labels.max()) + 1 if labels.size else 0
    mask = labels >= 0
    # A sparse one-hot product sums the members of every cluster in one pass.
    members = sparse.csr_matrix(
        (np.ones(int(mask.sum()), dtype=np.float64), (labels[mask], np.nonzero(mask)[0])),
        shape=(k, vectors.shape[0]),
    )
    sums = np.asarray(members @ np.asarray(vectors, dtype=np.float64))
    return unit_rows(sums.reshape(k, vectors.shape[1]).astype(np.float32))


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by decreasing size; -1 stays -1."""
    out = np.full_like(labels, -1)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    if ids.size == 0:
        return out
    new_of = np.full(int(ids.max()) + 1, -1, dtype=labels.dtype)
    new_of[ids[np.argsort(-counts, kind="stable")]] = np.arange(ids.size)
    mask = labels >= 0
    out[mask] = new_of[labels[mask]]
    return out


def assign_to_centroids(
    vectors: np.ndarray, centroids: np.ndarray, min_similarity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Place each vector in the theme with the most similar centroid, if similar enough.

    Args:
        vectors: (n, d) unit vectors to place.
        centroids: (k, d) unit theme centroids.
        min_similarity: The floor; use the ``assign_similarity`` a clustering run recorded.

    Returns:
        Labels (index into ``centroids``, -1 below the floor) and each best similarity.
    """
    if len(vectors) == 0 or len(centroids) == 0:
        return np.full(len(vectors), -1), np.zeros(len(vectors), dtype=np.float32)
    centroids = np.asarray(centroids, dtype=np.float32)
    labels = np.empty(len(vectors), dtype=np.int64)
    best = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), 4096):  # bounded memory for large batches
        sims = np.asarray(vectors[start : start + 4096], dtype=np.float32) @ centroids.T
        labels[start : start + 4096] = sims.argmax(axis=1)
        best[start : start + 4096] = sims.max(axis=1)
    labels[best < min_similarity] = -1
    return labels, best


def _hdbscan_on_graph(
    indices: np.ndarray, sims: np.ndarray, min_cluster_size: int, min_samples: int
) -> np.ndarray:
    """HDBSCAN leaf clusters from a k-nearest-neighbour graph of unit vectors.

    The mutual-reachability spanning tree is taken over the graph's edges instead of all
    pairs; with ``k`` well above ``min_samples`` the tree is nearly the exact one.
    """
    from hdbscan._hdbscan_linkage import label as single_linkage
    from hdbscan.hdbscan_ import _tree_to_labels
    from scipy import sparse
    from scipy.sparse import csgraph

    n, k = indices.shape
    if n < max(min_cluster_size, 3) or k == 0:
        return np.full(n, -1, dtype=np.int64)
    dist = np.sqrt(np.maximum(2.0 - 2.0 * sims.astype(np.float64), 0.0))  # chord distance
    core = dist[:, min(min_samples, k) - 1]
    reach = np.maximum(np.maximum(core[:, None], core[indices]), dist)
    # The tiny offset keeps exact duplicates (distance 0) from vanishing as sparse zeros.
    graph = sparse.csr_matrix(
        (reach.ravel() + 1e-9, (np.repeat(np.arange(n), k), indices.ravel())), shape=(n, n)
    )
    graph = graph.maximum(graph.T)
    tree = csgraph.minimum_spanning_tree(graph).tocoo()
    edges = np.column_stack([tree.row, tree.col, tree.data]).astype(np.float64)
    n_parts, part = csgraph.connected_components(graph, directed=False)
    if n_parts > 1:
        # Join disconnected pieces above every real edge so each stays its own branch.
        reps = np.unique(part, return_index=True)[1]
        far = np.full(n_parts - 1, edges[:, 2].max(initial=1.0) * 2.0 + 1.0)
        edges = np.vstack([edges, np.column_stack([reps[:-1], reps[1:], far])])
    edges = edges[np.argsort(edges[:, 2], kind="stable")]
    labels = _tree_to_labels(
        None,
        single_linkage(edges),
        min_cluster_size=min_cluster_size,
        cluster_selection_method="leaf",
    )[0]
    return np.asarray(labels, dtype=np.int64)


def _union_similar(centroids: np.ndarray, threshold: float, n_fixed: int = 0) -> np.ndarray:
    """Root id of each centroid after joining every pair at or above ``threshold``.

    The first ``n_fixed`` centroids are already known to be distinct and are never joined
    to each other, only others to them.
    """
    parent = list(range(len(centroids)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    sims = np.triu(centroids @ centroids.T, 1)
    sims[:n_fixed, :n_fixed] = -np.inf
    for i, j in zip(*np.nonzero(sims >= threshold), strict=True):
        parent[find(int(j))] = find(int(i))  # the lower id is the first-pass one, if any
    return np.array([find(i) for i in range(len(centroids))], dtype=np.int64)


def _derived_merge_similarity(reduced: np.ndarray, first: np.ndarray) -> float:
    """Similarity at which a second-pass group counts as part of a first-pass group.

    A group is part of another when its centroid is closer to that group's centroid than
    either two distinct first-pass groups are, or that group's own members typically are.
    """
    n_first = int(first.max(initial=-1)) + 1
    if n_first == 0:
        return 0.9  # nothing learnt from the first pass; only near-duplicates join
    cents = centroids_of(reduced, first)
    members = first >= 0
    typical = float(np.median(np.einsum("ij,ij->i", reduced[members], cents[first[members]])))
    if n_first == 1:
        return typical
    pair = cents @ cents.T
    np.fill_diagonal(pair, -1.0)
    return max(float(pair.max()), typical)


def _spherical_kmeans(
    vectors: np.ndarray, labels: np.ndarray, max_iter: int
) -> tuple[np.ndarray, int]:
    """Lloyd iterations on the sphere started from the clusters in ``labels``."""
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported below
        cents = centroids_of(vectors, labels)
        new = assign_to_centroids(vectors, cents, -np.inf)[0]
        changed = int((new != labels).sum())
        labels = new
        # Stop when fewer than 0.1% of texts move: later moves barely change any theme.
        if changed <= len(labels) // 1000:
            break
    return labels, iterations


def _neighbour_vote(
    labels: np.ndarray, indices: np.ndarray, sims: np.ndarray, max_iter: int = 10
) -> np.ndarray:
    """Move each text to the theme most of its nearest neighbours hold (similarity-weighted).

    Centroids draw straight boundaries; the vote lets a boundary follow the data's shape.
    """
    n, k = indices.shape
    if k == 0 or labels.max(initial=-1) < 1:
        return labels
    weights = np.maximum(sims, 0.0)[:, None, :]
    rows = np.arange(n)
    for _ in range(max_iter):
        held = labels[indices]
        # Score of each neighbour's theme = total weight of neighbours holding that theme;
        # with k around 10 the (n, k, k) comparison is cheaper than any grouping.
        score = ((held[:, :, None] == held[:, None, :]) * weights).sum(axis=2)
        new = held[rows, score.argmax(axis=1)]
        changed = int((new != labels).sum())
        labels = new
        if changed <= n // 1000:
            break
    return labels


def _robust_floor(core_sims: np.ndarray, width: float) -> float:
    """``width`` robust standard deviations below the median of core members' similarity."""
    median = float(np.median(core_sims))
    mad = float(np.median(np.abs(core_sims - median))) * 1.4826
    return median - width * mad


def _theme_floors(
    sims: np.ndarray, labels: np.ndarray, core: np.ndarray, width: float
) -> np.ndarray:
    """Each theme's floor: the pooled floor of all dense cores, or the theme's own if lower.

    The pooled spread alone fails when many texts are exact duplicates: their theme has no
    spread at all, and the pooled floor would rise to 1.0 and empty every other theme.
    """
    pooled = _robust_floor(sims[core], width) if core.any() else -np.inf
    floors = np.empty(int(labels.max()) + 1, dtype=np.float64)
    for c in range(len(floors)):
        members = labels == c
        core_sims = sims[members & core]
        own = _robust_floor(core_sims if core_sims.size else sims[members], width)
        floors[c] = min(pooled, own)
    return floors


def _drop_unstructured(
    vectors: np.ndarray, labels: np.ndarray, indices: np.ndarray
) -> tuple[np.ndarray, int]:
    """Unlabel themes that the neighbour graph does not tell apart from the other texts.

    A real theme's texts have their nearest neighbours inside it, and the other texts have
    theirs outside it. In data with no structure (random directions) the density pass still
    finds a few chance groups, and the centroid refinement then grows them to cover
    everything; their neighbours agree with their membership hardly more than chance.

    Returns:
        The labels (renumbered) and how many themes were dropped.
    """
    k = int(labels.max(initial=-1)) + 1
    if k == 0 or indices.shape[1] == 0:
        return labels, 0
    keep = np.ones(k, dtype=bool)
    for c in range(k):
        inside = labels == c
        share = float(inside.mean())
        if share >= 1.0:
            cent = centroids_of(vectors, labels)[c]
            keep[c] = float(np.median(vectors @ cent)) >= _MIN_LONE_THEME_SIMILARITY
            continue
        observed = float((inside[indices] == inside[:, None]).mean())
        chance = share**2 + (1.0 - share) ** 2
        keep[c] = (observed - chance) / (1.0 - chance) >= _MIN_NEIGHBOUR_AGREEMENT
    if keep.all():
        return labels, 0
    labels = np.where((labels >= 0) & keep[np.maximum(labels, 0)], labels, -1)
    return _relabel(labels), int((~keep).sum())


class DensityClusterer:
    """Density-seeded themes: HDBSCAN on a kNN graph, refined by centroids and neighbours.

    Args:
        min_cluster_size: Smallest theme; default grows with the number of texts.
        min_samples: HDBSCAN's density smoothing; default half of ``min_cluster_size``.
        reducer: Projection used for the neighbour graph; default 64-dimensional PCA.
        merge_similarity: Centroid similarity at which second-pass groups join a first-pass
            group; default derived from the first pass (see the module docstring).
        assign_similarity: Floor of similarity to a theme centroid below which a text stays
            unthemed; default derived from the spread of core similarities.
        outlier_width: How many robust standard deviations below the core median the
            derived floor sits.
        max_fit_size: Above this many texts, fit on a random sample of this size.
        seed: Seed of the sampling step (the rest is deterministic).
    """

    def __init__(
        self,
        *,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        reducer: Reducer | None = None,
        merge_similarity: float | None = None,
        assign_similarity: float | None = None,
        outlier_width: float = 4.0,
        max_fit_size: int = 30_000,
        seed: int = 42,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.reducer = reducer if reducer is not None else PCAReducer(seed=seed)
        self.merge_similarity = merge_similarity
        self.assign_similarity = assign_similarity
        self.outlier_width = outlier_width
        self.max_fit_size = max_fit_size
        self.seed = seed

    def fit(self, vectors: np.ndarray) -> ClusterResult:
        """Cluster (n, d) unit vectors into themes.

        Returns:
            Labels renumbered 0..k-1 by decreasing size (-1 = unthemed), each text's
            similarity to its theme centroid as its confidence, and every parameter used.
        """
        started = time.perf_counter()
        n = len(vectors)
        fit_idx = np.arange(n)
        if n > self.max_fit_size:
            rng = np.random.default_rng(self.seed)
            fit_idx = np.sort(rng.choice(n, self.max_fit_size, replace=False))
        # Only the sample is copied; the rest is read chunk by chunk when it is placed.
        sample = unit_rows(np.asarray(vectors[fit_idx], dtype=np.float32))
        m = len(fit_idx)
        mcs = self.min_cluster_size or default_min_cluster_size(m)
        ms = self.min_samples or max(2, mcs // 2)
        n_neighbors = min(max(15, 3 * ms), max(m - 1, 0))
        params: dict[str, Any] = {
            "algorithm": ALGORITHM,
            "min_cluster_size": mcs,
            "min_samples": ms,
            "n_neighbors": n_neighbors,
            "reducer": type(self.reducer).__name__,
            "n_components": getattr(self.reducer, "n_components", None),
            "fit_size": m,
            "seed": self.seed,
        }
        if m == 0:
            params.update(
                first_pass_clusters=0,
                second_pass_clusters=0,
                seed_clusters=0,
                merge_similarity=None,
            )
            return self._no_themes(n, params, started)
        seeds, merge_sim, info, graph = self._seed(sample, mcs, ms, n_neighbors)
        params.update(info, merge_similarity=merge_sim)
        if seeds.max(initial=-1) < 0:
            return self._no_themes(n, params, started)

        labels, iterations = _spherical_kmeans(sample, seeds, max_iter=30)
        labels = _neighbour_vote(labels, *graph)
        labels = self._drop_small(sample, labels, mcs)
        labels, dropped = _drop_unstructured(sample, labels, graph[0])
        params.update(unstructured_dropped=dropped, kmeans_iterations=iterations)
        if labels.max(initial=-1) < 0:
            return self._no_themes(n, params, started)
        cents = centroids_of(sample, labels)
        sims = np.einsum("ij,ij->i", sample, cents[labels])
        if self.assign_similarity is not None:
            floors = np.full(len(cents), float(self.assign_similarity))
        else:
            floors = _theme_floors(sims, labels, seeds >= 0, self.outlier_width)
        # The recorded floor places new texts later: a typical theme's (the median), not the
        # loosest one's, which in a sprawling theme can admit almost anything and would leave
        # nothing for the novelty pool.
        params.update(assign_similarity=round(float(np.median(floors)), 4))

        full = np.full(n, -1, dtype=np.int64)
        conf = np.zeros(n, dtype=np.float32)
        fitted = time.perf_counter()
        if m < n:
            self._place_rest(vectors, cents, floors, full, conf)
        full[fit_idx] = np.where(sims >= floors[labels] - _SIM_TOLERANCE, labels, -1)
        conf[fit_idx] = sims
        conf = np.where(full >= 0, np.clip(conf, 0.0, 1.0), 0.0).astype(np.float32)
        final = _relabel(full)
        params["parents"] = renumber_groups(full, final, centroid_groups(cents, self.seed))
        done = time.perf_counter()
        seconds = {"fit": round(fitted - started, 3), "assign": round(done - fitted, 3)}
        return ClusterResult(final, conf, params, seconds)

    def _no_themes(self, n: int, params: dict[str, Any], started: float) -> ClusterResult:
        """The result when no theme was found: every text unthemed."""
        floor = self.assign_similarity if self.assign_similarity is not None else 1.0
        params.setdefault("kmeans_iterations", 0)
        params.update(assign_similarity=float(floor), parents=[])
        seconds = {"fit": round(time.perf_counter() - started, 3), "assign": 0.0}
        return ClusterResult(
            np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.float32), params, seconds
        )

    @staticmethod
    def _place_rest(
        vectors: np.ndarray,
        cents: np.ndarray,
        floors: np.ndarray,
        full: np.ndarray,
        conf: np.ndarray,
    ) -> None:
        """Place every row on its nearest centroid, in place, a chunk at a time.

        Sample rows are placed too (a few percent of the work) and overwritten by the caller:
        contiguous slices of the caller's array need no copy, a gather of "the rest" would.
        """
        for start in range(0, len(vectors), _ASSIGN_CHUNK):
            stop = min(start + _ASSIGN_CHUNK, len(vectors))
            chunk = unit_rows(np.asarray(vectors[start:stop], dtype=np.float32))
            labels, best = assign_to_centroids(chunk, cents, -np.inf)
            labels[best < floors[labels] - _SIM_TOLERANCE] = -1
            full[start:stop], conf[start:stop] = labels, best

    def _seed(
        self, sample: np.ndarray, mcs: int, ms: int, n_neighbors: int
    ) -> tuple[np.ndarray, float, dict[str, Any], tuple[np.ndarray, np.ndarray]]:
        """Two HDBSCAN passes.

        Returns:
            Seed labels, the merge threshold, pass counts, and the closest-neighbour part
            of the graph for the smoothing vote.
        """
        reduced = unit_rows(np.asarray(self.reducer.fit_transform(sample), dtype=np.float32))
        indices, sims = knn_graph(reduced, n_neighbors)
        # The smoothing vote uses the closest neighbours only: far ones cross boundaries.
        vote_k = min(10, indices.shape[1])
        first = _hdbscan_on_graph(indices, sims, mcs, ms)
        n_first = int(first.max(initial=-1)) + 1
        seeds = first.copy()
        noise = np.nonzero(first < 0)[0]
        n_second = 0
        if noise.size >= 2 * mcs:
            sub_idx, sub_sims = knn_graph(reduced[noise], n_neighbors)
            second = _hdbscan_on_graph(sub_idx, sub_sims, mcs, ms)
            n_second = int(second.max()) + 1
            seeds[noise] = np.where(second >= 0, second + n_first, -1)
        merge_sim = self.merge_similarity
        if merge_sim is None:
            merge_sim = _derived_merge_similarity(reduced, first)
        if seeds.max(initial=-1) >= 1:
            # Compared in the centred space: raw vectors share a common direction that
            # makes every pair of centroids look alike.
            roots = _union_similar(centroids_of(reduced, seeds), merge_sim, n_fixed=n_first)
            seeds = np.where(seeds >= 0, roots[np.maximum(seeds, 0)], -1)
            seeds = _relabel(seeds)
        info = {
            "first_pass_clusters": n_first,
            "second_pass_clusters": n_second,
            "seed_clusters": int(seeds.max(initial=-1)) + 1,
        }
        return seeds, round(float(merge_sim), 4), info, (indices[:, :vote_k], sims[:, :vote_k])

    @staticmethod
    def _drop_small(vectors: np.ndarray, labels: np.ndarray, mcs: int) -> np.ndarray:
        """Dissolve themes that ended below the minimum size into their next-best themes."""
        sizes = np.bincount(labels, minlength=int(labels.max()) + 1)
        small = sizes < mcs
        if not small.any() or small.all():
            return labels
        keep = np.nonzero(~small)[0]
        moved = small[labels]
        cents = centroids_of(vectors, labels)[keep]
        labels = labels.copy()
        labels[moved] = keep[assign_to_centroids(vectors[moved], cents, -np.inf)[0]]
        return _relabel(labels)
