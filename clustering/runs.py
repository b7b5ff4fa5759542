"""Clustering runs: build themes from scratch, or place new interactions into existing ones.

A full run re-clusters every text and keeps what people decided: manual placements stay, a
cluster made mostly of people's placements (a merge, a split, a move, a "not a theme" mark)
follows those placements, and the other clusters are matched to the previous themes so their
ids survive. An incremental run places new texts into existing themes without moving placed
ones; texts that fit nowhere wait in the novelty pool, whose dense groups become proposed
themes. Either way the run is one transaction: a failure leaves the previous themes as they were.
"""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.cluster import Clusterer, assign_to_centroids
from rootline.clustering.embedding import Embedder, embed_with_cache
from rootline.clustering.history import record_event
from rootline.clustering.labels import CTfidfLabeler, Label, Labeler, representative_examples
from rootline.clustering.matching import match_clusters
from rootline.clustering.models import ClusteringRun, Theme, ThemeMembership
from rootline.clustering.stats import last_full_run
from rootline.db import utcnow
from rootline.errors import StateError
from rootline.ingest.boilerplate import Boilerplate, learn
from rootline.ingest.models import Interaction

__all__ = [
    "LIVE_STATUSES",
    "PLACEABLE_STATUSES",
    "ClusterProgress",
    "assign_floor",
    "fail_run",
    "mark_interrupted_runs",
    "member_floor",
    "run_clustering",
    "start_run",
]

#: Themes a full run may match new clusters to (their ids survive).
LIVE_STATUSES = ("active", "proposed")
#: Themes an incremental run may place new texts into; "noise" keeps its look-alikes out.
PLACEABLE_STATUSES = ("active", "proposed", "noise")
#: Used only when a full run recorded neither floor (runs older than these parameters).
_DEFAULT_FLOOR = 0.5
#: The data-derived floor: this percentile of member-to-centroid similarity.
_FLOOR_PERCENTILE = 5
#: A proposed theme needs at least this many texts from the novelty pool.
MIN_PROPOSED_SIZE = 5
#: Memberships per INSERT: keeps the parameter lists small whatever the number of texts.
_INSERT_BATCH = 20_000
#: Texts per pass through the embedding cache: bounds the temporaries of a large corpus.
_EMBED_CHUNK = 50_000


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


def _unit_mean(vectors: np.ndarray) -> np.ndarray:
    centroid = vectors.mean(axis=0)
    return (centroid / max(float(np.linalg.norm(centroid)), 1e-12)).astype(np.float32)


def _load_texts(
    session: Session, *, only_unthemed: bool, after_id: int = 0
) -> tuple[list[int], list[str]]:
    query = sa.select(Interaction.id, Interaction.body_clean).where(Interaction.body_clean != "")
    if only_unthemed:
        query = query.where(~sa.exists().where(ThemeMembership.interaction_id == Interaction.id))
    if after_id:
        query = query.where(Interaction.id > after_id)
    rows = session.execute(query.order_by(Interaction.id)).all()
    return [r[0] for r in rows], [r[1] for r in rows]


def _embed(
    session: Session, embedder: Embedder, texts: Sequence[str], progress: ClusterProgress
) -> tuple[np.ndarray, int]:
    """Vectors of ``texts`` (from the cache or encoded and cached) and how many were encoded.

    The texts go through the cache a chunk at a time into one preallocated array, so the
    temporaries of a lookup and an encode are a chunk's, not the corpus's, whatever its size;
    a text repeated in a later chunk is found in the cache the earlier chunk filled.
    """
    if progress.embed_total:
        progress.embed_total(len(texts))
    if len(texts) <= _EMBED_CHUNK:
        return embed_with_cache(session, embedder, texts, progress=progress.embed_advance)
    out: np.ndarray | None = None
    encoded = 0
    for lo in range(0, len(texts), _EMBED_CHUNK):
        chunk, n = embed_with_cache(
            session, embedder, texts[lo : lo + _EMBED_CHUNK], progress=progress.embed_advance
        )
        if out is None:
            out = np.empty((len(texts), chunk.shape[1]), dtype=np.float32)
        out[lo : lo + len(chunk)] = chunk
        encoded += n
    assert out is not None
    return out, encoded


