"""People's edits to themes: rename, merge, split, move interactions, mark as noise, accept.

Every edit is recorded in the theme's history with the person's name, and every edit survives
later runs: renamed titles are locked against relabelling, and the interactions an edit
touches become manual placements, which a full run follows (see ``rootline.clustering.runs``).
Each function takes a Session, flushes but does not commit, and returns plain results.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.cluster import Clusterer
from rootline.clustering.embedding import text_hash
from rootline.clustering.history import record_event
from rootline.clustering.labels import CTfidfLabeler, Labeler, representative_examples
from rootline.clustering.models import (
    ClusteringRun,
    EmbeddingCache,
    Theme,
    ThemeEvent,
    ThemeMembership,
)
from rootline.clustering.schemas import ThemeOut
from rootline.clustering.service import get_theme
from rootline.clustering.stats import corpus_boilerplate
from rootline.errors import InputError, NotFoundError, StateError
from rootline.ingest.models import Interaction

__all__ = [
    "accept_proposed",
    "check_merge",
    "check_undo",
    "mark_noise",
    "merge_themes",
    "move_interactions",
    "rename_theme",
    "split_theme",
    "undo_last_edit",
    "undoable_edit",
]

_EDITABLE = ("active", "proposed")


def _theme(session: Session, theme_id: int, allowed: Sequence[str] = _EDITABLE) -> Theme:
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFoundError(f"no theme with id {theme_id}")
    if theme.status not in allowed:
        raise StateError(
            f"theme {theme_id} is {theme.status}; only {' or '.join(allowed)} "
            "themes can be changed this way"
        )
    return theme


def _pin_members(session: Session, theme_id: int) -> None:
    """Make a theme's members manual placements, so full runs keep them where people put them."""
    session.execute(
        sa.update(ThemeMembership)
        .where(ThemeMembership.theme_id == theme_id)
        .values(source="manual", probability=1.0)
    )


def _recount(session: Session, theme: Theme) -> None:
    theme.size = (
        session.scalar(sa.select(sa.func.count()).where(ThemeMembership.theme_id == theme.id)) or 0
    )


def _centroid(theme: Theme) -> np.ndarray | None:
    return None if theme.centroid is None else np.frombuffer(theme.centroid, dtype=np.float32)


def rename_theme(session: Session, theme_id: int, title: str, *, actor: str) -> ThemeOut:
    """Give a theme a title of a person's choosing; automatic relabelling never overwrites it.

    Raises:
        NotFoundError: no such theme.
        InputError: the title is empty or longer than 255 characters.
    """
    title = " ".join(title.split())
    if not title or len(title) > 255:
        raise InputError("a theme title must have 1 to 255 characters", field="title")
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFoundError(f"no theme with id {theme_id}")
    record_event(session, theme.id, "renamed", actor=actor, old=theme.title, new=title)
    theme.title, theme.title_locked = title, True
    session.flush()
    return get_theme(session, theme_id)


def check_merge(session: Session, source_id: int, target_id: int) -> tuple[Theme, Theme]:
    """The two themes of a merge, refused as :func:`merge_themes` would refuse them.

    Raises:
        NotFoundError: either theme does not exist.
        InputError: a theme merged into itself.
        StateError: either theme is not active or proposed.
    """
    if source_id == target_id:
        raise InputError("a theme cannot be merged into itself")
    return _theme(session, source_id), _theme(session, target_id)


