"""``rootline problems|rules|teams|users|worker`` through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from rootline.db import make_engine, make_session_factory, migrate, session_scope
from tests.factories import ThemeFactory, add_timeline

pytestmark = pytest.mark.slow

START = datetime(2026, 6, 1, tzinfo=UTC)


def rootline(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROOTLINE_EMBEDDER": "hashing", "ROOTLINE_DATA_DIR": str(tmp_path),
           "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("ROOTLINE_DATABASE_URL", None)
    env.pop("ROOTLINE_WEBHOOK_URL", None)
    proc = subprocess.run(
        [sys.executable, "-m", "rootline", "--db", f"sqlite:///{tmp_path / 'cli.db'}", *args],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def theme_id(tmp_path: Path) -> int:
    """A database with one web-channel theme that falls to a tenth after 2026-06-29."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    migrate(engine)
    with session_scope(make_session_factory(engine)) as session:
        ThemeFactory._meta.sqlalchemy_session = session
        theme = ThemeFactory(title="Checkout fails", keywords=["checkout", "payment"])
        add_timeline(session, theme, start=START, days=42, per_day=5, change_day=28,
                     factor_after=0.1, channel="web", extra={"product": "shop"}, tag="t")
        add_timeline(session, None, start=START, days=42, per_day=45, tag="o")
        tid = theme.id
    engine.dispose()
    return tid


def test_problem_workflow_end_to_end(tmp_path: Path, theme_id: int) -> None:
    rootline(tmp_path, "users", "add", "lead@example.com", "--role", "product_owner")
    rootline(tmp_path, "teams", "add", "Web shop", "--kind", "business",
             "--lead", "lead@example.com")
    rootline(tmp_path, "teams", "add", "Shop IS", "--kind", "is")
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{
        "name": "shop", "priority": 1, "match": {"product": "shop", "channel": "web"},
        "business_team": "Web shop", "is_team": "Shop IS"}]}))
    assert "1 routing rules imported" in rootline(tmp_path, "rules", "import", str(rules)).stdout
    exported = yaml.safe_load(rootline(tmp_path, "rules", "export").stdout)
    assert exported["rules"][0]["match"] == {"product": "shop", "channel": "web"}

    created = rootline(tmp_path, "problems", "create", "--theme", str(theme_id),
                       "--title", "Checkout broken", "--tag", "web")
    assert "problem 1 created" in created.stdout and "rule 'shop'" in created.stdout
    listed = json.loads(rootline(tmp_path, "problems", "list", "--json").stdout)
    assert [(p["id"], p["business_team"], p["is_team"]) for p in listed] == [
        (1, "Web shop", "Shop IS")]

    bad = rootline(tmp_path, "problems", "transition", "1", "resolved", check=False)
    assert bad.returncode == 2 and "cannot go from new to resolved" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    stale = rootline(tmp_path, "problems", "transition", "1", "assessed", "--version", "7",
                     check=False)
    assert stale.returncode == 2 and "someone else" in stale.stderr
    rootline(tmp_path, "problems", "transition", "1", "assessed")
    rootline(tmp_path, "problems", "update", "1", "--root-cause", "form times out",
             "--workaround", "pay by invoice")
    rootline(tmp_path, "problems", "assign", "1", "--is", "Shop IS")
    rootline(tmp_path, "problems", "task", "1", "Raise timeout", "--team", "Shop IS",
             "--due", "2026-07-01")
    rootline(tmp_path, "problems", "comment", "1", "Confirmed on staging")

    early = rootline(tmp_path, "problems", "verify", "1", "--json", check=False)
    assert early.returncode == 2 and "no fix date" in early.stderr and early.stdout == ""
    assert "fix recorded on 2026-06-29" in rootline(
        tmp_path, "problems", "fix", "1", "--date", "2026-06-29", "--description", "timeout 60s"
    ).stdout
    verdict = json.loads(rootline(tmp_path, "problems", "verify", "1", "--json").stdout)
    assert verdict["verdict"] == "verified" and verdict["window_days"] == 14
    assert verdict["before_rate"] == pytest.approx(0.1) and verdict["after_rate"] < 0.02
    not_yet = json.loads(rootline(tmp_path, "problems", "verify", "1", "--json",
                                  "--as-of", "2026-07-02").stdout)
    assert not_yet["verdict"] == "not_yet"

    shown = json.loads(rootline(tmp_path, "problems", "show", "1", "--json").stdout)
    assert shown["root_cause"] == "form times out" and shown["tags"] == ["web"]
    assert shown["tasks"][0]["due_date"] == "2026-07-01"
    assert shown["comments"][0]["body"] == "Confirmed on staging"
    assert {e["field"] for e in shown["audit"]} >= {"state", "root_cause", "fixed_at"}
    text = rootline(tmp_path, "problems", "show", "1").stdout
    assert "Checkout broken" in text and "rule 'shop'" in text
    articles = json.loads(rootline(tmp_path, "problems", "known-errors", "invoice",
                                   "--json").stdout)
    assert articles[0]["workaround"] == "pay by invoice"
    backlog = json.loads(rootline(tmp_path, "problems", "backlog", "--json").stdout)
    assert [p["id"] for p in backlog] == [1]
    teams = json.loads(rootline(tmp_path, "teams", "list", "--json").stdout)
    assert {t["name"] for t in teams} >= {"Web shop", "Shop IS"}

    worker = rootline(tmp_path, "worker", "--once")
    assert "sla_breaches=" in worker.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["problems", "create", "--theme", "999"], "no theme #999"),
    (["problems", "show", "42"], "no problem #42"),
    (["problems", "fix", "42", "--date", "yesterday"], "YYYY-MM-DD"),
    (["teams", "add", "X", "--kind", "sales"], "team kind must be one of"),
    (["rules", "import", "missing.yaml"], "missing.yaml: cannot read"),
    (["problems", "assign", "1"], "--business TEAM and/or --is TEAM"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = rootline(tmp_path, *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_verify_before_and_after_windows_are_equal(tmp_path: Path, theme_id: int) -> None:
    rootline(tmp_path, "problems", "create", "--theme", str(theme_id))
    rootline(tmp_path, "problems", "fix", "1", "--date", "2026-06-29")
    out = json.loads(rootline(tmp_path, "problems", "verify", "1", "--json",
                              "--as-of", "2026-07-09").stdout)
    assert out["window_days"] == 10
    assert out["before_all_contacts"] == 500 and out["after_all_contacts"] == 455
    assert out["fixed_at"].startswith("2026-06-29") and out["state_change"] is None
    assert (START + timedelta(days=28)).date().isoformat() == "2026-06-29"
