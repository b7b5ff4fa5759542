"""People's edits to themes, and how each one survives later full and incremental runs."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.cluster import DensityClusterer
from rootline.clustering.curation import (
    accept_proposed,
    mark_noise,
    merge_themes,
    move_interactions,
    rename_theme,
    split_theme,
)
from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.history import theme_history
from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.clustering.runs import run_clustering
from rootline.clustering.service import iter_assignments, list_themes
from rootline.errors import InputError, NotFoundError, StateError
from rootline.ingest.models import Interaction
from tests.factories import load_themed


def _cluster(session: Session, full: bool = False) -> ClusteringRun:
    return run_clustering(
        session, HashingEmbedder(), DensityClusterer(min_cluster_size=8), full=full
    )


def _intent_of(session: Session) -> dict[int, str]:
    """Majority gold intent of each active theme."""
    rows = session.execute(
        sa.select(ThemeMembership.theme_id, Interaction.extra)
        .join(Interaction, Interaction.id == ThemeMembership.interaction_id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status == "active")
    )
    counts: dict[int, Counter[str]] = {}
    for tid, extra in rows:
        counts.setdefault(tid, Counter())[extra["intent"]] += 1
    return {tid: c.most_common(1)[0][0] for tid, c in counts.items()}


def _theme_for(session: Session, intent: str) -> int:
    return next(t for t, i in _intent_of(session).items() if i == intent)


def _members(session: Session, theme_id: int) -> set[int]:
    return set(
        session.scalars(
            sa.select(ThemeMembership.interaction_id).where(ThemeMembership.theme_id == theme_id)
        )
    )


def test_rename_is_locked_and_recorded(session: Session) -> None:
    load_themed(session)
    _cluster(session)
    tid = _theme_for(session, "password_reset")
    out = rename_theme(session, tid, "  Password reset e-mail   never arrives ", actor="ana")
    assert out.title == "Password reset e-mail never arrives" and out.title_locked
    _cluster(session, full=True)
    assert session.get(Theme, tid).title == "Password reset e-mail never arrives"
    kinds = [(e.kind, e.actor) for e in theme_history(session, tid)]
    assert ("created", "system") in kinds and ("renamed", "ana") in kinds
    with pytest.raises(InputError):
        rename_theme(session, tid, "   ", actor="ana")
    with pytest.raises(NotFoundError):
        rename_theme(session, 999_999, "x", actor="ana")


def test_merge_survives_full_reruns_with_new_data(session: Session) -> None:
    load_themed(session)
    _cluster(session)
    source, target = _theme_for(session, "refund_missing"), _theme_for(session, "late_delivery")
    moved = _members(session, source)
    before = set(_intent_of(session))
    out = merge_themes(session, source, target, actor="ana")
    assert out.id == target and moved <= _members(session, target)
    assert session.get(Theme, source).status == "merged"
    assert session.get(Theme, source).merged_into_id == target

    load_themed(session, per_theme=3, seed=5, prefix="NEW")
    _cluster(session, full=True)
    _cluster(session, full=True)
    assert session.get(Theme, source).status == "merged"
    assert moved <= _members(session, target)
    active = {t.id for t in list_themes(session)}
    assert active == before - {source}, "no theme came back in place of the merged one"
    assert "merged" in [e.kind for e in theme_history(session, source)]
    with pytest.raises(StateError):
        merge_themes(session, source, target, actor="ana")
    with pytest.raises(InputError):
        merge_themes(session, target, target, actor="ana")


def test_split_survives_full_reruns(session: Session) -> None:
    load_themed(session)
    _cluster(session)
    a, b = _theme_for(session, "promo_code"), _theme_for(session, "app_crash")
    merge_themes(session, a, b, actor="ana")
    parts = split_theme(session, b, DensityClusterer(min_cluster_size=8), actor="ana")
    assert len(parts) >= 2 and all(p.split_from == b for p in parts)
    assert session.get(Theme, b).status == "split"
    members = {p.id: _members(session, p.id) for p in parts}
    assert sum(len(m) for m in members.values()) >= 50
    load_themed(session, per_theme=3, seed=6, prefix="NEW")
    _cluster(session, full=True)
    assert session.get(Theme, b).status == "split"
    for pid, before in members.items():
        assert session.get(Theme, pid).status == "active"
        assert before <= _members(session, pid)
    history = theme_history(session, parts[0].id)
    assert history[0].kind == "created" and history[0].details["split_from"] == b


def test_moved_interactions_stay_and_history_names_both_sides(session: Session) -> None:
    load_themed(session)
    _cluster(session)
    a, b = (t.id for t in list_themes(session)[:2])
    picked = sorted(_members(session, a))[:3]
    out = move_interactions(session, picked, b, actor="li")
    assert set(picked) <= _members(session, b) and out.size == len(_members(session, b))
    _cluster(session, full=True)
    assert set(picked) <= _members(session, b)
    assert "moved" in [e.kind for e in theme_history(session, a)]
    with pytest.raises(NotFoundError):
        move_interactions(session, [999_999], b, actor="li")


def test_noise_members_and_their_look_alikes_stay_out(session: Session) -> None:
    load_themed(session)
    _cluster(session)
    tid = _theme_for(session, "app_crash")
    out = mark_noise(session, tid, actor="ana")
    assert out.status == "noise" and tid not in {t.id for t in list_themes(session)}

    def themed_crash_texts() -> int:
        intents = dict(session.execute(sa.select(Interaction.external_id, Interaction.extra)).all())
        return sum(
            1
            for _, ext, theme in iter_assignments(session)
            if theme is not None and intents[ext]["intent"] == "app_crash"
        )

    assert themed_crash_texts() == 0
    load_themed(session, per_theme=4, seed=8, prefix="NEW", themes=["app_crash", "promo_code"])
    run = _cluster(session)
    assert run.kind == "incremental" and run.metrics["kept_out"] >= 2
    assert themed_crash_texts() <= 1
    _cluster(session, full=True)
    assert session.get(Theme, tid).status == "noise"
    assert themed_crash_texts() <= 1


def test_dense_group_in_the_novelty_pool_is_proposed_then_accepted(session: Session) -> None:
    five = ["password_reset", "card_declined", "late_delivery", "refund_missing", "promo_code"]
    load_themed(session, themes=five)
    _cluster(session)
    before = {t.id for t in list_themes(session)}
    load_themed(session, per_theme=15, seed=3, prefix="NEW", themes=["app_crash"])
    run = _cluster(session)
    assert run.metrics["proposed"] >= 1
    proposed = list_themes(session, statuses=("proposed",))
    assert proposed and {t.id for t in list_themes(session)} == before
    assert "proposed" in [e.kind for e in theme_history(session, proposed[0].id)]
    accepted = accept_proposed(session, proposed[0].id, actor="ana")
    assert accepted.status == "active"
    with pytest.raises(StateError):
        accept_proposed(session, proposed[0].id, actor="ana")