def merge_themes(session: Session, source_id: int, target_id: int, *, actor: str) -> ThemeOut:
    """Merge theme ``source_id`` into ``target_id``: its members move there as manual placements.

    The source keeps its id with status "merged" and a pointer to the target, so links to it
    still resolve.

    Raises:
        NotFoundError: either theme does not exist.
        InputError: a theme merged into itself.
        StateError: either theme is not active or proposed.
    """
    source, target = check_merge(session, source_id, target_id)
    # What an undo needs: the contacts that move, the source's status, the target's centroid.
    moving = sorted(
        session.scalars(
            sa.select(ThemeMembership.interaction_id).where(ThemeMembership.theme_id == source.id)
        )
    )
    undo = {
        "members": moving,
        "was": source.status,
        "target_centroid": (
            base64.b64encode(target.centroid).decode() if target.centroid is not None else None
        ),
    }
    # A bulk UPDATE's result is always a cursor result, which counts the rows it changed.
    result = cast(
        "sa.CursorResult[Any]",
        session.execute(
            sa.update(ThemeMembership)
            .where(ThemeMembership.theme_id == source.id)
            .values(theme_id=target.id, source="manual", probability=1.0)
        ),
    )
    moved = result.rowcount
    a, b = _centroid(source), _centroid(target)
    if a is not None and b is not None:  # size-weighted, so the next incremental run fits
        mixed = a * source.size + b * target.size
        target.centroid = (
            (mixed / max(float(np.linalg.norm(mixed)), 1e-12)).astype(np.float32).tobytes()
        )
    source.status, source.merged_into_id, source.size = "merged", target.id, 0
    _recount(session, target)
    record_event(session, source.id, "merged", actor=actor, into=target.id, moved=moved, **undo)
    record_event(session, target.id, "merged", actor=actor, absorbed=source.id, moved=moved)
    session.flush()
    return get_theme(session, target.id)


def _member_vectors(session: Session, theme_id: int) -> tuple[list[int], list[str], np.ndarray]:
    rows = session.execute(
        sa.select(Interaction.id, Interaction.body_clean)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(ThemeMembership.theme_id == theme_id)
        .order_by(Interaction.id)
    ).all()
    slug = session.scalar(
        sa.select(ClusteringRun.model_slug)
        .where(ClusteringRun.status == "succeeded")
        .order_by(ClusteringRun.id.desc())
        .limit(1)
    )
    boilerplate = corpus_boilerplate(session)
    hashes = [text_hash(boilerplate.remove(text)) for _, text in rows]
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), 500):
        chunk = list(set(hashes[start : start + 500]))
        for h, blob in session.execute(
            sa.select(EmbeddingCache.text_hash, EmbeddingCache.vector).where(
                EmbeddingCache.model_slug == slug, EmbeddingCache.text_hash.in_(chunk)
            )
        ):
            found[h] = np.frombuffer(blob, dtype=np.float32)
    if not rows or len(found) < len(set(hashes)):
        raise StateError(
            f"theme {theme_id} has members without cached vectors; run "
            "`rootline cluster --full` first"
        )
    return [r[0] for r in rows], [r[1] for r in rows], np.stack([found[h] for h in hashes])


