"""A large corpus goes through the embedding cache in chunks: same vectors, same themes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering import runs
from rootline.clustering.cluster import DensityClusterer
from rootline.clustering.embedding import HashingEmbedder, embed_with_cache
from rootline.clustering.models import EmbeddingCache, ThemeMembership
from rootline.clustering.runs import ClusterProgress, run_clustering
from tests.factories import InteractionFactory, themed_texts


class _CountingEmbedder(HashingEmbedder):
    """The hashing embedder, remembering how many texts each call was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        self.calls.append(len(texts))
        return super().encode(texts, progress)


def test_chunked_embedding_matches_one_pass_and_encodes_each_text_once(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "_EMBED_CHUNK", 4)
    texts = [f"parcel {i % 7} is late" for i in range(19)]  # repeats inside and across chunks
    embedder = _CountingEmbedder()
    advanced: list[int] = []
    progress = ClusterProgress(embed_advance=advanced.append)
    vectors, encoded = runs._embed(session, embedder, texts, progress)
    assert encoded == 7 and sum(embedder.calls) == 7
    assert max(embedder.calls) <= 4  # no call holds more than a chunk
    assert sum(advanced) == len(texts)
    cached = session.scalar(sa.select(sa.func.count()).select_from(EmbeddingCache))
    assert cached == 7
    again, fresh = embed_with_cache(session, HashingEmbedder(), texts)
    assert fresh == 0
    np.testing.assert_array_equal(vectors, again)
    np.testing.assert_allclose(vectors, HashingEmbedder().encode(texts), atol=1e-6)


def test_full_run_in_chunks_gives_the_same_themes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    InteractionFactory._meta.sqlalchemy_session = session
    for i, (text, theme) in enumerate(themed_texts(30, 0)):
        InteractionFactory(external_id=f"C{i}", body_clean=text, extra={"intent": theme})

    def themes() -> dict[int, int]:
        run_clustering(session, HashingEmbedder(), DensityClusterer(min_cluster_size=8), full=True)
        rows = session.execute(sa.select(ThemeMembership.interaction_id, ThemeMembership.theme_id))
        return {int(i): int(t) for i, t in rows}

    whole = themes()
    session.execute(sa.delete(EmbeddingCache))
    monkeypatch.setattr(runs, "_EMBED_CHUNK", 17)
    chunked = themes()
    assert whole and chunked == whole
