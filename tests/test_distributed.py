"""Embedding and placing on Ray give what one process gives: the same vectors, the same themes.

One local Ray cluster with two worker CPUs serves the whole module (starting Ray is slow).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.cluster import assign_to_centroids
from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.models import ThemeMembership
from rootline.config import Settings
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.models import Interaction
from rootline.pipeline import build_embedder, build_run_embedder, cluster_job
from tests.factories import load_themed

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _clinc_texts(n: int) -> list[str]:
    raw = resources.files("rootline.fixtures").joinpath("clinc150.csv.gz").read_bytes()
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode())))
    return [rows[i]["text"] for i in np.random.default_rng(1).permutation(len(rows))[:n]]


def _settings(tmp_path: Path, **changes: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **changes)  # type: ignore[call-arg,arg-type]


@pytest.mark.model
def test_ray_actors_embed_as_one_process_does(local_ray: None, tmp_path: Path) -> None:
    texts = _clinc_texts(300)
    # Batches of 2 make blocks of 2 * 8 * 16 = 256 texts: two blocks, one per actor. PyTorch
    # runs the model (settings without that choice ignore it), so no actor exports a model.
    local_settings = _settings(tmp_path, embed_batch_size=2, embed_backend="torch")
    embedder = build_run_embedder(local_settings.model_copy(update={"executor": "ray"}))
    assert type(embedder).__name__ == "RayEmbedder"
    local_embedder = build_embedder(local_settings)
    assert embedder.slug == local_embedder.slug
    seen: list[int] = []
    on_ray = embedder.encode(texts, progress=seen.append)
    local = local_embedder.encode(texts)
    assert sum(seen) == len(texts)
    np.testing.assert_allclose(on_ray, local, atol=2e-5)
    assert (np.argmax(on_ray @ local[:50].T, axis=0) == np.arange(50)).all()


def test_blocks_come_back_in_the_texts_order(local_ray: None, tmp_path: Path) -> None:
    texts = [
        f"text {i} about {'refunds' if i % 3 else 'log in'} " + "x" * (i % 40) for i in range(5000)
    ]
    embedder = build_run_embedder(
        _settings(tmp_path, executor="ray", embedder="hashing", embed_batch_size=8)
    )
    assert embedder.block_size == 8 * 8 * 16  # type: ignore[attr-defined]
    np.testing.assert_array_equal(embedder.encode(texts), HashingEmbedder().encode(texts))
    assert embedder.encode([]).shape[0] == 0


def test_placing_on_ray_gives_the_local_placement(local_ray: None, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((150_000, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    centroids = vectors[:40]
    embedder = build_run_embedder(_settings(tmp_path, executor="ray", embedder="hashing"))
    labels, sims = embedder.assign_to_centroids(vectors, centroids, 0.3)  # type: ignore[attr-defined]
    want_labels, want_sims = assign_to_centroids(vectors, centroids, 0.3)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_array_equal(sims, want_sims)


def _themes_of(tmp_path: Path, name: str, settings: Settings) -> dict[str, int | None]:
    engine = make_engine(f"sqlite:///{tmp_path / name}.db")
    migrate(engine)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        load_themed(session, per_theme=40, seed=3)
    cluster_job(sessions, settings)
    with session_scope(sessions) as session:  # then new contacts, placed by an incremental run
        load_themed(session, per_theme=5, seed=4, prefix="Y")
    assert cluster_job(sessions, settings).kind == "incremental"
    with session_scope(sessions) as session:
        return _assignments(session)


def _assignments(session: Session) -> dict[str, int | None]:
    rows = session.execute(
        sa.select(Interaction.external_id, ThemeMembership.theme_id).outerjoin(
            ThemeMembership, ThemeMembership.interaction_id == Interaction.id
        )
    )
    return {ext: theme for ext, theme in rows}


def test_a_clustering_run_on_ray_finds_the_same_themes(local_ray: None, tmp_path: Path) -> None:
    local = _themes_of(tmp_path, "local", _settings(tmp_path, embedder="hashing"))
    on_ray = _themes_of(tmp_path, "ray", _settings(tmp_path, embedder="hashing", executor="ray"))
    assert on_ray == local
    assert len(set(local.values()) - {None}) >= 5
    assert sum(1 for ext, theme in local.items() if ext.startswith("Y") and theme) >= 20
