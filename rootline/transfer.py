"""Export a whole database to one file and import it into an empty one (SQLite or PostgreSQL).

The file is gzip'd JSON lines, read and written as a stream:

- line 1, the header: ``{"format": "rootline-export", "version": 1, "revisions": [...],
  "dialect": ..., "exported_at": ..., "tables": [{"name", "rows", "columns": [[name, kind]]}]}``;
- per table, in foreign-key order: ``{"table": NAME, "rows": N}`` then N rows, each a JSON
  array of the header's columns in order;
- last, ``{"end": true, "rows": TOTAL}``, so a file cut at a line end is still found short.

Values keep their type by the column's kind: ``int``, ``float`` (``"NaN"``, ``"Infinity"``
and ``"-Infinity"`` as strings), ``bool``, ``text``, ``datetime`` (ISO 8601 in UTC with its
offset: Rootline stores every time in UTC, SQLite without the offset), ``date``, ``time``,
``decimal`` (a string), ``bytes`` (base64) and ``json`` (``[value]``, so SQL NULL, written
``null``, stays apart from a JSON ``null``, written ``[null]``). NULL is ``null`` in any kind.

The tables come from the database itself (reflected), not from the models, so a column the
models do not know is copied too. Left out are Alembic's own table (its revisions are in the
header, and the target must be at the same ones) and derived tables: SQLite's full-text index
(``interaction_fts`` and its shadow tables) is rebuilt from the imported rows.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import math
import os
import re
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rootline.db import SQLITE_BEGIN, utcnow
from rootline.errors import InputError, StateError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ExportHeader",
    "TransferProgress",
    "TransferReport",
    "export_database",
    "import_database",
    "read_header",
]

FORMAT = "rootline-export"
FORMAT_VERSION = 1
_ALEMBIC_TABLE = "alembic_version"
_BATCH = 1000
_JSON_TEXT = {"ensure_ascii": False, "separators": (",", ":"), "allow_nan": False}
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_FTS_CONTENT = re.compile(r"content\s*=\s*['\"]?(\w+)", re.I)
#: A JSON column's JSON ``null``, told apart from SQL NULL while a row is encoded.
_JSON_NULL = object()


@dataclass
class TransferProgress:
    """Callbacks of a long export or import: the total rows once known, then rows done."""

    total: Callable[[int], None] = lambda _n: None
    advance: Callable[[int], None] = lambda _k: None
    table: Callable[[str], None] = lambda _name: None


@dataclass(frozen=True)
class ExportHeader:
    """The first line of an export file: its format, schema revisions and tables."""

    version: int
    revisions: list[str]
    dialect: str
    exported_at: str
    tables: list[dict[str, Any]]

    @property
    def rows(self) -> int:
        return sum(int(t["rows"]) for t in self.tables)


@dataclass
class TransferReport:
    """What an export or import did."""

    tables: int = 0
    rows: int = 0
    revisions: list[str] = field(default_factory=list)
    rows_by_table: dict[str, int] = field(default_factory=dict)


# --- the database's tables --------------------------------------------------------------------


def _derived_tables(conn: sa.Connection) -> tuple[set[str], dict[str, str]]:
    """SQLite's virtual tables with their shadow tables, and each external-content full-text
    table's content table (``interaction_fts`` -> ``interaction``). Empty elsewhere."""
    if conn.dialect.name != "sqlite":
        return set(), {}
    names = set(
        conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    )
    virtual = {
        name: sql
        for name, sql in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
            "AND upper(sql) LIKE 'CREATE VIRTUAL TABLE%'"
        )
    }
    derived = set(virtual) | {n for n in names for v in virtual if n.startswith(f"{v}_")}
    content = {}
    for name, sql in virtual.items():
        found = _FTS_CONTENT.search(sql or "")
        if found is None or not found.group(1):
            raise StateError(
                f"table {name} is a virtual table holding its own data; export cannot copy it"
            )
        content[name] = found.group(1)
    return derived, content


