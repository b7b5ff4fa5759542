"""Keeping theme ids stable: match the clusters of a new run to the themes of the last one."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["match_clusters"]


def match_clusters(
    old_members: Mapping[int, set[int]],
    new_members: Mapping[int, set[int]],
    old_centroids: Mapping[int, np.ndarray] | None = None,
    new_centroids: Mapping[int, np.ndarray] | None = None,
    *,
    min_overlap: float = 0.3,
    min_centroid_similarity: float = 0.9,
) -> dict[int, int]:
    """Pair each new cluster with at most one old theme.

    A pair scores by the share of the new cluster's members that the old theme held
    (membership overlap; new members are ignored, so 10% more data does not break a match),
    plus the centroids' cosine similarity as a tie-breaker and a fallback when memberships
    barely overlap. The best one-to-one pairing (Hungarian) is taken; pairs below both
    floors are dropped.

    Returns:
        new cluster id -> old theme id.
    """
    from scipy.optimize import linear_sum_assignment

    old_ids, new_ids = list(old_members), list(new_members)
    if not old_ids or not new_ids:
        return {}
    owner: dict[int, int] = {}
    for j, oid in enumerate(old_ids):
        for item in old_members[oid]:
            owner[item] = j
    overlap = np.zeros((len(new_ids), len(old_ids)))
    for i, nid in enumerate(new_ids):
        members = new_members[nid]
        seen = [owner[m] for m in members if m in owner]
        if seen:
            counts = np.bincount(seen, minlength=len(old_ids))
            overlap[i] = counts / max(len(seen), 1)
    sims = np.zeros_like(overlap)
    if old_centroids and new_centroids:
        old_c = np.stack([old_centroids[o] for o in old_ids])
        new_c = np.stack([new_centroids[n] for n in new_ids])
        # Centroids of a model of another size share no space: membership alone decides.
        if new_c.shape[1] == old_c.shape[1]:
            sims = new_c @ old_c.T
    score = overlap + 0.1 * sims
    rows, cols = linear_sum_assignment(-score)
    result = {}
    for i, j in zip(rows, cols, strict=True):
        if overlap[i, j] >= min_overlap or sims[i, j] >= min_centroid_similarity:
            result[new_ids[i]] = old_ids[j]
    return result
