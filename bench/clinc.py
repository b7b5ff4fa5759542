"""CLINC150 for the benchmarks: the bundled texts and intents, and rows made of them.

The benchmark scripts run as ``python bench/NAME.py``, so they import this module by its name.
"""

from __future__ import annotations

import csv
import gzip
import io
from importlib import resources

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.embedding import text_hash
from rootline.ingest.models import Interaction


def load_clinc(limit: int | None = None, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts and intents of the bundled CLINC150 in file order, or a random subset of ``limit``
    (still in file order)."""
    raw = resources.files("rootline.fixtures").joinpath("clinc150.csv.gz").read_bytes()
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))
    if limit and limit < len(rows):
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
        rows = [rows[i] for i in keep]
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def insert_interactions(
    session: Session, rows: list[int], texts: list[str], intents: list[str]
) -> None:
    """Texts ``rows`` as already-clean interactions of source ``clinc150``, intent kept."""
    session.execute(
        sa.insert(Interaction),
        [
            {
                "source": "clinc150",
                "external_id": str(i),
                "body_raw": texts[i],
                "body_clean": texts[i],
                "content_hash": text_hash(texts[i]),
                "tags": [],
                "extra": {"intent": intents[i]},
            }
            for i in rows
        ],
    )
