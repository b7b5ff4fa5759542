"""Embedding and placing a large backlog on a Ray cluster (``ROOTLINE_EXECUTOR=ray``).

``RayEmbedder`` is an ``Embedder``: texts go to a Ray Data pipeline whose ``map_batches``
stage runs on a pool of actors, each loading the model once, and the vectors come back in
the texts' order. It embeds exactly as the embedder it wraps: the texts are sorted by length
once, here, and cut into blocks of whole encoding batches, so every actor sees the batches a
single process would have made. Its slug is the wrapped embedder's, so the cache is shared.

``RayEmbedder.assign_to_centroids`` places vectors on theme centroids in Ray tasks, blocks
of rows at a time, with the centroids put once in the object store.

Ray is an optional extra (``pip install 'rootline[ray]'``); nothing here imports it before
it is used. ``address`` joins an existing cluster (``ray://head:10001``, ``auto``); without
one a local Ray is started with ``workers`` CPUs. A Ray the caller started is used as it is.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rootline.clustering.cluster import assign_to_centroids
from rootline.clustering.embedding import Embedder, Progress
from rootline.errors import ConfigError

__all__ = ["RayEmbedder", "ray_version"]

#: Texts per block sent to an actor: whole encoding batches of the wrapped embedder.
_BATCHES_PER_BLOCK = 16
#: Rows per assignment task.
_ASSIGN_BLOCK = 65_536


def ray_version() -> str | None:
    """The installed Ray's version, or None when the ``ray`` extra is not installed."""
    try:
        import ray
    except ImportError:
        return None
    return str(ray.__version__)


class _EncodeBlock:
    """One Ray actor: loads the model once, then embeds every block it is given."""

    def __init__(self, make_embedder: Callable[[], Embedder]) -> None:
        self.embedder = make_embedder()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        blobs, dims = [], []
        for texts in batch["texts"]:
            vectors = np.ascontiguousarray(self.embedder.encode(json.loads(texts)), np.float32)
            blobs.append(vectors.tobytes())
            dims.append(vectors.shape[1])
        return {
            "block": np.asarray(batch["block"]),
            "vectors": np.asarray(blobs, dtype=object),
            "dim": np.asarray(dims, dtype=np.int64),
        }


class RayEmbedder:
    """An embedder whose work runs on a Ray cluster, one model per actor.

    Args:
        make_embedder: Builds the embedder each actor uses (pickled to the workers, so a
            top-level function or ``functools.partial`` of one).
        slug: The wrapped embedder's slug (vectors are the same, so is the cache).
        address: Ray cluster to join; None starts a local one (unless Ray is running).
        workers: Actors, each with one model and one CPU.
        batch_size: The wrapped embedder's batch size; blocks are whole batches of it.
    """

    def __init__(
        self,
        make_embedder: Callable[[], Embedder],
        *,
        slug: str,
        address: str | None = None,
        workers: int = 2,
        batch_size: int = 64,
    ) -> None:
        self.make_embedder = make_embedder
        self.slug = slug
        self.address = address
        self.workers = workers
        # The wrapped embedder cuts sorted texts into runs of batch_size * 8; a block of whole
        # runs gets the same batches on an actor as in one process.
        self.block_size = batch_size * 8 * _BATCHES_PER_BLOCK

    def _ray(self) -> Any:
        try:
            import ray
            import ray.data
        except ImportError:
            raise ConfigError(
                "ROOTLINE_EXECUTOR=ray needs Ray: pip install 'rootline[ray]'"
            ) from None
        # Rootline draws its own progress bar; Ray Data's would interleave with it.
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
            }
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.workers, **options)
        return ray

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts`` on the cluster; ``progress(k)`` as each block of ``k`` comes back."""
        if not len(texts):
            return np.zeros((0, 1), dtype=np.float32)
        ray = self._ray()
        order = np.argsort([len(t) for t in texts], kind="stable")
        starts = range(0, len(texts), self.block_size)
        # One item per block, its texts as one JSON string: Ray Data neither regroups nor
        # reorders them, so each actor encodes exactly the block it was given.
        items = [
            {"block": b, "texts": json.dumps([texts[i] for i in order[lo : lo + self.block_size]])}
            for b, lo in enumerate(starts)
        ]
        data = ray.data.from_items(items, override_num_blocks=len(items))
        encoded = data.map_batches(
            _EncodeBlock,
            fn_constructor_args=(self.make_embedder,),
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(items))),
            num_cpus=1,
        )
        out: np.ndarray | None = None
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            for block, blob, dim in zip(
                batch["block"], batch["vectors"], batch["dim"], strict=True
            ):
                got = np.frombuffer(blob, dtype=np.float32).reshape(-1, int(dim))
                if out is None:
                    out = np.empty((len(texts), got.shape[1]), dtype=np.float32)
                lo = int(block) * self.block_size
                out[order[lo : lo + len(got)]] = got
                if progress:
                    progress(len(got))
        assert out is not None
        return out

    def assign_to_centroids(
        self, vectors: np.ndarray, centroids: np.ndarray, min_similarity: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """``clustering.cluster.assign_to_centroids`` run in Ray tasks, block by block."""
        if len(vectors) <= _ASSIGN_BLOCK or len(centroids) == 0:
            return assign_to_centroids(vectors, centroids, min_similarity)
        ray = self._ray()
        shared = ray.put(np.asarray(centroids, dtype=np.float32))
        task = ray.remote(num_cpus=1)(_assign_block)
        pending = [
            task.remote(np.asarray(vectors[lo : lo + _ASSIGN_BLOCK]), shared, min_similarity)
            for lo in range(0, len(vectors), _ASSIGN_BLOCK)
        ]
        parts = ray.get(pending)
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
        )


def _assign_block(
    vectors: np.ndarray, centroids: np.ndarray, min_similarity: float
) -> tuple[np.ndarray, np.ndarray]:
    return assign_to_centroids(vectors, centroids, min_similarity)
