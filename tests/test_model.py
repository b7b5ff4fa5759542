"""The real all-MiniLM-L6-v2, loaded offline from the installed package, end to end."""

from __future__ import annotations

import csv
import gzip
import random
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from rootline.clustering.embedding import SentenceTransformerEmbedder, bundled_model_path
from rootline.clustering.service import evaluate, list_themes
from rootline.config import Settings
from rootline.ingest.service import ingest_file
from rootline.pipeline import cluster

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def test_model_loads_from_the_installed_package_and_embeds_meaning(
    embedder: SentenceTransformerEmbedder,
) -> None:
    assert bundled_model_path().is_dir()
    vectors = embedder.encode(
        [
            "my card was declined at checkout",
            "the payment with my credit card got rejected",
            "when will my parcel be delivered",
        ]
    )
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def _clinc_subset(path: Path, n_intents: int, per_intent: int, seed: int = 1) -> Path:
    source = resources.files("rootline.fixtures") / "clinc150.csv.gz"
    with gzip.open(str(source), "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(seed)
    intents = sorted({r["intent"] for r in rows} - {"oos"})
    chosen = set(rng.sample(intents, n_intents))
    by_intent: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        if row["intent"] in chosen:
            by_intent.setdefault(row["intent"], []).append(row)
    picked = [r for i in sorted(by_intent) for r in rng.sample(by_intent[i], per_intent)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "intent"])
        writer.writeheader()
        writer.writerows(picked)
    return path


def test_real_model_themes_match_clinc_intents(
    session: Session, tmp_path: Path, embedder: SentenceTransformerEmbedder, settings: Settings
) -> None:
    path = _clinc_subset(tmp_path / "clinc.csv", n_intents=20, per_intent=60)
    ingest_file(session, path)
    run = cluster(session, settings, embedder=embedder)
    assert run.model_slug == embedder.slug
    scores = evaluate(session, "intent")
    assert scores["nmi"] >= 0.8, scores
    assert 14 <= scores["themes"] <= 28, scores
    themes = list_themes(session)
    assert all(t.title and t.keywords for t in themes)
