"""The graph clusterer (Leiden at the most stable resolution) on synthetic data, no model."""

from __future__ import annotations

import numpy as np
import pytest

from rootline.clustering.graph import GraphClusterer, stable_levels
from tests.test_cluster_algorithm import _purity, _unit, blobs


def nested_blobs(
    groups: int, per_group: int, size: int, dim: int = 48, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Themes that come in families: siblings close to their family's centre, families apart."""
    rng = np.random.default_rng(seed)
    family_centres = _unit(rng.normal(size=(groups, dim)))
    parts, gold, family = [], [], []
    for f, centre in enumerate(family_centres):
        for s in range(per_group):
            child = _unit(centre + 0.3 * rng.normal(size=(1, dim)) / np.sqrt(dim) * 3)[0]
            parts.append(_unit(child + 0.25 * rng.normal(size=(size, dim)) / np.sqrt(dim) * 3))
            gold += [f * per_group + s] * size
            family += [f] * size
    order = rng.permutation(len(gold))
    return np.concatenate(parts)[order], np.array(gold)[order], np.array(family)[order]


def test_recovers_clusters_of_unequal_size() -> None:
    sizes = [220, 180, 150, 120, 100, 90, 80, 60]
    vectors, gold = blobs(sizes)
    result = GraphClusterer().fit(vectors)
    assert result.n_clusters == len(sizes)
    assert _purity(result.labels, gold) > 0.97
    assert (result.labels == -1).mean() < 0.05


def test_many_small_themes_are_not_merged() -> None:
    """300 texts of 60 intents, five each: the shape of a small help desk's first export."""
    vectors, gold = blobs([5] * 60, spread=0.25, seed=4)
    result = GraphClusterer().fit(vectors)
    assert 0.7 * 60 <= result.n_clusters <= 1.5 * 60
    assert _purity(result.labels, gold) > 0.9
    assert (result.labels == -1).mean() <= 0.10


def test_parents_group_sibling_themes() -> None:
    vectors, _gold, family = nested_blobs(groups=4, per_group=4, size=60)
    result = GraphClusterer().fit(vectors)
    parents = np.asarray(result.params["parents"])
    assert len(parents) == result.n_clusters
    themed = result.labels >= 0
    # Each family's texts sit under one parent group, and families do not share one.
    parent_of_text = parents[result.labels[themed]]
    for f in range(4):
        _values, counts = np.unique(parent_of_text[family[themed] == f], return_counts=True)
        assert counts.max() / counts.sum() > 0.9
    assert len(np.unique(parents)) >= 4
    assert result.n_clusters >= len(np.unique(parents))


def test_same_seed_same_themes() -> None:
    vectors, _ = blobs([80, 60, 40], seed=2)
    first = GraphClusterer(seed=5).fit(vectors)
    second = GraphClusterer(seed=5).fit(vectors)
    assert np.array_equal(first.labels, second.labels)


def test_records_what_placement_needs() -> None:
    vectors, _ = blobs([80, 60, 40], seed=1)
    params = GraphClusterer().fit(vectors).params
    assert params["algorithm"] == "knn-leiden-stable-resolution"
    assert 0.0 < params["assign_similarity"] < 1.0
    assert params["resolution"] > 0
    assert len(params["resolution_stability"]) == len(params["resolutions"])


def test_fit_on_a_sample_places_the_rest() -> None:
    vectors, gold = blobs([300, 250, 200, 150], seed=6)
    result = GraphClusterer(max_fit_size=400, selection_size=300).fit(vectors)
    assert result.params["fit_size"] == 400
    assert result.n_clusters == 4
    assert _purity(result.labels, gold) > 0.97
    assert (result.labels >= 0).mean() > 0.95


@pytest.mark.parametrize("n", [0, 1, 3])
def test_too_few_texts_give_no_themes(n: int) -> None:
    vectors = _unit(np.random.default_rng(0).normal(size=(n, 16))) if n else np.zeros((0, 16))
    result = GraphClusterer().fit(vectors.astype(np.float32))
    assert result.labels.shape == (n,)
    assert (result.labels == -1).all()
    assert result.params["parents"] == []


def test_exact_duplicates_form_one_theme_each() -> None:
    rng = np.random.default_rng(3)
    base = _unit(rng.normal(size=(3, 32)))
    vectors = np.repeat(base, 40, axis=0)
    result = GraphClusterer().fit(vectors)
    assert result.n_clusters == 3
    assert (result.labels >= 0).all()


def test_stable_levels_take_the_finest_peak_near_the_best() -> None:
    # Peaks at 1 (0.90), 4 (0.88) and 7 (0.70): the finest within 0.05 of the best is 4.
    curve = np.array([0.8, 0.9, 0.7, 0.75, 0.88, 0.6, 0.65, 0.7, 0.5])
    assert stable_levels(curve, tolerance=0.05) == (4, 1)
    assert stable_levels(curve, tolerance=0.01) == (1, None)


def test_stable_levels_look_for_themes_above_plain_modularity() -> None:
    # Resolution 1 is the most stable (a coarse split); the themes are the finer peak at 3
    # and resolution 1 becomes their parent level.
    curve = np.array([0.95, 0.8, 0.7, 0.86, 0.6])
    assert stable_levels(curve, tolerance=0.05) == (3, 0)
    # A curve that only falls, or whose finer peaks are far below: the coarsest level.
    assert stable_levels(np.array([0.9, 0.8, 0.7]), tolerance=0.05) == (0, None)
    assert stable_levels(np.array([1.0, 0.4, 0.5, 0.3]), tolerance=0.05) == (0, None)
    # A plateau counts once, at its coarse end.
    assert stable_levels(np.array([1.0, 1.0, 1.0]), tolerance=0.05) == (0, None)
