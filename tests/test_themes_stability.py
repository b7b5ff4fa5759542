"""Theme ids survive a full re-run on the same data plus 10% new data; vectors are reused."""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from rootline.clustering.cluster import DensityClusterer
from rootline.clustering.embedding import HashingEmbedder, embed_with_cache
from rootline.clustering.runs import run_clustering
from rootline.clustering.service import list_themes
from tests.factories import InteractionFactory, themed_texts


def test_full_rerun_with_ten_percent_more_data_keeps_theme_ids(session: Session) -> None:
    rows = themed_texts(per_theme=50, seed=11)
    cut = int(len(rows) * 0.9)
    InteractionFactory._meta.sqlalchemy_session = session
    for i, (text, theme) in enumerate(rows[:cut]):
        InteractionFactory(external_id=f"A{i}", body_clean=text, extra={"intent": theme})
    clusterer = DensityClusterer(min_cluster_size=8)
    run_clustering(session, HashingEmbedder(), clusterer, full=True)
    before = {t.id for t in list_themes(session)}
    for i, (text, theme) in enumerate(rows[cut:]):
        InteractionFactory(external_id=f"B{i}", body_clean=text, extra={"intent": theme})
    run = run_clustering(session, HashingEmbedder(), clusterer, full=True)
    after = {t.id for t in list_themes(session)}
    assert len(before) >= 4
    assert len(before & after) / len(before) >= 0.9
    assert run.metrics["kept_theme_ids"] >= 0.9 * len(before)


class _CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__(dim=32)
        self.encoded: list[str] = []

    def encode(self, texts, progress=None):  # type: ignore[no-untyped-def]
        self.encoded.extend(texts)
        return super().encode(texts, progress)


def test_cache_encodes_each_distinct_text_once_and_keeps_the_order(session: Session) -> None:
    embedder = _CountingEmbedder()
    first, encoded = embed_with_cache(session, embedder, ["late card", "refund", "late card"])
    assert encoded == 2 and sorted(embedder.encoded) == ["late card", "refund"]
    assert np.array_equal(first[0], first[2]) and not np.array_equal(first[0], first[1])
    texts = ["refund", "new text", "late card", "refund"]
    again, encoded = embed_with_cache(session, embedder, texts)
    assert encoded == 1 and embedder.encoded[-1] == "new text"
    assert np.array_equal(again, HashingEmbedder(dim=32).encode(texts))
    assert again.dtype == np.float32 and again.shape == (4, 32)
    assert embed_with_cache(session, embedder, [])[1] == 0