def _insert_memberships(
    session: Session, ids: np.ndarray, theme_ids: np.ndarray, probabilities: np.ndarray, run_id: int
) -> None:
    """Insert automatic memberships in bounded batches."""
    for lo in range(0, len(ids), _INSERT_BATCH):
        hi = lo + _INSERT_BATCH
        session.execute(
            sa.insert(ThemeMembership),
            [
                {
                    "interaction_id": int(i),
                    "theme_id": int(t),
                    "probability": float(p),
                    "source": "auto",
                    "run_id": run_id,
                }
                for i, t, p in zip(ids[lo:hi], theme_ids[lo:hi], probabilities[lo:hi], strict=True)
            ],
        )


def member_floor(vectors: np.ndarray, labels: np.ndarray) -> float | None:
    """The similarity to its own centroid that all but the least typical 5% of members reach.

    A new text at least this close to a theme's centroid is as typical as the theme's own
    members, whatever the embedder's similarity scale; that makes it a floor for placing new
    texts that needs no tuning per model.
    """
    mask = labels >= 0
    if not mask.any():
        return None
    sims = np.empty(int(mask.sum()), dtype=np.float32)
    members = np.nonzero(mask)[0]
    for lab in np.unique(labels[mask]):
        in_theme = labels[members] == lab
        rows = members[in_theme]
        sims[in_theme] = vectors[rows] @ _unit_mean(vectors[rows])
    return round(float(np.percentile(sims, _FLOOR_PERCENTILE)), 4)


def assign_floor(params: dict[str, Any]) -> float:
    """The similarity a new text needs to join a theme, from a full run's parameters.

    The clusterer's own ``assign_similarity`` (how close a leftover text must be to join a
    cluster) is used, lowered to the data-derived ``member_floor`` when the themes are looser
    than that: a text as close as a typical member belongs as much as that member does.
    """
    found = [
        float(params[k]) for k in ("assign_similarity", "member_floor") if params.get(k) is not None
    ]
    return min(found) if found else _DEFAULT_FLOOR


def _describe(theme: Theme, ids: np.ndarray, vectors: np.ndarray, label: Label) -> bool:
    """Refresh a theme's centroid, size, keywords, examples and (unless locked) title.

    Returns:
        Whether the title changed.
    """
    centroid = _unit_mean(vectors)
    theme.centroid = centroid.tobytes()
    theme.size = len(ids)
    theme.keywords = list(label.keywords)
    picks = representative_examples(vectors, centroid, n=5)
    theme.examples = [int(ids[p]) for p in picks]
    if theme.title_locked or theme.title == label.title:
        return False
    theme.title = label.title
    return True


