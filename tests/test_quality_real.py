"""Theme quality on real intent data with the real model: the clusterer against the baseline.

A random 1,000-text subset of the bundled HWU64 (64 fine-grained home-assistant intents),
embedded with all-MiniLM-L6-v2: the clusterer, not told the number of intents, must score at
least a kNN graph + Leiden at resolution 3 on the same vectors, and find a number of themes in
the range a support lead could work with.
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from rootline.clustering.communities import igraph_of, leiden
from rootline.clustering.embedding import SentenceTransformerEmbedder
from rootline.clustering.graph import GraphClusterer
from rootline.clustering.knn import knn_graph

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _hwu_subset(size: int, seed: int) -> tuple[list[str], np.ndarray]:
    raw = resources.files("rootline.fixtures").joinpath("hwu64.csv.gz").read_bytes()
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))
    pick = np.sort(np.random.default_rng(seed).choice(len(rows), size, replace=False))
    return [rows[i]["text"] for i in pick], np.array([rows[i]["intent"] for i in pick])


def _scores(gold: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    pred = np.where(labels >= 0, labels, -1 - np.arange(len(labels)))
    return normalized_mutual_info_score(gold, pred), adjusted_rand_score(gold, pred)


def test_themes_beat_the_leiden_baseline_on_hwu64() -> None:
    texts, gold = _hwu_subset(1000, seed=0)
    vectors = SentenceTransformerEmbedder().encode(texts)
    result = GraphClusterer().fit(vectors)
    baseline = leiden(igraph_of(*knn_graph(vectors, 15)), 3.0, 0)
    nmi, ari = _scores(gold, result.labels)
    base_nmi, base_ari = _scores(gold, baseline)
    assert nmi >= base_nmi and ari >= base_ari
    true_k = len(np.unique(gold))
    assert 0.7 * true_k <= result.n_clusters <= 1.5 * true_k
    assert (result.labels == -1).mean() <= 0.10
    assert len(result.params["parents"]) == result.n_clusters
