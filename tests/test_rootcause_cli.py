"""``rootline problems|rules|teams|users|worker``: the real command line (slow, one process per
call) for the workflow and exit codes, typer's ``CliRunner`` for tasks, SLAs and the contract."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from rootline.cli.main import app
from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.errors import InputError, NotFoundError
from tests.cli_runner import run_rootline
from tests.factories import ThemeFactory, add_timeline

START = datetime(2026, 6, 1, tzinfo=UTC)


def rootline(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    return run_rootline(*args, db=db, folder=tmp_path, check=check, timeout=120)


@pytest.fixture
def theme_id(tmp_path: Path) -> int:
    """A database with one web-channel theme that falls to a tenth after 2026-06-29."""
    engine = make_engine(f"sqlite:///{tmp_path / 'cli.db'}")
    migrate(engine)
    with session_scope(make_session_factory(engine)) as session:
        ThemeFactory._meta.sqlalchemy_session = session
        theme = ThemeFactory(title="Checkout fails", keywords=["checkout", "payment"])
        add_timeline(
            session,
            theme,
            start=START,
            days=42,
            per_day=5,
            change_day=28,
            factor_after=0.1,
            channel="web",
            extra={"product": "shop"},
            tag="t",
        )
        add_timeline(session, None, start=START, days=42, per_day=45, tag="o")
        tid = theme.id
    engine.dispose()
    return tid


@pytest.mark.slow
def test_problem_workflow_end_to_end(tmp_path: Path, theme_id: int) -> None:
    rootline(tmp_path, "users", "add", "lead@example.com", "--role", "product_owner")
    rootline(
        tmp_path, "teams", "add", "Web shop", "--kind", "business", "--lead", "lead@example.com"
    )
    rootline(tmp_path, "teams", "add", "Shop IS", "--kind", "is")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {
                        "name": "shop",
                        "priority": 1,
                        "match": {"product": "shop", "channel": "web"},
                        "business_team": "Web shop",
                        "is_team": "Shop IS",
                    }
                ]
            }
        )
    )
    assert "1 routing rules imported" in rootline(tmp_path, "rules", "import", str(rules)).stdout
    exported = yaml.safe_load(rootline(tmp_path, "rules", "export").stdout)
    assert exported["rules"][0]["match"] == {"product": "shop", "channel": "web"}

    created = rootline(
        tmp_path,
        "problems",
        "create",
        "--theme",
        str(theme_id),
        "--title",
        "Checkout broken",
        "--tag",
        "web",
    )
    assert "problem 1 created" in created.stdout and "rule 'shop'" in created.stdout
    listed = json.loads(rootline(tmp_path, "problems", "list", "--json").stdout)
    assert [(p["id"], p["business_team"], p["is_team"]) for p in listed] == [
        (1, "Web shop", "Shop IS")
    ]

    bad = rootline(tmp_path, "problems", "transition", "1", "resolved", check=False)
    assert bad.returncode == 2 and "cannot go from new to resolved" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    stale = rootline(
        tmp_path, "problems", "transition", "1", "assessed", "--version", "7", check=False
    )
    assert stale.returncode == 2 and "someone else" in stale.stderr
    rootline(tmp_path, "problems", "transition", "1", "assessed")
    rootline(
        tmp_path,
        "problems",
        "update",
        "1",
        "--root-cause",
        "form times out",
        "--workaround",
        "pay by invoice",
    )
    rootline(tmp_path, "problems", "assign", "1", "--is", "Shop IS")
    rootline(
        tmp_path,
        "problems",
        "task",
        "add",
        "1",
        "Raise timeout",
        "--team",
        "Shop IS",
        "--due",
        "2026-07-01",
    )
    rootline(tmp_path, "problems", "comment", "1", "Confirmed on staging")

    early = rootline(tmp_path, "problems", "verify", "1", "--json", check=False)
    assert early.returncode == 2 and "no fix date" in early.stderr and early.stdout == ""
    assert (
        "fix recorded on 2026-06-29"
        in rootline(
            tmp_path, "problems", "fix", "1", "--date", "2026-06-29", "--description", "timeout 60s"
        ).stdout
    )
    verdict = json.loads(rootline(tmp_path, "problems", "verify", "1", "--json").stdout)
    assert verdict["verdict"] == "verified" and verdict["window_days"] == 14
    assert verdict["before_rate"] == pytest.approx(0.1) and verdict["after_rate"] < 0.02
    not_yet = json.loads(
        rootline(tmp_path, "problems", "verify", "1", "--json", "--as-of", "2026-07-02").stdout
    )
    assert not_yet["verdict"] == "not_yet"

    shown = json.loads(rootline(tmp_path, "problems", "show", "1", "--json").stdout)
    assert shown["root_cause"] == "form times out" and shown["tags"] == ["web"]
    assert shown["tasks"][0]["due_date"] == "2026-07-01"
    assert shown["comments"][0]["body"] == "Confirmed on staging"
    assert {e["field"] for e in shown["audit"]} >= {"state", "root_cause", "fixed_at"}
    text = rootline(tmp_path, "problems", "show", "1").stdout
    assert "Checkout broken" in text and "rule 'shop'" in text
    articles = json.loads(
        rootline(tmp_path, "problems", "known-errors", "invoice", "--json").stdout
    )
    assert articles[0]["workaround"] == "pay by invoice"
    backlog = json.loads(rootline(tmp_path, "problems", "backlog", "--json").stdout)
    assert [p["id"] for p in backlog] == [1]
    teams = json.loads(rootline(tmp_path, "teams", "list", "--json").stdout)
    assert {t["name"] for t in teams} >= {"Web shop", "Shop IS"}

    worker = rootline(tmp_path, "worker", "--once")
    assert "sla_breaches=" in worker.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["problems", "create", "--theme", "999"], "no theme #999"),
        (["problems", "show", "42"], "no problem #42"),
        (["problems", "fix", "42", "--date", "yesterday"], "YYYY-MM-DD"),
        (["teams", "add", "X", "--kind", "sales"], "team kind must be one of"),
        (["rules", "import", "missing.yaml"], "missing.yaml: cannot read"),
        (["problems", "assign", "1"], "--business TEAM and/or --is TEAM"),
        (["problems", "task", "list"], "give a PROBLEM_ID or --user EMAIL"),
        (["problems", "sla", "set", "P9", "--fix", "1"], "priority must be one of P1, P2, P3, P4"),
    ],
)
@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = rootline(tmp_path, *args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_verify_before_and_after_windows_are_equal(tmp_path: Path, theme_id: int) -> None:
    rootline(tmp_path, "problems", "create", "--theme", str(theme_id))
    rootline(tmp_path, "problems", "fix", "1", "--date", "2026-06-29")
    out = json.loads(
        rootline(tmp_path, "problems", "verify", "1", "--json", "--as-of", "2026-07-09").stdout
    )
    assert out["window_days"] == 10
    assert out["before_all_contacts"] == 500 and out["after_all_contacts"] == 455
    assert out["fixed_at"].startswith("2026-06-29") and out["state_change"] is None
    assert (START + timedelta(days=28)).date().isoformat() == "2026-06-29"


def invoke(tmp_path: Path, *args: str) -> str:
    """Run a command in-process; a user error is raised as the exception the CLI would print."""
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{tmp_path / 'cli.db'}", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_tasks_are_added_listed_and_done(tmp_path: Path, theme_id: int) -> None:
    invoke(tmp_path, "users", "add", "ops@example.com", "--role", "is_owner")
    invoke(tmp_path, "teams", "add", "Shop IS", "--kind", "is")
    invoke(tmp_path, "problems", "create", "--theme", str(theme_id))
    assert "task 1 added to problem 1" in invoke(
        tmp_path,
        "problems",
        "task",
        "add",
        "1",
        "Raise timeout",
        "--team",
        "shop is",
        "--due",
        "2026-07-09",
    )
    invoke(
        tmp_path,
        "problems",
        "task",
        "add",
        "1",
        "Check logs",
        "--user",
        "ops@example.com",
        "--due",
        "2026-07-01",
    )
    invoke(tmp_path, "problems", "task", "add", "1", "Write post-mortem")

    listed = json.loads(invoke(tmp_path, "problems", "task", "list", "1", "--json"))
    assert [
        (t["title"], t["owner_team"], t["owner_user"], t["due_date"], t["state"]) for t in listed
    ] == [
        ("Check logs", None, "ops@example.com", "2026-07-01", "open"),
        ("Raise timeout", "Shop IS", None, "2026-07-09", "open"),
        ("Write post-mortem", None, None, None, "open"),
    ]
    assert "Raise timeout" in invoke(tmp_path, "problems", "task", "list", "1")

    assert invoke(tmp_path, "problems", "task", "done", "2", "3").splitlines() == [
        "task 2 done",
        "task 3 done",
    ]
    invoke(tmp_path, "problems", "task", "done", "1", "--cancel")
    assert json.loads(invoke(tmp_path, "problems", "task", "list", "1", "--json")) == []
    every = json.loads(invoke(tmp_path, "problems", "task", "list", "1", "--all", "--json"))
    assert {t["id"]: t["state"] for t in every} == {1: "cancelled", 2: "done", 3: "done"}
    mine = json.loads(
        invoke(tmp_path, "problems", "task", "list", "--user", "ops@example.com", "--all", "--json")
    )
    assert [t["title"] for t in mine] == ["Check logs"]
    shown = json.loads(invoke(tmp_path, "problems", "show", "1", "--json"))
    assert {e["action"] for e in shown["audit"]} >= {"create"}

    with pytest.raises(NotFoundError, match="no task 99"):
        invoke(tmp_path, "problems", "task", "done", "99")
    with pytest.raises(NotFoundError, match="no problem #7"):
        invoke(tmp_path, "problems", "task", "add", "7", "Nothing")
    with pytest.raises(InputError, match="PROBLEM_ID or --user"):
        invoke(tmp_path, "problems", "task", "list", "1", "--user", "ops@example.com")
    with pytest.raises(InputError, match="--due must be a date"):
        invoke(tmp_path, "problems", "task", "add", "1", "Later", "--due", "soon")


def test_sla_policies_are_listed_and_set_per_priority(tmp_path: Path, theme_id: int) -> None:
    defaults = json.loads(invoke(tmp_path, "problems", "sla", "list", "--json"))
    assert [p["priority"] for p in defaults] == ["P1", "P2", "P3", "P4"]
    assert defaults[0] == {
        "priority": "P1",
        "hours_to_assess": 4.0,
        "hours_to_root_cause": 48.0,
        "hours_to_fix": 168.0,
        "default": True,
    }

    assert "P2: assess 12 h, root cause 120 h, fix 100 h" in invoke(
        tmp_path, "problems", "sla", "set", "p2", "--assess", "12", "--fix", "100"
    )
    after = {
        p["priority"]: p for p in json.loads(invoke(tmp_path, "problems", "sla", "list", "--json"))
    }
    assert after["P2"] == {
        "priority": "P2",
        "hours_to_assess": 12.0,
        "hours_to_root_cause": 120.0,
        "hours_to_fix": 100.0,
        "default": False,
    }
    assert after["P1"]["default"] is True
    assert "set" in invoke(tmp_path, "problems", "sla", "list")

    invoke(tmp_path, "problems", "create", "--theme", str(theme_id))
    shown = json.loads(invoke(tmp_path, "problems", "show", "1", "--json"))
    policy = after[shown["priority"]]
    created = datetime.fromisoformat(shown["created_at"]).replace(tzinfo=UTC)
    assert [(c["stage"], c["done"]) for c in shown["sla"]] == [
        ("assess", False),
        ("root_cause", False),
        ("fix", False),
    ]
    due = datetime.fromisoformat(shown["sla"][0]["due_at"])
    assert due - created == timedelta(hours=policy["hours_to_assess"])
    assert "SLA assess due" in invoke(tmp_path, "problems", "show", "1")

    with pytest.raises(InputError, match="positive hours"):
        invoke(tmp_path, "problems", "sla", "set", "P1", "--fix", "0")
    with pytest.raises(InputError, match="give --assess, --root-cause and/or --fix"):
        invoke(tmp_path, "problems", "sla", "set", "P1")


def _command(*path: str) -> Any:
    command: Any = typer.main.get_command(app)
    for name in path:
        assert hasattr(command, "commands"), path  # a group
        command = command.commands[name]
    return command


@pytest.mark.parametrize(
    ("path", "options"),
    [
        (("problems", "create"), {"--theme", "--title"}),
        (("problems", "fix"), {"--date", "--description"}),
        (("problems", "verify"), {"--json"}),
        (("problems", "list"), {"--json"}),
        (("problems", "show"), {"--json"}),
        (("problems", "transition"), set()),
        (("problems", "assign"), {"--business", "--is"}),
        (("problems", "task", "add"), {"--team", "--user", "--due"}),
        (("problems", "task", "list"), {"--json", "--all", "--user"}),
        (("problems", "task", "done"), {"--cancel"}),
        (("problems", "sla", "list"), {"--json"}),
        (("problems", "sla", "set"), {"--assess", "--root-cause", "--fix"}),
        (("problems", "rules", "import"), set()),
        (("problems", "rules", "export"), set()),
        (("rules", "import"), set()),
        (("rules", "export"), set()),
    ],
)
def test_the_cli_contract_of_rootline_problems(path: tuple[str, ...], options: set[str]) -> None:
    command = _command(*path)
    given = {o for p in command.params for o in getattr(p, "opts", [])}
    assert options <= given


def test_rules_are_reachable_under_problems_too(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "teams": [{"name": "Shop IS", "kind": "is"}],
                "rules": [{"name": "shop", "match": {"channel": "web"}, "is_team": "Shop IS"}],
            }
        )
    )
    assert "1 routing rules imported" in invoke(tmp_path, "problems", "rules", "import", str(rules))
    assert yaml.safe_load(invoke(tmp_path, "rules", "export"))["rules"][0]["name"] == "shop"
