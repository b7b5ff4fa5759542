"""Dimension reduction before density clustering, and unit-length rows.

``DensityClusterer`` compares texts in a centred, reduced space: raw sentence vectors share a
common direction that makes every pair look alike, and HDBSCAN's density estimate is steadier
in fewer dimensions.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["PCAReducer", "Reducer", "unit_rows"]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


class Reducer(Protocol):
    """Maps (n, d) vectors to (n, k) vectors with k <= d."""

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray: ...


class PCAReducer:
    """Centred PCA to ``n_components`` dimensions, then back to unit length (cosine geometry).

    Solved through the d x d covariance matrix, which costs one pass over the data; the
    result is deterministic, so ``seed`` is kept only for interface compatibility.
    """

    def __init__(self, n_components: int = 64, seed: int = 42) -> None:
        self.n_components = n_components
        self.seed = seed

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float32)
        centred = x - x.mean(axis=0, dtype=np.float64).astype(np.float32)
        k = min(self.n_components, x.shape[1], max(x.shape[0] - 1, 1))
        _, eigvecs = np.linalg.eigh((centred.T @ centred).astype(np.float64))
        basis = eigvecs[:, ::-1][:, :k]  # eigh sorts ascending; keep the largest
        return unit_rows(centred @ basis.astype(np.float32))
