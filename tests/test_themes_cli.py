"""The theme review commands and ``rootline alerts`` through the real command line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.factories import timeline_texts, write_csv
from tests.test_cli import db_url, rootline  # noqa: F401  (db_url is a fixture)

pytestmark = pytest.mark.slow


def _timeline_csv(path: Path) -> Path:
    rows = [
        {"ticket_id": f"T{i}", "description": text, "created_at": at.isoformat(), "intent": theme}
        for i, (text, theme, at) in enumerate(timeline_texts(seed=2))
    ]
    return write_csv(path, rows)


def test_alerts_json_puts_the_tripled_theme_first(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    rootline("ingest", str(_timeline_csv(tmp_path / "t.csv")), db=db_url, tmp_path=tmp_path)
    rootline("cluster", db=db_url, tmp_path=tmp_path)
    rows = rootline("assignments", "--format", "jsonl", db=db_url, tmp_path=tmp_path).stdout
    intents = {f"T{i}": theme for i, (_, theme, _) in enumerate(timeline_texts(seed=2))}
    by_theme: dict[int, Counter[str]] = {}
    for line in rows.splitlines():
        row = json.loads(line)
        if row["theme_id"] is not None:
            by_theme.setdefault(row["theme_id"], Counter())[intents[row["external_id"]]] += 1
    spiking = {t for t, c in by_theme.items() if c.most_common(1)[0][0] == "password_reset"}

    alerts = json.loads(rootline("alerts", "--json", db=db_url, tmp_path=tmp_path).stdout)
    assert alerts and alerts[0]["theme_id"] in spiking and alerts[0]["kind"] == "spike"
    assert all(a["theme_id"] in spiking for a in alerts), "no stable theme is flagged"
    assert {
        "theme_id",
        "kind",
        "score",
        "recent_count",
        "baseline_mean",
        "ratio",
        "p_value",
    } <= set(alerts[0])
    scores = [a["score"] for a in alerts]
    assert scores == sorted(scores, reverse=True)
    early = rootline("alerts", "--json", "--as-of", "2026-10-01", db=db_url, tmp_path=tmp_path)
    assert json.loads(early.stdout) == []
    bad = rootline("alerts", "--as-of", "yesterday", db=db_url, tmp_path=tmp_path, check=False)
    assert bad.returncode == 2 and "--as-of" in bad.stderr


def test_review_commands_and_history(db_url: str, tmp_path: Path) -> None:  # noqa: F811
    from tests.factories import themed_csv

    rootline(
        "ingest", str(themed_csv(tmp_path / "t.csv", per_theme=40)), db=db_url, tmp_path=tmp_path
    )
    rootline("cluster", db=db_url, tmp_path=tmp_path)
    themes = json.loads(rootline("themes", "--json", db=db_url, tmp_path=tmp_path).stdout)
    a, b = themes[0]["id"], themes[1]["id"]

    renamed = json.loads(
        rootline(
            "theme",
            "rename",
            str(a),
            "Card payments declined",
            "--json",
            db=db_url,
            tmp_path=tmp_path,
        ).stdout
    )
    assert renamed["title"] == "Card payments declined" and renamed["title_locked"]
    merged = json.loads(
        rootline(
            "theme", "merge", str(b), "--into", str(a), "--json", db=db_url, tmp_path=tmp_path
        ).stdout
    )
    assert merged["id"] == a and merged["size"] == themes[0]["size"] + themes[1]["size"]
    rootline("cluster", "--full", db=db_url, tmp_path=tmp_path)
    after = {
        t["id"]: t
        for t in json.loads(rootline("themes", "--json", db=db_url, tmp_path=tmp_path).stdout)
    }
    assert b not in after and after[a]["title"] == "Card payments declined"

    parts = json.loads(
        rootline("theme", "split", str(a), "--json", db=db_url, tmp_path=tmp_path).stdout
    )
    assert len(parts) >= 2 and all(p["split_from"] == a for p in parts)
    rootline("theme", "noise", str(parts[0]["id"]), db=db_url, tmp_path=tmp_path)
    history = json.loads(
        rootline("theme", "history", str(a), "--json", db=db_url, tmp_path=tmp_path).stdout
    )
    assert [e["kind"] for e in history][:1] == ["created"]
    assert {"renamed", "merged", "split"} <= {e["kind"] for e in history}
    assert all(e["actor"].startswith("cli") for e in history if e["kind"] == "renamed")

    missing = rootline(
        "theme", "merge", "99999", "--into", str(a), db=db_url, tmp_path=tmp_path, check=False
    )
    assert missing.returncode == 2 and "99999" in missing.stderr
    wrong = rootline("theme", "accept", str(a), db=db_url, tmp_path=tmp_path, check=False)
    assert wrong.returncode == 2 and "proposed" in wrong.stderr
