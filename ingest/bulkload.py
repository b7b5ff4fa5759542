"""Bulk-load settings for one ingest call: index upkeep done once at the end, not per row.

On SQLite, an ``AFTER INSERT`` trigger that copies each new interaction's columns into another
table (the keyword-search FTS index) costs more than the insert itself: tokenising row by row
inside the trigger is about six times slower than one ``INSERT ... SELECT`` over the new rows.
For a large load, such triggers are dropped, the rows inserted, the copy made in one statement
and the triggers created again from their own SQL, all inside the caller's transaction, so a
rollback restores everything and readers never see a missing trigger. Triggers of any other
shape are left alone. SQLite also gets a larger page cache for the load.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

__all__ = ["BulkLoad"]

#: Inserts of fewer rows than this keep the per-row triggers: DDL is not worth it.
MIN_ROWS = 1000
#: Page cache during a load, in KiB (SQLite's negative cache_size); restored afterwards.
_CACHE_KIB = 131072
_COPY_TRIGGER = re.compile(
    r"^\s*CREATE\s+TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\"?(?P<name>\w+)\"?\s+AFTER\s+INSERT\s+ON"
    r"\s+\"?(?P<table>\w+)\"?\s+(?:FOR\s+EACH\s+ROW\s+)?BEGIN\s+INSERT\s+INTO\s+\"?(?P<target>\w+)"
    r"\"?\s*\((?P<columns>[\w\s,\"]+)\)\s*VALUES\s*\((?P<values>[\w\s,.\"]+)\)\s*;\s*END\s*;?\s*$",
    re.I,
)
_NEW_COLUMN = re.compile(r"^\s*new\.\"?(\w+)\"?\s*$", re.I)


@dataclass
class _Deferred:
    sql: str
    target: str
    columns: str
    selected: str


@dataclass
class BulkLoad:
    """Index upkeep deferred for the inserts of one ingest call; :meth:`finish` settles it."""

    session: Session
    _deferred: dict[str, tuple[int, list[_Deferred]]] = field(default_factory=dict)
    _cache_before: int | None = None

    def before_insert(self, table: str, rows: int) -> None:
        """Called before ``rows`` rows go into ``table``; defers its copy triggers if worth it."""
        if rows < MIN_ROWS or table in self._deferred:
            return
        conn = self.session.connection()
        if conn.dialect.name != "sqlite":
            return
        if self._cache_before is None:
            self._cache_before = conn.exec_driver_sql("PRAGMA cache_size").scalar_one()
            if self._cache_before > -_CACHE_KIB:
                conn.exec_driver_sql(f"PRAGMA cache_size=-{_CACHE_KIB}")
        triggers = []
        for name, sql in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            (table,),
        ):
            deferred = _parse(sql or "", table)
            if deferred is not None:
                triggers.append(deferred)
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
        last = conn.exec_driver_sql(f'SELECT max(rowid) FROM "{table}"').scalar() or 0
        self._deferred[table] = (last, triggers)

    def finish(self) -> None:
        """Copy the new rows where the deferred triggers would have, then restore them."""
        if not self._deferred and self._cache_before is None:
            return
        conn = self.session.connection()
        for table, (last, triggers) in self._deferred.items():
            for t in triggers:
                conn.exec_driver_sql(
                    f'INSERT INTO "{t.target}" ({t.columns}) SELECT {t.selected} FROM "{table}" '
                    "WHERE rowid > ? ORDER BY rowid",
                    (last,),
                )
                conn.exec_driver_sql(t.sql)
        self._deferred.clear()
        if self._cache_before is not None:
            conn.exec_driver_sql(f"PRAGMA cache_size={int(self._cache_before)}")
            self._cache_before = None

    def abandon(self) -> None:
        """After a failure: settle what can be, never masking the error being raised."""
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self.finish()


def _parse(sql: str, table: str) -> _Deferred | None:
    """The trigger as a copy of new-row columns into a target table, or None if it is not."""
    m = _COPY_TRIGGER.match(sql)
    if m is None or m.group("table").lower() != table.lower():
        return None
    values = [_NEW_COLUMN.match(v) for v in m.group("values").split(",")]
    if not all(values):
        return None
    columns = [c.strip() for c in m.group("columns").split(",")]
    if len(columns) != len(values):
        return None
    selected = ", ".join(f'"{v.group(1)}"' for v in values if v is not None)
    return _Deferred(sql, m.group("target"), ", ".join(columns), selected)
