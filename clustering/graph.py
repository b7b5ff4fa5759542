"""Themes as communities of the nearest-neighbour graph, at the resolution the data holds best.

The recipe (``GraphClusterer``):

1. An exact k-nearest-neighbour graph of the unit vectors, edges weighted by cosine
   similarity, and Leiden community detection (RB configuration, ``leidenalg``) on it.
2. The resolution is not a constant: the number of themes a fixed resolution finds depends on
   the data's size and on how far apart its intents are. Leiden runs over a grid of
   resolutions on several random resamples of the data; the stability of a resolution is the
   mean agreement (ARI) of the resamples' partitions on the texts they share. Real structure
   comes back on every resample, arbitrary cuts of a continuum do not. Data often holds more
   than one stable level (a CLINC150 domain and its intents); the finest stable level is the
   themes, the coarser one the parent groups.
3. Above ``selection_size`` texts the resolution is chosen on a random subset, where it is
   cheap, and the full graph's resolution is then found by bisection so that it holds as
   many themes as the subset's chosen partition held.
4. Lone texts and texts far less similar to their theme than its dense core stay unthemed;
   the floor is recorded as ``assign_similarity`` for placing new texts later.

Every stage takes and returns plain arrays so it can be tested without a database.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rootline.clustering.cluster import (
    _ASSIGN_CHUNK,
    _SIM_TOLERANCE,
    ClusterResult,
    _relabel,
    _robust_floor,
    _unit,
    assign_to_centroids,
    centroids_of,
)
from rootline.clustering.knn import knn_graph

__all__ = ["GraphClusterer", "default_resolutions", "stable_levels"]

ALGORITHM = "knn-leiden-stable-resolution"
# Themes with at least this many texts have a spread of similarities worth learning from.
_SPREAD_SIZE = 5
# A resolution that leaves more than this share of texts alone is finer than the data.
_MAX_LONE_SHARE = 0.2


def default_resolutions() -> tuple[float, ...]:
    """Leiden resolutions tried, geometric steps of 1.5 from 1 to about 58."""
    return tuple(round(1.5**i, 3) for i in range(11))


def _igraph(indices: np.ndarray, sims: np.ndarray) -> Any:
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


def _leiden(graph: Any, resolution: float, seed: int) -> np.ndarray:
    import leidenalg

    part = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        weights="weight",
        resolution_parameter=resolution,
        seed=seed,
        n_iterations=2,
    )
    return np.asarray(part.membership, dtype=np.int64)


class _Partitions:
    """Leiden partitions of one graph, each resolution computed once.

    Choosing the resolution, matching a theme count and finding parents all ask for
    partitions of the same graph at resolutions that repeat; Leiden with a fixed seed gives
    the same answer each time, so the first one is kept.
    """

    def __init__(self, graph: Any, seed: int) -> None:
        self.graph = graph
        self.seed = seed
        self._done: dict[float, np.ndarray] = {}

    def at(self, resolution: float) -> np.ndarray:
        if resolution not in self._done:
            self._done[resolution] = _leiden(self.graph, resolution, self.seed)
        return self._done[resolution]


def _n_themes(labels: np.ndarray) -> int:
    """Communities of at least two texts (a lone text is no recurrence)."""
    return int((np.bincount(labels) >= 2).sum()) if labels.size else 0


def stable_levels(stability: np.ndarray, tolerance: float) -> tuple[int, int | None]:
    """Index of the finest stable resolution, and of the coarser stable level above it.

    A level is a local maximum of stability. The coarsest resolution tried (1, plain
    modularity) is known to merge small communities (its resolution limit): the themes are
    the finest level within ``tolerance`` of the best, and when that is resolution 1, a finer
    level within twice the tolerance is taken instead. The parent level is the most stable
    level coarser than the themes, if any.
    """
    s = np.asarray(stability, dtype=np.float64)
    padded = np.concatenate([[-np.inf], s, [-np.inf]])
    # A plateau is one level, at its coarse end: the same partition over a range of
    # resolutions is the same answer, and the coarse end is where it is reached first.
    peaks = [
        i for i in range(len(s)) if padded[i + 1] > padded[i] and padded[i + 1] >= padded[i + 2]
    ]
    peaks = peaks or [int(s.argmax())]
    best = float(s.max())
    theme = max(i for i in peaks if s[i] >= best - tolerance)
    if theme == 0:
        finer = [i for i in peaks if i > 0 and s[i] >= best - 2 * tolerance]
        theme = max(finer, default=0)
    coarser = [i for i in peaks if i < theme]
    parent = max(coarser, key=lambda i: (s[i], i)) if coarser else None
    return theme, parent


class GraphClusterer:
    """Leiden communities of the kNN graph at the most stable fine resolution.

    Args:
        n_neighbors: Neighbours per text in the graph.
        resolutions: Leiden resolutions tried, coarse to fine.
        n_resamples: Random resamples whose agreement measures a resolution's stability.
        resample_share: Share of the texts in each resample.
        selection_size: The resolution is chosen on at most this many texts.
        tolerance: A finer level wins when its stability is within this of the best.
        assign_similarity: Floor of similarity to a theme centroid below which a text stays
            unthemed; default derived from the spread of each theme's similarities.
        outlier_width: How many robust standard deviations below the median the floor sits.
        max_fit_size: Above this many texts, fit on a random sample and place the rest.
        seed: Seed of every random step.
        min_cluster_size: Smallest theme; communities below it stay unthemed (default 2).
    """

    def __init__(
        self,
        *,
        n_neighbors: int = 15,
        resolutions: tuple[float, ...] | None = None,
        n_resamples: int = 3,
        resample_share: float = 0.8,
        selection_size: int = 2000,
        tolerance: float = 0.05,
        assign_similarity: float | None = None,
        outlier_width: float = 4.0,
        max_fit_size: int = 30_000,
        seed: int = 42,
        min_cluster_size: int | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.resolutions = resolutions or default_resolutions()
        self.n_resamples = n_resamples
        self.resample_share = resample_share
        self.selection_size = selection_size
        self.tolerance = tolerance
        self.assign_similarity = assign_similarity
        self.outlier_width = outlier_width
        self.max_fit_size = max_fit_size
        self.seed = seed
        self.min_cluster_size = min_cluster_size

    def fit(self, vectors: np.ndarray) -> ClusterResult:
        """Cluster (n, d) unit vectors into themes.

        Returns:
            Labels renumbered 0..k-1 by decreasing size (-1 = unthemed), each text's
            similarity to its theme centroid as its confidence, every parameter used, and
            ``params["parents"]``: the parent group of each theme.
        """
        started = time.perf_counter()
        n = len(vectors)
        rng = np.random.default_rng(self.seed)
        fit_idx = np.arange(n)
        if n > self.max_fit_size:
            fit_idx = np.sort(rng.choice(n, self.max_fit_size, replace=False))
        sample = _unit(np.asarray(vectors[fit_idx], dtype=np.float32))
        m = len(sample)
        mcs = self.min_cluster_size or 2
        params: dict[str, Any] = {
            "algorithm": ALGORITHM,
            "n_neighbors": self.n_neighbors,
            "min_cluster_size": mcs,
            "fit_size": m,
            "seed": self.seed,
        }
        if m < max(2 * mcs, 4):
            return self._no_themes(n, params, started)
        indices, sims = knn_graph(sample, self.n_neighbors)
        partitions = _Partitions(_igraph(indices, sims), self.seed)
        chosen, parent_res, stability, target = self._select(sample, partitions, rng)
        params.update(
            resolution_stability=[round(float(s), 4) for s in stability],
            resolutions=list(self.resolutions[: len(stability)]),
        )
        resolution = chosen
        if target is not None:
            resolution = self._match_count(partitions, chosen, target)
        labels = partitions.at(resolution)
        sizes = np.bincount(labels)
        labels = _relabel(np.where(sizes[labels] >= mcs, labels, -1))
        params.update(resolution=round(float(resolution), 4), selected_resolution=chosen)
        if labels.max(initial=-1) < 0:
            return self._no_themes(n, params, started)
        cents = centroids_of(sample, labels)
        themed = labels >= 0
        sim_all = np.zeros(m, dtype=np.float32)
        sim_all[themed] = np.einsum("ij,ij->i", sample[themed], cents[labels[themed]])
        floors = self._floors(sim_all, labels)
        # A text left alone by the graph (a community of one) still joins the theme whose
        # centre it is close to, as a text arriving later would.
        lone = np.nonzero(~themed)[0]
        if lone.size:
            near, best = assign_to_centroids(sample[lone], cents, -np.inf)
            ok = best >= floors[near] - _SIM_TOLERANCE
            labels[lone[ok]], sim_all[lone[ok]] = near[ok], best[ok]
            themed = labels >= 0
        finite = floors[np.isfinite(floors)]
        params.update(assign_similarity=round(float(np.median(finite)) if finite.size else 0.0, 4))

        full = np.full(n, -1, dtype=np.int64)
        conf = np.zeros(n, dtype=np.float32)
        fitted = time.perf_counter()
        if m < n:
            for start in range(0, n, _ASSIGN_CHUNK):
                stop = min(start + _ASSIGN_CHUNK, n)
                chunk = _unit(np.asarray(vectors[start:stop], dtype=np.float32))
                lab, best = assign_to_centroids(chunk, cents, -np.inf)
                lab[best < floors[lab] - _SIM_TOLERANCE] = -1
                full[start:stop], conf[start:stop] = lab, best
        keep = themed & (sim_all >= floors[np.maximum(labels, 0)] - _SIM_TOLERANCE)
        full[fit_idx] = np.where(keep, labels, -1)
        conf[fit_idx] = sim_all
        conf = np.where(full >= 0, np.clip(conf, 0.0, 1.0), 0.0).astype(np.float32)
        parents = self._parents(partitions, labels, parent_res, sample)
        final = _relabel(full)
        params["parents"] = _renumber_parents(full, final, parents)
        done = time.perf_counter()
        seconds = {"fit": round(fitted - started, 3), "assign": round(done - fitted, 3)}
        return ClusterResult(final, conf, params, seconds)

    def _select(
        self, sample: np.ndarray, partitions: _Partitions, rng: np.random.Generator
    ) -> tuple[float, float | None, list[float], int | None]:
        """The chosen resolution, the parent level's, the stability curve and, when the choice
        was made on a subset, the number of themes the full graph should hold."""
        from sklearn.metrics import adjusted_rand_score

        m = len(sample)
        target_needed = m > self.selection_size
        if target_needed:
            sub = np.sort(rng.choice(m, self.selection_size, replace=False))
            selection = _Partitions(_igraph(*knn_graph(sample[sub], self.n_neighbors)), self.seed)
        else:
            selection = partitions
        sel_graph = selection.graph
        size = sel_graph.vcount()
        draws = [
            np.sort(rng.choice(size, max(2, int(self.resample_share * size)), replace=False))
            for _ in range(self.n_resamples)
        ]
        subgraphs = [sel_graph.induced_subgraph(d.tolist()) for d in draws]
        stability: list[float] = []
        counts: list[int] = []
        for res in self.resolutions:
            whole = selection.at(res)
            lone = float((np.bincount(whole)[whole] < 2).mean())
            if stability and (_n_themes(whole) > size / 2 or lone > _MAX_LONE_SHARE):
                break  # finer than pairs: nothing left to resolve
            counts.append(_n_themes(whole))
            parts = []
            for b, (d, g) in enumerate(zip(draws, subgraphs, strict=True)):
                lab = np.full(size, -1, dtype=np.int64)
                lab[d] = _leiden(g, res, self.seed + b + 1)
                parts.append(lab)
            agree = []
            for a in range(len(parts)):
                for c in range(a + 1, len(parts)):
                    both = (parts[a] >= 0) & (parts[c] >= 0)
                    agree.append(adjusted_rand_score(parts[a][both], parts[c][both]))
            stability.append(float(np.mean(agree)) if agree else 0.0)
        theme_i, parent_i = stable_levels(np.asarray(stability), self.tolerance)
        parent = self.resolutions[parent_i] if parent_i is not None else None
        target = counts[theme_i] if target_needed else None
        return self.resolutions[theme_i], parent, stability, target

    def _match_count(self, partitions: _Partitions, start: float, target: int) -> float:
        """Resolution at which the full graph holds about ``target`` themes (bisection)."""
        lo, hi = start / 8.0, start * 8.0
        best, best_gap = start, abs(_n_themes(partitions.at(start)) - target)
        for _ in range(5):
            mid = float(np.sqrt(lo * hi))
            count = _n_themes(partitions.at(mid))
            if abs(count - target) < best_gap:
                best, best_gap = mid, abs(count - target)
            if count < target:
                lo = mid
            else:
                hi = mid
            if best_gap <= max(1, target // 20):
                break
        return best

    def _parents(
        self,
        partitions: _Partitions,
        labels: np.ndarray,
        parent_res: float | None,
        sample: np.ndarray,
    ) -> np.ndarray:
        """Parent group of each theme.

        The coarser stable level of the text graph when the data has one (the community
        holding most of the theme); otherwise modularity communities of the themes' own
        nearest-neighbour graph by centroid similarity, so sibling themes that share no
        text-level edge still share a parent.
        """
        k = int(labels.max(initial=-1)) + 1
        if k == 0:
            return np.zeros(0, dtype=np.int64)
        themed = labels >= 0
        if parent_res is not None:
            coarse = partitions.at(parent_res)
            table = np.zeros((k, int(coarse.max()) + 1), dtype=np.int64)
            np.add.at(table, (labels[themed], coarse[themed]), 1)
            parents = table.argmax(axis=1)
            if len(np.unique(parents)) < k:
                return np.asarray(_relabel(parents), dtype=np.int64)
        if k < 3:
            return np.zeros(k, dtype=np.int64)
        cents = centroids_of(sample, labels)
        theme_graph = _igraph(*knn_graph(cents, min(5, k - 1)))
        return np.asarray(_relabel(_leiden(theme_graph, 1.0, self.seed)), dtype=np.int64)

    def _floors(self, sims: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Each theme's floor of similarity to its centroid.

        A theme of two or three texts has its centre pulled onto them, so its own spread says
        nothing of how far a member may be: such themes, and the pooled floor, are judged by
        the themes of at least ``_SPREAD_SIZE`` texts; with none, nothing is left out.
        """
        k = int(labels.max()) + 1
        if self.assign_similarity is not None:
            return np.full(k, float(self.assign_similarity))
        sizes = np.bincount(labels[labels >= 0], minlength=k)
        big = (labels >= 0) & (sizes[np.maximum(labels, 0)] >= _SPREAD_SIZE)
        # With no theme big enough to show a spread, the graph's grouping is all there is.
        pooled = _robust_floor(sims[big], self.outlier_width) if big.any() else -np.inf
        floors = np.full(k, pooled, dtype=np.float64)
        for c in np.nonzero(sizes >= _SPREAD_SIZE)[0]:
            floors[c] = min(pooled, _robust_floor(sims[labels == c], self.outlier_width))
        return floors

    def _no_themes(self, n: int, params: dict[str, Any], started: float) -> ClusterResult:
        floor = self.assign_similarity if self.assign_similarity is not None else 1.0
        params.update(assign_similarity=float(floor), parents=[])
        seconds = {"fit": round(time.perf_counter() - started, 3), "assign": 0.0}
        return ClusterResult(
            np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.float32), params, seconds
        )


def _renumber_parents(before: np.ndarray, after: np.ndarray, parents: np.ndarray) -> list[int]:
    """Parents indexed by the final theme numbers (``after`` renumbers ``before``)."""
    out = np.zeros(int(after.max(initial=-1)) + 1, dtype=np.int64)
    themed = after >= 0
    out[after[themed]] = parents[before[themed]]
    return [int(p) for p in out]
