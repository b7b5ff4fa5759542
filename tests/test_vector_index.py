"""Nearest-neighbour search through the HNSW index: as good as the exact scan, kept in sync
with the stored vectors, and safe when the index is missing, damaged or not installed."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.embedding import HashingEmbedder, embed_with_cache, text_hash
from rootline.clustering.vector_index import (
    EXACT_BELOW,
    VectorIndex,
    discard_saved_indexes,
    iter_stored_vectors,
    pgvector_status,
    refresh_saved_index,
    saved_index_status,
    stored_vectors,
    sync_index,
)
from rootline.ingest.models import Interaction
from tests.cli_runner import run_rootline
from tests.factories import load_themed


def sentence_like(n: int, dim: int = 384, intents: int = 150, seed: int = 0) -> np.ndarray:
    """Unit vectors shaped like sentence embeddings of short support texts: each row is its
    intent's centre plus variation along a few directions of its own plus a little noise,
    at cosine ~0.6-0.8 to the centre, as all-MiniLM-L6-v2 places texts of one intent."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((intents, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = rng.standard_normal((intents, 8, dim)).astype(np.float32) / np.sqrt(dim)
    label = rng.integers(0, intents, n)
    coef = rng.standard_normal((n, 8)).astype(np.float32) * 0.35
    rows = centres[label] + np.einsum("nk,nkd->nd", coef, basis[label])
    rows += rng.standard_normal((n, dim)).astype(np.float32) * np.float32(0.45 / np.sqrt(dim))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows.astype(np.float32)


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)])
    )


@pytest.mark.slow
def test_graph_search_finds_what_the_exact_scan_finds() -> None:
    data = sentence_like(10_300)
    vectors, queries = data[:10_000], data[10_000:]
    ids = np.arange(10_000, dtype=np.int64) + 1000
    index = VectorIndex.build(ids, vectors, exact_below=0)
    assert index.backend == "hnsw" and len(index) == 10_000
    found, sims = index.search(queries, 10)
    truth = exact_top(vectors, queries, 10) + 1000
    assert recall_at(found, truth) >= 0.95
    # Similarities are the cosines of the rows returned, best first.
    expected = np.einsum("qd,qkd->qk", queries, vectors[found - 1000])
    np.testing.assert_allclose(sims, expected, atol=2e-3)  # the graph keeps half floats
    assert (np.diff(sims, axis=1) <= 1e-6).all()
    # A stored vector finds itself first.
    assert index.nearest(vectors[123], 1)[0][0] == 1123


def test_small_corpora_are_scanned_exactly() -> None:
    vectors = sentence_like(600, dim=32)
    index = VectorIndex.build(np.arange(500), vectors[:500] * 3.0)  # any length: made unit
    assert index.backend == "exact"
    found, sims = index.search(vectors[500:], 7)
    np.testing.assert_array_equal(found, exact_top(vectors[:500], vectors[500:], 7))
    np.testing.assert_allclose(sims[:, 0], (vectors[500:] @ vectors[:500].T).max(axis=1), atol=1e-5)


@pytest.mark.parametrize("exact_below", [0, EXACT_BELOW], ids=["hnsw", "exact"])
def test_rows_are_added_replaced_and_removed(exact_below: int) -> None:
    vectors = sentence_like(300, dim=32, intents=10)
    index = VectorIndex.build(np.arange(200), vectors[:200], exact_below=exact_below)
    probe = vectors[250]
    index.add(np.array([7]), probe[None, :])  # replaces row 7
    assert len(index) == 200
    assert index.nearest(probe, 1) == [(7, pytest.approx(1.0, abs=2e-3))]
    index.remove([7, 9999])
    assert 7 not in [i for i, _ in index.nearest(probe, 50)]
    assert len(index) == 199
    ids, sims = index.search(probe, 500)
    assert (ids[0, :199] >= 0).all() and (ids[0, 199:] == -1).all()
    assert np.isneginf(sims[0, 199:]).all()


def test_empty_index_finds_nothing() -> None:
    index = VectorIndex.build(np.zeros(0, dtype=np.int64), np.zeros((0, 16), np.float32))
    assert index.nearest(np.ones(16), 5) == []