def _follow_people(
    labels: np.ndarray, placed: np.ndarray, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Let people's placements win over the algorithm.

    A cluster mostly made of manually placed texts is what a person already decided about
    (merged, split, moved, marked as noise): its other texts join the nearest of those
    people-made themes instead of forming a theme again. Elsewhere manual texts simply leave
    their cluster.

    Args:
        labels: cluster per row (-1 = none); a copy is returned.
        placed: theme id per row for manual placements, 0 elsewhere; a copy is returned.
        vectors: unit vectors per row.

    Returns:
        Remaining cluster labels, theme id per row decided so far, how many texts followed.
    """
    labels, placed = labels.copy(), placed.copy()
    is_manual = placed > 0
    followed = 0
    for c in np.unique(labels[labels >= 0]):
        mask = labels == c
        if is_manual[mask].mean() >= 0.5:
            held = np.unique(placed[mask & is_manual])
            free = np.nonzero(mask & ~is_manual)[0]
            if free.size:
                cents = np.stack([_unit_mean(vectors[placed == t]) for t in held])
                placed[free] = held[(vectors[free] @ cents.T).argmax(axis=1)]
                followed += int(free.size)
            labels[mask] = -1
        else:
            labels[mask & is_manual] = -1
    return labels, placed, followed


@dataclass
class _Corpus:
    """Every text a full run clusters, with its vector."""

    ids: np.ndarray
    texts: list[str]
    vectors: np.ndarray
    encoded: int
    boilerplate: Boilerplate


@dataclass
class _Before:
    """What the database held before the run: themes that may keep their ids, their members,
    and people's placements (theme id per corpus row, 0 where none)."""

    themes: dict[int, Theme]
    members: dict[int, set[int]]
    centroids: dict[int, np.ndarray]
    manual: np.ndarray


@dataclass
class _Placement:
    """The run's answer per corpus row: a theme id (0 = unthemed), and the themes it made."""

    themes: np.ndarray
    automatic: np.ndarray
    created: list[int]
    groups: dict[int, int]
    followed: int


def _read_corpus(session: Session, embedder: Embedder, progress: ClusterProgress) -> _Corpus:
    ids, texts = _load_texts(session, only_unthemed=False)
    if not ids:
        raise StateError("nothing to cluster: ingest some interactions first")
    progress.say("finding boilerplate")
    boilerplate = learn(texts)
    if boilerplate:
        texts = [boilerplate.remove(t) for t in texts]
    progress.say(f"embedding {len(ids)} texts")
    vectors, encoded = _embed(session, embedder, texts, progress)
    return _Corpus(np.asarray(ids), texts, vectors, encoded, boilerplate)


def _read_before(session: Session, ids: np.ndarray) -> _Before:
    index = {int(iid): i for i, iid in enumerate(ids)}
    manual = np.zeros(len(ids), dtype=np.int64)
    members: dict[int, set[int]] = defaultdict(set)
    for iid, tid, source, status in session.execute(
        sa.select(
            ThemeMembership.interaction_id,
            ThemeMembership.theme_id,
            ThemeMembership.source,
            Theme.status,
        ).join(Theme, Theme.id == ThemeMembership.theme_id)
    ):
        if source == "manual" and iid in index:
            manual[index[iid]] = tid
        if status in LIVE_STATUSES:
            members[tid].add(iid)
    themes = {
        t.id: t for t in session.scalars(sa.select(Theme).where(Theme.status.in_(LIVE_STATUSES)))
    }
    centroids = {tid: v for tid, t in themes.items() if (v := _vec(t.centroid)) is not None}
    return _Before(themes, members, centroids, manual)


def _place(
    session: Session, run: ClusteringRun, corpus: _Corpus, result: Any, before: _Before
) -> _Placement:
    """Clusters become themes: people's placements first, then each remaining cluster keeps
    the id of the previous theme it matches, or becomes a new theme."""
    labels, placed, followed = _follow_people(result.labels, before.manual, corpus.vectors)
    clusters = [int(c) for c in np.unique(labels[labels >= 0])]
    new_members = {c: set(corpus.ids[labels == c].tolist()) for c in clusters}
    mapping = match_clusters(
        {t: m for t, m in before.members.items() if t in before.centroids},
        new_members,
        before.centroids,
        {c: _unit_mean(corpus.vectors[labels == c]) for c in clusters},
    )
    created: list[int] = []
    # Each theme's parent group, from the clusterer's groups of its clusters (if it has any).
    parents = result.params.get("parents") or []
    groups: dict[int, int] = {}
    for c in clusters:
        theme = before.themes.get(mapping[c]) if c in mapping else None
        if theme is None:
            theme = Theme(title="(new theme)", created_run_id=run.id, status="active")
            session.add(theme)
            session.flush()
            created.append(theme.id)
            record_event(session, theme.id, "created", run_id=run.id, size=len(new_members[c]))
        placed[labels == c] = theme.id
        if c < len(parents):
            groups[theme.id] = int(parents[c])
    automatic = (placed > 0) & (before.manual == 0)
    return _Placement(placed, automatic, created, groups, followed)


def _save_memberships(
    session: Session, run: ClusteringRun, corpus: _Corpus, result: Any, placement: _Placement
) -> None:
    """The run's automatic memberships replace the previous ones; manual ones stay."""
    session.execute(sa.delete(ThemeMembership).where(ThemeMembership.source == "auto"))
    rows = np.nonzero(placement.automatic)[0]
    _insert_memberships(
        session,
        corpus.ids[rows],
        placement.themes[rows],
        result.probabilities[rows],
        run.id,
    )


def _describe_themes(
    session: Session,
    run: ClusteringRun,
    corpus: _Corpus,
    placement: _Placement,
    labeler: Labeler,
    before: _Before,
) -> dict[int, Theme]:
    """Title, keywords, centroid and examples of every theme with members; previous themes
    left without any are retired. Returns the themes with members."""
    placed = placement.themes
    present = [int(t) for t in np.unique(placed[placed > 0])]
    dense = np.searchsorted(present, placed) if present else placed
    names = labeler.label(corpus.texts, np.where(placed > 0, dense, -1))
    themes = {t.id: t for t in session.scalars(sa.select(Theme).where(Theme.id.in_(present)))}
    for k, tid in enumerate(present):
        theme = themes[tid]
        mask = placed == tid
        old_title = theme.title
        changed = _describe(theme, corpus.ids[mask], corpus.vectors[mask], names[k])
        if changed and tid not in placement.created:
            record_event(session, tid, "relabelled", run_id=run.id, old=old_title, new=theme.title)
        theme.updated_run_id = run.id
    for tid, theme in before.themes.items():
        if tid not in themes:
            theme.status, theme.size, theme.updated_run_id = "retired", 0, run.id
            record_event(session, tid, "retired", run_id=run.id)
    session.flush()
    return themes


def _record_run(
    run: ClusteringRun,
    corpus: _Corpus,
    result: Any,
    placement: _Placement,
    before: _Before,
    themes: dict[int, Theme],
) -> None:
    live = [t for t, theme in themes.items() if theme.status == "active"]
    themed = np.isin(placement.themes, live)
    run.n_interactions = len(corpus.ids)
    run.params = {
        **run.params,
        **result.params,
        "member_floor": member_floor(corpus.vectors, np.where(themed, placement.themes, -1)),
        "theme_groups": {str(t): g for t, g in placement.groups.items() if t in live},
        "max_interaction_id": int(corpus.ids.max()),
        "boilerplate": corpus.boilerplate.as_list(),
    }
    run.metrics = {
        "themes": len(live),
        "noise_share": round(1 - float(themed.mean()), 4),
        "encoded": corpus.encoded,
        "kept_theme_ids": len(set(before.themes) & set(themes)),
        "new_themes": len(placement.created),
        "retired_themes": len(set(before.themes) - set(themes)),
        "followed_people": placement.followed,
        "cluster_seconds": result.seconds,
    }


def _full_run(
    session: Session,
    run: ClusteringRun,
    embedder: Embedder,
    clusterer: Clusterer,
    labeler: Labeler,
    progress: ClusterProgress,
) -> None:
    corpus = _read_corpus(session, embedder, progress)
    progress.say("clustering")
    previous = last_full_run(session)
    continuing = getattr(clusterer, "continuing", None)
    if previous is not None and continuing is not None:
        clusterer = continuing(previous.params or {})
    result = clusterer.fit(corpus.vectors)
    before = _read_before(session, corpus.ids)
    placement = _place(session, run, corpus, result, before)
    progress.say("saving memberships")
    _save_memberships(session, run, corpus, result, placement)
    progress.say("labelling themes")
    themes = _describe_themes(session, run, corpus, placement, labeler, before)
    _record_run(run, corpus, result, placement, before, themes)


def _context_texts(session: Session, per_theme: int = 25) -> list[str]:
    """Up to ``per_theme`` most confident members of each placeable theme."""
    rank = (
        sa.func.row_number()
        .over(
            partition_by=ThemeMembership.theme_id,
            order_by=(ThemeMembership.probability.desc(), ThemeMembership.interaction_id),
        )
        .label("rank")
    )
    ranked = (
        sa.select(ThemeMembership.interaction_id, rank)
        .join(Theme, Theme.id == ThemeMembership.theme_id)
        .where(Theme.status.in_(PLACEABLE_STATUSES))
        .subquery()
    )
    return list(
        session.scalars(
            sa.select(Interaction.body_clean)
            .join(ranked, ranked.c.interaction_id == Interaction.id)
            .where(ranked.c.rank <= per_theme, Interaction.body_clean != "")
            .order_by(Interaction.id)
        )
    )


def _propose_from_pool(
    session: Session,
    run: ClusteringRun,
    embedder: Embedder,
    clusterer: Clusterer,
    labeler: Labeler,
    floor: float,
    after_id: int,
    boilerplate: Boilerplate,
) -> tuple[int, int]:
    """Turn dense groups of the novelty pool into proposed themes.

    The pool is what arrived after the last full run and fits no theme; what that run left
    unthemed is not in it, since the run already judged it. The pool is clustered together
    with the existing themes' most confident members, so that a pool holding one single
    group still has company to stand out from (density clusterers find no cluster in a set
    that is all one cluster). A cluster becomes a proposed theme from its pool texts when
    they are most of it, number at least ``MIN_PROPOSED_SIZE`` and have a median similarity
    to their centroid of at least ``floor`` (as tight as an existing theme).

    Returns:
        The pool size and how many themes were proposed.
    """
    ids, texts = _load_texts(session, only_unthemed=True, after_id=after_id)
    if len(ids) < MIN_PROPOSED_SIZE:
        return len(ids), 0
    texts = [boilerplate.remove(t) for t in texts]
    context = [boilerplate.remove(t) for t in _context_texts(session)]
    vectors, _ = embed_with_cache(session, embedder, [*texts, *context])  # cached by now
    labels = clusterer.fit(vectors).labels
    in_pool = np.arange(len(vectors)) < len(ids)
    groups = [
        int(c)
        for c in np.unique(labels[labels >= 0])
        if in_pool[labels == c].mean() >= 0.5
        and (in_pool & (labels == c)).sum() >= MIN_PROPOSED_SIZE
    ]
    pool_labels = np.where(np.isin(labels[: len(ids)], groups), labels[: len(ids)], -1)
    pool_labels = np.where(pool_labels >= 0, np.searchsorted(groups, pool_labels), -1)
    if not groups:
        return len(ids), 0
    names = labeler.label(texts, pool_labels)
    id_arr, pool_vectors = np.asarray(ids), vectors[: len(ids)]
    proposed = 0
    for k in range(len(groups)):
        mask = pool_labels == k
        centroid = _unit_mean(pool_vectors[mask])
        if np.median(pool_vectors[mask] @ centroid) < floor:
            continue
        theme = Theme(
            title=names[k].title, status="proposed", created_run_id=run.id, updated_run_id=run.id
        )
        session.add(theme)
        session.flush()
        _describe(theme, id_arr[mask], pool_vectors[mask], names[k])
        session.execute(
            sa.insert(ThemeMembership),
            [
                {
                    "interaction_id": int(i),
                    "theme_id": theme.id,
                    "probability": 1.0,
                    "source": "auto",
                    "run_id": run.id,
                }
                for i in id_arr[mask]
            ],
        )
        record_event(session, theme.id, "proposed", run_id=run.id, size=int(mask.sum()))
        proposed += 1
    return len(ids), proposed


def _incremental_run(
    session: Session,
    run: ClusteringRun,
    embedder: Embedder,
    clusterer: Clusterer,
    labeler: Labeler,
    progress: ClusterProgress,
    last_full: ClusteringRun | None,
) -> None:
    params = dict(last_full.params) if last_full else {}
    floor = assign_floor(params)
    # Only what arrived since the last full run: what that run left unthemed, it judged.
    after_id = int(params.get("max_interaction_id") or 0)
    ids, texts = _load_texts(session, only_unthemed=True, after_id=after_id)
    boilerplate = Boilerplate.from_list(params.get("boilerplate"))
    texts = [boilerplate.remove(t) for t in texts]
    run.n_interactions = len(ids)
    themes = list(
        session.scalars(
            sa.select(Theme)
            .where(Theme.status.in_(PLACEABLE_STATUSES), Theme.centroid.is_not(None))
            .order_by(Theme.id)
        )
    )
    assigned = kept_out = encoded = 0
    if ids and themes:
        progress.say(f"embedding {len(ids)} new texts")
        vectors, encoded = _embed(session, embedder, texts, progress)
        centroids = np.stack([np.frombuffer(t.centroid or b"", dtype=np.float32) for t in themes])
        # An embedder that runs elsewhere (RayEmbedder) places the vectors there as well.
        place = getattr(embedder, "assign_to_centroids", assign_to_centroids)
        labels, sims = place(vectors, centroids, floor)
        placed = labels >= 0
        theme_ids = np.array([t.id for t in themes], dtype=np.int64)
        _insert_memberships(
            session, np.asarray(ids)[placed], theme_ids[labels[placed]], sims[placed], run.id
        )
        counts = np.bincount(labels[labels >= 0], minlength=len(themes))
        for theme, extra in zip(themes, counts, strict=True):
            if extra:
                theme.size += int(extra)
                theme.updated_run_id = run.id
                if theme.status == "noise":
                    kept_out += int(extra)
        assigned = int(placed.sum()) - kept_out
    progress.say("looking for new themes in the novelty pool")
    pool, proposed = _propose_from_pool(
        session, run, embedder, clusterer, labeler, floor, after_id, boilerplate
    )
    run.params = {**run.params, "min_similarity": floor, "full_run_id": last_full and last_full.id}
    run.metrics = {
        "assigned": assigned,
        "kept_out": kept_out,
        "novel": len(ids) - assigned - kept_out,
        "encoded": encoded,
        "pool": pool,
        "proposed": proposed,
    }


def run_clustering(
    session: Session,
    embedder: Embedder,
    clusterer: Clusterer,
    *,
    full: bool = False,
    labeler: Labeler | None = None,
    progress: ClusterProgress | None = None,
    run_id: int | None = None,
) -> ClusteringRun:
    """Build or update themes.

    Without ``full``, and when themes exist, new interactions are placed into existing themes;
    those that fit none wait in the novelty pool, whose dense groups become proposed themes.
    With ``full`` or on the first run, everything is re-clustered, keeping theme ids and
    people's decisions (titles, merges, splits, moves, noise marks) where the clusters match.

    The caller commits; on an exception it must roll back, which leaves earlier themes intact.
    ``run_id`` names a run recorded by ``start_run``, which this one completes.
    """
    progress = progress or ClusterProgress()
    labeler = labeler or CTfidfLabeler()
    has_themes = (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(Theme)
            .where(Theme.status.in_(PLACEABLE_STATUSES))
        )
        or 0
    )
    last_full = last_full_run(session)
    # Centroids made by another model or backend are not comparable with this one's vectors.
    other_model = last_full is not None and last_full.model_slug != embedder.slug
    kind = "full" if full or not has_themes or other_model else "incremental"
    run = session.get(ClusteringRun, run_id) if run_id is not None else None
    if run is None:
        run = ClusteringRun(kind=kind, model_slug=embedder.slug, params={}, status="running")
        session.add(run)
    run.kind, run.model_slug = kind, embedder.slug
    session.flush()
    if kind == "full":
        _full_run(session, run, embedder, clusterer, labeler, progress)
    else:
        _incremental_run(session, run, embedder, clusterer, labeler, progress, last_full)
    run.status = "succeeded"
    run.finished_at = utcnow()
    session.flush()
    return run