def _two_way(vectors: np.ndarray, seed: int = 42) -> np.ndarray:
    """A plain 2-means split, for when the density clusterer finds no structure inside."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=2, n_init=4, random_state=seed).fit_predict(vectors)


def split_theme(
    session: Session,
    theme_id: int,
    clusterer: Clusterer,
    *,
    actor: str,
    labeler: Labeler | None = None,
) -> list[ThemeOut]:
    """Re-cluster one theme's members into new themes (each with ``split_from`` set).

    The clusterer runs on the members' cached vectors; members it leaves out join the nearest
    new theme, so nobody falls out of the themes. When it finds fewer than two groups, a
    2-means split is used, because a person asking for a split has seen two things in it.

    Raises:
        NotFoundError: no such theme.
        StateError: the theme is not active, has fewer than 4 members, or its vectors are
            not cached.
    """
    theme = _theme(session, theme_id, ("active",))
    ids, texts, vectors = _member_vectors(session, theme.id)
    if len(ids) < 4:
        raise StateError(f"theme {theme_id} has {len(ids)} members, too few to split")
    labels = clusterer.fit(vectors).labels
    if len(np.unique(labels[labels >= 0])) < 2:
        labels = _two_way(vectors)
    groups = [int(c) for c in np.unique(labels[labels >= 0])]
    cents = np.stack([vectors[labels == c].mean(axis=0) for c in groups])
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    dense = np.searchsorted(groups, np.where(labels >= 0, labels, groups[0]))
    dense = np.where(labels >= 0, dense, (vectors @ cents.T).argmax(axis=1))
    names = (labeler or CTfidfLabeler()).label(texts, dense)
    id_arr = np.asarray(ids)
    children: list[Theme] = []
    for k in range(len(groups)):
        mask = dense == k
        child = Theme(
            title=names[k].title,
            keywords=list(names[k].keywords),
            status="active",
            split_from_id=theme.id,
            size=int(mask.sum()),
            centroid=cents[k].astype(np.float32).tobytes(),
        )
        picks = representative_examples(vectors[mask], cents[k], n=5)
        child.examples = [int(id_arr[mask][p]) for p in picks]
        session.add(child)
        session.flush()
        session.execute(
            sa.update(ThemeMembership)
            .where(ThemeMembership.interaction_id.in_([int(i) for i in id_arr[mask]]))
            .values(theme_id=child.id, source="manual", probability=1.0)
        )
        record_event(
            session, child.id, "created", actor=actor, split_from=theme.id, size=child.size
        )
        children.append(child)
    theme.status, theme.size = "split", 0
    record_event(session, theme.id, "split", actor=actor, into=[c.id for c in children])
    session.flush()
    return [get_theme(session, c.id) for c in children]


def move_interactions(
    session: Session, interaction_ids: Sequence[int], target_id: int, *, actor: str
) -> ThemeOut:
    """Place interactions in a theme by hand; full runs keep them there.

    Raises:
        NotFoundError: the theme or one of the interactions does not exist.
        InputError: no interaction ids were given.
        StateError: the theme is merged, split or retired.
    """
    wanted = sorted(set(int(i) for i in interaction_ids))
    if not wanted:
        raise InputError("give at least one interaction id to move")
    target = _theme(session, target_id, ("active", "proposed", "noise"))
    known = set(session.scalars(sa.select(Interaction.id).where(Interaction.id.in_(wanted))))
    if missing := [i for i in wanted if i not in known]:
        raise NotFoundError(f"no interaction with id {', '.join(map(str, missing[:10]))}")
    previous: dict[int, int] = dict(
        session.execute(
            sa.select(ThemeMembership.interaction_id, ThemeMembership.theme_id).where(
                ThemeMembership.interaction_id.in_(wanted)
            )
        ).all()
    )
    session.execute(sa.delete(ThemeMembership).where(ThemeMembership.interaction_id.in_(wanted)))
    session.execute(
        sa.insert(ThemeMembership),
        [
            {"interaction_id": i, "theme_id": target.id, "probability": 1.0, "source": "manual"}
            for i in wanted
        ],
    )
    for tid in set(previous.values()) - {target.id}:
        old = session.get(Theme, tid)
        if old is not None:
            _recount(session, old)
            out = [i for i, t in previous.items() if t == tid]
            record_event(session, tid, "moved", actor=actor, out=out, to=target.id)
    _recount(session, target)
    record_event(session, target.id, "moved", actor=actor, into=wanted)
    session.flush()
    return get_theme(session, target.id)


def mark_noise(session: Session, theme_id: int, *, actor: str) -> ThemeOut:
    """Mark a theme as "not a theme": its members, and new texts closest to it, stay unthemed.

    Raises:
        NotFoundError: no such theme.
        StateError: the theme is not active or proposed.
    """
    theme = _theme(session, theme_id)
    _pin_members(session, theme.id)
    was = theme.status
    theme.status = "noise"
    record_event(session, theme.id, "marked_noise", actor=actor, size=theme.size, was=was)
    session.flush()
    return get_theme(session, theme.id)


def accept_proposed(session: Session, theme_id: int, *, actor: str) -> ThemeOut:
    """Promote a proposed theme (found in the novelty pool) to an active one.

    Raises:
        NotFoundError: no such theme.
        StateError: the theme is not proposed.
    """
    theme = _theme(session, theme_id, ("proposed",))
    theme.status = "active"
    record_event(session, theme.id, "accepted", actor=actor, size=theme.size)
    session.flush()
    return get_theme(session, theme.id)


def undoable_edit(session: Session, theme_id: int) -> ThemeEvent | None:
    """The edit an undo would take back: the theme's latest event, if it is a merge of this
    theme into another or a "not a theme" mark, made since the clustering run and undone by
    nobody (merges recorded before undo existed cannot be taken back)."""
    theme = session.get(Theme, theme_id)
    if theme is None or theme.status not in ("merged", "noise"):
        return None
    last = session.scalars(
        sa.select(ThemeEvent)
        .where(ThemeEvent.theme_id == theme_id)
        .order_by(ThemeEvent.at.desc(), ThemeEvent.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return None
    if theme.status == "merged" and last.kind == "merged" and "members" in (last.details or {}):
        return last
    if theme.status == "noise" and last.kind == "marked_noise":
        return last
    return None


def check_undo(session: Session, theme_id: int) -> ThemeEvent:
    """The edit :func:`undo_last_edit` would take back, or the reason it would refuse.

    Raises:
        NotFoundError: no such theme.
        StateError: nothing to undo.
    """
    if session.get(Theme, theme_id) is None:
        raise NotFoundError(f"no theme with id {theme_id}")
    event = undoable_edit(session, theme_id)
    if event is None:
        raise StateError(
            f"theme {theme_id} has no merge or “not a theme” mark to undo (only the latest "
            "edit can be undone, before anything else changes the theme)"
        )
    return event


def undo_last_edit(session: Session, theme_id: int, *, actor: str) -> ThemeOut:
    """Take back the theme's last merge or "not a theme" mark (see :func:`undoable_edit`).

    A merge is undone by moving the contacts it moved, those still in the target, back to
    this theme (as manual placements), giving it back its status and the target its centroid.
    A "not a theme" mark is undone by giving the theme back its status.

    Raises:
        NotFoundError: no such theme.
        StateError: nothing to undo (not merged or noise, or changed again since).
    """
    theme = session.get(Theme, theme_id)
    event = check_undo(session, theme_id)
    assert theme is not None  # check_undo found it
    details = dict(event.details or {})
    if event.kind == "marked_noise":
        theme.status = str(details.get("was") or "active")
        record_event(session, theme.id, "undone", actor=actor, undid="marked_noise")
        session.flush()
        return get_theme(session, theme.id)
    target = session.get(Theme, int(details["into"]))
    if target is None or target.status not in ("active", "proposed", "noise"):
        raise StateError(
            f"theme {theme_id} was merged into theme {details['into']}, which has since been "
            "merged, split or retired; move the contacts back by hand"
        )
    wanted = [int(i) for i in details.get("members") or []]
    back = (
        list(
            session.scalars(
                sa.select(ThemeMembership.interaction_id).where(
                    ThemeMembership.theme_id == target.id,
                    ThemeMembership.interaction_id.in_(wanted),
                )
            )
        )
        if wanted
        else []
    )
    if back:
        session.execute(
            sa.update(ThemeMembership)
            .where(ThemeMembership.interaction_id.in_(back))
            .values(theme_id=theme.id, source="manual", probability=1.0)
        )
    if details.get("target_centroid"):
        target.centroid = base64.b64decode(str(details["target_centroid"]))
    theme.status, theme.merged_into_id = str(details.get("was") or "active"), None
    _recount(session, theme)
    _recount(session, target)
    record_event(
        session, theme.id, "undone", actor=actor, undid="merged", out_of=target.id, moved=len(back)
    )
    record_event(
        session,
        target.id,
        "undone",
        actor=actor,
        undid="merged",
        gave_back=theme.id,
        moved=len(back),
    )
    session.flush()
    return get_theme(session, theme.id)