def _tables(conn: sa.Connection) -> list[sa.Table]:
    """The database's own tables in foreign-key order (parents first)."""
    derived, _content = _derived_tables(conn)
    names = [
        n
        for n in sa.inspect(conn).get_table_names()
        if n != _ALEMBIC_TABLE and n not in derived and not n.startswith("sqlite_")
    ]
    meta = sa.MetaData()
    with warnings.catch_warnings():
        # Index shapes reflection does not model (trigram, INCLUDE) warn; only columns matter.
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        meta.reflect(conn, only=names)
    return list(meta.sorted_tables)


def _revisions(conn: sa.Connection) -> list[str]:
    from alembic.runtime.migration import MigrationContext

    return sorted(MigrationContext.configure(conn).get_current_heads())


def _kind(column: sa.Column[Any]) -> str:
    t = column.type
    kinds: list[tuple[type[Any], str]] = [
        (sa.Boolean, "bool"),
        (sa.Integer, "int"),
        (sa.Float, "float"),
        (sa.Numeric, "decimal"),
        (sa.DateTime, "datetime"),
        (sa.Date, "date"),
        (sa.Time, "time"),
        (sa.JSON, "json"),
        (sa.LargeBinary, "bytes"),
        (sa.String, "text"),
    ]
    for cls, kind in kinds:
        if isinstance(t, cls):
            return kind
    return "raw"


def _order(table: sa.Table) -> list[sa.Column[Any]]:
    return list(table.primary_key.columns) or list(table.columns)


# --- values ------------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if value is _JSON_NULL:
        return [None]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not an integer")
        return value
    if kind == "float":
        number = float(value)
        if math.isfinite(number):
            return number
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if kind == "bool":
        return bool(value)
    if kind == "text":
        return str(value)
    if kind == "datetime":
        return _utc(value).isoformat()
    if kind in {"date", "time"}:
        return value.isoformat()
    if kind == "decimal":
        return str(value)
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "json":
        return [value]
    if isinstance(value, int | float | str):
        return value
    raise ValueError(f"{type(value).__name__} value {value!r} has no portable form")


def _decode(kind: str, value: Any, column: sa.Column[Any], sqlite: bool) -> Any:
    if value is None:
        return None
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{value!r} is not an integer")
        return value
    if kind == "float":
        if isinstance(value, str) and value in _NON_FINITE:
            return _NON_FINITE[value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not text")
        return value
    if kind == "datetime":
        at = _utc(datetime.fromisoformat(value))
        keeps_zone = not sqlite and getattr(column.type, "timezone", False)
        return at if keeps_zone else at.replace(tzinfo=None)
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "time":
        return time.fromisoformat(value)
    if kind == "decimal":
        return Decimal(value)
    if kind == "bytes":
        return base64.b64decode(value, validate=True)
    if kind == "json":
        if not isinstance(value, list) or len(value) != 1:
            raise ValueError("a JSON value must be written as [value]")
        return sa.JSON.NULL if value[0] is None else value[0]
    return value


def _load_type(column: sa.Column[Any]) -> sa.types.TypeEngine[Any]:
    """The column's type for inserting: JSON with None as SQL NULL (JSON null is ``JSON.NULL``)."""
    if isinstance(column.type, sa.JSON):
        return type(column.type)(none_as_null=True)
    return column.type


# --- export ------------------------------------------------------------------------------------


def export_database(
    engine: Engine, path: Path, *, progress: TransferProgress | None = None
) -> TransferReport:
    """Write every table of the database at ``engine`` to ``path``, from one snapshot.

    The file is written beside ``path`` and renamed into place at the end, so a failed export
    leaves no partial file and an earlier file of the same name intact.

    Raises:
        StateError: if a value has no portable form (named by table and column).
    """
    progress = progress or TransferProgress()
    report = TransferReport()
    conn = engine.connect()
    if conn.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        with conn, conn.begin():
            tables = _tables(conn)
            report.revisions = _revisions(conn)
            counts = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in tables
            }
            progress.total(sum(counts.values()))
            header = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "revisions": report.revisions,
                "dialect": conn.dialect.name,
                "exported_at": utcnow().isoformat(),
                "tables": [
                    {
                        "name": t.name,
                        "rows": counts[t.name],
                        "columns": [[c.name, _kind(c)] for c in t.columns],
                    }
                    for t in tables
                ],
            }
            with gzip.open(partial, "wt", encoding="utf-8", compresslevel=6, newline="\n") as out:
                _write(out, header)
                for table in tables:
                    progress.table(table.name)
                    _write(out, {"table": table.name, "rows": counts[table.name]})
                    done = _export_table(conn, table, out, progress)
                    if done != counts[table.name]:
                        raise StateError(f"table {table.name} changed while being exported")
                    report.rows_by_table[table.name] = done
                    report.rows += done
                _write(out, {"end": True, "rows": report.rows})
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    report.tables = len(report.rows_by_table)
    return report


