"""Ingest safety: rejects, pushed batches, and fuzzed input that must never crash a reader."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rootline.errors import InputError
from rootline.ingest.models import Interaction
from rootline.ingest.readers import FORMATS, read_records
from rootline.ingest.schemas import Rejected
from rootline.ingest.service import IngestOptions, ingest_batch, ingest_file
from tests.factories import write_csv

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
SAMPLE_FORMATS = {
    "thread.mbox": "mbox",
    "single.eml": "eml",
    "chat.json": "chat-json",
    "zendesk.json": "zendesk",
    "freshdesk.json": "freshdesk",
    "intercom.json": "intercom",
    "customers.csv": "customers",
    "events.csv": "events",
}


def _count(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Interaction)) or 0


def _bad_rows() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {"id": str(i), "body": f"text {i}", "csat": "4"} for i in range(6)
    ]
    rows[2]["csat"] = "great"
    rows[4]["body"] = ""
    return rows


def test_skip_bad_keeps_good_rows_and_writes_reasons(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", _bad_rows())
    report = ingest_file(session, path, options=IngestOptions(skip_bad=True))
    assert (report.inserted, report.rejected) == (4, 2)
    lines = [json.loads(x) for x in (tmp_path / "t.csv.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in lines] == [(4, "csat"), (6, "body")]
    assert lines[0]["record"]["csat"] == "great" and "not a number" in lines[0]["reason"]
    assert _count(session) == 4


def test_rejects_path_can_be_chosen(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", _bad_rows())
    target = tmp_path / "out" / "bad.jsonl"
    target.parent.mkdir()
    ingest_file(session, path, options=IngestOptions(skip_bad=True, rejects_path=target))
    assert len(target.read_text().splitlines()) == 2


def test_batch_is_validated_like_a_file(session: Session) -> None:
    payload = [
        {"ticket_id": "w1", "description": "app crashes", "email": "a@example.com"},
        {"ticket_id": "w2", "description": "refund missing", "csat": "5"},
    ]
    report = ingest_batch(session, "webhook", payload)
    assert report.inserted == 2
    assert ingest_batch(session, "webhook", payload).unchanged == 2
    bad = [*payload, {"ticket_id": "w3", "description": "x", "created_at": "yesterday"}]
    with (
        pytest.raises(InputError, match=r"item 2, field 'created_at': not a date"),
        session.begin_nested(),
    ):
        ingest_batch(session, "webhook", bad)
    skipped = ingest_batch(session, "webhook", [*bad, "nope"], IngestOptions(skip_bad=True))
    assert skipped.rejected == 2 and any("item 3" in r for r in skipped.reject_reasons)


def test_over_long_id_is_refused_before_the_database(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"id": "x" * 300, "body": "hello"}])
    with (
        pytest.raises(InputError, match=r"t.csv, line 2, field 'external_id'"),
        session.begin_nested(),
    ):
        ingest_file(session, path)


def test_cli_skip_bad_reports_rejects(tmp_path: Path) -> None:
    from rootline.cli.main import app

    path = write_csv(tmp_path / "t.csv", _bad_rows())
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    failed = CliRunner().invoke(app, ["--db", db, "ingest", str(path)])
    assert isinstance(failed.exception, InputError) and "line 4" in str(failed.exception)
    result = CliRunner().invoke(app, ["--db", db, "ingest", str(path), "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert "inserted 4" in result.output and "rejected 2" in result.output


def _consume(path: Path, fmt: str) -> None:
    """Read everything; only records, ``Rejected`` items or an ``InputError`` are allowed."""
    try:
        for item in read_records(path, fmt):
            if isinstance(item, Rejected):
                assert isinstance(item.error, InputError) and item.error.reason
    except InputError as exc:
        assert exc.reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=600),
    fmt=st.sampled_from([f for f in FORMATS if f != "auto"] + ["auto"]),
)
def test_binary_garbage_never_crashes_a_reader(data: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.dat"
        path.write_bytes(data)
        _consume(path, fmt)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(SAMPLE_FORMATS)),
    cut=st.floats(0, 1),
    junk=st.binary(max_size=20),
    charset=st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252"]),
)
def test_truncated_and_re_encoded_samples_fail_clearly(
    name: str, cut: float, junk: bytes, charset: str
) -> None:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    data = text[: int(len(text) * cut)].encode(charset, errors="replace") + junk
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        _consume(path, SAMPLE_FORMATS[name])
        _consume(path, "auto")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "body",
                    "text",
                    "turns",
                    "role",
                    "comments",
                    "subject",
                    "created_at",
                    "csat",
                    "email",
                    "source",
                    "author",
                    "tags",
                    "conversation_parts",
                    "requester",
                    "status",
                    "time",
                    "kind",
                    "amount",
                    "date",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=_JSON,
    fmt=st.sampled_from(
        ["json", "jsonl", "chat-json", "zendesk", "freshdesk", "intercom", "customers", "events"]
    ),
)
def test_wrong_types_and_missing_fields_fail_clearly(value: object, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "input.json"
        body = json.dumps(value) if fmt != "jsonl" else json.dumps(value).replace("\n", " ")
        path.write_text(body if fmt != "json" else json.dumps([value]), encoding="utf-8")
        _consume(path, fmt)


def test_one_rejects_file_collects_every_input(session: Session, tmp_path: Path) -> None:
    target = tmp_path / "bad.jsonl"
    target.write_text("stale\n")
    options = IngestOptions(skip_bad=True, rejects_path=target)
    report = ingest_file(session, write_csv(tmp_path / "a.csv", _bad_rows()), options=options)
    ingest_file(session, write_csv(tmp_path / "b.csv", _bad_rows()), options=options, report=report)
    lines = [json.loads(x) for x in target.read_text().splitlines()]
    assert [Path(r["file"]).name for r in lines] == ["a.csv", "a.csv", "b.csv", "b.csv"]
