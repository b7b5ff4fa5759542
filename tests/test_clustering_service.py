"""Clustering in the database: runs, stable ids, human edits, incremental placement, failures."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.cluster import ClusterResult, DensityClusterer
from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.models import ClusteringRun, EmbeddingCache, Theme, ThemeMembership
from rootline.clustering.runs import run_clustering
from rootline.clustering.service import evaluate, iter_assignments, list_themes
from tests.factories import InteractionFactory, themed_texts


def _load(session: Session, per_theme: int = 30, seed: int = 0, prefix: str = "X") -> None:
    InteractionFactory._meta.sqlalchemy_session = session
    for i, (text, theme) in enumerate(themed_texts(per_theme, seed)):
        InteractionFactory(external_id=f"{prefix}{i}", body_clean=text, extra={"intent": theme})


def _cluster(session: Session, full: bool = False) -> ClusteringRun:
    return run_clustering(
        session, HashingEmbedder(), DensityClusterer(min_cluster_size=8), full=full
    )


def test_first_run_builds_labelled_themes(session: Session) -> None:
    _load(session)
    run = _cluster(session)
    assert run.kind == "full" and run.status == "succeeded"
    assert run.params["min_cluster_size"] == 8 and run.model_slug == "hashing:256"
    themes = list_themes(session, with_examples=True)
    assert 4 <= len(themes) <= 8
    for theme in themes:
        assert theme.title and len(theme.keywords) >= 3
        assert 1 <= len(theme.examples) <= 5
        assert not {"the", "my", "is"} & set(theme.keywords)
    scores = evaluate(session, "intent")
    assert scores["nmi"] > 0.7


def test_rerun_encodes_nothing_and_keeps_ids_and_locked_titles(session: Session) -> None:
    _load(session)
    _cluster(session)
    before = {t.id: t for t in list_themes(session)}
    locked = session.get(Theme, next(iter(before)))
    assert locked is not None
    locked.title, locked.title_locked = "Customers cannot reset passwords", True
    run = _cluster(session, full=True)
    assert run.metrics["encoded"] == 0
    after = {t.id: t for t in list_themes(session)}
    assert set(after) == set(before)
    assert after[locked.id].title == "Customers cannot reset passwords"


def test_new_data_goes_into_existing_themes_without_moving_old_members(session: Session) -> None:
    _load(session, per_theme=30)
    _cluster(session)
    placed = {(s, e): t for s, e, t in iter_assignments(session)}
    _load(session, per_theme=4, seed=7, prefix="NEW")
    run = _cluster(session)
    assert run.kind == "incremental"
    assert run.metrics["assigned"] >= 16
    now = {(s, e): t for s, e, t in iter_assignments(session)}
    assert all(now[key] == theme for key, theme in placed.items())
    assert session.scalar(sa.select(sa.func.count()).select_from(EmbeddingCache)) == 180 + 24


def test_manual_placement_survives_a_full_rerun(session: Session) -> None:
    _load(session)
    _cluster(session)
    themes = list_themes(session)
    member = session.scalars(
        sa.select(ThemeMembership).where(ThemeMembership.theme_id == themes[0].id)
    ).first()
    assert member is not None
    member.theme_id, member.source = themes[1].id, "manual"
    session.flush()
    _cluster(session, full=True)
    kept = session.get(ThemeMembership, member.interaction_id)
    assert kept is not None and kept.theme_id == themes[1].id and kept.source == "manual"


class _Exploding:
    def fit(self, vectors: np.ndarray) -> ClusterResult:
        raise RuntimeError("out of memory")


def test_failed_rerun_leaves_previous_themes_intact(session: Session) -> None:
    _load(session)
    _cluster(session)
    before = [(t.id, t.title, t.size) for t in list_themes(session)]
    members = session.scalar(sa.select(sa.func.count()).select_from(ThemeMembership))
    with pytest.raises(RuntimeError), session.begin_nested():
        run_clustering(session, HashingEmbedder(), _Exploding(), full=True)
    assert [(t.id, t.title, t.size) for t in list_themes(session)] == before
    assert session.scalar(sa.select(sa.func.count()).select_from(ThemeMembership)) == members


class _Grouped:
    """Three clusters of 20; clusters 0 and 2 share parent group 5, cluster 1 is alone."""

    def fit(self, vectors: np.ndarray) -> ClusterResult:
        labels = np.repeat(np.arange(3), 20)[: len(vectors)]
        params = {"algorithm": "fixed", "assign_similarity": 0.0, "parents": [5, 7, 5]}
        return ClusterResult(labels, np.ones(len(vectors), dtype=np.float32), params, {})


def test_full_run_records_each_themes_parent_group(session: Session) -> None:
    from rootline.clustering.alerts import theme_groups

    InteractionFactory._meta.sqlalchemy_session = session
    for i in range(60):
        InteractionFactory(external_id=f"G{i}", body_clean=f"text number {i} about topic {i // 20}")
    session.flush()
    run_clustering(session, HashingEmbedder(), _Grouped(), full=True)
    groups = theme_groups(session)
    by_theme = {}
    for _source, ext, tid in iter_assignments(session):
        by_theme.setdefault(tid, set()).add(ext)
    assert len(groups) == 3 and set(groups) == set(by_theme)
    assert sorted(groups.values()) == [5, 5, 7]
