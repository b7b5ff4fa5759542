"""Scores of themes against gold labels: NMI, ARI and Hungarian cluster accuracy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["cluster_accuracy", "score_themes"]


def cluster_accuracy(gold: Sequence[object], pred: Sequence[object]) -> float:
    """Share of items whose theme maps to their gold label under the best one-to-one mapping."""
    from scipy.optimize import linear_sum_assignment

    if len(gold) == 0:
        return 0.0
    g_values, g_idx = np.unique(np.asarray(gold, dtype=object).astype(str), return_inverse=True)
    p_values, p_idx = np.unique(np.asarray(pred, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((len(p_values), len(g_values)), dtype=np.int64)
    np.add.at(table, (p_idx, g_idx), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(gold))


def score_themes(
    gold: Sequence[str | None],
    themes: Sequence[int | None],
    *,
    noise_labels: frozenset[str] = frozenset({"oos"}),
) -> dict[str, float | int]:
    """Score theme assignments against gold labels.

    Items whose gold label is in ``noise_labels`` (or empty) are "belongs to no theme": they
    are left out of NMI/ARI/accuracy, which are computed on in-scope items. Unthemed items
    (``None``) each count as their own singleton cluster, so leaving texts unthemed is never
    rewarded. ``noise_share`` is the share of in-scope items left unthemed.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pairs = [(g, t) for g, t in zip(gold, themes, strict=True) if g and g not in noise_labels]
    if not pairs:
        return {"nmi": 0.0, "ari": 0.0, "acc": 0.0, "themes": 0, "noise_share": 0.0}
    gold_in = [g for g, _ in pairs]
    pred_in = [f"t{t}" if t is not None else f"noise{i}" for i, (_, t) in enumerate(pairs)]
    n_noise = sum(1 for _, t in pairs if t is None)
    n_themes = len({t for t in themes if t is not None})
    return {
        "nmi": round(float(normalized_mutual_info_score(gold_in, pred_in)), 4),
        "ari": round(float(adjusted_rand_score(gold_in, pred_in)), 4),
        "acc": round(cluster_accuracy(gold_in, pred_in), 4),
        "themes": n_themes,
        "noise_share": round(n_noise / len(pairs), 4),
    }
