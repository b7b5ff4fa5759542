"""Communities of nearest-neighbour graphs: the graph, Leiden on it, and groups of themes.

Shared by both clusterers: the graph clusterer finds themes as communities of the texts'
graph; either clusterer groups its themes into parent groups as communities of the themes'
own graph, by centroid similarity.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import numpy as np

from rootline.clustering.knn import knn_graph

__all__ = ["centroid_groups", "igraph_of", "leiden", "renumber_groups"]

# igraph draws from one process-wide generator: a seeded run holds it alone.
_RNG_LOCK = threading.Lock()


def igraph_of(indices: np.ndarray, sims: np.ndarray) -> Any:
    """An undirected weighted igraph of a kNN graph (the heavier of i->j and j->i kept)."""
    import igraph as ig
    from scipy import sparse

    n, k = indices.shape
    weights = np.maximum(sims.ravel().astype(np.float64), 1e-6)
    adj = sparse.csr_matrix((weights, (np.repeat(np.arange(n), k), indices.ravel())), shape=(n, n))
    adj = adj.maximum(adj.T).tocoo()
    upper = adj.row < adj.col
    graph = ig.Graph(n=n, edges=np.column_stack([adj.row[upper], adj.col[upper]]).tolist())
    graph.es["weight"] = adj.data[upper].tolist()
    return graph


def leiden(graph: Any, resolution: float, seed: int) -> np.ndarray:
    """Leiden communities of ``graph`` by modularity at ``resolution`` (the RB configuration
    model: ``resolution`` times the expected weight between two nodes is what an edge must
    beat), two iterations, seeded.

    igraph's own C implementation: the same objective as ``leidenalg``'s
    ``RBConfigurationVertexPartition``, an order of magnitude faster on text graphs.
    """
    import igraph as ig

    with _RNG_LOCK:
        ig.set_random_number_generator(random.Random(seed))
        try:
            part = graph.community_leiden(
                objective_function="modularity",
                weights="weight",
                resolution=resolution,
                n_iterations=2,
            )
        finally:
            ig.set_random_number_generator(random)
    return np.asarray(part.membership, dtype=np.int64)


def centroid_groups(centroids: np.ndarray, seed: int) -> np.ndarray:
    """Parent group of each theme: modularity communities of the themes' kNN graph.

    Sibling themes (one intent split in two, or two intents of one family) have centroids
    closer to each other than to the rest, so they share a group even when no text-level edge
    joins them. Groups are numbered 0..g-1 by decreasing size; fewer than three themes share
    one group.
    """
    k = len(centroids)
    if k < 3:
        return np.zeros(k, dtype=np.int64)
    unit = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    graph = igraph_of(*knn_graph(np.asarray(unit, dtype=np.float32), min(5, k - 1)))
    groups = leiden(graph, 1.0, seed)
    _ids, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return np.asarray(rank[inverse], dtype=np.int64)


def renumber_groups(before: np.ndarray, after: np.ndarray, parents: np.ndarray) -> list[int]:
    """Groups indexed by the final theme numbers (``after`` renumbers ``before``)."""
    out = np.zeros(int(after.max(initial=-1)) + 1, dtype=np.int64)
    themed = after >= 0
    out[after[themed]] = parents[before[themed]]
    return [int(p) for p in out]
