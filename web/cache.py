"""A small in-process cache of costly page figures, keyed by what they are computed from.

Impact scores, sparklines and alerts read every contact of every theme; recomputing them on
each page view would make the dashboard slow with 100,000 contacts. Entries are keyed by a
*data fingerprint* (newest interaction, clustering run, theme event and theme change), so an
ingest, a run or a person's edit shows at once, and expire after ``ttl`` seconds to catch
in-place updates the fingerprint cannot see. The fingerprint reads only indexed maxima: no
row count, which would cost a scan of the contacts on every page view; nothing in Rootline
deletes contacts, and a deletion by hand shows once the entry expires.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from rootline.clustering.models import ClusteringRun, EmbeddingCache, Theme, ThemeEvent
from rootline.ingest.models import Interaction

__all__ = ["FigureCache", "data_fingerprint", "vectors_fingerprint"]

T = TypeVar("T")


def data_fingerprint(session: Session) -> tuple[Any, ...]:
    """What the themes' figures depend on, read in one cheap query (indexed maxima)."""
    return tuple(
        session.execute(
            sa.select(
                sa.select(sa.func.max(Interaction.id)).scalar_subquery(),
                sa.select(sa.func.max(ClusteringRun.id)).scalar_subquery(),
                sa.select(sa.func.max(ThemeEvent.id)).scalar_subquery(),
                sa.select(sa.func.max(Theme.id)).scalar_subquery(),
                sa.select(sa.func.max(Theme.updated_at)).scalar_subquery(),
                sa.select(sa.func.max(EmbeddingCache.id)).scalar_subquery(),
            )
        ).one()
    )


def vectors_fingerprint(session: Session) -> tuple[Any, ...]:
    """What the semantic search index depends on: the interactions and the cached vectors."""
    return tuple(
        session.execute(
            sa.select(
                sa.select(sa.func.max(Interaction.id)).scalar_subquery(),
                sa.select(sa.func.max(EmbeddingCache.id)).scalar_subquery(),
            )
        ).one()
    )


class FigureCache:
    """A thread-safe LRU of computed values with a time to live."""

    def __init__(self, ttl: float = 60.0, size: int = 64) -> None:
        self._ttl = ttl
        self._size = size
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value for ``key``, computing (outside the lock) when missing or stale."""
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                self._items.move_to_end(key)
                return hit[1]
        value = compute()
        with self._lock:
            self._items[key] = (now, value)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything (after an edit the fingerprint might not see)."""
        with self._lock:
            self._items.clear()
