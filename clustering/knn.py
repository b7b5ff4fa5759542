"""Exact nearest neighbours of unit vectors by blocked matrix products.

For the sample sizes the clusterer fits on (tens of thousands of rows) an exact search is
cheaper and simpler than an approximate index: one block of rows against all rows at a time,
so memory stays at ``block * n`` floats whatever ``n`` is.
"""

from __future__ import annotations

import numpy as np

__all__ = ["knn_graph"]

# Rows per block: 1024 x 30,000 float32 similarities is ~120 MB at the largest fit size.
_BLOCK = 1024


def knn_graph(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar other rows of each row of a unit-length (n, d) array.

    Args:
        vectors: Unit-length rows (cosine similarity is the dot product).
        k: Neighbours per row; clipped to ``n - 1``.

    Returns:
        ``(indices, similarities)``, both (n, k), each row sorted by decreasing similarity.
        A row is never its own neighbour.
    """
    n = vectors.shape[0]
    k = max(0, min(k, n - 1))
    indices = np.empty((n, k), dtype=np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    if k == 0:
        return indices, sims
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    top = _torch_topk if _has_torch() else _numpy_topk
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        block = vectors[start:stop] @ vectors.T
        # Push each row's self-similarity below any real one so it is never picked.
        block[np.arange(stop - start), np.arange(start, stop)] = -3.0
        indices[start:stop], sims[start:stop] = top(block, k)
    return indices, sims


def _has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:  # pragma: no cover - torch is a dependency of the embedder
        return False
    return True


def _torch_topk(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    # torch.topk is several times faster than numpy's argpartition on wide rows.
    import torch

    values, idx = torch.topk(torch.from_numpy(block), k, dim=1)
    return idx.numpy(), values.numpy()


def _numpy_topk(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    part = np.argpartition(block, block.shape[1] - k, axis=1)[:, -k:]
    vals = np.take_along_axis(block, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)
