"""Themes as communities of the nearest-neighbour graph, at the resolution the data holds best.

The recipe (``GraphClusterer``):

1. An exact k-nearest-neighbour graph of the unit vectors, edges weighted by cosine
   similarity, and Leiden community detection (RB configuration, ``leidenalg``) on it.
2. The resolution is not a constant: the number of communities a fixed resolution finds is
   about the same whatever the data's size, while the number of intents a sample holds
   grows with it. Leiden runs over a grid of resolutions, coarse to fine, and each partition
   is scored by its silhouette (cosine, on at most ``silhouette_size`` texts): how much
   closer texts are to their own theme than to the nearest other. Each partition is weighed
   by how surely it scores as well as the best, in standard errors of the per-text
   differences, so the choice widens on small, noisy samples and narrows on large ones. The
   themes are cut a little finer than the weighted middle of that near-best plateau; the
   best-scoring partition with at most half as many groups gives the parent groups.
3. The graph grows with the data (``default_neighbors``): with few texts an intent has only
   a handful of members, and fifteen neighbours would reach into other intents.
4. Lone texts and texts far less similar to their theme than its dense core stay unthemed;
   the floor is recorded as ``assign_similarity`` for placing new texts later.

Every stage takes and returns plain arrays so it can be tested without a database.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from rootline.clustering.cluster import (
    _ASSIGN_CHUNK,
    _SIM_TOLERANCE,
    ClusterResult,
    _relabel,
    _robust_floor,
    assign_to_centroids,
    centroids_of,
)
from rootline.clustering.communities import centroid_groups, igraph_of, leiden, renumber_groups
from rootline.clustering.knn import knn_graph
from rootline.clustering.reduce import unit_rows

__all__ = [
    "GraphClusterer",
    "choose_level",
    "default_neighbors",
    "default_resolutions",
    "level_weights",
    "near_best",
    "parent_level",
]

ALGORITHM = "knn-leiden-silhouette"
# Themes with at least this many texts have a spread of similarities worth learning from.
_SPREAD_SIZE = 5
# A resolution that leaves more than this share of texts alone is finer than the data.
_MAX_LONE_SHARE = 0.2
# Partitions within this many standard errors of the best silhouette are on its plateau ...
_NEAR = 3.0
# ... and one this far below it is a valley: two in a row end the search.
_DEEP = 6.0


def default_resolutions() -> tuple[float, ...]:
    """Leiden resolutions tried, geometric steps of 1.5 from 0.5 to about 440."""
    return tuple(round(0.5 * 1.5**i, 3) for i in range(17))


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
            self._done[resolution] = leiden(self.graph, resolution, self.seed)
        return self._done[resolution]


def _n_themes(labels: np.ndarray) -> int:
    """Communities of at least two texts (a lone text is no recurrence)."""
    return int((np.bincount(labels) >= 2).sum()) if labels.size else 0


def default_neighbors(n: int) -> int:
    """Neighbours per text: a third of sqrt(n), between 4 and 15.

    With few texts an intent has only a handful of members, and fifteen neighbours would
    reach far into other intents; the share of a text's neighbours that can be its own kind
    grows with the data, so the graph does too, smoothly, up to the usual 15.
    """
    return int(np.clip(round(np.sqrt(max(n, 1)) / 3.0), 4, 15))


def level_weights(per_text: list[np.ndarray], width: float) -> tuple[np.ndarray, np.ndarray]:
    """How far each tried partition is from the best, in standard errors, and its weight.

    ``per_text[i]`` holds each sampled text's silhouette under partition ``i``. The best
    partition has the highest mean; another one's shortfall is the mean of the per-text
    differences, and its standard error comes from the same texts, so two cuts that differ
    in a few themes are told apart on a large sample and not on a small one. A partition's
    weight falls off as a Gaussian of that shortfall measured in ``width`` standard errors:
    within the noise of the estimate it counts almost fully, well beyond it not at all.

    Returns:
        ``(z, weights)``: each partition's shortfall over its standard error (0 for the best)
        and its weight (1 for the best).
    """
    if not per_text:
        return np.zeros(0), np.zeros(0)
    best = int(np.argmax([float(p.mean()) for p in per_text]))
    z = np.zeros(len(per_text))
    for i, p in enumerate(per_text):
        d = per_text[best] - p
        gap = max(float(d.mean()), 0.0)
        se = float(d.std(ddof=1)) / np.sqrt(len(d)) if len(d) > 1 else 0.0
        z[i] = gap / se if se > 0 else (0.0 if gap == 0 else np.inf)
    return z, np.exp(-0.5 * (z / width) ** 2)


def choose_level(z: np.ndarray, weights: np.ndarray, resolutions: np.ndarray) -> float:
    """The themes' resolution: the weighted geometric middle of the near-best partitions.

    Partitions within the noise of the best form a broad plateau whose ends wander from
    sample to sample; its middle, weighted by how surely each partition is as good as the
    best (``level_weights``), does not.

    When the near-best partitions form two runs with a deep valley between them (where the
    search also stops), the data holds groups at two scales: themes and, inside them, the few
    phrasings each is said in, as where customers paste the same sentences. Themes are the
    coarser run.
    """
    w = np.asarray(weights, dtype=np.float64).copy()
    near = near_best(z)
    w[near[-1] + 1 :] = 0.0
    r = np.log(np.asarray(resolutions, dtype=np.float64))
    return float(np.exp((w * r).sum() / w.sum()))


def near_best(z: np.ndarray) -> np.ndarray:
    """Indices of the near-best plateau: partitions within ``_NEAR`` standard errors of the
    best, up to the first valley deeper than ``_DEEP`` (see ``choose_level``)."""
    z = np.asarray(z, dtype=np.float64)
    near = np.nonzero(z <= _NEAR)[0]
    for j in range(1, len(near)):
        if z[near[j - 1] + 1 : near[j]].max(initial=-np.inf) > _DEEP:
            return near[:j]
    return near


def parent_level(scores: np.ndarray, counts: np.ndarray, themes: int) -> int | None:
    """Index of the best-scoring partition with at most half as many groups as ``themes``."""
    coarser = [i for i in range(len(scores)) if counts[i] >= 2 and counts[i] * 2 <= themes]
    return max(coarser, key=lambda i: (scores[i], i)) if coarser else None


def _silhouette_sample(
    sample: np.ndarray, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Rows on which silhouettes are measured, and their cosine distances."""
    m = len(sample)
    rows = np.arange(m) if m <= size else np.sort(rng.choice(m, size, replace=False))
    dist = 1.0 - sample[rows] @ sample[rows].T
    np.clip(dist, 0.0, 2.0, out=dist)
    np.fill_diagonal(dist, 0.0)
    return rows, dist