def test_without_usearch_every_search_is_an_exact_scan(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "usearch", None)  # import usearch raises ImportError
    vectors = sentence_like(400, dim=32)
    index = VectorIndex.build(np.arange(400), vectors, exact_below=0)
    assert index.backend == "exact"
    assert index.nearest(vectors[5], 1)[0][0] == 5
    assert VectorIndex.load(tmp_path / "any.usearch") is None


def _store(session: Session, texts: list[str]) -> list[int]:
    rows = [
        Interaction(
            source="t", external_id=f"v{i}", body_clean=t, content_hash=text_hash(f"{i}{t}")
        )
        for i, t in enumerate(texts)
    ]
    session.add_all(rows)
    session.flush()
    embed_with_cache(session, HashingEmbedder(), texts)
    session.flush()
    return [r.id for r in rows]


def _exact_answer(session: Session, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    stored = stored_vectors(session, "hashing:256")
    sims = stored.vectors @ query
    order = np.argsort(-sims, kind="stable")[:k]
    return [(int(stored.vector_ids[i]), float(sims[i])) for i in order]


def test_saved_index_is_reused_and_follows_the_database(session: Session, tmp_path: Path) -> None:
    load_themed(session, per_theme=40)
    embedder = HashingEmbedder()
    embed_with_cache(session, embedder, list(session.scalars(sa.select(Interaction.body_clean))))
    session.flush()
    folder = tmp_path / "indexes"
    report = refresh_saved_index(session, embedder.slug, folder, exact_below=0)
    assert report.saved and report.rows == 240
    assert [s["file"] for s in saved_index_status(folder)] == ["hashing_256.usearch"]

    # Since the run: one contact's text changed, one was emptied (erased), two arrived.
    first, second = session.scalars(sa.select(Interaction).order_by(Interaction.id).limit(2))
    first.body_clean = "parcel courier tracking late delivery again please"
    second.body_clean = ""
    new_ids = _store(session, ["my refund never came back", "voucher code invalid at checkout"])
    embed_with_cache(session, embedder, [first.body_clean])
    session.flush()

    index, report = sync_index(session, embedder.slug, folder, exact_below=0)
    assert index.backend == "hnsw"
    assert (report.reused, report.added, report.removed) == (238, 3, 1)
    held = set(index.ids().tolist())
    assert second.id not in held and set(new_ids) <= held and len(held) == 241
    for text in ["refund money back", "delivery late courier", "promo code invalid"]:
        query = embedder.encode([text])[0]
        found = index.nearest(query, 5)
        exact = _exact_answer(session, query, 5)
        # Texts of equal similarity may come in either order: compare the similarities.
        assert [s for _, s in found] == pytest.approx([s for _, s in exact], abs=2e-3)
        assert found[0][0] == exact[0][0] or found[0][1] == pytest.approx(found[1][1])
    query = embedder.encode([first.body_clean])[0]
    assert index.nearest(query, 1)[0] == (first.id, pytest.approx(1.0, abs=2e-3))


def test_a_damaged_saved_index_is_rebuilt_from_the_stored_vectors(
    session: Session, tmp_path: Path
) -> None:
    ids = _store(session, [f"card declined at checkout try {i}" for i in range(30)])
    folder = tmp_path / "indexes"
    assert refresh_saved_index(session, "hashing:256", folder, exact_below=0).saved
    (folder / "hashing_256.usearch").write_bytes(b"not an index")
    index, report = sync_index(session, "hashing:256", folder, exact_below=0)
    assert report.reused == 0 and report.added == 30 and set(index.ids().tolist()) == set(ids)
    # Digests that no longer match the graph: rebuilt as well.
    refresh_saved_index(session, "hashing:256", folder, exact_below=0)
    np.savez(folder / "hashing_256.digests.npz", ids=np.array([1]), digests=np.array([1]))
    index, report = sync_index(session, "hashing:256", folder, exact_below=0)
    assert report.reused == 0 and len(index) == 30 and report.notes


def test_small_corpora_save_no_graph_and_erasure_discards_saved_ones(
    session: Session, tmp_path: Path
) -> None:
    _store(session, ["login link expired", "password reset never arrives"])
    folder = tmp_path / "indexes"
    report = refresh_saved_index(session, "hashing:256", folder)
    assert report.backend == "exact" and not report.saved and saved_index_status(folder) == []
    refresh_saved_index(session, "hashing:256", folder, exact_below=0)
    assert discard_saved_indexes(folder) == 1
    assert list(folder.iterdir()) == []


def test_pgvector_is_reported_not_assumed(session: Session) -> None:
    status = pgvector_status(session)
    if session.get_bind().dialect.name == "postgresql":
        # This machine's server has no pgvector package; another may have it installed.
        assert status["pgvector"] == "missing" or status["pgvector"].startswith(
            ("available", "installed")
        )
    else:
        assert status == {"database": "sqlite", "pgvector": "not PostgreSQL"}


@pytest.mark.model
@pytest.mark.slow
def test_graph_recall_on_real_sentence_vectors() -> None:
    from rootline.clustering.embedding import SentenceTransformerEmbedder

    raw = resources.files("rootline.fixtures").joinpath("clinc150.csv.gz").read_bytes()
    texts = [r["text"] for r in csv.DictReader(io.StringIO(gzip.decompress(raw).decode()))]
    picked = [texts[i] for i in np.random.default_rng(0).permutation(len(texts))[:2200]]
    vectors = SentenceTransformerEmbedder().encode(picked)
    stored, queries = vectors[:2000], vectors[2000:]
    index = VectorIndex.build(np.arange(2000), stored, exact_below=0)
    found, _ = index.search(queries, 10)
    assert recall_at(found, exact_top(stored, queries, 10)) >= 0.95


def test_doctor_reports_the_index_and_pgvector(tmp_path: Path) -> None:
    folder = tmp_path / "indexes"
    folder.mkdir()
    (folder / "st_model.usearch").write_bytes(b"x" * 10)
    proc = run_rootline("doctor", "--json", db=f"sqlite:///{tmp_path / 'r.db'}", folder=tmp_path)
    report = json.loads(proc.stdout)
    assert report["database"] == "sqlite" and report["pgvector"] == "not PostgreSQL"
    assert report["search_index"].startswith("usearch ")
    assert [s["file"] for s in report["saved_indexes"]] == ["st_model.usearch"]
    assert report["executor"] == "local"
    text = run_rootline("doctor", db=f"sqlite:///{tmp_path / 'r.db'}", folder=tmp_path).stdout
    assert "Rootline's own index is used" in text


def test_an_exact_index_becomes_a_graph_as_it_grows() -> None:
    vectors = sentence_like(400, dim=32, intents=20)
    index = VectorIndex.build(np.arange(150), vectors[:150], exact_below=200)
    assert index.backend == "exact"
    index.add(np.arange(150, 300), vectors[150:300])
    assert index.backend == "hnsw" and len(index) == 300
    found, _ = index.search(vectors[300:], 10)
    assert recall_at(found, exact_top(vectors[:300], vectors[300:], 10)) >= 0.95


def test_stored_vectors_are_read_in_chunks(session: Session) -> None:
    ids = _store(session, [f"parcel {i} late, courier lost it" for i in range(120)])
    chunks = list(iter_stored_vectors(session, "hashing:256", chunk_rows=50))
    assert [len(c.ids) for c in chunks] == [50, 50, 20]
    assert sorted(np.concatenate([c.vector_ids for c in chunks]).tolist()) == sorted(ids)
    known = dict(zip(chunks[0].ids.tolist(), chunks[0].digests.tolist(), strict=True))
    again = stored_vectors(session, "hashing:256", known=known)
    assert len(again.ids) == 120 and len(again.vector_ids) == 70 == len(again.vectors)


def test_search_scans_exactly_until_a_run_has_saved_a_graph(
    session: Session, tmp_path: Path
) -> None:
    _store(session, [f"refund {i} never credited to my card" for i in range(40)])
    folder = tmp_path / "indexes"
    index, _ = sync_index(session, "hashing:256", folder, exact_below=0, build_graph=False)
    assert index.backend == "exact" and len(index) == 40
    refresh_saved_index(session, "hashing:256", folder, exact_below=0)
    index, report = sync_index(session, "hashing:256", folder, exact_below=0, build_graph=False)
    assert index.backend == "hnsw" and report.reused == 40
