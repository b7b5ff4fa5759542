"""The CLI contract other tools script against: commands, output shapes, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import run_rootline
from tests.factories import themed_csv, write_csv

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cli.db'}"
    return str(request.getfixturevalue("own_postgres_url"))


def rootline(
    *args: str, db: str, tmp_path: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_rootline(*args, db=db, folder=tmp_path, check=check)


def test_ingest_names_a_source_that_holds_the_ids_already(db_url: str, tmp_path: Path) -> None:
    path = themed_csv(tmp_path / "tickets.csv", per_theme=2)
    first = rootline("ingest", str(path), "--source", "zendesk", db=db_url, tmp_path=tmp_path)
    assert "note:" not in first.stdout
    second = rootline("ingest", str(path), "--source", "desk", db=db_url, tmp_path=tmp_path)
    assert "source desk: read 12, inserted 12" in second.stdout
    assert "note: 12 of the new contacts have ids already stored under source 'zendesk'" in (
        second.stdout
    )
    assert "--source zendesk" in second.stdout


def test_ingest_cluster_eval_themes_assignments(db_url: str, tmp_path: Path) -> None:
    path = themed_csv(tmp_path / "tickets.csv", per_theme=40)
    out = rootline("ingest", str(path), db=db_url, tmp_path=tmp_path)
    assert "inserted 240" in out.stdout
    again = rootline("ingest", str(path), db=db_url, tmp_path=tmp_path)
    assert "inserted 0" in again.stdout and "unchanged 240" in again.stdout

    rootline("cluster", db=db_url, tmp_path=tmp_path)
    scores = json.loads(
        rootline("eval", "--field", "intent", "--json", db=db_url, tmp_path=tmp_path).stdout
    )
    assert set(scores) == {"nmi", "ari", "acc", "themes", "noise_share"}
    assert scores["nmi"] > 0.6 and 3 <= scores["themes"] <= 12

    themes = json.loads(rootline("themes", "--json", db=db_url, tmp_path=tmp_path).stdout)
    assert len(themes) == scores["themes"]
    for theme in themes:
        assert {"id", "title", "keywords", "size", "status"} <= set(theme)
        assert theme["title"] and theme["keywords"] and theme["size"] > 0
    assert [t["size"] for t in themes] == sorted((t["size"] for t in themes), reverse=True)

    rows = list(
        csv.DictReader(io.StringIO(rootline("assignments", db=db_url, tmp_path=tmp_path).stdout))
    )
    assert len(rows) == 240 and list(rows[0]) == ["source", "external_id", "theme_id"]
    ids = {t["id"] for t in themes}
    assert all(r["theme_id"] == "" or int(r["theme_id"]) in ids for r in rows)

    # A full re-run on the same data keeps the theme ids.
    rootline("cluster", "--full", db=db_url, tmp_path=tmp_path)
    again_themes = json.loads(rootline("themes", "--json", db=db_url, tmp_path=tmp_path).stdout)
    assert {t["id"] for t in again_themes} == ids


def test_bad_input_exits_2_with_one_line_and_no_traceback(db_url: str, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        [{"id": "1", "body": "x", "csat": "5"}, {"id": "2", "body": "y", "csat": "great"}],
    )
    proc = rootline("ingest", str(path), db=db_url, tmp_path=tmp_path, check=False)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("error: ") and "bad.csv" in err[-1] and "line 3" in err[-1]
    assert "'csat'" in err[-1] and "Traceback" not in proc.stderr

    missing = rootline(
        "ingest", str(tmp_path / "nope.csv"), db=db_url, tmp_path=tmp_path, check=False
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr

    usage = rootline("eval", db=db_url, tmp_path=tmp_path, check=False)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr

    debug = rootline("--debug", "ingest", str(path), db=db_url, tmp_path=tmp_path, check=False)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_eval_without_the_field_is_an_input_error(db_url: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", [{"id": "1", "body": "hello there"}])
    rootline("ingest", str(path), db=db_url, tmp_path=tmp_path)
    proc = rootline(
        "eval", "--field", "intent", "--json", db=db_url, tmp_path=tmp_path, check=False
    )
    assert proc.returncode == 2 and "intent" in proc.stderr


def test_bad_database_url_is_a_config_error(tmp_path: Path) -> None:
    proc = rootline("themes", db="nosuchdb://x", tmp_path=tmp_path, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["ingest", "a.csv", "--db", "sqlite:///x"], ["--db", "sqlite:///x", "ingest", "a.csv"]),
        (["ingest", "--db=sqlite:///x", "a.csv"], ["--db=sqlite:///x", "ingest", "a.csv"]),
        (["themes", "--json", "--debug"], ["--debug", "themes", "--json"]),
        (["--db", "u", "themes"], ["--db", "u", "themes"]),
        (["theme", "rename", "3", "--", "--db"], ["theme", "rename", "3", "--", "--db"]),
    ],
)
def test_global_options_are_taken_after_the_command(argv: list[str], expected: list[str]) -> None:
    from rootline.cli.main import hoist_global_options

    assert hoist_global_options(argv) == expected


def test_db_after_the_command_and_an_empty_file(tmp_path: Path, db_url: str) -> None:
    """As users type it: the options after the command; an empty export is refused."""
    path = themed_csv(tmp_path / "tickets.csv", per_theme=5)
    env = {**os.environ, "ROOTLINE_EMBEDDER": "hashing", "ROOTLINE_DATA_DIR": str(tmp_path)}
    env.pop("ROOTLINE_DATABASE_URL", None)

    def ingest_with_db_last(file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rootline", "ingest", str(file), "--db", db_url],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )

    proc = ingest_with_db_last(path)
    assert proc.returncode == 0, proc.stderr
    assert "inserted 30" in proc.stdout
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    proc = ingest_with_db_last(empty)
    assert proc.returncode == 2
    assert "empty.csv" in proc.stderr and "empty" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr
