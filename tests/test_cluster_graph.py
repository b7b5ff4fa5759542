"""The graph clusterer (Leiden at the best-separated resolution) on synthetic data, no model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rootline.clustering.graph import (
    GraphClusterer,
    choose_level,
    default_neighbors,
    level_weights,
    parent_level,
)
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
    assert params["algorithm"] == "knn-leiden-silhouette"
    assert 0.0 < params["assign_similarity"] < 1.0
    assert params["resolution"] > 0
    assert len(params["resolution_silhouette"]) == len(params["resolutions"])
    assert params["n_neighbors"] == default_neighbors(180)


def test_fit_on_a_sample_places_the_rest() -> None:
    vectors, gold = blobs([300, 250, 200, 150], seed=6)
    result = GraphClusterer(max_fit_size=400, silhouette_size=300).fit(vectors)
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


def test_levels_are_weighed_by_their_distance_from_the_best_in_standard_errors() -> None:
    rng = np.random.default_rng(0)
    best = rng.normal(0.2, 0.1, size=400)
    per_text = [best - 0.05, best, best - 0.002 + rng.normal(0, 0.02, 400), best - 0.2]
    z, weights = level_weights(per_text, width=1.5)
    assert z[1] == 0 and weights[1] == 1
    # A mean shortfall well inside its noise weighs almost fully; a sure one not at all.
    assert z[2] < 3 and weights[2] > 0.3
    assert z[0] > 6 and z[3] > 6 and weights[0] < 1e-3 and weights[3] < 1e-3
    # The same shortfall on fewer texts is less sure.
    small_z, _ = level_weights([p[:25] for p in per_text], width=1.5)
    assert small_z[2] < z[2]


def test_choose_level_takes_the_weighted_middle_of_the_near_best_plateau() -> None:
    resolutions = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    z = np.array([20.0, 0.5, 0.0, 0.5, 20.0])
    weights = np.exp(-0.5 * (z / 1.5) ** 2)
    assert choose_level(z, weights, resolutions) == pytest.approx(4.0)
    # A plateau leaning to the fine end moves the choice finer.
    z = np.array([20.0, 10.0, 1.0, 0.0, 0.2])
    weights = np.exp(-0.5 * (z / 1.5) ** 2)
    assert 8.0 < choose_level(z, weights, resolutions) < 16.0
    # Two near-best runs with a deep valley between: themes are the coarser run.
    z = np.array([0.0, 0.3, 9.0, 0.2, 0.1])
    weights = np.exp(-0.5 * (z / 1.5) ** 2)
    assert np.sqrt(1.0 * 2.0) * 0.99 < choose_level(z, weights, resolutions) < 2.0


def test_parent_level_is_the_best_partition_with_half_the_groups() -> None:
    scores = np.array([0.05, 0.15, 0.12, 0.20])
    counts = np.array([1, 6, 10, 24])
    assert parent_level(scores, counts, themes=24) == 1  # 6 and 10 qualify, 6 scores best
    assert parent_level(scores, counts, themes=12) == 1
    assert parent_level(scores, counts, themes=11) is None  # 6 is more than half of 11
    assert parent_level(scores, counts, themes=2) is None  # 1 group is no grouping


def test_neighbours_grow_smoothly_with_the_data() -> None:
    ks = [default_neighbors(n) for n in range(1, 5000, 7)]
    assert ks[0] == 4 and default_neighbors(100_000) == 15
    assert all(b - a in (0, 1) for a, b in itertools.pairwise(ks))


def test_a_rerun_keeps_the_resolution_while_it_is_on_the_plateau() -> None:
    vectors, _gold, _family = nested_blobs(groups=4, per_group=4, size=60)
    first = GraphClusterer().fit(vectors)
    plateau = first.params["resolutions"]
    kept_at = float(first.params["resolution"])
    # A previous run at a resolution the plateau still holds: kept, whatever its middle says.
    weights = np.asarray(first.params["resolution_weight"])
    on = [r for r, w in zip(plateau, weights, strict=True) if w >= 0.5]
    previous = {"algorithm": first.params["algorithm"], "resolution": 1.5 * min(on)}
    again = GraphClusterer().continuing(previous).fit(vectors)
    assert again.params["resolution"] == pytest.approx(1.5 * min(on))
    assert again.params["resolution_kept"] is True
    # One far off the plateau (or of another algorithm) is not.
    far = GraphClusterer().continuing({**previous, "resolution": 1.5 * 400.0}).fit(vectors)
    assert far.params["resolution_kept"] is False
    assert far.params["resolution"] == pytest.approx(kept_at)
    other = GraphClusterer().continuing({"algorithm": "density", "resolution": 1.0})
    assert other.prefer_resolution is None