def _write(out: IO[str], item: Any) -> None:
    out.write(json.dumps(item, **_JSON_TEXT))  # type: ignore[arg-type]
    out.write("\n")


def _export_table(
    conn: sa.Connection, table: sa.Table, out: IO[str], progress: TransferProgress
) -> int:
    columns = list(table.columns)
    kinds = [_kind(c) for c in columns]
    # JSON columns also say whether they are SQL NULL: both NULL and JSON null read as None.
    json_at = [i for i, k in enumerate(kinds) if k == "json"]
    selected: list[Any] = [*columns, *(columns[i].is_(None) for i in json_at)]
    stmt = sa.select(*selected).order_by(*_order(table)).execution_options(yield_per=_BATCH)
    done = 0
    for part in conn.execute(stmt).partitions():
        for row in part:
            values = list(row[: len(columns)])
            for flag, i in enumerate(json_at):
                if values[i] is None and not row[len(columns) + flag]:
                    values[i] = _JSON_NULL
            try:
                _write(out, [_encode(k, v) for k, v in zip(kinds, values, strict=True)])
            except (ValueError, TypeError, AttributeError) as exc:
                raise StateError(f"table {table.name}: {exc}") from None
        done += len(part)
        progress.advance(len(part))
    return done


# --- import ------------------------------------------------------------------------------------


def read_header(path: Path) -> ExportHeader:
    """The header of the export file at ``path``.

    Raises:
        InputError: naming the file, if it cannot be read or is not a Rootline export of a
            format version this Rootline reads.
    """
    with _Lines(path) as lines:
        return _header(path, lines)