def _process() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def start_run(session: Session, *, full: bool, model_slug: str) -> ClusteringRun:
    """Record a run as running before its work starts, for the caller to commit on its own.

    The work happens in another transaction; if the process is killed, this row is what is
    left, and ``mark_interrupted_runs`` later turns it into a failed run.
    """
    run = ClusteringRun(
        kind="full" if full else "incremental",
        model_slug=model_slug,
        params={"process": _process()},
        status="running",
    )
    session.add(run)
    session.flush()
    return run


def fail_run(session: Session, run_id: int, error: str) -> None:
    """Mark a started run as failed, with the error that stopped it."""
    run = session.get(ClusteringRun, run_id)
    if run is not None:
        run.status, run.error, run.finished_at = "failed", error[:2000], utcnow()
        session.flush()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def mark_interrupted_runs(session: Session) -> list[int]:
    """Runs left "running" by a process of this machine that is gone: marked failed.

    Runs of other machines, or of a process still alive, are left as they are.

    Returns:
        The ids of the runs marked.
    """
    here = socket.gethostname()
    marked = []
    for run in session.scalars(sa.select(ClusteringRun).where(ClusteringRun.status == "running")):
        process = (run.params or {}).get("process") or {}
        pid = process.get("pid")
        if process.get("host") != here or not isinstance(pid, int) or _alive(pid):
            continue
        run.status, run.finished_at = "failed", utcnow()
        run.error = "interrupted: the process running it stopped before it finished"
        marked.append(run.id)
    session.flush()
    return marked
