"""Clustering use cases: build and update themes in the database, list them, score them.

A full run re-clusters everything and keeps theme ids where the new clusters match old
themes; an incremental run places new interactions into existing themes. Either way the
work happens in one transaction: a failed run leaves the previous themes as they were.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.cluster import Clusterer, assign_to_centroids, centroids_of
from rootline.clustering.embedding import Embedder, embed_with_cache
from rootline.clustering.labels import CTfidfLabeler, Labeler, representative_examples
from rootline.clustering.matching import match_clusters
from rootline.clustering.metrics import score_themes
from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.clustering.schemas import ExampleOut, ThemeOut
from rootline.db import utcnow
from rootline.errors import InputError, NotFoundError, StateError
from rootline.ingest.models import Interaction

__all__ = [
    "ClusterProgress",
    "evaluate",
    "get_theme",
    "iter_assignments",
    "list_themes",
    "record_failed_run",
    "run_clustering",
]


@dataclass
class ClusterProgress:
    """Callbacks the caller can use to show progress; every one is optional."""

    embed_total: Callable[[int], None] | None = None
    embed_advance: Callable[[int], None] | None = None
    stage: Callable[[str], None] | None = None

    def say(self, text: str) -> None:
        if self.stage:
            self.stage(text)


def _vec(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.float32)


def _load_texts(session: Session, only_unthemed: bool) -> tuple[list[int], list[str]]:
    query = sa.select(Interaction.id, Interaction.body_clean).where(Interaction.body_clean != "")
    if only_unthemed:
        query = query.where(~sa.exists().where(ThemeMembership.interaction_id == Interaction.id))
    rows = session.execute(query.order_by(Interaction.id)).all()
    return [r[0] for r in rows], [r[1] for r in rows]


def _embed(session: Session, embedder: Embedder, texts: Sequence[str], progress: ClusterProgress):
    if progress.embed_total:
        progress.embed_total(len(texts))
    vectors, encoded = embed_with_cache(session, embedder, texts, progress=progress.embed_advance)
    return vectors, encoded


def _describe(
    theme: Theme,
    ids: np.ndarray,
    texts: Sequence[str],
    vectors: np.ndarray,
    labeler_out: Any,
) -> None:
    centroid = vectors.mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    theme.centroid = centroid.astype(np.float32).tobytes()
    theme.size = len(ids)
    theme.keywords = list(labeler_out.keywords)
    if not theme.title_locked:
        theme.title = labeler_out.title
    picks = representative_examples(vectors, centroid, n=5)
    theme.examples = [int(ids[p]) for p in picks]


def _full_run(
    session: Session,
    run: ClusteringRun,
    embedder: Embedder,
    clusterer: Clusterer,
    labeler: Labeler,
    progress: ClusterProgress,
) -> None:
    ids, texts = _load_texts(session, only_unthemed=False)
    if not ids:
        raise StateError("nothing to cluster: ingest some interactions first")
    progress.say(f"embedding {len(ids)} texts")
    vectors, encoded = _embed(session, embedder, texts, progress)
    progress.say("clustering")
    result = clusterer.fit(vectors)
    labels = result.labels.copy()
    id_arr = np.asarray(ids)
    index = {iid: i for i, iid in enumerate(ids)}

    # People's placements win over the algorithm: manual members stay where they were put.
    manual = dict(
        session.execute(
            sa.select(ThemeMembership.interaction_id, ThemeMembership.theme_id).where(
                ThemeMembership.source == "manual"
            )
        ).all()
    )
    for iid in manual:
        if iid in index:
            labels[index[iid]] = -1

    old_members: dict[int, set[int]] = defaultdict(set)
    for iid, tid in session.execute(
        sa.select(ThemeMembership.interaction_id, ThemeMembership.theme_id)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status == "active")
    ):
        old_members[tid].add(iid)
    old_themes = {t.id: t for t in session.scalars(sa.select(Theme).where(Theme.status == "active"))}
    old_centroids = {tid: v for tid, t in old_themes.items() if (v := _vec(t.centroid)) is not None}
    new_members = {int(c): set(id_arr[labels == c].tolist()) for c in np.unique(labels[labels >= 0])}
    new_centroids = dict(enumerate(centroids_of(vectors, labels)))
    new_centroids = {c: new_centroids[c] for c in new_members}
    mapping = match_clusters(
        {t: m for t, m in old_members.items() if t in old_centroids}, new_members,
        old_centroids, new_centroids,
    )
    progress.say("labelling themes")
    names = labeler.label(texts, labels)

    session.execute(sa.delete(ThemeMembership).where(ThemeMembership.source == "auto"))
    kept: set[int] = set()
    rows = []
    for c in new_members:
        theme = old_themes.get(mapping[c]) if c in mapping else None
        if theme is None:
            theme = Theme(title=names[c].title, created_run_id=run.id, status="active")
            session.add(theme)
        theme.updated_run_id = run.id
        session.flush()
        kept.add(theme.id)
        mask = labels == c
        _describe(theme, id_arr[mask], texts, vectors[mask], names[c])
        for i in np.nonzero(mask)[0]:
            rows.append({"interaction_id": int(id_arr[i]), "theme_id": theme.id,
                         "probability": float(result.probabilities[i]), "source": "auto",
                         "run_id": run.id})
    for tid, theme in old_themes.items():
        if tid not in kept:
            has_manual = tid in set(manual.values())
            theme.status = "active" if has_manual else "retired"
            theme.updated_run_id = run.id
    if rows:
        session.execute(sa.insert(ThemeMembership), rows)
    session.flush()
    for tid in set(manual.values()):
        theme = session.get(Theme, tid)
        if theme is not None:
            theme.size = session.scalar(
                sa.select(sa.func.count()).where(ThemeMembership.theme_id == tid)
            ) or 0

    run.n_interactions = len(ids)
    run.params = {**run.params, **result.params}
    n_noise = int((labels < 0).sum())
    run.metrics = {
        "themes": len(new_members),
        "noise_share": round(n_noise / len(ids), 4),
        "encoded": encoded,
        "kept_theme_ids": len(mapping),
        "retired_themes": len(set(old_themes) - kept),
    }


def _incremental_run(
    session: Session, run: ClusteringRun, embedder: Embedder, progress: ClusterProgress,
    min_similarity: float,
) -> None:
    ids, texts = _load_texts(session, only_unthemed=True)
    run.n_interactions = len(ids)
    themes = list(session.scalars(sa.select(Theme).where(Theme.status == "active",
                                                         Theme.centroid.is_not(None))))
    if not ids or not themes:
        run.metrics = {"assigned": 0, "novel": len(ids)}
        return
    progress.say(f"embedding {len(ids)} new texts")
    vectors, encoded = _embed(session, embedder, texts, progress)
    centroids = np.stack([_vec(t.centroid) for t in themes])
    labels, sims = assign_to_centroids(vectors, centroids, min_similarity)
    rows = [
        {"interaction_id": iid, "theme_id": themes[lab].id, "probability": float(sim),
         "source": "auto", "run_id": run.id}
        for iid, lab, sim in zip(ids, labels, sims, strict=True) if lab >= 0
    ]
    if rows:
        session.execute(sa.insert(ThemeMembership), rows)
    counts = np.bincount(labels[labels >= 0], minlength=len(themes))
    for theme, extra in zip(themes, counts, strict=True):
        if extra:
            theme.size += int(extra)
            theme.updated_run_id = run.id
    run.params = {**run.params, "min_similarity": min_similarity}
    run.metrics = {"assigned": len(rows), "novel": len(ids) - len(rows), "encoded": encoded}


def run_clustering(
    session: Session,
    embedder: Embedder,
    clusterer: Clusterer,
    *,
    full: bool = False,
    labeler: Labeler | None = None,
    progress: ClusterProgress | None = None,
) -> ClusteringRun:
    """Build or update themes.

    Without ``full``, and when themes exist, new interactions are placed into existing themes
    (those that fit none stay unthemed). With ``full`` or on the first run, everything is
    re-clustered, keeping theme ids and human edits where the new clusters match.

    The caller commits; on an exception it must roll back, which leaves earlier themes intact.
    """
    progress = progress or ClusterProgress()
    has_themes = session.scalar(sa.select(sa.func.count()).select_from(Theme)) or 0
    kind = "full" if full or not has_themes else "incremental"
    run = ClusteringRun(kind=kind, model_slug=embedder.slug, params={}, status="running")
    session.add(run)
    session.flush()
    if kind == "full":
        _full_run(session, run, embedder, clusterer, labeler or CTfidfLabeler(), progress)
    else:
        last = session.scalars(
            sa.select(ClusteringRun).where(ClusteringRun.kind == "full",
                                           ClusteringRun.status == "succeeded")
            .order_by(ClusteringRun.id.desc())
        ).first()
        floor = float((last.params if last else {}).get("assign_similarity", 0.5))
        _incremental_run(session, run, embedder, progress, floor)
    run.status = "succeeded"
    run.finished_at = utcnow()
    session.flush()
    return run


def record_failed_run(session: Session, *, full: bool, model_slug: str, error: str) -> ClusteringRun:
    """Record a run that failed, in its own transaction, so the failure is visible later."""
    run = ClusteringRun(kind="full" if full else "incremental", model_slug=model_slug,
                        params={}, status="failed", error=error[:2000], finished_at=utcnow())
    session.add(run)
    session.flush()
    return run


def _examples(session: Session, ids: list[int]) -> list[ExampleOut]:
    if not ids:
        return []
    rows = {
        r.id: r
        for r in session.execute(
            sa.select(Interaction.id, Interaction.source, Interaction.external_id,
                      Interaction.body_clean).where(Interaction.id.in_(ids))
        )
    }
    return [ExampleOut(interaction_id=i, source=rows[i].source, external_id=rows[i].external_id,
                       text=rows[i].body_clean) for i in ids if i in rows]


def _theme_out(session: Session, theme: Theme, with_examples: bool) -> ThemeOut:
    return ThemeOut(
        id=theme.id, title=theme.title, keywords=list(theme.keywords or []), size=theme.size,
        status=theme.status, title_locked=theme.title_locked, created_run_id=theme.created_run_id,
        merged_into=theme.merged_into_id, split_from=theme.split_from_id,
        examples=_examples(session, list(theme.examples or [])) if with_examples else [],
    )


def list_themes(
    session: Session, *, include_inactive: bool = False, with_examples: bool = False
) -> list[ThemeOut]:
    """Themes, largest first."""
    query = sa.select(Theme).order_by(Theme.size.desc(), Theme.id)
    if not include_inactive:
        query = query.where(Theme.status == "active")
    return [_theme_out(session, t, with_examples) for t in session.scalars(query)]


def get_theme(session: Session, theme_id: int) -> ThemeOut:
    """One theme with its examples.

    Raises:
        NotFoundError: if there is no such theme.
    """
    theme = session.get(Theme, theme_id)
    if theme is None:
        raise NotFoundError(f"no theme with id {theme_id}")
    return _theme_out(session, theme, with_examples=True)


def theme_interactions(
    session: Session, theme_id: int, *, offset: int = 0, limit: int = 50, query: str | None = None
) -> tuple[int, list[Interaction]]:
    """A page of a theme's interactions, newest first, optionally filtered by a text search."""
    base = (
        sa.select(Interaction)
        .join(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .where(ThemeMembership.theme_id == theme_id)
    )
    if query:
        like = f"%{query.lower()}%"
        base = base.where(sa.func.lower(Interaction.body_clean).like(like))
    total = session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
    rows = session.scalars(
        base.order_by(Interaction.created_at.desc().nulls_last(), Interaction.id.desc())
        .offset(offset).limit(limit)
    ).all()
    return total, list(rows)


def iter_assignments(session: Session) -> Iterator[tuple[str, str, int | None]]:
    """Every interaction's (source, external_id, theme id or None), in id order."""
    query = (
        sa.select(Interaction.source, Interaction.external_id, ThemeMembership.theme_id)
        .outerjoin(ThemeMembership, ThemeMembership.interaction_id == Interaction.id)
        .order_by(Interaction.id)
        .execution_options(yield_per=5000)
    )
    for source, ext, tid in session.execute(query):
        yield str(source), str(ext), tid


_CORE_FIELDS = {"channel", "status", "agent", "source", "subject"}


def evaluate(session: Session, field: str) -> dict[str, Any]:
    """Score current themes against a gold label kept from ingest (an extra field or column).

    Raises:
        InputError: if no interaction has a value for ``field``.
    """
    if field in _CORE_FIELDS:
        label_col: Any = getattr(Interaction, field)
        query = sa.select(label_col, ThemeMembership.theme_id)
    else:
        query = sa.select(Interaction.extra, ThemeMembership.theme_id)
    query = query.select_from(Interaction).outerjoin(
        ThemeMembership, ThemeMembership.interaction_id == Interaction.id
    )
    gold: list[str | None] = []
    themes: list[int | None] = []
    for value, tid in session.execute(query.execution_options(yield_per=5000)):
        if field not in _CORE_FIELDS:
            value = (value or {}).get(field)
        gold.append(None if value in (None, "") else str(value))
        themes.append(tid)
    if not any(g is not None for g in gold):
        raise InputError(f"no interaction has a value for field {field!r}", field=field)
    return score_themes(gold, themes)
