"""The theme-finding algorithm on synthetic data: no model, no database, well under a second."""

from __future__ import annotations

import numpy as np
import pytest

from rootline.clustering.cluster import (
    DensityClusterer,
    assign_to_centroids,
    centroids_of,
    default_min_cluster_size,
)
from rootline.clustering.knn import knn_graph


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def blobs(
    sizes: list[int], n_noise: int = 0, dim: int = 48, spread: float = 0.35, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters on the unit sphere plus uniform noise; gold -1 marks the noise."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(len(sizes), dim)))
    parts = [
        _unit(c + spread * rng.normal(size=(s, dim)) / np.sqrt(dim) * 3)
        for c, s in zip(centres, sizes, strict=True)
    ]
    parts.append(_unit(rng.normal(size=(n_noise, dim))))
    gold = np.concatenate([np.full(s, i) for i, s in enumerate(sizes)] + [np.full(n_noise, -1)])
    order = rng.permutation(len(gold))
    return np.concatenate(parts)[order], gold[order]


def _purity(labels: np.ndarray, gold: np.ndarray) -> float:
    mask = (labels >= 0) & (gold >= 0)
    hits = sum(np.bincount(gold[mask & (labels == c)]).max() for c in np.unique(labels[mask]))
    return hits / mask.sum()


def test_recovers_the_number_of_clusters_and_labels_noise() -> None:
    sizes = [220, 180, 150, 120, 100, 90, 80, 60]
    vectors, gold = blobs(sizes, n_noise=80)
    result = DensityClusterer().fit(vectors)
    labels = result.labels
    assert result.n_clusters == len(sizes)
    assert _purity(labels, gold) > 0.97
    assert (labels[gold == -1] == -1).mean() > 0.8  # random directions stay unthemed
    assert (labels[gold >= 0] == -1).mean() < 0.05  # real members mostly keep a theme


def test_labels_are_renumbered_by_size() -> None:
    vectors, _ = blobs([60, 200, 110], n_noise=20, seed=3)
    labels = DensityClusterer().fit(vectors).labels
    sizes = np.bincount(labels[labels >= 0])
    assert list(sizes) == sorted(sizes, reverse=True)
    assert set(np.unique(labels)) == {-1, 0, 1, 2}


def test_is_deterministic_for_a_seed() -> None:
    vectors, _ = blobs([150, 120, 90, 70], n_noise=40, seed=5)
    first = DensityClusterer(seed=7).fit(vectors)
    second = DensityClusterer(seed=7).fit(vectors)
    assert np.array_equal(first.labels, second.labels)
    assert first.params == second.params


def test_params_record_what_was_used() -> None:
    vectors, _ = blobs([100, 100, 100], seed=2)
    params = DensityClusterer().fit(vectors).params
    assert params["algorithm"]
    assert params["min_cluster_size"] == default_min_cluster_size(len(vectors))
    for key in ("min_samples", "n_neighbors", "merge_similarity", "assign_similarity", "seed"):
        assert params[key] is not None
    assert 0.0 < params["assign_similarity"] < 1.0


def test_large_inputs_are_fitted_on_a_sample_and_the_rest_placed() -> None:
    vectors, gold = blobs([400, 300, 300], n_noise=30, seed=4)
    result = DensityClusterer(max_fit_size=500).fit(vectors)
    assert result.params["fit_size"] == 500
    assert result.n_clusters == 3
    assert _purity(result.labels, gold) > 0.97
    themed = result.labels >= 0
    assert result.probabilities[themed].min() >= result.params["assign_similarity"]
    assert (result.probabilities[~themed] == 0).all()


def test_too_few_points_are_all_noise() -> None:
    vectors, _ = blobs([4], seed=1)
    result = DensityClusterer().fit(vectors)
    assert (result.labels == -1).all() and result.n_clusters == 0


def test_assign_to_centroids_respects_the_floor() -> None:
    centroids = np.eye(3, dtype=np.float32)
    vectors = _unit(np.array([[1.0, 0.1, 0.0], [0.0, 1.0, 0.05], [1.0, 1.0, 1.0]]))
    labels, sims = assign_to_centroids(vectors, centroids, min_similarity=0.9)
    assert labels.tolist() == [0, 1, -1]
    assert sims[2] == pytest.approx(1 / np.sqrt(3), abs=1e-6)
    labels, _ = assign_to_centroids(vectors, centroids, min_similarity=0.5)
    assert labels[2] in (0, 1, 2)
    empty, _ = assign_to_centroids(np.zeros((0, 3), np.float32), centroids, 0.5)
    assert empty.shape == (0,)


def test_new_texts_go_to_the_theme_they_came_from() -> None:
    vectors, gold = blobs([150, 150, 150], n_noise=0, seed=6)
    result = DensityClusterer().fit(vectors[:300])
    cents = centroids_of(vectors[:300], result.labels[:300])
    labels, _ = assign_to_centroids(vectors[300:], cents, result.params["assign_similarity"])
    # Same gold cluster -> same theme, for the held-out texts.
    mapping = {g: np.bincount(result.labels[:300][gold[:300] == g]).argmax() for g in range(3)}
    expected = np.array([mapping[g] for g in gold[300:]])
    assert (labels == expected).mean() > 0.95


def test_knn_graph_matches_brute_force() -> None:
    vectors, _ = blobs([50, 50], seed=8)
    indices, sims = knn_graph(vectors, 5)
    full = vectors @ vectors.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1)[:, :5]
    assert np.array_equal(np.sort(indices, axis=1), np.sort(expected, axis=1))
    assert np.allclose(sims, np.take_along_axis(full, indices, axis=1), atol=1e-6)
    assert (indices != np.arange(len(vectors))[:, None]).all()


def test_placing_beyond_the_sample_never_copies_the_whole_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tracemalloc

    from rootline.clustering import cluster

    vectors, gold = blobs([20_000, 20_000, 20_000], n_noise=100, seed=9)
    vectors = vectors * 3.0  # not unit length: each chunk is normalised on its own
    vectors.setflags(write=False)
    monkeypatch.setattr(cluster, "_ASSIGN_CHUNK", 2048)

    def peak_of(rows: np.ndarray) -> tuple[int, cluster.ClusterResult]:
        tracemalloc.start()
        try:
            result = DensityClusterer(max_fit_size=1500).fit(rows)
            return tracemalloc.get_traced_memory()[1], result
        finally:
            tracemalloc.stop()

    peak_of(vectors[:3000])  # lazy imports inside the fit are not what is measured
    small, _ = peak_of(vectors[:3000])
    big, result = peak_of(vectors)
    # Beyond the fit itself only per-row labels and scores grow; one copy would be 1x.
    assert big - small < vectors.nbytes / 2
    assert result.n_clusters == 3 and _purity(result.labels, gold) > 0.97
    themed = result.labels >= 0
    assert 0.0 < result.probabilities[themed].min() <= 1.0
    assert set(result.seconds) == {"fit", "assign"}
