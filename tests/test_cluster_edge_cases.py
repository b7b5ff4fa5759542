"""Awkward inputs real help desks produce: too few texts, duplicates, noise, skewed themes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rootline.clustering.cluster import (
    ClusterResult,
    DensityClusterer,
    assign_to_centroids,
    centroids_of,
)
from rootline.clustering.embedding import HashingEmbedder
from rootline.clustering.runs import run_clustering
from rootline.clustering.service import list_themes
from rootline.errors import StateError
from tests.factories import InteractionFactory, themed_texts, write_csv
from tests.test_cluster_algorithm import blobs

DIM = 384


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _random(n: int, seed: int = 0) -> np.ndarray:
    return _unit(np.random.default_rng(seed).normal(size=(max(n, 1), DIM)))[:n]


def _sizes(result: ClusterResult) -> list[int]:
    return sorted(np.bincount(result.labels[result.labels >= 0]).tolist(), reverse=True)


def _check(result: ClusterResult, n: int) -> None:
    assert result.labels.shape == (n,) and result.probabilities.shape == (n,)
    assert np.isfinite(result.probabilities).all()
    assert ((result.probabilities == 0) | (result.labels >= 0)).all()
    assert 0.0 <= result.probabilities.min(initial=0.0) <= result.probabilities.max(initial=0.0)
    assert result.probabilities.max(initial=0.0) <= 1.0


@pytest.mark.parametrize("n", [0, 1, 2, 5, 20])
def test_too_few_texts_give_no_theme(n: int) -> None:
    result = DensityClusterer().fit(_random(n))
    _check(result, n)
    assert result.n_clusters == 0 and (result.labels == -1).all()


def test_no_texts_at_all_is_an_empty_result() -> None:
    result = DensityClusterer().fit(np.zeros((0, DIM), dtype=np.float32))
    assert result.labels.shape == (0,) and result.n_clusters == 0


@pytest.mark.parametrize("n", [5, 50, 1000])
def test_identical_texts_make_at_most_one_theme(n: int) -> None:
    vectors = np.repeat(_random(1), n, axis=0)
    result = DensityClusterer().fit(vectors)
    _check(result, n)
    assert result.n_clusters <= 1


def test_a_theme_of_exact_duplicates_does_not_empty_the_other_themes() -> None:
    # Template mails: two texts repeated many times, plus a few one-offs.
    a, b = _random(2, seed=1)
    vectors = np.concatenate([np.repeat(a[None], 200, 0), np.repeat(b[None], 100, 0), _random(5)])
    result = DensityClusterer().fit(vectors)
    _check(result, len(vectors))
    assert _sizes(result) == [200, 100]
    assert (result.labels[:200] == result.labels[0]).all()
    assert (result.labels[200:300] == result.labels[200]).all()
    assert (result.labels[300:] == -1).all()


def test_exact_duplicates_next_to_a_real_theme_keep_that_theme() -> None:
    spread, _ = blobs([150, 120], dim=DIM, seed=2)
    dup = np.repeat(_random(1, seed=3), 400, axis=0)
    vectors = np.concatenate([dup, spread])
    result = DensityClusterer().fit(vectors)
    _check(result, len(vectors))
    sizes = _sizes(result)
    assert sizes[0] == 400 and len(sizes) == 3
    assert sum(sizes[1:]) >= 0.9 * 270  # the spread themes keep their members


def test_one_dominant_theme() -> None:
    vectors, gold = blobs([950, 25, 25], dim=DIM, seed=4)
    result = DensityClusterer().fit(vectors)
    _check(result, len(vectors))
    assert 1 <= result.n_clusters <= 3
    big = np.bincount(result.labels[gold == 0][result.labels[gold == 0] >= 0]).argmax()
    assert (result.labels[gold == 0] == big).mean() > 0.95


@pytest.mark.parametrize(("n", "seed"), [(500, 0), (800, 2), (2000, 0), (5000, 0)])
def test_random_directions_make_no_theme(n: int, seed: int) -> None:
    result = DensityClusterer().fit(_random(n, seed))
    _check(result, n)
    assert result.n_clusters <= 1
    assert (result.labels == -1).mean() > 0.9


def test_very_unequal_theme_sizes_keep_the_large_themes() -> None:
    vectors, gold = blobs([500, 50, 8], dim=DIM, seed=6)
    result = DensityClusterer().fit(vectors)
    _check(result, len(vectors))
    assert result.n_clusters >= 2
    for g in (0, 1):
        held = result.labels[gold == g]
        assert (held >= 0).mean() > 0.95
        assert np.unique(held[held >= 0]).size == 1
    assert result.labels[gold == 0][0] != result.labels[gold == 1][0]


def test_zero_vectors_are_not_a_theme() -> None:
    vectors = np.concatenate([np.zeros((30, DIM), np.float32), blobs([100, 100], dim=DIM)[0]])
    result = DensityClusterer().fit(vectors)
    _check(result, len(vectors))
    assert result.n_clusters == 2 and (result.labels[:30] == -1).all()


# --- whole runs in the database ---------------------------------------------------------


def _add(session: Session, texts: list[str]) -> None:
    InteractionFactory._meta.sqlalchemy_session = session
    for i, text in enumerate(texts):
        InteractionFactory(external_id=f"E{i}", body_clean=text)


def _run(session: Session):  # type: ignore[no-untyped-def]
    return run_clustering(session, HashingEmbedder(), DensityClusterer(), full=True)


def _themes_are_described(session: Session) -> None:
    for theme in list_themes(session, with_examples=True):
        assert theme.size > 0 and theme.title.strip() and theme.keywords
        assert theme.examples


def test_a_run_with_nothing_to_cluster_says_so(session: Session) -> None:
    with pytest.raises(StateError, match="nothing to cluster"):
        _run(session)


def test_a_run_on_texts_empty_after_cleaning_says_so(session: Session) -> None:
    _add(session, ["", "", ""])
    with pytest.raises(StateError, match="nothing to cluster"):
        _run(session)


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_a_run_on_a_few_texts_finishes_with_few_themes(session: Session, n: int) -> None:
    _add(session, [t for t, _ in themed_texts(5)][:n])
    run = _run(session)
    assert run.status == "succeeded" and run.n_interactions == n
    assert run.metrics["themes"] <= max(1, n // 5)
    _themes_are_described(session)


def test_a_run_on_identical_texts_makes_at_most_one_theme(session: Session) -> None:
    _add(session, ["my refund has not arrived yet"] * 60)
    run = _run(session)
    assert run.status == "succeeded" and run.metrics["themes"] <= 1
    _themes_are_described(session)


def test_a_run_on_duplicates_and_a_few_distinct_texts(session: Session) -> None:
    texts = ["cannot log in password reset link expired"] * 80
    texts += ["parcel arrived damaged box crushed"] * 40
    texts += [t for t, _ in themed_texts(2, seed=3)]
    _add(session, [*texts, "", ""])
    run = _run(session)
    assert run.status == "succeeded" and 1 <= run.metrics["themes"] <= 4
    sizes = sorted(t.size for t in list_themes(session))
    assert sizes[-1] >= 80
    _themes_are_described(session)


@pytest.mark.parametrize("n_texts", [0, 2])
def test_cli_cluster_on_a_tiny_database_prints_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n_texts: int
) -> None:
    from rootline.cli.main import app

    monkeypatch.setenv("ROOTLINE_EMBEDDER", "hashing")
    monkeypatch.setenv("ROOTLINE_DATA_DIR", str(tmp_path))
    db = f"sqlite:///{tmp_path / 'tiny.db'}"
    if n_texts:
        rows = [
            {"ticket_id": f"T{i}", "description": text}
            for i, (text, _) in enumerate(themed_texts(1)[:n_texts])
        ]
        ingested = CliRunner().invoke(
            app, ["--db", db, "ingest", str(write_csv(tmp_path / "t.csv", rows))]
        )
        assert ingested.exit_code == 0, ingested.output
    result = CliRunner().invoke(app, ["--db", db, "cluster"])
    if n_texts == 0:
        assert isinstance(result.exception, StateError)
        assert "nothing to cluster" in str(result.exception)
    else:
        assert result.exit_code == 0, result.output
        lines = [line for line in result.output.splitlines() if line.startswith("run ")]
        assert len(lines) == 1 and "themes 0" in lines[0]


def test_one_loose_theme_does_not_open_the_door_to_unrelated_new_texts() -> None:
    """The recorded floor places new texts later; a sprawling theme must not lower it so far
    that texts about nothing the themes cover are placed instead of going to the novelty pool."""
    tight, _ = blobs([150, 150, 150, 150], dim=DIM, seed=5)
    loose, _ = blobs([200], dim=DIM, spread=1.3, seed=6)
    vectors = np.concatenate([tight, loose])
    result = DensityClusterer().fit(vectors)
    _check(result, len(vectors))
    assert sorted(_sizes(result)) == [150, 150, 150, 150, 200]
    centroids = centroids_of(vectors, result.labels)
    floor = result.params["assign_similarity"]
    unrelated, _ = assign_to_centroids(_random(300, seed=9), centroids, floor)
    assert (unrelated == -1).all()
    # Texts of the themes themselves are still placed.
    again, _ = assign_to_centroids(tight, centroids, floor)
    assert (again >= 0).mean() > 0.9