def _silhouettes(dist: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each text's silhouette under a partition (all 0 with one group or only singletons)."""
    from sklearn.metrics import silhouette_samples

    found = len(np.unique(labels))
    if found < 2 or found >= len(labels):
        return np.zeros(len(labels))
    return np.asarray(silhouette_samples(dist, labels, metric="precomputed"), dtype=np.float64)


class GraphClusterer:
    """Leiden communities of the kNN graph at the resolution whose themes separate best.

    Args:
        n_neighbors: Neighbours per text in the graph (default ``default_neighbors(n)``).
        resolutions: Leiden resolutions tried, coarse to fine.
        silhouette_size: Silhouettes are measured on at most this many texts.
        width: Standard errors of the silhouette over which a partition's weight in the
            choice of resolution falls off (see ``level_weights``).
        lean: The themes' resolution is the plateau's middle times this (see ``_select``).
        assign_similarity: Floor of similarity to a theme centroid below which a text stays
            unthemed; default derived from the spread of each theme's similarities.
        outlier_width: How many robust standard deviations below the median the floor sits.
        max_fit_size: Above this many texts, fit on a random sample and place the rest.
        seed: Seed of every random step.
        min_cluster_size: Smallest theme; communities below it stay unthemed (default 2).
        prefer_resolution: The resolution of the previous run, kept while it stays on the
            near-best plateau of this data (see ``continuing``).
    """

    def __init__(
        self,
        *,
        n_neighbors: int | None = None,
        resolutions: tuple[float, ...] | None = None,
        silhouette_size: int = 3000,
        width: float = 1.5,
        lean: float = 1.5,
        assign_similarity: float | None = None,
        outlier_width: float = 4.0,
        max_fit_size: int = 30_000,
        seed: int = 42,
        min_cluster_size: int | None = None,
        prefer_resolution: float | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.resolutions = resolutions or default_resolutions()
        self.silhouette_size = silhouette_size
        self.width = width
        self.lean = lean
        self.assign_similarity = assign_similarity
        self.outlier_width = outlier_width
        self.max_fit_size = max_fit_size
        self.seed = seed
        self.min_cluster_size = min_cluster_size
        self.prefer_resolution = prefer_resolution

    def continuing(self, params: Mapping[str, Any]) -> GraphClusterer:
        """This clusterer for a re-run after a run whose parameters were ``params``.

        A silhouette plateau is broad and its middle moves a grid step when a tenth more data
        arrives, which would re-cut every theme; the previous run's resolution is kept while
        it is still on the plateau, so themes change when the data says so, not by chance.
        """
        if params.get("algorithm") != ALGORITHM or params.get("resolution") is None:
            return self
        again = copy.copy(self)
        again.prefer_resolution = float(params["resolution"])
        return again

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
        sample = unit_rows(np.asarray(vectors[fit_idx], dtype=np.float32))
        m = len(sample)
        mcs = self.min_cluster_size or 2
        k = self.n_neighbors or default_neighbors(m)
        params: dict[str, Any] = {
            "algorithm": ALGORITHM,
            "n_neighbors": k,
            "min_cluster_size": mcs,
            "fit_size": m,
            "seed": self.seed,
        }
        if m < max(2 * mcs, 4):
            return self._no_themes(n, params, started)
        partitions = _Partitions(igraph_of(*knn_graph(sample, k)), self.seed)
        resolution, parent_res, scores, weights, tried = self._select(sample, partitions, rng)
        params.update(
            resolution_silhouette=[round(float(x), 4) for x in scores],
            resolution_weight=[round(float(x), 4) for x in weights],
            resolutions=tried,
            resolution=round(float(resolution), 4),
        )
        if self.prefer_resolution is not None:
            params["resolution_kept"] = bool(resolution == self.prefer_resolution)
        labels = partitions.at(resolution)
        sizes = np.bincount(labels)
        labels = _relabel(np.where(sizes[labels] >= mcs, labels, -1))
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
                chunk = unit_rows(np.asarray(vectors[start:stop], dtype=np.float32))
                lab, best = assign_to_centroids(chunk, cents, -np.inf)
                lab[best < floors[lab] - _SIM_TOLERANCE] = -1
                full[start:stop], conf[start:stop] = lab, best
        keep = themed & (sim_all >= floors[np.maximum(labels, 0)] - _SIM_TOLERANCE)
        full[fit_idx] = np.where(keep, labels, -1)
        conf[fit_idx] = sim_all
        conf = np.where(full >= 0, np.clip(conf, 0.0, 1.0), 0.0).astype(np.float32)
        parents = self._parents(partitions, labels, parent_res, sample)
        final = _relabel(full)
        params["parents"] = renumber_groups(full, final, parents)
        done = time.perf_counter()
        seconds = {"fit": round(fitted - started, 3), "assign": round(done - fitted, 3)}
        return ClusterResult(final, conf, params, seconds)

    def _select(
        self, sample: np.ndarray, partitions: _Partitions, rng: np.random.Generator
    ) -> tuple[float, float | None, list[float], list[float], list[float]]:
        """The themes' resolution, the parent level's, and each tried one's silhouette and weight.

        Resolutions are tried coarse to fine until a partition is finer than pairs, leaves
        too many texts alone, or the silhouette has fallen far below its best (``_DEEP``
        standard errors) for two steps in a row (the curve has one broad peak; past it,
        finer cuts only split themes).
        """
        m = len(sample)
        rows, dist = _silhouette_sample(sample, self.silhouette_size, rng)
        per_text: list[np.ndarray] = []
        counts: list[int] = []
        tried: list[float] = []
        z, weights = np.zeros(0), np.zeros(0)
        for res in self.resolutions:
            labels = partitions.at(res)
            lone = float((np.bincount(labels)[labels] < 2).mean())
            if per_text and (_n_themes(labels) > m / 2 or lone > _MAX_LONE_SHARE):
                break  # finer than pairs: nothing left to resolve
            per_text.append(_silhouettes(dist, labels[rows]))
            counts.append(_n_themes(labels))
            tried.append(res)
            z, weights = level_weights(per_text, self.width)
            if len(z) >= 3 and z[-1] > _DEEP and z[-2] > _DEEP:
                break
        scores = [float(p.mean()) for p in per_text]
        # Silhouette scores two sibling intents kept as one theme almost as well as apart (each
        # text's nearest other theme is far either way), so its plateau leans coarse: the themes
        # are cut a little finer than its middle.
        resolution = self.lean * choose_level(z, weights, np.asarray(tried))
        if self.prefer_resolution is not None:
            near = near_best(z)
            if tried[near[0]] <= self.prefer_resolution / self.lean <= tried[near[-1]]:
                resolution = self.prefer_resolution
        themes = _n_themes(partitions.at(resolution))
        parent_i = parent_level(np.asarray(scores), np.asarray(counts), themes)
        parent = tried[parent_i] if parent_i is not None else None
        return resolution, parent, scores, [float(w) for w in weights], tried

    def _parents(
        self,
        partitions: _Partitions,
        labels: np.ndarray,
        parent_res: float | None,
        sample: np.ndarray,
    ) -> np.ndarray:
        """Parent group of each theme.

        The parent level of the text graph (``parent_level``) when the data has one (the community
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
        return centroid_groups(centroids_of(sample, labels), self.seed)

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
