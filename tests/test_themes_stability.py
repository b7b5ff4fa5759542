"""Theme ids survive a full re-run on the same data plus 10% new data."""

from __future__ import annotations

from sqlalchemy.orm import Session

from rootline.clustering.cluster import DensityClusterer
from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.service import list_themes, run_clustering
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
