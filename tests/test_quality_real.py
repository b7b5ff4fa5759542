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


# Mail written for this test alone: openings, account details, sign-offs, signatures and a
# disclaimer that no cleaning rule names.
_OPEN = ["Morning support,", "Hi there team,", "Evening,", ""]
_DETAILS = [
    "Loyalty card {d}.",
    "Booking reference {d}, under {mail}.",
    "I have been with you for years.",
    "Writing from my work address.",
]
_CLOSE = ["Appreciate your time,", "Laters,", "With gratitude,", "Thanks heaps."]
_NOTICE = "Scanned by MailGuard: no threats found in this message."


def _mail(text: str, rng: np.random.Generator) -> str:
    lines = [str(rng.choice(_OPEN))]
    details = str(rng.choice(_DETAILS)).format(
        d=int(rng.integers(10**6, 10**8)), mail=f"c{int(rng.integers(1, 999))}@example.net"
    )
    body = [text, details] if rng.random() < 0.5 else [details, text]
    lines.append(" ".join(body) if rng.random() < 0.7 else text)
    if rng.random() < 0.7:
        lines += ["", str(rng.choice(_CLOSE)), str(rng.choice(["Ola", "Per Berg", "Liu Yang"]))]
        if rng.random() < 0.5:
            lines.append("Account Manager | Fjord Freight")
    if rng.random() < 0.4:
        lines += ["", _NOTICE]
    return "\n".join(lines)


def test_mail_around_real_texts_costs_almost_nothing_once_its_boilerplate_is_found() -> None:
    from rootline.ingest.boilerplate import learn
    from rootline.ingest.cleaning import clean_text

    texts, gold = _hwu_subset(1000, seed=1)
    rng = np.random.default_rng(4)
    cleaned = [clean_text(_mail(t, rng)) for t in texts]
    boilerplate = learn(cleaned)
    stripped = [boilerplate.remove(t) for t in cleaned]
    embedder = SentenceTransformerEmbedder()
    clean_nmi, _ = _scores(gold, GraphClusterer().fit(embedder.encode(texts)).labels)
    mail_nmi, _ = _scores(gold, GraphClusterer().fit(embedder.encode(cleaned)).labels)
    stripped_nmi, _ = _scores(gold, GraphClusterer().fit(embedder.encode(stripped)).labels)
    assert mail_nmi < clean_nmi - 0.05  # the mail does cost themes when left in
    assert stripped_nmi >= clean_nmi - 0.02