class _Lines:
    """The numbered JSON lines of an export file; read errors become ``InputError``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.number = 0
        try:
            # Closed by __exit__: the file is read across several functions.
            self._file: IO[str] = gzip.open(path, "rt", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            raise InputError(
                f"cannot read the file: {exc.strerror or exc}", path=str(path)
            ) from None

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._file.close()

    def error(self, reason: str) -> InputError:
        return InputError(reason, path=str(self.path), line=self.number or None)

    def next(self, *, what: str = "") -> Any:
        """The next line, parsed; at the end of the file an error, as more was expected.

        ``what`` replaces the reason given for a line that is not JSON.
        """
        text = self._read()
        if not text:
            raise self.error("the file ends early: it is truncated")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise self.error(what or f"not valid JSON ({exc.msg}); the file is damaged") from None

    def finish(self) -> None:
        """Read to the end, which checks the gzip checksum; nothing may follow the last line."""
        if self._read():
            raise self.error("unexpected data after the end of the export")

    def _read(self) -> str:
        try:
            text = self._file.readline()
        except (EOFError, zlib.error) as exc:
            raise self.error("the file is truncated or damaged (gzip: " + str(exc) + ")") from None
        except gzip.BadGzipFile as exc:
            if self.number == 0:
                raise self.error("not a Rootline export (not a gzip file)") from None
            raise self.error(f"the file is damaged (gzip: {exc})") from None
        except UnicodeDecodeError:
            raise self.error("the file is damaged (not UTF-8 text)") from None
        except OSError as exc:
            raise self.error(f"cannot read the file: {exc}") from None
        if text:
            self.number += 1
            if not text.endswith("\n"):
                raise self.error("the file ends in the middle of a line: it is truncated")
        return text


def _header(path: Path, lines: _Lines) -> ExportHeader:
    head = lines.next(what="not a Rootline export (its first line is not a header)")
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise lines.error("not a Rootline export (its first line is not a header)")
    version = head.get("version")
    if version != FORMAT_VERSION:
        raise lines.error(
            f"export format version {version!r}; this Rootline reads version {FORMAT_VERSION}"
        )
    try:
        header = ExportHeader(
            version=version,
            revisions=[str(r) for r in head["revisions"]],
            dialect=str(head["dialect"]),
            exported_at=str(head["exported_at"]),
            tables=list(head["tables"]),
        )
        for t in header.tables:
            str(t["name"]), int(t["rows"]), [(str(n), str(k)) for n, k in t["columns"]]
    except (KeyError, TypeError, ValueError):
        raise lines.error("the header is incomplete; the file is damaged") from None
    return header


def import_database(
    engine: Engine, path: Path, *, progress: TransferProgress | None = None
) -> TransferReport:
    """Load the export at ``path`` into the empty database at ``engine``, in one transaction.

    Rows go in foreign-key order with their ids; a table's references to its own rows
    (a customer merged into another) are set once all its rows are in. Afterwards
    PostgreSQL's sequences continue after the highest ids, and SQLite's full-text index is
    rebuilt. Any error rolls everything back.

    Raises:
        InputError: naming the file (and line), if it is not a Rootline export, is damaged or
            truncated, or was written at other schema revisions than the database's.
        StateError: if the database already holds data.
    """
    progress = progress or TransferProgress()
    report = TransferReport()
    with _Lines(path) as lines:
        header = _header(path, lines)
        progress.total(header.rows)
        conn = engine.connect().execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        with conn, conn.begin():
            report.revisions = _revisions(conn)
            if report.revisions != sorted(header.revisions):
                raise InputError(
                    "the file was exported at schema revision "
                    f"{', '.join(header.revisions) or 'none'}, this database is at "
                    f"{', '.join(report.revisions) or 'none'}: import it with the Rootline "
                    "version that exported it (a later one upgrades the database)",
                    path=str(path),
                )
            tables = {t.name: t for t in _tables(conn)}
            _check_tables(path, header, tables)
            _refuse_data(conn, tables)
            with _fts_rebuilt(conn, set(tables)):
                for entry in header.tables:
                    name = entry["name"]
                    progress.table(name)
                    count = _import_table(conn, lines, entry, tables[name], progress)
                    report.rows_by_table[name] = count
                    report.rows += count
                end = lines.next()
                if end != {"end": True, "rows": report.rows}:
                    raise lines.error("expected the end of the export; the file is damaged")
                lines.finish()
            _reset_sequences(conn, list(tables.values()))
    report.tables = len(report.rows_by_table)
    return report


def _check_tables(path: Path, header: ExportHeader, tables: dict[str, sa.Table]) -> None:
    names = [t["name"] for t in header.tables]
    if set(names) != set(tables) or len(names) != len(set(names)):
        missing = sorted(set(tables) - set(names))
        unknown = sorted(set(names) - set(tables))
        raise InputError(
            "its tables differ from this database's"
            + (f" (not in the file: {', '.join(missing)})" if missing else "")
            + (f" (not in the database: {', '.join(unknown)})" if unknown else ""),
            path=str(path),
        )
    for entry in header.tables:
        columns = [n for n, _k in entry["columns"]]
        have = list(tables[entry["name"]].columns.keys())
        if sorted(columns) != sorted(have) or len(columns) != len(set(columns)):
            raise InputError(
                f"table {entry['name']} has columns {', '.join(columns)} in the file but "
                f"{', '.join(have)} in this database",
                path=str(path),
            )


def _refuse_data(conn: sa.Connection, tables: dict[str, sa.Table]) -> None:
    full = [
        name
        for name, table in tables.items()
        if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first()
    ]
    if full:
        url = conn.engine.url.render_as_string(hide_password=True)
        raise StateError(
            f"the database {url} already holds data (in {', '.join(sorted(full))}); "
            "import loads only into an empty database: give a new one with --db"
        )


def _import_table(
    conn: sa.Connection,
    lines: _Lines,
    entry: dict[str, Any],
    table: sa.Table,
    progress: TransferProgress,
) -> int:
    name, expected = entry["name"], int(entry["rows"])
    if lines.next() != {"table": name, "rows": expected}:
        raise lines.error(f"expected the rows of table {name}; the file is damaged")
    names = [str(n) for n, _k in entry["columns"]]
    kinds = [str(k) for _n, k in entry["columns"]]
    columns = [table.c[n] for n in names]
    sqlite = conn.dialect.name == "sqlite"
    target = sa.table(name, *(sa.column(c.name, _load_type(c)) for c in columns))
    # References to rows of the same table are set afterwards: the row referred to may come
    # later (a customer merged into a newer one).
    own = {
        fk.parent.name
        for fk in table.foreign_keys
        if fk.column.table is table and fk.parent.nullable
    }
    keys = [c.name for c in table.primary_key.columns]
    later: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    done = 0
    for _ in range(expected):
        raw = lines.next()
        if not isinstance(raw, list) or len(raw) != len(names):
            raise lines.error(f"a row of table {name} must list {len(names)} values")
        row: dict[str, Any] = {}
        for col, kind, value in zip(columns, kinds, raw, strict=True):
            try:
                row[col.name] = _decode(kind, value, col, sqlite)
            except (ValueError, TypeError) as exc:
                raise InputError(
                    f"table {name}: {exc}", path=str(lines.path), line=lines.number, field=col.name
                ) from None
        if own and any(row[c] is not None for c in own):
            later.append({**{f"k_{k}": row[k] for k in keys}, **{f"v_{c}": row[c] for c in own}})
            row.update(dict.fromkeys(own))
        batch.append(row)
        if len(batch) >= _BATCH:
            _insert(conn, lines, target, batch)
            done += len(batch)
            progress.advance(len(batch))
            batch = []
    if batch:
        _insert(conn, lines, target, batch)
        done += len(batch)
        progress.advance(len(batch))
    if later:
        update = (
            sa.update(target)
            .where(*(target.c[k] == sa.bindparam(f"k_{k}") for k in keys))
            .values({c: sa.bindparam(f"v_{c}") for c in own})
        )
        _run(conn, lines, update, later)
    return done


def _insert(
    conn: sa.Connection, lines: _Lines, target: sa.TableClause, rows: list[dict[str, Any]]
) -> None:
    _run(conn, lines, sa.insert(target), rows)


def _run(conn: sa.Connection, lines: _Lines, stmt: Any, rows: list[dict[str, Any]]) -> None:
    try:
        conn.execute(stmt, rows)
    except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
        raise lines.error(f"a row does not fit the database: {exc.orig}") from None


@contextlib.contextmanager
def _fts_rebuilt(conn: sa.Connection, loading: set[str]) -> Iterator[None]:
    """On SQLite, the full-text triggers of the tables being loaded are set aside during the
    load and each index rebuilt in one pass at the end (several times faster than row by row).

    All of it happens inside the caller's transaction, so a failed load rolls back the
    dropped triggers too.
    """
    _derived, content = _derived_tables(conn)
    indexes = [fts for fts, table in content.items() if table in loading]
    triggers = []
    for fts in indexes:
        for name, sql in conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            (content[fts],),
        ).all():
            if sql and fts.lower() in sql.lower():
                triggers.append(sql)
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    for fts in indexes:
        conn.exec_driver_sql(f'INSERT INTO "{fts}"("{fts}") VALUES (\'rebuild\')')
    for sql in triggers:
        conn.exec_driver_sql(sql)


def _reset_sequences(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """PostgreSQL: each id sequence continues after the table's highest id."""
    if conn.dialect.name != "postgresql":
        return  # SQLite's next rowid is one more than the highest, whatever inserted it
    quote = conn.dialect.identifier_preparer.quote
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            sequence = conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": quote(table.name), "column": column.name},
            ).scalar()
            if sequence is None:
                continue
            highest = conn.execute(sa.select(sa.func.max(column))).scalar()
            conn.execute(
                sa.text("SELECT setval(CAST(:sequence AS regclass), :value, :called)"),
                {"sequence": sequence, "value": highest or 1, "called": highest is not None},
            )
