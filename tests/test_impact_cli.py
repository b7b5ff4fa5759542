"""``rootline figures``, ``forecast``, ``surveys`` and ``accounts`` as a user runs them, on the
hand-worked desk of ``tests/test_rootcause_breakdown.py``: the JSON carries the same numbers,
and bad input exits 2 with a one-line reason naming the line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from rootline.db import make_engine, make_session_factory, migrate, session_scope
from rootline.ingest.models import Customer, Interaction
from tests.cli_runner import run_rootline
from tests.test_rootcause_breakdown import _desk

# Each command is a child process: a few seconds apiece.
pytestmark = pytest.mark.slow


def _database(tmp_path: Path) -> tuple[str, int, int]:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    engine = make_engine(url)
    migrate(engine)
    with session_scope(make_session_factory(engine)) as session:
        x, y = _desk(session)
        session.execute(sa.update(Interaction).values(source="desk"))
        session.execute(sa.update(Customer).values(account_owner="Ada Owner"))
    engine.dispose()
    return url, x, y


def test_figures_forecast_surveys_and_accounts(tmp_path: Path) -> None:
    url, x, y = _database(tmp_path)
    got = json.loads(
        run_rootline("figures", "--by", "theme", "--json", db=url, folder=tmp_path).stdout
    )
    groups = {g["key"]: g for g in got["groups"]}
    assert (groups[str(x)]["contacts"], groups[str(x)]["first_contact_resolution"]) == (6, 0.75)
    assert groups[str(y)]["baseline_churn_rate"] == 0.25
    windowed = json.loads(
        run_rootline(
            "figures", "--by", "channel", "--since", "2026-03-03", "--until", "2026-03-22",
            "--json", db=url, folder=tmp_path,
        ).stdout
    )  # fmt: skip
    assert windowed["total_contacts"] == 7
    assert {g["key"]: g["contacts"] for g in windowed["groups"]} == {
        "email": 2, "chat": 3, "web": 1, "phone": 1,
    }  # fmt: skip
    table = run_rootline("figures", "--by", "region", db=url, folder=tmp_path).stdout
    assert "north" in table and "CSAT baseline 2.67" in table

    forecasts = json.loads(run_rootline("forecast", "--json", db=url, folder=tmp_path).stdout)
    assert {f["theme_id"] for f in forecasts} == {x, y}
    assert all(f["weeks"] == [] for f in forecasts)  # four weeks of data: too little history

    answers = tmp_path / "answers.csv"
    # Line 2 names a contact of the desk, line 3 none.
    answers.write_text(
        "source,external_id,question,answer,scale\ndesk,X0,come_back,yes,\ndesk,nope,come_back,no,\n",
        encoding="utf-8",
    )
    with session_scope(make_session_factory(make_engine(url))) as session:
        first = session.scalar(sa.select(Interaction.external_id).order_by(Interaction.id))
    answers.write_text(answers.read_text().replace("X0", str(first)), encoding="utf-8")
    load = json.loads(
        run_rootline("surveys", "import", str(answers), "--json", db=url, folder=tmp_path).stdout
    )
    assert (load["inserted"], load["unmatched"], load["unmatched_lines"]) == (1, 1, [3])
    ranks = json.loads(
        run_rootline(
            "surveys", "rank", "--by", "region", "--min-answers", "1", "--json",
            db=url, folder=tmp_path,
        ).stdout
    )  # fmt: skip
    assert [r["key"] for r in ranks] == ["north", "south"]

    owners = json.loads(run_rootline("accounts", "--json", db=url, folder=tmp_path).stdout)
    assert owners == [{"owner": "Ada Owner", "customers": 6, "value": 1850.0}]
    book = json.loads(
        run_rootline("accounts", "ada owner", "--json", db=url, folder=tmp_path).stdout
    )
    assert (book["customers"], book["contacts"], book["lost_customers"]) == (6, 8, 2)


def test_bad_input_exits_2_naming_the_line(tmp_path: Path) -> None:
    url, _, _ = _database(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("source,external_id,question,answer\ndesk,1,satisfied,4\n", encoding="utf-8")
    out = run_rootline("surveys", "import", str(bad), db=url, folder=tmp_path, check=False)
    assert out.returncode == 2
    assert "line 2, field 'scale'" in out.stderr and "Traceback" not in out.stderr
    out = run_rootline("figures", "--since", "March", db=url, folder=tmp_path, check=False)
    assert out.returncode == 2 and "--since must be a date" in out.stderr
    out = run_rootline("accounts", "Nobody", db=url, folder=tmp_path, check=False)
    assert out.returncode == 2 and "no customer has account owner 'Nobody'" in out.stderr
