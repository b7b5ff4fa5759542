"""Grouping vectors into themes: a reducer, a density clusterer, then clean-up passes.

The recipe: unit vectors -> PCA -> HDBSCAN -> merge near-duplicate clusters by centroid
similarity -> give noise points to the nearest cluster when they are close enough.
Every stage takes and returns plain arrays so it can be tested without a database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = [
    "ClusterResult",
    "Clusterer",
    "DensityClusterer",
    "PCAReducer",
    "Reducer",
    "centroids_of",
    "default_min_cluster_size",
]


class Reducer(Protocol):
    """Maps (n, d) vectors to (n, k) vectors with k <= d."""

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray: ...


class Clusterer(Protocol):
    """Maps (n, d) unit vectors to integer labels, -1 for "belongs to no theme"."""

    def fit(self, vectors: np.ndarray) -> ClusterResult: ...


@dataclass
class ClusterResult:
    """Labels (-1 = noise), a confidence per item and the parameters actually used."""

    labels: np.ndarray
    probabilities: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size and self.labels.max() >= 0 else 0


class PCAReducer:
    """PCA to ``n_components`` dimensions, then back to unit length (cosine geometry)."""

    def __init__(self, n_components: int = 48, seed: int = 42) -> None:
        self.n_components = n_components
        self.seed = seed

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        k = min(self.n_components, vectors.shape[1], max(vectors.shape[0] - 1, 1))
        reduced = PCA(n_components=k, random_state=self.seed).fit_transform(vectors)
        return _unit(reduced.astype(np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def default_min_cluster_size(n: int) -> int:
    """A theme must be a real recurrence: grows slowly with data size, never below 5."""
    return max(5, round(math.log2(max(n, 2)) * 1.5))


def centroids_of(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unit-length mean vector of each cluster 0..max(labels)."""
    k = int(labels.max()) + 1 if labels.size else 0
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    mask = labels >= 0
    np.add.at(sums, labels[mask], vectors[mask])
    return _unit(sums.astype(np.float32))


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1 by decreasing size; -1 stays -1."""
    out = np.full_like(labels, -1)
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    for new, old in enumerate(ids[np.argsort(-counts, kind="stable")]):
        out[labels == old] = new
    return out


class DensityClusterer:
    """HDBSCAN on reduced vectors, with near-duplicate merging and noise reassignment."""

    def __init__(
        self,
        *,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        reducer: Reducer | None = None,
        merge_similarity: float = 0.9,
        assign_similarity: float = 0.55,
        seed: int = 42,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.reducer = reducer if reducer is not None else PCAReducer(seed=seed)
        self.merge_similarity = merge_similarity
        self.assign_similarity = assign_similarity
        self.seed = seed

    def fit(self, vectors: np.ndarray) -> ClusterResult:
        import hdbscan

        n = vectors.shape[0]
        mcs = self.min_cluster_size or default_min_cluster_size(n)
        params: dict[str, Any] = {
            "algorithm": "pca+hdbscan",
            "min_cluster_size": mcs,
            "min_samples": self.min_samples,
            "merge_similarity": self.merge_similarity,
            "assign_similarity": self.assign_similarity,
        }
        if n < max(mcs, 3):
            return ClusterResult(np.full(n, -1), np.zeros(n, dtype=np.float32), params)
        reduced = self.reducer.fit_transform(vectors)
        model = hdbscan.HDBSCAN(
            min_cluster_size=mcs,
            min_samples=self.min_samples or max(2, mcs // 2),
            metric="euclidean",
            cluster_selection_method="leaf",
            core_dist_n_jobs=1,
        )
        labels = model.fit_predict(reduced.astype(np.float64))
        probs = np.asarray(model.probabilities_, dtype=np.float32)
        labels = self._merge(vectors, labels)
        labels, probs = self._assign_noise(vectors, labels, probs)
        return ClusterResult(_relabel(labels), probs, params)

    def _merge(self, vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Union clusters whose centroids are nearly the same direction."""
        if labels.max() < 1:
            return labels
        cents = centroids_of(vectors, labels)
        sims = cents @ cents.T
        parent = list(range(len(cents)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, j in zip(*np.nonzero(np.triu(sims, 1) >= self.merge_similarity), strict=True):
            parent[find(int(i))] = find(int(j))
        roots = np.array([find(i) for i in range(len(cents))])
        return np.where(labels >= 0, roots[np.maximum(labels, 0)], -1)

    def _assign_noise(
        self, vectors: np.ndarray, labels: np.ndarray, probs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Give each noise point to its nearest centroid when it is similar enough."""
        noise = np.nonzero(labels < 0)[0]
        if labels.max() < 0 or noise.size == 0:
            return labels, probs
        uniq = np.unique(labels[labels >= 0])
        dense = np.searchsorted(uniq, np.where(labels >= 0, labels, uniq[0]))
        cents = centroids_of(vectors, np.where(labels >= 0, dense, -1))
        sims = vectors[noise] @ cents.T
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(noise.size), best]
        ok = best_sim >= self.assign_similarity
        labels = labels.copy()
        probs = probs.copy()
        labels[noise[ok]] = uniq[best[ok]]
        probs[noise[ok]] = best_sim[ok]
        return labels, probs


def assign_to_centroids(
    vectors: np.ndarray, centroids: np.ndarray, min_similarity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Place each vector in the theme with the most similar centroid, if similar enough.

    Returns:
        Labels (index into ``centroids``, -1 below the floor) and each best similarity.
    """
    if len(vectors) == 0 or len(centroids) == 0:
        return np.full(len(vectors), -1), np.zeros(len(vectors), dtype=np.float32)
    labels = np.empty(len(vectors), dtype=np.int64)
    best = np.empty(len(vectors), dtype=np.float32)
    for start in range(0, len(vectors), 4096):  # bounded memory for large batches
        sims = vectors[start : start + 4096] @ centroids.T
        labels[start : start + 4096] = sims.argmax(axis=1)
        best[start : start + 4096] = sims.max(axis=1)
    labels[best < min_similarity] = -1
    return labels, best
